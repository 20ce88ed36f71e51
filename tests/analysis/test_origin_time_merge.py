"""Per-partition origin-time summaries merge like one pass over all rows (issue 8, requirement 2).

What merges how, checked here against a direct numpy computation over every row:
- counts, holes, negative/spike counts, min/max: sums / min / max, exact;
- skew percentiles: exact while the stream has at most `exact_skew_max_values` distinct
  (hour, skew) runs; beyond, from the merged log histogram, within `RELATIVE_ERROR` (2**-11) × |true
  value| + 1 ns;
- the result does not depend on the order partitions were analysed or merged in;
- folded as they arrive (`OriginTimeFold`), the run holds one sketch per stream, not per partition.
"""

from __future__ import annotations

import random
import weakref
from dataclasses import replace
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from feedcheck.analysis.origin_time import (
    analyse_found_partition,
    analyse_staging,
    combine_partitions,
    plan_staging,
)
from feedcheck.analysis.origin_time_fold import OriginTimeFold
from feedcheck.analysis.origin_time_result import OriginTimeConfig
from feedcheck.analysis.skew_sketch import PERCENTILES, RELATIVE_ERROR, SkewSketch, nearest_rank
from feedcheck.errors import ConfigError
from feedcheck.lake.synthetic import generate_dataset, load_builtin_scenario

CONFIG = OriginTimeConfig(now_ns=2_000_000_000_000_000_000)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("merge-lake")
    generate_dataset(replace(load_builtin_scenario("faults"), hours_per_day=0.05), root)
    return root


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """The `faults` scenario over 5 days: streams of several partitions to fold."""
    root = tmp_path_factory.mktemp("fold-lake")
    base = load_builtin_scenario("faults")
    generate_dataset(replace(base, end=base.start + timedelta(days=5), hours_per_day=0.02), root)
    return root


def _true_percentiles(root, table: str, symbol: str) -> dict[int, int]:
    """Nearest-rank skew percentiles over every row of a stream where both clocks are valid."""
    frame = pl.read_parquet(
        root / table / "exchange=BINANCE" / f"symbol={symbol}" / "**" / "*.parquet",
        hive_partitioning=False,
    )
    o, r = frame["timestamp"], frame["receipt_timestamp"]
    ok = o.is_not_null() & r.is_not_null() & (o > 0) & (r > 0)
    skew = np.sort((r.filter(ok) - o.filter(ok)).to_numpy())
    return {p: int(skew[nearest_rank(p, skew.size) - 1]) for p in PERCENTILES}


def test_combine_in_any_order_equals_the_sequential_run(tree):
    plan = plan_staging(tree, ["trades", "book", "book_delta_v2"])
    order = plan.partitions
    random.Random(1).shuffle(order)
    results = {p: analyse_found_partition(plan.found[p], p, CONFIG) for p in order}
    combined = combine_partitions(plan, results, CONFIG)
    direct = analyse_staging(tree, ["trades", "book", "book_delta_v2"], CONFIG)
    assert combined == direct
    assert all(s.skew.exact for s in combined.streams)
    with pytest.raises(ConfigError, match="no result to combine"):
        combine_partitions(plan, dict(list(results.items())[1:]), CONFIG)


def test_exact_stream_percentiles_equal_the_percentiles_of_all_rows(tree):
    result = analyse_staging(tree, ["trades"], CONFIG, symbols=["BTC-USDT"])
    (stream,) = result.streams
    true = _true_percentiles(tree, "trades", "BTC-USDT")
    assert [stream.skew.p50_ns, stream.skew.p90_ns, stream.skew.p95_ns, stream.skew.p99_ns] == [
        true[p] for p in PERCENTILES
    ]


def test_histogram_merge_stays_within_the_stated_bound(tree):
    # Force the histogram: at most 50 exact runs per partition and stream.
    config = replace(CONFIG, exact_skew_max_values=50)
    for table in ("trades", "book_delta_v2"):
        result = analyse_staging(tree, [table], config, symbols=["ETH-USDT"])
        (stream,) = result.streams
        assert not stream.skew.exact and stream.skew.relative_error == RELATIVE_ERROR
        true = _true_percentiles(tree, table, "ETH-USDT")
        got = dict(zip(PERCENTILES, (stream.skew.p50_ns, stream.skew.p90_ns,
                                     stream.skew.p95_ns, stream.skew.p99_ns), strict=True))  # fmt: skip
        for p in PERCENTILES:
            assert abs(got[p] - true[p]) <= abs(true[p]) * RELATIVE_ERROR + 1, (table, p)


