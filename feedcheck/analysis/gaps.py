"""Delta gap analysis: how much of a book_delta_v2 stream is missing or wrong, per day.

Lake's book_delta_v2 keeps only Binance's final update id `u` (`sequence_number`), not `U` or `pu`,
and `u` advances by the number of level updates in a message, so a jump in `sequence_number`
cannot tell a dropped message from a busy one: single dropped messages are invisible from Lake's
columns. What the columns do show, per stream (exchange, symbol) and partition (day):

- messages: runs of rows with equal (receipt_timestamp, sequence_number) (`message_starts`);
- regressions: messages whose sequence_number is below the previous message's;
- duplicates: messages whose sequence_number an earlier message of the partition already carried
  (a re-send); messages minus distinct sequence numbers;
- time holes: gaps between consecutive valid exchange times (`timestamp` not null and > 0, per
  message, file order) longer than `cadence_multiple` × the stream's cadence, the median of the
  positive steps (positive only: several messages may share one ms). Each hole's missing
  messages are estimated as round(gap / cadence) − 1;
- crossed episodes: maximal runs of messages after which the replayed book is crossed (best bid
  >= best ask), i.e. a level outlived a delete that never arrived (`reconstruct_partition`).

Gap ratio (the < 0.1 % criterion):

    gap_events = regressions + duplicates + hole_missing_messages + crossed_episodes
    gap_ratio  = gap_events / (messages + hole_missing_messages)

Why: each term counts messages that were lost or that corrupt the replay. A regression or a
duplicate is one bad message; a hole loses about gap / cadence messages, which a count of holes
would understate by two orders of magnitude; a crossed episode is the visible trace of (at least)
one lost delete, counted once however long the book stays crossed, as Binance's exact check counts
a break once however many ids it skips. The denominator is the stream as it should have been
(written + estimated missing), so the ratio stays in [0, 1]. Dropped single messages are not
counted (invisible, see above), so the ratio is a lower bound. It is judged per stream-day: the
criterion's value is the worst stream-day's ratio, so a thin symbol's bad day is not averaged away
by a busy symbol's volume (the per-day table sums a day's streams, for reading). For Binance recordings the exact
U/u / pu breaks of `binance.validate` are used instead: `capture_gap_ratio` = gaps / depth events.

Book state is carried from a stream's day to its next consecutive day; after a missing day the
replay starts from an empty book.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from feedcheck.binance.validate_result import CaptureValidation
from feedcheck.book.engine import BookSeed
from feedcheck.book.replay import message_starts, reconstruct_partition
from feedcheck.errors import ConfigError, DataError
from feedcheck.lake.layout import day_range, parse_key
from feedcheck.lake.readers import lake_files
from feedcheck.report.criteria import CriterionResult, Status

TABLE = "book_delta_v2"
#: Default limit of the gap-ratio criterion, as a fraction (0.1 %).
MAX_GAP_RATIO = 0.001


@dataclass(frozen=True)
class PartitionGaps:
    """Gap figures of one stream-day. `present` False: no file for that day (all counts 0).

    `cadence_ns` is the median positive step between consecutive valid message times (0 when it
    cannot be measured); `hole_threshold_ns` = cadence × multiple. `off_tick_prices` /
    `off_lot_sizes` are rows whose float was off the tick / lot grid (rounded and replayed; a
    data-quality figure, not a gap event).
    """

    exchange: str
    symbol: str
    dt: date
    present: bool
    rows: int = 0
    messages: int = 0
    regressions: int = 0
    duplicates: int = 0
    cadence_ns: int = 0
    hole_threshold_ns: int = 0
    holes: int = 0
    hole_missing_messages: int = 0
    crossed_episodes: int = 0
    crossed_messages: int = 0
    off_tick_prices: int = 0
    off_lot_sizes: int = 0

    @property
    def gap_events(self) -> int:
        return (
            self.regressions + self.duplicates + self.hole_missing_messages + self.crossed_episodes
        )

    @property
    def expected_messages(self) -> int:
        return self.messages + self.hole_missing_messages

    @property
    def gap_ratio(self) -> float | None:
        """gap_events / expected_messages; None when there is no message."""
        return self.gap_events / self.expected_messages if self.expected_messages else None

    def to_json(self) -> dict[str, Any]:
        return {
            "exchange": self.exchange,
            "symbol": self.symbol,
            "dt": self.dt.isoformat(),
            "present": self.present,
            "rows": self.rows,
            "messages": self.messages,
            "regressions": self.regressions,
            "duplicates": self.duplicates,
            "cadence_ns": self.cadence_ns,
            "hole_threshold_ns": self.hole_threshold_ns,
            "holes": self.holes,
            "hole_missing_messages": self.hole_missing_messages,
            "crossed_episodes": self.crossed_episodes,
            "crossed_messages": self.crossed_messages,
            "off_tick_prices": self.off_tick_prices,
            "off_lot_sizes": self.off_lot_sizes,
            "gap_events": self.gap_events,
            "gap_ratio": self.gap_ratio,
        }


def gap_criterion(
    name: str, gap_events: int, expected: int, max_ratio: float, where: str
) -> CriterionResult:
    """PASS when gap_events / expected < max_ratio, FAIL otherwise, UNKNOWN when expected is 0.

    `value` and `threshold` are in % (ratio × 100).
    """
    if expected <= 0:
        return CriterionResult(
            name, Status.UNKNOWN, None, max_ratio * 100, f"no depth message on {where}", "%"
        )
    ratio = gap_events / expected
    status = Status.PASS if ratio < max_ratio else Status.FAIL
    return CriterionResult(
        name,
        status,
        ratio * 100,
        max_ratio * 100,
        f"{gap_events} gap events over {expected} messages on {where}",
        "%",
    )


def _criterion_name(max_ratio: float) -> str:
    return f"delta gap ratio < {max_ratio * 100:g} %"


@dataclass(frozen=True)
class DeltaGapResult:
    """Every stream-day analysed (sorted by exchange, symbol, day) with the criterion per day
    (streams of a day summed) and `overall`, the judged one: the worst stream-day's ratio."""

    partitions: tuple[PartitionGaps, ...]
    max_gap_ratio: float
    cadence_multiple: float
    per_day: tuple[tuple[date, CriterionResult], ...] = field(default=())
    overall: CriterionResult | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "max_gap_ratio": self.max_gap_ratio,
            "cadence_multiple": self.cadence_multiple,
            "overall": None if self.overall is None else self.overall.to_json(),
            "per_day": [{"dt": d.isoformat(), **c.to_json()} for d, c in self.per_day],
            "partitions": [p.to_json() for p in self.partitions],
        }


