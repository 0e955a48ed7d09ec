"""The machine the fleet runs on: root, the tools and cgroups it needs, raised limits, a file
lock, running commands and the fleet's log lines."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess

from devfleet.layout import REQUIRED_CGROUP_HIERARCHIES, FleetError

HOST_TOOLS = {
    # binary: Debian package
    "systemd-nspawn": "systemd-container",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "rsync": "rsync",
}


def check_root() -> None:
    if os.geteuid() != 0:
        raise FleetError(
            "the local fleet needs root (systemd-nspawn, overlay mounts, cgroups): "
            "run it as root, e.g. `sudo make fleet-up`"
        )


def check_tools(extra: dict | None = None) -> None:
    tools = dict(HOST_TOOLS, **(extra or {}))
    missing = sorted({pkg for binary, pkg in tools.items() if shutil.which(binary) is None})
    if missing:
        raise FleetError(
            f"missing host package(s) {', '.join(missing)}: "
            f"install with `apt-get install -y {' '.join(missing)}`"
        )


def check_cgroups() -> None:
    for h in REQUIRED_CGROUP_HIERARCHIES:
        if not os.path.isfile(f"/sys/fs/cgroup/{h}/cgroup.procs"):
            # A pure cgroup v2 host (systemd as PID 1) would need a different layout.
            raise FleetError(
                f"cgroup hierarchy /sys/fs/cgroup/{h} is not mounted; "
                "this fleet expects a cgroup v1 hybrid host"
            )


def raise_host_limits(n: int) -> None:
    """Every node's systemd runs as host root and takes inotify instances from root's shared budget
    (default 128, enough for about 20 nodes): raise it, and the watch limit, if they are too low."""
    wanted = {
        "/proc/sys/fs/inotify/max_user_instances": 256 + 32 * n,
        "/proc/sys/fs/inotify/max_user_watches": 65536 + 8192 * n,
    }
    for path, value in wanted.items():
        try:
            with open(path) as f:
                current = int(f.read())
            if current < value:
                with open(path, "w") as f:
                    f.write(f"{value}\n")
                name = path.removeprefix("/proc/sys/").replace("/", ".")
                log(f"raised {name} from {current} to {value}")
        except (OSError, ValueError) as e:
            log(f"warning: could not raise {path}: {e}")


@contextlib.contextmanager
def flock(path: str):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("check", True)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.STDOUT)
    kw.setdefault("text", True)
    return subprocess.run(cmd, **kw)


def log(msg: str) -> None:
    print(f"fleet: {msg}", flush=True)
