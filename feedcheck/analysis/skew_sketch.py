"""The distribution of received − origin skew per UTC hour: exact while small, a log histogram always.

A `SkewSketch` holds two views of the same skews (int64 ns):

- a log histogram (always): each power of two of |skew| is split into 2**`HIST_BITS` buckets,
  negative skews mirrored, per UTC hour of day. A quantile read from it is the integer nearest
  the middle of the bucket that holds the wanted rank, clamped to the exact min/max, so its error
  is at most `RELATIVE_ERROR` (2**-11, about 0.05 %) of the true value, plus 1 ns: 50 µs at 100 ms.
- exact `(hour, skew, count)` triples, kept while there are at most `max_exact_values` of them.
  Rows of one `book_delta_v2` message share both clocks, so a day of ~100 M delta rows is ~0.9 M
  triples and stays exact; a day of several million trades falls back to the histogram.

Quantiles are nearest-rank: the p-th percentile of n values is the value at 1-based rank
ceil(p·n/100) in ascending order (numpy's `method="inverted_cdf"`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from feedcheck.analysis.origin_time_kernel import (
    HIST_BITS,
    HIST_OFFSET,
    HIST_SLOTS,
    HOURS,
    slot_bounds,
)

#: Percentiles reported for every stream and partition.
PERCENTILES = (50, 90, 95, 99)
#: Largest relative error of a histogram quantile (half a bucket), before the 1 ns rounding.
RELATIVE_ERROR = 2.0 ** -(HIST_BITS + 1)
#: The coarse histogram kept in results for plots: 2**COARSE_BITS buckets per power of two.
COARSE_BITS = 2


def nearest_rank(pct: int, n: int) -> int:
    """1-based rank of the `pct`-th percentile of `n` values (integer arithmetic, no float error)."""
    return max(1, -(-pct * n // 100))


@dataclass(frozen=True)
class SkewStats:
    """Summary of the skew (received − origin, ns) over rows where both clocks are valid.

    `p*_ns` and `hourly_p95_ns` are nearest-rank percentiles; exact when `exact`, else within
    `relative_error` of the true value (+1 ns). `hourly_*` are indexed by UTC hour of the origin.
    `histogram` is a coarse log histogram `(lo_ns, hi_ns, rows)` (inclusive bounds) for plots.
    `negative` and `spike` (>= the config's spike threshold) are exact row counts.
    """

    rows: int
    negative: int
    spike: int
    min_ns: int | None
    max_ns: int | None
    p50_ns: int | None
    p90_ns: int | None
    p95_ns: int | None
    p99_ns: int | None
    hourly_rows: tuple[int, ...]
    hourly_p95_ns: tuple[int | None, ...]
    exact: bool
    relative_error: float
    histogram: tuple[tuple[int, int, int], ...]

    @property
    def negative_pct(self) -> float | None:
        return 100.0 * self.negative / self.rows if self.rows else None

    def to_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["hourly_rows"] = list(self.hourly_rows)
        out["hourly_p95_ns"] = list(self.hourly_p95_ns)
        out["histogram"] = [list(b) for b in self.histogram]
        out["negative_pct"] = self.negative_pct
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SkewStats:
        kw = {k: raw[k] for k in cls.__dataclass_fields__}
        kw["hourly_rows"] = tuple(kw["hourly_rows"])
        kw["hourly_p95_ns"] = tuple(kw["hourly_p95_ns"])
        kw["histogram"] = tuple(tuple(b) for b in kw["histogram"])
        return cls(**kw)


@dataclass(frozen=True, eq=False)
class SkewSketch:
    """Skews per UTC hour. `hist_key` = hour * HIST_SLOTS + slot, sorted, with `hist_count` > 0;
    `exact_*` are (hour, skew, rows) runs in no particular order, or None once more than the exact
    limit were seen (a skew may appear in several runs)."""

    hist_key: np.ndarray
    hist_count: np.ndarray
    exact_hour: np.ndarray | None
    exact_skew_ns: np.ndarray | None
    exact_count: np.ndarray | None

    @property
    def exact(self) -> bool:
        return self.exact_skew_ns is not None

    @property
    def rows(self) -> int:
        return int(self.hist_count.sum())

    @classmethod
    def from_scan(
        cls,
        dense_hist: np.ndarray,
        runs: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    ) -> SkewSketch:
        """From the kernel's dense `(HOURS, HIST_SLOTS)` histogram and its exact runs (or None)."""
        flat = dense_hist.reshape(-1)
        key = np.flatnonzero(flat)
        exact = runs if runs is not None else (None, None, None)
        return cls(key.astype(np.int64), flat[key], *exact)

    @classmethod
    def empty(cls) -> SkewSketch:
        """No skews at all (exact, so merging it keeps a stream exact)."""
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none, np.zeros(0, dtype=np.int8), none, none)

    @classmethod
    def merge(cls, sketches: Sequence[SkewSketch], max_exact_values: int) -> SkewSketch:
        """One sketch of all skews; exact only if every input is and the result fits the limit."""
        keys = np.concatenate([s.hist_key for s in sketches] or [np.zeros(0, np.int64)])
        counts = np.concatenate([s.hist_count for s in sketches] or [np.zeros(0, np.int64)])
        key, inverse = np.unique(keys, return_inverse=True)
        total = np.zeros(key.size, dtype=np.int64)
        np.add.at(total, inverse, counts)
        exact: tuple[Any, Any, Any] = (None, None, None)
        if all(s.exact for s in sketches):
            size = sum(s.exact_skew_ns.size for s in sketches)  # type: ignore[union-attr]
            if size <= max_exact_values:
                exact = tuple(
                    np.concatenate([getattr(s, f) for s in sketches] or [np.zeros(0, np.int64)])
                    for f in ("exact_hour", "exact_skew_ns", "exact_count")
                )
        return cls(key, total, *exact)

    def without_exact(self) -> SkewSketch:
        """The histogram alone (small: a few thousand buckets at most)."""
        return SkewSketch(self.hist_key, self.hist_count, None, None, None)

    def stats(
        self, *, negative: int, spike: int, min_ns: int | None, max_ns: int | None
    ) -> SkewStats:
        """Percentiles overall and per hour, plus the coarse plot histogram. `negative`, `spike`,
        `min_ns`, `max_ns` are the exact figures counted alongside (kept as given)."""
        hours = self.hist_key // HIST_SLOTS
        slots = self.hist_key % HIST_SLOTS
        hourly_rows = np.bincount(hours, weights=self.hist_count, minlength=HOURS).astype(np.int64)
        n = int(hourly_rows.sum())
        if self.exact:
            overall, hourly = self._exact_quantiles(n, hourly_rows)
        else:
            all_slots = np.bincount(slots, weights=self.hist_count, minlength=HIST_SLOTS)
            overall = _hist_quantiles(all_slots.astype(np.int64), n, min_ns, max_ns)
            hourly = []
            for h in range(HOURS):
                mine = hours == h
                dense = np.zeros(HIST_SLOTS, dtype=np.int64)
                dense[slots[mine]] = self.hist_count[mine]
                rows_h = int(hourly_rows[h])
                hourly.append(
                    _hist_quantiles(dense, rows_h, min_ns, max_ns)[95] if rows_h else None
                )
        return SkewStats(
            rows=n,
            negative=negative,
            spike=spike,
            min_ns=min_ns,
            max_ns=max_ns,
            p50_ns=overall[50],
            p90_ns=overall[90],
            p95_ns=overall[95],
            p99_ns=overall[99],
            hourly_rows=tuple(int(x) for x in hourly_rows),
            hourly_p95_ns=tuple(hourly),
            exact=self.exact,
            relative_error=0.0 if self.exact else RELATIVE_ERROR,
            histogram=self._coarse(slots),
        )

    def _exact_quantiles(
        self, n: int, hourly_rows: np.ndarray
    ) -> tuple[dict[int, int | None], list[int | None]]:
        """Overall percentiles and hourly p95 from one sort of the exact runs by skew."""
        assert self.exact_hour is not None and self.exact_skew_ns is not None
        assert self.exact_count is not None
        if n == 0:
            return dict.fromkeys(PERCENTILES), [None] * HOURS
        order = np.argsort(self.exact_skew_ns)
        skew, count = self.exact_skew_ns[order], self.exact_count[order]
        cum = np.cumsum(count)
        overall = {p: int(skew[np.searchsorted(cum, nearest_rank(p, n))]) for p in PERCENTILES}
        hour = self.exact_hour[order]
        hourly: list[int | None] = []
        for h in range(HOURS):
            if not hourly_rows[h]:
                hourly.append(None)
                continue
            mine = hour == h  # skews of one hour, still in ascending order
            cum_h = np.cumsum(count[mine])
            rank = nearest_rank(95, int(hourly_rows[h]))
            hourly.append(int(skew[mine][np.searchsorted(cum_h, rank)]))
        return overall, hourly

    def _coarse(self, slots: np.ndarray) -> tuple[tuple[int, int, int], ...]:
        """Fine slots folded to 2**COARSE_BITS buckets per power of two, with integer bounds."""
        idx = slots - HIST_OFFSET
        mag = np.abs(idx)
        shift = HIST_BITS - COARSE_BITS
        coarse = np.where(mag == 0, 0, ((mag - 1) >> shift) + 1) * np.sign(idx)
        key, inverse = np.unique(coarse, return_inverse=True)
        total = np.zeros(key.size, dtype=np.int64)
        np.add.at(total, inverse, self.hist_count)
        out = []
        for k, c in zip(key.tolist(), total.tolist(), strict=True):
            if k == 0:
                out.append((0, 0, c))
                continue
            first_fine = (abs(k) - 1) * (1 << shift) + 1
            last_fine = abs(k) * (1 << shift)
            lo, _ = slot_bounds(np.array([HIST_OFFSET + first_fine]))
            _, hi = slot_bounds(np.array([HIST_OFFSET + last_fine]))
            a, b = int(lo[0]), int(hi[0])
            out.append((a, b, c) if k > 0 else (-b, -a, c))
        return tuple(out)


def _hist_quantiles(
    dense: np.ndarray, n: int, min_ns: int | None, max_ns: int | None
) -> dict[int, int | None]:
    if n == 0:
        return dict.fromkeys(PERCENTILES)
    cum = np.cumsum(dense)
    out: dict[int, int | None] = {}
    for p in PERCENTILES:
        slot = int(np.searchsorted(cum, nearest_rank(p, n)))
        lo, hi = (int(v[0]) for v in slot_bounds(np.array([slot])))
        value = (lo + hi) // 2
        if min_ns is not None:
            value = max(value, min_ns)
        if max_ns is not None:
            value = min(value, max_ns)
        out[p] = value
    return out
