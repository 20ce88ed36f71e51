"""The origin-time plots: valid small PNGs of the expected size, also with no data or one row."""

from __future__ import annotations

import base64
import struct
from datetime import date

import numpy as np
import polars as pl

from feedcheck.analysis import OriginTimeConfig, PartitionStatus, analyse_partition
from feedcheck.lake.layout import Partition
from feedcheck.report.plots import (
    PLOT_FILES,
    PNG_SIGNATURE,
    missing_by_day_figure,
    missing_by_day_png,
    origin_time_plots,
    png_data_uri,
    skew_cdf_figure,
    skew_cdf_png,
    skew_hourly_p95_figure,
    skew_hourly_p95_png,
    write_origin_time_plots,
)
from tests.report.conftest import D0, MS, NOW_NS

MAX_PNG_BYTES = 60_000
PART = Partition("trades", "BINANCE", "BTC-USDT", date(2024, 4, 1))


def _size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_SIGNATURE and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def _partition(origin: list, received: list):
    frame = pl.DataFrame(
        {"origin_ns": origin, "received_ns": received},
        schema={"origin_ns": pl.Int64, "received_ns": pl.Int64},
    ).lazy()
    return analyse_partition(frame, PART, OriginTimeConfig(now_ns=NOW_NS))


def test_report_plots_are_small_pngs(small_result):
    plots = origin_time_plots(small_result)
    assert set(plots) == set(PLOT_FILES)
    for png in plots.values():
        assert _size(png) == (320, 240)  # 4 × 3 in at 80 dpi
        assert len(png) <= MAX_PNG_BYTES


def test_each_plot_handles_empty_and_one_row():
    empty = _partition([], [])
    one = _partition([D0 + 1_000 * MS], [D0 + 1_000 * MS - 2 * MS])  # one negative skew
    for parts in ([], [empty], [one]):
        skews = {p.key: p.skew for p in parts}
        for png in (
            skew_cdf_png(skews, 100 * MS),
            skew_hourly_p95_png(skews, 100 * MS),
            missing_by_day_png(parts),
        ):
            assert _size(png) == (320, 240) and len(png) <= MAX_PNG_BYTES


def test_plots_are_written_and_embeddable(small_result, tmp_path):
    paths = write_origin_time_plots(small_result, tmp_path / "report")
    assert {p.name for p in paths.values()} == set(PLOT_FILES.values())
    for path in paths.values():
        png = path.read_bytes()
        uri = png_data_uri(png)
        assert uri.startswith("data:image/png;base64,")
        assert base64.b64decode(uri.split(",", 1)[1]) == png


LIMIT_NS = 100 * MS


def _lines(fig) -> dict[str, object]:
    (ax,) = fig.axes
    return {line.get_label(): line for line in ax.lines}


def test_skew_cdf_marks_each_p95_and_the_limit(small_result):
    skews = {s.key: s.skew for s in small_result.streams}
    lines = _lines(skew_cdf_figure(skews, LIMIT_NS))
    limit = lines["100 ms limit"]
    assert list(limit.get_xdata()) == [100.0, 100.0] and limit.get_linestyle() == "--"
    drawn = [k for k, s in skews.items() if s.rows]
    assert len(drawn) == 2  # the trades and book_delta_v2 streams
    for key in drawn:
        p95 = lines[f"_p95 {key}"]
        assert (list(p95.get_xdata()), list(p95.get_ydata())) == ([skews[key].p95_ns / 1e6], [0.95])
        cdf = lines[key].get_ydata()
        assert cdf[0] == 0.0 and cdf[-1] == 1.0 and np.all(np.diff(cdf) >= 0)


def test_hourly_plot_draws_each_streams_hourly_p95_and_the_limit(small_result):
    skews = {s.key: s.skew for s in small_result.streams}
    lines = _lines(skew_hourly_p95_figure(skews, 250 * MS))
    assert list(lines["250 ms limit"].get_ydata()) == [250.0, 250.0]
    for key, s in skews.items():
        if not s.rows:
            continue
        want = [np.nan if v is None else v / 1e6 for v in s.hourly_p95_ns]
        np.testing.assert_array_equal(lines[key].get_ydata(), want)
        assert list(lines[key].get_xdata()) == list(range(24))


def test_missing_plot_bars_are_invalid_pct_per_table_and_day(small_result):
    (ax,) = missing_by_day_figure(small_result.partitions).axes
    got = {c.get_label(): [round(b.get_height(), 12) for b in c] for c in ax.containers}
    want: dict[str, list[float]] = {}
    for p in sorted(small_result.partitions, key=lambda p: (p.table, p.dt)):
        if p.status is PartitionStatus.OK:
            pct = 100.0 * p.counts.origin_invalid / p.counts.rows
            want.setdefault(p.table, []).append(round(pct, 12))
    assert got == want
    assert got["trades"][0] == round(100.0 / 3_000, 12)  # one null origin in 3,000 rows
    days = [t.get_text() for t in ax.get_xticklabels()]
    assert days == ["2024-04-01", "2024-04-02", "2024-04-03"]


def test_crowded_plots_say_how_many_streams_they_leave_out(small_result):
    stats = small_result.streams[-1].skew
    skews = {f"trades/BINANCE/S{i}-USDT": stats for i in range(10)}
    for build in (skew_cdf_figure, skew_hourly_p95_figure):
        (ax,) = build(skews, LIMIT_NS).axes
        assert ax.get_title().endswith("(first 8 of 10)")
        assert sum(not line.get_label().startswith("_") for line in ax.lines) == 8 + 1  # + limit
