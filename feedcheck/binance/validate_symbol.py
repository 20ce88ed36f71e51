"""One symbol's replay in a capture validation: the sync rules, gap positions, snapshot checks.

`SymbolReplay` drives a `BookSync` with the recording's depth events and in-band snapshots and
keeps what a validation reports. A snapshot arriving while the machine waits for one (BUFFERING)
syncs the book; one arriving while the book is live is a check: the book is compared with it
when its id reaches the snapshot's `lastUpdateId` (exactly, or, when that id falls inside one
event, right after that event with the levels the event touched left out, since their value at
the id in between is unknown). A REST answer usually arrives after the stream has gone past its
`lastUpdateId`, so the last `ROLLBACK_EVENTS` applied events keep the sizes they overwrote: the
book is compared as it was at that id (the same two modes). A snapshot older than that window, or
than the sync the book started from, cannot be compared (skipped).

Comparisons are exact (int ticks and lots) within the snapshot's window (`BookSide.
window_mismatches`' rule), clipped to the prices the book knows: as deep as the snapshot it
synced from (deeper levels it never saw may exist on the exchange).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from feedcheck.binance.book import Book, BookSide
from feedcheck.binance.rawrecord import RawRecord
from feedcheck.binance.sync import BookSync, SyncOutcome, SyncState, Variant
from feedcheck.binance.validate_decode import DecimalsSeen, decimal_text
from feedcheck.binance.validate_result import (
    CrossedAt,
    GapAt,
    GapRule,
    LevelDiff,
    ScaleSource,
    SnapshotCheck,
    SymbolValidation,
)
from feedcheck.binance.wire import DepthSnapshot, DepthUpdate, Level, Scale
from feedcheck.errors import SyncError

#: Positions kept per list (gaps, crossed moments); the counts stay exact.
MAX_LISTED = 1000
MAX_LISTED_CROSSED = 20
#: Differing levels kept as evidence per snapshot check.
MAX_DIFFS = 5
#: Applied events whose overwritten sizes are kept, to compare the book with a snapshot it has
#: already passed: 600 events = 60 s of depth@100ms, far beyond a REST round trip.
ROLLBACK_EVENTS = 600

_BUFFERING = frozenset({SyncOutcome.NEEDS_SNAPSHOT, SyncOutcome.BUFFERED, SyncOutcome.GAP})
_HAS_BOOK = frozenset({SyncState.LIVE, SyncState.SYNCING})


@dataclass(frozen=True, slots=True)
class _Buffered:
    """Where a buffered event was read, so a gap found at snapshot time can be placed."""

    path: str
    line_no: int
    recv_ns: int
    event: DepthUpdate


@dataclass(frozen=True, slots=True)
class _Applied:
    """An applied event and what it overwrote: the book's id before it, and per side the size
    each price it touched had before (0: no level)."""

    event: DepthUpdate
    id_before: int
    bids_before: tuple[Level, ...]
    asks_before: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class _Pending:
    snapshot: DepthSnapshot
    path: str
    line_no: int


def _deepest(levels: tuple[Level, ...], is_bid: bool) -> int | None:
    prices = [p for p, q in levels if q]
    if not prices:
        return None
    return min(prices) if is_bid else max(prices)


def side_diffs(
    side: BookSide,
    levels: tuple[Level, ...],
    known_deepest: int | None,
    exclude: set[int],
    rolled_back: Mapping[int, int] | None = None,
) -> tuple[int, list[tuple[int, int | None, int | None]]]:
    """(prices compared, differing (price, book qty, snapshot qty)) for one side, best first.

    Window: prices at or better than the snapshot side's deepest non-zero level (the whole side
    when the snapshot side is empty), and at or better than `known_deepest` (None: no bound);
    prices in `exclude` are left out. `rolled_back` (price → lots, 0: no level) replaces the
    side's sizes at those prices: the side as it was before later events.
    """
    better = (lambda p, bound: p >= bound) if side.is_bid else (lambda p, bound: p <= bound)
    expected = {
        p: q
        for p, q in levels
        if q and p not in exclude and (known_deepest is None or better(p, known_deepest))
    }
    if levels and not expected:
        return 0, []
    bound = _deepest(tuple(expected.items()), side.is_bid)
    sizes = side.as_dict()
    for price, qty in (rolled_back or {}).items():
        if qty:
            sizes[price] = qty
        else:
            sizes.pop(price, None)
    book = {
        p: q
        for p, q in sizes.items()
        if p not in exclude
        and (bound is None or better(p, bound))
        and (known_deepest is None or better(p, known_deepest))
    }
    prices = sorted(expected.keys() | book.keys(), reverse=side.is_bid)
    diffs = [(p, book.get(p), expected.get(p)) for p in prices if book.get(p) != expected.get(p)]
    return len(prices), diffs


class SymbolReplay:
    """Validation state of one symbol: feed `on_depth` / `on_snapshot` / `on_break` in order.

    Args:
        symbol: upper-case symbol.
        variant: rule set; None: USD-M when the first depth event carries `pu`, else spot (the
            machine starts at the first depth event; a snapshot before it is unused).
        parse_scale: the scale events are parsed at (ints in `DecimalsSeen` units).
    """

    def __init__(self, symbol: str, variant: Variant | None, parse_scale: Scale) -> None:
        self.symbol = symbol
        self.variant = variant
        self._sync: BookSync | None = None
        self.parse_scale = parse_scale
        self.decimals = DecimalsSeen(parse_scale)
        self.depth_events = self.levels = self.trades = 0
        self.snapshots = self.unused = self.skipped = self.break_resyncs = 0
        # A break discarded a live book: it counts as a resync once depth data follows it, so the
        # disconnect marker of a clean stop at the end of a recording is not one.
        self._resync_pending = False
        self.crossed = 0
        self.gaps: list[GapAt] = []
        self.checks: list[SnapshotCheck] = []
        self.crossed_at: list[CrossedAt] = []
        self._buffered: list[_Buffered] = []
        self._pending: list[_Pending] = []
        self._applied: deque[_Applied] = deque(maxlen=ROLLBACK_EVENTS)
        self._known: tuple[int | None, int | None] = (None, None)

    # -- inputs ------------------------------------------------------------------------------

    @property
    def sync(self) -> BookSync:
        """The machine (created at the first depth event).

        Raises:
            SyncError: before the first depth event.
        """
        if self._sync is None:
            raise SyncError(self.symbol, SyncState.IDLE.name, "no depth event yet")
        return self._sync

    def on_depth(self, event: DepthUpdate, record: RawRecord) -> None:
        """One depth event (its symbol is this one).

        Raises:
            SyncError: the event does not fit the variant (`pu` present on spot or absent on
                USD-M).
        """
        self._count_pending_resync()
        if self._sync is None:
            variant = self.variant
            if variant is None:
                variant = Variant.SPOT if event.prev_final_update_id is None else Variant.USDM
            self._sync = BookSync(self.symbol, variant)
        sync = self._sync
        state, local_id = sync.state, sync.last_update_id
        before = self._sizes_before(event) if state in _HAS_BOOK else None
        outcome = sync.on_depth(event, record.recv_ns)
        self.depth_events += 1
        self.levels += event.level_count
        self.decimals.add_levels(event.bids, event.asks)
        if outcome in _BUFFERING:
            self._buffered.append(_Buffered(record.path, record.line_no, record.recv_ns, event))
        if outcome is SyncOutcome.GAP:
            assert local_id is not None
            rule: GapRule = "continuity" if state is SyncState.LIVE else "bracket"
            self._gap(self._buffered[-1], rule, local_id)
        self._trim_buffer()
        if outcome is SyncOutcome.APPLIED:
            assert before is not None and local_id is not None
            self._applied.append(_Applied(event, local_id, *before))
            self._after_apply(event, record)

    def _sizes_before(self, event: DepthUpdate) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        book = self.sync.book
        return (
            tuple((p, book.bids.qty(p)) for p, _ in event.bids),
            tuple((p, book.asks.qty(p)) for p, _ in event.asks),
        )

    def _count_pending_resync(self) -> None:
        if self._resync_pending:
            self.break_resyncs += 1
            self._resync_pending = False

    def on_snapshot(self, snapshot: DepthSnapshot, record: RawRecord) -> None:
        """One in-band snapshot: syncs the book, is compared with it, or is counted unused."""
        self._count_pending_resync()
        self.snapshots += 1
        self.decimals.add_levels(snapshot.bids, snapshot.asks)
        sync = self._sync
        if sync is None:
            self.unused += 1
        elif sync.state is SyncState.BUFFERING:
            buffered = list(self._buffered)
            self._applied.clear()  # the book is replaced: nothing before it can be rolled back to
            outcome = sync.on_snapshot(snapshot, record.recv_ns)
            if outcome in (SyncOutcome.SYNCED, SyncOutcome.GAP):
                self._known = (_deepest(snapshot.bids, True), _deepest(snapshot.asks, False))

            if outcome is SyncOutcome.GAP:
                self._gap_in_replay(buffered, snapshot.last_update_id)
            self._trim_buffer()
            if outcome is SyncOutcome.SYNCED and sync.state is SyncState.LIVE:
                self._check_crossed(record, sync.last_update_id)
        elif sync.state in _HAS_BOOK:
            self._pending.append(_Pending(snapshot, record.path, record.line_no))
            self._run_checks()
        else:
            self.unused += 1

    def on_trade(self, price: int, qty: int) -> None:
        self.trades += 1
        self.decimals.add(price, qty)

    def on_break(self) -> None:
        """A connect / disconnect / gap marker: the book is discarded, never carried across."""
        if self._sync is None:
            return
        if self._sync.state in _HAS_BOOK:
            self._resync_pending = True
        self._sync.on_disconnect()
        self._buffered.clear()
        self._drop_pending()
        self._known = (None, None)

    # -- results -----------------------------------------------------------------------------

    def result(self, scale: Scale, source: ScaleSource) -> SymbolValidation:
        sync = self._sync or BookSync(self.symbol, self.variant or Variant.SPOT)
        c = sync.counters
        seen = self.decimals.scale()
        return SymbolValidation(
            symbol=self.symbol,
            variant=sync.variant.value,
            price_decimals=scale.price_decimals,
            qty_decimals=scale.qty_decimals,
            scale_source=source,
            decimals_seen_price=seen.price_decimals,
            decimals_seen_qty=seen.qty_decimals,
            depth_events=self.depth_events,
            levels=self.levels,
            trades=self.trades,
            events_applied=c.events_applied,
            syncs=c.syncs,
            gaps=c.gaps,
            resyncs=c.resyncs + self.break_resyncs,
            snapshots=self.snapshots,
            snapshots_used=c.snapshots_used,
            snapshots_too_old=c.snapshots_too_old,
            snapshots_unused=self.unused,
            snapshot_checks=len(self.checks),
            snapshot_checks_skipped=self.skipped + len(self._pending),
            snapshot_mismatches=sum(1 for k in self.checks if k.mismatches),
            crossed=self.crossed,
            final_state=sync.state.value,
            last_update_id=sync.last_update_id,
        )

    # -- internals ---------------------------------------------------------------------------

    def _trim_buffer(self) -> None:
        # The machine's buffer is always a suffix of the events handed to it.
        keep = self._sync.buffered_count if self._sync is not None else 0
        if len(self._buffered) != keep:
            self._buffered = self._buffered[len(self._buffered) - keep :] if keep else []

    def _gap(self, at: _Buffered, rule: GapRule, local_id: int) -> None:
        self._drop_pending()
        if len(self.gaps) >= MAX_LISTED:
            return
        e = at.event
        usdm = self.sync.variant is Variant.USDM
        expected = local_id if usdm else local_id + 1
        self.gaps.append(
            GapAt(
                at.path,
                at.line_no,
                self.symbol,
                rule,
                e.first_update_id,
                e.final_update_id,
                e.prev_final_update_id,
                local_id,
                expected,
                at.recv_ns,
            )
        )

    def _gap_in_replay(self, buffered: list[_Buffered], last_update_id: int) -> None:
        """The buffer broke continuity while replayed onto a snapshot: the event that revealed
        it is the first of the machine's new buffer; the book's id before it is the last
        applied `u` after the snapshot (the snapshot's id when none was applied)."""
        revealing = buffered[len(buffered) - self.sync.buffered_count]
        usdm = self.sync.variant is Variant.USDM
        local_id, applied = last_update_id, False
        for item in buffered:
            if item is revealing:
                break
            final_id = item.event.final_update_id
            # USD-M's first applied event may end exactly at the snapshot's id.
            if final_id > local_id or (usdm and not applied and final_id == local_id):
                local_id, applied = final_id, True
        self._gap(revealing, "continuity" if applied else "bracket", local_id)

    def _after_apply(self, event: DepthUpdate, record: RawRecord) -> None:
        if self._pending:
            self._run_checks()
        if self.sync.state is SyncState.LIVE:
            self._check_crossed(record, event.final_update_id)

    def _run_checks(self) -> None:
        """Compare every pending snapshot the book has reached, rolled back when it has gone past;
        skip those older than the rollback window."""
        book_id = self.sync.last_update_id
        assert book_id is not None
        waiting = []
        for pending in self._pending:
            target = pending.snapshot.last_update_id
            if book_id == target:
                self._compare(pending, book_id, None, ({}, {}))
            elif book_id < target:
                waiting.append(pending)
            elif (at := self._rollback(target)) is not None:
                self._compare(pending, *at)
            else:
                self.skipped += 1
        self._pending = waiting

    def _rollback(
        self, target: int
    ) -> tuple[int, DepthUpdate | None, tuple[dict[int, int], dict[int, int]]] | None:
        """The book as it was at update id `target` (< the book's id): (its id, the event
        `target` falls inside or None when exactly at an event's end, the sizes to put back per
        side); None when `target` is before the applied events kept."""
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        for applied in reversed(self._applied):
            if applied.id_before < target:
                final_id = applied.event.final_update_id
                inside = None if final_id == target else applied.event
                return final_id, inside, (bids, asks)
            # Newest first, so an older event's size before it overwrites a newer one's.
            bids.update(applied.bids_before)
            asks.update(applied.asks_before)
        if self._applied and self._applied[0].id_before == target:
            return target, None, (bids, asks)  # everything kept undone: the state before it
        return None

    def _compare(
        self,
        pending: _Pending,
        book_id: int,
        inside: DepthUpdate | None,
        rolled_back: tuple[dict[int, int], dict[int, int]],
    ) -> None:
        """Compare `pending` with the book at `book_id` (the live book with `rolled_back`'s
        sizes put back), leaving out the levels of `inside` (the event the snapshot's id falls
        in)."""
        book: Book = self.sync.book
        snap = pending.snapshot
        compared = 0
        diffs: list[LevelDiff] = []
        mismatches = excluded = 0
        for side, levels, known, touched, back in (
            (book.bids, snap.bids, self._known[0], inside.bids if inside else (), rolled_back[0]),
            (book.asks, snap.asks, self._known[1], inside.asks if inside else (), rolled_back[1]),
        ):
            exclude = {p for p, _ in touched}
            excluded += len(exclude)
            n, found = side_diffs(side, levels, known, exclude, back)
            compared += n
            mismatches += len(found)
            for price, book_qty, snap_qty in found[: MAX_DIFFS - len(diffs)]:
                diffs.append(self._diff("bid" if side.is_bid else "ask", price, book_qty, snap_qty))
        self.checks.append(
            SnapshotCheck(
                pending.path,
                pending.line_no,
                self.symbol,
                snap.last_update_id,
                book_id,
                "exact" if inside is None else "bracketed",
                compared,
                excluded,
                mismatches,
                tuple(diffs),
            )
        )

    def _diff(self, side: str, price: int, book_qty: int | None, snap_qty: int | None) -> LevelDiff:
        pd, qd = self.parse_scale.price_decimals, self.parse_scale.qty_decimals
        return LevelDiff(
            side,  # type: ignore[arg-type]
            decimal_text(price, pd),
            None if book_qty is None else decimal_text(book_qty, qd),
            None if snap_qty is None else decimal_text(snap_qty, qd),
        )

    def _check_crossed(self, record: RawRecord, update_id: int | None) -> None:
        book = self.sync.book
        if not book.is_crossed():
            return
        self.crossed += 1
        if len(self.crossed_at) < MAX_LISTED_CROSSED:
            bid, ask = book.best_bid(), book.best_ask()
            assert bid is not None and ask is not None and update_id is not None
            pd = self.parse_scale.price_decimals
            self.crossed_at.append(
                CrossedAt(
                    record.path,
                    record.line_no,
                    self.symbol,
                    update_id,
                    decimal_text(bid, pd),
                    decimal_text(ask, pd),
                )
            )

    def _drop_pending(self) -> None:
        """The book is discarded (break or gap): pending checks are skipped, and the events
        applied to it can no longer be rolled back."""
        self.skipped += len(self._pending)
        self._pending = []
        self._applied.clear()
