"""The Coral EdgeTPU runtime: which files the registry names, fetching them into the store, and
which hosts need them.

The store keeps the files flat in ``{store}/coral_packages/`` with a ``MANIFEST.sha256`` in
``sha256sum`` format. Every file is checked against the sha256 the registry records before it is
stored; a fetch stores all of its files or none of them.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from . import store as store_mod
from .problems import OperatorError

PACKAGES = ("libedgetpu", "tflite_runtime", "pycoral")
PIP_PACKAGES = ("tflite_runtime", "pycoral")   # installed in this order: pycoral needs tflite_runtime
ROLE_SETTINGS = (  # (group, service, accelerator key, virtualenv key)
    ("sentinels", "sentinel", "sentinel_accelerator_type", "sentinel_venv_path"),
    ("outposts", "imagenode", "imagenode_accelerator_type", "imagenode_venv_path"),
)
USER_AGENT = "sentinelcam-models coral fetch"


@dataclass(frozen=True)
class CoralFile:
    package: str     # libedgetpu | tflite_runtime | pycoral
    kind: str        # deb | dev | wheel
    name: str        # file name in the store
    sha256: str
    url: str


def coral_files(coral: Mapping, with_dev: bool = True) -> list[CoralFile]:
    """Every file the registry's ``coral_packages`` names (validated input), deb first."""
    files = []
    deb = coral["libedgetpu"]
    files.append(CoralFile("libedgetpu", "deb", deb["deb_package"], deb["sha256"], deb["download_url"]))
    if with_dev and deb.get("dev_package"):
        # The dev package is released beside the runtime: same directory, its own name.
        url = deb["download_url"].rsplit("/", 1)[0] + "/" + deb["dev_package"]
        files.append(CoralFile("libedgetpu", "dev", deb["dev_package"], deb["dev_sha256"], url))
    for package in PIP_PACKAGES:
        spec = coral[package]
        files.append(CoralFile(package, "wheel", spec["wheel"], spec["sha256"], spec["download_url"]))
    return files


def deb_package_name(deb_file: str) -> str:
    """``libedgetpu1-std_16.0…_arm64.deb`` -> ``libedgetpu1-std`` (Debian's file naming)."""
    return deb_file.split("_", 1)[0]


def desired_versions(coral: Mapping) -> dict[str, str]:
    return {package: str(coral[package]["version"]) for package in PACKAGES}


UDEV_RULE_PATH = "/etc/udev/rules.d/99-coral-edgetpu.rules"


def udev_rule(group: str) -> str:
    """The Coral USB accelerator's udev rule: the service's group may open the device.

    The accelerator enumerates as 1a6e:089a (Global Unichip) until the runtime loads its firmware,
    then as 18d1:9302 (Google).
    """
    return (
        "# Coral EdgeTPU USB accelerator (managed by sentinelcam-models: deploys/coral.py)\n"
        f'SUBSYSTEMS=="usb", ATTRS{{idVendor}}=="1a6e", ATTRS{{idProduct}}=="089a", MODE="0660", GROUP="{group}"\n'
        f'SUBSYSTEMS=="usb", ATTRS{{idVendor}}=="18d1", ATTRS{{idProduct}}=="9302", MODE="0660", GROUP="{group}"\n'
    )


# --- which hosts run the runtime ---------------------------------------------------------------

@dataclass(frozen=True)
class CoralRole:
    service: str     # sentinel | imagenode
    venv: str


def coral_roles(groups, data: Mapping) -> list[CoralRole]:
    """The services on a host that use the Coral runtime, each with its virtualenv."""
    return [
        CoralRole(service, data[venv_key])
        for group, service, accel_key, venv_key in ROLE_SETTINGS
        if group in groups and data.get(accel_key, "none") == "coral"
    ]


def venvs_of(roles: list[CoralRole]) -> list[str]:
    return list(dict.fromkeys(role.venv for role in roles))


def fact_arguments(coral: Mapping, roles: list[CoralRole]) -> dict:
    """The CoralRuntime fact arguments for a host."""
    return {
        "package": deb_package_name(coral["libedgetpu"]["deb_package"]),
        "venvs": venvs_of(roles),
        "pip_packages": list(PIP_PACKAGES),
    }


def installed_versions(fact: Mapping | None, venv: str) -> dict[str, str | None]:
    """{package: installed version or None} for one virtualenv, from a CoralRuntime fact."""
    fact = fact or {}
    env = (fact.get("venvs") or {}).get(venv) or {}
    found = {"libedgetpu": fact.get("libedgetpu")}
    found.update({package: env.get(package) for package in PIP_PACKAGES})
    return found


def assess(coral: Mapping, roles: list[CoralRole], fact: Mapping | None, reachable: bool = True) -> dict | None:
    """The drift report's coral entry for a host: desired vs installed, and a status.

    ``ok`` every version equal; ``drift`` some installed at another version; ``missing`` some not
    installed; ``unreachable``. None for hosts without coral.
    """
    if not roles:
        return None
    desired = desired_versions(coral)
    entry = {"desired": desired, "installed": {}, "status": "ok", "detail": ""}
    if not reachable or fact is None:
        entry["status"] = "unreachable"
        return entry
    problems, missing = [], False
    for venv in venvs_of(roles):
        found = installed_versions(fact, venv)
        entry["installed"][venv] = found
        for package, want in desired.items():
            have = found.get(package)
            if have is None:
                missing = True
                problems.append(f"{package} not installed")
            elif have != want:
                problems.append(f"{package} {have}, want {want}")
    if problems:
        entry["status"] = "missing" if missing else "drift"
        entry["detail"] = ", ".join(dict.fromkeys(problems))
    return entry


