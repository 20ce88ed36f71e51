"""Replaying a Lake `book_delta_v2` partition through the engine: message boundaries, row groups
streamed with bounded memory (a message straddling row groups is carried over), per-message results
and the crossed episodes (stranded levels) they contain.

Two ways in: `stream_partition` yields each batch's per-message outputs and keeps nothing, so
memory is about one row group whatever the partition's size (a day with top N); and
`reconstruct_partition`, which collects those outputs for the whole partition (a few dozen bytes a
message without top N) and finds the crossed episodes across batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from feedcheck.book.engine import (
    DELTA_COLUMNS,
    BookCounters,
    BookEngine,
    BookSeed,
    MessageBest,
)
from feedcheck.book.ticks import float_to_steps
from feedcheck.errors import ConfigError, DataError, SchemaMismatchError


def message_starts(receipt_ns: np.ndarray, sequence_number: np.ndarray) -> np.ndarray:
    """First row of each message, then len: a message is a run of equal (receipt ns, sequence)."""
    recv = np.asarray(receipt_ns)
    seq = np.asarray(sequence_number)
    change = np.ones(len(recv), dtype=bool)
    change[1:] = (recv[1:] != recv[:-1]) | (seq[1:] != seq[:-1])
    return np.append(np.flatnonzero(change), len(recv)).astype(np.int64)


@dataclass(frozen=True)
class CrossedEpisodes:
    """Maximal runs of crossed messages (stranded levels at/through the opposite best).

    `start` is the first crossed message index in the partition, `length` its message count;
    an episode still open at the end of the partition has `open_at_end` True.
    """

    start: np.ndarray
    length: np.ndarray
    open_at_end: bool

    @property
    def count(self) -> int:
        return len(self.start)


def crossed_episodes(crossed: np.ndarray) -> CrossedEpisodes:
    """Runs of True in a per-message crossed flag array (vectorised)."""
    c = np.asarray(crossed, dtype=np.int8)
    edges = np.diff(np.concatenate(([0], c, [0])))
    start = np.flatnonzero(edges == 1)
    end = np.flatnonzero(edges == -1)
    return CrossedEpisodes(start, end - start, bool(len(c) and c[-1]))


@dataclass(frozen=True)
class ReconstructionResult:
    """Per-message outputs of a whole partition plus summary facts.

    Arrays are indexed by message in file order: `sequence_number`, `receipt_ns`, `first_row`
    (the message's first file row), and `best` (ticks, lots, crossed flag, optional top N).
    `final` is the book after the last message, the seed for the next day's partition.
    `off_tick_prices` / `off_lot_sizes` count rows whose float was not on the tick / lot grid
    (rounded to the nearest step and applied all the same).
    """

    path: str
    rows: int
    row_groups: int
    sequence_number: np.ndarray
    receipt_ns: np.ndarray
    first_row: np.ndarray
    best: MessageBest
    episodes: CrossedEpisodes
    counters: BookCounters
    final: BookSeed
    off_tick_prices: int = 0
    off_lot_sizes: int = 0

    @property
    def messages(self) -> int:
        return len(self.sequence_number)

    @property
    def crossed_messages(self) -> int:
        return int(np.count_nonzero(self.best.crossed))


def _read_group(pf: pq.ParquetFile, i: int, path: str) -> dict[str, np.ndarray]:
    table = pf.read_row_group(i, columns=list(DELTA_COLUMNS))
    cols: dict[str, np.ndarray] = {}
    for name in DELTA_COLUMNS:
        col = table.column(name)
        if col.null_count and name != "receipt_timestamp":
            raise DataError(path, f"{col.null_count} null values in row group {i}", name,
                            "no nulls", "nulls")  # fmt: skip
        cols[name] = col.to_numpy()
    return cols


def iter_batches(path: Path | str) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Yield (first file row, columns) per batch of whole messages, one row group at a time.

    The rows of the last message of a row group are held back and prepended to the next one,
    since a message may straddle row groups. Memory: about one row group of the five columns.

    Raises:
        DataError: the file cannot be opened or has nulls in a needed column.
        SchemaMismatchError: a needed column is missing.
    """
    path = str(path)
    try:
        pf = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:
        raise DataError(path, f"cannot open Parquet file: {exc}") from exc
    names = set(pf.schema_arrow.names)
    for name in DELTA_COLUMNS:
        if name not in names:
            raise SchemaMismatchError(path, "book_delta_v2 column missing", name, name, "absent")
    held: dict[str, np.ndarray] | None = None
    first_row = 0
    for i in range(pf.num_row_groups):
        cols = _read_group(pf, i, path)
        if held is not None:
            cols = {c: np.concatenate((held[c], cols[c])) for c in DELTA_COLUMNS}
        n = len(cols["size"])
        if n == 0:
            continue
        starts = message_starts(cols["receipt_timestamp"], cols["sequence_number"])
        cut = int(starts[-2])  # first row of the last (possibly continued) message
        held = {c: v[cut:] for c, v in cols.items()}
        if cut:
            yield first_row, {c: v[:cut] for c, v in cols.items()}
            first_row += cut
    if held is not None and len(held["size"]):
        yield first_row, held


@dataclass(frozen=True)
class ReplayBatch:
    """Per-message outputs of one batch of whole messages (about one row group), in file order.

    `first_rows` is each message's first file row; `rows` the batch's row count.
    """

    rows: int
    sequence_number: np.ndarray
    receipt_ns: np.ndarray
    first_rows: np.ndarray
    best: MessageBest
    off_tick_prices: int
    off_lot_sizes: int


def stream_partition(
    path: Path | str, tick: float, lot: float, engine: BookEngine
) -> Iterator[ReplayBatch]:
    """Apply one raw book_delta_v2 Parquet file (Lake column names) to `engine`, batch by batch.

    Prices become ticks by rint(price / tick), sizes lots by rint(size / lot) (checked:
    `ticks.float_to_steps`); a message is a run of equal (receipt_timestamp, sequence_number).
    Nothing is kept between batches: the caller decides what to retain. `engine` holds the book
    (seed it, or pass the previous day's engine to continue).

    Raises:
        ConfigError: tick or lot not > 0.
        DataError: a price or size that is NaN/inf or beyond int64 at its step (names the file
            and column), or see `iter_batches`.
        SchemaMismatchError: see `iter_batches`.
    """
    if not (tick > 0 and lot > 0):
        raise ConfigError(f"tick and lot must be > 0, got tick={tick} lot={lot}")
    source = str(path)
    for first_row, cols in iter_batches(path):
        starts = message_starts(cols["receipt_timestamp"], cols["sequence_number"])
        px = float_to_steps(cols["price"], tick, column="price", source=source)
        size = float_to_steps(cols["size"], lot, column="size", source=source)
        best = engine.apply(cols["side_is_bid"], px.values, size.values, starts)
        heads = starts[:-1]
        yield ReplayBatch(
            rows=len(cols["size"]),
            sequence_number=cols["sequence_number"][heads].astype(np.int64),
            receipt_ns=cols["receipt_timestamp"][heads].astype(np.int64),
            first_rows=heads + first_row,
            best=best,
            off_tick_prices=px.off_step,
            off_lot_sizes=size.off_step,
        )


def reconstruct_partition(
    path: Path | str,
    tick: float,
    lot: float,
    seed: BookSeed | None = None,
    top_n: int = 0,
) -> ReconstructionResult:
    """Replay one raw book_delta_v2 Parquet file from `seed`, keeping every message's outputs.

    Row groups are streamed (`stream_partition`); the per-message outputs (a few dozen bytes
    each, plus 32 × top_n) are kept for the whole partition. Use `stream_partition` directly to
    keep less.

    Raises:
        ConfigError / DataError / SchemaMismatchError: see `stream_partition`.
    """
    engine = BookEngine(seed, top_n=top_n)
    batches = list(stream_partition(path, tick, lot, engine))
    seq, recv, first = (
        np.concatenate([getattr(b, name) for b in batches]) if batches else np.zeros(0, np.int64)
        for name in ("sequence_number", "receipt_ns", "first_rows")
    )
    best = _concat_best([b.best for b in batches], top_n)
    return ReconstructionResult(
        path=str(path),
        rows=sum(b.rows for b in batches),
        row_groups=pq.ParquetFile(str(path)).num_row_groups,
        sequence_number=seq.astype(np.int64),
        receipt_ns=recv.astype(np.int64),
        first_row=first.astype(np.int64),
        best=best,
        episodes=crossed_episodes(best.crossed),
        counters=engine.counters,
        final=engine.snapshot(),
        off_tick_prices=sum(b.off_tick_prices for b in batches),
        off_lot_sizes=sum(b.off_lot_sizes for b in batches),
    )


def _concat_best(bests: list[MessageBest], top_n: int) -> MessageBest:
    def cat(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        if not bests:
            return np.zeros(shape, dtype)
        return np.concatenate([getattr(b, name) for b in bests])

    top = [cat(n, (0, top_n), np.int64) if top_n else None
           for n in ("top_bid_px", "top_bid_lots", "top_ask_px", "top_ask_lots")]  # fmt: skip
    return MessageBest(
        *(cat(n, (0,), np.int64) for n in ("bid_px", "bid_lots", "ask_px", "ask_lots")),
        cat("crossed", (0,), np.bool_),
        *top,
    )
