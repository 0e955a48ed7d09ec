"""`make demo`: boot the local fleet and take it through an operator's first rollout.

The steps are the README's "On your fleet" checklist, on real Debian nodes: the least-privilege
sudoers file (installed through root's login, as an operator would with their admin account), the
node-to-datasink trust, a store on the primary datasink (every current and previous version of
every model, tiny real models written by devfleet.modelgen at realistic sizes; nothing is
downloaded),
the model deploy, and "what runs where". Run it again: nothing changes.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devfleet import modelgen
from sentinelcam_models.core import catalog
from sentinelcam_models.core.registry import Registry, parse_registry
from sentinelcam_models.paths import REPO_ROOT
from sentinelcam_models.store.local import LocalStore

DEMO_INVENTORY = REPO_ROOT / "inventories" / "demo.py"
REGISTRY = REPO_ROOT / "inventories" / "group_data" / "model_registry.yaml"
DEMO_STORE = Path(os.environ.get("SENTINELCAM_DEMO_STORE", "/var/tmp/sentinelcam-demo/store"))
REMOTE_STORE = "/home/ops/sentinelcam/model_registry"


class DemoError(Exception):
    """One line for the operator instead of a traceback."""


def fleet_dir() -> Path:
    return Path(os.environ.get("SENTINELCAM_FLEET_DIR") or "/var/lib/sentinelcam-fleet")


def load_fleet() -> dict:
    try:
        return json.loads((fleet_dir() / "fleet.json").read_text())
    except FileNotFoundError:
        raise DemoError(f"the local fleet is not up (no {fleet_dir() / 'fleet.json'})") from None


def ssh_command(fleet: dict) -> str:
    """The ssh the operator's machine uses to reach nodes: fleet key, strict host key checking."""
    return (
        f"ssh -F /dev/null -i {fleet['ssh_key']} -o IdentitiesOnly=yes -o UserKnownHostsFile={fleet['known_hosts']} "
        "-o StrictHostKeyChecking=yes -o BatchMode=yes"
    )


def model_bytes(model: str, version: str, name: str, size: int, broken: bool = False) -> bytes:
    """A real model file of about ``size`` bytes, deterministic per (model, version, file):
    re-running builds the same store (``devfleet.modelgen``; ``broken``: passes the format
    checks, fails to load)."""
    return modelgen.file_bytes(
        name, size, f"{model}/{version}/{name}", modelgen.templates(), broken
    )


def demo_files(registry: Registry, model: str) -> dict[str, int]:
    """Every file a version of ``model`` must hold, with a realistic size."""
    spec = catalog.spec(model)
    entry = registry.model(model)
    files = dict(spec.demo_sizes)
    for name in spec.required_files(entry.variants if entry else None):
        files.setdefault(name, 229_746)
    return files or {"model.bin": 1_000_000}


def publish_version(
    root: Path,
    registry: Registry,
    model: str,
    version: str,
    scale: float = 1.0,
    files: dict | None = None,
    broken: bool = False,
) -> bool:
    """Publish one demo version unless the store already has it; True if it was published."""
    store = LocalStore(root)
    if (root / model / version).exists():
        return False
    with tempfile.TemporaryDirectory() as tmp:
        for name, size in (files or demo_files(registry, model)).items():
            Path(tmp, name).write_bytes(
                model_bytes(model, version, name, max(16, int(size * scale)), broken)
            )
        entry = registry.model(model)
        store.publish(
            model,
            version,
            Path(tmp),
            list(catalog.spec(model).required_files(entry.variants if entry else None)),
        )
    return True


def load_registry(registry_file: Path = REGISTRY) -> Registry:
    registry, problems = parse_registry(
        str(registry_file), registry_file.read_text(encoding="utf-8")
    )
    if registry is None or problems:
        raise DemoError("; ".join(str(p) for p in problems))
    return registry


def build_store(
    root: Path, registry_file: Path = REGISTRY, scale: float = 1.0, extra: dict | None = None
) -> list[str]:
    """Every current and previous version in the registry (plus ``extra`` {model: [versions]})."""
    registry = load_registry(registry_file)
    root.mkdir(parents=True, exist_ok=True)
    published = []
    for entry in registry.models.values():
        for version in list(entry.versions) + list((extra or {}).get(entry.name, [])):
            if publish_version(root, registry, entry.name, version, scale):
                published.append(f"{entry.name}/{version}")
    return published


def push_store(root: Path, fleet: dict, primary: str = "data1", remote: str = REMOTE_STORE) -> None:
    """Copy the local store to the primary datasink as its service user; versions are never overwritten."""
    node = next(n for n in fleet["nodes"] if n["name"] == primary)
    run(
        [
            "rsync",
            "-rt",
            "--ignore-existing",
            "--exclude=/.lock",
            "--rsync-path",
            f"mkdir -p {remote} && rsync",
            "-e",
            ssh_command(fleet),
            f"{root}/",
            f"ops@{node['address']}:{remote}/",
        ],
        "copying the demo store",
    )


def run(command: list[str], what: str, check: bool = True) -> int:
    code = subprocess.run(command, cwd=REPO_ROOT).returncode
    if check and code != 0:
        raise DemoError(f"{what} failed (exit {code}); its output is above")
    return code


def pyinfra(*args: str, check: bool = True) -> int:
    return run([sys.executable, "-m", "pyinfra", *args], f"pyinfra {' '.join(args[-2:])}", check)


@contextlib.contextmanager
def step(title: str):
    """Print a step's title, then how long it took."""
    print(f"--> {title}", flush=True)
    start = time.monotonic()
    yield
    print(f"    ({time.monotonic() - start:.1f} s)", flush=True)


def main() -> int:
    try:
        nodes = os.environ.get("NODES", "6")
        if subprocess.run(
            [sys.executable, "-m", "devfleet", "up", "--nodes", nodes], cwd=REPO_ROOT
        ).returncode:
            raise DemoError("the local fleet could not start (the line above says why)")
        fleet = load_fleet()
        with step(
            "Least-privilege sudo on every node (through root's login, as with an admin account)"
        ):
            pyinfra("-y", str(DEMO_INVENTORY), "deploys/sudoers.py", "--data", "ssh_user=root")
        with step("Node-to-datasink trust"):
            pyinfra("-y", str(DEMO_INVENTORY), "deploys/trust.py")
        with step(f"Building the demo store in {DEMO_STORE}"):
            published = build_store(DEMO_STORE)
            print(
                f"    published {len(published)} versions" if published else "    store up to date"
            )
            push_store(DEMO_STORE, fleet)
        with step("Deploying models to the local fleet"):
            pyinfra("-y", str(DEMO_INVENTORY), "deploys/models.py")
        print("--> What runs where")
        code = run(
            [sys.executable, "-m", "sentinelcam_models", "drift", "-i", str(DEMO_INVENTORY)],
            "drift",
            check=False,
        )
        return 0 if code in (0, 1) else code
    except DemoError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
