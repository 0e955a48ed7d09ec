"""One node's own files (keys, accounts, trust, provisioned configs), its overlay mounts, its
cgroup and processes, and its boot with systemd-nspawn."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time

from devfleet import original, provision
from devfleet.host import run
from devfleet.layout import (
    ADMIN_UID,
    ADMIN_USER,
    CGROUP_HIERARCHIES,
    CGROUP_NAME,
    HERE,
    OPS_UID,
    OPS_USER,
    ROOT_USER,
    SERVICES,
    FleetError,
    console_log,
    fleet_key,
    node_dir,
)


def keygen(path: str, comment: str) -> None:
    if not (os.path.exists(path) and os.path.exists(path + ".pub")):
        for p in (path, path + ".pub"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(p)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path])


def read_pub(path: str) -> str:
    with open(path + ".pub", encoding="utf-8") as f:
        return f.read().strip()


def host_key(name: str) -> str:
    return os.path.join(node_dir(name), "ssh_host_ed25519_key")


def original_key(name: str) -> str:
    """ops' own key on a node of the original's fleet (--as-original), which datasinks trust plainly."""
    return os.path.join(node_dir(name), "original_id_ed25519")


def write_file(
    path: str, content: str | bytes, mode: int = 0o644, uid: int = 0, gid: int = 0
) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)  # never write through a symlink or a lower-layer file
    data = content.encode() if isinstance(content, str) else content
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    os.chown(path, uid, gid)


def copy_in(src: str, dst: str, mode: int, uid: int = 0, gid: int = 0) -> None:
    with open(src, "rb") as f:
        write_file(dst, f.read(), mode, uid, gid)


def copy_package(src: str, dst: str) -> None:
    """A Python package's modules (``src/*.py``) into the directory ``dst`` on the node."""
    os.makedirs(dst, exist_ok=True)
    for module in sorted(os.listdir(src)):
        if module.endswith(".py"):
            copy_in(os.path.join(src, module), os.path.join(dst, module), 0o644)


def make_dirs(root: str, path: str, uid: int, gid: int, mode: int = 0o755) -> None:
    """Create the directory ``path`` (absolute on the node) under ``root``; the components it
    creates get uid:gid and mode, existing ones are left as they are (as `install -d` would)."""
    current = root
    for part in path.strip("/").split("/"):
        current = os.path.join(current, part)
        if not os.path.isdir(current):
            os.mkdir(current, mode)
            os.chmod(current, mode)
            os.chown(current, uid, gid)


# Login accounts and their homes: the fleet key is authorized for each of them.
ACCOUNTS = (
    (ROOT_USER, "/root", 0),
    (OPS_USER, "/home/ops", OPS_UID),
    (ADMIN_USER, "/home/admin", ADMIN_UID),
)


