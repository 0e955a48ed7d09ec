"""The drift table for people: the summary first, then one group of rows per host.

Readable at 80 columns: a host's roles, services, Coral runtime and health gate go on its own
line, its models on the lines below; columns that are empty on every row are left out; a version
or a model name is never cut (those columns are as wide as their longest value, and only the
status column wraps, between words). ``-o wide`` prints every column, one row per model, at the
width the table needs.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..core import drift as drift_core
from .render import text

STATUS_STYLE = {
    "ok": "green",
    "drift": "yellow",
    "missing": "red",
    "corrupt": "bold red",
    "unreachable": "magenta",
    "passed": "green",
    "reverted": "bold red",
    "failed": "bold red",
    "pending": "cyan",
}


def status(value: str, detail: str = "") -> Text:
    shown = text(value, STATUS_STYLE.get(value, "red"))
    if detail:
        shown.append(text(f" ({detail})"))
    return shown


def summary_line(reports: list[drift_core.HostReport]) -> Text:
    """``6 hosts, 16 models: ok 15, drift 1 · coral ok 2 · gate passed 2`` (statuses that occur;
    every status at 0 reads "all ok")."""
    counts = drift_core.summary(reports)
    rows = sum(counts.values())
    shown = text(f"{len(reports)} hosts, {rows} models: ")
    present = [(s, n) for s, n in counts.items() if n]
    for index, (name, count) in enumerate(present):
        if index:
            shown.append(", ")
        shown.append(text(f"{name} {count}", STATUS_STYLE.get(name, "")))
    if not present:
        shown.append("none")
    for label, values in (
        ("coral", [r.coral["status"] for r in reports if r.coral]),
        ("gate", [r.gate["status"] for r in reports if r.gate]),
    ):
        if values:
            shown.append(f" · {label} ")
            shown.append(
                text(", ".join(f"{s} {values.count(s)}" for s in sorted(set(values)))),
            )
    return shown


def _host_line(report: drift_core.HostReport) -> Text:
    """The host's own status: its services (or why it is unreachable), Coral and gate."""
    parts: list[Text] = []
    if not report.reachable:
        parts.append(status("unreachable", report.error or ""))
    else:
        roles = sorted({row.role for row in report.models})
        services = [f"{role} {report.services.get(role, '-')}" for role in roles]
        if services:
            parts.append(text(", ".join(services)))
    if report.coral:
        parts.append(text("coral ").append(status(report.coral["status"], report.coral["detail"])))
    if report.gate:
        parts.append(text("gate ").append(status(report.gate["status"], report.gate["detail"])))
    shown = Text()
    for index, part in enumerate(parts):
        if index:
            shown.append(" · ")
        shown.append(part)
    return shown


def _versions(values: list[str]) -> str:
    return ", ".join(values) or "-"


def compact(reports: list[drift_core.HostReport]) -> Table:
    """One group per host: the host line, then its models."""
    several_roles = any(len({r.role for r in report.models}) > 1 for report in reports)
    rows: list[list[Text | str]] = []
    for report in reports:
        for item in report.models:
            detail = (report.error or "") if item.status == "unreachable" else item.detail
            label = f"  {item.model}" + (f" ({item.role})" if several_roles else "")
            rows.append(
                [
                    label,
                    item.desired + (" pin" if item.pinned else ""),
                    _versions(item.active),
                    _versions(item.installed),
                    "unreachable"
                    if item.status == "unreachable"
                    else status(item.status, detail if item.status != "ok" else ""),
                    ", ".join(item.node_modified) or "-",
                ]
            )
    headers = [
        "host / model",
        "desired",
        "active",
        "installed (inactive)",
        "status",
        "node-modified",
    ]
    # Hide a column that is empty ("-") on every model row; host, desired and status always show.
    keep = [
        index
        for index, _ in enumerate(headers)
        if index in (0, 1, 4) or any(str(row[index]) != "-" for row in rows)
    ]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for index in keep:
        longest = max([len(headers[index])] + [len(str(row[index])) for row in rows])
        if index == 0:
            longest = max([longest] + [len(report.host) for report in reports])
        wraps = headers[index] in ("status", "node-modified", "installed (inactive)", "active")
        table.add_column(
            headers[index],
            no_wrap=not wraps,
            min_width=None if wraps else longest,
            overflow="fold",
        )
    position = 0
    for report in reports:
        header = [text(report.host, "bold")] + [Text("") for _ in keep[1:]]
        header[keep.index(4)] = _host_line(report)
        table.add_row(*header)
        for _ in report.models:
            row = rows[position]
            position += 1
            table.add_row(*[row[i] if isinstance(row[i], Text) else text(row[i]) for i in keep])
        table.add_section()
    return table


def wide(reports: list[drift_core.HostReport]) -> Table:
    """Every column, one row per model (the table scripts and wide terminals had before)."""
    shown = Table(
        "host",
        "model",
        "role",
        "desired",
        "active",
        "installed (inactive)",
        "service",
        "status",
        "node-modified",
        "coral",
        "gate",
    )
    for report in reports:
        for index, item in enumerate(report.models):
            service = report.services.get(item.role, "-") if report.reachable else "-"
            detail = (report.error or "") if item.status == "unreachable" else item.detail
            coral = report.coral if index == 0 else None
            gate = report.gate if index == 0 else None
            shown.add_row(
                text(report.host),
                text(item.model),
                text(item.role),
                text(item.desired + (" (pin)" if item.pinned else "")),
                text(_versions(item.active)),
                text(_versions(item.installed)),
                text(service),
                status(item.status, detail if item.status != "ok" else ""),
                text(", ".join(item.node_modified) or "-"),
                status(coral["status"], coral["detail"])
                if coral
                else text("-" if index == 0 else ""),
                status(gate["status"], gate["detail"]) if gate else text("-" if index == 0 else ""),
            )
    return shown


def print_drift(console: Console, reports: list[drift_core.HostReport], output: str) -> None:
    console.print(summary_line(reports))
    if output == "wide":
        table = wide(reports)
        needed = console.measure(table, options=console.options.update_width(10_000)).maximum
        if needed > console.width:  # wide: never squeezed; the terminal scrolls or wraps
            console = Console(
                file=console.file,
                width=needed,
                highlight=False,
                soft_wrap=True,
                force_terminal=console.is_terminal,
                color_system=console.color_system,  # type: ignore[arg-type]
            )
        console.print(table)
        return
    console.print(compact(reports))
