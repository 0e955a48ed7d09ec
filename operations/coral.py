"""
The Coral EdgeTPU runtime: staged and verified package files, the libedgetpu deb (through the root
helper that installs a root-owned, re-verified copy), the wheels in the service's virtualenv (with
an import check), and the udev rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation

from facts.shell import exact, script, words
from operations.datasink import SSH_OPTIONS, caller_connector_args, in_window

DEB_HELPER = "/usr/local/sbin/sentinelcam-coral-deb"


def _sums(files: Mapping[str, str]) -> str:
    return "".join(f"{digest}  {name}\n" for name, digest in files.items())


@operation()
def stage(
    directory: str,
    files: Mapping[str, str],
    source: str,
    port: int = 22,
    tries: int = 6,
    window: tuple[str, int] | None = None,
):
    """
    Pull the Coral package files from the store into a staging directory and check each against the
    registry's sha256; fail (nothing installed) on any difference.

    + directory: the node's staging directory (only the named files are touched)
    + files: ``{file name: sha256}`` from the registry
    + source: ``user@address`` of the datasink holding the store
    + port: its SSH port
    + tries: attempts when the datasink drops the connection
    + window: ``(datasink, limit)``: at most ``limit`` hosts pull from it at once
    """
    command = script(
        "coral_stage.sh",
        {
            "what": "Coral packages",
            "dir": directory,
            "src": source,
            "port": str(port),
            "ssh": SSH_OPTIONS,
            "tries": str(tries),
            "files": words(files),
            "sums": _sums(files),
        },
    )
    if window is None:
        yield command
    else:
        yield FunctionCommand(
            in_window, (command, window[0], window[1], caller_connector_args()), {}
        )


@operation()
def deb(staged: str, sha256: str, version: str, package: str):
    """
    Install the libedgetpu deb through the root helper (a root-owned copy, re-verified, then dpkg -i).

    + staged: the staged .deb on the node
    + sha256: the registry's digest (checked on the root-owned copy)
    + version: the registry's version (dpkg's ``${Version}`` after install)
    + package: the dpkg package name, e.g. ``libedgetpu1-std``

    **Example:**

    .. code:: python

        coral.deb(staged="/home/ops/sentinelcam/coral_packages/libedgetpu1-std_16.0tf2.17.1-1.bookworm_arm64.deb",
                  sha256="…", version="16.0tf2.17.1-1", package="libedgetpu1-std", _sudo=True)
    """
    yield exact(DEB_HELPER, staged, sha256, version, package)


@operation()
def wheels(
    venv: str,
    directory: str,
    packages: Sequence[tuple[str, str, str, str]],
    imports: Sequence[str] = ("tflite_runtime", "pycoral"),
):
    """
    ``pip install`` Coral wheels into a virtualenv (created if absent) from the staging directory only,
    then check versions and imports.

    + venv: the service's virtualenv
    + directory: the node's staging directory
    + packages: ``(name, version, wheel file, sha256)`` in install order
    + imports: modules that must import afterwards
    """
    if not packages:
        host.noop(f"Coral wheels in {venv} match the registry")
        return
    yield script(
        "coral_wheels.sh",
        {
            "what": ", ".join(f"{n} {v}" for n, v, _, _ in packages) + f" in {venv}",
            "venv": venv,
            "dir": directory,
            "wheels": words(w for _, _, w, _ in packages),
            "sums": _sums({w: s for _, _, w, s in packages}),
            "expect": words(f"{n}={v}" for n, v, _, _ in packages),
            "imports": words(imports),
        },
    )


@operation(is_idempotent=False)
def reload_udev():
    """
    Reload udev rules and re-trigger USB devices; where udev is not running (a container, early boot)
    say so and succeed: the rule applies when udev starts. Run as the login account: the two udevadm
    calls use ``sudo -n`` with exact commands.
    """
    yield StringCommand(
        "if [ -S /run/udev/control ]; then sudo -n udevadm control --reload-rules"
        " && sudo -n udevadm trigger --action=add --subsystem-match=usb;"
        " else echo 'sentinelcam: udev is not running here; the rule applies when it starts'; fi"
    )
