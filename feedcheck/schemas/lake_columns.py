"""Column contracts of Crypto Lake's `trades`, `book` and `book_delta_v2`: names, dtypes, forms.

Two forms of each table (data-formats.md §1.2):

- **raw**: the vendor's Parquet file columns, exactly as stored (`timestamp`, `receipt_timestamp`
  as int64 ns, `amount`, `id`, ...). Partition columns are *not* in the files.
- **normalised**: what lakeapi's `load_data` returns (`origin_time`, `received_time` as
  `Datetime("ns", "UTC")` with int64 min (pandas NaT) turned into null, `quantity`, `trade_id`),
  plus the Hive partition columns `exchange`, `symbol` (String) and `dt` (Date).

Also the stable value-check names and what each means; the checks themselves and the schema
factory are in `feedcheck.schemas.lake`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

import pandera.polars as pa
import polars as pl
import pyarrow

from feedcheck.lake.layout import Table, check_table

Form = Literal["raw", "normalised"]

#: int64 min: pandas NaT written as an integer. Read as "missing", never as a time.
NAT_NS = -(2**63)
NS_PER_DAY = 86_400 * 1_000_000_000
#: Exchange clocks are ms, and Lake's ns come from float seconds (±~100 ns noise, data-formats.md
#: §1.3), so origin times are rounded to the nearest ms before day and order comparisons.
ORIGIN_RESOLUTION_NS = 1_000_000
#: Default slack around the partition day for `origin_time`: 0, i.e. a row leaks when its (ms
#: rounded) origin day differs from the partition day, exactly the generator's definition.
ORIGIN_DAY_TOLERANCE_NS = 0
#: Slack around the partition day for `received_time`: a row stamped 23:59:59.9 by the exchange is
#: legitimately received after midnight. 60 s is far above natural lag (< 1.5 s) and skew spikes.
RECEIVED_DAY_TOLERANCE_NS = 60 * 1_000_000_000
#: A price is on tick when |price/tick - round(price/tick)| <= this many ticks. Float64 error on
#: price/tick is ~1e-9 ticks at BTC prices, a real off-tick price is a sizeable fraction of a tick.
OFF_TICK_TOLERANCE_TICKS = 1e-6
#: Levels per side in Lake's `book` table.
BOOK_DEPTH = 20
SIDES = ("buy", "sell")
UTC_NS = pl.Datetime("ns", "UTC")
PARTITION_COLUMNS = ("exchange", "symbol", "dt")
#: Explicit Hive schema for readers: polars would infer `dt` as String otherwise.
HIVE_SCHEMA: Mapping[str, pl.DataType] = {
    "exchange": pl.String(),
    "symbol": pl.String(),
    "dt": pl.Date(),
}

# Stable check names: reports, flows and tests key on them.
ORIGIN_MISSING = "origin_missing"
ORIGIN_NONPOSITIVE = "origin_nonpositive"
DAY_BOUNDARY_LEAK = "day_boundary_leak"
UNSORTED_ROWS = "unsorted_rows"
RECEIVED_MISSING = "received_missing"
RECEIVED_OUT_OF_DAY = "received_out_of_day"
SEQUENCE_REGRESSION = "sequence_regression"
NONPOSITIVE_PRICE = "nonpositive_price"
OFF_TICK_PRICE = "off_tick_price"
NEGATIVE_SIZE = "negative_size"
INVALID_SIDE = "invalid_side"
DUPLICATE_TRADE_ID = "duplicate_trade_id"
CROSSED_BOOK = "crossed_book"
BID_LEVELS_NOT_DESCENDING = "bid_levels_not_descending"
ASK_LEVELS_NOT_ASCENDING = "ask_levels_not_ascending"

CHECK_DESCRIPTIONS: Mapping[str, str] = {
    ORIGIN_MISSING: "origin time is null or int64 min (NaT)",
    ORIGIN_NONPOSITIVE: "origin time is <= 0 ns (zero or negative, not NaT)",
    DAY_BOUNDARY_LEAK: "valid origin time (ms-rounded) outside the partition day ± tolerance",
    UNSORTED_ROWS: "valid origin time (ms-rounded) below the previous valid row's, in file order",
    RECEIVED_MISSING: "received time is null or int64 min (NaT)",
    RECEIVED_OUT_OF_DAY: "received time outside the partition day ± RECEIVED_DAY_TOLERANCE_NS",
    SEQUENCE_REGRESSION: "sequence_number below the previous row's, in file order",
    NONPOSITIVE_PRICE: "price <= 0 (book: any present level)",
    OFF_TICK_PRICE: "price not within OFF_TICK_TOLERANCE_TICKS of a multiple of the tick",
    NEGATIVE_SIZE: "size / amount < 0 (book: any present level)",
    INVALID_SIDE: "trades side is null or not one of buy, sell",
    DUPLICATE_TRADE_ID: "trade id already seen in an earlier row (first occurrence passes)",
    CROSSED_BOOK: "book bid_0_price >= ask_0_price, both present",
    BID_LEVELS_NOT_DESCENDING: "book bid_i_price >= bid_(i-1)_price, both present",
    ASK_LEVELS_NOT_ASCENDING: "book ask_i_price <= ask_(i-1)_price, both present",
}


def book_columns(side: Literal["bid", "ask"] | None = None) -> tuple[str, ...]:
    """Book level columns in Lake's file order: `bid_0_price, bid_0_size, ..., ask_19_size`.

    The one definition of the 2 × `BOOK_DEPTH` level names; a book level is *present* when its
    price is neither null nor NaN.
    """
    sides = ("bid", "ask") if side is None else (side,)
    fields = ("price", "size")
    return tuple(f"{s}_{i}_{f}" for s in sides for i in range(BOOK_DEPTH) for f in fields)


#: All 80 level columns, in file order.
BOOK_LEVEL_COLUMNS: tuple[str, ...] = book_columns()


class RawTrades(pa.DataFrameModel):
    """`trades` file columns. Clocks are int64 ns since the epoch; int64 min is NaT."""

    side: str = pa.Field(nullable=True)
    amount: float
    price: float
    id: int
    timestamp: int = pa.Field(nullable=True)
    receipt_timestamp: int = pa.Field(nullable=True)

    class Config:
        strict = True


class RawBookDeltaV2(pa.DataFrameModel):
    """`book_delta_v2` file columns: one row per level; `size` is absolute, 0 deletes."""

    timestamp: int = pa.Field(nullable=True)
    receipt_timestamp: int = pa.Field(nullable=True)
    sequence_number: int
    side_is_bid: bool
    price: float
    size: float

    class Config:
        strict = True


class Trades(pa.DataFrameModel):
    """Normalised `trades` (lakeapi names) with the Hive partition columns."""

    side: str = pa.Field(nullable=True)
    quantity: float
    price: float
    trade_id: int
    origin_time: Annotated[pl.Datetime, "ns", "UTC"] = pa.Field(nullable=True)
    received_time: Annotated[pl.Datetime, "ns", "UTC"] = pa.Field(nullable=True)
    exchange: str
    symbol: str
    dt: pl.Date

    class Config:
        strict = True


class BookDeltaV2(pa.DataFrameModel):
    """Normalised `book_delta_v2` with the Hive partition columns."""

    origin_time: Annotated[pl.Datetime, "ns", "UTC"] = pa.Field(nullable=True)
    received_time: Annotated[pl.Datetime, "ns", "UTC"] = pa.Field(nullable=True)
    sequence_number: int
    side_is_bid: bool
    price: float
    size: float
    exchange: str
    symbol: str
    dt: pl.Date

    class Config:
        strict = True


#: Raw → normalised column names (lakeapi `load_data`); unlisted columns keep their name.
RAW_TO_NORMALISED: Mapping[Table, Mapping[str, str]] = {
    "trades": {
        "amount": "quantity",
        "id": "trade_id",
        "timestamp": "origin_time",
        "receipt_timestamp": "received_time",
    },
    "book": {"timestamp": "origin_time", "receipt_timestamp": "received_time"},
    "book_delta_v2": {"timestamp": "origin_time", "receipt_timestamp": "received_time"},
}
#: The two clock columns, raw names: int64 ns on disk, Datetime(ns, UTC) once normalised.
RAW_CLOCK_COLUMNS = ("timestamp", "receipt_timestamp")

# (dtype, nullable) per column; book levels are nullable because a thin book has absent levels.
_Spec = dict[str, tuple[pl.DataType, bool]]


def _model_spec(model: type[pa.DataFrameModel]) -> _Spec:
    return {n: (c.dtype.type, bool(c.nullable)) for n, c in model.to_schema().columns.items()}


def _raw_book_spec() -> _Spec:
    spec: _Spec = {
        "timestamp": (pl.Int64(), True),
        "receipt_timestamp": (pl.Int64(), True),
        "sequence_number": (pl.Int64(), False),
    }
    spec.update({c: (pl.Float64(), True) for c in BOOK_LEVEL_COLUMNS})
    return spec


def _normalised_book_spec() -> _Spec:
    renames = RAW_TO_NORMALISED["book"]
    spec: _Spec = {}
    for name, (dtype, nullable) in _raw_book_spec().items():
        dtype = UTC_NS if name in RAW_CLOCK_COLUMNS else dtype
        spec[renames.get(name, name)] = (dtype, nullable)
    spec.update({c: (HIVE_SCHEMA[c], False) for c in PARTITION_COLUMNS})
    return spec


def column_spec(table: Table, form: Form) -> _Spec:
    """(dtype, nullable) per column of `table` in `form`, in column order."""
    check_table(table)
    if form == "raw":
        return (
            _raw_book_spec()
            if table == "book"
            else _model_spec(RawTrades if table == "trades" else RawBookDeltaV2)
        )
    if form == "normalised":
        return (
            _normalised_book_spec()
            if table == "book"
            else _model_spec(Trades if table == "trades" else BookDeltaV2)
        )
    raise ValueError(f"form must be 'raw' or 'normalised', got {form!r}")


def raw_columns(table: Table) -> dict[str, pl.DataType]:
    """File columns and dtypes of `table`, in file order (book: 83 columns)."""
    return {n: d for n, (d, _) in column_spec(table, "raw").items()}


#: Arrow types of the raw file columns (plain `string`, as the vendor's files; polars would pick
#: `large_string`).
_ARROW_TYPES: Mapping[type[pl.DataType], pyarrow.DataType] = {
    pl.Int64: pyarrow.int64(),
    pl.Float64: pyarrow.float64(),
    pl.Boolean: pyarrow.bool_(),
    pl.String: pyarrow.string(),
}


def raw_arrow_schema(table: Table) -> pyarrow.Schema:
    """`raw_columns(table)` as an Arrow schema, for writers of Lake-format files (the generator,
    the capture export): the one definition of the file layout."""
    fields = []
    for name, dtype in raw_columns(table).items():
        kind = dtype if isinstance(dtype, type) else type(dtype)  # class or instance
        fields.append((name, _ARROW_TYPES[kind]))
    return pyarrow.schema(fields)


def normalised_columns(table: Table) -> dict[str, pl.DataType]:
    """Normalised columns and dtypes of `table`, partition columns last (book: 86 columns)."""
    return {n: d for n, (d, _) in column_spec(table, "normalised").items()}
