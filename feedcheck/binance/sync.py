"""Binance local order-book sync as a sans-I/O state machine, one per symbol.

The machine is fed parsed events and snapshots and returns what happened; it never awaits, reads a
clock or touches a socket (receive times come in as ns arguments). The capture loop acts on the
returned `SyncOutcome`: fetch a snapshot on `NEEDS_SNAPSHOT` / `GAP` / `SNAPSHOT_TOO_OLD`
(`outcome.needs_snapshot`), nothing otherwise.

Spot, the current text of "How to manage a local order book correctly" (corrected 2025-11-12),
numbered as in reference/data-formats.md §2.6 (step 1, connecting, is the caller's):

2. buffer the events and note the `U` of the first one;              IDLE → BUFFERING
3. fetch a snapshot (the caller, on `needs_snapshot`);
4. if its `lastUpdateId` < that first `U`, fetch again;              → SNAPSHOT_TOO_OLD
5. drop buffered events with `u <= lastUpdateId`; the first remaining event must bracket
   `U <= lastUpdateId + 1 <= u`;                                     → DROPPED_STALE (else GAP)
6. the book is the snapshot, its id `lastUpdateId`;                  BUFFERING → SYNCING
7. for every event: `u < local id` → ignore; `U > local id + 1` → events were missed: discard
   the book and restart from buffering; else apply, local id = `u`.  → IGNORED_OLD / GAP / APPLIED

USD-M futures (anchors.md §0): step 5 drops only `u < lastUpdateId` and brackets
`U <= lastUpdateId <= u`; step 7's continuity test is `pu == previous u` (ids are not contiguous
between events).

Two precisions over the text, both with the same book as a literal reading: in LIVE an event with
`u == local id` is ignored too (it can only repeat the last applied event, whose absolute sizes the
book already holds), so a duplicate is never counted as applied; and a snapshot older than the
first buffered `U` is refetched on USD-M as on spot (no event could bracket it).

States (`SyncState`): IDLE (no event since start or a disconnect) → BUFFERING (awaiting a snapshot)
→ SYNCING (snapshot loaded, awaiting the first bracketing event) → LIVE. A gap goes back to
BUFFERING with the revealing event as the new first buffered event; `on_disconnect` goes to IDLE
from anywhere. Book state is never carried across either.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, replace

from feedcheck.binance.book import Book
from feedcheck.binance.wire import DepthSnapshot, DepthUpdate
from feedcheck.errors import ConfigError, SyncError

logger = logging.getLogger(__name__)

#: Events kept while waiting for a snapshot; beyond this the buffer restarts from the new event
#: (about 2.8 h of one symbol's `@depth@100ms`), so a snapshot that never comes cannot exhaust memory.
DEFAULT_MAX_BUFFERED_EVENTS = 100_000


class Variant(enum.Enum):
    """Which Binance rule set applies."""

    SPOT = "spot"  #: continuity by id: next `U == prev u + 1`
    USDM = "usdm"  #: continuity by link: next `pu == prev u`


class SyncState(enum.Enum):
    """Where one symbol's sync stands."""

    IDLE = "idle"  #: no event since start or the last disconnect; no book
    BUFFERING = "buffering"  #: events buffered, a snapshot is wanted
    SYNCING = "syncing"  #: book = snapshot; waiting for the first event that brackets it
    LIVE = "live"  #: book valid at `last_update_id`


class SyncOutcome(enum.Enum):
    """What one call did; the capture loop acts on it."""

    NEEDS_SNAPSHOT = "needs_snapshot"  #: first event buffered: fetch a snapshot now
    BUFFERED = "buffered"  #: event buffered while a snapshot is awaited
    APPLIED = "applied"  #: event applied; the book is live at its `u`
    DROPPED_STALE = "dropped_stale"  #: before the first apply: already inside the snapshot
    IGNORED_OLD = "ignored_old"  #: live: `u <= local id`, a duplicate or older event
    GAP = "gap"  #: updates were missed: book discarded, event buffered, fetch a snapshot
    SNAPSHOT_TOO_OLD = "snapshot_too_old"  #: `lastUpdateId < first buffered U`: fetch again
    SYNCED = "synced"  #: snapshot loaded and the buffer replayed onto it without a gap

    @property
    def needs_snapshot(self) -> bool:
        """True when the caller must (re)fetch a REST snapshot for this symbol."""
        return self in _WANTS_SNAPSHOT


