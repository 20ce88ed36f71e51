"""The book-sync state machine, fed events by hand (no sockets).

Each class cites the step of Binance's "How to manage a local order book correctly" it checks,
numbered as in reference/data-formats.md §2.6 (spot, text of 2025-11-12) and anchors.md §0 (USD-M).
"""

from __future__ import annotations

import logging
from dataclasses import fields

import pytest

from feedcheck.binance.sync import (
    BookSync,
    SyncCounters,
    SyncOptions,
    SyncOutcome,
    SyncState,
    Variant,
    spot_is_gap,
)
from feedcheck.binance.wire import DepthSnapshot, DepthUpdate, Level
from feedcheck.errors import ConfigError, SyncError
from tests.binance.old_rules import buggy_2024_12_is_gap

SYMBOL = "ETHUSDT"
Out = SyncOutcome


def ev(
    first: int,
    final: int,
    bids: tuple[Level, ...] = (),
    asks: tuple[Level, ...] = (),
    *,
    pu: int | None = None,
    symbol: str = SYMBOL,
) -> DepthUpdate:
    return DepthUpdate(symbol, first, final, pu, 1_000 * final, None, bids, asks)


def snap(
    last_update_id: int,
    bids: tuple[Level, ...] = ((100, 10),),
    asks: tuple[Level, ...] = ((110, 10),),
    symbol: str = SYMBOL,
) -> DepthSnapshot:
    return DepthSnapshot(symbol, last_update_id, bids, asks)


def feed(sync: BookSync, *events: DepthUpdate) -> list[SyncOutcome]:
    return [sync.on_depth(event, recv_ns=1_000 + i) for i, event in enumerate(events)]


def assert_counts(sync: BookSync, **expected: int) -> None:
    """Named counters equal `expected`, the rest are 0, and every event is accounted for."""
    counters = sync.counters
    actual = {f.name: getattr(counters, f.name) for f in fields(SyncCounters)}
    assert actual == {name: expected.get(name, 0) for name in actual}
    assert counters.events_received == (
        counters.events_applied
        + counters.events_dropped_stale
        + counters.events_ignored_old
        + counters.events_discarded
        + sync.buffered_count
    )


def assert_book(sync: BookSync, bids: dict[int, int], asks: dict[int, int]) -> None:
    assert (sync.book.bids.as_dict(), sync.book.asks.as_dict()) == (bids, asks)


def synced_spot(last_update_id: int = 10) -> BookSync:
    """A spot machine LIVE at `last_update_id + 1` after one buffered event bracketing it."""
    sync = BookSync(SYMBOL, Variant.SPOT)
    assert feed(sync, ev(last_update_id, last_update_id + 1)) == [Out.NEEDS_SNAPSHOT]
    assert sync.on_snapshot(snap(last_update_id), recv_ns=2_000) is Out.SYNCED
    assert sync.state is SyncState.LIVE
    return sync


class TestStep2BufferAndRememberFirstU:
    """§2.6 step 2: buffer the events, note the U of the first one."""

    def test_first_event_asks_for_a_snapshot_then_buffers(self) -> None:
        sync = BookSync(SYMBOL)
        assert sync.state is SyncState.IDLE
        assert feed(sync, ev(5, 7), ev(8, 9), ev(10, 12)) == [
            Out.NEEDS_SNAPSHOT,
            Out.BUFFERED,
            Out.BUFFERED,
        ]
        assert (sync.state, sync.first_buffered_update_id, sync.buffered_count) == (
            SyncState.BUFFERING,
            5,
            3,
        )
        assert sync.last_update_id is None
        assert_counts(sync, events_received=3, events_buffered=3)

    def test_needs_snapshot_outcomes(self) -> None:
        wanted = {o for o in SyncOutcome if o.needs_snapshot}
        assert wanted == {Out.NEEDS_SNAPSHOT, Out.GAP, Out.SNAPSHOT_TOO_OLD}

    def test_no_book_while_buffering(self) -> None:
        sync = BookSync(SYMBOL)
        feed(sync, ev(5, 7))
        with pytest.raises(SyncError) as info:
            _ = sync.book
        assert (info.value.symbol, info.value.state) == (SYMBOL, "BUFFERING")


