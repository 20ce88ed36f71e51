"""`generate_dataset`: a synthetic Crypto Lake tree with injected faults and their ground truth.

For each symbol the generator keeps one true order book and one trade-id sequence running across
the scenario's days (a missing or empty partition still advances them). Each day runs the depth
kernel chunk by chunk, writing `book_delta_v2` and `book` from the same messages (they share
timestamp, receipt_timestamp and sequence_number), then the trades priced against that day's
touch. Every table is written chunk by chunk (one Parquet row group per chunk of about
`scenario.chunk_rows` rows), so memory stays flat however long the day.

`book` has one row per depth message (`rates.delta_messages_per_second`, Lake's 100 ms cadence).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from feedcheck.errors import ConfigError
from feedcheck.lake.layout import Partition, Table
from feedcheck.lake.synthetic import inject as inj
from feedcheck.lake.synthetic import tables as tb
from feedcheck.lake.synthetic.book_levels import FAR_TICKS
from feedcheck.lake.synthetic.clock import natural_lag_us, receipt_chain_us
from feedcheck.lake.synthetic.depth import BookState, DepthChunk, new_book, run_depth_chunk
from feedcheck.lake.synthetic.faults import PartitionPlan, check_faults, plan_partition
from feedcheck.lake.synthetic.record import FaultRecorder
from feedcheck.lake.synthetic.scenario import Scenario
from feedcheck.lake.synthetic.streams import stream
from feedcheck.lake.synthetic.trades import TRADE_ID_BASE, trade_chunk, trade_counts
from feedcheck.lake.synthetic.truth import GroundTruth, PartitionTruth

Progress = Callable[[str, int], None]
FILE_NAME = "part-0.snappy.parquet"
_MS_PER_DAY = 86_400_000
_EPOCH = date(1970, 1, 1)
#: Exchange event times of depth messages sit up to this many ms after their 100 ms grid point.
MAX_MESSAGE_JITTER_MS = 5


def generate_dataset(
    scenario: Scenario, out_dir: Path, progress: Progress | None = None
) -> GroundTruth:
    """Write every partition of `scenario` under `out_dir` and return (and write) its ground truth.

    Layout: `{out_dir}/{table}/exchange={EX}/symbol={SYM}/dt={YYYY-MM-DD}/part-0.snappy.parquet`
    plus `{out_dir}/ground_truth.json`. The same scenario gives byte-identical data files.

    Args:
        scenario: what to generate; `empty_partitions` are written with zero rows and no faults,
            `missing_partitions` are not written (and absent from `GroundTruth.partitions`).
        out_dir: dataset root (created if needed; existing partition files are replaced).
        progress: called as `progress(partition_key, rows_written_so_far)` after every chunk.

    Raises:
        ConfigError: the scenario cannot be generated as specified (before anything is written).
    """
    status = _check(scenario)
    plans = {
        key: _plan(scenario, part)
        for key, part in _partitions(scenario).items()
        if status.get(key, "write") == "write"
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    truth = GroundTruth(seed=scenario.seed, scenario=_scenario_dict(scenario))
    for symbol in scenario.symbols:
        _Symbol(scenario, symbol, out, status, plans, truth, progress).run()
    truth.write(out)
    return truth


def messages_per_day(scenario: Scenario) -> int:
    """Depth messages (= trade buckets) in each day's `hours_per_day`."""
    return int(round(scenario.hours_per_day * 3600 * scenario.rates.delta_messages_per_second))


def initial_book(scenario: Scenario, symbol: str) -> BookState:
    """The true book of `symbol` just before the first message of `scenario.start` (after warm-up).

    `BookState.levels()` gives its levels in ticks and lots: the seed a replay of the written
    `book_delta_v2` files needs to reproduce every `book` row.
    """
    return new_book(
        scenario.instrument(symbol), scenario.rates, stream(scenario.seed, "book", symbol)
    )


def _partitions(scenario: Scenario) -> dict[str, Partition]:
    return {
        p.key: p
        for p in (
            Partition(t, scenario.exchange, s, d)
            for t in scenario.tables
            for s in scenario.symbols
            for d in scenario.days()
        )
    }


