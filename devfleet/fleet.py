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

This module runs the commands; by subject: layout.py (state files, addresses, node specs), host.py
(preconditions, limits, locks), image.py (the cached root), nodes.py (a node's files, mounts,
cgroup and boot), access.py (SSH, stopping processes).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import shutil
import sys
import time

from devfleet import original
from devfleet.access import (
    existing_node_names,
    ssh_cmd,
    ssh_ok,
    ssh_probe,
    stop_node_processes,
    tcp_listeners,
    wait_addresses_free,
    wait_for_ssh,
)
from devfleet.host import (
    HOST_TOOLS,
    check_cgroups,
    check_root,
    check_tools,
    flock,
    log,
    raise_host_limits,
    run,
)
from devfleet.image import (
    PACKAGES,
    ROOT_SETUP,
    SUITE,
    VARIANT,
    debian_mirror,
    ensure_root,
    recipe_hash,
    root_path,
)
from devfleet.layout import (
    ADMIN_UID,
    ADMIN_USER,
    BOOT_DEADLINE,
    CACHE_DIR,
    CGROUP_HIERARCHIES,
    CGROUP_NAME,
    DEFAULT_STATE_DIR,
    HERE,
    MIN_NODES,
    OPS_UID,
    OPS_USER,
    REQUIRED_CGROUP_HIERARCHIES,
    ROOT_USER,
    SERVICES,
    STOP_DEADLINE,
    FleetError,
    console_log,
    fleet_json_path,
    fleet_key,
    fleet_net,
    known_hosts_path,
    load_fleet,
    login_for,
    node_address,
    node_dir,
    node_specs,
    stale_node_key,
    state_dir,
)
from devfleet.nodes import (
    ACCOUNTS,
    boot_node,
    cgroup_dirs,
    cgroup_pids,
    copy_in,
    host_key,
    keygen,
    make_dirs,
    mount_overlay,
    mounts_under,
    node_pids,
    original_key,
    prepare_node,
    proc_start_time,
    read_pub,
    record_pid,
    recorded_pid,
    remove_cgroup,
    unmount_all,
    write_file,
)

# The fleet's API (tests, the benchmarks and devfleet's other modules use it as fleet.X).
__all__ = [
    "ACCOUNTS",
    "ADMIN_UID",
    "ADMIN_USER",
    "BOOT_DEADLINE",
    "CACHE_DIR",
    "CGROUP_HIERARCHIES",
    "CGROUP_NAME",
    "DEFAULT_STATE_DIR",
    "HERE",
    "HOST_TOOLS",
    "MIN_NODES",
    "OPS_UID",
    "OPS_USER",
    "PACKAGES",
    "REQUIRED_CGROUP_HIERARCHIES",
    "ROOT_SETUP",
    "ROOT_USER",
    "SERVICES",
    "STOP_DEADLINE",
    "SUITE",
    "VARIANT",
    "FleetError",
    "boot_node",
    "cgroup_dirs",
    "cgroup_pids",
    "check_cgroups",
    "check_root",
    "check_tools",
    "cmd_down",
    "cmd_reset",
    "cmd_start",
    "cmd_status",
    "cmd_stop",
    "cmd_up",
    "console_log",
    "copy_in",
    "debian_mirror",
    "ensure_root",
    "existing_node_names",
    "fleet_json_path",
    "fleet_key",
    "fleet_net",
    "flock",
    "host_key",
    "is_up",
    "keygen",
    "known_hosts_path",
    "load_fleet",
    "loaded_fleet",
    "log",
    "login_for",
    "main",
    "make_dirs",
    "memory_mb",
    "mount_overlay",
    "mounts_under",
    "node_address",
    "node_dir",
    "node_pids",
    "node_specs",
    "original_key",
    "prepare_node",
    "proc_start_time",
    "raise_host_limits",
    "read_pub",
    "recipe_hash",
    "record_pid",
    "recorded_pid",
    "remove_cgroup",
    "root_path",
    "run",
    "ssh_cmd",
    "ssh_ok",
    "ssh_probe",
    "stale_node_key",
    "state_dir",
    "stop_node_processes",
    "tcp_listeners",
    "unmount_all",
    "wait_addresses_free",
    "wait_for_ssh",
    "write_file",
    "write_fleet_json",
]


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
