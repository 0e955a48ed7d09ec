"""Output: rich tables for people, plain lines for logs. Text from files, git or nodes is printed as
text (never as rich markup) with control characters made visible."""

from __future__ import annotations

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