def prepare_node(node: dict, nodes: list[dict]) -> None:
    """Write everything node-specific into the mounted overlay, before boot.

    A node looks like one that other Ansible roles configured before the product's first deploy:
    the operator's key lets root, ops and admin in (and nothing else does), there is no
    node-to-node trust (no node key, no ssh_known_hosts: the product's trust deploy creates
    them), and the service configs the sentinel, imagenode and datapump roles write are in place
    (devfleet/provision.py), owned by ops."""
    name, addr = node["name"], node["address"]
    m = os.path.join(node_dir(name), "merged")
    # What the udev package provides on every real Pi (the minbase image has no udev): the Coral
    # deploy writes its rule there.
    os.makedirs(f"{m}/etc/udev/rules.d", exist_ok=True)
    write_file(f"{m}/etc/hostname", f"{name}\n")
    hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    hosts += [f"{n['address']}\t{n['name']}" for n in nodes]
    write_file(f"{m}/etc/hosts", "\n".join(hosts) + "\n")
    # sshd: only this node's address, only its own host key, keys only (root too).
    copy_in(host_key(name), f"{m}/etc/ssh/ssh_host_ed25519_key", 0o600)
    copy_in(host_key(name) + ".pub", f"{m}/etc/ssh/ssh_host_ed25519_key.pub", 0o644)
    write_file(
        f"{m}/etc/ssh/sshd_config.d/10-sentinelcam-fleet.conf",
        "\n".join(
            [
                "# Written by devfleet (sentinelcam-models)",
                f"ListenAddress {addr}",
                "HostKey /etc/ssh/ssh_host_ed25519_key",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UseDNS no",
                "",
            ]
        ),
    )
    operator = read_pub(fleet_key())
    for _user, home, uid in ACCOUNTS:
        ssh = f"{m}{home}/.ssh"
        os.makedirs(ssh, exist_ok=True)
        os.chmod(ssh, 0o700)
        os.chown(ssh, uid, uid)
        write_file(f"{ssh}/authorized_keys", f"{operator}\n", 0o600, uid, uid)
    if node.get("original"):  # the original's plain node-to-datasink trust (original.py)
        ssh = f"{m}/home/ops/.ssh"
        copy_in(original_key(name), f"{ssh}/id_ed25519", 0o600, OPS_UID, OPS_UID)
        copy_in(original_key(name) + ".pub", f"{ssh}/id_ed25519.pub", 0o644, OPS_UID, OPS_UID)
        keys = {n["name"]: read_pub(original_key(n["name"])) for n in nodes}
        datasinks = [n for n in nodes if "datasinks" in n["groups"]]
        host_keys = {d["name"]: read_pub(host_key(d["name"])) for d in datasinks}
        write_file(
            f"{ssh}/known_hosts",
            original.known_hosts(datasinks, host_keys),
            0o644,
            OPS_UID,
            OPS_UID,
        )
        if "datasinks" in node["groups"]:
            text = original.datasink_authorized_keys(operator, keys, name)
            write_file(f"{ssh}/authorized_keys", text, 0o600, OPS_UID, OPS_UID)
    # The files the service roles left, owned by ops.
    for path, text in provision.node_files(node).items():
        make_dirs(m, os.path.dirname(path), OPS_UID, OPS_UID)
        write_file(f"{m}{path}", text, 0o644, OPS_UID, OPS_UID)
    # Stand-in services, enabled: the command, and its modules (a package) in the lib dir beside it.
    copy_in(
        os.path.join(HERE, "sentinelcam-standin"), f"{m}/usr/local/bin/sentinelcam-standin", 0o755
    )
    copy_package(os.path.join(HERE, "standin"), f"{m}/usr/local/lib/sentinelcam-standin/standin")
    # The project's format checks (a package), which the stand-ins also run on every model file
    # they load.
    copy_package(
        os.path.join(os.path.dirname(HERE), "sentinelcam_models", "core", "modelfiles"),
        f"{m}/usr/local/lib/sentinelcam-standin/modelfiles",
    )
    wants = f"{m}/etc/systemd/system/multi-user.target.wants"
    os.makedirs(wants, exist_ok=True)
    for svc in SERVICES:
        copy_in(
            os.path.join(HERE, "units", f"{svc}.service"),
            f"{m}/etc/systemd/system/{svc}.service",
            0o644,
        )
        link = f"{wants}/{svc}.service"
        with contextlib.suppress(FileNotFoundError):
            os.remove(link)
        os.symlink(f"/etc/systemd/system/{svc}.service", link)


def mounts_under(path: str) -> list[str]:
    path = os.path.realpath(path).rstrip("/") + "/"
    found = []
    with open("/proc/self/mounts", encoding="utf-8") as f:
        for line in f:
            target = line.split()[1].replace("\\040", " ")
            if (target + "/").startswith(path):
                found.append(target)
    return found


def mount_overlay(name: str, root: str) -> None:
    d = node_dir(name)
    merged = os.path.join(d, "merged")
    if mounts_under(merged):
        return
    for sub in ("upper", "work", "merged"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    run(
        [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={root},upperdir={d}/upper,workdir={d}/work",
            merged,
        ]
    )


def unmount_all(path: str) -> None:
    for target in sorted(mounts_under(path), key=len, reverse=True):
        if subprocess.call(["umount", target], stderr=subprocess.DEVNULL) != 0:
            subprocess.call(["umount", "-l", target])


def cgroup_dirs(name: str | None = None) -> list[str]:
    out = []
    for h in CGROUP_HIERARCHIES:
        base = f"/sys/fs/cgroup/{h}"
        if os.path.isfile(f"{base}/cgroup.procs"):
            out.append(os.path.join(base, CGROUP_NAME, *([name] if name else [])))
    return out


def cgroup_pids(path: str) -> set[int]:
    pids: set[int] = set()
    for dirpath, _dirs, files in os.walk(path):
        if "cgroup.procs" in files:
            with contextlib.suppress(OSError), open(os.path.join(dirpath, "cgroup.procs")) as f:
                pids.update(int(x) for x in f.read().split())
    return pids


def remove_cgroup(path: str, deadline_s: float = 10.0) -> None:
    """Remove a cgroup and its children (created by nspawn and the node's systemd), deepest first.
    A cgroup whose last tasks are still exiting refuses rmdir (EBUSY) for a moment: retry until
    gone."""
    deadline = time.monotonic() + deadline_s
    while os.path.isdir(path):
        walk = sorted(os.walk(path), key=lambda t: t[0].count("/"), reverse=True)
        for dirpath, _dirs, _files in walk:
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)
        if not os.path.isdir(path):
            return
        if time.monotonic() > deadline:
            raise FleetError(
                f"cannot remove cgroup {path} (tasks left: {sorted(cgroup_pids(path))})"
            )
        time.sleep(0.05)


