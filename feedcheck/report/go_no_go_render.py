"""The go/no-go report as the team reads it: markdown (verdict first, then the criteria table,
provenance, machine, recommendations, the children's runs, plots), table-artifact rows, the
headroom plot, and a terminal table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from feedcheck.report.criteria import Status
from feedcheck.report.go_no_go import GO, EpicCriterion, GoNoGoReport
from feedcheck.report.plots import png_bytes

#: Direction of each numeric criterion: True where a larger value is better.
HIGHER_IS_BETTER = {
    "origin_missing": False,
    "skew_p95": False,
    "captures_complete": True,
    "delta_gap_ratio": False,
    "memory_p95": False,
    "throughput": True,
    "io_month": True,
}
_COLOURS = {Status.PASS: "#2e7d32", Status.FAIL: "#c62828", Status.UNKNOWN: "#9e9e9e"}
_STYLE = {Status.PASS: "green", Status.FAIL: "red", Status.UNKNOWN: "yellow"}


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    elif isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def headline(report: GoNoGoReport) -> str:
    counts = " · ".join(f"{report.count(s)} {s.value}" for s in Status)
    return f"{report.verdict} ({counts})"


def _link(report: GoNoGoReport, c: EpicCriterion) -> str:
    """The child run behind a criterion: a link to its page in the UI when the address is known
    (its JSON file is listed under Runs)."""
    step = next((s for s in report.steps if s.step is c.step), None)
    if step is not None and step.ui_url:
        return f"[{c.step.value}]({step.ui_url})"
    return c.step.value


def go_no_go_markdown(report: GoNoGoReport, images: Mapping[str, str] | None = None) -> str:
    """The whole report; `images` maps a caption to a PNG data URI (drawn by both Prefect UIs)."""
    lines = [
        f"# Epic 1 go/no-go: **{headline(report)}**",
        "",
        "GO only when every criterion passes; a criterion without evidence is UNKNOWN.",
        "",
        "| criterion | story | value | threshold | status | evidence | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in report.criteria:
        r = c.result
        lines.append(
            f"| {_cell(r.name)} | {c.story} | {_cell(_fmt(r.value, r.unit))} | "
            f"{_cell(_fmt(r.threshold, r.unit))} | **{r.status.value}** | {_cell(r.evidence)} | "
            f"{_cell(_link(report, c))} |"
        )
    lines += ["", "## Recommendations", ""]
    lines += [f"- **{topic}**: {text}" for topic, text in report.recommendations]
    lines += ["", "## Data provenance", ""]
    lines += [f"- **{k}**: {_fmt(v)}" for k, v in report.provenance.items()]
    lines += [
        "",
        "## Runs",
        "",
        "| step | status | seconds | result | error |",
        "|---|---|---|---|---|",
    ]
    for s in report.steps:
        where = f"[run]({s.ui_url})" if s.ui_url else ""
        if s.result_path:
            where += f" `{s.result_path}`"
        seconds = "-" if s.seconds is None else f"{s.seconds:.1f}"
        lines.append(
            f"| {s.step.value} | {s.status.value} | {seconds} | {_cell(where.strip() or '-')} | "
            f"{_cell(s.error or '')} |"
        )
    m = report.machine
    versions = ", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items())
    lines += [
        "",
        "## Machine",
        "",
        f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('memory_gib', '?')} GiB, "
        f"{m.get('os', '?')}, Python {m.get('python', '?')}; {versions}",
        "",
        "Thresholds: "
        + ", ".join(f"`{k}` = {v:g}" for k, v in report.thresholds.to_json().items()),
    ]
    if images:
        lines += ["", "## Plots", ""]
        for caption, uri in images.items():
            lines += [f"**{caption}**", "", f"![{caption}]({uri})", ""]
    if report.created:
        lines += ["", f"_Created {report.created}._"]
    return "\n".join(lines) + "\n"


def go_no_go_table_rows(report: GoNoGoReport) -> list[dict[str, str]]:
    """One JSON-safe row per criterion (values as text: the table artifact JSON-encodes cells)."""
    return [
        {
            "criterion": c.result.name,
            "story": c.story,
            "status": c.result.status.value,
            "value": _fmt(c.result.value, c.result.unit),
            "threshold": _fmt(c.result.threshold, c.result.unit),
            "evidence": c.result.evidence,
            "source": c.step.value,
        }
        for c in report.criteria
    ]


def headroom(c: EpicCriterion) -> float | None:
    """How far a numeric criterion is from its limit, as a factor (> 1: on the good side; 1 at
    the limit). None for a criterion with no direction, no value, or a zero on either side."""
    if c.key not in HIGHER_IS_BETTER:
        return None
    value, limit = c.result.value, c.result.threshold
    if not isinstance(value, int | float) or not isinstance(limit, int | float):
        return None
    if value <= 0 or limit <= 0:
        return None
    return value / limit if HIGHER_IS_BETTER[c.key] else limit / value


def headroom_png(report: GoNoGoReport) -> bytes:
    """Horizontal bars of `headroom` per numeric criterion on a log axis, coloured by status,
    the limit (1×) as a dashed line; criteria with no ratio are listed as text."""
    rows = [(c, headroom(c)) for c in report.criteria]
    drawn = [(c, h) for c, h in rows if h is not None]
    fig = Figure(figsize=(6.0, 3.6), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title("headroom to each limit (× of the threshold; > 1 is good)", fontsize=8)
    ax.tick_params(labelsize=6)
    if drawn:
        y = np.arange(len(drawn))
        ax.barh(
            y,
            [h for _, h in drawn],
            color=[_COLOURS[c.result.status] for c, _ in drawn],
            left=0,
        )
        ax.set_yticks(y)
        ax.set_yticklabels([c.result.name for c, _ in drawn], fontsize=6)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", lw=1, ls="--")
        for yi, (_, h) in zip(y, drawn, strict=True):
            ax.text(h, yi, f" {h:,.3g}×", va="center", fontsize=5)
    else:
        ax.text(0.5, 0.5, "no numeric criterion measured", ha="center", va="center", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    rest = [f"{c.result.name}: {c.result.status.value}" for c, h in rows if h is None]
    if rest:
        fig.text(0.01, 0.01, "not drawn (no ratio): " + "; ".join(rest), fontsize=5.5, wrap=True)
    return png_bytes(fig)


def print_go_no_go(console: Console, report: GoNoGoReport) -> None:
    """The verdict and the criteria as a terminal table."""
    table = Table(title=f"Epic 1 go/no-go: {headline(report)}")
    table.add_column("criterion", no_wrap=True)
    table.add_column("value", justify="right")
    table.add_column("threshold", justify="right")
    table.add_column("status", no_wrap=True)
    table.add_column("evidence")
    for c in report.criteria:
        r = c.result
        style = _STYLE[r.status]
        table.add_row(
            r.name,
            _fmt(r.value, r.unit),
            _fmt(r.threshold, r.unit),
            f"[{style}]{r.status.value}[/{style}]",
            r.evidence,
        )
    Console(file=console.file, width=max(console.width, 140)).print(table)
    style = "bold green" if report.verdict == GO else "bold red"
    console.print(f"[{style}]verdict: {report.verdict}[/{style}]")
