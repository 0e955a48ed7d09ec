"""``MANIFEST.sha256``: every file of a version with its sha256, in ``sha256sum`` format.

Relative paths of plain names, sorted, two spaces between digest and path, one file per line, so a
node checks a copy with ``sha256sum -c`` and no Python. Parsing is strict: a line naming ``/etc``,
``..``, ``-`` or anything but plain names is refused, never passed to ``sha256sum``. Standard
library only (it runs on the datasink inside the store agent).
"""

from __future__ import annotations

import re

from . import names

MANIFEST = "MANIFEST.sha256"
_LINE = re.compile(r"([0-9a-f]{64})  (.+)")
# Store files get an mtime derived from their content: a file unchanged between two versions has
# the same size, mode and mtime in both, so a node's rsync hard-links or skips it (rsync's quick
# check compares size and mtime only).
CONTENT_EPOCH = 946_684_800  # 2000-01-01


def content_mtime(digest: str) -> int:
    return CONTENT_EPOCH + int(digest[:8], 16) % (20 * 365 * 86400)


def format_manifest(entries: dict[str, str]) -> str:
    return "".join(f"{digest}  {rel}\n" for rel, digest in sorted(entries.items()))


def parse_manifest(text: str) -> tuple[dict[str, str], list[str]]:
    """The entries (relative path -> digest) and a problem line for each bad line."""
    entries: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            problems.append(f"{MANIFEST} line {number}: not '<sha256>  <file>'")
            continue
        digest, rel = match.groups()
        if not names.is_relative_file(rel) or rel == MANIFEST:
            problems.append(f"{MANIFEST} line {number}: {rel!r} is not a plain relative file name")
        elif rel in entries:
            problems.append(f"{MANIFEST} line {number}: {rel} is listed twice")
        else:
            entries[rel] = digest
    return entries, problems