def _check(scenario: Scenario) -> dict[str, str]:
    """Check what `Scenario.__post_init__` does not; map partition key → write/empty/missing."""
    r = scenario.rates
    if scenario.seed < 0:
        raise ConfigError(f"seed must be >= 0, got {scenario.seed}")
    if not 1 <= r.delta_messages_per_second <= 100:
        raise ConfigError(
            "rates.delta_messages_per_second must be in [1, 100], "
            f"got {r.delta_messages_per_second}"
        )
    if not 1 <= r.levels_per_message <= 2_000:
        raise ConfigError(
            f"rates.levels_per_message must be in [1, 2000], got {r.levels_per_message}"
        )
    if not 0 < r.trades_per_hour <= 50_000_000:
        raise ConfigError(f"rates.trades_per_hour must be in (0, 5e7], got {r.trades_per_hour}")
    for symbol in scenario.symbols:
        ins = scenario.instrument(symbol)
        if ins.tick <= 0 or ins.lot <= 0 or ins.start_price / ins.tick < 4 * FAR_TICKS:
            raise ConfigError(
                f"instrument {symbol}: tick and lot must be > 0 and start_price at least "
                f"{4 * FAR_TICKS} ticks, got tick={ins.tick} lot={ins.lot} "
                f"start_price={ins.start_price}"
            )
    unknown = set(scenario.instruments) - set(scenario.symbols)
    if unknown:
        raise ConfigError(
            f"instruments for symbols not in the scenario: {', '.join(sorted(unknown))}"
        )
    if messages_per_day(scenario) < 100:
        raise ConfigError(
            f"hours_per_day {scenario.hours_per_day} gives fewer than 100 depth messages a day"
        )
    check_faults(scenario)
    known = _partitions(scenario)
    status: dict[str, str] = {}
    for kind, keys in (
        ("empty", scenario.empty_partitions),
        ("missing", scenario.missing_partitions),
    ):
        for key in keys:
            if key not in known:
                raise ConfigError(
                    f"{kind} partition {key!r} is not table/EXCHANGE/SYMBOL/YYYY-MM-DD "
                    "of this scenario"
                )
            if key in status:
                raise ConfigError(f"partition {key} is listed as both empty and missing")
            status[key] = kind
    return status


def _plan(scenario: Scenario, part: Partition) -> PartitionPlan:
    return plan_partition(
        scenario, part, messages_per_day(scenario), scenario.rates.delta_messages_per_second
    )


def _scenario_dict(scenario: Scenario) -> dict:
    """The scenario as plain JSON values (dates as ISO strings), as ground_truth.json stores it."""
    raw = asdict(scenario)
    raw["instruments"] = {k: asdict(v) for k, v in scenario.instruments.items()}
    return json.loads(json.dumps(raw, default=str))