def test_sketch_merge_is_associative_and_commutative(tree):
    plan = plan_staging(tree, ["book_delta_v2"])
    sketches = [
        analyse_found_partition(plan.found[p], p, CONFIG).skew_sketch for p in plan.partitions
    ]
    assert len(sketches) >= 4
    limit = CONFIG.exact_skew_max_values
    flat = SkewSketch.merge(sketches, limit)
    grouped = SkewSketch.merge(
        [SkewSketch.merge(sketches[:2], limit), SkewSketch.merge(sketches[2:][::-1], limit)], limit
    )
    kw = dict(negative=0, spike=0, min_ns=None, max_ns=None)
    assert flat.stats(**kw) == grouped.stats(**kw)
    # the histogram alone merges the same way (what a stream falls back to)
    hist = [s.without_exact() for s in sketches]
    assert SkewSketch.merge(hist, limit).stats(**kw) == SkewSketch.merge(
        [SkewSketch.merge(hist[1:], limit), hist[0]], limit
    ).stats(**kw)


def _exact_runs(summary) -> int:
    return summary.skew_sketch.exact_skew_ns.size


class TestRunningFold:
    """`OriginTimeFold`: partitions folded as they arrive hold one sketch per stream and give the
    sequential result in any order, on both sides of the exact limit."""

    def test_one_sketch_per_stream_after_every_partition_of_it(self, week):
        plan = plan_staging(week, ["book_delta_v2"], symbols=["BTC-USDT"])
        todo = plan.partitions
        assert len(todo) == 5  # one stream, several days
        fold = OriginTimeFold(plan, CONFIG)
        freed = []
        for n, part in enumerate(todo, start=1):
            summary = analyse_found_partition(plan.found[part], part, CONFIG)
            freed.append(weakref.ref(summary.skew_sketch))
            fold.add(part, summary)
            del summary
            held = fold.held_sketches()
            assert list(held) == [("book_delta_v2", "BINANCE", "BTC-USDT")]
            assert fold.folded == n
            # every partition's own sketch is gone but the last one, which is the stream's
            # running sketch when it is the first (nothing to merge with yet)
            alive = [r() for r in freed if r() is not None]
            assert alive == ([] if n > 1 else [held["book_delta_v2", "BINANCE", "BTC-USDT"]])
            del held, alive  # the test's own references, not the fold's
        (sketch,) = fold.held_sketches().values()
        assert sketch.rows == sum(p.skew.rows for p in fold.result().partitions)
        assert all(p.skew_sketch is None for p in fold.result().partitions)

    def test_at_most_one_sketch_per_stream_over_a_whole_tree(self, week):
        tables = ["trades", "book", "book_delta_v2"]
        plan = plan_staging(week, tables)
        fold = OriginTimeFold(plan, CONFIG)
        for part in plan.partitions:
            fold.add(part, analyse_found_partition(plan.found[part], part, CONFIG))
            assert len(fold.held_sketches()) <= len(plan.streams)
        assert len(plan.partitions) > len(plan.streams)
        assert fold.result() == analyse_staging(week, tables, CONFIG)

    @pytest.mark.parametrize("limit", ["per-partition max", "stream total", "default"])
    def test_any_order_gives_the_sequential_result(self, week, limit):
        # "per-partition max": every partition exact, the stream not (it crosses the limit
        # part-way through the fold); "stream total": exact to the last run; "default": exact.
        tables = ["trades", "book_delta_v2"]
        plan = plan_staging(week, tables, symbols=["ETH-USDT"])
        sizes = [_exact_runs(analyse_found_partition(plan.found[p], p, CONFIG))
                 for p in plan.partitions if p.table == "book_delta_v2"]  # fmt: skip
        assert len(sizes) >= 3 and min(sizes) > 0
        values = {"per-partition max": max(sizes), "stream total": sum(sizes)}
        config = replace(
            CONFIG, exact_skew_max_values=values.get(limit, CONFIG.exact_skew_max_values)
        )
        summaries = {p: analyse_found_partition(plan.found[p], p, config) for p in plan.partitions}
        sequential = combine_partitions(plan, summaries, config)
        delta = sequential.stream("book_delta_v2/BINANCE/ETH-USDT").skew
        assert delta.exact is (limit != "per-partition max")
        assert all(s.skew_sketch.exact for s in summaries.values() if s.table == "book_delta_v2")
        for seed in range(4):
            order = list(plan.partitions)
            random.Random(seed).shuffle(order)
            fold = OriginTimeFold(plan, config)
            for part in order:
                fold.add(part, summaries[part])
            got = fold.result()
            assert got == sequential
            assert got.to_json() == sequential.to_json()
        assert sequential == analyse_staging(week, tables, config, symbols=["ETH-USDT"])

    def test_refuses_what_would_corrupt_the_rollup(self, week):
        plan = plan_staging(week, ["trades"], symbols=["BTC-USDT"])
        part, other = plan.partitions[:2]
        summary = analyse_found_partition(plan.found[part], part, CONFIG)
        fold = OriginTimeFold(plan, CONFIG)
        fold.add(part, summary)
        with pytest.raises(ConfigError, match="already folded"):
            fold.add(part, summary)
        with pytest.raises(ConfigError, match="no skew sketch"):
            fold.add(other, replace(summary, skew_sketch=None))
        with pytest.raises(ConfigError, match="planned but no result"):
            fold.result()
        stranger = replace(part, symbol="XRP-USDT")
        with pytest.raises(ConfigError, match="not in the plan"):
            fold.add(stranger, summary)
