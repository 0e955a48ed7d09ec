"""DepthAI NN archives: an xz-compressed tar holding config.json and a .blob model."""

from __future__ import annotations

import json
import tarfile
from typing import BinaryIO

from .fault import Fault

_XZ_MAGIC, _XZ_FOOTER = b"\xfd7zXZ\x00", b"YZ"
NN_ARCHIVE_MEMBERS = 64


def check_nn_archive(handle: BinaryIO, size: int) -> None:
    if handle.read(6) != _XZ_MAGIC:
        raise Fault("not xz-compressed")
    handle.seek(size - 2)
    if handle.read(2) != _XZ_FOOTER:
        raise Fault("no xz stream footer (truncated)")
    handle.seek(0)
    config = blob = False
    with tarfile.open(fileobj=handle, mode="r|xz") as archive:
        for index, member in enumerate(archive):
            if index >= NN_ARCHIVE_MEMBERS:
                raise Fault(f"more than {NN_ARCHIVE_MEMBERS} members")
            name = member.name
            if name.startswith("/") or ".." in name.split("/"):
                raise Fault(f"a member named {name!r}")
            if not (member.isfile() or member.isdir()):
                raise Fault(f"{name!r} is not a regular file")
            base = name.rsplit("/", 1)[-1]
            if base == "config.json" and member.isfile():
                if member.size > 1 << 20:
                    raise Fault("config.json over 1 MB")
                extracted = archive.extractfile(member)
                try:
                    document = json.loads(extracted.read() if extracted else b"")
                except ValueError:
                    raise Fault("config.json is not JSON") from None
                if not isinstance(document, dict):
                    raise Fault("config.json is not a JSON object")
                config = True
            elif base.endswith((".blob", ".superblob")) and member.isfile() and member.size:
                blob = True
            if config and blob:  # not decompressed to the end: the footer check saw the end
                break
    if not config:
        raise Fault("no config.json")
    if not blob:
        raise Fault("no .blob or .superblob model")
