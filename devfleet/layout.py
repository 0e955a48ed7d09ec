"""Where a local fleet lives: its state directory and files, its cgroup, the accounts, the
nodes' names, addresses, groups and logins (one fleet per SENTINELCAM_FLEET_NET)."""

from __future__ import annotations

import json
import os

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


OPS_USER, OPS_UID = "ops", 1000  # the service user: runs the services, owns their files


ADMIN_USER, ADMIN_UID = "admin", 1001  # a login account that is not the service user


ROOT_USER = "root"  # the operator's existing admin access (test-only actions)


MIN_NODES = 3


BOOT_DEADLINE = float(os.environ.get("SENTINELCAM_FLEET_BOOT_TIMEOUT") or 120)


STOP_DEADLINE = 20.0


SERVICES = ("sentinel", "imagenode", "datapump")


class FleetError(Exception):
    """An error whose message is the one line printed to the user."""


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
