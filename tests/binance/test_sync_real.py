"""The sync machine on real Binance recordings (tests/data/real, hftbacktest collector format).

The facts checked are the ones tests/data/real/README.md states: spot ETHUSDT 2024-08-08's
snapshot equals the `u` of the last buffered event; USD-M ETHUSDT 2024-07-18's first applicable
event ends exactly at the snapshot's id; each day continues into the next file, which has no
snapshot. Expected counts are derived from the files themselves (never golden numbers), and an
independent witness checks the book: Binance's `@bookTicker` stream shares the depth stream's
update ids, so after applying an event ending at `u` the book's best bid/ask (price and size)
must equal the last bookTicker with an id <= `u`.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from feedcheck.binance.formats import read_hftbacktest
from feedcheck.binance.sync import BookSync, SyncOutcome, SyncState, Variant, spot_is_gap
from feedcheck.binance.venue import StreamKind, classify_stream
from feedcheck.binance.wire import (
    DepthSnapshot,
    DepthUpdate,
    Scale,
    parse_depth_snapshot,
    parse_depth_update,
    parse_fixed,
)
from tests.binance.old_rules import buggy_2024_12_is_gap

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
SPOT_FILES = ("binance-spot/ethusdt_20240808.gz", "binance-spot/ethusdt_20240809.gz")
USDM_FILES = ("binance-usdm/ethusdt_20240718.gz", "binance-usdm/ethusdt_20240719.gz")
# ETHUSDT tick 0.01 on both markets; spot sizes go down to 0.00001 (a few legacy 5-decimal
# sizes under the 0.0001 step), USD-M sizes to 0.001.
SPOT_SCALE = Scale(price_decimals=2, qty_decimals=5)
USDM_SCALE = Scale(price_decimals=2, qty_decimals=3)
SYMBOL = "ETHUSDT"
Out = SyncOutcome


@dataclass(frozen=True)
class Item:
    """One depth event or snapshot of a recording, with where it was read."""

    file: str
    line_no: int
    recv_ns: int
    message: DepthUpdate | DepthSnapshot


@dataclass(frozen=True)
class Recording:
    items: tuple[Item, ...]
    ticker_ids: tuple[int, ...]  # bookTicker update ids, sorted
    tops: tuple[tuple[int, int, int, int], ...]  # (bid, bid qty, ask, ask qty) per ticker id


@functools.cache
def load(files: tuple[str, ...], scale: Scale) -> Recording:
    """Depth events, snapshots and bookTickers of `files` read as one stream (formats.py)."""
    items: list[Item] = []
    tickers: list[tuple[int, tuple[int, int, int, int]]] = []
    for record in read_hftbacktest([REAL / name for name in files]):
        file = Path(record.path).name
        _, kind = classify_stream(record.stream or "")
        if kind is StreamKind.DEPTH:
            event = parse_depth_update(record.json()["data"], scale, source=file)
            items.append(Item(file, record.line_no, record.recv_ns, event))
        elif kind is StreamKind.SNAPSHOT:
            snapshot = parse_depth_snapshot(record.json(), SYMBOL, scale, source=file)
            items.append(Item(file, record.line_no, record.recv_ns, snapshot))
        elif record.stream is not None and record.stream.endswith("@bookTicker"):
            d = record.json()["data"]
            p, q = scale.price_decimals, scale.qty_decimals
            top = (parse_fixed(d["b"], p), parse_fixed(d["B"], q))
            tickers.append((d["u"], top + (parse_fixed(d["a"], p), parse_fixed(d["A"], q))))
    tickers.sort()
    return Recording(tuple(items), tuple(u for u, _ in tickers), tuple(t for _, t in tickers))


def feed(sync: BookSync, item: Item) -> SyncOutcome:
    if isinstance(item.message, DepthSnapshot):
        return sync.on_snapshot(item.message, item.recv_ns)
    return sync.on_depth(item.message, item.recv_ns)


def replay(
    items: tuple[Item, ...] | list[Item],
    variant: Variant,
    after_apply: Callable[[BookSync, DepthUpdate], None] | None = None,
) -> tuple[BookSync, list[SyncOutcome]]:
    sync = BookSync(SYMBOL, variant)
    outcomes = []
    for item in items:
        outcome = feed(sync, item)
        outcomes.append(outcome)
        if after_apply is not None and outcome is Out.APPLIED:
            assert isinstance(item.message, DepthUpdate)
            after_apply(sync, item.message)
    return sync, outcomes


def events(items: tuple[Item, ...] | list[Item]) -> list[DepthUpdate]:
    return [i.message for i in items if isinstance(i.message, DepthUpdate)]


def snapshot_of(items: tuple[Item, ...]) -> tuple[int, DepthSnapshot]:
    (position,) = [n for n, i in enumerate(items) if isinstance(i.message, DepthSnapshot)]
    snapshot = items[position].message
    assert isinstance(snapshot, DepthSnapshot)
    return position, snapshot


class TopOfBookWitness:
    """After every apply: not crossed, and the top equals the bookTicker at that update id."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.checked = 0
        self.crossed = 0
        self.mismatched = 0

    def __call__(self, sync: BookSync, event: DepthUpdate) -> None:
        book = sync.book
        self.crossed += book.is_crossed()
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is not None and ask is not None
        at = bisect.bisect_right(self.recording.ticker_ids, event.final_update_id) - 1
        assert at >= 0
        top = (bid, book.bids.qty(bid), ask, book.asks.qty(ask))
        self.mismatched += top != self.recording.tops[at]
        self.checked += 1