class TestStep4RefetchASnapshotOlderThanTheFirstU:
    """§2.6 step 4: lastUpdateId < first buffered U → the snapshot is too old, fetch again."""

    def test_too_old_then_fresh(self) -> None:
        sync = BookSync(SYMBOL)
        feed(sync, ev(5, 7), ev(8, 9))
        assert sync.on_snapshot(snap(4), recv_ns=3_000) is Out.SNAPSHOT_TOO_OLD
        assert (sync.state, sync.buffered_count) == (SyncState.BUFFERING, 2)
        assert sync.on_snapshot(snap(8), recv_ns=4_000) is Out.SYNCED
        assert (sync.state, sync.last_update_id) == (SyncState.LIVE, 9)
        assert sync.last_sync_latency_ns == 4_000 - 1_000
        assert_counts(
            sync,
            events_received=2,
            events_buffered=2,
            events_applied=1,
            events_dropped_stale=1,
            snapshots_too_old=1,
            snapshots_used=1,
            syncs=1,
        )

    def test_equal_to_first_u_is_not_too_old(self) -> None:
        sync = BookSync(SYMBOL)
        feed(sync, ev(5, 7))
        assert sync.on_snapshot(snap(5), recv_ns=3_000) is Out.SYNCED


class TestStep5DropStaleAndBracket:
    """§2.6 step 5: drop buffered u <= lastUpdateId; the first kept must have U <= L+1 <= u."""

    def test_all_buffered_dropped_then_first_live_event_is_applied(self) -> None:
        # The real ETHUSDT 2024-08-08 case: the snapshot equals the u of the last buffered event.
        sync = BookSync(SYMBOL)
        feed(sync, ev(499, 505), ev(506, 512))
        assert sync.on_snapshot(snap(512), recv_ns=3_000) is Out.SYNCED
        assert (sync.state, sync.last_update_id, sync.buffered_count) == (SyncState.SYNCING, 512, 0)
        assert feed(sync, ev(513, 514)) == [Out.APPLIED]
        assert (sync.state, sync.last_update_id) == (SyncState.LIVE, 514)

    def test_late_duplicates_after_the_snapshot_are_dropped(self) -> None:
        sync = BookSync(SYMBOL)
        feed(sync, ev(5, 7))
        sync.on_snapshot(snap(9), recv_ns=3_000)
        assert feed(sync, ev(8, 9), ev(8, 9), ev(10, 11)) == [
            Out.DROPPED_STALE,
            Out.DROPPED_STALE,
            Out.APPLIED,
        ]
        assert_counts(
            sync,
            events_received=4,
            events_buffered=1,
            events_dropped_stale=3,
            events_applied=1,
            snapshots_used=1,
            syncs=1,
        )

    def test_first_event_straddling_the_snapshot_is_applied(self) -> None:
        sync = BookSync(SYMBOL)
        feed(sync, ev(5, 7), ev(8, 12, bids=((100, 0), (99, 3))))
        assert sync.on_snapshot(snap(10), recv_ns=3_000) is Out.SYNCED
        assert sync.last_update_id == 12
        assert_book(sync, {99: 3}, {110: 10})

    def test_first_kept_event_not_bracketing_is_a_gap(self) -> None:
        sync = BookSync(SYMBOL)
        # 11 is missing from the buffer: 10 is in the snapshot, the next kept event starts at 12.
        feed(sync, ev(5, 10), ev(12, 13), ev(14, 15))
        assert sync.on_snapshot(snap(10), recv_ns=3_000) is Out.GAP
        assert (sync.state, sync.first_buffered_update_id, sync.buffered_count) == (
            SyncState.BUFFERING,
            12,
            2,
        )
        assert_counts(
            sync,
            events_received=3,
            events_buffered=3,
            events_dropped_stale=1,
            gaps=1,
            resyncs=1,
            snapshots_used=1,
        )
        assert sync.on_snapshot(snap(13), recv_ns=4_000) is Out.SYNCED
        assert sync.last_update_id == 15


class TestStep6BookIsTheSnapshot:
    """§2.6 step 6: the local book is the snapshot, its id lastUpdateId."""

    def test_book_equals_snapshot_until_the_first_event(self) -> None:
        sync = BookSync(SYMBOL)
        feed(sync, ev(5, 7))
        bids, asks = ((100, 4), (99, 2)), ((101, 1), (102, 0))
        sync.on_snapshot(snap(8, bids, asks), recv_ns=3_000)
        assert sync.state is SyncState.SYNCING
        assert sync.book.matches_snapshot(bids, asks)
        assert_book(sync, {100: 4, 99: 2}, {101: 1})


