"""What one node reports about itself, parsed strictly: the deploy and ``drift`` both read it.

The node's answer (operations/scripts/node_state.py) is one JSON document with a fixed schema. A node
is not trusted: the document is parsed with caps on size and depth (``core/untrusted``), every key
must be one the schema names and every name passes the same validators as the registry. An answer
that is not such a document fails that host alone (``NodeState.failure``), never the run.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from . import names, untrusted
from .registry import PIP_PACKAGES
from .untrusted import Untrusted

SCHEMA = 1
STAGING_SUFFIXES = (".partial", ".old", ".deleting")
PACKAGE_VERSION = re.compile(r"[A-Za-z0-9.+~:_-]{1,64}")


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
    problems: tuple[str, ...] = ()  # parts of the answer refused (reported, never trusted)
    failure: str | None = None  # the answer as a whole was refused: this host fails, alone

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


def _text(value: Any, what: str) -> str | None:
    """Base64 file bytes as text; bytes that are not UTF-8 are kept (``surrogateescape``), so the
    text encodes back to exactly the node's bytes (``untrusted.as_bytes``)."""
    if value is None:
        return None
    untrusted.expect(value, str, what)
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Untrusted(f"{what} is not base64") from None
    return untrusted.as_text(data)


def _flag(value: object, what: str) -> bool:
    return untrusted.expect(value, bool, what)


ROOT_KEYS = {"versions", "staging"}
VERSION_KEYS = {"model", "version", "digest", "complete", "intact", "modified"}
DOCUMENT_KEYS = {
    "schema",
    "roots",
    "configs",
    "services",
    "facelists",
    "facelist_current",
    "health",
    "coral",
    "login",
}
HEALTH_CAP = 64 << 10
HEALTH_KEYS = {"status", "detail", "versions", "time", "seconds"}


def _health(value: Any, problems: list[str]) -> Mapping | None:
    """The last health gate record; one the node cannot have written is reported, not trusted."""
    if value is None:
        return None
    if isinstance(value, dict):  # {"too_large": true}
        problems.append(f"health record ignored: larger than {HEALTH_CAP} bytes")
        return None
    try:
        text = _text(value, "health record") or ""
        record = untrusted.loads(text, cap=HEALTH_CAP, depth=3)
        untrusted.keys(record, {"status"}, "health record", HEALTH_KEYS - {"status"})
        if record["status"] not in ("passed", "reverted", "failed"):
            raise Untrusted("health record has an unknown status")
        for key in ("detail", "time"):
            if key in record and record[key] is not None:
                untrusted.expect(record[key], str, f"health record {key}")
        versions = record.get("versions") or {}
        untrusted.expect(versions, dict, "health record versions")
        if not all(names.is_model_name(m) and names.is_version(v) for m, v in versions.items()):
            raise Untrusted("health record versions name no model version")
    except Untrusted as exc:
        problems.append(f"health record ignored: {exc}")
        return None
    return MappingProxyType(record)


def _coral(value: Any) -> Mapping | None:
    """``{"deb": "ii 1.0", "venvs": {venv: {package: version or None} or None}}`` (core.coral)."""
    if value is None:
        return None
    untrusted.keys(value, {"deb", "venvs"}, "coral")
    deb = value["deb"]
    line = ""
    if deb is not None:
        untrusted.keys(deb, {"status", "version"}, "coral deb")
        status, version = deb["status"], deb["version"]
        untrusted.expect(status, str, "coral deb status")
        untrusted.expect(version, str, "coral deb version")
        if not PACKAGE_VERSION.fullmatch(version) or not status.isalnum():
            raise Untrusted("coral deb version is not a package version")
        line = f"{status} {version}"
    venvs = untrusted.expect(value["venvs"], dict, "coral venvs")
    found: dict[str, Mapping | None] = {}
    for venv, answer in venvs.items():
        if not names.is_safe_path(venv):
            raise Untrusted("coral venvs name a path that was not asked about")
        if answer is None:
            found[venv] = None
            continue
        if isinstance(answer, dict) and set(answer) == {"error"}:
            raise Untrusted(f"{venv}: {untrusted.short(answer['error'], 120)}")
        untrusted.keys(answer, set(PIP_PACKAGES), f"coral venv {venv}")
        for package, version in answer.items():
            if version is not None and not (
                isinstance(version, str) and PACKAGE_VERSION.fullmatch(version)
            ):
                raise Untrusted(f"coral venv {venv}: {package} has no package version")
        found[venv] = MappingProxyType(dict(answer))
    return MappingProxyType({"deb": line, "venvs": MappingProxyType(found)})


