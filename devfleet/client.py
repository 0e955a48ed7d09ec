"""The local fleet as tests and benchmarks see it: real SSH to its nodes, and the devfleet commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from devfleet import fleet as fleet_mod

REPO = Path(__file__).resolve().parents[1]
INVENTORY = REPO / "inventories" / "demo.py"


class SSHCommandError(subprocess.CalledProcessError):
    """CalledProcessError whose message includes the node and what the command printed."""

    def __init__(self, node, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.node = node

    def __str__(self):
        return (
            f"on {self.node}: {self.cmd[-1]!r} exited {self.returncode}\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


class FleetCommandError(RuntimeError):
    """A devfleet command failed; the message holds its output and the consoles' last lines."""


def run_fleet(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m devfleet`` with the current interpreter; raise with its output on error."""
    proc = subprocess.run(
        [sys.executable, "-m", "devfleet", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    if proc.returncode != 0:
        raise FleetCommandError(
            f"devfleet {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
            + _console_tails(proc.stderr)
        )
    return proc


def _console_tails(text: str, lines: int = 25) -> str:
    """The end of each console log named in a devfleet error, so a failed boot explains itself."""
    out = []
    for path in sorted(set(re.findall(r"(/\S+/console\.log)", text))):
        try:
            tail = Path(path).read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            continue
        tail = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in tail]
        out.append(f"\n--- last {lines} lines of {path}\n" + "\n".join(tail))
    return "".join(out)


class Fleet:
    """A running local fleet, as seen by the tests."""

    def __init__(self):
        self.inventory = str(INVENTORY)
        self.state_dir = fleet_mod.state_dir()
        self.reload()

    def reload(self) -> None:
        data = fleet_mod.load_fleet()
        if not data:
            raise RuntimeError(f"no fleet.json in {self.state_dir}")
        self.data = data
        self.nodes: list[dict] = data["nodes"]

    def node(self, name: str) -> dict:
        for node in self.nodes:
            if node["name"] == name:
                return node
        raise KeyError(
            f"no node {name!r} in the fleet ({', '.join(n['name'] for n in self.nodes)})"
        )

    def names(self, group: str | None = None) -> list[str]:
        return [n["name"] for n in self.nodes if group is None or group in n["groups"]]

    def ssh(
        self, name: str, command: str, check: bool = True, timeout: float = 120, user: str = "ops"
    ) -> subprocess.CompletedProcess:
        """Run `command` on node `name` over real SSH (strict host key checking), as ops unless
        ``user`` says otherwise ("root" for test-only manipulations); text output."""
        cmd = fleet_mod.ssh_cmd(self.node(name), command, timeout=10, user=user)
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise SSHCommandError(name, proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def reset(self) -> None:
        """Restore every node to a pristine state (fresh overlay, booted, SSH answering)."""
        run_fleet("reset")
        self.reload()

    def up(self) -> None:
        run_fleet("up", "--nodes", str(len(self.nodes)))
        self.reload()

    def stop(self, *names: str) -> None:
        """Power nodes off, disks kept (a crashed or unplugged Pi)."""
        run_fleet("stop", *names)

    def start(self, *names: str) -> None:
        """Boot stopped nodes again with the disks they had."""
        run_fleet("start", *names)

    def down(self) -> None:
        run_fleet("down")
