"""Tiny real Coral packages for tests: a .deb dpkg installs and wheels pip installs, no network.

The real packages are arm64/aarch64 builds; these are ``Architecture: all`` and ``py3-none-any``
so any node installs them, and the test registry names these files.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

DEB_PACKAGE = "libedgetpu1-std"


@dataclass(frozen=True)
class Built:
    path: Path
    version: str

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def build_deb(out_dir: Path, version: str, package: str = DEB_PACKAGE) -> Built:
    """A real Debian package (dpkg-deb --build) holding one file that names its version."""
    root = out_dir / f"deb-{package}-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: all\nMaintainer: sentinelcam tests <ops@localhost>\n"
        f"Section: libs\nPriority: optional\nDescription: test stand-in for the Edge TPU runtime\n"
    )
    lib = root / "usr" / "lib" / "sentinelcam-test-edgetpu"
    lib.mkdir(parents=True)
    (lib / "VERSION").write_text(version + "\n")
    target = out_dir / f"{package}_{version}_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(target)],
        check=True,
        capture_output=True,
    )
    return Built(target, version)


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(out_dir: Path, name: str, version: str) -> Built:
    """A minimal pure-Python wheel (zipped by hand): ``import name`` gives ``__version__``."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: sentinelcam-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",  # noqa: E501
    }
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files.items())
    record += f"{dist_info}/RECORD,,\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    target = out_dir / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return Built(target, version)


@dataclass(frozen=True)
class CoralSet:
    deb: Built
    tflite_runtime: Built
    pycoral: Built

    @property
    def files(self) -> list[Built]:
        return [self.deb, self.tflite_runtime, self.pycoral]


def build_set(
    out_dir: Path, deb_version: str, tflite_version: str, pycoral_version: str
) -> CoralSet:
    out_dir.mkdir(parents=True, exist_ok=True)
    return CoralSet(
        build_deb(out_dir, deb_version),
        build_wheel(out_dir, "tflite_runtime", tflite_version),
        build_wheel(out_dir, "pycoral", pycoral_version),
    )


def registry_section(packages: CoralSet, url_base: str = "http://127.0.0.1:9/coral") -> str:
    """A ``coral_packages:`` section naming these files (no dev package)."""

    def url(built):
        return f"{url_base}/{built.name}"

    return (
        "coral_packages:\n"
        '  tf_version: "2.17.1"\n'
        '  python_version: "3.11"\n'
        "  libedgetpu:\n"
        f'    version: "{packages.deb.version}"\n'
        f"    deb_package: {packages.deb.name}\n"
        f"    sha256: {packages.deb.sha256}\n"
        f"    download_url: {url(packages.deb)}\n"
        "  tflite_runtime:\n"
        f'    version: "{packages.tflite_runtime.version}"\n'
        f"    wheel: {packages.tflite_runtime.name}\n"
        f"    sha256: {packages.tflite_runtime.sha256}\n"
        f"    download_url: {url(packages.tflite_runtime)}\n"
        "  pycoral:\n"
        f'    version: "{packages.pycoral.version}"\n'
        f"    wheel: {packages.pycoral.name}\n"
        f"    sha256: {packages.pycoral.sha256}\n"
        f"    download_url: {url(packages.pycoral)}\n"
    )


def set_coral_section(
    registry: Path, packages: CoralSet, url_base: str = "http://127.0.0.1:9/coral"
) -> None:
    """Replace the registry's coral_packages section (it is the file's last section)."""
    text = registry.read_text()
    registry.write_text(
        text[: text.index("\ncoral_packages:") + 1] + registry_section(packages, url_base)
    )
