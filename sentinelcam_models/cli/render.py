"""Output: rich tables for people, plain lines for logs. Text from files, git or nodes is printed as
text (never as rich markup) with control characters made visible."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..core.problems import one_line

# The terminal's own width, also when piped (rich asks stdin and stderr too), or $COLUMNS; else 80.
out = Console(highlight=False, soft_wrap=True)


def text(value: object, style: str = "") -> Text:
    return Text(one_line(str(value)), style=style)


def say(message: str) -> None:
    out.print(text(message))


def table(*columns: str, title: str | None = None) -> Table:
    return Table(*columns, title=one_line(title) if title else None)


def row(table_: Table, *cells: object) -> None:
    table_.add_row(
        *[cell if isinstance(cell, Text) else text("-" if cell is None else cell) for cell in cells]
    )


def narrow_table(*columns: str, title: str | None = None, wraps: tuple[int, ...] = ()) -> Table:
    """A table for 80 columns: light rules, and only the columns ``wraps`` (names, messages)
    wrapped, between words; the others (dates, versions, commits) are never cut or wrapped."""
    shown = Table(
        title=one_line(title) if title else None,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    for index, name in enumerate(columns):
        shown.add_column(name, no_wrap=index not in wraps, overflow="fold")
    return shown


def short_time(iso: str) -> str:
    """``2026-11-27T03:32:55+00:00`` -> ``2026-11-27 03:32`` (the JSON keeps the full time)."""
    return iso[:16].replace("T", " ") if len(iso) >= 16 and iso[10:11] == "T" else iso