_WANTS_SNAPSHOT = frozenset(
    {SyncOutcome.NEEDS_SNAPSHOT, SyncOutcome.GAP, SyncOutcome.SNAPSHOT_TOO_OLD}
)


def spot_is_gap(first_update_id: int, local_update_id: int) -> bool:
    """Spot continuity rule (text of 2025-11-12): an event starting past `local id + 1` missed ids."""
    return first_update_id > local_update_id + 1


def usdm_is_gap(prev_final_update_id: int, local_update_id: int) -> bool:
    """USD-M continuity rule: an event whose `pu` is not the local id does not follow it."""
    return prev_final_update_id != local_update_id


@dataclass(frozen=True)
class SyncOptions:
    """Knobs of the machine. `max_buffered_events` defaults to `DEFAULT_MAX_BUFFERED_EVENTS`."""

    max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS

    def __post_init__(self) -> None:
        if self.max_buffered_events < 1:
            raise ConfigError(f"max_buffered_events must be >= 1, got {self.max_buffered_events}")


@dataclass(slots=True)
class SyncCounters:
    """Running count of every decision. `BookSync.counters` hands out copies.

    Every received event ends in exactly one of applied / dropped_stale / ignored_old /
    discarded, or is still buffered: `events_received == events_applied + events_dropped_stale +
    events_ignored_old + events_discarded + BookSync.buffered_count`.
    """

    events_received: int = 0  #: on_depth calls
    events_buffered: int = 0  #: arrivals put in the buffer (incl. one revealing a gap)
    events_applied: int = 0
    levels_applied: int = 0  #: bid + ask levels of the applied events
    events_dropped_stale: int = 0  #: `u` inside the snapshot (before the first apply)
    events_ignored_old: int = 0  #: live, `u <= local id`
    events_discarded: int = 0  #: buffered events thrown away by a disconnect or a buffer overflow
    gaps: int = 0  #: continuity breaks detected (first event not bracketing, or a live break)
    resyncs: int = 0  #: book discarded and the procedure restarted because of a gap
    syncs: int = 0  #: times the book went live (initial sync plus every completed resync)
    snapshots_used: int = 0
    snapshots_too_old: int = 0  #: refetches asked for: `lastUpdateId < first buffered U`
    disconnects: int = 0
    buffer_overflows: int = 0


