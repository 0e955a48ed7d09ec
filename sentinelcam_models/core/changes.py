"""Registry changes as values: rollback, promote, pin and unpin return the new file text, the commit
message, the hosts to redeploy and the command that undoes them. The use cases (fleet/usecases.py)
then apply them through one Edit (fleet/edit.py: lock, check, write, commit, log), write the
retention policy and redeploy.

Edits change only the values they name (core/yamlpatch); aliased values cannot occur (anchors and
aliases are refused when the files are read) and every edit is read back before it is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from . import names
from .problems import BadInput
from .registry import parse_registry
from .validation import CheckedInventory
from .yamlpatch import DELETE, PatchError, get_value, set_values
from .yamlstrict import load

PINS = "model_version_overrides"
# What an inventory must do for pins to act (README: how to write your own inventory).
MERGE_ADVICE = (
    "the inventory must merge host_data/HOST.yaml into each host's data, over any pins of its "
    "own, as production.py's _host helper does (README: how to write your own inventory)"
)


@dataclass(frozen=True)
class Change:
    action: str  # rollback | promote | pin | unpin
    model: str
    file: str  # the file the change edits
    old_text: str | None  # None: the file did not exist
    new_text: str | None  # None: the change removes the file
    message: str  # the commit message
    hosts: tuple[str, ...]  # hosts whose configs follow the change
    store_versions: tuple[str, ...]  # versions that must be in the store first
    deep_store_check: bool  # promote: the version must verify (re-hashed) in the store
    undo: tuple[str, ...]  # argv of the command that undoes it
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class NoChange:
    message: str


def _model_entry(checked: CheckedInventory, model: str):
    entry = checked.registry.model(model)
    if entry is None:
        raise BadInput(
            f"{checked.registry.path}: unknown model {model!r} (known: {', '.join(checked.registry.models)})"
        )
    return entry


def check_version(model: str, version: str) -> None:
    if not names.is_version(version):
        raise BadInput(f"model {model}: {names.describe_version_error(version)}")


def version_change(
    checked: CheckedInventory,
    registry_text: str,
    action: str,
    model: str,
    target: str | None,
    inventory: str,
) -> Change | NoChange:
    """rollback (target None: the previous version) or promote: current <- target, previous <- current."""
    entry = _model_entry(checked, model)
    if target is None:
        if entry.previous_version is None:
            raise BadInput(
                f"{checked.registry.path}: sentinelcam_models.{model}.previous_version is null: "
                "nothing to roll back to"
            )
        target = entry.previous_version
    check_version(model, target)
    if target == entry.current_version:
        return NoChange(f"{model} is already at {target}; nothing to do")
    old = entry.current_version
    try:
        new_text = set_values(
            registry_text,
            {
                ("sentinelcam_models", model, "current_version"): target,
                ("sentinelcam_models", model, "previous_version"): old,
            },
        )
    except PatchError as exc:
        raise BadInput(f"{checked.registry.path}: sentinelcam_models.{model}: {exc}") from None
    _, problems = parse_registry(checked.registry.path, new_text)
    if problems:
        raise BadInput(
            "refusing to write an invalid registry: " + "; ".join(str(p) for p in problems)
        )
    verb = "Rollback" if action == "rollback" else "Promote"
    return Change(
        action,
        model,
        checked.registry.path,
        registry_text,
        new_text,
        f"{verb} {model} from {old} to {target}",
        tuple(checked.users_of(model, unpinned_only=True)),
        (target,),
        action == "promote",
        ("sentinelcam-models", "rollback", model, old, "-i", inventory, "--yes"),
        MappingProxyType({"model": model, "from": old, "to": target}),
    )


def _host_file(file: str, text: str | None) -> tuple[dict | None, dict | None]:
    """A host data file's data and its pins (None: none), or the one line that refuses it."""
    data = None
    if text is not None:
        doc, problems = load(file, text)
        if doc is None or problems:
            raise BadInput("; ".join(str(p) for p in problems))
        data = doc.data
        if data is not None and not isinstance(data, dict):
            raise BadInput(f"{file}: must be a mapping")
    pins = (data or {}).get(PINS)
    if pins is not None and not isinstance(pins, dict):
        raise BadInput(f"{file}: {PINS} must be a mapping")
    return data, pins


