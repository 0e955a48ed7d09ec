"""The fleet the original Ansible roles and playbooks left (``python -m devfleet up --as-original``).

On top of what every fleet node has (the roles' configs, provision.py), a node of the original's
fleet has, as the original set it up (sentinelcam-configs.md, original-implementation.md):

* a key for ops (``~ops/.ssh/id_ed25519``) that every datasink authorizes as a **plain line**
  (the original's nodes pull models over plain SSH: a full shell), one of them with options, and
  the datasinks' host keys as plain lines in ops' ``known_hosts``;
* sentinel2's ``sentinel.yaml`` with the role's default accelerator (coral) where the inventory
  says cpu; outpost7's ``imagenode.yaml`` in the DepthAI v2 shape (provision.py);
* ``datapump.yaml`` reading the curated ``faces/facelist_gamma4.csv`` (group_vars/datasinks.yaml);
* after boot: a store on the primary without manifests (every registry version), and on each
  node manifest-less copies of the current versions it runs, the sentinels' face list curated.

The files before boot are standard library only; the models after boot use the demo store
builder (the project's virtualenv).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from devfleet import provision

MIN_NODES = 7  # outpost7 is the OAK outpost in the v2 shape
# outpost7 runs only the DepthAI model (its imagenode.yaml has the OAK camera only).
INVENTORY_DATA = {"outpost7": {"outpost_models": ["mobilenet_ssd_depthai"]}}
OPTIONS_NODE = "east"  # its plain line carries options: whatever the options, it is replaced
OPTIONS = "no-port-forwarding,no-X11-forwarding"
CURATED = "curated-by-the-original,0000,locked\n"
# The models the original's deploy-models copied to each outpost (its outpost_models, as in
# inventories/demo.py; outpost7's in INVENTORY_DATA).
OUTPOST_MODELS = {
    "east": ["mobilenet_ssd_depthai"],
    "alpha5": ["mobilenet_ssd", "mobilenet_ssd_edgetpu"],
    "outpost7": ["mobilenet_ssd_depthai"],
}


def pull_key_line(name: str, pub: str) -> str:
    """The line the original's datasinks hold for a node's key: plain (east's with options)."""
    kind, blob = pub.split()[:2]
    line = f"{kind} {blob} ops@{name}"
    return f"{OPTIONS} {line}" if name == OPTIONS_NODE else line


def datasink_authorized_keys(operator: str, keys: dict[str, str], datasink: str) -> str:
    """ops' authorized_keys on a datasink: the operator's key, then every other node's key."""
    lines = [operator] + [pull_key_line(n, keys[n]) for n in sorted(keys) if n != datasink]
    return "".join(line + "\n" for line in lines)


def known_hosts(datasinks: list[dict], host_keys: dict[str, str]) -> str:
    """ops' known_hosts on a node: each datasink's host key under its name and address."""
    return "".join(
        f"{d['name']},{d['address']} {' '.join(host_keys[d['name']].split()[:2])}\n"
        for d in datasinks
    )


# ------------------------------------------------------------------------------------------------
# After boot: the store without manifests and the nodes' manifest-less copies


def install_models(fleet: dict, scale: float | None = None) -> None:
    """The original's store on the primary (no manifests) and each node's copies of the current
    versions it runs (no manifests), the sentinels' face list curated on the node.

    Files are at ``scale`` of the demo's realistic sizes: $SENTINELCAM_ORIGINAL_SCALE, default
    0.002 as in the fleet tests (1 for the demo's full sizes, about 108 MB of store)."""
    if scale is None:
        scale = float(os.environ.get("SENTINELCAM_ORIGINAL_SCALE") or 0.002)
    from devfleet import demo  # noqa: PLC0415 (the virtualenv: PyYAML, the registry)
    from sentinelcam_models.core import catalog  # noqa: PLC0415

    registry = demo.load_registry()
    ssh = demo.ssh_command(fleet).split()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        demo.build_store(store, scale=scale)
        for manifest in store.glob("*/*/MANIFEST.sha256"):
            manifest.unlink()
        demo.push_store(store, fleet)
        choice = catalog.SentinelChoice("cpu", "ssd_mobilenet")
        for node in fleet["nodes"]:
            name, groups = node["name"], node["groups"]
            extra = ""
            if "sentinels" in groups:
                root = "/home/ops/sentinel/models"
                models = [m for m in registry.models if catalog.spec(m).sentinel(choice)]
                fr = (
                    f"{root}/face_recognition/{registry.models['face_recognition'].current_version}"
                )
                extra = f" && printf %s '{CURATED}' >> {fr}/facelist.csv"
            elif "outposts" in groups:
                root = "/home/ops/imagenode/models"
                models = OUTPOST_MODELS.get(name, ["mobilenet_ssd"])
                if name in INVENTORY_DATA:  # the v2 blob the camera runs, in a version of its own
                    d = f"{root}/mobilenet_ssd_depthai/{provision.DEPTHAI_V2_VERSION}"
                    extra = f" && mkdir -p {d} && echo v2-blob > {d}/{provision.DEPTHAI_V2_BLOB}"
            else:
                continue
            paths = [f"{m}/{registry.models[m].current_version}" for m in models]
            tar = subprocess.run(
                ["tar", "-C", str(store), "-cf", "-", *paths], check=True, capture_output=True
            ).stdout
            subprocess.run(
                [*ssh, f"ops@{node['address']}", f"mkdir -p {root} && tar -C {root} -xf -{extra}"],
                input=tar,
                check=True,
                capture_output=True,
            )
