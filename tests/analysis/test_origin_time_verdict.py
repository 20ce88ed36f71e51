"""Recommendations per stream and Story 1.1's criteria: the thresholds at their edges, UNKNOWN when
the data is absent, the faults scenario against a recomputation from its files, and the real
Binance recording whose receive clock runs 1.27 s behind the exchange."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np

from feedcheck.analysis import (
    OriginTimeConfig,
    OriginTimeResult,
    OriginTimeThresholds,
    RecommendationKind,
    analyse_partition,
    evaluate_criteria,
    recommend,
    rollup_stream,
)
from feedcheck.report.criteria import Status
from tests.analysis.conftest import (
    MS,
    NOW_NS,
    REAL_SPOT,
    StreamDay,
    clock_frame,
    nearest_rank,
    read_hftbacktest,
    read_raw,
    reference_skew,
)

D0 = 1_711_929_600 * 1_000_000_000
CONFIG = OriginTimeConfig(now_ns=NOW_NS)
KEY = StreamDay("trades", "BINANCE", "BTC-USDT", date(2024, 4, 1))


def stream_of(origin, received, config=CONFIG, key=KEY):
    part = analyse_partition(clock_frame(list(origin), list(received)), key, config)
    stream = rollup_stream(key.table, key.exchange, key.symbol, [part], [], config)
    return dataclasses.replace(stream, recommendation=recommend(stream, config.thresholds))


def lagged(lags_ms: list[float]) -> tuple[list[int], list[int]]:
    origin = [D0 + i * 10 * MS for i in range(len(lags_ms))]
    return origin, [o + int(lag * MS) for o, lag in zip(origin, lags_ms, strict=True)]


def result_of(*streams) -> OriginTimeResult:
    return OriginTimeResult(
        "mem", "synthetic", ("trades",), None, None, CONFIG, (), streams, (), ()
    )


def test_clean_stream_uses_origin_time():
    rec = recommend(stream_of(*lagged([5.0] * 100)))
    assert rec.kind is RecommendationKind.USE_ORIGIN and rec.stream == "trades/BINANCE/BTC-USDT"
    assert len(rec.reasons) == 3 and "p95 skew 5.0 ms is below 100.0 ms" in rec.reasons[1]
    assert rec.numbers["skew_p95_ns"] == 5 * MS and rec.numbers["origin_invalid_pct"] == 0.0


def test_missing_origin_at_the_limit_falls_back():
    origin, received = lagged([5.0] * 20)
    at_limit = stream_of([None, *origin[1:]], received)  # 1 of 20 = 5 %: not below 5 %
    assert at_limit.recommendation.kind is RecommendationKind.FALL_BACK
    assert "5 % of 20 rows (null 1, NaT 0" in at_limit.recommendation.reasons[0]
    origin, received = lagged([5.0] * 21)
    below = stream_of([None, *origin[1:]], received)  # 4.76 %
    assert below.recommendation.kind is RecommendationKind.USE_ORIGIN


def test_all_null_origin_falls_back_and_criteria_say_why():
    stream = stream_of([None] * 5, [D0 + i for i in range(5)])
    assert stream.recommendation.kind is RecommendationKind.FALL_BACK
    missing, skew, strategy = evaluate_criteria(result_of(stream))
    assert (missing.status, missing.value) == (Status.FAIL, 100.0)
    assert skew.status is Status.UNKNOWN and skew.value is None
    assert "no skew data: trades/BINANCE/BTC-USDT" in skew.evidence
    assert (strategy.status, strategy.value) == (Status.PASS, "fall back to received_time ×1")


def test_p95_at_100_ms_needs_clock_sync():
    at_limit = stream_of(*lagged([5.0] * 19 + [100.0]))  # rank 19 of 20 is the p95: 5 ms
    assert at_limit.skew.p95_ns == 5 * MS
    high = stream_of(*lagged([5.0] * 18 + [100.0] * 2))
    assert high.skew.p95_ns == 100 * MS
    assert high.recommendation.kind is RecommendationKind.CLOCK_SYNC
    assert high.recommendation.reasons == ("p95 skew 100.0 ms is at or above 100.0 ms",)
    just_below = stream_of(*lagged([5.0] * 18 + [99.999] * 2))
    assert just_below.recommendation.kind is RecommendationKind.USE_ORIGIN


def test_negative_skew_beyond_the_tolerance_needs_clock_sync():
    one = stream_of(*lagged([-1.0] + [5.0] * 999))  # 0.1 %: tolerated
    assert one.recommendation.kind is RecommendationKind.USE_ORIGIN
    two = stream_of(*lagged([-1.0] * 2 + [5.0] * 998))  # 0.2 %
    assert two.recommendation.kind is RecommendationKind.CLOCK_SYNC
    assert (
        "before origin_time on 0.2 % of rows (2; tolerance 0.1 %)" in two.recommendation.reasons[0]
    )
    strict = OriginTimeThresholds(negative_skew_max_pct=0.0)
    assert recommend(one, strict).kind is RecommendationKind.CLOCK_SYNC


def test_no_data_is_insufficient_and_unknown():
    empty = stream_of([], [])
    assert empty.recommendation.kind is RecommendationKind.INSUFFICIENT
    no_receipt = stream_of([D0, D0 + MS], [None, None])
    assert no_receipt.recommendation.kind is RecommendationKind.INSUFFICIENT
    for streams in ((), (empty,), (no_receipt,)):
        statuses = [c.status for c in evaluate_criteria(result_of(*streams))]
        assert statuses[1:] == [Status.UNKNOWN, Status.UNKNOWN]
    assert evaluate_criteria(result_of())[0].status is Status.UNKNOWN
    assert evaluate_criteria(result_of(no_receipt))[0].status is Status.PASS


def test_criteria_pass_and_fail_per_stream():
    good = stream_of(*lagged([5.0] * 100))
    slow = stream_of(*lagged([5.0] * 90 + [250.0] * 10), key=dataclasses.replace(KEY, symbol="X"))
    criteria = evaluate_criteria(result_of(good))
    assert [c.status for c in criteria] == [Status.PASS] * 3
    missing, skew, strategy = evaluate_criteria(result_of(good, slow))
    assert missing.status is Status.PASS and strategy.status is Status.PASS
    assert (skew.status, skew.value, skew.threshold, skew.unit) == (
        Status.FAIL,
        250 * MS,
        100 * MS,
        "ns",
    )
    assert "failing: trades/BINANCE/X (p95 skew 250.0 ms" in skew.evidence
    loose = OriginTimeThresholds(skew_p95_max_ns=300 * MS)
    assert evaluate_criteria(result_of(good, slow), loose)[1].status is Status.PASS


def test_faults_scenario_criteria_match_a_recomputation(synthetic_faults, faults_result):
    truth = synthetic_faults.truth
    per_stream: dict[str, list] = {}
    for pt in truth.partitions:
        if not pt.rows:
            continue
        invalid = sum(
            truth.count(pt.partition, k)
            for k in ("origin_null", "origin_nat", "origin_zero", "origin_negative")
        )
        skew = reference_skew(*read_raw(synthetic_faults.root, pt.path)).skew_ns
        per_stream.setdefault(pt.partition.rsplit("/", 1)[0], []).append((invalid, pt.rows, skew))
    worst_pct, p95s, failing = 0.0, {}, set()
    for key, parts in per_stream.items():
        worst_pct = max(worst_pct, 100.0 * sum(p[0] for p in parts) / sum(p[1] for p in parts))
        skews = np.concatenate([p[2] for p in parts])
        p95s[key] = nearest_rank(skews, 95)
        if p95s[key] >= 100 * MS or (skews < 0).mean() * 100 > 0.1:
            failing.add(key)
    missing, skew, strategy = faults_result.criteria
    assert (missing.status, missing.value) == (Status.PASS, worst_pct)
    assert skew.value == max(p95s.values())
    assert skew.status is (Status.FAIL if failing else Status.PASS)
    for s in faults_result.streams:
        expected = (
            RecommendationKind.CLOCK_SYNC if s.key in failing else RecommendationKind.USE_ORIGIN
        )
        assert s.recommendation.kind is expected
    assert strategy.status is Status.PASS


def test_real_binance_recording_needs_clock_sync():
    """tests/data/real/README.md: the recorder's clock runs ~1.27 s behind Binance `E`, so
    received − origin is negative on every row."""
    day = date(2024, 8, 8)
    config = dataclasses.replace(CONFIG, now_ns=1_767_225_600 * 10**9)  # 2026-01-01
    streams = []
    for table, (origin, received) in read_hftbacktest(REAL_SPOT).items():
        key = StreamDay(table, "BINANCE", "ETH-USDT", day)
        stream = stream_of(origin.tolist(), received.tolist(), config, key)
        skew = received - origin
        assert stream.counts.rows == origin.size and stream.counts.origin_invalid == 0
        assert stream.skew.exact and stream.skew.negative == origin.size  # every row
        assert stream.skew.p50_ns == nearest_rank(skew, 50)
        assert stream.skew.p95_ns == nearest_rank(skew, 95)
        assert round(stream.skew.p50_ns / 1e9, 2) == -1.27
        rec = stream.recommendation
        assert rec.kind is RecommendationKind.CLOCK_SYNC
        assert "before origin_time on 100 % of rows" in rec.reasons[0]
        # the file runs past midnight into 2024-08-09
        assert stream.counts.outside_day == int((origin >= 1_723_161_600 * 10**9).sum()) > 0
        streams.append(stream)
    assert [s.counts.rows for s in streams] == [3434, 6106]
    assert [s.holes.count for s in streams] == [0, 0]  # depth: 10 × 100 ms; trades: 60 min
    skew_criterion = evaluate_criteria(result_of(*streams))[1]
    assert skew_criterion.status is Status.FAIL
    assert "depth/BINANCE/ETH-USDT (received_time is before origin_time on 100 %" in (
        skew_criterion.evidence
    )
