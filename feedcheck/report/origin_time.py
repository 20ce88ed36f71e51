"""Rendering of an origin-time run: a markdown summary (with embedded plots) and table rows.

Pure functions of `OriginTimeResult`; the flow publishes them as Prefect artifacts (markdown and
table) and the CLI can print them. Plots arrive as data URIs (`plots.png_data_uri`), so the
markdown is self-contained and the Prefect UI shows the images.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from feedcheck.analysis.origin_time_result import OriginCounts, PartitionStatus
from feedcheck.analysis.origin_time_streams import OriginTimeResult, StreamOriginTime
from feedcheck.report.criteria import overall_status

#: Plot keys (as `plots.PLOT_FILES`) → caption, in display order.
PLOT_CAPTIONS = {
    "skew_cdf": "received − origin skew CDF, p95 dots and the limit",
    "skew_hourly_p95": "p95 skew per UTC hour",
    "missing_by_day": "origin_time missing/invalid % per table and day",
}


#: Columns of `origin_time_table_rows`, in order.
TABLE_COLUMNS = (
    "partition",
    "status",
    "rows",
    "origin_null",
    "origin_nat",
    "origin_zero",
    "origin_negative",
    "origin_future",
    "origin_invalid_pct",
    "outside_day",
    "float_noise_pct",
    "origin_out_of_order",
    "received_out_of_order",
    "holes",
    "hole_longest_ms",
    "skew_p50_ms",
    "skew_p95_ms",
    "skew_p99_ms",
    "skew_negative_pct",
    "error",
)


def _ms(ns: int | None) -> str:
    return "–" if ns is None else f"{ns / 1e6:,.3f} ms"


def _ts(ns: int | None) -> str:
    """UTC ISO time to the ms (integer arithmetic: ns do not fit a float exactly)."""
    if ns is None:
        return "–"
    seconds, rest = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{rest // 1_000_000:03d}Z"


def _s(ns: int | None) -> str:
    return "–" if ns is None else f"{ns / 1e9:,.3f} s"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g} %"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _count_rows(c: OriginCounts) -> list[tuple[str, str, str]]:
    return [
        ("rows", f"{c.rows:,}", ""),
        ("origin null", f"{c.origin_null:,}", _pct(c.pct("origin_null"))),
        ("origin NaT (int64 min)", f"{c.origin_nat:,}", _pct(c.pct("origin_nat"))),
        ("origin zero", f"{c.origin_zero:,}", _pct(c.pct("origin_zero"))),
        ("origin negative", f"{c.origin_negative:,}", _pct(c.pct("origin_negative"))),
        ("origin in the future", f"{c.future:,}", _pct(c.pct("future"))),
        ("**origin missing/invalid**", f"{c.origin_invalid:,}", _pct(c.pct("origin_invalid"))),
        ("origin outside the partition day", f"{c.outside_day:,}", _pct(c.pct("outside_day"))),
        ("origin not a whole ms (float noise)", f"{c.float_noise:,}", _pct(c.pct("float_noise"))),
        (
            "origin out of order",
            f"{c.origin_out_of_order:,}",
            _pct(c.pct("origin_out_of_order")),
        ),
        (
            "received null / NaT / ≤ 0",
            f"{c.received_null:,} / {c.received_nat:,} / {c.received_nonpositive:,}",
            "",
        ),
        (
            "received out of order",
            f"{c.received_out_of_order:,}",
            _pct(c.pct("received_out_of_order")),
        ),
        ("origin min … max", f"{_ts(c.origin_min_ns)} … {_ts(c.origin_max_ns)}", ""),
        ("received min … max", f"{_ts(c.received_min_ns)} … {_ts(c.received_max_ns)}", ""),
    ]


def _stream_section(s: StreamOriginTime) -> list[str]:
    rec = s.recommendation
    title = f"### {s.key}: {rec.kind.value}" if rec else f"### {s.key}"
    lines = [title, ""]
    days = f"{len(s.days)} day(s) with rows"
    if s.empty_days or s.missing_days or s.unreadable_days:
        days += (
            f"; empty {', '.join(d.isoformat() for d in s.empty_days) or 'none'}"
            f"; missing {', '.join(d.isoformat() for d in s.missing_days) or 'none'}"
            f"; unreadable {', '.join(d.isoformat() for d in s.unreadable_days) or 'none'}"
        )
    lines += [days, "", "| metric | value | % |", "|---|---:|---:|"]
    rows = _count_rows(s.counts)
    h, k = s.holes, s.skew
    rows += [
        (
            "holes (count / total / longest)",
            f"{h.count} / {_s(h.total_ns)} / {_s(h.longest_ns)}",
            "",
        ),
        ("skew rows (both clocks valid)", f"{k.rows:,}", ""),
        ("skew p50 / p90", f"{_ms(k.p50_ns)} / {_ms(k.p90_ns)}", ""),
        ("**skew p95**", _ms(k.p95_ns), ""),
        ("skew p99 / max / min", f"{_ms(k.p99_ns)} / {_ms(k.max_ns)} / {_ms(k.min_ns)}", ""),
        ("negative skew", f"{k.negative:,}", _pct(k.negative_pct)),
        ("skew spikes", f"{k.spike:,}", ""),
        ("percentiles", "exact" if k.exact else f"±{k.relative_error:.2%} (log histogram)", ""),
    ]
    lines += [f"| {a} | {_cell(b)} | {c} |" for a, b, c in rows]
    if rec:
        lines += ["", f"**Recommendation: {rec.kind.value}**", ""]
        lines += [f"- {r}" for r in rec.reasons]
    return lines + [""]


def origin_time_markdown(result: OriginTimeResult, plot_uris: Mapping[str, str]) -> str:
    """The `origin-time` markdown artifact: summary and verdict first, criteria, the plots (as
    given: key → data URI, keys as `plots.PLOT_FILES`), one table per stream with its
    recommendation and reasons, then missing/empty/unreadable partitions."""
    span = (
        f"{result.start} to {result.end} (end exclusive)" if result.start else "no partition found"
    )
    lines = [
        "# origin_time completeness and clock skew (Story 1.1)",
        "",
        f"Data: **{result.data_kind}**, `{result.source}`; tables {', '.join(result.tables)}; "
        f"days {span}; {len(result.partitions)} partition(s), {len(result.streams)} stream(s).",
        "",
        f"**Overall: {overall_status(result.criteria).value}**",
        "",
        "| stream | recommendation | missing/invalid | p95 skew | negative skew |",
        "|---|---|---:|---:|---:|",
    ]
    for s in result.streams:
        kind = s.recommendation.kind.value if s.recommendation else "–"
        lines.append(
            f"| {s.key} | {kind} | {_pct(s.counts.pct('origin_invalid'))} | "
            f"{_ms(s.skew.p95_ns)} | {_pct(s.skew.negative_pct)} |"
        )
    lines += ["", "## Criteria", "", "| criterion | status | value | threshold | evidence |"]
    lines += ["|---|---|---:|---:|---|"]
    for c in result.criteria:
        value, limit = c.value, c.threshold
        if c.unit == "ns":
            value = _ms(value) if isinstance(value, int) else value
            limit = _ms(limit) if isinstance(limit, int) else limit
        elif c.unit == "%":
            value = _pct(value) if isinstance(value, float | int) else value
            limit = _pct(limit) if isinstance(limit, float | int) else limit
        lines.append(
            f"| {_cell(c.name)} | **{c.status.value}** | {_cell(value if value is not None else '–')}"
            f" | {_cell(limit)} | {_cell(c.evidence)} |"
        )
    if plot_uris:
        lines += ["", "## Plots", ""]
        for key, uri in plot_uris.items():
            lines += [f"![{PLOT_CAPTIONS.get(key, key)}]({uri})", ""]
    lines += ["## Streams", ""]
    for s in result.streams:
        lines += _stream_section(s)
    lines += ["## Partitions", ""]
    for label, keys in (
        ("Missing (no partition in the range)", result.missing_partitions),
        ("Empty (files with no rows)", result.empty_partitions),
        ("Unreadable", result.unreadable_partitions),
    ):
        lines += [f"**{label}**: " + (", ".join(f"`{k}`" for k in keys) or "none"), ""]
    for p in result.partitions:
        if p.status is PartitionStatus.UNREADABLE:
            lines += [f"- `{p.key}`: {_cell(p.error)}"]
    return "\n".join(lines).rstrip() + "\n"


def origin_time_table_rows(result: OriginTimeResult) -> list[dict[str, Any]]:
    """One JSON-safe row per partition (present or missing), sorted by key, for a table artifact.
    Durations and skews in ms (floats), percentages 0–100, None where unknown."""

    def ms(ns: int | None) -> float | None:
        return None if ns is None else ns / 1e6

    rows: list[dict[str, Any]] = []
    for p in result.partitions:
        c, k, h = p.counts, p.skew, p.holes
        rows.append(
            {
                "partition": p.key,
                "status": p.status.value,
                "rows": c.rows,
                "origin_null": c.origin_null,
                "origin_nat": c.origin_nat,
                "origin_zero": c.origin_zero,
                "origin_negative": c.origin_negative,
                "origin_future": c.future,
                "origin_invalid_pct": c.pct("origin_invalid"),
                "outside_day": c.outside_day,
                "float_noise_pct": c.pct("float_noise"),
                "origin_out_of_order": c.origin_out_of_order,
                "received_out_of_order": c.received_out_of_order,
                "holes": h.count,
                "hole_longest_ms": ms(h.longest_ns),
                "skew_p50_ms": ms(k.p50_ns),
                "skew_p95_ms": ms(k.p95_ns),
                "skew_p99_ms": ms(k.p99_ns),
                "skew_negative_pct": k.negative_pct,
                "error": p.error or "",
            }
        )
    for key in result.missing_partitions:
        missing = dict.fromkeys(TABLE_COLUMNS)
        rows.append({**missing, "partition": key, "status": "missing", "rows": 0, "error": ""})
    return sorted(rows, key=lambda r: r["partition"])