def parse_document(
    text: str,
    models_paths: Sequence[str],
    configs: Sequence[str],
    node_owned: Sequence[str] = (),
) -> NodeState:
    """The NodeState in a node's answer (operations/scripts/node_state.py): one JSON document,
    parsed with caps on size and depth and a fixed schema; paths are the ones the fact was asked
    about (by index). ``Untrusted`` (one line) when the document is not such an answer."""
    doc = untrusted.loads(text)
    if isinstance(doc, dict) and "too_large" in doc:
        raise Untrusted("the node's answer is larger than its cap")
    untrusted.keys(doc, DOCUMENT_KEYS, "the answer")
    if doc["schema"] != SCHEMA:
        raise Untrusted(f"schema {untrusted.short(doc['schema'], 20)} is not {SCHEMA}")
    roots = untrusted.expect(doc["roots"], list, "roots")
    if len(roots) != len(models_paths):
        raise Untrusted("roots do not match the models paths asked about")
    installed: dict[str, dict[str, dict[str, InstalledVersion]]] = {}
    staging: dict[str, tuple[tuple[str, str], ...]] = {}
    for path, answer in zip(models_paths, roots, strict=True):
        untrusted.keys(answer, ROOT_KEYS, f"{path}")
        found: dict[str, dict[str, InstalledVersion]] = {}
        for item in untrusted.expect(answer["versions"], list, f"{path} versions"):
            untrusted.keys(item, VERSION_KEYS, f"a version in {path}")
            model, version, digest = item["model"], item["version"], item["digest"]
            if not names.is_model_name(model) or not names.is_version(version):
                raise Untrusted(f"{path}: a version names no model version")
            if digest is not None and not names.is_sha256(digest):
                raise Untrusted(f"{path}: {model} {version}: digest is not a sha256")
            intact = item["intact"]
            if intact is not None:
                _flag(intact, f"{model} {version} intact")
            modified = untrusted.expect(item["modified"], list, f"{model} {version} modified")
            if not all(name in node_owned for name in modified):
                raise Untrusted(f"{path}: {model} {version}: modified names a file not asked about")
            found.setdefault(model, {})[version] = InstalledVersion(
                digest,
                _flag(item["complete"], f"{model} {version} complete"),
                intact,
                tuple(sorted(set(modified))),
            )
        installed[path] = found
        items = []
        for pair in untrusted.expect(answer["staging"], list, f"{path} staging"):
            untrusted.expect(pair, list, f"{path} staging")
            if len(pair) != 2 or not _staging_name(*pair):
                raise Untrusted(f"{path}: staging names no staging directory")
            items.append((pair[0], pair[1]))
        staging[path] = tuple(items)
    texts = untrusted.expect(doc["configs"], list, "configs")
    if len(texts) != len(configs):
        raise Untrusted("configs do not match the files asked about")
    config_texts: dict[str, str | None] = {}
    for path, value in zip(configs, texts, strict=True):
        if isinstance(value, dict):
            raise Untrusted(f"{path} is larger than the node-state cap")
        config_texts[path] = _text(value, path)
    services: dict[str, ServiceState] = {}
    for service, value in untrusted.expect(doc["services"], dict, "services").items():
        untrusted.keys(value, {"active", "restarts"}, f"service {untrusted.short(service, 40)}")
        if not names.is_model_name(service.replace("-", "_")):
            raise Untrusted("services name no service")
        active, restarts = value["active"], value["restarts"]
        if not (isinstance(active, str) and active.isalpha() and len(active) < 32):
            raise Untrusted(f"service {service}: active state is not a word")
        if restarts is not None:
            untrusted.expect(restarts, int, f"service {service} restarts")
        services[service] = ServiceState(active, restarts)
    facelists = untrusted.expect(doc["facelists"], list, "facelists")
    if not all(_facelist_name(name) for name in facelists):
        raise Untrusted("facelists name no versioned face list")
    current = doc["facelist_current"]
    if current is not None and not names.is_plain_file_name(current):
        raise Untrusted("facelist_current is not a plain file name")
    login = doc["login"]
    if not names.is_user_name(login):
        raise Untrusted("login is not a user name")
    problems: list[str] = []
    return NodeState(
        installed=MappingProxyType(
            {
                p: MappingProxyType({m: MappingProxyType(v) for m, v in models.items()})
                for p, models in installed.items()
            }
        ),
        staging=MappingProxyType(staging),
        configs=MappingProxyType(config_texts),
        services=MappingProxyType(services),
        facelists=tuple(sorted(set(facelists))),
        facelist_current=current,
        health=_health(doc["health"], problems),
        login=login,
        coral=_coral(doc["coral"]),
        problems=tuple(problems),
    )


def _staging_name(model: object, name: object) -> bool:
    if not names.is_model_name(model) or not isinstance(name, str) or not name.startswith("."):
        return False
    base = name[1:].rsplit(".", 1)[0]
    return names.is_version(base) and any(name == f".{base}{suffix}" for suffix in STAGING_SUFFIXES)


def _facelist_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and name.startswith("facelist_")
        and name.endswith(".csv")
        and names.is_version(name[len("facelist_") : -len(".csv")])
    )


def parse(
    output: Sequence[str],
    models_paths: Sequence[str],
    configs: Sequence[str],
    node_owned: Sequence[str] = (),
) -> NodeState:
    """``parse_document`` over a fact's output lines, total: whatever the node sent, the result is a
    NodeState, with ``failure`` (one printable line) when the answer could not be trusted."""
    try:
        return parse_document("\n".join(output), models_paths, configs, node_owned)
    except Untrusted as exc:
        return NodeState(failure=f"node state refused: {exc}")
    except Exception as exc:  # any surprise is this host's failure, never the run's
        return NodeState(
            failure=f"node state refused: {type(exc).__name__}: {untrusted.short(exc, 200)}"
        )
