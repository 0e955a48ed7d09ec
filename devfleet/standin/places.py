"""Where the stand-in reads and writes: its home (SENTINELCAM_STANDIN_HOME), its state dir, the
sentinel's job socket and log; the services it stands in for; the format checks' directory."""

import os

HOME = os.environ.get("SENTINELCAM_STANDIN_HOME") or "/home/ops"
STATE_DIR = os.path.join(HOME, ".standin")
SOCKET_PATH = os.path.join(STATE_DIR, "sentinel.sock")
JOBS_LOG = os.path.join(STATE_DIR, "sentinel.jobs")
SERVICES = ("sentinel", "imagenode", "datapump")
MODELFILES = (  # the package's directory
    os.environ.get("SENTINELCAM_STANDIN_LIB") or "",
    "/usr/local/lib/sentinelcam-standin/modelfiles",
    os.path.join(
        os.path.dirname(os.path.realpath(__file__)),
        os.pardir,
        os.pardir,
        "sentinelcam_models",
        "core",
        "modelfiles",
    ),
)
