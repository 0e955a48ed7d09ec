"""Helpers for tests that deploy to the local fleet: a private inventory copy, a small store on the
primary datasink, and pyinfra/CLI runs whose output the tests read."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sentinelcam_models import demo
from sentinelcam_models.edit import replace_values

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCALE = 0.002  # demo files at 0.2% of their real size: fast, still several files per version


@dataclass
class Run:
    returncode: int
    output: str          # stdout + stderr
    stdout: str = ""

    def results(self) -> dict[str, dict[str, str]]:
        """Operation name -> {"success", "error", "no_change"} counts from pyinfra's results table."""
        table = {}
        in_results = False
        for line in self.output.splitlines():
            if line.startswith("--> Results:"):
                in_results = True
                continue
            if in_results:
                match = re.match(r"^\s{4}(\S.*?)\s{2,}(\d+|-)\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)\s*$", line)
                if match and match.group(1) not in ("Grand total",):
                    name, hosts, success, error, no_change = match.groups()
                    table[name] = {"hosts": hosts, "success": success, "error": error, "no_change": no_change}
        return table

    def changed_ops(self) -> list[str]:
        return [name for name, row in self.results().items() if row["success"] not in ("-", "0")]


class Site:
    """A private copy of the inventories (registry, host data) pointing at the local fleet."""

    def __init__(self, fleet, root: Path):
        self.fleet = fleet
        self.root = root
        shutil.copytree(REPO / "inventories", root / "inventories", ignore=shutil.ignore_patterns("__pycache__"))
        for pin_file in (root / "inventories" / "host_data").glob("*.yaml"):
            pin_file.unlink()
        self.inventory = root / "inventories" / "demo.py"
        self.registry = root / "inventories" / "group_data" / "model_registry.yaml"
        self.store = root / "store"

    # --- the store ---------------------------------------------------------------------------
    def publish_registry_versions(self) -> None:
        demo.build_store(self.store, self.registry, scale=SCALE)
        self.push()

    def publish(self, model: str, version: str, files: dict | None = None) -> None:
        demo.publish_version(self.store, model, version, scale=SCALE, files=files)
        self.push()

    def push(self) -> None:
        demo.push_store(self.store, self.fleet.data)

    # --- registry and pins -------------------------------------------------------------------
    def set_current(self, model: str, current: str, previous: str | None) -> None:
        text = self.registry.read_text()
        self.registry.write_text(replace_values(text, ("sentinelcam_models", model),
                                                {"current_version": current, "previous_version": previous}, "x"))

    def pin(self, host: str, model: str, version: str) -> None:
        (self.root / "inventories" / "host_data" / f"{host}.yaml").write_text(
            f'model_version_overrides:\n  {model}: "{version}"\n')

    def unpin(self, host: str) -> None:
        (self.root / "inventories" / "host_data" / f"{host}.yaml").unlink(missing_ok=True)

    def set_data(self, host: str, **data) -> None:
        import yaml
        path = self.root / "inventories" / "host_data" / f"{host}.yaml"
        current = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
        current.update(data)
        path.write_text(yaml.safe_dump(current))

    # --- runs --------------------------------------------------------------------------------
    def deploy(self, *args: str, timeout: float = 600) -> Run:
        proc = subprocess.run([str(BIN / "pyinfra"), "-y", str(self.inventory), "deploys/models.py", *args],
                              cwd=REPO, capture_output=True, text=True, timeout=timeout)
        return Run(proc.returncode, proc.stdout + proc.stderr)

    def cli(self, *args: str, timeout: float = 600, env: dict | None = None) -> Run:
        import os
        proc = subprocess.run([str(BIN / "sentinelcam-models"), *args], cwd=REPO, capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
        return Run(proc.returncode, proc.stdout + proc.stderr, proc.stdout)

    # --- what a node runs --------------------------------------------------------------------
    def starts(self, host: str, service: str) -> int:
        out = self.fleet.ssh(host, f"cat /home/ops/.standin/{service}.starts 2>/dev/null || echo 0").stdout
        return int(out.strip() or 0)

    def all_starts(self) -> dict[tuple[str, str], int]:
        counts = {}
        for node in self.fleet.nodes:
            out = self.fleet.ssh(node["name"], "cd /home/ops/.standin 2>/dev/null && grep -H . *.starts || true").stdout
            for line in out.splitlines():
                name, _, value = line.partition(":")
                counts[(node["name"], name.removesuffix(".starts"))] = int(value)
        return counts

    def loaded(self, host: str, service: str) -> list[str]:
        out = self.fleet.ssh(host, f"cat /home/ops/.standin/{service}.loaded 2>/dev/null || true").stdout
        return [line.split("  ", 1)[1] for line in out.splitlines() if "  " in line]

    def versions(self, host: str, model: str, models_path: str = "/home/ops/sentinel/models") -> list[str]:
        out = self.fleet.ssh(host, f"ls -A {models_path}/{model} 2>/dev/null || true").stdout
        return sorted(out.split())

    def is_active(self, host: str, service: str) -> str:
        return self.fleet.ssh(host, f"systemctl is-active {service} || true").stdout.strip()

    def config(self, host: str, path: str) -> str:
        return self.fleet.ssh(host, f"cat {path}").stdout