class TestSpotEthusdt20240808Sync:
    """§2.6 steps 2-6 on real data: the snapshot lands exactly on the last buffered event."""

    def test_both_buffered_events_dropped_and_first_applied_starts_at_last_update_id_plus_1(
        self,
    ) -> None:
        items = load(SPOT_FILES, SPOT_SCALE).items
        position, snapshot = snapshot_of(items)
        assert (items[position].file, items[position].line_no) == ("ethusdt_20240808.gz", 6)
        assert snapshot.last_update_id == 35346513512
        buffered = events(items[:position])
        assert buffered[-1].final_update_id == snapshot.last_update_id

        sync, outcomes = replay(items[: position + 2], Variant.SPOT)
        assert outcomes == [Out.NEEDS_SNAPSHOT, Out.BUFFERED, Out.SYNCED, Out.APPLIED]
        first_applied = items[position + 1].message
        assert isinstance(first_applied, DepthUpdate)
        assert first_applied.first_update_id == snapshot.last_update_id + 1
        counters = sync.counters
        assert (counters.events_dropped_stale, counters.events_applied, counters.gaps) == (2, 1, 0)

    def test_book_equals_the_snapshot_before_the_first_event(self) -> None:
        items = load(SPOT_FILES, SPOT_SCALE).items
        position, snapshot = snapshot_of(items)
        sync, _ = replay(items[: position + 1], Variant.SPOT)
        assert sync.state is SyncState.SYNCING
        assert (len(sync.book.bids), len(sync.book.asks)) == (1000, 1000)
        assert sync.book.matches_snapshot(snapshot.bids, snapshot.asks)


class TestSpotEthusdtTwoDays:
    """§2.6 step 7 over 0808 → 0809: one sync, then every event applies; the book is right."""

    def test_no_gap_every_event_applied_and_top_equals_book_ticker(self) -> None:
        recording = load(SPOT_FILES, SPOT_SCALE)
        position, snapshot = snapshot_of(recording.items)
        all_events = events(recording.items)
        after = [e for e in all_events if e.final_update_id > snapshot.last_update_id]
        witness = TopOfBookWitness(recording)
        sync, _ = replay(recording.items, Variant.SPOT, witness)
        counters = sync.counters
        assert (counters.gaps, counters.resyncs, counters.syncs) == (0, 0, 1)
        assert counters.events_received == len(all_events)
        assert counters.events_applied == len(after) == len(all_events) - 2
        assert counters.levels_applied == sum(e.level_count for e in after)
        assert (sync.state, sync.last_update_id) == (SyncState.LIVE, all_events[-1].final_update_id)
        assert (witness.checked, witness.crossed, witness.mismatched) == (len(after), 0, 0)

    def test_state_carries_across_the_file_boundary(self) -> None:
        items = load(SPOT_FILES, SPOT_SCALE).items
        boundary = next(n for n, i in enumerate(items) if i.file == "ethusdt_20240809.gz")
        assert not any(isinstance(i.message, DepthSnapshot) for i in items[boundary:])
        last_0808, first_0809 = items[boundary - 1].message, items[boundary].message
        assert isinstance(last_0808, DepthUpdate) and isinstance(first_0809, DepthUpdate)
        assert first_0809.first_update_id == last_0808.final_update_id + 1
        _, outcomes = replay(items, Variant.SPOT)
        assert outcomes[boundary] is Out.APPLIED

    def test_second_file_alone_cannot_sync(self) -> None:
        items = [i for i in load(SPOT_FILES, SPOT_SCALE).items if i.file == "ethusdt_20240809.gz"]
        sync, outcomes = replay(items, Variant.SPOT)
        assert outcomes == [Out.NEEDS_SNAPSHOT] + [Out.BUFFERED] * (len(items) - 1)
        assert (sync.state, sync.counters.events_applied) == (SyncState.BUFFERING, 0)

    @pytest.mark.parametrize("where", ["middle of 0808", "last of 0808"])
    def test_deleting_one_depth_line_makes_exactly_one_gap_and_one_resync(self, where: str) -> None:
        items = list(load(SPOT_FILES, SPOT_SCALE).items)
        boundary = next(n for n, i in enumerate(items) if i.file == "ethusdt_20240809.gz")
        deleted = boundary // 2 if where == "middle of 0808" else boundary - 1
        assert isinstance(items[deleted].message, DepthUpdate)
        del items[deleted]
        sync, outcomes = replay(items, Variant.SPOT)
        counters = sync.counters
        assert (counters.gaps, counters.resyncs) == (1, 1)
        assert outcomes.index(Out.GAP) == deleted  # the event right after the hole
        # No snapshot follows in these files: the book stays down (never live across the gap).
        assert sync.state is SyncState.BUFFERING
        assert outcomes[deleted + 1 :] == [Out.BUFFERED] * (len(items) - deleted - 1)

    def test_withdrawn_2024_12_rule_false_alarms_on_every_applied_event(self) -> None:
        recording = load(SPOT_FILES, SPOT_SCALE)
        _, snapshot = snapshot_of(recording.items)
        local_id = snapshot.last_update_id
        buggy = current = applied = 0
        for event in events(recording.items):
            if event.final_update_id <= local_id:
                continue  # dropped before the first apply (§2.6 step 5)
            buggy += buggy_2024_12_is_gap(event.first_update_id, local_id)
            current += spot_is_gap(event.first_update_id, local_id)
            applied += 1
            local_id = event.final_update_id
        assert applied == len(events(recording.items)) - 2
        assert (buggy, current) == (applied, 0)


