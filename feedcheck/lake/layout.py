"""Crypto Lake's Hive layout: `{table}/exchange={EX}/symbol={SYM}/dt={YYYY-MM-DD}/{file}.parquet`.

The same layout is used by the vendor bucket (under a prefix), by the local staging area and by the
synthetic generator, so every reader and the downloader share these helpers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, get_args

from feedcheck.errors import ConfigError

Table = Literal["trades", "book", "book_delta_v2"]
TABLES: tuple[Table, ...] = get_args(Table)

# Upper-case exchange names (BINANCE, BINANCE_FUTURES) and dashed symbols (BTC-USDT, BTC-USDT-PERP),
# as the vendor's client asserts. Anything else could escape the staging directory.
_EXCHANGE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_]{0,39}$")
_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,39}$")
_HIVE_KEY_RE = re.compile(
    r"(?P<table>[a-z0-9_]+)/exchange=(?P<exchange>[^/]+)/symbol=(?P<symbol>[^/]+)"
    r"/dt=(?P<dt>\d{4}-\d{2}-\d{2})/(?P<filename>[^/]+\.parquet)$"
)


def check_table(table: str) -> Table:
    if table not in TABLES:
        raise ConfigError(f"table {table!r} is not one of {', '.join(TABLES)}")
    return table  # type: ignore[return-value]


def check_exchange(exchange: str) -> str:
    if not _EXCHANGE_RE.match(exchange):
        raise ConfigError(
            f"exchange {exchange!r} must be upper case letters, digits or _ (e.g. BINANCE)"
        )
    return exchange


def check_symbol(symbol: str) -> str:
    if not _SYMBOL_RE.match(symbol):
        raise ConfigError(f"symbol {symbol!r} must be upper case and dashed (e.g. BTC-USDT)")
    return symbol


def day_range(start: date, end: date) -> list[date]:
    """Days in `[start, end)`: `end` is exclusive, as in lakeapi's `load_data`."""
    if end <= start:
        raise ConfigError(
            f"empty date range: end {end} must be after start {start} (end is exclusive)"
        )
    return [start + timedelta(days=i) for i in range((end - start).days)]


@dataclass(frozen=True, order=True)
class Partition:
    """One day of one table for one exchange and symbol."""

    table: Table
    exchange: str
    symbol: str
    dt: date

    def __post_init__(self) -> None:
        check_table(self.table)
        check_exchange(self.exchange)
        check_symbol(self.symbol)

    @property
    def path(self) -> str:
        """Relative Hive directory, e.g. `trades/exchange=BINANCE/symbol=BTC-USDT/dt=2024-01-01`."""
        return (
            f"{self.table}/exchange={self.exchange}/symbol={self.symbol}/dt={self.dt.isoformat()}"
        )

    @property
    def label(self) -> str:
        """Human name used in errors and reports: `trades BINANCE BTC-USDT 2024-01-01`."""
        return f"{self.table} {self.exchange} {self.symbol} {self.dt.isoformat()}"

    @property
    def key(self) -> str:
        """Stable id used in ground truth and results: `trades/BINANCE/BTC-USDT/2024-01-01`."""
        return f"{self.table}/{self.exchange}/{self.symbol}/{self.dt.isoformat()}"


def partitions(
    tables: Sequence[str], exchange: str, symbols: Sequence[str], start: date, end: date
) -> Iterator[Partition]:
    """Every partition of `tables × symbols × [start, end)` for one exchange."""
    for table in tables:
        for symbol in symbols:
            for dt in day_range(start, end):
                yield Partition(check_table(table), exchange, symbol, dt)


@dataclass(frozen=True)
class ObjectKey:
    """A listed Parquet object, relative to the table root (i.e. without the bucket prefix)."""

    partition: Partition
    filename: str

    @property
    def relpath(self) -> str:
        return f"{self.partition.path}/{self.filename}"


def parse_key(relpath: str) -> ObjectKey | None:
    """Parse `table/exchange=../symbol=../dt=../file.parquet`; None for anything else (indexes, dirs)."""
    m = _HIVE_KEY_RE.search(relpath)
    if m is None or m.group("table") not in TABLES:
        return None
    filename = m.group("filename")
    if filename.startswith(".") or "/" in filename:
        return None
    try:
        part = Partition(
            m.group("table"),  # type: ignore[arg-type]
            m.group("exchange"),
            m.group("symbol"),
            date.fromisoformat(m.group("dt")),
        )
    except (ConfigError, ValueError):
        return None
    return ObjectKey(part, filename)