class BookSync:
    """Binance book sync for one symbol, sans I/O: feed events, act on the returned outcome.

    Args:
        symbol: upper-case symbol; events and snapshots for another symbol raise SyncError.
        variant: `Variant.SPOT` or `Variant.USDM` rule set.
        options: buffer limit.
    """

    def __init__(
        self, symbol: str, variant: Variant = Variant.SPOT, options: SyncOptions | None = None
    ) -> None:
        self.symbol = symbol
        self.variant = variant
        self._options = options if options is not None else SyncOptions()
        self._state = SyncState.IDLE
        self._book = Book()
        self._local_id: int | None = None
        self._buffer: list[DepthUpdate] = []
        self._first_buffered_recv_ns: int | None = None
        self._last_sync_latency_ns: int | None = None
        self._counters = SyncCounters()

    # -- read-only view ---------------------------------------------------------------------

    @property
    def state(self) -> SyncState:
        return self._state

    @property
    def last_update_id(self) -> int | None:
        """The book's update id: the snapshot's in SYNCING, the last applied `u` in LIVE."""
        return self._local_id

    @property
    def first_buffered_update_id(self) -> int | None:
        """`U` of the first buffered event (what a snapshot must reach), None unless BUFFERING."""
        return self._buffer[0].first_update_id if self._buffer else None

    @property
    def buffered_count(self) -> int:
        return len(self._buffer)

    @property
    def last_sync_latency_ns(self) -> int | None:
        """recv time of the last used snapshot minus that of the first event buffered before it."""
        return self._last_sync_latency_ns

    @property
    def counters(self) -> SyncCounters:
        """A copy of the counters (mutating it does not touch the machine)."""
        return replace(self._counters)

    @property
    def book(self) -> Book:
        """The book, valid at `last_update_id`. Read it, do not mutate it.

        Raises:
            SyncError: in IDLE or BUFFERING, where no valid book exists.
        """
        if self._state is not SyncState.LIVE and self._state is not SyncState.SYNCING:
            raise self._error("no valid book in this state")
        return self._book

    # -- inputs -----------------------------------------------------------------------------

    def on_depth(self, event: DepthUpdate, recv_ns: int) -> SyncOutcome:
        """Take one diff-depth event received at `recv_ns` (epoch ns).

        Returns:
            NEEDS_SNAPSHOT (first buffered event), BUFFERED, APPLIED, DROPPED_STALE, IGNORED_OLD
            or GAP (book discarded; this event is the first of a new buffer).

        Raises:
            SyncError: the event is for another symbol, or lacks (spot: carries) `pu` for the
                variant; names the state and the event's U/u.
        """
        if event.symbol != self.symbol:
            raise self._error(f"event for {event.symbol}", event)
        if (event.prev_final_update_id is None) is (self.variant is Variant.USDM):
            raise self._error(f"event does not fit the {self.variant.value} rules (pu)", event)
        counters = self._counters
        counters.events_received += 1
        if self._state is SyncState.LIVE or self._state is SyncState.SYNCING:
            outcome = self._process(event)
            if outcome is SyncOutcome.GAP:
                counters.events_buffered += 1
                self._first_buffered_recv_ns = recv_ns
            return outcome
        counters.events_buffered += 1
        if self._state is SyncState.IDLE:
            self._buffer.append(event)
            self._first_buffered_recv_ns = recv_ns
            self._set_state(SyncState.BUFFERING, f"first event buffered, U={event.first_update_id}")
            return SyncOutcome.NEEDS_SNAPSHOT
        if len(self._buffer) >= self._options.max_buffered_events:
            counters.buffer_overflows += 1
            counters.events_discarded += len(self._buffer)
            self._buffer = [event]
            self._first_buffered_recv_ns = recv_ns
            self._set_state(
                SyncState.BUFFERING,
                f"buffer overflow at {self._options.max_buffered_events} events, restarted",
                logging.WARNING,
            )
            return SyncOutcome.BUFFERED
        self._buffer.append(event)
        return SyncOutcome.BUFFERED

    def on_snapshot(self, snapshot: DepthSnapshot, recv_ns: int) -> SyncOutcome:
        """Take a REST snapshot received at `recv_ns` (epoch ns); only valid while BUFFERING.

        Returns:
            SNAPSHOT_TOO_OLD (`lastUpdateId` < first buffered `U`; nothing changed, fetch again),
            SYNCED (book set and the buffer replayed: state SYNCING or LIVE), or GAP (the buffer
            broke continuity after the snapshot: book discarded, BUFFERING again from the event
            that revealed it).

        Raises:
            SyncError: called in IDLE, SYNCING or LIVE (the caller fetches only when an outcome
                asks for a snapshot and cancels the fetch on a disconnect), or for another symbol.
        """
        last_update_id = snapshot.last_update_id
        if snapshot.symbol != self.symbol:
            raise self._error(f"snapshot for {snapshot.symbol}", last_update_id=last_update_id)
        if self._state is not SyncState.BUFFERING:
            raise self._error(
                "snapshot delivered but none was asked for", last_update_id=last_update_id
            )
        buffered = self._buffer
        if last_update_id < buffered[0].first_update_id:
            self._counters.snapshots_too_old += 1
            logger.info(
                "%s: snapshot lastUpdateId=%d < first buffered U=%d, refetch",
                self.symbol,
                last_update_id,
                buffered[0].first_update_id,
            )
            return SyncOutcome.SNAPSHOT_TOO_OLD
        self._counters.snapshots_used += 1
        if self._first_buffered_recv_ns is not None:
            self._last_sync_latency_ns = recv_ns - self._first_buffered_recv_ns
        self._book.load(snapshot.bids, snapshot.asks)
        self._local_id = last_update_id
        self._buffer = []
        self._set_state(SyncState.SYNCING, f"snapshot lastUpdateId={last_update_id} loaded")
        for index, event in enumerate(buffered):
            if self._process(event) is SyncOutcome.GAP:
                # The events after the one that revealed the gap continue the stream from it.
                self._buffer.extend(buffered[index + 1 :])
                self._first_buffered_recv_ns = None  # buffered events keep no receive time
                return SyncOutcome.GAP
        return SyncOutcome.SYNCED

    def on_disconnect(self) -> None:
        """The socket broke: forget the book and the buffer (never carried across), go IDLE."""
        self._counters.disconnects += 1
        self._counters.events_discarded += len(self._buffer)
        self._buffer = []
        self._book.clear()
        self._local_id = None
        self._first_buffered_recv_ns = None
        self._set_state(SyncState.IDLE, "disconnect")

    # -- internals --------------------------------------------------------------------------

    def _process(self, event: DepthUpdate) -> SyncOutcome:
        """Steps 5 and 7 for one event while a book exists (SYNCING or LIVE)."""
        local_id = self._local_id
        assert local_id is not None
        counters = self._counters
        first_id = event.first_update_id
        final_id = event.final_update_id
        if self._state is SyncState.LIVE:
            if final_id <= local_id:
                counters.events_ignored_old += 1
                return SyncOutcome.IGNORED_OLD
            if self.variant is Variant.SPOT:
                broken = spot_is_gap(first_id, local_id)
            else:
                assert event.prev_final_update_id is not None
                broken = usdm_is_gap(event.prev_final_update_id, local_id)
            if broken:
                return self._restart_after_gap(event, "continuity broken")
        else:
            # SYNCING: the first event applied must contain the snapshot's id.
            if self.variant is Variant.SPOT:
                stale = final_id <= local_id
                brackets = first_id <= local_id + 1
            else:
                stale = final_id < local_id
                brackets = first_id <= local_id
            if stale:
                counters.events_dropped_stale += 1
                return SyncOutcome.DROPPED_STALE
            if not brackets:
                return self._restart_after_gap(event, "first event does not bracket the snapshot")
        self._book.apply(event.bids, event.asks)
        self._local_id = final_id
        counters.events_applied += 1
        counters.levels_applied += len(event.bids) + len(event.asks)
        if self._state is SyncState.SYNCING:
            counters.syncs += 1
            self._set_state(SyncState.LIVE, f"first event U={first_id} u={final_id} applied")
        return SyncOutcome.APPLIED

    def _restart_after_gap(self, event: DepthUpdate, why: str) -> SyncOutcome:
        local_id = self._local_id
        self._counters.gaps += 1
        self._counters.resyncs += 1
        self._book.clear()
        self._local_id = None
        self._buffer = [event]
        self._set_state(
            SyncState.BUFFERING,
            f"gap, {why}: local id {local_id}, event U={event.first_update_id} "
            f"u={event.final_update_id} pu={event.prev_final_update_id}",
            logging.WARNING,
        )
        return SyncOutcome.GAP

    def _set_state(self, state: SyncState, reason: str, level: int = logging.INFO) -> None:
        """The one place the state changes; every transition is logged with its reason."""
        logger.log(level, "%s: %s -> %s (%s)", self.symbol, self._state.name, state.name, reason)
        self._state = state

    def _error(
        self, reason: str, event: DepthUpdate | None = None, last_update_id: int | None = None
    ) -> SyncError:
        return SyncError(
            symbol=self.symbol,
            state=self._state.name,
            reason=reason,
            U=None if event is None else event.first_update_id,
            u=None if event is None else event.final_update_id,
            last_update_id=self._local_id if last_update_id is None else last_update_id,
        )
