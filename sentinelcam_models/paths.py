"""Where the operator's files are (the checkout) and where the project's own files are (deploys,
templates).

Commands act on a checkout, as git, Ansible and pyinfra act on the directory you stand in: the
one ``--repo DIR`` or ``$SENTINELCAM_REPO`` names, else the nearest directory at or above the
current one that holds ``inventories/group_data/``. Its ``inventories/production.py`` is the
default inventory. Deploy files and templates come from that checkout when it has them, else from
the installed package (a wheel or a pipx install ships them), so two clones never cross.
"""

from __future__ import annotations

import os
from pathlib import Path

from .core.problems import BadInput

REPO_ROOT = Path(__file__).resolve().parent.parent  # this package's own tree (or site-packages)
TEMPLATES = REPO_ROOT / "templates"  # the shipped templates (a checkout's own come first)
DEPLOYS = REPO_ROOT / "deploys"  # the shipped deploy files (a checkout's own come first)
REGISTRY_FILE_NAME = "model_registry.yaml"
HOST_DATA_DIR = "host_data"
INVENTORY_ENV = "SENTINELCAM_INVENTORY"
REPO_ENV = "SENTINELCAM_REPO"
MARKER = Path("inventories") / "group_data"

_chosen: Path | None = None  # --repo DIR, set by the command line for this process


class NoCheckout(BadInput):
    """No checkout here: the operator's one line says where we looked and how to name one."""


def is_checkout(path: Path) -> bool:
    return (path / MARKER).is_dir()


def find_checkout(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` that holds ``inventories/group_data/``."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if is_checkout(candidate):
            return candidate
    return None


def choose_checkout(path: str | Path | None) -> None:
    """``--repo DIR`` for the rest of this process (None: back to the environment and the cwd)."""
    global _chosen
    _chosen = Path(path).resolve() if path else None


def named_checkout() -> Path | None:
    """The checkout ``--repo`` or ``$SENTINELCAM_REPO`` names (checked), if any."""
    named = _chosen or (Path(os.environ[REPO_ENV]).resolve() if os.environ.get(REPO_ENV) else None)
    if named is not None and not is_checkout(named):
        how = "--repo" if _chosen else f"${REPO_ENV}"
        raise NoCheckout(f"{how} {named}: not a sentinelcam-models checkout (no {MARKER}/ there)")
    return named


def checkout() -> Path | None:
    """The checkout commands act on: --repo, $SENTINELCAM_REPO, else found from the cwd up."""
    return named_checkout() or find_checkout(Path.cwd())


def require_checkout() -> Path:
    found = checkout()
    if found is None:
        raise NoCheckout(
            f"{Path.cwd()}: not in a sentinelcam-models checkout (no {MARKER}/ here or above): "
            f"cd into one, or give --repo DIR, ${REPO_ENV} or -i INVENTORY"
        )
    return found


def default_inventory() -> Path:
    """$SENTINELCAM_INVENTORY, else the checkout's inventories/production.py."""
    if os.environ.get(INVENTORY_ENV):
        return Path(os.environ[INVENTORY_ENV])
    return require_checkout() / "inventories" / "production.py"


def deploy_file(name: str) -> Path:
    """``deploys/<name>`` of the checkout, else the shipped one."""
    found = checkout()
    if found is not None and (found / "deploys" / name).is_file():
        return found / "deploys" / name
    return DEPLOYS / name


def templates_dir() -> Path:
    found = checkout()
    if found is not None and (found / "templates").is_dir():
        return found / "templates"
    return TEMPLATES


def registry_file_for(inventory: str | Path) -> Path:
    """The registry an inventory reads: ``group_data/model_registry.yaml`` beside it."""
    return Path(inventory).resolve().parent / "group_data" / REGISTRY_FILE_NAME


def host_data_file(inventory: str | Path, host: str) -> Path:
    """``host_data/<host>.yaml`` beside the inventory (the caller validates ``host`` first; a name
    that would leave host_data/ is refused here too)."""
    if not host or host.startswith(".") or any(c in host for c in "/\\\0\n"):
        raise ValueError(f"{host!r} is not a host name")
    return Path(inventory).resolve().parent / HOST_DATA_DIR / f"{host}.yaml"


def template_text(name: str) -> str:
    return (templates_dir() / name).read_text(encoding="utf-8")
