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


def print_history(console: Console, model: str, rows: list[dict]) -> None:
    """A model's version changes as git log prints commits, readable at 80 columns: per change a
    line with the date (to the minute), from -> to, the commit and the author, and the commit
    message on the line below, wrapped (the JSON keeps the full date)."""
    console.print(text(f"{model}: {len(rows)} version change(s), newest first"))
    for item in rows:
        line = text(short_time(item["date"]), "bold")
        line.append("  ")
        line.append(text(f"{item['from'] or '-'} -> {item['to'] or '-'}", "cyan"))
        line.append(text(f"  {item['commit']}  {item['author']}"))
        console.print(line, soft_wrap=False, overflow="fold")
        message = Table.grid()  # the message, indented and wrapped under itself
        message.add_column(width=4)
        message.add_column(overflow="fold")
        message.add_row("", text(item["subject"]))
        console.print(message)


def short_time(iso: str) -> str:
    """``2026-11-27T03:32:55+00:00`` -> ``2026-11-27 03:32`` (the JSON keeps the full time)."""
    return iso[:16].replace("T", " ") if len(iso) >= 16 and iso[10:11] == "T" else iso
