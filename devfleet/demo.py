"""`make demo`: boot the local fleet, publish a demo store, deploy, and show what runs where.

The demo store holds every registry version (current and previous) of every model, made of random
bytes with the real file names and realistic sizes (nothing is downloaded). The store is built on
this machine with ``publish`` and copied to the primary datasink with rsync over SSH.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from .catalog import MODEL_FILES
from .registry import REPO_ROOT, parse_registry
from . import store as store_mod

DEMO_INVENTORY = REPO_ROOT / "inventories" / "demo.py"
REGISTRY = REPO_ROOT / "inventories" / "group_data" / "model_registry.yaml"
DEMO_STORE = Path(os.environ.get("SENTINELCAM_DEMO_STORE", "/var/tmp/sentinelcam-demo/store"))
REMOTE_STORE = "/home/ops/sentinelcam/model_registry"


def fleet_dir() -> Path:
    return Path(os.environ.get("SENTINELCAM_FLEET_DIR") or "/var/lib/sentinelcam-fleet")


def load_fleet() -> dict:
    return json.loads((fleet_dir() / "fleet.json").read_text())


def ssh_command(fleet: dict) -> str:
    """The ssh the operator's machine uses to reach nodes: fleet key, strict host key checking."""
    return (f"ssh -i {fleet['ssh_key']} -o UserKnownHostsFile={fleet['known_hosts']} "
            "-o StrictHostKeyChecking=yes -o BatchMode=yes")


def model_bytes(model: str, version: str, name: str, size: int) -> bytes:
    """Deterministic random bytes per (model, version, file): re-running builds the same store."""
    return random.Random(f"{model}/{version}/{name}").randbytes(size)


def publish_version(root: Path, model: str, version: str, scale: float = 1.0, files: dict | None = None) -> bool:
    """Publish one demo version unless the store already has it; True if it was published."""
    if (root / model / version).exists():
        return False
    with tempfile.TemporaryDirectory() as tmp:
        for name, size in (files or MODEL_FILES[model]).items():
            data = model_bytes(model, version, name, max(16, int(size * scale)))
            Path(tmp, name).write_bytes(data)
        store_mod.publish(root, model, Path(tmp), version)
    return True


def build_store(root: Path, registry_file: Path = REGISTRY, scale: float = 1.0, extra: dict | None = None) -> list[str]:
    """Every current and previous version in the registry (plus ``extra`` {model: [versions]})."""
    registry, problems = parse_registry(registry_file)
    if problems:
        raise SystemExit("\n".join(str(p) for p in problems))
    published = []
    for entry in registry.models.values():
        versions = [entry.current_version] + ([entry.previous_version] if entry.previous_version else [])
        for version in versions + list((extra or {}).get(entry.name, [])):
            if publish_version(root, entry.name, version, scale):
                published.append(f"{entry.name}/{version}")
    return published


def push_store(root: Path, fleet: dict, primary: str = "data1", remote: str = REMOTE_STORE) -> None:
    """Copy the local store to the primary datasink; existing versions are never overwritten."""
    node = next(n for n in fleet["nodes"] if n["name"] == primary)
    subprocess.run(
        ["rsync", "-a", "--ignore-existing", "--rsync-path", f"mkdir -p {remote} && rsync",
         "-e", ssh_command(fleet), f"{root}/", f"{fleet['ssh_user']}@{node['address']}:{remote}/"],
        check=True,
    )


def pyinfra(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    binary = Path(sys.executable).with_name("pyinfra")
    return subprocess.run([str(binary), *args], cwd=REPO_ROOT, check=check)


def main() -> None:
    nodes = os.environ.get("NODES", "6")
    subprocess.run([sys.executable, "-m", "devfleet", "up", "--nodes", nodes], check=True, cwd=REPO_ROOT)
    fleet = load_fleet()
    print(f"--> Building the demo store in {DEMO_STORE}")
    published = build_store(DEMO_STORE)
    print(f"    published {len(published)} versions" if published else "    store up to date")
    push_store(DEMO_STORE, fleet)
    print("--> Deploying models to the local fleet")
    pyinfra("-y", str(DEMO_INVENTORY), "deploys/models.py")
    print("--> What runs where")
    cli = Path(sys.executable).with_name("sentinelcam-models")
    result = subprocess.run([str(cli), "drift", "-i", str(DEMO_INVENTORY)], cwd=REPO_ROOT)
    if result.returncode not in (0, 1):
        raise SystemExit(result.returncode)


if __name__ == "__main__":
    main()
