"""The control fields of a Debian binary package, read with the standard library alone.

Why this exists: ``coral fetch`` must check that the libedgetpu ``.deb`` it is about to store is
the package and version the registry names (nodes compare the registry's version with what dpkg
reports once installed, so a wrong registry version means a deploy that never converges). The
operator's machine may have no ``dpkg-deb`` (macOS) and python-debian is not a dependency, so the
few steps are done here.

A ``.deb`` is an ``ar`` archive: the magic ``!<arch>\\n``, then members, each a 60-byte header
(name, mtime, uid, gid, mode, decimal size, the terminator ``\\x60\\n``) followed by the data padded
to an even length. The members are ``debian-binary`` (``2.0\\n``), ``control.tar[.gz|.xz|.zst]``
and ``data.tar.*``. The control tar holds ``./control``: one RFC822-style paragraph of fields.

The file is untrusted (it was just downloaded): only the headers up to the control member are
read, the data member is never touched, and every size is capped (the compressed control member,
what it decompresses to, and the control file) so a hostile package cannot exhaust memory. Every
failure is a one-line ``DebError`` naming the file.
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import stat
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO

from ..core.problems import one_line

AR_MAGIC = b"!<arch>\n"
AR_HEADER = 60
AR_TERMINATOR = b"`\n"
# Real control members are a few KB (md5sums of a large package: a few MB); these caps only
# stop hostile input, they never bind on a genuine package.
MAX_CONTROL_MEMBER = 10 * 2**20  # the compressed control.tar.* member as stored in the archive
MAX_CONTROL_TAR = 64 * 2**20  # what it decompresses to
MAX_CONTROL_FILE = 2**20  # ./control itself
# dpkg allows members whose names start with "_" between debian-binary and control.tar; a
# genuine package has control.tar.* second, so a few members of slack is plenty.
MAX_MEMBERS = 8
_CONTROL_NAMES = ("./control", "control")


class DebError(ValueError):
    """The file is not a readable Debian binary package; the message is one line naming it."""


def deb_fields(path: Path) -> dict[str, str]:
    """The fields of ``path``'s ``./control`` (``Package``, ``Version``, ``Architecture``, ...).

    Field names are returned as written in the file (dpkg writes them capitalised); a value
    spanning several lines keeps its continuation lines after a ``\\n``. Raises ``DebError``.
    """
    where = one_line(str(path))
    try:
        # O_NONBLOCK: a fifo in the file's place must not hang the open; fstat refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise DebError(f"{where}: cannot open: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise DebError(f"{where}: not a regular file")
    with os.fdopen(fd, "rb") as handle:
        try:
            name, member = _control_member(handle, st.st_size, where)
        except OSError as exc:
            raise DebError(f"{where}: cannot read: {exc.strerror or exc}") from None
    return _parse_control(_control_text(_decompress(name, member, where), name, where), where)


def _control_member(handle: BinaryIO, size: int, where: str) -> tuple[str, bytes]:
    """The name and bytes of the control member, reading only the headers before it."""
    if handle.read(len(AR_MAGIC)) != AR_MAGIC:
        raise DebError(f"{where}: not a Debian package (no ar archive header)")
    offset = len(AR_MAGIC)
    for index in range(MAX_MEMBERS):
        header = handle.read(AR_HEADER)
        if not header:
            break
        if len(header) < AR_HEADER or header[58:60] != AR_TERMINATOR:
            raise DebError(
                f"{where}: not a Debian package (a damaged ar member header at byte {offset})"
            )
        # GNU ar ends names with "/"; the name field is space-padded ASCII.
        name = one_line(header[:16].decode("ascii", "replace").rstrip(" ").removesuffix("/"))
        size_field = header[48:58].decode("ascii", "replace").strip(" ")
        if not size_field.isdigit() or not size_field.isascii():
            raise DebError(f"{where}: not a Debian package (member {name!r} has no valid size)")
        length = int(size_field)
        offset += AR_HEADER
        if offset + length > size:
            raise DebError(f"{where}: truncated (member {name!r} runs past the end of the file)")
        if index == 0:
            if name != "debian-binary":
                raise DebError(
                    f"{where}: not a Debian package (its first member is {name!r}, "
                    "not debian-binary)"
                )
            version = handle.read(min(length, 16))
            if not version.startswith(b"2."):
                raise DebError(
                    f"{where}: not a Debian package (format "
                    f"{one_line(version.decode('ascii', 'replace').strip())!r}, "
                    "expected 2.x)"
                )
        elif name.startswith("control.tar"):
            if length > MAX_CONTROL_MEMBER:
                raise DebError(
                    f"{where}: its {name} member is {length} bytes, more than "
                    f"{MAX_CONTROL_MEMBER // 2**20} MB; refusing"
                )
            data = handle.read(length)
            if len(data) != length:
                raise DebError(f"{where}: truncated (member {name!r})")
            return name, data
        elif name.startswith("data.tar"):
            break  # dpkg requires control before data: there is none
        offset += length + (length & 1)
        handle.seek(offset)
    raise DebError(f"{where}: no control member (control.tar.*) in this Debian package")


def _decompress(name: str, member: bytes, where: str) -> bytes:
    """The control tar, uncompressed; at most ``MAX_CONTROL_TAR`` bytes are ever produced."""
    compression = name.removeprefix("control.tar")
    if compression == "":
        return member
    if compression == ".zst":
        raise DebError(
            f"{where}: its control member is compressed with zstd ({name}), which the "
            "Python standard library cannot read; repack the package with gzip or xz "
            "(dpkg-deb -Zxz)"
        )
    if compression not in (".gz", ".xz"):
        raise DebError(
            f"{where}: its control member {name!r} uses a compression dpkg does not "
            "define (expected control.tar, .gz, .xz or .zst)"
        )
    try:
        # read(n) decompresses incrementally: memory stays bounded by the cap.
        if compression == ".gz":
            with gzip.GzipFile(fileobj=io.BytesIO(member), mode="rb") as gz:
                data = gz.read(MAX_CONTROL_TAR + 1)
        else:
            with lzma.LZMAFile(io.BytesIO(member), mode="rb") as xz:
                data = xz.read(MAX_CONTROL_TAR + 1)
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise DebError(one_line(f"{where}: its {name} member is damaged ({exc})")) from None
    if len(data) > MAX_CONTROL_TAR:
        raise DebError(
            f"{where}: its {name} member decompresses to more than "
            f"{MAX_CONTROL_TAR // 2**20} MB; refusing"
        )
    return data


def _control_text(tar_bytes: bytes, name: str, where: str) -> str:
    """``./control`` from the control tar, decoded as UTF-8."""
    try:
        with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
            for member in tar:
                if member.name not in _CONTROL_NAMES:
                    continue
                if not member.isreg():
                    raise DebError(f"{where}: ./control in {name} is not a regular file")
                if member.size > MAX_CONTROL_FILE:
                    raise DebError(
                        f"{where}: ./control in {name} is {member.size} bytes, more "
                        f"than {MAX_CONTROL_FILE // 2**20} MB; refusing"
                    )
                extracted = tar.extractfile(member)
                if extracted is None:  # not reached: isreg() above
                    break
                raw = extracted.read(MAX_CONTROL_FILE + 1)
                break
            else:
                raise DebError(f"{where}: no ./control file in its {name} member")
    except (tarfile.TarError, EOFError) as exc:
        raise DebError(
            one_line(f"{where}: its {name} member is not a valid tar archive ({exc})")
        ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DebError(f"{where}: its ./control is not UTF-8 text") from None


def _parse_control(text: str, where: str) -> dict[str, str]:
    """The first paragraph of an RFC822-style control file (Debian Policy 5.1)."""
    fields: dict[str, str] = {}
    last: str | None = None
    for number, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip():
            if fields:
                break  # the end of the (only) paragraph
            continue
        if line.startswith("#"):
            continue
        if line[0] in " \t":
            if last is None:
                raise DebError(f"{where}: ./control line {number} continues no field")
            fields[last] += "\n" + line.rstrip()
            continue
        key, colon, value = line.partition(":")
        if not colon or not key or any(ch.isspace() for ch in key):
            raise DebError(f"{where}: ./control line {number} is not a 'Field: value' line")
        if key.lower() in (name.lower() for name in fields):
            raise DebError(one_line(f"{where}: ./control names the field {key} twice"))
        fields[key] = value.strip()
        last = key
    if not fields:
        raise DebError(f"{where}: its ./control has no fields")
    return fields
