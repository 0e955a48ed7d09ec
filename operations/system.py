"""
Root-owned files, each written by one exact command a sudoers rule can name (``tee PATH``), and
the sudoers file itself (checked with ``visudo`` before it replaces the old one).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from facts.keys import FileText
from facts.shell import exact


@operation()
def file(path: str, content: str):
    """
    Write a root-owned file through ``tee PATH`` unless it already holds ``content``.

    + path: e.g. ``/etc/udev/rules.d/99-coral-edgetpu.rules``
    + content: the complete text

    **Example:**

    .. code:: python

        system.file(path="/etc/systemd/system/x.timer", content=text, _sudo=True)
    """
    if host.get_fact(FileText, path=path, _sudo=False) == content:  # world-readable: no root needed
        host.noop(f"{path} is up to date")
        return
    yield exact("tee", path, ">", "/dev/null", _stdin=content)


@operation()
def sudoers(path: str, content: str):
    """
    Install a sudoers drop-in (mode 0440) after ``visudo -c`` accepts it; a refused file changes nothing.

    + path: e.g. ``/etc/sudoers.d/sentinelcam-models``
    + content: the complete text
    """
    if host.get_fact(FileText, path=path) == content:
        host.noop(f"{path} is up to date")
        return
    staged = f"{path.rsplit('/', 1)[0]}/.{path.rsplit('/', 1)[1]}.new"
    yield StringCommand(
        "printf",
        "'%s'",
        QuoteString(content),
        ">",
        QuoteString(staged),
        "&&",
        "chmod",
        "0440",
        QuoteString(staged),
        "&&",
        "visudo",
        "-cqf",
        QuoteString(staged),
        "&&",
        "mv",
        "-f",
        QuoteString(staged),
        QuoteString(path),
        "||",
        "{",
        "rm",
        "-f",
        QuoteString(staged),
        ";",
        "echo",
        "'sentinelcam: visudo refused the rules'",
        ">&2;",
        "exit",
        "1;",
        "}",
    )
