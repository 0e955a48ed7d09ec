"""The command line: run as a service (records, readiness), `job TASKNAME` (client.py), `probe
FILE...`."""

import contextlib
import os
import signal
import socket
import sys

from .client import job_client
from .jobs import listen, serve
from .loading import (
    ConfigError,
    fail,
    load_caffe,
    load_cascade,
    load_face_model,
    load_file,
    load_tflite,
    load_torch,
)
from .places import SERVICES, SOCKET_PATH, STATE_DIR
from .services import CHECKS

# ------------------------------------------------------------------------------------------------
# Records, readiness, commands


def record(service, loaded):
    os.makedirs(STATE_DIR, exist_ok=True)
    with open(os.path.join(STATE_DIR, f"{service}.loaded"), "w", encoding="utf-8") as f:
        for path in sorted(loaded):
            f.write(f"{loaded[path]}  {path}\n")
    starts_path = os.path.join(STATE_DIR, f"{service}.starts")
    try:
        with open(starts_path, encoding="utf-8") as f:
            starts = int(f.read().strip() or 0)
    except (OSError, ValueError):
        starts = 0
    tmp = starts_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{starts + 1}\n")
    os.replace(tmp, starts_path)


def notify(message):
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(addr)
        s.sendall(message.encode())


def run_service(service):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    loaded: dict[str, str] = {}
    try:
        cfg = CHECKS[service](loaded)
    except ConfigError as e:
        fail(f"{service}: {e}")
    record(service, loaded)
    sock = inode = None
    try:  # from here on, SIGTERM (SystemExit) always runs the clean-up below
        if service == "sentinel":
            sock, inode = listen()
        print(f"sentinelcam-standin: {service} loaded {len(loaded)} file(s)", flush=True)
        notify("READY=1")
        if sock is None:
            while True:
                signal.pause()
        serve(sock, cfg)
    finally:
        if sock is not None:
            sock.close()
            with contextlib.suppress(OSError):
                if os.stat(SOCKET_PATH).st_ino == inode:
                    os.remove(SOCKET_PATH)


def probe(paths):
    """Load the files as the services would (a .prototxt with its .caffemodel, a .pickle with its
    .hdf5): "<sha256>  <path>" per good file on stdout, one line per bad one on stderr; exit 1
    if any failed."""
    failed = 0
    good = []
    for path in paths:
        loaded: dict[str, str] = {}
        try:
            load_file(path, loaded)
        except ConfigError as e:
            print(f"sentinelcam-standin: probe: {e}", file=sys.stderr)
            failed += 1
            continue
        good.append(path)
        print(f"{loaded[path]}  {path}")
    by_suffix: dict[str, str] = {}
    for path in good:
        by_suffix.setdefault(os.path.splitext(path)[1], path)
    try:
        if ".caffemodel" in by_suffix and ".prototxt" in by_suffix:
            load_caffe(by_suffix[".prototxt"], by_suffix[".caffemodel"])
        if ".pickle" in by_suffix and ".hdf5" in by_suffix:
            load_face_model(by_suffix[".pickle"], by_suffix[".hdf5"])
        for path in good:
            if path.endswith(".t7"):
                load_torch(path)
            elif path.endswith(".xml"):
                load_cascade(path)
            elif path.endswith(".tflite"):
                load_tflite(path)
    except ConfigError as e:
        print(f"sentinelcam-standin: probe: {e}", file=sys.stderr)
        failed += 1
    return 1 if failed else 0


USAGE = "usage: sentinelcam-standin sentinel|imagenode|datapump | job TASKNAME | probe FILE..."


def main(argv):
    args = argv[1:]
    if len(args) == 1 and args[0] in SERVICES:
        run_service(args[0])
        return 0
    if len(args) == 2 and args[0] == "job":
        return job_client(args[1])
    if len(args) >= 2 and args[0] == "probe":
        return probe(args[1:])
    print(USAGE, file=sys.stderr)
    return 2