def node_pids(name: str) -> set[int]:
    pids = set()
    for cg in cgroup_dirs(name):
        pids |= cgroup_pids(cg)
    return pids


def proc_start_time(pid: int) -> int | None:
    """The start time of a process (clock ticks since boot, /proc/<pid>/stat field 22), or None if
    there is no such process or it is a zombie. Unlike /proc/<pid>/cmdline it stays the same across
    execve, and together with the pid it names one process even if the pid is reused later."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def record_pid(name: str, pid: int) -> None:
    """Remember the node's systemd-nspawn (pid and start time) in <node dir>/pid."""
    start = proc_start_time(pid)
    tmp = os.path.join(node_dir(name), "pid.tmp")
    with open(tmp, "w") as f:
        f.write(f"{pid}\n" if start is None else f"{pid} {start}\n")
    os.replace(tmp, os.path.join(node_dir(name), "pid"))


def recorded_pid(name: str) -> int | None:
    """The pid of the node's running systemd-nspawn, or None if it is not running.

    The process is identified by pid and start time, never by /proc/<pid>/cmdline: right after the
    spawn the wrapper shell exec()s systemd-nspawn, and during an execve the kernel reports an empty
    cmdline. Checking the cmdline made a freshly booted node look dead for a moment, and the SSH
    wait gave up on it at once (a flaky "did not accept SSH within 120 s" whose console log shows a
    normal boot)."""
    try:
        with open(os.path.join(node_dir(name), "pid")) as f:
            fields = f.read().split()
        pid = int(fields[0])
        start = int(fields[1]) if len(fields) > 1 else None
    except (OSError, ValueError, IndexError):
        return None
    actual = proc_start_time(pid)
    if actual is None:
        return None
    if start is not None:
        return pid if actual == start else None
    # A pid file without a start time (written by an older fleet.py): fall back to the command line.
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().split(b"\0")
    except OSError:
        return None
    if (
        not cmd
        or not cmd[0].endswith((b"systemd-nspawn", b"/bin/sh"))
        or f"--machine={name}".encode() not in cmd
    ):
        return None
    return pid


def boot_node(node: dict) -> int:
    """Start systemd-nspawn for one node, detached, inside the node's own cgroups."""
    name = node["name"]
    d = node_dir(name)
    cgs = cgroup_dirs(name)
    for cg in cgs:
        os.makedirs(cg, exist_ok=True)
    # The wrapper moves itself into the node's cgroups, then becomes systemd-nspawn, so that
    # nspawn (and the container's systemd) never share a cgroup with another node.
    wrapper = "".join(f'echo $$ > "{cg}/cgroup.procs" && ' for cg in cgs) + 'exec "$@"'
    cmd = [
        "/bin/sh",
        "-c",
        wrapper,
        "fleet-node-" + name,
        "systemd-nspawn",
        "--boot",
        "--register=no",
        "--keep-unit",
        "--directory",
        os.path.join(d, "merged"),
        f"--machine={name}",
        f"--hostname={name}",
        "--console=read-only",
        "--link-journal=no",
        "--resolv-conf=copy-host",
        "--timezone=off",
        "--quiet",
    ]
    env = dict(os.environ, SYSTEMD_NSPAWN_LOCK="0")
    env.pop("NOTIFY_SOCKET", None)
    with open(console_log(name), "wb") as out, open(os.devnull, "rb") as devnull:
        p = subprocess.Popen(
            cmd,
            stdin=devnull,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    # Popen returns once the wrapper has been exec()ed, so the pid and start time are the node's
    # from here on (the exec into systemd-nspawn keeps both).
    record_pid(name, p.pid)
    # Popen object dropped on purpose: the node outlives this process. Avoid a zombie warning.
    p.returncode = 0
    return p.pid
