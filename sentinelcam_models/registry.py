"""The registry file: which dated version of each model the fleet runs, and the Coral packages.

Reading is strict (duplicate keys and bad shapes are problems, never silently merged); the result is
a small immutable value the rest of the core works from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from . import names
from .problems import Problem
from .yamlfile import StrictYaml, load_strict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INVENTORY = REPO_ROOT / "inventories" / "production.py"
REGISTRY_FILE_NAME = "model_registry.yaml"

CORAL_PACKAGE_FIELDS = {
    "libedgetpu": ("version", "deb_package", "sha256", "download_url"),
    "tflite_runtime": ("version", "wheel", "sha256", "download_url"),
    "pycoral": ("version", "wheel", "sha256", "download_url"),
}
SHA256 = re.compile(r"^[0-9a-f]{64}$")
CORAL_TOP_FIELDS = ("tf_version", "python_version")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    current_version: str
    previous_version: str | None
    variants: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Registry:
    path: str
    models: Mapping[str, ModelEntry]
    coral_packages: Mapping
    defined: frozenset = frozenset()  # every model name in the file, valid or not

    def model(self, name: str) -> ModelEntry | None:
        return self.models.get(name)


def registry_file_for(inventory: str | Path) -> Path:
    """The registry an inventory reads: ``group_data/model_registry.yaml`` beside it."""
    return Path(inventory).resolve().parent / "group_data" / REGISTRY_FILE_NAME


def _check_models(doc: StrictYaml, file: str) -> tuple[dict[str, ModelEntry], list[Problem]]:
    problems: list[Problem] = []
    models: dict[str, ModelEntry] = {}
    section = doc.data.get("sentinelcam_models")
    if not isinstance(section, dict) or not section:
        problems.append(Problem(file, "sentinelcam_models", "missing or empty: a mapping of model name -> versions", line=doc.line("sentinelcam_models")))
        return models, problems
    for name, entry in section.items():
        key = f"sentinelcam_models.{name}"

        def p(subkey: str, message: str) -> None:
            full = f"{key}.{subkey}" if subkey else key
            problems.append(Problem(file, full, message, line=doc.line(full) or doc.line(key)))

        if not names.is_model_name(name):
            p("", "model names must match [a-z0-9_]+")
            continue
        if not isinstance(entry, dict):
            p("", "must be a mapping with current_version and previous_version")
            continue
        unknown = sorted(set(entry) - {"current_version", "previous_version", "variants"})
        for extra in unknown:
            p(str(extra), "unknown key (expected current_version, previous_version, variants)")
        current = entry.get("current_version")
        previous = entry.get("previous_version")
        ok = True
        if "current_version" not in entry:
            p("current_version", "missing")
            ok = False
        elif not names.is_version(current):
            p("current_version", names.describe_version_error(current))
            ok = False
        if "previous_version" not in entry:
            p("previous_version", "missing (write null when there is none)")
            ok = False
        elif previous is not None and not names.is_version(previous):
            p("previous_version", names.describe_version_error(previous))
            ok = False
        elif previous is not None and previous == current:
            p("previous_version", f"equals current_version {current!r}; it must differ (or be null)")
            ok = False
        variants = entry.get("variants") or {}
        if not isinstance(variants, dict):
            p("variants", "must be a mapping of variant name -> file name")
            ok = False
            variants = {}
        for vname, vfile in variants.items():
            if not names.is_model_name(vname):
                p(f"variants.{vname}", "variant names must match [a-z0-9_]+")
                ok = False
            if not names.is_plain_file_name(vfile):
                p(f"variants.{vname}", f"{vfile!r} is not a plain file name (no '/', spaces or '..')")
                ok = False
        if ok:
            models[name] = ModelEntry(name, current, previous, MappingProxyType(dict(variants)))
    return models, problems


def _check_coral(doc: StrictYaml, file: str) -> list[Problem]:
    problems: list[Problem] = []
    coral = doc.data.get("coral_packages")
    if coral is None:
        return [Problem(file, "coral_packages", "missing section", line=None)]
    if not isinstance(coral, dict):
        return [Problem(file, "coral_packages", "must be a mapping", line=doc.line("coral_packages"))]
    for top in CORAL_TOP_FIELDS:
        if not isinstance(coral.get(top), str) or not coral.get(top):
            problems.append(Problem(file, f"coral_packages.{top}", "missing (a quoted string)", line=doc.line("coral_packages")))
    for package, fields in CORAL_PACKAGE_FIELDS.items():
        key = f"coral_packages.{package}"
        spec = coral.get(package)
        if not isinstance(spec, dict):
            problems.append(Problem(file, key, "missing (a mapping with " + ", ".join(fields) + ")", line=doc.line("coral_packages")))
            continue
        for fld in fields:
            value = spec.get(fld)
            if not isinstance(value, str) or not value:
                problems.append(Problem(file, f"{key}.{fld}", "missing (a quoted string)", line=doc.line(key)))
            elif fld in ("deb_package", "wheel", "dev_package") and not names.is_plain_file_name(value):
                problems.append(Problem(file, f"{key}.{fld}", f"{value!r} is not a plain file name", line=doc.line(f"{key}.{fld}")))
            elif fld == "download_url" and not value.startswith(("https://", "http://")):
                problems.append(Problem(file, f"{key}.{fld}", f"{value!r} is not an http(s) URL", line=doc.line(f"{key}.{fld}")))
            elif fld == "sha256" and not SHA256.match(value):
                problems.append(Problem(file, f"{key}.{fld}", f"{value!r} is not a sha256 digest (64 lowercase hex characters)", line=doc.line(f"{key}.{fld}")))
        dev = spec.get("dev_package")
        if dev is not None and not names.is_plain_file_name(dev):
            problems.append(Problem(file, f"{key}.dev_package", f"{dev!r} is not a plain file name", line=doc.line(f"{key}.dev_package")))
        if dev is not None:
            dev_digest = spec.get("dev_sha256")
            if not isinstance(dev_digest, str) or not SHA256.match(dev_digest):
                problems.append(Problem(file, f"{key}.dev_sha256", f"{dev_digest!r} is not a sha256 digest (64 lowercase hex characters; required with dev_package)",
                                        line=doc.line(f"{key}.dev_sha256") or doc.line(key)))
    return problems


def parse_registry(path: str | Path, text: str | None = None) -> tuple[Registry | None, list[Problem]]:
    """Load and check the registry file; return it (None if unusable) and every problem found."""
    file = str(path)
    doc, problems = load_strict(path, text)
    if doc is None:
        return None, problems
    if not isinstance(doc.data, dict):
        return None, problems + [Problem(file, "", "must be a mapping with sentinelcam_models and coral_packages")]
    models, model_problems = _check_models(doc, file)
    problems += model_problems + _check_coral(doc, file)
    coral = doc.data.get("coral_packages") if isinstance(doc.data.get("coral_packages"), dict) else {}
    section = doc.data.get("sentinelcam_models")
    defined = frozenset(section) if isinstance(section, dict) else frozenset()
    registry = Registry(file, MappingProxyType(models), MappingProxyType(coral), defined)
    return registry, problems
