"""The nodes' shared root: a debootstrapped Debian bookworm with the accounts other roles set up,
built once under a lock and cached by the hash of its recipe."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

from devfleet.host import check_tools, flock, log
from devfleet.layout import CACHE_DIR, FleetError

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