class TestStep7UpdateProcedure:
    """§2.6 step 7: u < local → ignore; U > local+1 → gap, discard, restart; sizes absolute."""

    def test_contiguous_events_apply_absolute_sizes(self) -> None:
        sync = synced_spot(10)
        assert feed(
            sync,
            ev(12, 13, bids=((100, 3), (98, 1)), asks=((111, 2),)),
            ev(14, 14, bids=((98, 0), (97, 0)), asks=((110, 0),)),  # 97 unknown: harmless
        ) == [Out.APPLIED, Out.APPLIED]
        assert_book(sync, {100: 3}, {111: 2})
        assert (sync.book.best_bid(), sync.book.best_ask(), sync.last_update_id) == (100, 111, 14)
        assert_counts(
            sync,
            events_received=3,
            events_buffered=1,
            events_applied=3,
            levels_applied=6,
            snapshots_used=1,
            syncs=1,
        )

    def test_old_and_duplicate_events_are_ignored(self) -> None:
        sync = synced_spot(10)
        feed(sync, ev(12, 13, bids=((100, 3),)))
        assert feed(sync, ev(12, 13, bids=((100, 9),)), ev(5, 6), ev(14, 15)) == [
            Out.IGNORED_OLD,
            Out.IGNORED_OLD,
            Out.APPLIED,
        ]
        assert_book(sync, {100: 3}, {110: 10})

    def test_overlapping_event_is_applied(self) -> None:
        sync = synced_spot(10)
        assert feed(sync, ev(9, 14, asks=((110, 1),))) == [Out.APPLIED]
        assert sync.last_update_id == 14

    def test_gap_discards_the_book_and_restarts_buffering_from_the_event(self) -> None:
        sync = synced_spot(10)
        assert feed(sync, ev(13, 14)) == [Out.GAP]  # 12 missing
        assert (sync.state, sync.last_update_id, sync.first_buffered_update_id) == (
            SyncState.BUFFERING,
            None,
            13,
        )
        with pytest.raises(SyncError):
            _ = sync.book
        assert feed(sync, ev(15, 16)) == [Out.BUFFERED]
        assert sync.on_snapshot(snap(14, bids=((90, 1),)), recv_ns=9_000) is Out.SYNCED
        assert_book(sync, {90: 1}, {110: 10})
        assert_counts(
            sync,
            events_received=3,
            events_buffered=3,
            events_applied=2,
            events_dropped_stale=1,
            gaps=1,
            resyncs=1,
            snapshots_used=2,
            syncs=2,
        )

    def test_gap_is_logged_as_a_warning_transition(self, caplog: pytest.LogCaptureFixture) -> None:
        sync = synced_spot(10)
        with caplog.at_level(logging.INFO, logger="feedcheck.binance.sync"):
            feed(sync, ev(13, 14))
        assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
            (
                "WARNING",
                "ETHUSDT: LIVE -> BUFFERING (gap, continuity broken: local id 11, "
                "event U=13 u=14 pu=None)",
            )
        ]


class TestUsdmRules:
    """USD-M (anchors.md §0): drop u < L; first event U <= L <= u; then pu == previous u."""

    def make(self) -> BookSync:
        sync = BookSync(SYMBOL, Variant.USDM)
        feed(sync, ev(100, 120, pu=90), ev(125, 140, pu=120))
        return sync

    def test_event_ending_exactly_at_the_snapshot_is_kept(self) -> None:
        sync = self.make()
        assert sync.on_snapshot(snap(140, bids=((100, 1),)), recv_ns=3_000) is Out.SYNCED
        assert_counts(
            sync,
            events_received=2,
            events_buffered=2,
            events_dropped_stale=1,
            events_applied=1,
            snapshots_used=1,
            syncs=1,
        )
        assert feed(sync, ev(150, 160, bids=((100, 5),), pu=140)) == [Out.APPLIED]
        assert_book(sync, {100: 5}, {110: 10})

    def test_pu_chain_break_is_a_gap(self) -> None:
        sync = self.make()
        sync.on_snapshot(snap(130), recv_ns=3_000)
        assert feed(sync, ev(150, 160, pu=145)) == [Out.GAP]
        assert sync.counters.gaps == 1

    def test_non_contiguous_ids_are_fine_when_pu_links(self) -> None:
        sync = self.make()
        sync.on_snapshot(snap(130), recv_ns=3_000)
        # Spot's rule would call U=150 after u=140 a gap; USD-M links by pu.
        assert spot_is_gap(150, 140)
        assert feed(sync, ev(150, 160, pu=140), ev(150, 160, pu=140)) == [
            Out.APPLIED,
            Out.IGNORED_OLD,
        ]

    def test_first_event_must_contain_the_snapshot_id(self) -> None:
        sync = self.make()
        assert sync.on_snapshot(snap(122), recv_ns=3_000) is Out.GAP  # 125 > 122: not bracketing

    def test_snapshot_older_than_first_u_is_refetched(self) -> None:
        sync = self.make()
        assert sync.on_snapshot(snap(99), recv_ns=3_000) is Out.SNAPSHOT_TOO_OLD


