"""Apply a partition's planned faults to one chunk of events, as whole-column operations.

An event is one depth message (`book`: one row, `book_delta_v2`: its rows) or one trade. A chunk's
events arrive in stream order with their true clocks and order key (`sequence_number` / `id`);
`layout_chunk` returns the file order (`Layout.src`: which event fills each output position) with
the written clocks, keys and per-position fault flags. Table builders then gather payload columns
through `src`. See `faults.py` for what each kind does and how an analysis counts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from feedcheck.lake.synthetic import book_kernel as bk
from feedcheck.lake.synthetic.faults import (
    LEAK_BEFORE_MIDNIGHT_MS,
    ORIGIN_KINDS,
    ROW_KINDS,
    PartitionPlan,
)
from feedcheck.lake.synthetic.scenario import SKEW_SPIKE_MIN_NS, FaultKind

ORIGIN_OK, ORIGIN_NULL, ORIGIN_NAT, ORIGIN_ZERO, ORIGIN_NEGATIVE = 0, 1, 2, 3, 4
_ORIGIN_FLAG = dict(
    zip(ORIGIN_KINDS, (ORIGIN_NULL, ORIGIN_NAT, ORIGIN_ZERO, ORIGIN_NEGATIVE), strict=True)
)
VALUE_OK, VALUE_OFF_TICK, VALUE_NONPOSITIVE, VALUE_NEGATIVE_SIZE, VALUE_INVALID_SIDE = 0, 1, 2, 3, 4
_VALUE_FLAG = {
    "off_tick_price": VALUE_OFF_TICK,
    "nonpositive_price": VALUE_NONPOSITIVE,
    "negative_size": VALUE_NEGATIVE_SIZE,
    "invalid_side": VALUE_INVALID_SIDE,
}
#: A re-sent message/trade arrives this much after the original (µs).
RESEND_DELAY_US = (2_000, 30_000)
#: Negative skew puts receipt this far before the origin (µs).
NEGATIVE_SKEW_US = (1_000, 40_000)
#: Spikes put receipt this far after the origin (µs): from SKEW_SPIKE_MIN_NS + 1 ms.
SPIKE_EXTRA_US = (1_000, 1_500_000)


@dataclass(frozen=True)
class EventFault:
    """One fault instance on events `first .. last` (day indices of messages or trades)."""

    kind: FaultKind
    ordinal: int
    first: int
    last: int


@dataclass(frozen=True)
class ChunkEvents:
    first: int  # day index of event 0
    day_start_ms: int
    origin_ms: np.ndarray  # int64 true exchange ms
    receipt_us: np.ndarray  # int64 natural receipt µs
    key: np.ndarray  # int64 sequence_number / id

    @property
    def size(self) -> int:
        return int(self.key.size)


@dataclass(frozen=True)
class Layout:
    """File order of one chunk. `pos_of[e]` is the first output position of event e, or for a
    removed event the position the next kept event takes."""

    src: np.ndarray
    key: np.ndarray
    origin_ms: np.ndarray
    receipt_us: np.ndarray
    origin_flag: np.ndarray  # int8 ORIGIN_*
    value_flag: np.ndarray  # int8 VALUE_*
    pos_of: np.ndarray
    is_copy: np.ndarray  # bool: a re-sent duplicate

    @property
    def size(self) -> int:
        return int(self.src.size)


def depth_event_faults(plan: PartitionPlan) -> list[EventFault]:
    """Depth tables: events are messages, so windows map one to one."""
    out = [EventFault(i.kind, i.ordinal, i.first, i.last) for i in plan.injections]
    if plan.leak:
        out.append(EventFault("day_boundary_leak", 0, 0, plan.leak - 1))
    return out


def depth_modes(
    delta: PartitionPlan | None, book: PartitionPlan | None, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Kernel message modes for the day (from the book_delta_v2 plan) and the no-cut flags (pairs
    that must share a chunk, from both depth plans)."""
    modes = np.zeros(n, dtype=np.int8)
    no_cut = np.zeros(n, dtype=np.uint8)
    for plan in (p for p in (delta, book) if p is not None):
        for inj in plan.of_kind("unsorted_rows"):
            no_cut[inj.first] = 1
        no_cut[: max(plan.leak - 1, 0)] = 1  # leaked messages (one row each) share the first chunk
    if delta is None:
        return modes, no_cut
    modes[: delta.leak] = bk.MODE_SINGLE
    for inj in delta.injections:
        if inj.kind in ("off_tick_price", "nonpositive_price", "negative_size"):
            modes[inj.first] = bk.MODE_FAR_NOOP
        elif inj.kind in ROW_KINDS or inj.kind == "unsorted_rows":
            modes[inj.first : inj.last + 1] = bk.MODE_SINGLE
        elif inj.kind in ("sequence_regression", "dropped_message", "time_hole"):
            modes[inj.first : inj.last + 1] = bk.MODE_FROZEN
        elif inj.kind == "stranded_level":
            modes[inj.first] = (
                bk.MODE_STRANDED_BID if inj.ordinal % 2 == 0 else bk.MODE_STRANDED_ASK
            )
            modes[inj.last] = bk.MODE_HEAL
    return modes, no_cut


