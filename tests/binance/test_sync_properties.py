"""Property tests: random interleavings against a brute-force reference book and an index oracle.

A random "exchange" produces a chain of depth events; every level change consumes one update id
(USD-M also skips ids between events and links them by `pu`). The truth book at any id is rebuilt
from scratch by replaying every change up to it (brute force, no deltas). Hypothesis then
interleaves deliveries, lost events (gaps), duplicates, overlapping (merged) events, stale, timely
and late snapshots and disconnects.

The oracle predicts each outcome from event *indices*, not from U/u/pu arithmetic: with a book
that needs event `n` next, a delivered range of events [a, b] is stale if b < n, applies if
a <= n <= b (USD-M live: only a == n, as `pu` must link), and is a gap if a > n. Invariants after
every step: same state as the oracle; the book equals the truth at `last_update_id` whenever one
exists (so never live across a gap, never crossed); gaps == resyncs == oracle gaps <= injected
losses (plus USD-M overlaps, which its `pu` rule must resync on); every received event is
accounted for.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from feedcheck.binance.sync import BookSync, SyncOutcome, SyncState, Variant
from feedcheck.binance.wire import DepthSnapshot, DepthUpdate

SYMBOL = "ETHUSDT"
Out = SyncOutcome
# Bids live in 1..20 ticks and asks in 21..40, so the truth is never crossed.
_BID_PRICES = (1, 20)
_ASK_PRICES = (21, 40)
_FIRST_ID = 1_000
_EVENTS = 200

Change = tuple[bool, int, int]  # (is_bid, price_ticks, qty_lots); qty 0 deletes


@dataclass(frozen=True)
class TruthEvent:
    first_id: int
    final_id: int
    prev_final_id: int
    changes: tuple[Change, ...]  # the i-th change has update id first_id + i


def build_truth(variant: Variant, rng: random.Random, count: int) -> list[TruthEvent]:
    """`count` events of 1, 2 or 4 level changes (one id each); USD-M skips 0-3 ids between events (often 0, so
    spot-style id arithmetic would wrongly look continuous)."""
    events = []
    prev_final = _FIRST_ID - 1
    for _ in range(count):
        changes = tuple(
            (True, rng.randint(*_BID_PRICES), rng.randint(0, 3))
            if rng.random() < 0.5
            else (False, rng.randint(*_ASK_PRICES), rng.randint(0, 3))
            for _ in range(rng.choice((1, 1, 2, 4)))
        )
        jump = rng.choice((0, 0, 1, 3)) if variant is Variant.USDM else 0
        first = prev_final + 1 + jump
        events.append(TruthEvent(first, first + len(changes) - 1, prev_final, changes))
        prev_final = first + len(changes) - 1
    return events


class TruthBooks:
    """The true book after every update id, each rebuilt by brute force (full replay)."""

    def __init__(self, events: list[TruthEvent]) -> None:
        self.ids: list[int] = []
        self.books: list[tuple[dict[int, int], dict[int, int]]] = []
        changes = [
            (event.first_id + offset, change)
            for event in events
            for offset, change in enumerate(event.changes)
        ]
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        for update_id, (is_bid, price, qty) in changes:
            side = bids if is_bid else asks
            if qty:
                side[price] = qty
            else:
                side.pop(price, None)
            self.ids.append(update_id)
            self.books.append((dict(bids), dict(asks)))

    def at(self, update_id: int) -> tuple[dict[int, int], dict[int, int]]:
        """The book holding every change with id <= update_id."""
        position = bisect.bisect_right(self.ids, update_id)
        return self.books[position - 1] if position else ({}, {})


def wire_event(variant: Variant, events: list[TruthEvent], a: int, b: int) -> DepthUpdate:
    """Events a..b merged into one wire event carrying each touched level's final size."""
    final: dict[tuple[bool, int], int] = {}
    for event in events[a : b + 1]:
        for is_bid, price, qty in event.changes:
            final.pop((is_bid, price), None)  # keep the order of the last touch
            final[(is_bid, price)] = qty
    return DepthUpdate(
        symbol=SYMBOL,
        first_update_id=events[a].first_id,
        final_update_id=events[b].final_id,
        prev_final_update_id=events[a].prev_final_id if variant is Variant.USDM else None,
        event_time_ns=0,
        transaction_time_ns=None,
        bids=tuple((p, q) for (is_bid, p), q in final.items() if is_bid),
        asks=tuple((p, q) for (is_bid, p), q in final.items() if not is_bid),
    )


