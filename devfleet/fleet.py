#!/usr/bin/env python3
"""A local fleet of real Debian bookworm nodes, booted with systemd-nspawn, for the tests and the
demo.

    python -m devfleet up --nodes N   build (or reuse) the cached root, boot N nodes, wait for SSH
    python -m devfleet down           stop every node, unmount, remove cgroups and runtime state
    python -m devfleet status         one line per node: name, address, groups, up/down
    python -m devfleet reset          restore every node to a pristine state (fresh overlay), boot

Each node is an overlayfs (lower: one shared, cached root; upper/work: per node) booted with
`systemd-nspawn -b --register=no --keep-unit` on the host network, in its own cgroup, with sshd
listening only on its own loopback address (127.0.0.101 upwards). Standard library only; also importable
(``import devfleet.fleet``).

The nodes look like nodes other Ansible roles configured before the product's first deploy: the
accounts ops (service user) and admin (login), neither with sudo; the operator key authorized for
root, ops and admin; no node-to-node trust; the service configs of the sentinel, imagenode and
datapump roles in place (provision.py). fleet.json records each node's login account.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

try:
    from devfleet import original, provision
except ImportError:  # run as a script (python3 devfleet/fleet.py): devfleet/ is sys.path[0]
    import original  # type: ignore[import-not-found,no-redef]
    import provision  # type: ignore[import-not-found,no-redef]

HERE = os.path.dirname(os.path.abspath(__file__))  # devfleet/: stand-ins and units beside this file
CACHE_DIR = "/var/cache/sentinelcam-fleet"
DEFAULT_STATE_DIR = "/var/lib/sentinelcam-fleet"


def fleet_net() -> int:
    """SENTINELCAM_FLEET_NET=k (0-99, default 0) puts a second fleet beside the first: addresses
    127.k.x.y and its own cgroup; give it its own SENTINELCAM_FLEET_DIR too."""
    raw = os.environ.get("SENTINELCAM_FLEET_NET") or "0"
    if not raw.isdigit() or int(raw) > 99:
        raise SystemExit(f"SENTINELCAM_FLEET_NET={raw!r}: expected a number from 0 to 99")
    return int(raw)


CGROUP_NAME = "sentinelcam-fleet" + (f"-{fleet_net()}" if fleet_net() else "")
# Hierarchies that get a per-node cgroup. systemd and unified are required (pitfall (a) in the
# issue); memory is optional and only used to report memory use per node.
CGROUP_HIERARCHIES = ("systemd", "unified", "memory")
REQUIRED_CGROUP_HIERARCHIES = ("systemd", "unified")

SUITE = "bookworm"
VARIANT = "minbase"
PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "rsync",
    "sudo",
    "python3",
    "python3-venv",
    "python3-yaml",
    "python3-pip",
    "iproute2",
    "procps",
    "ca-certificates",
    # The loaders SentinelCam uses, so stand-ins and probes load real model files (Debian's
    # builds: about 150 MB to download, 770 MB installed, once per recipe, shared by every node).
    "python3-opencv",
    "opencv-data",
    "python3-h5py",
    "python3-sklearn",
]
OPS_USER, OPS_UID = "ops", 1000  # the service user: runs the services, owns their files
ADMIN_USER, ADMIN_UID = "admin", 1001  # a login account that is not the service user
ROOT_USER = "root"  # the operator's existing admin access (test-only actions)
MIN_NODES = 3
BOOT_DEADLINE = float(os.environ.get("SENTINELCAM_FLEET_BOOT_TIMEOUT") or 120)
STOP_DEADLINE = 20.0
SERVICES = ("sentinel", "imagenode", "datapump")

# Run inside the freshly debootstrapped tree (chroot). Part of the recipe hash.
# The accounts of a node other Ansible roles configured: ops (the service user) and admin (a login
# account), neither with any sudo right: the product installs its own least-privilege sudoers file
# with a deploy, so the fleet must not pre-grant anything that would hide a missing rule.
ROOT_SETUP = r"""
set -e
export DEBIAN_FRONTEND=noninteractive
useradd --create-home --home-dir /home/ops --uid 1000 --user-group --shell /bin/bash ops
useradd --create-home --home-dir /home/admin --uid 1001 --user-group --shell /bin/bash admin
install -d -m 0700 -o ops -g ops /home/ops/.ssh
install -d -m 0700 -o admin -g admin /home/admin/.ssh
install -d -m 0700 -o root -g root /root/.ssh
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
printf 'localhost\n' > /etc/hostname
# Nothing reads a console login on the nodes; SSH is the only way in.
systemctl mask console-getty.service getty@.service serial-getty@.service >/dev/null 2>&1 || true
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
"""


class FleetError(Exception):
    """An error whose message is the one line printed to the user."""


# ----------------------------------------------------------------------------------------------
# Paths and state


def state_dir() -> str:
    return os.environ.get("SENTINELCAM_FLEET_DIR") or DEFAULT_STATE_DIR


def fleet_json_path() -> str:
    return os.path.join(state_dir(), "fleet.json")


def fleet_key() -> str:
    """The operator's key: authorized for root, ops and admin on every node (and nothing else)."""
    return os.path.join(state_dir(), "id_ed25519")


