"""What one node reports about itself, parsed strictly: the deploy and ``drift`` both read it.

The node's answer (operations/scripts/node_state.sh) is one record per line. A node is not trusted: a
line is accepted only when every name in it passes the same validators as the registry, so a
directory whose name smuggles a newline and a forged record is ignored, never reported as an
installed version.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from . import names

STAGING_SUFFIXES = (".partial", ".old", ".deleting")


@dataclass(frozen=True)
class InstalledVersion:
    digest: str | None  # sha256 of its MANIFEST.sha256 (None: no or malformed manifest)
    complete: bool  # every file the manifest names is there
    intact: bool | None = None  # deep: every file (node-owned ones aside) matches the manifest
    node_modified: tuple[str, ...] = ()  # node-owned files that differ from the store's copy


@dataclass(frozen=True)
class ServiceState:
    active: str  # systemd ActiveState (active, failed, inactive, ...)
    restarts: int | None = None  # NRestarts


@dataclass(frozen=True)
class NodeState:
    installed: Mapping[str, Mapping[str, Mapping[str, InstalledVersion]]] = field(
        default_factory=lambda: MappingProxyType({})
    )  # models path -> model -> version -> info
    staging: Mapping[str, tuple[tuple[str, str], ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )  # models path -> ((model, name), ...)
    configs: Mapping[str, str | None] = field(
        default_factory=lambda: MappingProxyType({})
    )  # path -> text
    services: Mapping[str, ServiceState] = field(default_factory=lambda: MappingProxyType({}))
    facelists: tuple[str, ...] = ()  # versioned face lists on a datasink
    facelist_current: str | None = None  # where facelist_current.csv points
    health: Mapping | None = None  # the last health gate record
    login: str | None = None  # the account the node's commands ran as
    coral: Mapping | None = None  # CoralRuntime-like answer on coral hosts
    problems: tuple[str, ...] = ()  # lines the parser refused (reported, never trusted)

    def to_json(self) -> dict:
        """Plain data (``pyinfra … fact facts.node.NodeState`` prints it)."""

        def plain(value):
            if isinstance(value, Mapping):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, (tuple, list)):
                return [plain(v) for v in value]
            if hasattr(value, "__dataclass_fields__"):
                return {k: plain(getattr(value, k)) for k in value.__dataclass_fields__}
            return value

        return plain(self)

    def versions(self, models_path: str, model: str) -> Mapping[str, InstalledVersion]:
        return self.installed.get(models_path, {}).get(model, {})

    def has(self, models_path: str, model: str, version: str, digest: str | None = None) -> bool:
        info = self.versions(models_path, model).get(version)
        return bool(
            info
            and info.complete
            and info.intact is not False
            and (digest is None or info.digest == digest)
        )


def _b64(value: str) -> str | None:
    if value == "-":
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("not base64 UTF-8 text") from None


def parse(
    lines: Sequence[str],
    models_paths: Sequence[str],
    configs: Sequence[str],
    node_owned: Sequence[str] = (),
) -> NodeState:
    """The NodeState in a node's answer; paths are the ones the fact was asked about (by index)."""
    installed: dict[str, dict[str, dict[str, InstalledVersion]]] = {p: {} for p in models_paths}
    staging: dict[str, list[tuple[str, str]]] = {p: [] for p in models_paths}
    texts: dict[str, str | None] = {}
    services: dict[str, ServiceState] = {}
    facelists: list[str] = []
    modified: dict[tuple[str, str, str], list[str]] = {}
    result: dict = {"facelist_current": None, "health": None, "login": None, "coral": None}
    problems: list[str] = []

    def root(index: str) -> str | None:
        return (
            models_paths[int(index)] if index.isdigit() and int(index) < len(models_paths) else None
        )

    for line in lines:
        kind, _, rest = line.partition(" ")
        parts = rest.split(" ")
        try:
            if kind == "V" and len(parts) in (5, 6):
                path, model, version, digest, complete = root(parts[0]), *parts[1:5]
                if (
                    path
                    and names.is_model_name(model)
                    and names.is_version(version)
                    and (digest == "-" or names.is_sha256(digest))
                    and complete in ("0", "1")
                ):
                    intact = None if len(parts) == 5 else parts[5] == "1"
                    installed[path].setdefault(model, {})[version] = InstalledVersion(
                        None if digest == "-" else digest, complete == "1", intact
                    )
                    continue
            elif kind == "S" and len(parts) == 3:
                path, model, name = root(parts[0]), parts[1], parts[2]
                base = name[1:].rsplit(".", 1)[0] if name.startswith(".") else ""
                if (
                    path
                    and names.is_model_name(model)
                    and names.is_version(base)
                    and any(name == f".{base}{suffix}" for suffix in STAGING_SUFFIXES)
                ):
                    staging[path].append((model, name))
                    continue
            elif kind == "F" and len(parts) == 5:
                path, model, version, name, flag = root(parts[0]), *parts[1:]
                if (
                    path
                    and names.is_model_name(model)
                    and names.is_version(version)
                    and name in node_owned
                    and flag in ("0", "1")
                ):
                    if flag == "1":
                        modified.setdefault((path, model, version), []).append(name)
                    continue
            elif (
                kind == "C"
                and len(parts) == 2
                and parts[0].isdigit()
                and int(parts[0]) < len(configs)
            ):
                texts[configs[int(parts[0])]] = _b64(parts[1])
                continue
            elif (
                kind == "U" and len(parts) == 3 and names.is_model_name(parts[0].replace("-", "_"))
            ):
                restarts = int(parts[2]) if parts[2].isdigit() else None
                services[parts[0]] = ServiceState(
                    parts[1] if parts[1].isalpha() else "unknown", restarts
                )
                continue
            elif (
                kind == "L"
                and len(parts) == 1
                and parts[0].startswith("facelist_")
                and parts[0].endswith(".csv")
                and names.is_version(parts[0][len("facelist_") : -len(".csv")])
            ):
                facelists.append(parts[0])
                continue
            elif kind == "K" and len(parts) == 1 and names.is_plain_file_name(parts[0]):
                result["facelist_current"] = parts[0]
                continue
            elif kind in ("H", "R") and len(parts) == 1:
                text = _b64(parts[0])
                value = json.loads(text) if text else None
                if isinstance(value, dict):
                    result["health" if kind == "H" else "coral"] = MappingProxyType(value)
                    continue
            elif kind == "W" and len(parts) == 1 and names.is_user_name(parts[0]):
                result["login"] = parts[0]
                continue
        except (ValueError, IndexError):
            pass
        problems.append(f"ignored a line the node sent: {line[:80]!r}")

    for (path, model, version), files in modified.items():
        info = installed[path].get(model, {}).get(version)
        if info is not None:
            installed[path][model][version] = InstalledVersion(
                info.digest, info.complete, info.intact, tuple(sorted(files))
            )
    return NodeState(
        installed=MappingProxyType(
            {
                p: MappingProxyType({m: MappingProxyType(v) for m, v in models.items()})
                for p, models in installed.items()
            }
        ),
        staging=MappingProxyType({p: tuple(items) for p, items in staging.items()}),
        configs=MappingProxyType(texts),
        services=MappingProxyType(services),
        facelists=tuple(sorted(facelists)),
        problems=tuple(problems),
        **result,
    )