class _Sink:
    """One partition being written: its Parquet writer (none when missing), faults and recorder."""

    def __init__(
        self,
        scenario: Scenario,
        root: Path,
        part: Partition,
        status: str,
        plan: PartitionPlan | None,
        faults: list[inj.EventFault],
        progress: Progress | None,
        stack: contextlib.ExitStack,
    ):
        self.part, self.status, self.plan, self.faults = part, status, plan, faults
        self.progress = progress
        self.recorder = FaultRecorder(part, faults, scenario.instrument(part.symbol).tick)
        self.rng = stream(scenario.seed, "inject", part.key)
        self.messages = 0
        self.path = root / part.path / FILE_NAME
        self._tmp = self.path.with_name(FILE_NAME + ".tmp")
        self.writer: pq.ParquetWriter | None = None
        if status != "missing":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = stack.enter_context(
                pq.ParquetWriter(self._tmp, tb.SCHEMAS[part.table], compression="snappy")
            )

    def set_faults(self, faults: list[inj.EventFault]) -> None:
        """Trades know their fault rows only once the day's trade counts are drawn."""
        self.faults = faults
        self.recorder = FaultRecorder(self.part, faults, self.recorder.tick)

    @property
    def active(self) -> bool:
        """Rows are generated and written (not an empty or missing partition)."""
        return self.status == "write"

    def write(
        self,
        table: pa.Table,
        ev: inj.ChunkEvents,
        layout: inj.Layout,
        rows_per_pos: np.ndarray,
        prev_key: int,
        depth: DepthChunk | None = None,
    ) -> None:
        assert self.writer is not None
        self.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.recorder.observe(ev, layout, rows_per_pos, prev_key, depth)
        self.messages += layout.size - int(layout.is_copy.sum())
        if self.progress is not None:
            self.progress(self.part.key, self.recorder.rows_written)

    def close(self, truth: GroundTruth) -> None:
        if self.writer is None:
            return
        self.writer.close()
        self._tmp.replace(self.path)
        if self.progress is not None and not self.active:
            self.progress(self.part.key, 0)
        messages = None if self.part.table == "trades" else self.messages
        truth.partitions.append(
            PartitionTruth(
                self.part.key, f"{self.part.path}/{FILE_NAME}", self.recorder.rows_written, messages
            )
        )
        truth.faults.extend(self.recorder.records())