def pin_text(file: str, text: str | None, model: str, version: str | None) -> str | None:
    """The host data file with ``model`` pinned to ``version`` (None: unpinned); None: remove the file."""
    data, pins = _host_file(file, text)
    try:
        if version is None:
            if not pins or model not in pins:
                return text
            new = set_values(text or "", {(PINS, model): DELETE})
            if get_value(new, (PINS,)) is None:
                new = set_values(new, {(PINS,): DELETE})
            return new if new.strip() else None
        if text is None or not (data or {}):
            return f'{PINS}:\n  {model}: "{version}"\n'
        if pins is None:
            if PINS in (
                data or {}
            ):  # an empty `model_version_overrides:`: replaced by the new block
                text = set_values(text, {(PINS,): DELETE})
            newline = "\r\n" if "\r\n" in text else "\n"
            sep = "" if text.endswith(("\n", "\r\n")) else newline
            return f'{text}{sep}{PINS}:{newline}  {model}: "{version}"{newline}'
        return set_values(text, {(PINS, model): version})
    except PatchError as exc:
        raise BadInput(f"{file}: {PINS}: {exc}") from None


def pin_change(
    checked: CheckedInventory,
    host: str,
    model: str,
    version: str | None,
    file: str,
    text: str | None,
    inventory: str,
) -> Change | NoChange:
    """Pin ``host`` to ``version`` of ``model`` (None: unpin) in its host data file ``file``, whose
    text is ``text`` now.

    ``checked`` is the inventory as it is once the file holds the new text (``Session.plan_host_data``
    loads it so, before anything is written): a pin it does not show is refused. An unpin removes
    the file's pin, which may leave a pin the inventory sets itself (a fallback, its own pins
    under the file's): the message then names the pin the host's settings show. "Already", the
    message and the undo are about the file, which is what a pin writes (and its undo restores).
    """
    if host not in checked.settings:
        raise BadInput(f"{inventory}: no host {host!r}")
    current = (_host_file(file, text)[1] or {}).get(model)
    if version is not None or current is None:  # a leftover pin of a model gone may be removed
        _model_entry(checked, model)
    if version is not None:
        check_version(model, version)
    shown = checked.settings[host].pins.get(model)
    if version is None and current is None and shown is not None:
        raise BadInput(
            f"{file}: holds no {model} pin to remove: host {host}'s pin to {shown} is set by the "
            f"inventory ({inventory}) itself; nothing changed"
        )
    if version is not None:
        require_pin_shows(checked, inventory, host, model, version, file)
    if current == version:
        return NoChange(
            f"{file} already "
            + (f"pins {model} to {version}" if version else f"holds no {model} pin")
            + "; nothing to do"
        )
    new_text = pin_text(file, text, model, version)
    if new_text is not None:
        doc, problems = load(file, new_text)
        if doc is None or problems or (doc.data or {}).get(PINS, {}).get(model) != version:
            raise BadInput(f"{file}: the edit does not read back as the pin; edit it by hand")
    if version is not None:
        message = f"Pin {model} on {host} to {version}"
        undo = (
            ("sentinelcam-models", "pin", host, model, current, "-i", inventory, "--yes")
            if current
            else ("sentinelcam-models", "unpin", host, model, "-i", inventory, "--yes")
        )
    else:
        message = f"Unpin {model} on {host} (was {current}" + (
            f"; its settings then pin {shown})" if shown else ")"
        )
        undo = ("sentinelcam-models", "pin", host, model, str(current), "-i", inventory, "--yes")
    return Change(
        "pin" if version else "unpin",
        model,
        file,
        text,
        new_text,
        message,
        (host,) if checked.plans[host].uses(model) else (),
        (version,) if version else (),
        False,
        undo,
        MappingProxyType(
            {
                "host": host,
                "model": model,
                "from": current,
                "to": version,
                # every pin the host's settings show once the file is written (other models' too:
                # what the inventory merges around the file shows here)
                "pins": dict(sorted(checked.settings[host].pins.items())),
            }
        ),
    )


def require_pin_shows(
    checked: CheckedInventory,
    inventory: str,
    host: str,
    model: str,
    version: str | None,
    file: str,
    written: bool = False,
) -> None:
    """Pins that act: refuse when the inventory, with the host data file ``file`` as it will be
    (``written``: as it was just written, and is put back), does not show the pin."""
    settings = checked.settings.get(host)
    shown = settings.pins.get(model) if settings is not None else None
    if shown == version:
        return
    raise BadInput(
        f"{inventory}: host {host} does not show the "
        + (f"pin {model}={version}" if version else f"removal of its {model} pin")
        + f" {'written to' if written else 'in'} {file} (its settings say {shown or 'unpinned'}): "
        + MERGE_ADVICE
        + ("; the file is restored, nothing changed" if written else "; nothing changed")
    )