class TestDisconnect:
    """Book state is never carried across a socket break."""

    def test_disconnect_from_live_drops_book_and_buffer(self) -> None:
        sync = synced_spot(10)
        sync.on_disconnect()
        assert (sync.state, sync.last_update_id, sync.buffered_count) == (SyncState.IDLE, None, 0)
        with pytest.raises(SyncError) as info:
            _ = sync.book
        assert info.value.state == "IDLE"
        # The next event starts over, even if it would continue the old chain.
        assert feed(sync, ev(12, 13)) == [Out.NEEDS_SNAPSHOT]

    def test_disconnect_while_buffering_discards_the_buffer(self) -> None:
        sync = BookSync(SYMBOL)
        feed(sync, ev(5, 7), ev(8, 9))
        sync.on_disconnect()
        assert_counts(sync, events_received=2, events_buffered=2, events_discarded=2, disconnects=1)


class TestWrongStateAndWrongInput:
    """Operations in the wrong state raise SyncError naming the state and the ids."""

    @pytest.mark.parametrize("state", ["IDLE", "SYNCING", "LIVE"])
    def test_snapshot_only_while_buffering(self, state: str) -> None:
        sync = BookSync(SYMBOL)
        if state != "IDLE":
            feed(sync, ev(5, 7))
            sync.on_snapshot(snap(8), recv_ns=3_000)
        if state == "LIVE":
            feed(sync, ev(9, 9))
        assert sync.state.name == state
        with pytest.raises(SyncError) as info:
            sync.on_snapshot(snap(20), recv_ns=4_000)
        err = info.value
        assert (err.symbol, err.state, err.last_update_id) == (SYMBOL, state, 20)
        assert str(err) == (
            f"ETHUSDT in state {state}: snapshot delivered but none was asked for (lastUpdateId=20)"
        )

    def test_other_symbol(self) -> None:
        sync = BookSync(SYMBOL)
        with pytest.raises(SyncError) as info:
            feed(sync, ev(5, 7, symbol="BTCUSDT"))
        assert (info.value.state, info.value.U, info.value.u) == ("IDLE", 5, 7)
        feed(sync, ev(5, 7))
        with pytest.raises(SyncError):
            sync.on_snapshot(snap(8, symbol="BTCUSDT"), recv_ns=1)

    def test_variant_mismatch(self) -> None:
        with pytest.raises(SyncError):
            feed(BookSync(SYMBOL, Variant.USDM), ev(5, 7))
        with pytest.raises(SyncError):
            feed(BookSync(SYMBOL, Variant.SPOT), ev(5, 7, pu=4))

    def test_buffer_limit_must_be_positive(self) -> None:
        with pytest.raises(ConfigError):
            SyncOptions(max_buffered_events=0)


class TestBufferOverflow:
    """A snapshot that never comes cannot grow the buffer without bound."""

    def test_overflow_restarts_the_buffer_from_the_new_event(self) -> None:
        sync = BookSync(SYMBOL, options=SyncOptions(max_buffered_events=3))
        outcomes = feed(sync, ev(1, 1), ev(2, 2), ev(3, 3), ev(4, 4), ev(5, 5))
        assert outcomes == [Out.NEEDS_SNAPSHOT] + [Out.BUFFERED] * 4
        assert (sync.first_buffered_update_id, sync.buffered_count) == (4, 2)
        assert_counts(
            sync, events_received=5, events_buffered=5, events_discarded=3, buffer_overflows=1
        )
        # A snapshot older than the new first U (it was fetched for the old buffer) is refetched.
        assert sync.on_snapshot(snap(3), recv_ns=9) is Out.SNAPSHOT_TOO_OLD


class TestOldBuggyGapRule:
    """§2.6 history: the 2024-12-16 text tested `U > local id`, false-alarming on every event."""

    def test_buggy_rule_flags_every_contiguous_event_the_current_rule_none(self) -> None:
        chain = [ev(11, 12), ev(13, 13), ev(14, 20), ev(21, 22)]
        steps = _walk(10, chain)
        assert [buggy_2024_12_is_gap(e.first_update_id, lid) for lid, e in steps] == [True] * 4
        assert [spot_is_gap(e.first_update_id, lid) for lid, e in steps] == [False] * 4

    def test_both_rules_catch_a_real_gap(self) -> None:
        assert buggy_2024_12_is_gap(13, 11) and spot_is_gap(13, 11)


def _walk(local_id: int, chain: list[DepthUpdate]) -> list[tuple[int, DepthUpdate]]:
    out = []
    for event in chain:
        out.append((local_id, event))
        local_id = event.final_update_id
    return out
