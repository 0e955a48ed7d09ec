"""An rsync upload that reports its progress: rsync runs as an argument list (no local shell)
with ``--info=progress2``, and each progress line it writes (bytes so far, ``\\r``-separated)
advances the caller's counter, so a publish of a large version shows bytes and rate while it
runs instead of nothing until the end."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable
from typing import Any

from ..core.problems import BadInput, one_line

# "     12,345,678  45%   11.76MB/s    0:00:05 (xfr#3, to-chk=2/6)"
PROGRESS_LINE = re.compile(rb"^\s*([\d,.]+)\s+\d+%")
PROGRESS_FLAGS = ("--info=progress2", "--no-inc-recursive", "--outbuf=N")  # unbuffered: live


def progress_argv(argv: list[str]) -> list[str]:
    """``argv`` (``rsync FLAGS... SRC DEST``) with the progress flags before the two paths."""
    return [*argv[:-2], *PROGRESS_FLAGS, *argv[-2:]]


def parse_progress(buffer: bytes) -> tuple[list[int], bytes]:
    """The byte counts in the complete progress lines of ``buffer`` and the incomplete rest."""
    *lines, rest = re.split(rb"[\r\n]", buffer)
    counts = []
    for line in lines:
        found = PROGRESS_LINE.match(line)
        if found:
            digits = found.group(1).replace(b",", b"").replace(b".", b"")
            if digits.isdigit():
                counts.append(int(digits))
    return counts, rest


def run(argv: list[str], advance: Callable[[int], None]) -> tuple[int, str]:
    """Run rsync with progress; call ``advance(new bytes)`` as it goes. (exit code, stderr)."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            progress_argv(argv), stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL
        )
        assert proc.stdout is not None
        seen = 0
        pending = b""
        while chunk := proc.stdout.read1(65536) if hasattr(proc.stdout, "read1") else b"":
            counts, pending = parse_progress(pending + chunk)
            for count in counts:
                if count > seen:
                    advance(count - seen)
                    seen = count
        proc.stdout.close()
        code = proc.wait()
        errors.seek(0)
        return code, errors.read().decode("utf-8", "replace")


UPLOAD_FLAGS = ("-rt", "--no-links", "--protect-args", "--chmod=D0755,Fu+rw,Fa-x,Fgo-w,Fa-s")


def _word(value: object, what: str) -> str:
    """A value for rsync's ``-e`` command, which rsync splits on spaces itself."""
    text = str(value)
    if not text or any(c.isspace() or c in "'\"\\" or not c.isprintable() for c in text):
        raise BadInput(f"{what} {one_line(text)!r} cannot be passed to ssh (spaces or quotes)")
    return text


def upload_argv(src: str, dest: str, data: Any, host_name: str, sudo_user: str | None) -> list[str]:
    """``rsync ... SRC/ [user@]host:DEST/`` with ssh's options from the host's data, as pyinfra's
    own rsync builds them (host key checking stays on, ``BatchMode=yes``)."""
    ssh = ["ssh", "-o", "BatchMode=yes"]
    if data.get("ssh_known_hosts_file"):
        ssh += [
            "-o",
            f"UserKnownHostsFile={_word(data.get('ssh_known_hosts_file'), 'known_hosts')}",
        ]
    if data.get("ssh_strict_host_key_checking"):
        value = _word(data.get("ssh_strict_host_key_checking"), "ssh_strict_host_key_checking")
        ssh += ["-o", f"StrictHostKeyChecking={value}"]
    if data.get("ssh_config_file"):
        ssh += ["-F", _word(data.get("ssh_config_file"), "ssh_config_file")]
    if data.get("ssh_port"):
        ssh += ["-p", _word(data.get("ssh_port"), "ssh_port")]
    if data.get("ssh_key"):
        ssh += ["-i", _word(data.get("ssh_key"), "ssh_key")]
    user = data.get("ssh_user")
    target = _word(data.get("ssh_hostname") or host_name, "ssh_hostname")
    remote = "rsync" if not sudo_user else f"sudo -u {_word(sudo_user, 'sentinelcam_user')} rsync"
    return [
        "rsync",
        *UPLOAD_FLAGS,
        "-e",
        " ".join(ssh),
        "--rsync-path",
        remote,
        f"{src}/",
        f"{_word(user, 'ssh_user') + '@' if user else ''}{target}:{dest}",
    ]
