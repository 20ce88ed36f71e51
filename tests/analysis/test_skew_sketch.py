"""The skew histogram's buckets: every integer lands in a bucket whose bounds hold it, buckets are
ordered like the values, and their width respects the documented relative error."""

from __future__ import annotations

import numpy as np

from feedcheck.analysis import origin_time_kernel as k
from feedcheck.analysis.skew_sketch import RELATIVE_ERROR, SkewSketch, nearest_rank


def _values() -> np.ndarray:
    rng = np.random.default_rng(3)
    edges = [0, 1, 2, 1023, 1024, 1025, 2047, 2048, 4097, 10**9, 2**53, 2**62]
    mags = np.concatenate([np.array(edges), rng.integers(1, 2**40, 2_000)])
    return np.unique(np.concatenate([mags, -mags]))


def test_every_value_lies_within_its_slot_bounds():
    values = _values()
    slots = k.hist_slot(values)
    lo, hi = k.slot_bounds(slots)
    assert np.all(lo <= values) and np.all(values <= hi)
    assert np.all(np.diff(slots) >= 0)  # slot order is value order
    assert slots.min() >= 0 and slots.max() < k.HIST_SLOTS
    assert k.hist_slot(np.array([0]))[0] == k.HIST_OFFSET


def test_bucket_width_gives_the_stated_error():
    values = _values()
    lo, hi = k.slot_bounds(k.hist_slot(values))
    middle = lo + (hi - lo) // 2
    # the middle of a bucket is within RELATIVE_ERROR of anything in it, plus 1 ns rounding
    assert np.all(np.abs(middle - values) <= np.abs(values) * RELATIVE_ERROR + 1)
    small = np.abs(values) <= 1 << k.HIST_BITS
    assert np.all(lo[small] == hi[small])  # small skews get a bucket of their own: exact


def test_nearest_rank():
    assert [nearest_rank(p, 20) for p in (50, 90, 95, 99)] == [10, 18, 19, 20]
    assert nearest_rank(95, 1) == 1 and nearest_rank(50, 3) == 2 and nearest_rank(0, 5) == 1


def test_merge_keeps_exact_values_up_to_the_limit():
    hist = np.zeros((k.HOURS, k.HIST_SLOTS), dtype=np.int64)
    skews = np.array([5, -3, 7], dtype=np.int64)
    hist[2, k.hist_slot(skews)] = 1
    runs = (np.array([2, 2, 2], np.int8), skews, np.ones(3, np.int64))
    one = SkewSketch.from_scan(hist, runs)
    both = SkewSketch.merge([one, one], max_exact_values=6)
    assert both.exact and both.rows == 6
    stats = both.stats(negative=2, spike=0, min_ns=-3, max_ns=7)
    assert (stats.p50_ns, stats.p99_ns, stats.hourly_p95_ns[2], stats.hourly_rows[2]) == (
        5,
        7,
        7,
        6,
    )
    assert not SkewSketch.merge([one, one], max_exact_values=5).exact
    assert not SkewSketch.merge([one, one.without_exact()], max_exact_values=100).exact
