"""Small PNG plots for the origin-time report (matplotlib Agg, no pyplot, no global state).

Each plot is ~4×3 in at 80 dpi and well under 60 KB, so a flow can embed all of them in one
markdown artifact as data URIs. Skews are drawn on a symmetric-log axis in ms (linear within
±1 ms), so negative skew (a receive clock behind the exchange's) sits left of zero instead of
vanishing from a log axis. Every function draws "no data" instead of failing on empty input.

Each plot has a `*_figure` builder (the drawn data, inspectable in tests: what is marked where)
and a `*_png` wrapper that renders it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from io import BytesIO
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from feedcheck.analysis.origin_time_result import PartitionOriginTime, PartitionStatus
from feedcheck.analysis.origin_time_streams import OriginTimeResult
from feedcheck.analysis.skew_sketch import SkewStats

FIGSIZE_IN = (4.0, 3.0)
DPI = 80
#: Skew axis: linear within ±1 ms, logarithmic beyond.
SYMLOG_LINTHRESH_MS = 1.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: File names of `write_origin_time_plots`, keyed like `origin_time_plots`.
PLOT_FILES = {
    "skew_cdf": "origin-time-skew-cdf.png",
    "skew_hourly_p95": "origin-time-skew-hourly-p95.png",
    "missing_by_day": "origin-time-missing-by-day.png",
}
_MAX_LINES = 8
_NS_PER_MS = 1e6


def _figure(title: str) -> tuple[Figure, object]:
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)
    return fig, ax


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes (tight layout, no timestamp metadata, so output is stable)."""
    buf = BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _no_data(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no data: {what}", ha="center", va="center", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def _threshold(ax, threshold_ns: int, vertical: bool) -> None:
    label = f"{threshold_ns / _NS_PER_MS:g} ms limit"
    line = ax.axvline if vertical else ax.axhline
    line(threshold_ns / _NS_PER_MS, color="red", lw=1, ls="--", label=label)


def _series(skews: Mapping[str, SkewStats]) -> tuple[list[tuple[str, SkewStats]], str]:
    """The series with rows that get a line (at most `_MAX_LINES`) and a title suffix saying
    how many were left out, so a crowded plot never hides streams silently."""
    with_rows = [(label, s) for label, s in skews.items() if s.rows]
    left_out = len(with_rows) - _MAX_LINES
    return with_rows[:_MAX_LINES], (
        f" (first {_MAX_LINES} of {len(with_rows)})" if left_out > 0 else ""
    )


def skew_cdf_figure(skews: Mapping[str, SkewStats], threshold_ns: int) -> Figure:
    """CDF of received − origin skew per series (label → stats), from the coarse histogram, on a
    symlog ms axis; each series' p95 is marked with a dot at (p95 ms, 0.95), the limit with a red
    dashed vertical line at `threshold_ns` (in ms)."""
    drawn, left_out = _series(skews)
    fig, ax = _figure("received − origin skew, CDF" + left_out)
    if not drawn:
        _no_data(ax, "no row with both clocks valid")
        return fig
    for label, s in drawn:
        hi_ms = np.array([b[1] for b in s.histogram], dtype=np.float64) / _NS_PER_MS
        lo_ms = np.array([b[0] for b in s.histogram], dtype=np.float64) / _NS_PER_MS
        cdf = np.cumsum([b[2] for b in s.histogram]) / s.rows
        x = np.concatenate(([lo_ms[0]], hi_ms))
        y = np.concatenate(([0.0], cdf))
        (line,) = ax.step(x, y, where="post", lw=1, label=label)
        if s.p95_ns is not None:
            # "_" keeps the marker out of the legend; the label names it for readers of the figure
            ax.plot(
                [s.p95_ns / _NS_PER_MS],
                [0.95],
                "o",
                ms=3,
                color=line.get_color(),
                label=f"_p95 {label}",
            )
    _threshold(ax, threshold_ns, vertical=True)
    ax.axhline(0.95, color="grey", lw=0.5, ls=":")
    ax.set_xscale("symlog", linthresh=SYMLOG_LINTHRESH_MS)
    ax.set_xlabel("skew (ms, symlog)", fontsize=7)
    ax.set_ylabel("share of rows", fontsize=7)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=5, loc="lower right")
    return fig


def skew_cdf_png(skews: Mapping[str, SkewStats], threshold_ns: int) -> bytes:
    """`skew_cdf_figure` as PNG bytes."""
    return png_bytes(skew_cdf_figure(skews, threshold_ns))