def stale_node_key() -> str:
    """The shared node key older fleets pre-seeded; removed on `up` (nodes get no trust now)."""
    return os.path.join(state_dir(), "node_id_ed25519")


def known_hosts_path() -> str:
    return os.path.join(state_dir(), "known_hosts")


def node_dir(name: str) -> str:
    return os.path.join(state_dir(), "nodes", name)


def console_log(name: str) -> str:
    return os.path.join(node_dir(name), "console.log")


def load_fleet() -> dict | None:
    try:
        with open(fleet_json_path(), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def login_for(i: int) -> str:
    """The login account of the i-th node (1-based): data1 ops, sentinel1 ops, east admin, data2
    admin, alpha5 ops, sentinel2 admin, then alternating (even: admin). Every fleet of 3 or more
    nodes, and every group of a 6-node fleet, has both: deploys are tested with a login account that
    is not the service user."""
    first = (OPS_USER, OPS_USER, ADMIN_USER, ADMIN_USER, OPS_USER, ADMIN_USER)
    if i <= len(first):
        return first[i - 1]
    return ADMIN_USER if i % 2 == 0 else OPS_USER


def node_address(i: int) -> str:
    """127.0.0.101 ... 127.0.0.250, then 127.0.1.1 ... (the nodes share the host's loopback);
    127.k.… for SENTINELCAM_FLEET_NET=k."""
    net = fleet_net()
    if i <= 150:
        return f"127.{net}.0.{100 + i}"
    return f"127.{net}.{1 + (i - 151) // 250}.{1 + (i - 151) % 250}"


def node_specs(n: int) -> list[dict]:
    """Names, addresses, groups and login accounts of an n-node fleet, in boot order."""
    first = [
        ("data1", "datasinks"),
        ("sentinel1", "sentinels"),
        ("east", "outposts"),
        ("data2", "datasinks"),
        ("alpha5", "outposts"),
        ("sentinel2", "sentinels"),
    ]
    nodes = []
    for i in range(1, n + 1):
        if i <= len(first):
            name, group = first[i - 1]
        elif i % 50 == 0:  # 50, 100, ...: one more datasink per 50 nodes (a site that can mirror)
            name, group = f"data{i // 50 + 2}", "datasinks"
        elif i % 2:  # 7, 9, 11, ...
            name, group = f"outpost{i}", "outposts"
        else:  # 8, 10, 12, ... -> sentinel3, sentinel4, ...
            name, group = f"sentinel{i // 2 - 1}", "sentinels"
        nodes.append(
            {
                "name": name,
                "address": node_address(i),
                "groups": [group],
                "login": login_for(i),
            }
        )
    return nodes


# ----------------------------------------------------------------------------------------------
# Preconditions

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


# ----------------------------------------------------------------------------------------------
# Root image


def debian_mirror() -> str:
    """The Debian mirror from the host's apt sources (only the package registries are reachable)."""
    candidates = []
    paths = [
        "/etc/apt/sources.list",
        *sorted(glob.glob("/etc/apt/sources.list.d/*.list")),
        *sorted(glob.glob("/etc/apt/sources.list.d/*.sources")),
    ]
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError:
            continue
        if path.endswith(".sources"):
            for stanza in text.split("\n\n"):
                fields = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line:
                        continue
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.split()
                if "deb" in fields.get("types", []) and fields.get("enabled", ["yes"])[0] != "no":
                    for uri in fields.get("uris", []):
                        candidates.append((uri, fields.get("suites", [])))
        else:
            for line in text.splitlines():
                parts = line.split("#", 1)[0].split()
                if len(parts) >= 3 and parts[0] == "deb":
                    rest = [p for p in parts[1:] if not p.startswith("[")]
                    if parts[1].startswith("["):  # deb [opts] uri suite ...
                        rest = parts[1:]
                        while rest and not rest[0].endswith("]"):
                            rest = rest[1:]
                        rest = rest[1:]
                    if len(rest) >= 2:
                        candidates.append((rest[0], [rest[1]]))
    for uri, suites in candidates:
        if SUITE in suites and "security" not in uri:
            return uri.rstrip("/")
    for uri, _ in candidates:
        if "debian" in uri and "security" not in uri:
            return uri.rstrip("/")
    return "http://deb.debian.org/debian"


def recipe_hash() -> str:
    recipe = json.dumps(
        {"suite": SUITE, "variant": VARIANT, "packages": sorted(PACKAGES), "setup": ROOT_SETUP},
        sort_keys=True,
    )
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def root_path() -> str:
    return os.path.join(CACHE_DIR, f"root-{recipe_hash()}")


def ensure_root() -> str:
    """The cached root for the current recipe; built (into a temp dir, then renamed) if missing."""
    root = root_path()
    if os.path.isdir(root):
        return root
    check_tools({"debootstrap": "debootstrap", "chroot": "coreutils"})
    with flock(os.path.join(CACHE_DIR, ".build.lock")):
        if os.path.isdir(root):
            return root
        # Leftovers of interrupted builds are never reused.
        for stale in glob.glob(os.path.join(CACHE_DIR, "root-*.tmp*")):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = tempfile.mkdtemp(prefix=os.path.basename(root) + ".tmp", dir=CACHE_DIR)
        os.chmod(tmp, 0o755)
        mirror = debian_mirror()
        log(
            f"building the node root with debootstrap from {mirror} "
            "(about a minute, once per recipe)"
        )
        t0 = time.monotonic()
        buildlog = os.path.join(CACHE_DIR, "build.log")
        with open(buildlog, "w") as out:
            rc = subprocess.call(
                [
                    "debootstrap",
                    f"--variant={VARIANT}",
                    "--include=" + ",".join(PACKAGES),
                    SUITE,
                    tmp,
                    mirror,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            if rc == 0:
                rc = subprocess.call(
                    ["chroot", tmp, "/bin/sh", "-c", ROOT_SETUP],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                )
        if rc != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise FleetError(f"building the node root failed (exit {rc}); see {buildlog}")
        os.rename(tmp, root)
        log(f"node root built in {time.monotonic() - t0:.0f} s: {root}")
        # Older recipes are no longer needed, unless a fleet beside this one still runs on one.
        with open("/proc/mounts") as f:
            mounted = f.read()
        for old in glob.glob(os.path.join(CACHE_DIR, "root-*")):
            if old != root and os.path.isdir(old) and f"lowerdir={old}" not in mounted:
                shutil.rmtree(old, ignore_errors=True)
    return root


# ----------------------------------------------------------------------------------------------
# Keys and per-node files


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
    # Stand-in services, enabled.
    copy_in(
        os.path.join(HERE, "sentinelcam-standin"), f"{m}/usr/local/bin/sentinelcam-standin", 0o755
    )
    # The project's format checks, which the stand-ins also run on every model file they load.
    os.makedirs(f"{m}/usr/local/lib/sentinelcam-standin", exist_ok=True)
    copy_in(
        os.path.join(os.path.dirname(HERE), "sentinelcam_models", "core", "modelfiles.py"),
        f"{m}/usr/local/lib/sentinelcam-standin/modelfiles.py",
        0o644,
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


# ----------------------------------------------------------------------------------------------
# Mounts, cgroups, processes


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


def ssh_cmd(
    node: dict, command: str = "true", timeout: int = 5, user: str | None = None
) -> list[str]:
    """The ssh command line that runs ``command`` on ``node`` as ``user`` (default ops; tests pass
    user="root" for test-only manipulations, or the node's ``login``) with the operator key and
    strict host key checking."""
    return [
        "ssh",
        "-F",
        "/dev/null",
        "-i",
        fleet_key(),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts_path()}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={timeout}",
        "-o",
        "LogLevel=ERROR",
        f"{user or OPS_USER}@{node['address']}",
        command,
    ]


def ssh_probe(node: dict, timeout: int = 5) -> tuple[bool, str]:
    """One real login as ops; (True, "") or (False, why it failed, from the ssh client)."""
    try:
        p = subprocess.run(
            ssh_cmd(node, "true", timeout),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout + 5,
        )
    except subprocess.TimeoutExpired:
        return False, f"ssh did not finish within {timeout + 5} s"
    if p.returncode == 0:
        return True, ""
    err = " ".join(p.stderr.split()) or f"ssh exited {p.returncode}"
    if "Connection refused" in err:
        return False, (
            f"nothing listens on {node['address']}:22 (sshd not started, or its bind failed): {err}"
        )
    return False, f"login refused or failed: {err}"


def ssh_ok(node: dict, timeout: int = 5) -> bool:
    return ssh_probe(node, timeout)[0]


def wait_for_ssh(nodes: list[dict], deadline_s: float) -> dict[str, str]:
    """Poll each node with a real SSH login until it succeeds; return {name: why} for the nodes
    that failed."""
    deadline = time.monotonic() + deadline_s

    def wait(node):
        why = "no login attempt"
        while time.monotonic() < deadline:
            if recorded_pid(node["name"]) is None:
                return "systemd-nspawn exited"  # the node will not come up
            ok, why = ssh_probe(node, timeout=3)
            if ok:
                return None
            time.sleep(0.2)  # poll interval between real login attempts
        return f"no login within {deadline_s:g} s; last attempt: {why}"

    with concurrent.futures.ThreadPoolExecutor(max_workers=min(64, len(nodes))) as ex:
        results = list(ex.map(wait, nodes))
    return {n["name"]: why for n, why in zip(nodes, results, strict=True) if why}


def tcp_listeners(port: int = 22) -> set[str]:
    """IPv4 addresses with a listening TCP socket on port, from /proc/net/tcp (host network
    namespace)."""
    found = set()
    with contextlib.suppress(OSError), open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            addr_hex, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:
                found.add(socket.inet_ntoa(int(addr_hex, 16).to_bytes(4, "little")))
    return found


def wait_addresses_free(nodes: list[dict], deadline_s: float = 10.0) -> None:
    """Wait until nothing listens on the nodes' SSH addresses any more (the nodes share the host
    network: a left-over sshd would keep a new node's sshd from binding)."""
    deadline = time.monotonic() + deadline_s
    while True:
        busy = sorted({n["address"] for n in nodes} & tcp_listeners(22))
        if not busy:
            return
        if time.monotonic() > deadline:
            raise FleetError(
                f"port 22 of {', '.join(busy)} is still in use by a process outside "
                "the fleet's nodes (see `ss -ltnp`); stop it and retry"
            )
        time.sleep(0.05)


def stop_node_processes(
    names: list[str],
    graceful: bool = True,
    deadline_s: float = STOP_DEADLINE,
    wait_reaped: bool = True,
) -> None:
    """Stop the nodes: SIGTERM to systemd-nspawn (the container powers off), then SIGKILL
    stragglers."""
    if graceful:
        for name in names:
            pid = recorded_pid(name)
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline and any(node_pids(n) for n in names):
            time.sleep(0.1)
    deadline = time.monotonic() + 10
    while True:
        left = {n: node_pids(n) for n in names}
        left = {n: p for n, p in left.items() if p}
        if not left:
            break
        if time.monotonic() > deadline:
            stuck = sorted(set().union(*left.values()))
            raise FleetError(f"processes of node(s) {', '.join(left)} survive SIGKILL: {stuck}")
        for pids in left.values():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    zombies = []
    for name in names:
        # The recorded nspawn pid could in theory be outside the cgroup (if the wrapper failed
        # early).
        pid = recorded_pid(name)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        pid_file = os.path.join(node_dir(name), "pid")
        with contextlib.suppress(OSError, ValueError, IndexError), open(pid_file) as f:
            zombies.append(int(f.read().split()[0]))
        with contextlib.suppress(FileNotFoundError):
            os.remove(pid_file)
    # systemd-nspawn was started detached, so init reaps it; wait for that so that `ps` right
    # after `down` shows nothing (not even <defunct> entries).
    deadline = time.monotonic() + 5
    while wait_reaped and zombies and time.monotonic() < deadline:
        zombies = [p for p in zombies if _is_defunct_nspawn(p)]
        if zombies:
            time.sleep(0.05)


def _is_defunct_nspawn(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            head, rest = f.read().rsplit(")", 1)
    except OSError:
        return False
    return rest.split()[0] == "Z" and head.endswith("(systemd-nspawn")


def existing_node_names() -> list[str]:
    names = set()
    with contextlib.suppress(FileNotFoundError):
        names |= set(os.listdir(os.path.join(state_dir(), "nodes")))
    for cg in cgroup_dirs():
        with contextlib.suppress(FileNotFoundError):
            names |= {e for e in os.listdir(cg) if os.path.isdir(os.path.join(cg, e))}
    return sorted(names)


# ----------------------------------------------------------------------------------------------
# Commands


def write_fleet_json(nodes: list[dict], as_original: bool = False) -> None:
    """fleet.json: the nodes (name, address, groups, login), the operator key and known_hosts.
    ``ssh_user`` (ops) stays for older readers; each node's ``login`` is the account to log in
    with, ``root_login`` the account for test-only privileged actions."""
    data = {
        "nodes": nodes,
        "ssh_user": OPS_USER,
        "root_login": ROOT_USER,
        "ssh_key": fleet_key(),
        "known_hosts": known_hosts_path(),
        "original": as_original,
    }
    tmp = fleet_json_path() + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, fleet_json_path())


def is_up(n: int | None = None, check_ssh: bool = True, as_original: bool = False) -> bool:
    """True if a fleet (of n nodes, if given; the original's if ``as_original``) is running and
    every node accepts SSH."""
    fleet = load_fleet()
    if not fleet or (n is not None and len(fleet["nodes"]) != n):
        return False
    if n is not None and bool(fleet.get("original")) != as_original:
        return False
    if any(recorded_pid(node["name"]) is None for node in fleet["nodes"]):
        return False
    if not check_ssh:
        return True
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(64, len(fleet["nodes"]))) as ex:
        return all(ex.map(ssh_ok, fleet["nodes"]))


def _boot(nodes: list[dict], root: str) -> None:
    """Mount, prepare and boot the given nodes (already stopped, state files present), then wait
    for SSH."""

    def prep(node):
        mount_overlay(node["name"], root)
        prepare_node(node, all_nodes)

    fleet = load_fleet()
    if not fleet:
        raise FleetError(f"no fleet.json in {state_dir()}")
    all_nodes = fleet["nodes"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        list(ex.map(prep, nodes))
    wait_addresses_free(nodes)
    for node in nodes:
        boot_node(node)
    failed = wait_for_ssh(nodes, BOOT_DEADLINE)
    if failed:
        why = "; ".join(f"{name}: {reason}" for name, reason in failed.items())
        logs = ", ".join(f"{name}: {console_log(name)}" for name in failed)
        raise FleetError(f"{len(failed)} node(s) did not accept SSH ({why}); console logs: {logs}")


def cmd_up(n: int, as_original: bool = False) -> None:
    if n < MIN_NODES:
        raise FleetError(f"a fleet needs at least {MIN_NODES} nodes (got {n})")
    if as_original and n < original.MIN_NODES:
        raise FleetError(f"--as-original needs at least {original.MIN_NODES} nodes (got {n})")
    check_root()
    check_tools()
    check_cgroups()
    with flock(os.path.join(state_dir(), ".lock")):
        t0 = time.monotonic()
        if is_up(n, as_original=as_original):
            log(f"{n} nodes already up; nothing to do")
            return
        if load_fleet() or existing_node_names():
            _down()  # a different size, or a broken fleet: start over (it is fast)
        root = ensure_root()
        raise_host_limits(n)
        os.makedirs(state_dir(), mode=0o700, exist_ok=True)
        nodes = node_specs(n)
        if as_original:
            for node in nodes:
                node["original"] = True
                if node["name"] in original.INVENTORY_DATA:
                    node["data"] = original.INVENTORY_DATA[node["name"]]
        keygen(fleet_key(), "sentinelcam-fleet operator")
        for p in (stale_node_key(), stale_node_key() + ".pub"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(p)

        def keys(node):
            os.makedirs(node_dir(node["name"]), exist_ok=True)
            keygen(host_key(node["name"]), f"root@{node['name']}")
            if as_original:
                keygen(original_key(node["name"]), f"ops@{node['name']}")

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
            list(ex.map(keys, nodes))
        with open(known_hosts_path() + ".tmp", "w", encoding="utf-8") as f:
            for node in nodes:
                f.write(f"{node['address']} {read_pub(host_key(node['name']))}\n")
        os.replace(known_hosts_path() + ".tmp", known_hosts_path())
        write_fleet_json(nodes, as_original)
        try:
            _boot(nodes, root)
            if as_original:
                original.install_models(load_fleet() or {})
        except BaseException:
            if not isinstance(sys.exc_info()[1], FleetError):
                _down()
            raise
        log(f"{n} nodes up in {time.monotonic() - t0:.1f} s (inventory: inventories/demo.py)")


def _down() -> list[str]:
    names = existing_node_names()
    fleet = load_fleet()
    if fleet:
        names = sorted(set(names) | {n["name"] for n in fleet["nodes"]})
    stop_node_processes(names)
    unmount_all(os.path.join(state_dir(), "nodes"))
    left = mounts_under(os.path.join(state_dir(), "nodes"))
    if left:
        raise FleetError(f"could not unmount: {', '.join(left)}")
    for cg in cgroup_dirs():
        remove_cgroup(cg)
    shutil.rmtree(os.path.join(state_dir(), "nodes"), ignore_errors=True)
    for p in (fleet_json_path(), known_hosts_path()):
        with contextlib.suppress(FileNotFoundError):
            os.remove(p)
    return names


def cmd_down() -> None:
    check_root()
    with flock(os.path.join(state_dir(), ".lock")):
        names = _down()
    log(f"down ({len(names)} node(s) stopped)" if names else "down (nothing was running)")


def loaded_fleet() -> dict:
    """fleet.json of the fleet that is up (FleetError when there is none)."""
    fleet = load_fleet()
    if not fleet:
        raise FleetError("local fleet is not up: run `make fleet-up`")
    return fleet


def cmd_reset() -> None:
    check_root()
    check_tools()
    with flock(os.path.join(state_dir(), ".lock")):
        fleet = loaded_fleet()
        t0 = time.monotonic()
        root = root_path()
        if not os.path.isdir(root):
            raise FleetError(f"cached root {root} is gone: run `make fleet-down fleet-up`")
        nodes = fleet["nodes"]
        names = [n["name"] for n in nodes]
        raise_host_limits(len(nodes))
        # The overlay is thrown away, but an orderly poweroff is cheap (well under a second) and
        # lets systemd-nspawn clean up after itself; stragglers are killed after a short deadline.
        stop_node_processes(names, graceful=True, deadline_s=5, wait_reaped=False)
        unmount_all(os.path.join(state_dir(), "nodes"))

        def wipe(name):
            d = node_dir(name)
            for sub in ("upper", "work"):
                shutil.rmtree(os.path.join(d, sub), ignore_errors=True)
            for cg in cgroup_dirs(name):
                remove_cgroup(cg)

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
            list(ex.map(wipe, names))
        _boot(nodes, root)
        if fleet.get("original"):
            original.install_models(fleet)
    log(f"{len(nodes)} nodes reset in {time.monotonic() - t0:.1f} s")


def _named(fleet: dict, names: list[str]) -> list[dict]:
    known = {n["name"]: n for n in fleet["nodes"]}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise FleetError(f"no node {', '.join(unknown)} in the fleet ({', '.join(known)})")
    return [known[n] for n in names]


def cmd_stop(names: list[str]) -> None:
    """Power nodes off as a crash or an unplugged Pi would leave them: their disks (overlays) kept."""
    check_root()
    with flock(os.path.join(state_dir(), ".lock")):
        fleet = loaded_fleet()
        _named(fleet, names)
        stop_node_processes(names, graceful=True, deadline_s=5)
    log(f"stopped {', '.join(names)} (disks kept; `python -m devfleet start` boots them again)")


def cmd_start(names: list[str]) -> None:
    """Boot stopped nodes again with the disks they had (nothing re-provisioned)."""
    check_root()
    check_tools()
    with flock(os.path.join(state_dir(), ".lock")):
        fleet = loaded_fleet()
        nodes = [n for n in _named(fleet, names) if recorded_pid(n["name"]) is None]
        root = root_path()
        for node in nodes:
            mount_overlay(node["name"], root)
        wait_addresses_free(nodes)
        for node in nodes:
            boot_node(node)
        failed = wait_for_ssh(nodes, BOOT_DEADLINE)
        if failed:
            raise FleetError("; ".join(f"{name}: {reason}" for name, reason in failed.items()))
    log(f"started {', '.join(names)}")


def memory_mb(name: str) -> float | None:
    try:
        with open(f"/sys/fs/cgroup/memory/{CGROUP_NAME}/{name}/memory.usage_in_bytes") as f:
            return int(f.read()) / 2**20
    except (OSError, ValueError):
        return None


def cmd_status() -> int:
    fleet = load_fleet()
    if not fleet:
        print(f"fleet: down (no fleet.json in {state_dir()})")
        return 0  # a clear answer, not an error; a partly-up fleet exits 1 below
    up = 0
    for node in fleet["nodes"]:
        running = os.geteuid() == 0 and recorded_pid(node["name"]) is not None
        ok = running and ssh_ok(node, timeout=3)
        up += ok
        state = "up" if ok else ("booting/no-ssh" if running else "down")
        mem = memory_mb(node["name"]) if running else None
        extra = f"  mem={mem:.0f}MB" if mem is not None else ""
        groups = ",".join(node["groups"])
        print(f"{node['name']:<12} {node['address']:<14} {groups:<12} {state}{extra}")
    print(f"fleet: {up}/{len(fleet['nodes'])} nodes up; state in {state_dir()}")
    return 0 if up == len(fleet["nodes"]) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m devfleet", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="boot N nodes (idempotent)")
    p_up.add_argument("--nodes", type=int, default=6)
    p_up.add_argument(
        "--as-original",
        action="store_true",
        help=f"nodes as the original Ansible roles left them (at least {original.MIN_NODES} nodes)",
    )
    sub.add_parser("down", help="stop every node and clean up")
    sub.add_parser("status", help="list nodes and whether they are up")
    sub.add_parser("reset", help="restore every node to a pristine state")
    for verb, text in (
        ("stop", "power nodes off, disks kept"),
        ("start", "boot stopped nodes again"),
    ):
        sub.add_parser(verb, help=text).add_argument("node", nargs="+")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "up":
            cmd_up(args.nodes, args.as_original)
        elif args.cmd == "down":
            cmd_down()
        elif args.cmd == "status":
            return cmd_status()
        elif args.cmd == "reset":
            cmd_reset()
        elif args.cmd == "stop":
            cmd_stop(args.node)
        elif args.cmd == "start":
            cmd_start(args.node)
    except FleetError as e:
        print(f"fleet: error: {e}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("fleet: interrupted; run `make fleet-down` to clean up", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
