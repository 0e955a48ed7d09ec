"""A site on the local fleet for tests and benchmarks: a private copy of the inventories, the real first-time
setup (sudoers through root's login, node-to-datasink trust, a store on the primary datasink),
and pyinfra/CLI runs whose output the tests read."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from devfleet import demo, provision
from sentinelcam_models.core.yamlpatch import set_values

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SCALE = 0.002  # demo files at 0.2% of their real size: fast, still several files per version
OPS_MODELS = "/home/ops/sentinel/models"


@dataclass
class Run:
    returncode: int
    output: str  # stdout + stderr
    stdout: str = ""

    def results(self) -> dict[str, dict[str, str]]:
        """Operation name -> {"hosts", "success", "error", "no_change"} from pyinfra's results table."""
        table = {}
        in_results = False
        for line in self.output.splitlines():
            if line.startswith("--> Results:"):
                in_results = True
                continue
            if in_results:
                match = re.match(
                    r"^\s{4}(\S.*?)\s{2,}(\d+|-)\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)\s*$", line
                )
                if match and match.group(1) not in ("Grand total", "Operation"):
                    name, hosts, success, error, no_change = match.groups()
                    table[name] = {
                        "hosts": hosts,
                        "success": success,
                        "error": error,
                        "no_change": no_change,
                    }
        return table

    def changed_ops(self) -> list[str]:
        return [name for name, row in self.results().items() if row["success"] not in ("-", "0")]


