"""The drift table for people: the summary first, then one group of rows per host.

Readable at 80 columns: a host's roles, services, Coral runtime and health gate go on its own
line, its models on the lines below; columns that are empty on every row are left out; a version
or a model name is never cut (those columns are as wide as their longest value, and only the
status column wraps, between words). ``-o wide`` prints every column, one row per model, at the
width the table needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.padding import Padding
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
    "error": "bold red",  # the host answered, but its answer was refused (the reason follows)
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
        refused = any(item.status == "error" for item in report.models)
        parts.append(status("error" if refused else "unreachable", report.error or ""))
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


def _detail(report: drift_core.HostReport, item: drift_core.ModelRow) -> str:
    """A row's detail: the host's error when it gave no usable answer, else the model's own."""
    return (report.error or "") if item.status in ("unreachable", "error") else item.detail


HEADERS = ("model", "desired", "active", "installed", "status")
VERSION_WIDTH = 10  # YYYY-MM-DD


@dataclass
class _Row:
    """One model row of the compact table; ``notes`` go on lines of their own below it."""

    cells: list[Text]
    notes: list[Text]
    versions: tuple[list[str], list[str]]  # active, installed: one per line when narrow


def _model_rows(report: drift_core.HostReport) -> list[_Row]:
    """The host's model rows; with several roles, each role's models under a role line."""
    roles = list(dict.fromkeys(item.role for item in report.models))
    indent = "    " if len(roles) > 1 else "  "
    rows: list[_Row] = []
    for role in roles:
        if len(roles) > 1:
            rows.append(_Row([text(f"  {role}", "dim")], [], ([], [])))
        for item in (m for m in report.models if m.role == role):
            detail = _detail(report, item)
            notes = []
            if detail and item.status not in ("ok", "unreachable", "error"):
                notes.append(status(item.status).append(text(f": {detail}")))
            if item.node_modified:
                notes.append(text(f"node-modified: {', '.join(item.node_modified)}"))
            rows.append(
                _Row(
                    [
                        text(indent + item.model),
                        text(item.desired + (" pin" if item.pinned else "")),
                        text(_versions(item.active)),
                        text(_versions(item.installed)),
                        status(item.status),
                    ],
                    notes,
                    (list(item.active), list(item.installed)),
                )
            )
    return rows


def _layout(rows: list[_Row], width: int) -> tuple[list[int], dict[int, int], int]:
    """The columns shown, their widths and the gap: model, desired and status as wide as their
    longest value; active and installed too, or one version per line when that does not fit."""
    models = [row for row in rows if len(row.cells) == len(HEADERS)]
    shown = [
        i
        for i in range(len(HEADERS))
        if i not in (2, 3) or any(row.cells[i].plain != "-" for row in models)
    ]
    widths = {
        i: max([len(HEADERS[i])] + [len(row.cells[i].plain) for row in models]) for i in shown
    }
    widths[0] = max([widths[0]] + [len(row.cells[0].plain) for row in rows])
    for gap in (2, 1):
        for narrow in (False, True):
            if narrow:
                widths.update(
                    {i: max(VERSION_WIDTH, len(HEADERS[i])) for i in (2, 3) if i in shown}
                )
            if sum(widths.values()) + gap * (len(shown) - 1) <= width:
                return shown, widths, gap
    return shown, widths, 1  # narrower than any version row: lines run long, nothing is cut


def _cell_lines(row: _Row, index: int, size: int) -> list[Text]:
    cell = row.cells[index]
    if index in (2, 3) and len(cell.plain) > size:
        values = row.versions[index - 2]
        return [text(value) for value in values]
    return [cell]


def _lines(row: _Row, shown: list[int], widths: dict[int, int], gap: int) -> list[Text]:
    if len(row.cells) != len(HEADERS):  # a role line
        return [row.cells[0]]
    cells = [_cell_lines(row, i, widths[i]) for i in shown]
    out = []
    for n in range(max(len(c) for c in cells)):
        line = Text()
        for k, (i, lines) in enumerate(zip(shown, cells, strict=True)):
            part = lines[n] if n < len(lines) else Text("")
            line.append(part)
            if k < len(shown) - 1:
                line.append(" " * (widths[i] - len(part.plain) + gap))
        line.rstrip()
        out.append(line)
    return out


def print_compact(console: Console, reports: list[drift_core.HostReport]) -> None:
    """A header, then per host: its line (services, Coral, gate; wrapped to the terminal), its
    models in columns of the same widths for every host, and a note line under a model for its
    status detail and the face files the node changed."""
    per_host = [(report, _model_rows(report)) for report in reports]
    shown, widths, gap = _layout([row for _, rows in per_host for row in rows], console.width)
    header = Text()
    for k, i in enumerate(shown):
        header.append(HEADERS[i], "bold")
        if k < len(shown) - 1:
            header.append(" " * (widths[i] - len(HEADERS[i]) + gap))
    console.print(header, soft_wrap=True)
    total = sum(widths.values()) + gap * (len(shown) - 1)
    console.print(text("─" * min(console.width, total)), soft_wrap=True)
    for report, rows in per_host:
        # the host's name, then what it says about itself, wrapped under itself
        line = Table.grid(padding=(0, 2, 0, 0))
        line.add_column(no_wrap=True)
        line.add_column(overflow="fold")
        line.add_row(text(report.host, "bold"), _host_line(report))
        console.print(line)
        for row in rows:
            for model_line in _lines(row, shown, widths, gap):
                console.print(model_line, soft_wrap=True)
            for note in row.notes:
                console.print(
                    Padding(note, (0, 0, 0, 6), expand=False), soft_wrap=False, overflow="fold"
                )


def engines_cell(entry: dict | None) -> Text:
    """A sentinel's engine accelerators from sentinel.yaml (``Alpha coral, Bravo1 cpu``), then
    ``ok`` or ``drift`` against sentinel_accelerator_type; ``-`` on other hosts."""
    if not entry:
        return text("-")
    engines = ", ".join(f"{name} {value}" for name, value in entry["engines"].items()) or "none"
    shown = text(f"{engines}; type {entry['sentinel_accelerator_type']} ")
    return shown.append(status(entry["status"]))


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
        "engines",
    )
    for report in reports:
        for index, item in enumerate(report.models):
            service = report.services.get(item.role, "-") if report.reachable else "-"
            detail = _detail(report, item)
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
                engines_cell(report.accelerators) if index == 0 else text(""),
            )
    return shown


def print_drift(console: Console, reports: list[drift_core.HostReport], output: str) -> None:
    console.print(summary_line(reports))
    # a host with no row left (drift --model) has nothing to show, unless it is unreachable
    reports = [r for r in reports if r.models or not r.reachable]
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
    print_compact(console, reports)