#: Rows per Parquet read batch of `_message_times` (three int64 columns: ~24 MB at the default).
MESSAGE_BATCH_ROWS = 1_000_000
#: The delta columns `_message_times` reads.
_TIME_COLUMNS = ("timestamp", "receipt_timestamp", "sequence_number")


def _time_batches(
    path: Path, batch_rows: int = MESSAGE_BATCH_ROWS
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(receipt ns, sequence_number, origin ns, origin-null mask) per non-empty batch of at most
    `batch_rows` file rows, in file order; null clocks read as 0. A batch never holds more than
    `batch_rows` rows whatever the row-group size (pyarrow decodes it incrementally).

    Raises:
        ConfigError: `batch_rows` < 1.
    """
    if batch_rows < 1:
        raise ConfigError(f"batch_rows must be >= 1, got {batch_rows}")
    # pre_buffer=False: pyarrow would otherwise keep every row group's buffered column chunks
    # until the file is closed, growing with the file instead of the batch.
    pf = pq.ParquetFile(path, pre_buffer=False)
    for batch in pf.iter_batches(batch_size=batch_rows, columns=list(_TIME_COLUMNS)):
        if batch.num_rows == 0:
            continue
        origin_col = batch.column("timestamp")
        yield (
            batch.column("receipt_timestamp").fill_null(0).to_numpy(zero_copy_only=False),
            batch.column("sequence_number").to_numpy(zero_copy_only=False),
            origin_col.fill_null(0).to_numpy(zero_copy_only=False),
            origin_col.is_null().to_numpy(zero_copy_only=False),
        )


def _message_times(
    path: Path, batch_rows: int = MESSAGE_BATCH_ROWS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sequence_number, origin ns, origin-valid mask) per message of one file, file order.

    Streams the three columns in batches of at most `batch_rows` rows (memory: one batch plus
    the per-message outputs, ~1/200 of the rows for Binance depth). A message (run of equal
    receipt ns and sequence number, `message_starts`) may straddle batches: the previous batch's
    last row is carried, so a batch's first row starts a message only if it differs from it.
    """
    seqs: list[np.ndarray] = []
    origins: list[np.ndarray] = []
    valids: list[np.ndarray] = []
    last: tuple[int, int] | None = None  # (receipt ns, sequence number) of the previous row
    for recv, seq, origin, origin_null in _time_batches(path, batch_rows):
        starts = message_starts(recv, seq)[:-1]
        if last is not None and (recv[0], seq[0]) == last:
            starts = starts[1:]  # the batch continues the previous batch's last message
        last = (recv[-1], seq[-1])
        seqs.append(seq[starts].astype(np.int64))
        origins.append(origin[starts].astype(np.int64))
        valids.append(~origin_null[starts] & (origin[starts] > 0))
    if not seqs:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy(), np.empty(0, dtype=bool)
    return np.concatenate(seqs), np.concatenate(origins), np.concatenate(valids)


def partition_gaps(
    path: Path | str,
    *,
    tick: float,
    lot: float,
    cadence_multiple: float = 10,
    seed: BookSeed | None = None,
) -> tuple[PartitionGaps, BookSeed]:
    """Gap figures of one book_delta_v2 file (see the module docstring) and its final book.

    Args:
        path: a Hive-layout Parquet file (`.../exchange=/symbol=/dt=/x.parquet`).
        tick, lot: price and size steps (prices become rint(price / tick) ticks).
        seed: book to start from (the previous day's final book), None: empty.

    Raises:
        ConfigError: the path is not in the Hive layout, or tick/lot/multiple not > 0.
        DataError / SchemaMismatchError: unreadable file or missing columns.
    """
    if cadence_multiple <= 0:
        raise ConfigError(f"cadence_multiple must be > 0, got {cadence_multiple}")
    path = Path(path)
    key = parse_key(path.as_posix())
    if key is None or key.partition.table != TABLE:
        raise ConfigError(f"{path} is not a {TABLE} file in the Hive layout")
    p = key.partition
    seq, origin, valid = _message_times(path)
    n = len(seq)
    regressions = int(np.count_nonzero(seq[1:] < seq[:-1]))
    duplicates = n - len(np.unique(seq))
    steps = np.diff(origin[valid])
    positive = steps[steps > 0]
    cadence = int(np.median(positive)) if len(positive) else 0
    threshold = int(cadence * cadence_multiple)
    holes = steps[steps > threshold] if cadence else steps[:0]
    missing = int(np.sum(np.rint(holes / cadence).astype(np.int64) - 1)) if len(holes) else 0
    rec = reconstruct_partition(path, tick, lot, seed=seed)
    if rec.messages != n:
        raise DataError(str(path), "message count differs between reads", "sequence_number",
                        str(n), str(rec.messages))  # fmt: skip
    gaps = PartitionGaps(
        exchange=p.exchange,
        symbol=p.symbol,
        dt=p.dt,
        present=True,
        rows=rec.rows,
        messages=n,
        regressions=regressions,
        duplicates=duplicates,
        cadence_ns=cadence,
        hole_threshold_ns=threshold,
        holes=len(holes),
        hole_missing_messages=missing,
        crossed_episodes=rec.episodes.count,
        crossed_messages=rec.crossed_messages,
        off_tick_prices=rec.off_tick_prices,
        off_lot_sizes=rec.off_lot_sizes,
    )
    return gaps, rec.final


def _step(value: float | Mapping[str, float], symbol: str, what: str) -> float:
    if isinstance(value, Mapping):
        if symbol not in value:
            raise ConfigError(f"no {what} given for {symbol} (have {', '.join(value)})")
        return float(value[symbol])
    return float(value)


def analyse_delta_gaps(
    root: Path | str,
    *,
    exchange: str | None = None,
    symbols: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    tick: float | Mapping[str, float],
    lot: float | Mapping[str, float],
    cadence_multiple: float = 10,
    max_gap_ratio: float = MAX_GAP_RATIO,
) -> DeltaGapResult:
    """Gap figures of every book_delta_v2 stream-day under `root` and the gap-ratio criterion.

    Days are `start <= dt < end`; a bound left None is taken from the files found. Every stream
    (exchange, symbol) with a file in range is expected on every day of the range: a day without
    a file is listed with `present` False. A day's criterion sums its streams; UNKNOWN when it
    has no message (missing or empty partitions), as is the overall one when nothing was read.

    Args:
        tick, lot: one step for every symbol, or per symbol (e.g. {"BTC-USDT": 0.01}).
        cadence_multiple: a hole is a step > multiple × the median message step.
        max_gap_ratio: the criterion's limit as a fraction (0.001 = 0.1 %).

    Raises:
        ConfigError: bad filters or parameters, or no tick/lot for a symbol found.
        DataError / SchemaMismatchError: an unreadable partition.
    """
    if not 0 < max_gap_ratio <= 1:
        raise ConfigError(f"max_gap_ratio must be in (0, 1], got {max_gap_ratio}")
    files = lake_files(root, TABLE, exchange=exchange, symbols=symbols, start=start, end=end)
    by_stream: dict[tuple[str, str], dict[date, list[Path]]] = {}
    for f in files:
        key = parse_key(f.as_posix())
        if key is None:
            raise ConfigError(f"{f} is not in the Hive layout")
        p = key.partition
        by_stream.setdefault((p.exchange, p.symbol), {}).setdefault(p.dt, []).append(f)
    seen_days = [d for days in by_stream.values() for d in days]
    lo = start if start is not None else min(seen_days, default=None)
    hi = end if end is not None else (max(seen_days) + timedelta(days=1) if seen_days else None)
    days = day_range(lo, hi) if lo is not None and hi is not None else []
    parts: list[PartitionGaps] = []
    for (ex, sym), present in sorted(by_stream.items()):
        tick_s, lot_s = _step(tick, sym, "tick"), _step(lot, sym, "lot")
        seed: BookSeed | None = None
        for day in days:
            if day not in present:
                parts.append(PartitionGaps(ex, sym, day, present=False))
                seed = None
                continue
            day_parts = []
            for f in present[day]:
                g, seed = partition_gaps(
                    f, tick=tick_s, lot=lot_s, cadence_multiple=cadence_multiple, seed=seed
                )
                day_parts.append(g)
            parts.append(_sum_files(day_parts))
    name = _criterion_name(max_gap_ratio)
    per_day = []
    for day in days:
        of_day = [p for p in parts if p.dt == day]
        absent = [p.symbol for p in of_day if not p.present]
        where = f"{TABLE} {day}" + (f" (missing: {', '.join(absent)})" if absent else "")
        per_day.append(
            (
                day,
                gap_criterion(
                    f"{name} {day}",
                    sum(p.gap_events for p in of_day),
                    sum(p.expected_messages for p in of_day),
                    max_gap_ratio,
                    where,
                ),
            )
        )
    overall = worst_stream_day(name, parts, max_gap_ratio)
    return DeltaGapResult(tuple(parts), max_gap_ratio, cadence_multiple, tuple(per_day), overall)


def worst_stream_day(
    name: str, parts: Sequence[PartitionGaps], max_ratio: float
) -> CriterionResult:
    """The criterion over every stream-day: its value is the worst stream-day's ratio (in %), so
    a thin symbol's bad day is not averaged away by a busy one's volume. PASS only when every
    stream-day with a message is under `max_ratio`; UNKNOWN when none has a message."""
    read = [p for p in parts if p.expected_messages]
    missing = sum(not p.present for p in parts)
    if not read:
        return gap_criterion(name, 0, 0, max_ratio, f"{TABLE}, {len(parts)} stream-days")
    worst = max(read, key=lambda p: (p.gap_ratio, p.gap_events))
    failing = sum(p.gap_events / p.expected_messages >= max_ratio for p in read)
    total_events = sum(p.gap_events for p in read)
    total_expected = sum(p.expected_messages for p in read)
    where = (
        f"{worst.exchange} {worst.symbol} {worst.dt}, the worst of {len(read)} stream-days "
        f"({failing} at or over the limit"
        + (f", {missing} missing" if missing else "")
        + f"; all together {total_events} over {total_expected} = "
        f"{total_events / total_expected * 100:.4g} %)"
    )
    return gap_criterion(name, worst.gap_events, worst.expected_messages, max_ratio, where)


def _sum_files(parts: list[PartitionGaps]) -> PartitionGaps:
    """One stream-day from its files (normally one); counts add, cadence is the first file's."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    summed = {
        name: sum(getattr(p, name) for p in parts)
        for name in ("rows", "messages", "regressions", "duplicates", "holes",
                     "hole_missing_messages", "crossed_episodes", "crossed_messages",
                     "off_tick_prices", "off_lot_sizes")
    }  # fmt: skip
    return PartitionGaps(
        first.exchange, first.symbol, first.dt, True,
        cadence_ns=first.cadence_ns, hole_threshold_ns=first.hole_threshold_ns, **summed,
    )  # fmt: skip


@dataclass(frozen=True)
class CaptureGapRatio:
    """Exact update-id breaks of Binance recordings as the same gap ratio (gaps / depth events).

    `recordings` holds (label, gaps, depth_events) per recording.
    """

    recordings: tuple[tuple[str, int, int], ...]
    criterion: CriterionResult

    @property
    def gaps(self) -> int:
        return sum(r[1] for r in self.recordings)

    @property
    def depth_events(self) -> int:
        return sum(r[2] for r in self.recordings)

    @property
    def gap_ratio(self) -> float | None:
        return self.gaps / self.depth_events if self.depth_events else None

    def to_json(self) -> dict[str, Any]:
        return {
            "gaps": self.gaps,
            "depth_events": self.depth_events,
            "gap_ratio": self.gap_ratio,
            "criterion": self.criterion.to_json(),
            "recordings": [
                {"label": label, "gaps": g, "depth_events": n, "gap_ratio": g / n if n else None}
                for label, g, n in self.recordings
            ],
        }


def capture_gap_ratio(
    validation: CaptureValidation, *, max_gap_ratio: float = MAX_GAP_RATIO
) -> CaptureGapRatio:
    """The gap ratio of validated Binance recordings: U/u (spot) or pu (USD-M) breaks found by
    `binance.validate` over their depth events; criterion UNKNOWN when there is no depth event."""
    recs = tuple((r.label, r.gaps, r.depth_events) for r in validation.recordings)
    gaps, events = sum(r[1] for r in recs), sum(r[2] for r in recs)
    crit = gap_criterion(
        _criterion_name(max_gap_ratio) + " (capture)",
        gaps,
        events,
        max_gap_ratio,
        f"{len(recs)} Binance recording(s), exact update-id check",
    )
    return CaptureGapRatio(recs, crit)
