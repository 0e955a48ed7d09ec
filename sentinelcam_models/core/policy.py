"""The retention policy the primary datasink's weekly cleanup reads: what the inventory needs kept.

The datasink does not hold the inventory, so every registry change and every deploy rewrites this
document there (format: core/retention.py): current and previous versions, and every pin with the
hosts that hold it.
"""

from __future__ import annotations

import json

from .retention import make_policy, policy_document
from .validation import CheckedInventory

POLICY_FILE = "model_retention_policy.json"  # in sentinelcam_data_path on the primary datasink


def policy_for(checked: CheckedInventory) -> dict:
    keep = checked.settings[checked.primary].store_retention
    versions = {
        name: (entry.current_version, entry.previous_version)
        for name, entry in checked.registry.models.items()
    }
    pins = {host: dict(settings.pins) for host, settings in checked.settings.items()}
    return policy_document(make_policy(keep, versions, pins))


def policy_text(policy: dict) -> str:
    """The file's bytes, exactly as the store agent writes them."""
    return json.dumps(policy, indent=2, sort_keys=True) + "\n"


def policy_path(checked: CheckedInventory) -> str:
    return f"{data_path(checked)}/{POLICY_FILE}"


def data_path(checked: CheckedInventory) -> str:
    return checked.settings[checked.primary].path("sentinelcam_data_path")
