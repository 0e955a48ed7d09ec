"""The registry: which dated version of each model the fleet runs, and the Coral packages.

Parsing is strict (see yamlstrict) and total: every problem is a value naming ``file:line`` and the
key; the result is an immutable ``Registry``. A Coral digest written as ``null`` is *unset*: not an
error of the file (hosts without Coral deploy as usual) but a reason to refuse Coral hosts, with a
line saying what to record.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from . import names
from .problems import Problem
from .yamlstrict import StrictYaml, load

MODEL_KEYS = ("current_version", "previous_version", "variants", "probe", "probe_timeout")
PROBE_TIMEOUT = 60
PIP_PACKAGES = (
    "tflite_runtime",
    "pycoral",
)  # installed in this order: pycoral needs tflite_runtime
CORAL_FIELDS = {
    "libedgetpu": ("version", "deb_package", "sha256", "download_url"),
    "tflite_runtime": ("version", "wheel", "sha256", "download_url"),
    "pycoral": ("version", "wheel", "sha256", "download_url"),
}
CORAL_TOP_FIELDS = ("tf_version", "python_version")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    current_version: str
    previous_version: str | None
    variants: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    probe: tuple[str, ...] = ()  # a command that loads the model's files on a node
    probe_timeout: int = PROBE_TIMEOUT

    @property
    def versions(self) -> tuple[str, ...]:
        return (self.current_version,) + ((self.previous_version,) if self.previous_version else ())


@dataclass(frozen=True)
class CoralFile:
    """One file of the Coral runtime: the libedgetpu deb (and its dev package) or a wheel."""

    package: str  # libedgetpu | tflite_runtime | pycoral
    kind: str  # deb | dev | wheel
    name: str  # file name in the store
    sha256: str | None  # None: unset in the registry (placeholder)
    url: str
    key: str  # the registry key holding the digest, for messages


@dataclass(frozen=True)
class CoralPackages:
    tf_version: str
    python_version: str
    versions: Mapping[str, str]  # libedgetpu, tflite_runtime, pycoral -> version
    files: tuple[CoralFile, ...]  # deb, dev (if any), then the wheels in install order

    @property
    def deb(self) -> CoralFile:
        return next(f for f in self.files if f.kind == "deb")

    @property
    def deb_package_name(self) -> str:
        """``libedgetpu1-std_16.0…_arm64.deb`` -> ``libedgetpu1-std`` (Debian's file naming)."""
        return self.deb.name.split("_", 1)[0]

    def wheel(self, package: str) -> CoralFile:
        return next(f for f in self.files if f.kind == "wheel" and f.package == package)

    def runtime_files(self) -> tuple[CoralFile, ...]:
        """What nodes install: the deb and the wheels (not the dev package)."""
        return tuple(f for f in self.files if f.kind != "dev")

    def unset(self, with_dev: bool = True) -> tuple[CoralFile, ...]:
        return tuple(f for f in self.files if f.sha256 is None and (with_dev or f.kind != "dev"))


@dataclass(frozen=True)
class Registry:
    path: str
    models: Mapping[str, ModelEntry]
    coral: CoralPackages | None
    defined: frozenset[str] = frozenset()  # every model name in the file, valid or not
    doc: StrictYaml = field(default_factory=lambda: StrictYaml({}), compare=False, repr=False)

    def model(self, name: str) -> ModelEntry | None:
        return self.models.get(name)


class _Checker:
    def __init__(self, doc: StrictYaml, file: str):
        self.doc, self.file = doc, file
        self.problems: list[Problem] = []

    def add(self, key: str, message: str, fallback: str = "") -> None:
        line = self.doc.line(key) or (self.doc.line(fallback) if fallback else None)
        self.problems.append(Problem(self.file, key, message, line=line))


BUILTIN_PROBE = "builtin"  # the shipped probe (operations/scripts/model_probe.py)


def _probe(c: _Checker, key: str, value: object) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if value == BUILTIN_PROBE:
        return (BUILTIN_PROBE,)
    if not isinstance(value, str) or not value.strip():
        c.add(
            key,
            'must be builtin or a command line (a string), e.g. "/usr/local/bin/check-model --quick"',
        )
        return None
    try:
        argv = tuple(shlex.split(value))
    except ValueError as exc:
        c.add(key, f"cannot split the command line: {exc}")
        return None
    if not names.is_safe_path(argv[0]):
        c.add(
            key,
            f"{argv[0]!r}: the command must be an absolute path (no spaces or shell characters)",
        )
        return None
    if any(not arg.isprintable() for arg in argv):
        c.add(key, "arguments must be printable text")
        return None
    return argv


def _model(c: _Checker, name: object, entry: object) -> ModelEntry | None:
    key = f"sentinelcam_models.{name}"
    if not names.is_model_name(name):
        c.add(key, "model names must match [a-z0-9_]+")
        return None
    assert isinstance(name, str)
    if not isinstance(entry, dict):
        c.add(key, "must be a mapping with current_version and previous_version")
        return None
    ok = True
    for extra in sorted(set(entry) - set(MODEL_KEYS), key=str):
        c.add(f"{key}.{extra}", f"unknown key (expected {', '.join(MODEL_KEYS)})", key)
    current, previous = entry.get("current_version"), entry.get("previous_version")
    if "current_version" not in entry:
        c.add(f"{key}.current_version", "missing", key)
        ok = False
    elif not names.is_version(current):
        c.add(f"{key}.current_version", names.describe_version_error(current), key)
        ok = False
    if "previous_version" not in entry:
        c.add(f"{key}.previous_version", "missing (write null when there is none)", key)
        ok = False
    elif previous is not None and not names.is_version(previous):
        c.add(f"{key}.previous_version", names.describe_version_error(previous), key)
        ok = False
    elif previous is not None and previous == current:
        c.add(
            f"{key}.previous_version",
            f"equals current_version {current!r}; it must differ (or be null)",
            key,
        )
        ok = False
    variants = entry.get("variants") or {}
    if not isinstance(variants, dict):
        c.add(f"{key}.variants", "must be a mapping of variant name -> file name", key)
        ok, variants = False, {}
    for vname, vfile in variants.items():
        if not names.is_model_name(vname):
            c.add(f"{key}.variants.{vname}", "variant names must match [a-z0-9_]+", key)
            ok = False
        elif not names.is_plain_file_name(vfile):
            c.add(
                f"{key}.variants.{vname}",
                f"{vfile!r} is not a plain file name (no '/', spaces or '..')",
                key,
            )
            ok = False
    probe = _probe(c, f"{key}.probe", entry.get("probe"))
    timeout = entry.get("probe_timeout", PROBE_TIMEOUT)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= 3600:
        c.add(
            f"{key}.probe_timeout",
            f"{timeout!r} must be a whole number of seconds (1 to 3600)",
            key,
        )
        ok = False
    if not ok or probe is None:
        return None
    assert isinstance(current, str)
    return ModelEntry(name, current, previous, MappingProxyType(dict(variants)), probe, timeout)


def _coral(c: _Checker, section: object) -> CoralPackages | None:
    if section is None:
        c.add("coral_packages", "missing section")
        return None
    if not isinstance(section, dict):
        c.add("coral_packages", "must be a mapping")
        return None
    ok = True
    for top in CORAL_TOP_FIELDS:
        if not isinstance(section.get(top), str) or not section.get(top):
            c.add(f"coral_packages.{top}", "missing (a quoted string)", "coral_packages")
            ok = False
    files: list[CoralFile] = []
    versions: dict[str, str] = {}
    for package, fields in CORAL_FIELDS.items():
        key = f"coral_packages.{package}"
        spec = section.get(package)
        if not isinstance(spec, dict):
            c.add(key, "missing (a mapping with " + ", ".join(fields) + ")", "coral_packages")
            ok = False
            continue
        for name in fields:
            value = spec.get(name)
            if name == "sha256" and value is None and name in spec:
                continue  # unset: refuses Coral hosts only (see CoralPackages.unset)
            if not isinstance(value, str) or not value:
                c.add(f"{key}.{name}", "missing (a quoted string)", key)
                ok = False
            elif name in ("deb_package", "wheel") and not names.is_plain_file_name(value):
                c.add(f"{key}.{name}", f"{value!r} is not a plain file name", key)
                ok = False
            elif name == "download_url" and not value.startswith(("https://", "http://")):
                c.add(f"{key}.{name}", f"{value!r} is not an http(s) URL", key)
                ok = False
            elif name == "sha256" and not names.is_sha256(value):
                c.add(
                    f"{key}.{name}",
                    f"{value!r} is not a sha256 digest (64 lowercase hex characters; "
                    "null while unset)",
                    key,
                )
                ok = False
            elif name == "version" and not all(ch.isalnum() or ch in ".+~-:" for ch in value):
                c.add(f"{key}.{name}", f"{value!r} is not a package version", key)
                ok = False
        dev = spec.get("dev_package")
        if dev is not None and not names.is_plain_file_name(dev):
            c.add(f"{key}.dev_package", f"{dev!r} is not a plain file name", key)
            ok = False
        if dev is not None and "dev_sha256" not in spec:
            c.add(f"{key}.dev_sha256", "missing (required with dev_package; null while unset)", key)
            ok = False
        elif (
            dev is not None
            and spec["dev_sha256"] is not None
            and not names.is_sha256(spec["dev_sha256"])
        ):
            c.add(f"{key}.dev_sha256", f"{spec['dev_sha256']!r} is not a sha256 digest", key)
            ok = False
        if not ok:
            continue
        versions[package] = str(spec["version"])
        url = spec["download_url"]
        if package == "libedgetpu":
            files.append(
                CoralFile(package, "deb", spec["deb_package"], spec["sha256"], url, f"{key}.sha256")
            )
            if dev is not None:
                # The dev package is released beside the runtime: same directory, its own name.
                files.append(
                    CoralFile(
                        package,
                        "dev",
                        dev,
                        spec["dev_sha256"],
                        url.rsplit("/", 1)[0] + "/" + dev,
                        f"{key}.dev_sha256",
                    )
                )
        else:
            files.append(
                CoralFile(package, "wheel", spec["wheel"], spec["sha256"], url, f"{key}.sha256")
            )
    if not ok:
        return None
    return CoralPackages(
        section["tf_version"], section["python_version"], MappingProxyType(versions), tuple(files)
    )


def parse_registry(file: str, text: str) -> tuple[Registry | None, list[Problem]]:
    """The registry in ``text`` (the contents of ``file``), or None, and every problem found."""
    doc, problems = load(file, text)
    if doc is None:
        return None, problems
    if not isinstance(doc.data, dict):
        shape = "must be a mapping with sentinelcam_models and coral_packages"
        return None, [*problems, Problem(file, "", shape, line=1)]
    c = _Checker(doc, file)
    models: dict[str, ModelEntry] = {}
    section = doc.data.get("sentinelcam_models")
    if not isinstance(section, dict) or not section:
        c.add("sentinelcam_models", "missing or empty: a mapping of model name -> versions")
        section = {}
    for name, entry in section.items():
        model = _model(c, name, entry)
        if model is not None:
            models[model.name] = model
    coral = _coral(c, doc.data.get("coral_packages"))
    for extra in sorted(set(doc.data) - {"sentinelcam_models", "coral_packages"}, key=str):
        c.add(str(extra), "unknown top-level key (expected sentinelcam_models, coral_packages)")
    defined = frozenset(str(name) for name in section)
    registry = Registry(file, MappingProxyType(models), coral, defined, doc)
    return registry, problems + c.problems
