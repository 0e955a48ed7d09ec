"""Reaching and stopping nodes: SSH commands and probes, the addresses in use, and stopping a
node's processes."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import socket
import subprocess
import time

from devfleet.layout import (
    OPS_USER,
    STOP_DEADLINE,
    FleetError,
    fleet_key,
    known_hosts_path,
    node_dir,
    state_dir,
)
from devfleet.nodes import cgroup_dirs, node_pids, recorded_pid


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
