"""`analyse_staging` on the shipped `faults` scenario: every origin_time metric equals
ground_truth.json (counts by kind, holes with their ends) or, where the generator records no
count (percentiles, float noise, receipt order), a plain-numpy recomputation from the files."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest

from feedcheck.analysis import OriginTimeResult, PartitionStatus, analyse_staging
from tests.analysis.conftest import (
    FAULTS_CONFIG,
    MS,
    nearest_rank,
    read_raw,
    reference_skew,
)

EMPTY, MISSING = "book/BINANCE/ETH-USDT/2024-04-02", "trades/BINANCE/ETH-USDT/2024-04-01"
#: Ground-truth fault kind → the metric that must equal its count.
KIND_METRIC = {
    "origin_null": lambda p: p.counts.origin_null,
    "origin_nat": lambda p: p.counts.origin_nat,
    "origin_zero": lambda p: p.counts.origin_zero,
    "origin_negative": lambda p: p.counts.origin_negative,
    "negative_skew": lambda p: p.skew.negative,
    "skew_spike": lambda p: p.skew.spike,
    "time_hole": lambda p: p.holes.count,
    "day_boundary_leak": lambda p: p.counts.outside_day,
    "unsorted_rows": lambda p: p.counts.origin_out_of_order,
}


def _written(ds):
    return [p for p in ds.truth.partitions if p.rows]


@pytest.mark.parametrize("kind", sorted(KIND_METRIC))
def test_metric_equals_ground_truth(synthetic_faults, faults_result, kind):
    found = 0
    for pt in synthetic_faults.truth.partitions:
        got = KIND_METRIC[kind](faults_result.partition(pt.partition))
        assert got == synthetic_faults.truth.count(pt.partition, kind), (pt.partition, kind)
        found += got > 0
    # every kind is injected in each of the 10 partitions with rows (3 tables, 2 symbols, 2 days,
    # minus the empty and the missing partition)
    assert found == 10


def test_rows_and_missing_by_kind_add_up(synthetic_faults, faults_result):
    truth = synthetic_faults.truth
    for pt in truth.partitions:
        c = faults_result.partition(pt.partition).counts
        kinds = ("origin_null", "origin_nat", "origin_zero", "origin_negative")
        assert c.rows == pt.rows
        assert c.origin_invalid == sum(truth.count(pt.partition, k) for k in kinds)
        assert c.origin_valid == pt.rows - c.origin_invalid
        assert c.received_valid == pt.rows and c.future == 0
        assert c.pct("origin_invalid") == (100.0 * c.origin_invalid / pt.rows if pt.rows else None)


def test_holes_are_where_ground_truth_put_them(synthetic_faults, faults_result):
    checked = 0
    for f in synthetic_faults.truth.faults:
        if f.kind != "time_hole":
            continue
        holes = faults_result.partition(f.partition).holes
        inst = f.details["instances"]
        assert [(h.start_ns, h.end_ns) for h in holes.listed] == [
            (i["start_ns"], i["end_ns"]) for i in inst
        ]
        assert holes.longest_ns == max(i["duration_ns"] for i in inst)
        assert holes.total_ns == sum(i["duration_ns"] for i in inst)
        assert not holes.truncated
        checked += 1
    assert checked == 10
    stream = faults_result.stream("book_delta_v2/BINANCE/BTC-USDT")
    assert stream.holes.count == 2 and stream.holes.threshold_ns is None


def test_hole_thresholds_are_cadence_aware(faults_result):
    for p in faults_result.partitions:
        if p.status is not PartitionStatus.OK:
            continue
        if p.table == "trades":
            assert p.holes.threshold_ns == FAULTS_CONFIG.trades_hole_ns
        else:  # depth@100ms: median step 100 ms, threshold 10 × that
            assert p.median_step_ns == 100 * MS
            assert p.holes.threshold_ns == 1_000 * MS


def test_trades_median_step_matches_reference(synthetic_faults, faults_result):
    for pt in _written(synthetic_faults):
        if not pt.partition.startswith("trades"):
            continue
        origin, o_null, _, _ = read_raw(synthetic_faults.root, pt.path)
        ms = (origin[~o_null & (origin > 0)] + MS // 2) // MS
        steps = np.diff(ms)
        expected = nearest_rank(steps[steps > 0], 50) * MS
        assert faults_result.partition(pt.partition).median_step_ns == expected


def test_skew_percentiles_are_exact(synthetic_faults, faults_result):
    for pt in _written(synthetic_faults):
        ref = reference_skew(*read_raw(synthetic_faults.root, pt.path))
        s = faults_result.partition(pt.partition).skew
        assert s.exact and s.relative_error == 0.0
        assert s.rows == ref.skew_ns.size
        assert (s.min_ns, s.max_ns) == (int(ref.skew_ns.min()), int(ref.skew_ns.max()))
        assert [s.p50_ns, s.p90_ns, s.p95_ns, s.p99_ns] == [
            nearest_rank(ref.skew_ns, p) for p in (50, 90, 95, 99)
        ]
        for h in range(24):
            mine = ref.skew_ns[ref.hour == h]
            assert s.hourly_rows[h] == mine.size
            assert s.hourly_p95_ns[h] == (nearest_rank(mine, 95) if mine.size else None)
        assert sum(b[2] for b in s.histogram) == s.rows


def test_stream_percentiles_cover_all_days(synthetic_faults, faults_result):
    by_stream: dict[str, list] = {}
    for pt in _written(synthetic_faults):
        stream = pt.partition.rsplit("/", 1)[0]
        by_stream.setdefault(stream, []).append(
            reference_skew(*read_raw(synthetic_faults.root, pt.path)).skew_ns
        )
    assert len(by_stream) == 6
    for key, parts in by_stream.items():
        skews = np.concatenate(parts)
        s = faults_result.stream(key).skew
        assert s.rows == skews.size and s.exact
        assert s.p95_ns == nearest_rank(skews, 95) and s.p50_ns == nearest_rank(skews, 50)
        assert s.negative == int((skews < 0).sum())


def test_float_noise_order_and_ranges_match_reference(synthetic_faults, faults_result):
    for pt in _written(synthetic_faults):
        origin, o_null, received, r_null = read_raw(synthetic_faults.root, pt.path)
        ok = ~o_null & (origin > 0)
        c = faults_result.partition(pt.partition).counts
        assert c.float_noise == int((origin[ok] % MS != 0).sum())
        assert 0 < c.float_noise < c.origin_valid  # float seconds: some ms survive exactly
        assert c.received_out_of_order == int((np.diff(received[~r_null]) < 0).sum())
        assert (c.origin_min_ns, c.origin_max_ns) == (int(origin[ok].min()), int(origin[ok].max()))
        assert (c.received_min_ns, c.received_max_ns) == (int(received.min()), int(received.max()))


def test_empty_and_missing_partitions_are_reported(faults_result):
    assert faults_result.missing_partitions == (MISSING,)
    assert faults_result.empty_partitions == (EMPTY,)
    assert faults_result.unreadable_partitions == ()
    assert len(faults_result.partitions) == 11 and len(faults_result.streams) == 6
    assert (faults_result.start, faults_result.end) == (date(2024, 4, 1), date(2024, 4, 3))
    empty = faults_result.partition(EMPTY)
    assert empty.status is PartitionStatus.EMPTY and empty.counts.rows == 0
    assert empty.skew.rows == 0 and empty.skew.p95_ns is None and empty.median_step_ns is None
    trades = faults_result.stream("trades/BINANCE/ETH-USDT")
    assert trades.missing_days == (date(2024, 4, 1),) and trades.days == (date(2024, 4, 2),)
    book = faults_result.stream("book/BINANCE/ETH-USDT")
    assert book.empty_days == (date(2024, 4, 2),) and book.days == (date(2024, 4, 1),)
    assert faults_result.data_kind == "synthetic"


def test_progress_callback_and_filters(synthetic_faults):
    calls = []
    result = analyse_staging(
        synthetic_faults.root,
        ["trades"],
        FAULTS_CONFIG,
        exchange="BINANCE",
        symbols=["ETH-USDT", "SOL-USDT"],
        start=date(2024, 3, 31),
        end=date(2024, 4, 3),
        on_partition=lambda p, done, total: calls.append((p.key, done, total)),
    )
    assert calls == [("trades/BINANCE/ETH-USDT/2024-04-02", 1, 1)]
    # SOL-USDT has no file at all: missing on every day; ETH-USDT misses 03-31 and 04-01
    assert result.missing_partitions == (
        "trades/BINANCE/ETH-USDT/2024-03-31",
        "trades/BINANCE/ETH-USDT/2024-04-01",
        "trades/BINANCE/SOL-USDT/2024-03-31",
        "trades/BINANCE/SOL-USDT/2024-04-01",
        "trades/BINANCE/SOL-USDT/2024-04-02",
    )
    sol = result.stream("trades/BINANCE/SOL-USDT")
    assert sol.counts.rows == 0 and sol.recommendation.kind.value == "insufficient data"


def test_json_round_trip(faults_result):
    text = json.dumps(faults_result.to_json(), allow_nan=False)
    back = OriginTimeResult.from_json(json.loads(text))
    assert back == faults_result
    raw = json.loads(text)
    assert raw["missing_partitions"] == [MISSING] and raw["empty_partitions"] == [EMPTY]
    assert [c["status"] for c in raw["criteria"]] == [c.status.value for c in back.criteria]
    assert len(raw["recommendations"]) == 6
    part = next(p for p in raw["partitions"] if p["key"] == EMPTY)
    assert part["counts"]["origin_invalid_pct"] is None and part["skew"]["p95_ns"] is None
