"""What the synthetic Lake generator makes: the dataset shape, the stream rates and the injected faults.

A scenario is plain data, loadable from YAML (`Scenario.from_yaml`) or built in code. The generator
turns it into Hive partitions plus a `ground_truth.json` (see `truth.py`) that lists every injected
fault with its exact count and location, so analyses are tested against known answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from feedcheck.errors import ConfigError
from feedcheck.lake.layout import (
    TABLES,
    Table,
    check_exchange,
    check_symbol,
    check_table,
    day_range,
)

FaultKind = Literal[
    # origin_time (raw column `timestamp`) missing or invalid; any table
    "origin_null",  # Parquet null
    "origin_nat",  # int64 min (pandas NaT written as an integer)
    "origin_zero",  # exactly 0
    "origin_negative",  # < 0 but not NaT
    # clocks; any table
    "negative_skew",  # receipt_timestamp < timestamp, origin otherwise valid
    "skew_spike",  # receipt_timestamp - timestamp >= SKEW_SPIKE_MIN_NS
    "time_hole",  # no rows at all for a stretch of the day (count = holes)
    "day_boundary_leak",  # rows whose origin day is the previous UTC day
    "unsorted_rows",  # adjacent rows swapped so origin_time goes backwards once per swap
    # sequence numbers; book and book_delta_v2
    "sequence_regression",  # a message whose sequence_number is below the previous message's
    "sequence_duplicate",  # a message sent again later with the same sequence_number
    "dropped_message",  # a delta message removed (a gap Lake's columns cannot show)
    "stranded_level",  # a delete never sent, so the level stays and later crosses the book
    # values; any table with prices
    "off_tick_price",  # price not a multiple of the instrument tick
    "nonpositive_price",  # price <= 0
    "negative_size",  # size / amount < 0
    "invalid_side",  # trades `side` not in {buy, sell}
    "duplicate_trade_id",  # trades row whose id repeats an earlier row's id
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

#: A skew spike is at least this far behind the exchange clock; natural lag stays below
#: `MAX_NATURAL_LAG_NS`, so spikes are countable exactly.
SKEW_SPIKE_MIN_NS = 2_000_000_000
MAX_NATURAL_LAG_NS = 1_500_000_000


@dataclass(frozen=True)
class FaultSpec:
    """Inject `count` faults of `kind` into `table`, in every partition unless narrowed by symbol/dt."""

    table: Table
    kind: FaultKind
    count: int
    symbol: str | None = None
    dt: date | None = None

    def __post_init__(self) -> None:
        check_table(self.table)
        if self.kind not in FAULT_KINDS:
            raise ConfigError(f"fault kind {self.kind!r} is not one of {', '.join(FAULT_KINDS)}")
        if self.count < 0:
            raise ConfigError(f"fault {self.kind} count must be >= 0, got {self.count}")


@dataclass(frozen=True)
class Rates:
    """Stream rates. Defaults are BTC-USDT spot-like (data-formats.md §2.7)."""

    #: Mean trades per hour (bursty around this mean).
    trades_per_hour: float = 30_000.0
    #: Depth messages per second on the exchange clock (Binance depth@100ms: 10).
    delta_messages_per_second: float = 10.0
    #: Mean levels changed per delta message (~50 for BTC-USDT spot in 2026). The `book` table
    #: gets one top-20 row per delta message, i.e. every ~100 ms as Lake's.
    levels_per_message: float = 20.0

    @property
    def delta_rows_per_hour(self) -> float:
        return self.delta_messages_per_second * self.levels_per_message * 3600.0


@dataclass(frozen=True)
class Instrument:
    """Price grid of one symbol. Prices are float64 on disk, as Lake stores them."""

    tick: float = 0.01
    lot: float = 0.00001
    start_price: float = 65_000.0


@dataclass(frozen=True)
class Scenario:
    seed: int = 7
    exchange: str = "BINANCE"
    symbols: tuple[str, ...] = ("BTC-USDT",)
    start: date = date(2024, 4, 1)
    end: date = date(2024, 4, 2)  # exclusive
    tables: tuple[Table, ...] = TABLES
    #: Hours of each day that carry data, from midnight; 24 is a full day. Tests use a few minutes.
    hours_per_day: float = 24.0
    rates: Rates = field(default_factory=Rates)
    instruments: Mapping[str, Instrument] = field(default_factory=dict)
    faults: tuple[FaultSpec, ...] = ()
    #: Partition keys (`table/EXCHANGE/SYMBOL/YYYY-MM-DD`) written as a Parquet file with zero rows.
    empty_partitions: tuple[str, ...] = ()
    #: Partition keys not written at all (a day missing in the middle of a range).
    missing_partitions: tuple[str, ...] = ()
    #: Rows per Parquet row group / generation chunk; bounds memory for large days.
    chunk_rows: int = 1_000_000

    def __post_init__(self) -> None:
        check_exchange(self.exchange)
        for s in self.symbols:
            check_symbol(s)
        for t in self.tables:
            check_table(t)
        day_range(self.start, self.end)
        if not 0 < self.hours_per_day <= 24:
            raise ConfigError(f"hours_per_day must be in (0, 24], got {self.hours_per_day}")
        if self.chunk_rows < 1_000:
            raise ConfigError(f"chunk_rows must be >= 1000, got {self.chunk_rows}")

    def instrument(self, symbol: str) -> Instrument:
        return self.instruments.get(symbol, Instrument())

    def days(self) -> list[date]:
        return day_range(self.start, self.end)

    def written_partitions(self) -> list[str]:
        """Keys (`table/EXCHANGE/SYMBOL/YYYY-MM-DD`) of the partitions the generator writes."""
        missing = set(self.missing_partitions)
        keys = [
            f"{t}/{self.exchange}/{s}/{d.isoformat()}"
            for t in self.tables
            for s in self.symbols
            for d in self.days()
        ]
        return [k for k in keys if k not in missing]

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Scenario:
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ConfigError(f"unknown scenario keys: {', '.join(sorted(unknown))}")
        kw: dict[str, Any] = dict(raw)
        for key in ("start", "end"):
            if key in kw and not isinstance(kw[key], date):
                kw[key] = date.fromisoformat(str(kw[key]))
        for key in ("symbols", "tables", "empty_partitions", "missing_partitions"):
            if key in kw:
                kw[key] = tuple(kw[key])
        if "rates" in kw:
            kw["rates"] = Rates(**kw["rates"])
        if "instruments" in kw:
            kw["instruments"] = {k: Instrument(**v) for k, v in kw["instruments"].items()}
        if "faults" in kw:
            specs = []
            for f in kw["faults"]:
                f = dict(f)
                if f.get("dt") is not None and not isinstance(f["dt"], date):
                    f["dt"] = date.fromisoformat(str(f["dt"]))
                specs.append(FaultSpec(**f))
            kw["faults"] = tuple(specs)
        try:
            return cls(**kw)
        except TypeError as exc:
            raise ConfigError(f"bad scenario: {exc}") from exc

    @classmethod
    def from_yaml(cls, path: Path) -> Scenario:
        try:
            raw = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read scenario {path}: {exc}") from exc
        if not isinstance(raw, Mapping):
            raise ConfigError(f"scenario {path} must be a YAML mapping")
        return cls.from_dict(raw)
