"""The engine against the capture's sync state machine on every real recording of
tests/data/real: spot (hftbacktest, U/u rule), USD-M (hftbacktest, pu rule, the first applied
event ends exactly at the snapshot id and is replayed from the buffer) and cryptofeed (three
spot symbols in one file, 2021, `/api/v1/depth` snapshots).

BookSync decides what is applied; the engine is seeded from the same snapshot and fed exactly the
applied events as one columnar batch per sync session. After every event the sync applied on its
own (outcome APPLIED) the engine's best bid/ask and top 5 (prices and sizes) equal the sync
Book's; events replayed from the buffer inside `on_snapshot` are compared after the last of them
(the sync shows only the book after the whole replay). At the end the whole books are equal.
Expected counts come from the sync machine's own counters, never from golden numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from feedcheck.binance.book import Book
from feedcheck.binance.formats import read_cryptofeed, read_hftbacktest
from feedcheck.binance.sync import BookSync, SyncOutcome, SyncState, Variant
from feedcheck.binance.venue import StreamKind, classify_stream
from feedcheck.binance.wire import DepthUpdate, Scale, parse_depth_snapshot, parse_depth_update
from feedcheck.book.engine import NO_ASK, NO_BID, BookEngine, BookSeed

REAL = Path(__file__).parents[1] / "data" / "real"
TOP = 5

Top = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def _book_top(book: Book) -> Top:
    """The sync Book's top TOP levels in the engine's layout (sentinel prices, 0 lots)."""
    bids, asks = book.top(TOP)
    pad_b, pad_a = TOP - len(bids), TOP - len(asks)
    return (
        tuple([p for p, _ in bids] + [NO_BID] * pad_b),
        tuple([q for _, q in bids] + [0] * pad_b),
        tuple([p for p, _ in asks] + [NO_ASK] * pad_a),
        tuple([q for _, q in asks] + [0] * pad_a),
    )


@dataclass
class Session:
    """One sync session (snapshot → applied events) of one symbol, as engine input."""

    seed: BookSeed
    rows: list[tuple[bool, int, int]] = field(default_factory=list)
    starts: list[int] = field(default_factory=lambda: [0])
    #: (message index, the sync Book's top after it) for every compared message.
    expected: list[tuple[int, Top]] = field(default_factory=list)
    #: Buffered events the sync applied inside `on_snapshot`.
    replayed: int = 0

    def add(self, event: DepthUpdate) -> int:
        self.rows += [(True, p, q) for p, q in event.bids] + [(False, p, q) for p, q in event.asks]
        self.starts.append(len(self.rows))
        return len(self.starts) - 2


@dataclass
class Stream:
    sync: BookSync
    buffered: list[DepthUpdate] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)


def replay(records, variant: Variant, scale: Scale) -> dict[str, Stream]:
    streams: dict[str, Stream] = {}
    for rec in records:
        if rec.breaks_book:  # connect / disconnect / gap: no book crosses it
            for s in streams.values():
                s.sync.on_disconnect()
                s.buffered = []
            continue
        symbol, kind = classify_stream(rec.stream or "")
        if symbol is None or kind not in (StreamKind.DEPTH, StreamKind.SNAPSHOT):
            continue
        s = streams.setdefault(symbol, Stream(BookSync(symbol, variant)))
        sync = s.sync
        if kind is StreamKind.SNAPSHOT:
            if sync.state is not SyncState.BUFFERING:
                continue  # a later snapshot while live is a check for validate-capture
            snap = parse_depth_snapshot(rec.json(), symbol, scale)
            applied_before = sync.counters.events_applied
            outcome = sync.on_snapshot(snap, rec.recv_ns)
            assert outcome is SyncOutcome.SYNCED, (symbol, outcome)
            session = Session(BookSeed.from_levels(snap.bids, snap.asks))
            s.sessions.append(session)
            # The buffer replay: stale events are dropped first, the applied ones are its tail.
            session.replayed = sync.counters.events_applied - applied_before
            for event in s.buffered[len(s.buffered) - session.replayed :]:
                last = session.add(event)
            if session.replayed:
                session.expected.append((last, _book_top(sync.book)))
            s.buffered = []
            continue
        event = parse_depth_update(rec.json()["data"], scale)
        outcome = sync.on_depth(event, rec.recv_ns)
        if outcome in (SyncOutcome.NEEDS_SNAPSHOT, SyncOutcome.BUFFERED):
            s.buffered.append(event)
        elif outcome is SyncOutcome.APPLIED:
            session = s.sessions[-1]
            session.expected.append((session.add(event), _book_top(sync.book)))
        else:
            assert outcome in (SyncOutcome.IGNORED_OLD, SyncOutcome.DROPPED_STALE), outcome
    return streams


CASES = {
    "usdm": (
        read_hftbacktest,
        sorted((REAL / "binance-usdm").glob("*.gz")),
        Variant.USDM,
        Scale(2, 3),
        {"ETHUSDT"},
    ),
    "spot": (
        read_hftbacktest,
        sorted((REAL / "binance-spot").glob("*.gz")),
        Variant.SPOT,
        Scale(2, 5),
        {"ETHUSDT"},
    ),
    # 2021 strings carry 8 decimals; 8/8 holds them exactly (BTC at 6e4 is 6e12 ticks).
    "cryptofeed": (
        read_cryptofeed,
        [REAL / "cryptofeed-raw" / "BINANCE-ee25be.0"],
        Variant.SPOT,
        Scale(8, 8),
        {"BTCUSDT", "ETHUSDT", "DOTUSDT"},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_engine_equals_sync_book_on_real_recording(case: str) -> None:
    reader, files, variant, scale, symbols = CASES[case]
    streams = replay(reader(files), variant, scale)
    assert set(streams) == symbols
    for symbol, s in streams.items():
        c = s.sync.counters
        assert c.syncs == len(s.sessions) >= 1 and c.gaps == 0, (symbol, c)
        messages = compared = 0
        for session in s.sessions:
            engine = BookEngine(session.seed, top_n=TOP)
            rows = np.array(session.rows, dtype=np.int64).reshape(-1, 3)
            out = engine.apply(
                rows[:, 0].astype(bool), rows[:, 1], rows[:, 2], np.array(session.starts)
            )
            for m, want in session.expected:
                tops = (out.top_bid_px, out.top_bid_lots, out.top_ask_px, out.top_ask_lots)
                assert tuple(tuple(t[m].tolist()) for t in tops) == want, (symbol, m)
                assert (out.bid_px[m], out.bid_lots[m], out.ask_px[m], out.ask_lots[m]) == (
                    want[0][0], want[1][0], want[2][0], want[3][0],
                )  # fmt: skip
            assert not out.crossed.any()
            messages += len(session.starts) - 1
            compared += len(session.expected)
        # Every applied event went through the engine, and each was compared except the
        # buffered ones replayed before the last of their replay.
        assert messages == c.events_applied > 0
        assert compared == c.events_applied - sum(max(0, x.replayed - 1) for x in s.sessions)
        b, a = engine.snapshot().levels()
        assert (b, a) == (s.sync.book.bids.top(len(b) + 1), s.sync.book.asks.top(len(a) + 1))
