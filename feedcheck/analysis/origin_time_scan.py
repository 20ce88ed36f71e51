"""One partition's pass over its clocks: batches in, kernel state and gathered outputs, summaries out.

`ClockScan` owns the numba kernel's buffers (`origin_time_kernel.scan_clocks_nb`), feeds it each
polars batch as numpy arrays (nulls as a mask), keeps what must outlive a batch (steps too long for
the step histogram, hole candidates, exact skew runs) and turns the totals into results.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from feedcheck.analysis import origin_time_kernel as k
from feedcheck.analysis.origin_time_result import (
    Hole,
    HoleSummary,
    OriginCounts,
    OriginTimeConfig,
    PartitionLike,
)
from feedcheck.analysis.skew_sketch import SkewSketch, nearest_rank
from feedcheck.schemas.lake_columns import ORIGIN_RESOLUTION_NS

ORIGIN = "origin_ns"
RECEIVED = "received_ns"
_MS_PER_DAY = 86_400_000
_EPOCH = date(1970, 1, 1)


class ClockScan:
    """Kernel buffers and the outputs gathered batch by batch for one partition."""

    def __init__(self, partition: PartitionLike, config: OriginTimeConfig) -> None:
        day_ms = (partition.dt - _EPOCH).days * _MS_PER_DAY
        fixed = partition.table in config.fixed_hole_tables
        # Every depth threshold (multiple × median ms step) is >= multiple × 1 ms, so gaps below
        # that floor can never be holes and are not kept.
        floor = config.trades_hole_ns if fixed else config.hole_multiple * ORIGIN_RESOLUTION_NS
        self.params = np.array(
            [day_ms, day_ms + _MS_PER_DAY, config.now_ns, floor, config.skew_spike_ns], np.int64
        )
        self.state, self.counts = k.new_state(), k.new_counts()
        self.step_counts = np.zeros(k.STEP_BINS, dtype=np.int64)
        self.hist = np.zeros((k.HOURS, k.HIST_SLOTS), dtype=np.int64)
        self.fbuf = np.zeros(1, dtype=np.float64)
        self.ibuf = self.fbuf.view(np.int64)
        self.written = np.zeros(3, dtype=np.int64)
        self.cap = 0
        self.exact_left = config.exact_skew_max_values
        self.big: list[np.ndarray] = []
        self.holes: list[tuple[np.ndarray, np.ndarray]] = []
        self.runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = []

    def _grow(self, n: int) -> None:
        if n <= self.cap:
            return
        self.cap = n
        self.out = [np.empty(n, dtype=np.int64) for _ in range(6)]

    def batch(self, frame: pl.DataFrame) -> None:
        n = frame.height
        if n == 0:
            return
        self._grow(n)
        o_col, r_col = frame.get_column(ORIGIN), frame.get_column(RECEIVED)
        has_nulls = bool(o_col.null_count() or r_col.null_count())
        if has_nulls:
            o_null, r_null = o_col.is_null().to_numpy(), r_col.is_null().to_numpy()
            o_col, r_col = o_col.fill_null(0), r_col.fill_null(0)
        else:
            o_null = r_null = np.zeros(0, dtype=bool)
        big, h_start, h_end, r_hour, r_skew, r_weight = self.out
        k.scan_clocks_nb(
            o_col.to_numpy(),
            r_col.to_numpy(),
            o_null,
            r_null,
            has_nulls,
            self.params,
            self.state,
            self.counts,
            self.step_counts,
            big,
            h_start,
            h_end,
            self.hist,
            self.runs is not None,
            r_hour,
            r_skew,
            r_weight,
            self.fbuf,
            self.ibuf,
            self.written,
        )
        n_big, n_holes, n_runs = self.written.tolist()
        if n_big:
            self.big.append(big[:n_big].copy())
        if n_holes:
            self.holes.append((h_start[:n_holes].copy(), h_end[:n_holes].copy()))
        if self.runs is not None and n_runs:
            self.exact_left -= n_runs
            if self.exact_left < 0:
                self.runs = None  # too many distinct skews: the histogram takes over
            else:
                self.runs.append(
                    (
                        r_hour[:n_runs].astype(np.int8),
                        r_skew[:n_runs].copy(),
                        r_weight[:n_runs].copy(),
                    )
                )

    def median_step_ns(self) -> int | None:
        n = int(self.counts[k.C_STEPS])
        if n == 0:
            return None
        rank = nearest_rank(50, n)
        cum = np.cumsum(self.step_counts)
        if cum[-1] >= rank:
            return int(np.searchsorted(cum, rank)) * ORIGIN_RESOLUTION_NS
        big = np.sort(np.concatenate(self.big))
        return int(big[rank - int(cum[-1]) - 1]) * ORIGIN_RESOLUTION_NS

    def hole_summary(self, threshold_ns: int | None, max_listed: int) -> HoleSummary:
        if threshold_ns is None or not self.holes:
            return HoleSummary(threshold_ns=threshold_ns)
        start = np.concatenate([h[0] for h in self.holes])
        end = np.concatenate([h[1] for h in self.holes])
        keep = end - start >= threshold_ns
        start, end = start[keep], end[keep]
        duration = end - start
        listed = tuple(
            Hole(int(a), int(b)) for a, b in zip(start[:max_listed], end[:max_listed], strict=True)
        )
        return HoleSummary(
            threshold_ns=threshold_ns,
            count=int(start.size),
            total_ns=int(duration.sum()),
            longest_ns=int(duration.max()) if duration.size else None,
            listed=listed,
            truncated=start.size > max_listed,
        )

    def sketch(self) -> SkewSketch:
        runs = None
        if self.runs is not None:
            parts = self.runs or [
                (np.zeros(0, np.int8), np.zeros(0, np.int64), np.zeros(0, np.int64))
            ]
            runs = tuple(np.concatenate([p[i] for p in parts]) for i in range(3))
        return SkewSketch.from_scan(self.hist, runs)  # type: ignore[arg-type]

    def origin_counts(self) -> OriginCounts:
        c = self.counts.tolist()

        def extreme(slot: int, valid: int) -> int | None:
            return c[slot] if c[valid] else None

        return OriginCounts(
            rows=c[k.C_ROWS],
            origin_null=c[k.C_ORIGIN_NULL],
            origin_nat=c[k.C_ORIGIN_NAT],
            origin_zero=c[k.C_ORIGIN_ZERO],
            origin_negative=c[k.C_ORIGIN_NEGATIVE],
            origin_valid=c[k.C_ORIGIN_VALID],
            outside_day=c[k.C_OUTSIDE_DAY],
            future=c[k.C_FUTURE],
            float_noise=c[k.C_FLOAT_NOISE],
            received_null=c[k.C_RECEIVED_NULL],
            received_nat=c[k.C_RECEIVED_NAT],
            received_nonpositive=c[k.C_RECEIVED_NONPOSITIVE],
            received_valid=c[k.C_RECEIVED_VALID],
            origin_out_of_order=c[k.C_ORIGIN_OUT_OF_ORDER],
            received_out_of_order=c[k.C_RECEIVED_OUT_OF_ORDER],
            origin_min_ns=extreme(k.C_ORIGIN_MIN, k.C_ORIGIN_VALID),
            origin_max_ns=extreme(k.C_ORIGIN_MAX, k.C_ORIGIN_VALID),
            received_min_ns=extreme(k.C_RECEIVED_MIN, k.C_RECEIVED_VALID),
            received_max_ns=extreme(k.C_RECEIVED_MAX, k.C_RECEIVED_VALID),
        )