class Site:
    """A private copy of the inventories (registry, host data) pointing at the local fleet."""

    def __init__(self, fleet, root: Path):
        self.fleet = fleet
        self.root = root
        shutil.copytree(
            REPO / "inventories", root / "inventories", ignore=shutil.ignore_patterns("__pycache__")
        )
        for pin_file in (root / "inventories" / "host_data").glob("*.yaml"):
            pin_file.unlink()
        shutil.rmtree(root / "inventories" / "host_settings", ignore_errors=True)
        self.inventory = root / "inventories" / "demo.py"
        self.registry = root / "inventories" / "group_data" / "model_registry.yaml"
        self.store = root / "store"
        self.set_group_data("all.py", model_health_settle=2, model_health_timeout=30)

    # --- first-time setup (the README's checklist) --------------------------------------------
    def setup(self, store: bool = True) -> None:
        """Least-privilege sudoers (through root's login), trust, and the registry's versions."""
        for deploy, extra in (
            ("deploys/sudoers.py", ("--data", "ssh_user=root")),
            ("deploys/trust.py", ()),
        ):
            run = self.pyinfra(deploy, *extra)
            assert run.returncode == 0, run.output[-3000:]
        if store:
            self.publish_registry_versions()

    # --- the store ----------------------------------------------------------------------------
    def publish_registry_versions(self) -> None:
        demo.build_store(self.store, self.registry, scale=SCALE)
        self.push()

    def publish(self, model: str, version: str, files: dict | None = None) -> None:
        demo.publish_version(
            self.store, demo.load_registry(self.registry), model, version, scale=SCALE, files=files
        )
        self.push()

    def publish_broken(self, model: str, version: str) -> None:
        """A version that passes the store's format checks but that the loaders refuse (conv
        weights of the wrong shape, a pickle of the wrong class, an empty cascade, a TFLite model
        for another task), as a model exported for the wrong runtime would be: consistent in the
        store, fatal on a node."""
        demo.publish_version(
            self.store, demo.load_registry(self.registry), model, version, scale=SCALE, broken=True
        )
        self.push()

    def set_probe(self, model: str, command: str, timeout: int = 30) -> None:
        """The registry's probe for ``model`` (the health gate runs it with the installed files)."""
        self.set_model_keys(model, probe=command, probe_timeout=timeout)

    def set_model_keys(self, model: str, **values) -> None:
        """Edit ``model``'s registry entry in place (comments and layout kept)."""
        edits: dict[tuple[str, ...], object] = {
            ("sentinelcam_models", model, key): value for key, value in values.items()
        }
        self.registry.write_text(set_values(self.registry.read_text(), edits))

    def push(self) -> None:
        demo.push_store(self.store, self.fleet.data)

    # --- registry, pins, data -----------------------------------------------------------------
    def set_current(self, model: str, current: str, previous: str | None) -> None:
        self.set_model_keys(model, current_version=current, previous_version=previous)

    def host_file(self, host: str) -> Path:
        return self.root / "inventories" / "host_data" / f"{host}.yaml"

    def pin(self, host: str, model: str, version: str) -> None:
        self.set_data(host, model_version_overrides={model: version})

    def unpin(self, host: str) -> None:
        self.host_file(host).unlink(missing_ok=True)

    def set_data(self, host: str, **data) -> None:
        """Pins go to host data (the only key the tool writes there); other settings to the demo
        inventory's host_settings/ (host data refuses them)."""
        pins = {k: v for k, v in data.items() if k == "model_version_overrides"}
        settings = {k: v for k, v in data.items() if k not in pins}
        for path, values in (
            (self.host_file(host), pins),
            (self.root / "inventories" / "host_settings" / f"{host}.yaml", settings),
        ):
            if not values:
                continue
            path.parent.mkdir(exist_ok=True)
            current = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
            current.update(values)
            path.write_text(yaml.safe_dump(current))

    def set_sentinel_accelerator(self, host: str, accelerator: str) -> None:
        """sentinel_accelerator_type in the inventory, and the Alpha engine's accelerator in the
        node's sentinel.yaml as the sentinel role renders it from the same variable: the deploy
        refuses a sentinel whose two values disagree."""
        self.set_data(host, sentinel_accelerator_type=accelerator)
        text = provision.sentinel_yaml(accelerator)
        self.as_root(host, f"printf %s {shlex.quote(text)} > /home/ops/sentinel.yaml")

    def set_group_data(self, name: str, **data) -> None:
        path = self.root / "inventories" / "group_data" / name
        path.write_text(
            path.read_text() + "".join(f"\n{k} = {v!r}" for k, v in data.items()) + "\n"
        )

    # --- runs ---------------------------------------------------------------------------------
    def pyinfra(self, deploy: str, *args: str, timeout: float = 600, dry: bool = False) -> Run:
        command = (
            [PYTHON, "-m", "pyinfra"]
            + (["--dry"] if dry else ["-y"])
            + [str(self.inventory), deploy, *args]
        )
        return self._run(command, timeout)

    def deploy(self, *args: str, timeout: float = 600) -> Run:
        return self.pyinfra("deploys/models.py", *args, timeout=timeout)

    def cli(
        self, *args: str, timeout: float = 600, env: dict | None = None, inventory: bool = True
    ) -> Run:
        command = [PYTHON, "-m", "sentinelcam_models", *args] + (
            ["-i", str(self.inventory)] if inventory else []
        )
        return self._run(command, timeout, env={**os.environ, **(env or {})})

    @staticmethod
    def _run(command: list[str], timeout: float, env: dict | None = None) -> Run:
        proc = subprocess.run(
            command,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        return Run(proc.returncode, proc.stdout + proc.stderr, proc.stdout)

    # --- what a node runs ---------------------------------------------------------------------
    def as_root(self, host: str, command: str, check: bool = True):
        return self.fleet.ssh(host, command, check=check, user="root")

    def starts(self, host: str, service: str) -> int:
        out = self.fleet.ssh(
            host, f"cat /home/ops/.standin/{service}.starts 2>/dev/null || echo 0"
        ).stdout
        return int(out.strip() or 0)

    def all_starts(self) -> dict[tuple[str, str], int]:
        counts = {}
        for node in self.fleet.nodes:
            out = self.fleet.ssh(
                node["name"], "cd /home/ops/.standin 2>/dev/null && grep -H . *.starts || true"
            ).stdout
            for line in out.splitlines():
                name, _, value = line.partition(":")
                counts[(node["name"], name.removesuffix(".starts"))] = int(value)
        return counts

    def loaded(self, host: str, service: str) -> list[str]:
        """The files the service read when it last started (imagenode, datapump)."""
        out = self.fleet.ssh(
            host, f"cat /home/ops/.standin/{service}.loaded 2>/dev/null || true"
        ).stdout
        return [line.split("  ", 1)[1] for line in out.splitlines() if "  " in line]

    def job(self, host: str, task: str) -> dict:
        """Run one sentinel job (it reads its task file afresh) and return its result."""
        proc = self.fleet.ssh(
            host, f"/usr/bin/python3 /usr/local/bin/sentinelcam-standin job {task}", check=False
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        assert lines, proc.stdout + proc.stderr
        return json.loads(lines[-1])

    def versions(self, host: str, model: str, models_path: str = OPS_MODELS) -> list[str]:
        out = self.fleet.ssh(host, f"ls -A {models_path}/{model} 2>/dev/null || true").stdout
        return sorted(out.split())

    def is_active(self, host: str, service: str) -> str:
        return self.fleet.ssh(host, f"systemctl is-active {service} || true").stdout.strip()

    def config(self, host: str, path: str) -> str:
        return self.fleet.ssh(host, f"cat {path}").stdout

    def wait_active(self, host: str, service: str, deadline_s: float = 60) -> None:
        """Wait until systemd reports the service active (a real check, polled; never a fixed sleep)."""
        import time  # noqa: PLC0415

        end = time.monotonic() + deadline_s
        while self.is_active(host, service) != "active":
            assert time.monotonic() < end, f"{service} on {host} did not become active"
            time.sleep(0.5)
