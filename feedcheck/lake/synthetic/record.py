"""Turn what was written into ground-truth `Fault` records: file rows and per-instance details.

`FaultRecorder.observe` runs once per written chunk and resolves every fault instance that touches
the chunk to file row indices (0-based, file order). Holes and dropped messages are resolved by the
rows around them, which may sit in neighbouring chunks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from feedcheck.lake.layout import Partition
from feedcheck.lake.synthetic import tables as tb
from feedcheck.lake.synthetic.clock import origin_ms_to_ns, receipt_us_to_ns
from feedcheck.lake.synthetic.depth import DepthChunk
from feedcheck.lake.synthetic.faults import HOLE_MIN_GAP_NS, ORIGIN_KINDS
from feedcheck.lake.synthetic.inject import ChunkEvents, EventFault, Layout
from feedcheck.lake.synthetic.scenario import MAX_NATURAL_LAG_NS, SKEW_SPIKE_MIN_NS, FaultKind
from feedcheck.lake.synthetic.truth import Fault

_VALID = "valid origin = timestamp not null and > 0; origins rounded to ms"
RULES: dict[str, str] = {
    "origin_null": "rows with a null timestamp",
    "origin_nat": "rows with timestamp == int64 min (NaT)",
    "origin_zero": "rows with timestamp == 0",
    "origin_negative": "rows with timestamp < 0 and != int64 min",
    "negative_skew": f"rows with a valid origin and receipt_timestamp < timestamp ({_VALID})",
    "skew_spike": (
        "rows with a valid origin and receipt_timestamp - timestamp >= "
        f"{SKEW_SPIKE_MIN_NS} ns (natural lag < {MAX_NATURAL_LAG_NS} ns)"
    ),
    "time_hole": f"gaps >= {HOLE_MIN_GAP_NS} ns between consecutive valid origins in file order",
    "day_boundary_leak": f"rows whose ms-rounded valid origin is before the day ({_VALID})",
    "unsorted_rows": (
        "i with origin[i] < origin[i-1] over valid-origin rows in file order; a swap moves "
        f"every column except id / sequence_number ({_VALID})"
    ),
    "sequence_regression": (
        "rows i with sequence_number[i] < sequence_number[i-1]; regressed values are unique"
    ),
    "sequence_duplicate": (
        "messages (runs of equal receipt_timestamp, sequence_number) whose sequence_number "
        "equals the previous message's: a re-send right after"
    ),
    "dropped_message": "messages missing from the file (sequence jumps cannot show them)",
    "stranded_level": (
        "a best level's delete was not written and the other side took its price: a replay "
        "of the file is crossed (best bid >= best ask) for crossed_messages messages"
    ),
    "off_tick_price": "rows whose price is not a multiple of the tick (book: one cell per row)",
    "nonpositive_price": "rows whose price is <= 0 (book: one cell per row)",
    "negative_size": "rows whose size / amount is < 0 (book: one cell per row)",
    "invalid_side": f"rows whose side is not buy/sell (written as {tb.INVALID_SIDE!r})",
    "duplicate_trade_id": "rows whose id appeared in an earlier row (a trade re-sent right after)",
}


class FaultRecorder:
    """Collects the instances of one partition's faults while its chunks are written."""

    def __init__(self, partition: Partition, faults: Sequence[EventFault], tick: float):
        self.partition = partition
        self.tick = tick
        self.faults = list(faults)
        self.rows_written = 0
        self._last_row = -1
        self._last_origin_ms = 0
        self._rows: dict[int, list[int]] = {}
        self._info: dict[int, dict[str, Any]] = {}

    def observe(
        self,
        ev: ChunkEvents,
        layout: Layout,
        rows_per_pos: np.ndarray,
        prev_key: int,
        depth: DepthChunk | None = None,
    ) -> None:
        """Record one written chunk. `rows_per_pos` are the file rows of each output position,
        `prev_key` the true key of the event before the chunk, `depth` the kernel chunk (deltas)."""
        n, g0 = ev.size, ev.first
        start = self.rows_written + np.cumsum(rows_per_pos) - rows_per_pos
        event_rows = np.ones(n, dtype=np.int64) if depth is None else depth.row_count

        def rows_of(q: int) -> list[int]:
            return list(range(int(start[q]), int(start[q] + rows_per_pos[q])))

        for idx, f in enumerate(self.faults):
            lo, hi = f.first - g0, f.last - g0
            rows, info = self._rows.setdefault(idx, []), self._info.setdefault(idx, {})
            if f.kind in ("time_hole", "dropped_message"):
                self._observe_gap(
                    f, ev, layout, start, rows_per_pos, event_rows, prev_key, info, rows
                )
                continue
            if hi < 0 or lo >= n:
                continue
            q = int(layout.pos_of[lo]) if lo >= 0 else -1
            if f.kind == "day_boundary_leak":
                last = int(layout.pos_of[hi])
                rows.extend(range(int(start[q]), int(start[last] + rows_per_pos[last])))
                info["origin_ns_max"] = int(origin_ms_to_ns(layout.origin_ms[last : last + 1])[0])
            elif f.kind == "unsorted_rows":
                rows.extend([int(start[q]), int(start[q + 1])])
                info["backward_row"] = int(start[q + 1])
            elif f.kind in ("sequence_duplicate", "duplicate_trade_id"):
                rows.extend(rows_of(q + 1))
                info["key"] = int(layout.key[q + 1])
            elif f.kind == "stranded_level":
                if lo >= 0:
                    assert depth is not None
                    # the STRANDED message writes the other side's take-over of the price first
                    first_row = int(depth.row_start[lo])
                    info["price"] = float(
                        tb.to_float(depth.price_ticks[first_row : first_row + 1], self.tick)[0]
                    )
                    info["price_ticks"] = int(depth.price_ticks[first_row])
                    info["side"] = "ask" if depth.is_bid[first_row] else "bid"
                    info["sequence_number"] = int(layout.key[q])
                    rows.extend(rows_of(q))
                window = depth.crossed[max(lo, 0) : min(hi + 1, n)] if depth is not None else []
                info["crossed_messages"] = info.get("crossed_messages", 0) + int(np.sum(window))
                if hi < n:
                    info["heal_sequence_number"] = int(layout.key[layout.pos_of[hi]])
            else:
                rows.extend(rows_of(q))
                if f.kind == "sequence_regression":
                    info["sequence_number"] = int(layout.key[q])
                    info["previous"] = int(layout.key[q - 1]) if q > 0 else int(prev_key)
                elif f.kind in ("negative_skew", "skew_spike"):
                    lag = receipt_us_to_ns(layout.receipt_us[q : q + 1]) - origin_ms_to_ns(
                        layout.origin_ms[q : q + 1]
                    )
                    info["lag_ns"] = int(lag[0])
                elif self.partition.table == "book" and f.kind == "off_tick_price":
                    info["column"] = tb.book_off_tick_column(f.first)
                elif self.partition.table == "book" and f.kind == "nonpositive_price":
                    info["column"] = tb.BOOK_NONPOSITIVE_COLUMN
                elif self.partition.table == "book" and f.kind == "negative_size":
                    info["column"] = tb.BOOK_NEGATIVE_SIZE_COLUMN
        self.rows_written += int(rows_per_pos.sum())
        if layout.size:
            self._last_row = self.rows_written - 1
            self._last_origin_ms = int(layout.origin_ms[-1])

    def _observe_gap(
        self,
        f: EventFault,
        ev: ChunkEvents,
        layout: Layout,
        start: np.ndarray,
        rows_per_pos: np.ndarray,
        event_rows: np.ndarray,
        prev_key: int,
        info: dict[str, Any],
        rows: list[int],
    ) -> None:
        n, g0 = ev.size, ev.first
        lo, hi = f.first - g0, f.last - g0
        if "before_row" not in info and 0 <= lo < n:
            if lo == 0:  # the row before is the previous chunk's last
                info["before_row"], info["before_ms"] = self._last_row, self._last_origin_ms
                info["key_before"] = int(prev_key)
            else:
                q = int(layout.pos_of[lo - 1])
                info["before_row"] = int(start[q] + rows_per_pos[q] - 1)
                info["before_ms"] = int(layout.origin_ms[q])
                info["key_before"] = int(ev.key[lo - 1])
        a, b = max(lo, 0), min(hi + 1, n)
        if a < b:
            info["removed_rows"] = info.get("removed_rows", 0) + int(event_rows[a:b].sum())
            info["removed_events"] = info.get("removed_events", 0) + (b - a)
            info["key_last_removed"] = int(ev.key[b - 1])
        if 0 <= hi + 1 < n and "after_row" not in info:
            q = int(layout.pos_of[hi + 1])
            info["after_row"], info["after_ms"] = int(start[q]), int(layout.origin_ms[q])
            rows.extend([info["before_row"], info["after_row"]] if f.kind == "time_hole" else [])

    def records(self) -> list[Fault]:
        """One Fault per kind with every instance of this partition."""
        by_kind: dict[FaultKind, list[int]] = {}
        for idx, f in enumerate(self.faults):
            by_kind.setdefault(f.kind, []).append(idx)
        out = []
        for kind, idxs in by_kind.items():
            rows = sorted(r for i in idxs for r in self._rows.get(i, []))
            instances = [self._instance(self.faults[i], self._info.get(i, {})) for i in idxs]
            count = len(rows) if kind == "day_boundary_leak" else len(idxs)
            details: dict[str, Any] = {"rule": RULES[kind], "instances": instances}
            if kind == "stranded_level":
                details["crossed_messages"] = sum(i["crossed_messages"] for i in instances)
            if kind == "time_hole":
                details["min_gap_ns"] = HOLE_MIN_GAP_NS
            if kind in ORIGIN_KINDS:
                details["valid_origin"] = _VALID
            out.append(Fault(self.partition.key, kind, count, rows, details))
        return out

    @staticmethod
    def _instance(f: EventFault, info: dict[str, Any]) -> dict[str, Any]:
        if f.kind == "time_hole":
            start_ns = int(origin_ms_to_ns(np.array([info["before_ms"]]))[0])
            end_ns = int(origin_ms_to_ns(np.array([info["after_ms"]]))[0])
            return {
                "start_ns": start_ns,
                "end_ns": end_ns,
                "duration_ns": end_ns - start_ns,
                "last_row_before": info["before_row"],
                "first_row_after": info["after_row"],
                "removed_rows": info.get("removed_rows", 0),
                "removed_events": info.get("removed_events", 0),
                "ids_lost": info.get("key_last_removed", info["key_before"]) - info["key_before"],
            }
        if f.kind == "dropped_message":
            return {
                "sequence_number": info["key_last_removed"],
                "ids_lost": info["key_last_removed"] - info["key_before"],
                "rows_lost": info["removed_rows"],
                "next_row": info["after_row"],
            }
        return {k: v for k, v in info.items() if not k.endswith("_ms")}
