"""The origin-time plots: valid small PNGs of the expected size, also with no data or one row."""

from __future__ import annotations

import base64
import struct
from datetime import date

import polars as pl

from feedcheck.analysis import OriginTimeConfig, analyse_partition
from feedcheck.lake.layout import Partition
from feedcheck.report.plots import (
    PLOT_FILES,
    PNG_SIGNATURE,
    missing_by_day_png,
    origin_time_plots,
    png_data_uri,
    skew_cdf_png,
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