def force_trade_counts(plan: PartitionPlan, counts: np.ndarray) -> None:
    """Give every trade fault window (and its neighbour buckets) the trades it needs; in place."""
    if plan.leak:
        counts[0] = plan.leak
    for inj in plan.injections:
        counts[inj.first - 1] = max(counts[inj.first - 1], 1)
        counts[inj.last + 1] = max(counts[inj.last + 1], 1)
        if inj.kind != "time_hole":
            counts[inj.first : inj.last + 1] = np.maximum(counts[inj.first : inj.last + 1], 1)


def trade_event_faults(plan: PartitionPlan, counts: np.ndarray) -> list[EventFault]:
    """Trades: map bucket windows to trade indices (first trade of a bucket; a swap takes the last
    trade of its first bucket and the first of the next; a hole all trades of its buckets)."""
    start = np.concatenate(([0], np.cumsum(counts)))
    out = []
    for i in plan.injections:
        if i.kind == "unsorted_rows":
            t = int(start[i.first + 1]) - 1
            out.append(EventFault(i.kind, i.ordinal, t, t + 1))
        elif i.kind == "time_hole":
            out.append(
                EventFault(i.kind, i.ordinal, int(start[i.first]), int(start[i.last + 1]) - 1)
            )
        else:
            t = int(start[i.first])
            out.append(EventFault(i.kind, i.ordinal, t, t))
    if plan.leak:
        out.append(EventFault("day_boundary_leak", 0, 0, plan.leak - 1))
    return out


def layout_chunk(
    ev: ChunkEvents, faults: Sequence[EventFault], prev_key: int, rng: np.random.Generator
) -> Layout:
    """File order and written clocks/keys of one chunk.

    `faults` are the partition's faults; those outside the chunk are ignored. A fault window never
    straddles a chunk boundary except holes (removal is per event) and stranded windows (handled
    by the kernel). `prev_key` is the key of the event before the chunk.
    """
    n, g0 = ev.size, ev.first
    origin, receipt, key = ev.origin_ms.copy(), ev.receipt_us.copy(), ev.key.copy()
    keep = np.ones(n, dtype=bool)
    dup = np.zeros(n, dtype=bool)
    oflag = np.zeros(n, dtype=np.int8)
    vflag = np.zeros(n, dtype=np.int8)
    swaps: list[int] = []
    for f in faults:
        lo, hi = f.first - g0, f.last - g0
        if hi < 0 or lo >= n:
            continue
        if f.kind == "day_boundary_leak":
            assert lo == 0 and hi < n, "leaked events must all sit in the day's first chunk"
            shift = origin[hi] - ev.day_start_ms + LEAK_BEFORE_MIDNIGHT_MS
            origin[lo : hi + 1] -= shift
            receipt[lo : hi + 1] -= shift * 1000
        elif f.kind in _ORIGIN_FLAG:
            oflag[lo] = _ORIGIN_FLAG[f.kind]
        elif f.kind in _VALUE_FLAG:
            vflag[lo] = _VALUE_FLAG[f.kind]
        elif f.kind == "negative_skew":
            receipt[lo] = origin[lo] * 1000 - rng.integers(*NEGATIVE_SKEW_US)
        elif f.kind == "skew_spike":
            receipt[lo] = (
                origin[lo] * 1000 + SKEW_SPIKE_MIN_NS // 1000 + rng.integers(*SPIKE_EXTRA_US)
            )
        elif f.kind in ("sequence_duplicate", "duplicate_trade_id"):
            dup[lo] = True
        elif f.kind == "sequence_regression":
            key[lo] = (key[lo - 1] if lo > 0 else prev_key) - 1
        elif f.kind in ("dropped_message", "time_hole"):
            keep[max(lo, 0) : min(hi + 1, n)] = False
        elif f.kind == "unsorted_rows":
            swaps.append(lo)
    rep = keep.astype(np.int64) + dup
    pos_end = np.cumsum(rep)
    pos_of = pos_end - rep
    src = np.repeat(np.arange(n, dtype=np.int64), rep)
    is_copy = np.zeros(src.size, dtype=bool)
    is_copy[1:] = src[1:] == src[:-1]
    out_receipt = receipt[src]
    out_receipt[is_copy] += rng.integers(*RESEND_DELAY_US, int(is_copy.sum()))
    out = [src, origin[src], out_receipt, oflag[src], vflag[src]]
    for e in swaps:
        q = pos_of[e]
        for arr in out:
            arr[q], arr[q + 1] = arr[q + 1], arr[q]
    return Layout(
        out[0], key[np.repeat(np.arange(n), rep)], out[1], out[2], out[3], out[4], pos_of, is_copy
    )