class TestUsdmEthusdt20240718:
    """USD-M rules on real data: drop u < lastUpdateId, U <= lastUpdateId <= u, pu == prev u."""

    def test_first_applicable_event_ends_exactly_at_the_snapshot(self) -> None:
        items = load(USDM_FILES, USDM_SCALE).items
        position, snapshot = snapshot_of(items)
        buffered = events(items[:position])
        kept = [e for e in buffered if e.final_update_id >= snapshot.last_update_id]
        assert kept[0].final_update_id == snapshot.last_update_id
        assert kept[0].first_update_id <= snapshot.last_update_id
        sync, outcomes = replay(items[: position + 1], Variant.USDM)
        assert outcomes[-1] is Out.SYNCED
        counters = sync.counters
        assert counters.events_dropped_stale == len(buffered) - len(kept)
        assert counters.events_applied == len(kept)
        assert sync.last_update_id == buffered[-1].final_update_id

    def test_the_spot_rule_would_drop_it_and_then_see_a_gap(self) -> None:
        items = load(USDM_FILES, USDM_SCALE).items
        position, snapshot = snapshot_of(items)
        as_spot = [
            replace(i, message=replace(i.message, prev_final_update_id=None))
            if isinstance(i.message, DepthUpdate)
            else i
            for i in items[: position + 1]
        ]
        sync, outcomes = replay(as_spot, Variant.SPOT)
        assert outcomes[-1] is Out.GAP  # USD-M ids jump between events: spot's U == u+1 fails
        buffered = events(items[:position])
        kept_by_spot = [e for e in buffered if e.final_update_id > snapshot.last_update_id]
        kept_by_usdm = [e for e in buffered if e.final_update_id >= snapshot.last_update_id]
        assert len(kept_by_usdm) - len(kept_by_spot) == 1
        assert sync.counters.events_dropped_stale == len(buffered) - len(kept_by_spot)

    def test_two_days_no_gap_and_top_equals_book_ticker(self) -> None:
        recording = load(USDM_FILES, USDM_SCALE)
        _, snapshot = snapshot_of(recording.items)
        all_events = events(recording.items)
        kept = [e for e in all_events if e.final_update_id >= snapshot.last_update_id]
        witness = TopOfBookWitness(recording)
        sync, outcomes = replay(recording.items, Variant.USDM, witness)
        counters = sync.counters
        assert (counters.gaps, counters.resyncs, counters.syncs) == (0, 0, 1)
        assert counters.events_applied == len(kept)
        assert counters.levels_applied == sum(e.level_count for e in kept)
        boundary = next(n for n, i in enumerate(recording.items) if i.file == "ethusdt_20240719.gz")
        first_0719 = recording.items[boundary].message
        assert isinstance(first_0719, DepthUpdate)
        assert (
            first_0719.prev_final_update_id
            == all_events[all_events.index(first_0719) - 1].final_update_id
        )
        assert outcomes[boundary] is Out.APPLIED
        # Events applied during the snapshot's replay are not witnessed (no outcome of their own).
        applied_live = outcomes.count(Out.APPLIED)
        assert (witness.checked, witness.crossed, witness.mismatched) == (applied_live, 0, 0)

    def test_deleting_one_depth_line_makes_exactly_one_gap_and_one_resync(self) -> None:
        items = list(load(USDM_FILES, USDM_SCALE).items)
        deleted = len(items) // 3
        assert isinstance(items[deleted].message, DepthUpdate)
        del items[deleted]
        sync, outcomes = replay(items, Variant.USDM)
        assert (sync.counters.gaps, sync.counters.resyncs) == (1, 1)
        assert outcomes.index(Out.GAP) == deleted
        assert sync.state is SyncState.BUFFERING