class SyncVersusOracle(RuleBasedStateMachine):
    @initialize(variant=st.sampled_from(Variant), seed=st.integers(0, 2**32 - 1))
    def start(self, variant: Variant, seed: int) -> None:
        # The market is seeded (cheap to draw); Hypothesis spends its search on the interleaving.
        self.variant = variant
        self.truth = build_truth(variant, random.Random(seed), _EVENTS)
        self.truth_books = TruthBooks(self.truth)
        self.sync = BookSync(SYMBOL, variant)
        self.cursor = 0  # next truth index the exchange sends
        self.connected_at = 0  # cursor when the current connection opened
        self.delivered: list[tuple[int, int]] = []  # index ranges received on this connection
        self.recv_ns = 0
        self.lost = 0  # injected losses
        self.unlinkable = 0  # USD-M overlaps, which the pu rule treats as gaps
        # The oracle.
        self.state = SyncState.IDLE
        self.buffer: list[tuple[int, int]] = []  # delivered index ranges awaiting a snapshot
        self.next_index = 0  # with a book: the truth index it needs next
        self.book_id: int | None = None
        self.gaps = 0

    # -- the oracle ---------------------------------------------------------------------------

    def expect_process(self, a: int, b: int) -> SyncOutcome:
        n = self.next_index
        if b < n:
            return Out.DROPPED_STALE if self.state is SyncState.SYNCING else Out.IGNORED_OLD
        linked = (
            a == n if (self.variant is Variant.USDM and self.state is SyncState.LIVE) else a <= n
        )
        if linked:
            self.next_index = b + 1
            self.book_id = self.truth[b].final_id
            self.state = SyncState.LIVE
            return Out.APPLIED
        self.gaps += 1
        self.state = SyncState.BUFFERING
        self.book_id = None
        self.buffer = [(a, b)]
        return Out.GAP

    def expect_depth(self, a: int, b: int) -> SyncOutcome:
        if self.state is SyncState.IDLE:
            self.state = SyncState.BUFFERING
            self.buffer = [(a, b)]
            return Out.NEEDS_SNAPSHOT
        if self.state is SyncState.BUFFERING:
            self.buffer.append((a, b))
            return Out.BUFFERED
        return self.expect_process(a, b)

    def expect_snapshot(self, last_update_id: int) -> SyncOutcome:
        if last_update_id < self.truth[self.buffer[0][0]].first_id:
            return Out.SNAPSHOT_TOO_OLD
        if self.variant is Variant.SPOT:  # the first event holding an id above the snapshot
            self.next_index = next(
                (i for i, e in enumerate(self.truth) if e.final_id > last_update_id),
                len(self.truth),
            )
        else:  # the event ending at the snapshot id (USD-M snapshots sit on event boundaries)
            self.next_index = next(
                i for i, e in enumerate(self.truth) if e.final_id >= last_update_id
            )
        self.state = SyncState.SYNCING
        self.book_id = last_update_id
        buffered, self.buffer = self.buffer, []
        for position, (a, b) in enumerate(buffered):
            if self.expect_process(a, b) is Out.GAP:
                self.buffer = buffered[position:]
                return Out.GAP
        return Out.SYNCED

    # -- the interleavings --------------------------------------------------------------------

    def deliver(self, a: int, b: int) -> None:
        self.recv_ns += 1
        self.delivered.append((a, b))
        outcome = self.sync.on_depth(wire_event(self.variant, self.truth, a, b), self.recv_ns)
        assert outcome is self.expect_depth(a, b)

    @precondition(lambda self: self.cursor < len(self.truth))
    @rule()
    def next_event(self) -> None:
        self.deliver(self.cursor, self.cursor)
        self.cursor += 1

    @precondition(lambda self: self.cursor + 2 <= len(self.truth))
    @rule()
    def overlapping_event(self) -> None:
        self.deliver(self.cursor, self.cursor + 1)
        self.cursor += 2

    @precondition(lambda self: self.connected_at < self.cursor < len(self.truth))
    @rule()
    def overlap_with_previous(self) -> None:
        # The last event again, merged with the next: spot applies it, USD-M's pu cannot link
        # it, so the USD-M rule resyncs although nothing was lost.
        self.unlinkable += self.variant is Variant.USDM
        self.deliver(self.cursor - 1, self.cursor)
        self.cursor += 1

    @precondition(lambda self: self.cursor < len(self.truth))
    @rule(count=st.integers(1, 3))
    def lose_events(self, count: int) -> None:
        self.cursor = min(self.cursor + count, len(self.truth))
        self.lost += 1

    @precondition(lambda self: self.delivered)
    @rule(back=st.integers(1, 6))
    def duplicate(self, back: int) -> None:
        # A repeat of a delivery of this connection. Only what was received can repeat: an event
        # that was lost and turns up later is a reordering, and would be a second gap of one loss.
        self.deliver(*self.delivered[-min(back, len(self.delivered))])

    @precondition(lambda self: self.state is SyncState.BUFFERING)
    @rule(kind=st.sampled_from(["stale", "timely", "late"]), pick=st.integers(0, 10_000))
    def snapshot(self, kind: str, pick: int) -> None:
        first_buffered_id = self.truth[self.buffer[0][0]].first_id
        if kind == "stale":
            last_update_id = first_buffered_id - 1 - pick % 3
        else:
            # "late" reaches events the exchange has produced but we have not received yet.
            ahead = 2 if kind == "late" else 0
            top = min(max(self.cursor - 1 + ahead, self.buffer[0][0]), len(self.truth) - 1)
            candidates = [
                e.final_id if self.variant is Variant.USDM else e.first_id + pick % len(e.changes)
                for e in self.truth[self.buffer[0][0] : top + 1]
            ]
            candidates = [c for c in candidates if c >= first_buffered_id]
            last_update_id = candidates[pick % len(candidates)]
        bids, asks = self.truth_books.at(last_update_id)
        snapshot = DepthSnapshot(
            SYMBOL,
            last_update_id,
            tuple(sorted(bids.items(), reverse=True)),
            tuple(sorted(asks.items())),
        )
        self.recv_ns += 1
        assert self.sync.on_snapshot(snapshot, self.recv_ns) is self.expect_snapshot(last_update_id)

    @rule(roll=st.integers(0, 3))
    def disconnect(self, roll: int) -> None:
        if roll:  # three times in four nothing breaks: long live runs need rare disconnects
            return
        self.sync.on_disconnect()
        self.connected_at = self.cursor
        self.delivered = []
        self.state = SyncState.IDLE
        self.buffer = []
        self.book_id = None

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def same_state_and_id_as_the_oracle(self) -> None:
        assert self.sync.state is self.state
        assert self.sync.last_update_id == self.book_id
        assert self.sync.buffered_count == len(self.buffer)

    @invariant()
    def book_equals_the_brute_force_truth(self) -> None:
        if self.book_id is None:
            return
        bids, asks = self.truth_books.at(self.book_id)
        book = self.sync.book
        assert (book.bids.as_dict(), book.asks.as_dict()) == (bids, asks)
        assert not book.is_crossed()

    @invariant()
    def gaps_are_resyncs_and_come_from_losses(self) -> None:
        counters = self.sync.counters
        assert counters.gaps == counters.resyncs == self.gaps <= self.lost + self.unlinkable

    @invariant()
    def every_event_is_accounted_for(self) -> None:
        c = self.sync.counters
        assert c.events_received == (
            c.events_applied
            + c.events_dropped_stale
            + c.events_ignored_old
            + c.events_discarded
            + self.sync.buffered_count
        )


SyncVersusOracle.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSyncVersusOracle = SyncVersusOracle.TestCase