# --- coral fetch ------------------------------------------------------------------------------

def _source_for(item: CoralFile, source: str | None) -> str:
    if source is None:
        return item.url
    if source.startswith(("http://", "https://")):
        return source.rstrip("/") + "/" + item.name
    return str(Path(source) / item.name)


def _copy_into(src: str, dest: Path) -> str:
    """Copy a URL or a local file to dest (a new file); return its sha256."""
    import hashlib

    digest = hashlib.sha256()
    if src.startswith(("http://", "https://")):
        request = urllib.request.Request(src, headers={"User-Agent": USER_AGENT})
        try:
            response = urllib.request.urlopen(request, timeout=60)
        except urllib.error.HTTPError as exc:
            raise OperatorError(f"GET {src}: HTTP {exc.code} {exc.reason}; nothing stored") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OperatorError(f"GET {src}: {reason}; nothing stored") from None
        with response:
            if response.status != 200:
                raise OperatorError(f"GET {src}: HTTP {response.status}; nothing stored")
            if (response.headers.get_content_type() or "").startswith("text/html"):
                raise OperatorError(f"GET {src}: the server sent an HTML page, not the package; nothing stored")
            with open(dest, "xb") as handle:
                while chunk := response.read(store_mod.CHUNK):
                    digest.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
    else:
        path = Path(src)
        if not path.is_file():
            raise OperatorError(f"{src}: no such file; nothing stored", exit_code=2)
        with open(path, "rb") as reader, open(dest, "xb") as handle:
            while chunk := reader.read(store_mod.CHUNK):
                digest.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
    return digest.hexdigest()


@dataclass
class FetchResult:
    stored: list[str]
    present: list[str]
    directory: Path


def fetch(store: Path, coral: Mapping, source: str | None = None, with_dev: bool = True) -> FetchResult:
    """Bring every registry file into ``{store}/coral_packages/``, verified; all or nothing.

    ``source``: None (each file's download URL), a mirror base URL, or a local directory. A file
    already stored with the registry's digest is not fetched again; one whose digest differs (a
    damaged or altered copy) is replaced.
    """
    if source is not None and not source.startswith(("http://", "https://")) and not Path(source).is_dir():
        raise OperatorError(f"--from {source}: not a directory nor an http(s) URL", exit_code=2)
    files = coral_files(coral, with_dev)
    directory = store / store_mod.CORAL_DIR
    with store_mod.store_lock(store):
        directory.mkdir(parents=True, exist_ok=True)
        manifest_path = directory / store_mod.MANIFEST
        manifest = store_mod.parse_manifest(manifest_path.read_text()) if manifest_path.is_file() else {}
        present = [f for f in files if (directory / f.name).is_file() and store_mod.sha256_file(directory / f.name) == f.sha256]
        wanted = [f for f in files if f not in present]
        temps: dict[str, Path] = {}
        try:
            for item in wanted:
                temp = directory / f".{item.name}.fetch-{os.getpid()}"
                temp.unlink(missing_ok=True)
                temps[item.name] = temp
                src = _source_for(item, source)
                got = _copy_into(src, temp)
                if got != item.sha256:
                    raise OperatorError(
                        f"{item.name}: sha256 {got} from {src} does not match the registry's {item.sha256}; nothing stored")
            # Every file verified: place them, then the manifest that names them.
            for item in wanted:
                temp = temps.pop(item.name)
                os.chmod(temp, 0o644)
                os.utime(temp, (store_mod.content_mtime(item.sha256),) * 2)
                os.rename(temp, directory / item.name)
            entries = {rel: digest for rel, digest in manifest.items() if (directory / rel).is_file()}
            entries.update({f.name: f.sha256 for f in files})
            if entries != manifest or not manifest_path.is_file():
                temp = directory / f".{store_mod.MANIFEST}.fetch-{os.getpid()}"
                temp.write_text(store_mod.manifest_text(entries))
                os.chmod(temp, 0o644)
                os.rename(temp, manifest_path)
            _fsync_dir(directory)
        finally:
            for temp in temps.values():
                temp.unlink(missing_ok=True)
    return FetchResult([f.name for f in wanted], [f.name for f in present], directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def verify_stored(store: Path, coral: Mapping, with_dev: bool = True) -> list[str]:
    """Problems with the store's copies of the registry's files (empty: all present and intact)."""
    directory = store / store_mod.CORAL_DIR
    problems = []
    for item in coral_files(coral, with_dev):
        path = directory / item.name
        if not path.is_file():
            problems.append(f"{item.name}: not in {directory}")
        elif store_mod.sha256_file(path) != item.sha256:
            problems.append(f"{item.name}: sha256 differs from the registry's")
    return problems