def skew_hourly_p95_figure(skews: Mapping[str, SkewStats], threshold_ns: int) -> Figure:
    """p95 skew per UTC hour of the day (ms; an hour without rows is a gap), one line per series,
    symlog ms axis, the limit as a red dashed horizontal line at `threshold_ns` (in ms)."""
    drawn, left_out = _series(skews)
    fig, ax = _figure("p95 skew by UTC hour" + left_out)
    if not drawn:
        _no_data(ax, "no row with both clocks valid")
        return fig
    hours = np.arange(24)
    for label, s in drawn:
        y = np.array(
            [np.nan if v is None else v / _NS_PER_MS for v in s.hourly_p95_ns], dtype=np.float64
        )
        ax.plot(hours, y, marker=".", ms=3, lw=1, label=label)
    _threshold(ax, threshold_ns, vertical=False)
    ax.set_yscale("symlog", linthresh=SYMLOG_LINTHRESH_MS)
    ax.set_xlim(-0.5, 23.5)
    ax.set_xticks(range(0, 24, 3))
    ax.set_xlabel("UTC hour of origin_time", fontsize=7)
    ax.set_ylabel("p95 skew (ms, symlog)", fontsize=7)
    ax.legend(fontsize=5, loc="best")
    return fig


def skew_hourly_p95_png(skews: Mapping[str, SkewStats], threshold_ns: int) -> bytes:
    """`skew_hourly_p95_figure` as PNG bytes."""
    return png_bytes(skew_hourly_p95_figure(skews, threshold_ns))


def missing_by_day_figure(partitions: Sequence[PartitionOriginTime]) -> Figure:
    """origin_time missing/invalid % of rows per table and day (all symbols of a table summed),
    grouped bars, one labelled bar container per table; a day without rows for a table has no
    bar."""
    fig, ax = _figure("origin_time missing/invalid by day")
    sums: dict[tuple[str, str], list[int]] = {}
    for p in partitions:
        if p.status is PartitionStatus.OK:
            acc = sums.setdefault((p.table, p.dt.isoformat()), [0, 0])
            acc[0] += p.counts.origin_invalid
            acc[1] += p.counts.rows
    if not sums:
        _no_data(ax, "no rows")
        return fig
    tables = sorted({t for t, _ in sums})
    days = sorted({d for _, d in sums})
    width = 0.8 / len(tables)
    for i, table in enumerate(tables):
        x, y = [], []
        for j, day in enumerate(days):
            if (table, day) in sums:
                bad, rows = sums[(table, day)]
                x.append(j + (i - (len(tables) - 1) / 2) * width)
                y.append(100.0 * bad / rows)
        ax.bar(x, y, width=width, label=table)
    ax.set_xticks(range(len(days)))
    ax.set_xticklabels(days, rotation=45, ha="right", fontsize=5)
    ax.set_ylabel("% of rows", fontsize=7)
    ax.legend(fontsize=5, loc="best")
    return fig


def missing_by_day_png(partitions: Sequence[PartitionOriginTime]) -> bytes:
    """`missing_by_day_figure` as PNG bytes."""
    return png_bytes(missing_by_day_figure(partitions))


def origin_time_plots(result: OriginTimeResult) -> dict[str, bytes]:
    """The report's three plots as PNG bytes, keyed as `PLOT_FILES`: per-stream skew CDF and
    hourly p95 (limit from the result's thresholds), missing/invalid % per table and day."""
    skews = {s.key: s.skew for s in result.streams}
    limit = result.config.thresholds.skew_p95_max_ns
    return {
        "skew_cdf": skew_cdf_png(skews, limit),
        "skew_hourly_p95": skew_hourly_p95_png(skews, limit),
        "missing_by_day": missing_by_day_png(result.partitions),
    }


def png_data_uri(png: bytes) -> str:
    """`data:image/png;base64,...` for embedding in markdown."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def origin_time_plot_uris(result: OriginTimeResult) -> dict[str, str]:
    """`origin_time_plots` as data URIs, ready for `report.origin_time.origin_time_markdown`."""
    return {key: png_data_uri(png) for key, png in origin_time_plots(result).items()}


def write_origin_time_plots(result: OriginTimeResult, folder: Path | str) -> dict[str, Path]:
    """Write the plots into `folder` (created if needed) as `PLOT_FILES`; returns key → path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for key, png in origin_time_plots(result).items():
        path = folder / PLOT_FILES[key]
        path.write_bytes(png)
        out[key] = path
    return out
