"""`analyse_partition` on hand-built frames: each clock defect counted apart, ms rounding at the day
edges, holes per cadence, file-order checks on unsorted data, batches, histogram fallback, and the
errors for unusable input."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feedcheck.analysis import (
    OriginTimeConfig,
    PartitionStatus,
    analyse_lake_partition,
    analyse_partition,
    analyse_staging,
    rollup_stream,
)
from feedcheck.analysis.skew_sketch import RELATIVE_ERROR
from feedcheck.errors import ConfigError, SchemaMismatchError
from feedcheck.lake.layout import Partition
from tests.analysis.conftest import MS, NAT, NOW_NS, clock_frame, nearest_rank

DAY = date(2024, 4, 1)
D0 = 1_711_929_600 * 1_000_000_000  # 2024-04-01 00:00 UTC in ns
D1 = D0 + 86_400 * 1_000_000_000
SEC = 1_000_000_000
TRADES = Partition("trades", "BINANCE", "BTC-USDT", DAY)
DELTAS = Partition("book_delta_v2", "BINANCE", "BTC-USDT", DAY)
CONFIG = OriginTimeConfig(now_ns=NOW_NS)


def test_empty_frame_is_an_empty_partition():
    for part, threshold in ((TRADES, CONFIG.trades_hole_ns), (DELTAS, None)):
        p = analyse_partition(clock_frame([], []), part, CONFIG)
        assert p.status is PartitionStatus.EMPTY and p.counts.rows == 0
        assert p.counts.pct("origin_invalid") is None and p.counts.origin_min_ns is None
        assert p.median_step_ns is None and p.holes.threshold_ns == threshold
        assert p.holes.count == 0 and p.holes.longest_ns is None
        assert (p.skew.rows, p.skew.p50_ns, p.skew.min_ns) == (0, None, None)
        assert p.skew.hourly_p95_ns == (None,) * 24 and p.skew.histogram == ()


def test_null_nat_zero_negative_are_counted_apart():
    origin = [None, NAT, 0, -5, D0 + MS, D0 + 2 * MS]
    p = analyse_partition(clock_frame(origin, [D0 + 10 * MS] * 6), TRADES, CONFIG)
    c = p.counts
    assert (c.origin_null, c.origin_nat, c.origin_zero, c.origin_negative) == (1, 1, 1, 1)
    assert (c.origin_valid, c.origin_missing, c.origin_invalid) == (2, 2, 4)
    assert c.pct("origin_invalid") == 100.0 * 4 / 6
    assert (c.origin_min_ns, c.origin_max_ns) == (D0 + MS, D0 + 2 * MS)
    assert (p.skew.rows, p.skew.p50_ns, p.skew.max_ns) == (2, 8 * MS, 9 * MS)


def test_all_null_origin():
    p = analyse_partition(clock_frame([None] * 4, [D0 + i for i in range(4)]), DELTAS, CONFIG)
    assert p.counts.origin_null == 4 and p.counts.pct("origin_null") == 100.0
    assert p.counts.origin_valid == 0 and p.counts.received_valid == 4
    assert p.skew.rows == 0 and p.median_step_ns is None and p.holes.threshold_ns is None


def test_one_row():
    p = analyse_partition(clock_frame([D0 + 5 * SEC], [D0 + 5 * SEC + 7 * MS]), DELTAS, CONFIG)
    assert p.status is PartitionStatus.OK and p.counts.rows == 1
    assert p.counts.origin_out_of_order == 0 and p.median_step_ns is None
    s = p.skew
    assert s.p50_ns == s.p99_ns == s.min_ns == s.max_ns == 7 * MS
    assert s.hourly_rows[0] == 1 and s.hourly_p95_ns[0] == 7 * MS


def test_unsorted_trades_are_checked_in_file_order():
    origin_ms = [5, 3, 4, 1, 2, 2, 9]
    received = [D0 + SEC + i for i in (0, 1, 2, 3, 5, 4, 6)]  # one receipt goes backwards too
    p = analyse_partition(clock_frame([D0 + m * MS for m in origin_ms], received), TRADES, CONFIG)
    assert p.counts.origin_out_of_order == 2  # 3 < 5 and 1 < 4
    assert p.counts.pct("origin_out_of_order") == 100.0 * 2 / 7
    assert p.counts.received_out_of_order == 1
    assert p.median_step_ns == 1 * MS  # steps > 0 in file order: 1, 1, 7 → nearest-rank median 1


def test_day_boundary_uses_ms_rounded_origin():
    origin = [
        D0 - 3 * MS,  # the previous day
        D0 - 400,  # rounds up to midnight: inside
        D0 - 600_000,  # rounds to 23:59:59.999: outside
        D1 - MS,  # last ms of the day: inside
        D1 - 400_000,  # rounds to the next midnight: outside
        D1 + 2 * SEC,  # the next day
    ]
    p = analyse_partition(clock_frame(origin, [D1 + 5 * SEC] * 6), TRADES, CONFIG)
    assert p.counts.outside_day == 4 and p.counts.pct("outside_day") == 100.0 * 4 / 6
    assert p.counts.float_noise == 3  # the three origins that are not whole ms
    assert p.counts.origin_invalid == 0  # a row filed under the wrong day still has a valid time


def test_future_origins_are_invalid():
    config = dataclasses.replace(CONFIG, now_ns=D0 + SEC)
    origin = [D0 + SEC // 2, D0 + SEC, D0 + 2 * SEC]
    p = analyse_partition(clock_frame(origin, [D0 + 3 * SEC] * 3), TRADES, config)
    assert p.counts.future == 1 and p.counts.origin_invalid == 1


def test_received_defects_and_skew_rows():
    origin = [D0 + i * MS for i in range(1, 7)]
    received = [None, NAT, 0, -1, D0 + 9 * MS, D0 + 3 * MS]  # last: negative skew of 3 ms
    p = analyse_partition(clock_frame(origin, received), TRADES, CONFIG)
    c = p.counts
    assert (c.received_null, c.received_nat, c.received_nonpositive, c.received_valid) == (
        1,
        1,
        2,
        2,
    )
    assert c.received_out_of_order == 1
    assert (p.skew.rows, p.skew.negative, p.skew.min_ns, p.skew.max_ns) == (2, 1, -3 * MS, 4 * MS)
    assert p.skew.negative_pct == 50.0


def _depth_messages(gaps_ms: list[int], rows_per_message: int = 3) -> pl.LazyFrame:
    """Messages whose origins step by `gaps_ms`; each message has several rows (one receipt)."""
    times = np.cumsum([0, *gaps_ms]) * MS + D0 + SEC
    origin = np.repeat(times, rows_per_message)
    return clock_frame(origin.tolist(), (origin + 4 * MS).tolist())


def test_depth_holes_follow_the_median_step():
    frame = _depth_messages([100] * 20 + [1_500] + [100] * 20 + [900] + [100] * 5)
    p = analyse_partition(frame, DELTAS, CONFIG)
    assert p.median_step_ns == 100 * MS and p.holes.threshold_ns == 1_000 * MS
    assert p.holes.count == 1 and p.holes.longest_ns == 1_500 * MS
    start = D0 + SEC + 2_000 * MS
    assert [(h.start_ns, h.end_ns) for h in p.holes.listed] == [(start, start + 1_500 * MS)]
    tighter = analyse_partition(frame, DELTAS, dataclasses.replace(CONFIG, hole_multiple=5))
    assert tighter.holes.count == 2 and tighter.holes.total_ns == 2_400 * MS
    listed = analyse_partition(frame, DELTAS, dataclasses.replace(CONFIG, max_listed_holes=0))
    assert listed.holes.count == 1 and listed.holes.listed == () and listed.holes.truncated


def test_trades_hole_threshold_is_configurable():
    minute = 60 * SEC
    origin = [D0 + SEC, D0 + SEC + 30 * minute, D0 + SEC + 91 * minute, D0 + SEC + 92 * minute]
    frame = clock_frame(origin, [o + 5 * MS for o in origin])
    assert analyse_partition(frame, TRADES, CONFIG).holes.count == 1  # 61 min >= 60 min
    tight = analyse_partition(
        frame, TRADES, dataclasses.replace(CONFIG, trades_hole_ns=20 * minute)
    )
    assert tight.holes.count == 2 and tight.holes.longest_ns == 61 * minute


def _write_lake_file(tmp_path, origin: list[int | None], received: list[int | None], **kw):
    table = pa.table(
        {
            "timestamp": pa.array(origin, pa.int64()),
            "receipt_timestamp": pa.array(received, pa.int64()),
        }
    )
    path = tmp_path / "part-0.parquet"
    pq.write_table(table, path, **kw)
    return path


def test_batches_give_the_same_result_as_one_frame(tmp_path):
    rng = np.random.default_rng(5)
    msgs = np.cumsum(rng.integers(1, 250, 400)) * MS + D0 + SEC
    origin = np.repeat(msgs, 3).astype(object)
    received = (np.repeat(msgs, 3) + rng.integers(1, 90, 1200).repeat(1) * MS).astype(object)
    origin[[10, 11, 500]] = None
    origin[699], origin[702] = origin[702], origin[699]  # two messages swap a row
    origin, received = origin.tolist(), received.tolist()
    path = _write_lake_file(tmp_path, origin, received, row_group_size=7)  # runs straddle groups
    assert pq.ParquetFile(path).metadata.num_row_groups == 172
    whole = analyse_partition(clock_frame(origin, received), DELTAS, CONFIG)
    assert analyse_lake_partition([path], DELTAS, CONFIG) == whole
    assert whole.counts.origin_null == 3 and whole.counts.origin_out_of_order == 1


def test_histogram_fallback_stays_within_its_error_bound():
    rng = np.random.default_rng(11)
    n = 20_000
    origin = D0 + np.sort(rng.integers(0, 86_400 * SEC, n))
    skew = np.round(rng.lognormal(16.0, 2.0, n)).astype(np.int64) * rng.choice([-1, 1, 1, 1], n)
    frame = clock_frame(origin.tolist(), (origin + skew).tolist())
    exact = analyse_partition(frame, TRADES, CONFIG).skew
    approx = analyse_partition(
        frame, TRADES, dataclasses.replace(CONFIG, exact_skew_max_values=100)
    ).skew
    assert exact.exact and not approx.exact and approx.relative_error == RELATIVE_ERROR
    assert exact.p95_ns == nearest_rank(skew, 95)
    assert (approx.rows, approx.negative, approx.min_ns, approx.max_ns) == (
        exact.rows,
        exact.negative,
        exact.min_ns,
        exact.max_ns,
    )
    pairs = [(approx.p50_ns, exact.p50_ns), (approx.p90_ns, exact.p90_ns)]
    pairs += [(approx.p95_ns, exact.p95_ns), (approx.p99_ns, exact.p99_ns)]
    pairs += list(zip(approx.hourly_p95_ns, exact.hourly_p95_ns, strict=True))
    for got, want in pairs:
        assert abs(got - want) <= abs(want) * RELATIVE_ERROR + 1, (got, want)
    assert approx.histogram == exact.histogram


def test_datetime_or_missing_clock_columns_are_refused():
    frame = clock_frame([D0], [D0]).with_columns(pl.col("origin_ns").cast(pl.Datetime("ns", "UTC")))
    with pytest.raises(SchemaMismatchError) as err:
        analyse_partition(frame, TRADES, CONFIG)
    assert (
        err.value.column == "origin_ns"
        and err.value.found == "Datetime(time_unit='ns', time_zone='UTC')"
    )
    with pytest.raises(SchemaMismatchError) as err:
        analyse_partition(clock_frame([D0], [D0]).drop("received_ns"), TRADES, CONFIG)
    assert err.value.column == "received_ns"


def test_unreadable_partitions_are_findings(tmp_path):
    def part_dir(dt: str):
        d = tmp_path / f"trades/exchange=BINANCE/symbol=BTC-USDT/dt={dt}"
        d.mkdir(parents=True)
        return d

    _write_lake_file(part_dir("2024-04-01"), [D0 + SEC], [D0 + SEC + 5 * MS])
    (part_dir("2024-04-02") / "part-0.parquet").write_bytes(b"PAR1 this is not parquet")
    damaged = _write_lake_file(part_dir("2024-04-04"), list(range(1, 5_001)), [7] * 5_000)
    data = bytearray(damaged.read_bytes())
    data[100:1_000] = bytes(900)  # a data page zeroed: the footer still reads fine
    damaged.write_bytes(bytes(data))
    wrong = part_dir("2024-04-03") / "part-0.parquet"
    pq.write_table(pa.table({"timestamp": pa.array([1.0]), "receipt_timestamp": [1]}), wrong)
    result = analyse_staging(tmp_path, ["trades"], CONFIG)
    assert [p.status.value for p in result.partitions] == ["ok"] + ["unreadable"] * 3
    assert result.unreadable_partitions == (
        "trades/BINANCE/BTC-USDT/2024-04-02",
        "trades/BINANCE/BTC-USDT/2024-04-03",
        "trades/BINANCE/BTC-USDT/2024-04-04",
    )
    bad, wrong_type, cut = result.partitions[1:]
    assert "Parquet data cannot be decoded" in cut.error and "dt=2024-04-04" in cut.error
    assert "not readable as Parquet" in bad.error and "dt=2024-04-02/part-0.parquet" in bad.error
    assert (
        "column 'timestamp'" in wrong_type.error
        and "expected Int64, found Float64" in wrong_type.error
    )
    stream = result.streams[0]
    assert stream.days == (DAY,) and len(stream.unreadable_days) == 3
    assert result.data_kind == "lake" and stream.counts.rows == 1 and stream.skew.exact


def test_a_day_missing_in_the_middle_of_the_range(tmp_path):
    for day, origin in ((1, D0 + SEC), (3, D0 + 2 * 86_400 * SEC + SEC)):
        folder = tmp_path / f"book_delta_v2/exchange=BINANCE/symbol=ETH-USDT/dt=2024-04-0{day}"
        folder.mkdir(parents=True)
        _write_lake_file(folder, [origin, origin + 100 * MS], [origin + MS, origin + 101 * MS])
    result = analyse_staging(tmp_path, ["book_delta_v2"], CONFIG)
    assert result.missing_partitions == ("book_delta_v2/BINANCE/ETH-USDT/2024-04-02",)
    stream = result.streams[0]
    assert stream.days == (date(2024, 4, 1), date(2024, 4, 3))
    assert stream.missing_days == (date(2024, 4, 2),) and stream.counts.rows == 4
    assert (result.start, result.end) == (date(2024, 4, 1), date(2024, 4, 4))
    # partitions read back from JSON carry no skew sketch, so they cannot be rolled up again
    back = type(result).from_json(result.to_json())
    with pytest.raises(ConfigError, match="no skew sketch"):
        rollup_stream("book_delta_v2", "BINANCE", "ETH-USDT", back.partitions, [], CONFIG)
