"""Terminal rendering of an origin-time result: one row per stream, then the criteria."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from feedcheck.analysis.origin_time_result import RecommendationKind
from feedcheck.analysis.origin_time_streams import OriginTimeResult
from feedcheck.report.criteria import Status

_STATUS_STYLE = {Status.PASS: "green", Status.FAIL: "red", Status.UNKNOWN: "yellow"}
#: Short clock names for a narrow terminal; the markdown report has the full wording and reasons.
_USE = {
    RecommendationKind.USE_ORIGIN: "origin",
    RecommendationKind.FALL_BACK: "received",
    RecommendationKind.CLOCK_SYNC: "clock sync!",
    RecommendationKind.INSUFFICIENT: "no data",
}


def _ms(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / 1e6:,.1f}"


def print_origin_time(console: Console, result: OriginTimeResult) -> None:
    streams = Table(title=f"origin_time by stream ({result.data_kind} data in {result.source})")
    streams.add_column("stream", no_wrap=True)
    for col in ("rows", "invalid %", "holes", "p50 ms", "p95 ms", "neg %"):
        streams.add_column(col, justify="right")
    streams.add_column("use", no_wrap=True)
    for s in result.streams:
        c, k = s.counts, s.skew
        invalid = 100.0 * c.origin_invalid / c.rows if c.rows else None
        streams.add_row(
            s.key,
            f"{c.rows:,}",
            "-" if invalid is None else f"{invalid:.3f}",
            str(s.holes.count),
            _ms(k.p50_ns),
            _ms(k.p95_ns),
            "-" if k.negative_pct is None else f"{k.negative_pct:.3f}",
            _USE[s.recommendation.kind] if s.recommendation else "-",
        )
    # At least 120 columns (a pipe reports 80): truncated numbers are unreadable.
    Console(file=console.file, width=max(console.width, 120)).print(streams)
    if result.missing_partitions:
        console.print(f"missing partitions: {', '.join(result.missing_partitions)}")
    for c in result.criteria:
        style = _STATUS_STYLE[c.status]
        console.print(f"[{style}]{c.status.value:<7}[/{style}] {c.name}: {c.evidence}")
