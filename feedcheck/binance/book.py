"""A small exact order book for the sync machine: int ticks → int lots per side.

Sizes are absolute (a level's new total, not a change); 0 deletes the level, and deleting a level
the book does not hold is normal (it lay beyond the snapshot's depth) and harmless. Each side keeps
a dict for the levels plus a heap of prices with lazy deletion, so the best price costs O(log n)
amortised instead of a scan of the whole side after every top-of-book delete.

The heap is built on the first `best()` after a `clear()`, and kept up from then on. The live
capture never asks for the best price, so its book is the dict alone: pushing a quarter of all
levels into a heap no one reads doubled the cost of `apply` there (`python -m bench capture`).
Validation asks after every event, so its heap is maintained as before.

This is the capture-side book (one symbol, live); the columnar reconstruction kernel for Lake data
lives in `feedcheck/book/`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from feedcheck.binance.wire import Level

# A heap holding more stale prices than this many times the live levels is rebuilt.
_HEAP_SLACK_FACTOR = 2
_HEAP_SLACK_MIN = 64


class BookSide:
    """One side of the book. Bids keep their heap keys negated so both sides pop the best first."""

    __slots__ = ("is_bid", "_qty_by_price", "_heap", "_sign")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self._sign = -1 if is_bid else 1
        self._qty_by_price: dict[int, int] = {}
        # Signed prices, best first; None until `best()` first needs it (module docstring).
        self._heap: list[int] | None = None

    def __len__(self) -> int:
        return len(self._qty_by_price)

    def clear(self) -> None:
        """Remove every level."""
        self._qty_by_price.clear()
        self._heap = None

    def apply(self, levels: Iterable[Level]) -> None:
        """Set each (price_ticks, qty_lots); qty 0 deletes (a missing level is fine). In place."""
        qty_by_price = self._qty_by_price
        heap = self._heap
        if heap is None:
            drop = qty_by_price.pop
            for price, qty in levels:
                if qty:
                    qty_by_price[price] = qty
                else:
                    drop(price, None)
            return
        sign = self._sign
        for price, qty in levels:
            if qty:
                if price not in qty_by_price:
                    heapq.heappush(heap, sign * price)
                qty_by_price[price] = qty
            else:
                qty_by_price.pop(price, None)
        if len(heap) > _HEAP_SLACK_FACTOR * len(qty_by_price) + _HEAP_SLACK_MIN:
            self._heap = self._build_heap()

    def _build_heap(self) -> list[int]:
        sign = self._sign
        heap = [sign * price for price in self._qty_by_price]
        heapq.heapify(heap)
        return heap

    def best(self) -> int | None:
        """Best price in ticks (highest bid / lowest ask), or None when the side is empty."""
        heap = self._heap
        if heap is None:
            heap = self._heap = self._build_heap()
        qty_by_price = self._qty_by_price
        # Drop heap entries of deleted levels; a re-added price may sit twice, both valid.
        while heap and self._sign * heap[0] not in qty_by_price:
            heapq.heappop(heap)
        return self._sign * heap[0] if heap else None

    def qty(self, price_ticks: int) -> int:
        """Quantity in lots at `price_ticks` (0 when no level)."""
        return self._qty_by_price.get(price_ticks, 0)

    def top(self, n: int) -> list[Level]:
        """The best `n` levels, best first."""
        pick = heapq.nlargest if self.is_bid else heapq.nsmallest
        return [(price, self._qty_by_price[price]) for price in pick(n, self._qty_by_price)]

    def as_dict(self) -> dict[int, int]:
        """A copy of the side: price_ticks → qty_lots."""
        return dict(self._qty_by_price)

    def window_mismatches(self, snapshot_levels: Iterable[Level]) -> int:
        """Levels that differ from a snapshot side within the snapshot's price window.

        The window is every price at or better than the snapshot's deepest level (the whole side
        when the snapshot side is empty); deeper book levels are afterimages a depth-limited
        snapshot cannot show, so they are not compared. A level counts once whether it is
        missing, extra or of another size. Zero-size snapshot levels are ignored.
        """
        expected = {price: qty for price, qty in snapshot_levels if qty}
        if expected:
            deepest = min(expected) if self.is_bid else max(expected)
            if self.is_bid:
                window = {p: q for p, q in self._qty_by_price.items() if p >= deepest}
            else:
                window = {p: q for p, q in self._qty_by_price.items() if p <= deepest}
        else:
            window = self._qty_by_price
        return sum(1 for p in expected.keys() | window.keys() if expected.get(p) != window.get(p))


class Book:
    """Bids and asks of one symbol in int ticks and lots. Mutated in place by `load` / `apply`."""

    __slots__ = ("bids", "asks")

    def __init__(self) -> None:
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)

    def clear(self) -> None:
        """Empty both sides."""
        self.bids.clear()
        self.asks.clear()

    def load(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Replace the whole book with snapshot levels (zero sizes are skipped)."""
        self.clear()
        self.apply(bids, asks)

    def apply(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Apply absolute level sizes to both sides (0 deletes)."""
        self.bids.apply(bids)
        self.asks.apply(asks)

    def best_bid(self) -> int | None:
        """Highest bid price in ticks, or None."""
        return self.bids.best()

    def best_ask(self) -> int | None:
        """Lowest ask price in ticks, or None."""
        return self.asks.best()

    def is_crossed(self) -> bool:
        """True when both sides exist and best bid >= best ask (a locked book counts as crossed)."""
        bid = self.bids.best()
        ask = self.asks.best()
        return bid is not None and ask is not None and bid >= ask

    def top(self, n: int) -> tuple[list[Level], list[Level]]:
        """The best `n` levels per side, best first: (bids, asks)."""
        return self.bids.top(n), self.asks.top(n)

    def snapshot_mismatches(self, bids: Iterable[Level], asks: Iterable[Level]) -> int:
        """Differing levels against a snapshot, each side within the snapshot's window.

        See `BookSide.window_mismatches`; 0 means the book equals the snapshot exactly (int
        ticks and lots) as far as the snapshot reaches.
        """
        return self.bids.window_mismatches(bids) + self.asks.window_mismatches(asks)

    def matches_snapshot(self, bids: Iterable[Level], asks: Iterable[Level]) -> bool:
        """True when `snapshot_mismatches` is 0."""
        return self.snapshot_mismatches(bids, asks) == 0
