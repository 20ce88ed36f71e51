"""Reconstruction throughput: the plan's naive per-event async path against the batch engine.

Both paths do the same work on the same decoded rows (price in ticks, size in lots, message
boundaries): apply every level update to a book and, after each whole message, read the best bid
and ask. (a) is the plan's `async for event in stream_events(): await process_event(event)` over
a real async generator of per-row events into a dict book per side; (b) is `BookEngine.apply`
over batches of whole messages. An event is one level update (one book_delta_v2 row). Decoding
(Parquet read, float -> ticks) is outside both timings. The result asserts both ended with the
same final book and the same last best bid/ask, and carries the >= 100k events/s criterion on (b).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from feedcheck.book.engine import (
    DELTA_COLUMNS,
    NO_ASK,
    NO_BID,
    BookEngine,
    BookSeed,
)
from feedcheck.book.replay import message_starts
from feedcheck.errors import ConfigError, DataError
from feedcheck.report.criteria import CriterionResult, Status

#: Criterion: batch-path events (level updates) per second.
MIN_EVENTS_PER_S = 100_000
CRITERION_NAME = "reconstruction >= 100k events/s"
DEFAULT_TICK = 0.01
DEFAULT_LOT = 0.00001
#: Rows per engine batch (cut at a message boundary), about one Parquet row group.
BATCH_ROWS = 1 << 20


@dataclass(frozen=True)
class DecodedEvents:
    """Level updates in file order: side, price (ticks), size (lots, <= 0 deletes), messages."""

    is_bid: np.ndarray
    px_ticks: np.ndarray
    size_lots: np.ndarray
    msg_starts: np.ndarray  # first row of each message, then len(rows)

    @property
    def events(self) -> int:
        return len(self.is_bid)

    @property
    def messages(self) -> int:
        return len(self.msg_starts) - 1


@dataclass(frozen=True)
class PathRun:
    """One path's timing and end state. `best` is the last message's (bid px, bid lots, ask px,
    ask lots) in ticks/lots, with -1 for an empty side."""

    events_per_s: float
    seconds: float
    final: BookSeed
    best: tuple[int, int, int, int]


@dataclass(frozen=True)
class ThroughputResult:
    """Events/s of both paths on the same `events` (level updates) and `messages`."""

    source: str
    events: int
    messages: int
    naive: PathRun
    batch: PathRun
    same_book: bool
    speedup: float
    criterion: CriterionResult


def decode(
    frame: pl.DataFrame | pa.Table, tick: float, lot: float, limit_events: int | None = None
) -> DecodedEvents:
    """Lake book_delta_v2 columns -> ticks/lots and message starts, cut to whole messages.

    `limit_events` keeps the messages that start before that row (so up to one message more).

    Raises:
        ConfigError: tick/lot not > 0 or limit_events < 1.
        DataError: a needed column is missing.
    """
    if not (tick > 0 and lot > 0):
        raise ConfigError(f"tick and lot must be > 0, got tick={tick} lot={lot}")
    if limit_events is not None and limit_events < 1:
        raise ConfigError(f"limit_events must be >= 1, got {limit_events}")
    table = frame.to_arrow() if isinstance(frame, pl.DataFrame) else frame
    missing = [c for c in DELTA_COLUMNS if c not in table.column_names]
    if missing:
        raise DataError("book_delta_v2 frame", "column missing", missing[0], missing[0], "absent")
    cols = {c: table.column(c).to_numpy() for c in DELTA_COLUMNS}
    starts = message_starts(cols["receipt_timestamp"], cols["sequence_number"])
    if limit_events is not None and limit_events < len(cols["size"]):
        keep = int(np.searchsorted(starts, limit_events, side="left"))
        starts = starts[: max(keep, 1) + 1]
    n = int(starts[-1])
    return DecodedEvents(
        np.ascontiguousarray(cols["side_is_bid"][:n], dtype=np.bool_),
        np.rint(cols["price"][:n] / tick).astype(np.int64),
        np.rint(cols["size"][:n] / lot).astype(np.int64),
        starts.astype(np.int64),
    )


def load_events(
    data_root: Path | str, tick: float, lot: float, limit_events: int | None = None
) -> DecodedEvents:
    """Decode every book_delta_v2 file under a Lake tree (sorted paths, concatenated).

    Raises:
        DataError: no book_delta_v2 Parquet file under `data_root`.
    """
    files = sorted(Path(data_root).glob("book_delta_v2/**/*.parquet"))
    if not files:
        raise DataError(str(data_root), "no book_delta_v2 Parquet file", "book_delta_v2",
                        "at least one file", "none")  # fmt: skip
    table = pa.concat_tables(pq.read_table(f, columns=list(DELTA_COLUMNS)) for f in files)
    return decode(table, tick, lot, limit_events)


async def _stream_events(ev: DecodedEvents) -> AsyncIterator[tuple[bool, int, int, bool]]:
    # The plan's per-event path, kept as written to measure it: one Python tuple per row,
    # (is_bid, px, lots, last row of its message).
    is_bid, px, lots = ev.is_bid.tolist(), ev.px_ticks.tolist(), ev.size_lots.tolist()
    last = np.zeros(ev.events, dtype=np.bool_)
    last[ev.msg_starts[1:] - 1] = True
    for row in zip(is_bid, px, lots, last.tolist(), strict=True):
        yield row


class _DictBook:
    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.best = (-1, -1, -1, -1)

    async def process_event(self, event: tuple[bool, int, int, bool]) -> None:
        is_bid, px, lots, last = event
        side = self.bids if is_bid else self.asks
        if lots > 0:
            side[px] = lots
        else:
            side.pop(px, None)
        if last:
            bb = max(self.bids) if self.bids else -1
            ba = min(self.asks) if self.asks else -1
            self.best = (bb, self.bids.get(bb, -1), ba, self.asks.get(ba, -1))

    def seed(self) -> BookSeed:
        bids = sorted(self.bids.items(), reverse=True)
        asks = sorted(self.asks.items())
        return BookSeed.from_levels(bids, asks)


async def _naive(ev: DecodedEvents) -> _DictBook:
    book = _DictBook()
    async for event in _stream_events(ev):
        await book.process_event(event)
    return book


def run_naive(ev: DecodedEvents) -> PathRun:
    """Path (a): async generator of per-row events into a dict book; time includes the loop."""
    t0 = time.perf_counter()
    book = asyncio.run(_naive(ev))
    seconds = time.perf_counter() - t0
    return PathRun(ev.events / seconds, seconds, book.seed(), book.best)


def run_batch(ev: DecodedEvents, batch_rows: int = BATCH_ROWS) -> PathRun:
    """Path (b): `BookEngine.apply` over batches of whole messages (numba compiled beforehand)."""
    warm = BookEngine()
    warm.apply(ev.is_bid[:1], ev.px_ticks[:1], ev.size_lots[:1], np.array([0, 1], np.int64))
    engine = BookEngine()
    cuts = np.searchsorted(ev.msg_starts, np.arange(0, ev.events, batch_rows), side="left")
    bounds = np.unique(np.append(cuts, ev.messages))
    t0 = time.perf_counter()
    best = None
    for m0, m1 in zip(bounds[:-1], bounds[1:], strict=True):
        r0, r1 = ev.msg_starts[m0], ev.msg_starts[m1]
        best = engine.apply(ev.is_bid[r0:r1], ev.px_ticks[r0:r1], ev.size_lots[r0:r1],
                            ev.msg_starts[m0 : m1 + 1] - r0)  # fmt: skip
    seconds = time.perf_counter() - t0
    last = (-1, -1, -1, -1)
    if best is not None and len(best.bid_px):
        bid = (-1, -1) if best.bid_px[-1] == NO_BID else (best.bid_px[-1], best.bid_lots[-1])
        ask = (-1, -1) if best.ask_px[-1] == NO_ASK else (best.ask_px[-1], best.ask_lots[-1])
        last = (int(bid[0]), int(bid[1]), int(ask[0]), int(ask[1]))
    return PathRun(ev.events / seconds, seconds, engine.snapshot(), last)


def same_book(a: BookSeed, b: BookSeed) -> bool:
    """Both books hold the same levels (price ticks and lots per side, best first)."""
    return all(
        np.array_equal(np.asarray(getattr(a, f)), np.asarray(getattr(b, f)))
        for f in ("bid_px", "bid_lots", "ask_px", "ask_lots")
    )


def throughput_criterion(events_per_s: float, what: str) -> CriterionResult:
    """PASS when the batch path reaches MIN_EVENTS_PER_S (inclusive), else FAIL."""
    ok = events_per_s >= MIN_EVENTS_PER_S
    return CriterionResult(
        CRITERION_NAME, Status.PASS if ok else Status.FAIL, round(events_per_s), MIN_EVENTS_PER_S,
        f"batch engine {events_per_s:,.0f} events/s {'>=' if ok else '<'} "
        f"{MIN_EVENTS_PER_S:,} over {what}",
        "events/s",
    )  # fmt: skip


def measure_throughput(
    source: Path | str | pl.DataFrame | pa.Table,
    *,
    limit_events: int | None = None,
    tick: float = DEFAULT_TICK,
    lot: float = DEFAULT_LOT,
) -> ThroughputResult:
    """Events/s (level updates/s) of the naive async path and the batch engine on the same rows.

    Args:
        source: a Lake tree (its book_delta_v2 files) or a frame with Lake book_delta_v2 columns.
        limit_events: use only the messages starting in the first `limit_events` rows.
        tick, lot: the instrument's price tick and size lot.

    Raises:
        ConfigError / DataError: see `decode` and `load_events`.
    """
    if isinstance(source, pl.DataFrame | pa.Table):
        ev, where = decode(source, tick, lot, limit_events), "a frame"
    else:
        ev, where = load_events(source, tick, lot, limit_events), str(source)
    naive = run_naive(ev)
    batch = run_batch(ev)
    what = f"{ev.events:,} events ({ev.messages:,} messages) of {where}"
    return ThroughputResult(
        source=where,
        events=ev.events,
        messages=ev.messages,
        naive=naive,
        batch=batch,
        same_book=same_book(naive.final, batch.final) and naive.best == batch.best,
        speedup=naive.seconds / batch.seconds,
        criterion=throughput_criterion(batch.events_per_s, what),
    )
