"""Order-book reconstruction engine: apply columnar level updates message by message.

Input is columnar (NumPy): per row a side (`is_bid`), a price in int64 ticks and an absolute size
in int64 lots (0 or less deletes the level; deleting a level the book does not hold is normal and
counted), plus message boundaries `msg_starts` (first row of each message, then the row count).
A message is applied whole before its outputs are taken, as Lake's own `OrderBookUpdater` applies
one equal-`received_time` group at a time. Per message the engine emits best bid/ask price (ticks)
and size (lots), optionally the top N levels, and a crossed flag (best bid >= best ask, both sides
present). Runs of crossed messages are the stranded-level episodes: a level that outlived its
delete and sits at or through the opposite best.

Book structure: per side a dense int64 lots array indexed by (key - base), key = price ticks on
the bid side and -price on the ask side, so on both the best is the highest live index. A set is
O(1); the best index is kept as a running pointer that moves up on a better add and scans down
only when the best level is deleted (to the next live level); top N scans down from the best and
stops after the side's last live level. A message whose adds fall outside a side's window stops
the kernel before it is applied; the window is then re-centred / doubled around the live levels
plus those adds (levels copied exactly) and the kernel resumes, so a message is never half
applied. Deletes outside the window are absent deletes. A side that would need more than
`_MAX_SPAN` ticks (32 MiB) moves the whole book, exactly and for good, to the previous structure:
a sorted int64 key array per side with the best at the tail (capacity doubled between messages).
Measured (`bench/bench_book.py`, 8 M rows/h synthetic hour, ~700 live levels a side): sorted
arrays 5.2 M level updates/s (shifts for updates deep in the book); dense window 47 M/s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from feedcheck.book import engine_kernel as k
from feedcheck.book.ticks import float_to_steps
from feedcheck.errors import ConfigError, DataError, SchemaMismatchError

NO_BID = k.NO_BID
NO_ASK = k.NO_ASK
#: Raw book_delta_v2 columns the engine reads.
DELTA_COLUMNS = ("receipt_timestamp", "sequence_number", "side_is_bid", "price", "size")
LAKE_BOOK_DEPTH = 20
_MIN_CAPACITY = 1024
#: Widest dense window (ticks) a side may need before the book goes sorted (8 B a tick).
_MAX_SPAN = 1 << 22


@dataclass(frozen=True)
class BookSeed:
    """A full book to start from: prices in ticks, sizes in lots, any order, sizes > 0 kept."""

    bid_px: np.ndarray
    bid_lots: np.ndarray
    ask_px: np.ndarray
    ask_lots: np.ndarray

    @classmethod
    def empty(cls) -> BookSeed:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, z)

    @classmethod
    def from_levels(
        cls, bids: Iterable[tuple[int, int]], asks: Iterable[tuple[int, int]]
    ) -> BookSeed:
        """From (price_ticks, qty_lots) pairs, e.g. a REST depth snapshot's levels."""
        b = np.array(list(bids), dtype=np.int64).reshape(-1, 2)
        a = np.array(list(asks), dtype=np.int64).reshape(-1, 2)
        return cls(b[:, 0], b[:, 1], a[:, 0], a[:, 1])

    @classmethod
    def from_lake_book_row(cls, row: Mapping[str, float], tick: float, lot: float) -> BookSeed:
        """From one Lake `book` row (`bid_{i}_price`, `bid_{i}_size`, … for i < 20, floats).

        Levels with a NaN/null price or a size that rounds to 0 lots are skipped; only the top 20
        are known, so deeper levels appear as the deltas touch them.

        Raises:
            SchemaMismatchError: a level column is missing from `row`.
            DataError: a level beyond int64 at this tick/lot (`ticks.float_to_steps`).
        """
        out: list[np.ndarray] = []
        for side in ("bid", "ask"):
            cols = [f"{side}_{i}_{f}" for i in range(LAKE_BOOK_DEPTH) for f in ("price", "size")]
            missing = [c for c in cols if c not in row]
            if missing:
                raise SchemaMismatchError(
                    "lake book row", "level column missing", missing[0], "book schema", "absent"
                )
            vals = np.array([np.nan if row[c] is None else row[c] for c in cols], dtype=np.float64)
            px, size = vals[0::2], vals[1::2]
            ok = np.isfinite(px) & np.isfinite(size)
            px_t = float_to_steps(px[ok], tick, column=f"{side}_price", source="lake book row")
            lots = float_to_steps(size[ok], lot, column=f"{side}_size", source="lake book row")
            px_t, lots = px_t.values, lots.values
            keep = lots > 0
            out += [px_t[keep], lots[keep]]
        return cls(*out)

    def levels(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids best first, asks best first) as (price_ticks, qty_lots) lists."""
        b = sorted(zip(self.bid_px.tolist(), self.bid_lots.tolist(), strict=True), reverse=True)
        a = sorted(zip(self.ask_px.tolist(), self.ask_lots.tolist(), strict=True))
        return b, a


@dataclass(frozen=True)
class BookCounters:
    """Row outcomes since the engine was created: rows = adds + changes + deletes + absent."""

    rows: int
    adds: int
    changes: int
    deletes: int
    absent_deletes: int
    negative_sizes: int


@dataclass(frozen=True)
class MessageBest:
    """Per-message outputs of one batch (index = message). Ticks and lots, NO_BID/NO_ASK when a
    side is empty. `top_*` are (messages, N) arrays, best first, or None when N == 0."""

    bid_px: np.ndarray
    bid_lots: np.ndarray
    ask_px: np.ndarray
    ask_lots: np.ndarray
    crossed: np.ndarray  # bool
    top_bid_px: np.ndarray | None = None
    top_bid_lots: np.ndarray | None = None
    top_ask_px: np.ndarray | None = None
    top_ask_lots: np.ndarray | None = None


class BookEngine:
    """Mutable book state driven by `apply`; one instance per instrument stream.

    Dense mode (default): per side a lots array indexed by key - base (see module docstring).
    When the live levels plus a message's adds would span more than `_MAX_SPAN` ticks on a side,
    the book moves, exactly, to sorted-array mode for good.
    """

    def __init__(self, seed: BookSeed | None = None, top_n: int = 0) -> None:
        if top_n < 0:
            raise ConfigError(f"top_n must be >= 0, got {top_n}")
        self.top_n = top_n
        self._state = np.zeros(k.N_STATE, dtype=np.int64)
        self._dense_state = np.array([0, 0, -1, -1], dtype=np.int64)
        self._dense = True
        self._bid_dense = np.zeros(0, dtype=np.int64)
        self._ask_dense = np.zeros(0, dtype=np.int64)
        self._bid_keys = np.zeros(_MIN_CAPACITY, dtype=np.int64)
        self._bid_lots = np.zeros(_MIN_CAPACITY, dtype=np.int64)
        self._ask_keys = np.zeros(_MIN_CAPACITY, dtype=np.int64)
        self._ask_lots = np.zeros(_MIN_CAPACITY, dtype=np.int64)
        if seed is not None:
            self.load(seed)

    def load(self, seed: BookSeed) -> None:
        """Replace the book with `seed` (counters kept). Duplicate prices: the last one wins."""
        sides = (
            (np.asarray(seed.bid_px, np.int64), np.asarray(seed.bid_lots, np.int64)),
            (-np.asarray(seed.ask_px, np.int64), np.asarray(seed.ask_lots, np.int64)),
        )
        if self._dense:
            self._bid_dense = np.zeros(0, dtype=np.int64)
            self._ask_dense = np.zeros(0, dtype=np.int64)
            self._dense_state[:] = (0, 0, -1, -1)
            self._state[k.S_N_BID] = self._state[k.S_N_ASK] = 0
        for slot, (keys, lots) in zip((k.S_N_BID, k.S_N_ASK), sides, strict=True):
            keep = lots > 0
            keys, lots = keys[keep], lots[keep]
            # Last occurrence wins: unique over the reversed array keeps first-seen = last.
            uniq, idx = np.unique(keys[::-1], return_index=True)
            vals = lots[::-1][idx]
            if self._dense:
                self._dense_fit(slot, uniq)  # may switch the whole book to sorted mode
            if self._dense:
                d = k.D_BID_BASE if slot == k.S_N_BID else k.D_ASK_BASE
                arr = self._bid_dense if slot == k.S_N_BID else self._ask_dense
                arr[uniq - self._dense_state[d]] = vals
                self._dense_state[d + 2] = uniq[-1] - self._dense_state[d] if len(uniq) else -1
            else:
                self._ensure(slot, len(uniq))
                dst_k, dst_l = self._arrays(slot)
                dst_k[: len(uniq)] = uniq
                dst_l[: len(uniq)] = vals
            self._state[slot] = len(uniq)

    def _dense_keys(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """Live (keys ascending, lots) of one dense side."""
        arr = self._bid_dense if slot == k.S_N_BID else self._ask_dense
        base = self._dense_state[k.D_BID_BASE if slot == k.S_N_BID else k.D_ASK_BASE]
        idx = np.flatnonzero(arr)
        return idx + base, arr[idx]

    def _dense_fit(self, slot: int, new_keys: np.ndarray) -> None:
        """Re-centre / grow one dense side's window to hold its live levels and `new_keys`.

        Levels are copied exactly; past `_MAX_SPAN` ticks the whole book goes sorted instead.
        """
        if len(new_keys) == 0:
            return
        keys, lots = self._dense_keys(slot)
        lo = int(min(new_keys.min(), keys[0])) if len(keys) else int(new_keys.min())
        hi = int(max(new_keys.max(), keys[-1])) if len(keys) else int(new_keys.max())
        span = hi - lo + 1
        if span > _MAX_SPAN:
            self._to_sorted()
            return
        arr = self._bid_dense if slot == k.S_N_BID else self._ask_dense
        cap = max(_MIN_CAPACITY, len(arr))
        while cap < 2 * span:
            cap *= 2
        base = lo - (cap - span) // 2
        new = np.zeros(cap, dtype=np.int64)
        new[keys - base] = lots
        d = k.D_BID_BASE if slot == k.S_N_BID else k.D_ASK_BASE
        self._dense_state[d] = base
        self._dense_state[d + 2] = keys[-1] - base if len(keys) else -1
        if slot == k.S_N_BID:
            self._bid_dense = new
        else:
            self._ask_dense = new

    def _to_sorted(self) -> None:
        for slot in (k.S_N_BID, k.S_N_ASK):
            keys, lots = self._dense_keys(slot)
            self._ensure(slot, len(keys))
            dst_k, dst_l = self._arrays(slot)
            dst_k[: len(keys)] = keys
            dst_l[: len(keys)] = lots
            self._state[slot] = len(keys)
        self._dense = False
        self._bid_dense = self._ask_dense = np.zeros(0, dtype=np.int64)

    def _arrays(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        if slot == k.S_N_BID:
            return self._bid_keys, self._bid_lots
        return self._ask_keys, self._ask_lots

    def _ensure(self, slot: int, need: int) -> None:
        keys, lots = self._arrays(slot)
        if need <= len(keys):
            return
        cap = max(2 * len(keys), need)
        n = int(self._state[slot])
        new_k, new_l = np.zeros(cap, np.int64), np.zeros(cap, np.int64)
        new_k[:n], new_l[:n] = keys[:n], lots[:n]
        if slot == k.S_N_BID:
            self._bid_keys, self._bid_lots = new_k, new_l
        else:
            self._ask_keys, self._ask_lots = new_k, new_l

    def apply(
        self,
        is_bid: np.ndarray,
        px_ticks: np.ndarray,
        size_lots: np.ndarray,
        msg_starts: np.ndarray,
    ) -> MessageBest:
        """Apply every message of a batch; outputs per message after it was applied whole.

        Args:
            is_bid: bool per row. px_ticks / size_lots: int64 per row (size <= 0 deletes).
            msg_starts: int64, first row of each message then len(rows); non-decreasing.

        Raises:
            DataError: array lengths differ or `msg_starts` does not cover the rows in order.
        """
        is_bid = np.ascontiguousarray(is_bid, dtype=np.bool_)
        px_ticks = np.ascontiguousarray(px_ticks, dtype=np.int64)
        size_lots = np.ascontiguousarray(size_lots, dtype=np.int64)
        msg_starts = np.ascontiguousarray(msg_starts, dtype=np.int64)
        rows = len(is_bid)
        if not (len(px_ticks) == len(size_lots) == rows):
            raise DataError(
                "book batch", "column lengths differ", "is_bid/px/size", str(rows),
                f"{len(px_ticks)}/{len(size_lots)}",
            )  # fmt: skip
        if (
            len(msg_starts) == 0
            or msg_starts[0] != 0
            or msg_starts[-1] != rows
            or np.any(np.diff(msg_starts) < 0)
        ):
            raise DataError(
                "book batch", "message boundaries do not cover the rows", "msg_starts",
                f"0 .. {rows}, non-decreasing", f"{msg_starts[:3]} .. {msg_starts[-1:]}",
            )  # fmt: skip
        n_msgs = len(msg_starts) - 1
        top = self.top_n
        out = MessageBest(
            *(np.empty(n_msgs, np.int64) for _ in range(4)),
            np.empty(n_msgs, np.uint8),
            *(np.empty((n_msgs, top), np.int64) for _ in range(4)),
        )
        m = 0
        widest = int(np.max(np.diff(msg_starts))) if n_msgs else 0
        while m < n_msgs:
            if self._dense:
                m = k.apply_messages_dense_nb(
                    is_bid, px_ticks, size_lots, msg_starts, m,
                    self._bid_dense, self._ask_dense, self._state, self._dense_state,
                    out.bid_px, out.bid_lots, out.ask_px, out.ask_lots, out.crossed, top,
                    out.top_bid_px, out.top_bid_lots, out.top_ask_px, out.top_ask_lots,
                )  # fmt: skip
                if m < n_msgs:
                    rows_m = slice(msg_starts[m], msg_starts[m + 1])
                    add = size_lots[rows_m] > 0
                    bid = is_bid[rows_m]
                    px_m = px_ticks[rows_m]
                    self._dense_fit(k.S_N_BID, px_m[add & bid])
                    if self._dense:
                        self._dense_fit(k.S_N_ASK, -px_m[add & ~bid])
                continue
            m = k.apply_messages_nb(
                is_bid, px_ticks, size_lots, msg_starts, m,
                self._bid_keys, self._bid_lots, self._ask_keys, self._ask_lots, self._state,
                out.bid_px, out.bid_lots, out.ask_px, out.ask_lots, out.crossed, top,
                out.top_bid_px, out.top_bid_lots, out.top_ask_px, out.top_ask_lots,
            )  # fmt: skip
            if m < n_msgs:
                for slot in (k.S_N_BID, k.S_N_ASK):
                    self._ensure(slot, int(self._state[slot]) + widest)
        return MessageBest(
            out.bid_px, out.bid_lots, out.ask_px, out.ask_lots, out.crossed.view(np.bool_),
            *((out.top_bid_px, out.top_bid_lots, out.top_ask_px, out.top_ask_lots)
              if top else (None,) * 4),
        )  # fmt: skip

    @property
    def counters(self) -> BookCounters:
        s = self._state
        return BookCounters(
            int(s[k.S_ROWS]), int(s[k.S_ADDS]), int(s[k.S_CHANGES]), int(s[k.S_DELETES]),
            int(s[k.S_ABSENT_DELETES]), int(s[k.S_NEGATIVE]),
        )  # fmt: skip

    def snapshot(self) -> BookSeed:
        """The current book as a seed (copies), e.g. to continue into the next day's partition."""
        if self._dense:
            (bk, bl), (ak, al) = (self._dense_keys(s) for s in (k.S_N_BID, k.S_N_ASK))
            return BookSeed(bk[::-1].copy(), bl[::-1].copy(), -ak[::-1], al[::-1].copy())
        nb, na = int(self._state[k.S_N_BID]), int(self._state[k.S_N_ASK])
        return BookSeed(
            self._bid_keys[:nb][::-1].copy(), self._bid_lots[:nb][::-1].copy(),
            -self._ask_keys[:na][::-1], self._ask_lots[:na][::-1].copy(),
        )  # fmt: skip