class _Symbol:
    """Generates every day of one symbol, carrying the book and the trade ids across days."""

    def __init__(
        self,
        scenario: Scenario,
        symbol: str,
        root: Path,
        status: dict[str, str],
        plans: dict[str, PartitionPlan],
        truth: GroundTruth,
        progress: Progress | None,
    ):
        self.sc, self.symbol, self.root = scenario, symbol, root
        self.status, self.plans, self.truth, self.progress = status, plans, truth, progress
        self.inst = scenario.instrument(symbol)
        self.rate = scenario.rates.delta_messages_per_second
        self.spacing_ms = 1000.0 / self.rate
        self.book = initial_book(scenario, symbol)
        self.next_trade_id = TRADE_ID_BASE + int(
            stream(scenario.seed, "trade-id", symbol).integers(0, 10**8)
        )

    def run(self) -> None:
        n = messages_per_day(self.sc)
        for dt in self.sc.days():
            start_ms = (dt - _EPOCH).days * _MS_PER_DAY
            with contextlib.ExitStack() as stack:
                sinks = {t: self._sink(t, dt, stack) for t in self.sc.tables}
                best_bid, best_ask = self._depth_day(dt, start_ms, n, sinks)
                if "trades" in sinks:
                    self._trades_day(dt, start_ms, n, sinks["trades"], best_bid, best_ask)
                for sink in sinks.values():
                    sink.close(self.truth)

    def _sink(self, table: Table, dt: date, stack: contextlib.ExitStack) -> _Sink:
        part = Partition(table, self.sc.exchange, self.symbol, dt)
        status = self.status.get(part.key, "write")
        plan = self.plans.get(part.key)
        faults = inj.depth_event_faults(plan) if plan is not None and table != "trades" else []
        return _Sink(self.sc, self.root, part, status, plan, faults, self.progress, stack)

    def _depth_day(
        self, dt: date, start_ms: int, n: int, sinks: dict[Table, _Sink]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run the kernel over the day, writing the depth tables; return the touch per message."""
        delta, book = sinks.get("book_delta_v2"), sinks.get("book")
        active = [s for s in (delta, book) if s is not None and s.active]
        modes, no_cut = inj.depth_modes(
            delta.plan if delta is not None and delta.active else None,
            book.plan if book is not None and book.active else None,
            n,
        )
        rng = stream(self.sc.seed, "depth-clock", self.symbol, dt)
        grid_ms = start_ms + np.floor(np.arange(n) * self.spacing_ms).astype(np.int64)
        jitter = min(MAX_MESSAGE_JITTER_MS, int(self.spacing_ms // 4))
        origin_day = grid_ms + rng.integers(0, jitter + 1, n)
        best_bid, best_ask = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        want_book = book is not None and book.active
        prev_receipt, prev_key, m = -(1 << 60), self.book.sequence, 0
        while m < n:
            ch = run_depth_chunk(self.book, modes[m:], no_cut[m:], m, self.sc.chunk_rows, want_book)
            k = ch.messages
            best_bid[m : m + k], best_ask[m : m + k] = ch.best_bid, ch.best_ask
            if active:
                origin = origin_day[m : m + k]
                receipt = receipt_chain_us(origin, natural_lag_us(rng, origin), prev_receipt)
                prev_receipt = int(receipt[-1])
                ev = inj.ChunkEvents(m, start_ms, origin, receipt, ch.seq)
                for sink in active:
                    layout = inj.layout_chunk(ev, sink.faults, prev_key, sink.rng)
                    if sink.part.table == "book":
                        sink.write(
                            tb.book_table(ch, layout, self.inst),
                            ev,
                            layout,
                            np.ones(layout.size, dtype=np.int64),
                            prev_key,
                            ch,
                        )
                    else:
                        sink.write(
                            tb.book_delta_v2_table(ch, layout, self.inst),
                            ev,
                            layout,
                            tb.delta_rows_per_position(ch, layout),
                            prev_key,
                            ch,
                        )
            prev_key = int(ch.seq[-1])
            m += k
        return best_bid, best_ask

    def _trades_day(
        self,
        dt: date,
        start_ms: int,
        n: int,
        sink: _Sink,
        best_bid: np.ndarray,
        best_ask: np.ndarray,
    ) -> None:
        counts = trade_counts(
            stream(self.sc.seed, "trade-counts", self.symbol, dt),
            n,
            self.rate,
            self.sc.rates.trades_per_hour,
        )
        first_id = self.next_trade_id
        if sink.active:
            faults: list[inj.EventFault] = []
            no_cut = set()
            if sink.plan is not None:
                inj.force_trade_counts(sink.plan, counts)
                faults = inj.trade_event_faults(sink.plan, counts)
                no_cut = {i.first + 1 for i in sink.plan.of_kind("unsorted_rows")}
            sink.set_faults(faults)
            self._write_trades(dt, start_ms, n, sink, counts, no_cut, first_id, best_bid, best_ask)
        self.next_trade_id = first_id + int(counts.sum())

    def _write_trades(
        self,
        dt: date,
        start_ms: int,
        n: int,
        sink: _Sink,
        counts: np.ndarray,
        no_cut: set[int],
        first_id: int,
        best_bid: np.ndarray,
        best_ask: np.ndarray,
    ) -> None:
        rng = stream(self.sc.seed, "trades", self.symbol, dt)
        bucket_start = start_ms + np.floor(np.arange(n) * self.spacing_ms).astype(np.int64)
        width = int(math.floor(self.spacing_ms))
        cum = np.concatenate(([0], np.cumsum(counts)))
        prev_receipt, b = -(1 << 60), 0
        while b < n:
            hi = (
                int(np.searchsorted(cum, cum[b] + max(self.sc.chunk_rows - 2, 1), side="right")) - 1
            )
            hi = min(max(hi, b + 1), n)
            if hi in no_cut and hi - 1 > b:
                hi -= 1  # keep a swapped pair (last trade of a bucket, first of the next) together
            tc = trade_chunk(
                rng, counts, b, hi, int(cum[b]), bucket_start, width, best_bid, best_ask, first_id
            )
            if tc.trade_id.size:
                receipt = receipt_chain_us(
                    tc.origin_ms, natural_lag_us(rng, tc.origin_ms), prev_receipt
                )
                prev_receipt = int(receipt[-1])
                ev = inj.ChunkEvents(tc.first, start_ms, tc.origin_ms, receipt, tc.trade_id)
                layout = inj.layout_chunk(ev, sink.faults, int(tc.trade_id[0]) - 1, sink.rng)
                sink.write(
                    tb.trades_table(tc, layout, self.inst),
                    ev,
                    layout,
                    np.ones(layout.size, dtype=np.int64),
                    int(tc.trade_id[0]) - 1,
                )
            b = hi
