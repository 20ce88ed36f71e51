"""pandera (polars backend) schemas for Crypto Lake's `trades`, `book` and `book_delta_v2`.

Two forms of each table (data-formats.md §1.2):

- **raw**: the vendor's Parquet file columns, exactly as stored (`timestamp`, `receipt_timestamp`
  as int64 ns, `amount`, `id`, ...). Partition columns are *not* in the files.
- **normalised**: what lakeapi's `load_data` returns (`origin_time`, `received_time` as
  `Datetime("ns", "UTC")` with int64 min (pandas NaT) turned into null, `quantity`, `trade_id`),
  plus the Hive partition columns `exchange`, `symbol` (String) and `dt` (Date).

Schemas are built by factories (`lake_schema`, `trades_schema`, ...) because the tick and the
partition day are per-instrument / per-partition parameters. Every value check is a whole-column
polars expression attached to one column, with a stable name (the `*_CHECK` constants below;
`CHECK_DESCRIPTIONS` says when a row fails). A check passes rows it does not apply to (null
output), and passes vacuously when a column it reads is missing or mistyped: the schema-level
failure (missing column / dtype) is reported instead, so one problem is never reported twice.
Row-order checks (sequence, sort, duplicates) run within a partition: over `exchange, symbol, dt`
when those columns are present, over the whole frame otherwise (a raw file is one partition).

pandera traps (stack.md §2.7): a bare `pl.Datetime` means `Datetime("us", None)`, hence the
`Annotated[pl.Datetime, "ns", "UTC"]` hints; validating a LazyFrame checks the schema only unless
`validation_depth="SCHEMA_AND_DATA"` (`feedcheck.lake.validation` sets it); the nullable check
treats float NaN as null.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from typing import Annotated, Literal

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

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


def _spec(table: Table, form: Form) -> _Spec:
    check_table(table)
    if form == "raw":
        return _raw_book_spec() if table == "book" else _model_spec(
            RawTrades if table == "trades" else RawBookDeltaV2
        )
    if form == "normalised":
        return _normalised_book_spec() if table == "book" else _model_spec(
            Trades if table == "trades" else BookDeltaV2
        )
    raise ValueError(f"form must be 'raw' or 'normalised', got {form!r}")


def raw_columns(table: Table) -> dict[str, pl.DataType]:
    """File columns and dtypes of `table`, in file order (book: 83 columns)."""
    return {n: d for n, (d, _) in _spec(table, "raw").items()}


def normalised_columns(table: Table) -> dict[str, pl.DataType]:
    """Normalised columns and dtypes of `table`, partition columns last (book: 86 columns)."""
    return {n: d for n, (d, _) in _spec(table, "normalised").items()}


# ---- check builders ---------------------------------------------------------------------------

_PassExpr = Callable[[pl.Schema], pl.Expr]


def _row_check(name: str, needs: Mapping[str, pl.DataType], passed: _PassExpr) -> pa.Check:
    """A row-level check: `passed(schema)` is True (pass), False (fail) or null (not applicable)."""

    def check_fn(data: PolarsData) -> pl.LazyFrame | bool:
        schema = data.lazyframe.collect_schema()
        if any(schema.get(col) != dtype for col, dtype in needs.items()):
            return True  # the missing column / wrong dtype is reported by the schema-level checks
        return data.lazyframe.select(passed(schema).alias(name))

    # No `error=`: pandera would report that text instead of the stable name in `check`.
    return pa.Check(check_fn, name=name)


def _in_partition(expr: pl.Expr, schema: pl.Schema) -> pl.Expr:
    """Evaluate a row-order expression within each partition present in the frame."""
    keys = [k for k in PARTITION_COLUMNS if k in schema]
    return expr.over(keys) if keys else expr


def _present(col: str) -> pl.Expr:
    return pl.col(col).is_not_null() & pl.col(col).is_not_nan()


def _clock_ns(col: str, form: Form) -> pl.Expr:
    """The clock as int64 ns, null when missing (null, or int64 min in a raw file)."""
    c = pl.col(col)
    if form == "raw":
        return pl.when(c != NAT_NS).then(c)
    return c.dt.epoch("ns")


def _valid_origin_ms(col: str, form: Form) -> pl.Expr:
    """Origin rounded to `ORIGIN_RESOLUTION_NS`, null unless the origin is valid (> 0)."""
    ns = _clock_ns(col, form)
    half = ORIGIN_RESOLUTION_NS // 2
    return pl.when(ns > 0).then((ns + half) // ORIGIN_RESOLUTION_NS * ORIGIN_RESOLUTION_NS)


def _day_start_ns(day: date | None) -> pl.Expr:
    """Partition day midnight UTC in ns: from `day` (raw frames) or from the `dt` column."""
    if day is not None:
        midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        return pl.lit(int(midnight.timestamp()) * 1_000_000_000, pl.Int64)
    return pl.col("dt").cast(pl.Datetime("ns")).cast(pl.Int64)


def _within_day(value_ns: pl.Expr, day: date | None, tolerance_ns: int) -> pl.Expr:
    start = _day_start_ns(day)
    return (value_ns >= start - tolerance_ns) & (value_ns < start + NS_PER_DAY + tolerance_ns)


def _clock_checks(
    table: Table, form: Form, day: date | None, check_day: bool, origin_tol: int, received_tol: int
) -> dict[str, list[pa.Check]]:
    renames = RAW_TO_NORMALISED[table] if form == "normalised" else {}
    origin = renames.get("timestamp", "timestamp")
    received = renames.get("receipt_timestamp", "receipt_timestamp")
    clock = pl.Int64() if form == "raw" else UTC_NS
    # Normalised frames take the day from `dt`; raw frames from the `day` literal.
    dt_need: dict[str, pl.DataType] = {"dt": pl.Date()} if form == "normalised" else {}
    needs_o = {origin: clock, **dt_need}
    needs_r = {received: clock, **dt_need}
    ms = _valid_origin_ms(origin, form)
    origin_checks = [
        _row_check(
            ORIGIN_MISSING, {origin: clock}, lambda s: _clock_ns(origin, form).is_not_null()
        ),
        _row_check(ORIGIN_NONPOSITIVE, {origin: clock}, lambda s: _clock_ns(origin, form) > 0),
        _row_check(
            UNSORTED_ROWS,
            {origin: clock},
            # Compare with the last *valid* origin before the row, skipping missing ones.
            lambda s: ms >= _in_partition(ms.shift(1).forward_fill(), s),
        ),
    ]
    received_checks = [
        _row_check(
            RECEIVED_MISSING, {received: clock}, lambda s: _clock_ns(received, form).is_not_null()
        )
    ]
    if check_day:
        origin_checks.insert(
            2, _row_check(DAY_BOUNDARY_LEAK, needs_o, lambda s: _within_day(ms, day, origin_tol))
        )
        received_checks.append(
            _row_check(
                RECEIVED_OUT_OF_DAY,
                needs_r,
                lambda s: _within_day(_clock_ns(received, form), day, received_tol),
            )
        )
    return {origin: origin_checks, received: received_checks}


def _price_checks(col: str, tick: float | None) -> list[pa.Check]:
    f64 = {col: pl.Float64()}
    positive = pl.when(_present(col)).then(pl.col(col) > 0)
    checks = [_row_check(NONPOSITIVE_PRICE, f64, lambda s: positive)]
    if tick is not None:
        ticks = pl.col(col) / tick
        on_tick = (ticks - ticks.round(0)).abs() <= OFF_TICK_TOLERANCE_TICKS
        off_tick = pl.when(_present(col)).then(on_tick)
        checks.append(_row_check(OFF_TICK_PRICE, f64, lambda s: off_tick))
    return checks


def _size_checks(col: str) -> list[pa.Check]:
    non_negative = pl.when(_present(col)).then(pl.col(col) >= 0)
    return [_row_check(NEGATIVE_SIZE, {col: pl.Float64()}, lambda s: non_negative)]


def _sequence_checks() -> list[pa.Check]:
    seq = pl.col("sequence_number")
    return [
        _row_check(
            SEQUENCE_REGRESSION,
            {"sequence_number": pl.Int64()},
            lambda s: seq >= _in_partition(seq.shift(1), s),
        )
    ]


def _book_level_checks(tick: float | None) -> dict[str, list[pa.Check]]:
    checks: dict[str, list[pa.Check]] = {}
    for side, name, ok in (
        ("bid", BID_LEVELS_NOT_DESCENDING, lambda cur, prev: pl.col(cur) < pl.col(prev)),
        ("ask", ASK_LEVELS_NOT_ASCENDING, lambda cur, prev: pl.col(cur) > pl.col(prev)),
    ):
        for i in range(BOOK_DEPTH):
            price, size = f"{side}_{i}_price", f"{side}_{i}_size"
            checks[price] = _price_checks(price, tick)
            checks[size] = _size_checks(size)
            if i > 0:
                prev = f"{side}_{i - 1}_price"
                both = _present(price) & _present(prev)
                checks[price].append(
                    _row_check(
                        name,
                        {price: pl.Float64(), prev: pl.Float64()},
                        lambda s, both=both, ok=ok(price, prev): pl.when(both).then(ok),
                    )
                )
    both0 = _present("bid_0_price") & _present("ask_0_price")
    checks["bid_0_price"].append(
        _row_check(
            CROSSED_BOOK,
            {"bid_0_price": pl.Float64(), "ask_0_price": pl.Float64()},
            lambda s: pl.when(both0).then(pl.col("bid_0_price") < pl.col("ask_0_price")),
        )
    )
    return checks


def lake_schema(
    table: Table,
    tick: float | None = None,
    *,
    form: Form = "raw",
    day: date | None = None,
    origin_day_tolerance_ns: int = ORIGIN_DAY_TOLERANCE_NS,
    received_day_tolerance_ns: int = RECEIVED_DAY_TOLERANCE_NS,
) -> pa.DataFrameSchema:
    """Strict schema for one Lake table with every value check of `CHECK_DESCRIPTIONS` that applies.

    Args:
        table: `trades`, `book` or `book_delta_v2`.
        tick: instrument price tick (quote units, e.g. 0.01 for BTC-USDT spot); None skips
            `off_tick_price`.
        form: `raw` (file columns) or `normalised` (lakeapi names + `exchange, symbol, dt`).
        day: the partition day, for raw frames (they carry no `dt`); None skips the day checks.
            Normalised frames take the day from their `dt` column and `day` is ignored.
        origin_day_tolerance_ns / received_day_tolerance_ns: slack around the partition day (ns).

    Invariant: row-order checks (`unsorted_rows`, `sequence_regression`, `duplicate_trade_id`)
    compare rows in frame order within a partition; frames must not be re-sorted first.
    """
    spec = _spec(table, form)
    check_day = form == "normalised" or day is not None
    if form == "normalised":
        day = None  # the day comes from each row's `dt`
    checks: dict[str, list[pa.Check]] = {name: [] for name in spec}
    for col, cs in _clock_checks(
        table, form, day, check_day, origin_day_tolerance_ns, received_day_tolerance_ns
    ).items():
        checks[col] += cs
    names = RAW_TO_NORMALISED[table] if form == "normalised" else {}
    if table == "trades":
        side, trade_id = "side", names.get("id", "id")
        checks[side].append(
            _row_check(
                INVALID_SIDE,
                {side: pl.String()},
                lambda s: pl.col(side).is_in(SIDES).fill_null(False),
            )
        )
        checks[names.get("amount", "amount")] += _size_checks(names.get("amount", "amount"))
        checks["price"] += _price_checks("price", tick)
        checks[trade_id].append(
            _row_check(
                DUPLICATE_TRADE_ID,
                {trade_id: pl.Int64()},
                lambda s: pl.when(pl.col(trade_id).is_not_null()).then(
                    _in_partition(pl.col(trade_id).is_first_distinct(), s)
                ),
            )
        )
    elif table == "book":
        checks["sequence_number"] += _sequence_checks()
        for col, cs in _book_level_checks(tick).items():
            checks[col] += cs
    else:
        checks["sequence_number"] += _sequence_checks()
        checks["price"] += _price_checks("price", tick)
        checks["size"] += _size_checks("size")
    columns = {
        name: pa.Column(dtype, checks=checks[name], nullable=nullable, name=name)
        for name, (dtype, nullable) in spec.items()
    }
    return pa.DataFrameSchema(columns, strict=True, name=f"{table} ({form})")


def trades_schema(
    tick: float | None = None, *, form: Form = "raw", day: date | None = None
) -> pa.DataFrameSchema:
    """`lake_schema("trades", ...)` with the default day tolerances."""
    return lake_schema("trades", tick, form=form, day=day)


def book_schema(
    tick: float | None = None, *, form: Form = "raw", day: date | None = None
) -> pa.DataFrameSchema:
    """`lake_schema("book", ...)` with the default day tolerances."""
    return lake_schema("book", tick, form=form, day=day)


def book_delta_v2_schema(
    tick: float | None = None, *, form: Form = "raw", day: date | None = None
) -> pa.DataFrameSchema:
    """`lake_schema("book_delta_v2", ...)` with the default day tolerances."""
    return lake_schema("book_delta_v2", tick, form=form, day=day)


def schema_check_names(schema: pa.DataFrameSchema) -> tuple[str, ...]:
    """Distinct value-check names a schema runs, in column order."""
    seen: dict[str, None] = {}
    for column in schema.columns.values():
        for check in column.checks:
            seen.setdefault(check.name, None)
    return tuple(seen)
