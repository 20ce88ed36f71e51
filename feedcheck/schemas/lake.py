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
when those columns are present, over the whole frame otherwise (a raw file is one partition). A raw
partition validated in batches passes each batch's schema a `RowOrderCarry` (the last valid
origin, the last sequence number, the trade ids seen) so the batches count exactly as the whole.

pandera traps (stack.md §2.7): a bare `pl.Datetime` means `Datetime("us", None)`, hence the
`Annotated[pl.Datetime, "ns", "UTC"]` hints; validating a LazyFrame checks the schema only unless
`validation_depth="SCHEMA_AND_DATA"` (`feedcheck.lake.validation` sets it); the nullable check
treats float NaN as null.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import numpy as np
import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from feedcheck.lake.layout import Table
from feedcheck.schemas.lake_columns import (
    ASK_LEVELS_NOT_ASCENDING,
    BID_LEVELS_NOT_DESCENDING,
    BOOK_DEPTH,
    CROSSED_BOOK,
    DAY_BOUNDARY_LEAK,
    DUPLICATE_TRADE_ID,
    INVALID_SIDE,
    NAT_NS,
    NEGATIVE_SIZE,
    NONPOSITIVE_PRICE,
    NS_PER_DAY,
    OFF_TICK_PRICE,
    OFF_TICK_TOLERANCE_TICKS,
    ORIGIN_DAY_TOLERANCE_NS,
    ORIGIN_MISSING,
    ORIGIN_NONPOSITIVE,
    ORIGIN_RESOLUTION_NS,
    PARTITION_COLUMNS,
    RAW_TO_NORMALISED,
    RECEIVED_DAY_TOLERANCE_NS,
    RECEIVED_MISSING,
    RECEIVED_OUT_OF_DAY,
    SEQUENCE_REGRESSION,
    SIDES,
    UNSORTED_ROWS,
    UTC_NS,
    Form,
    column_spec,
)

_PassExpr = Callable[[pl.Schema], pl.Expr]


@dataclass(frozen=True)
class RowOrderCarry:
    """What the row-order checks of one raw batch need from the partition rows before it.

    A partition validated in batches (file order) is exact when each batch's schema gets the carry
    of every row before it (`lake_schema(..., carry=)`) and the carry is advanced with
    `advance_carry` after each batch. The empty carry (the default) is the start of a partition.

    Attributes:
        last_origin_ms: the last valid origin time before the batch, ms-rounded ns (the value
            `unsorted_rows` compares the batch's first valid origin with); None: no valid origin yet.
        last_sequence: `sequence_number` of the row just before the batch (None: no row, or null).
        seen_trade_ids: sorted distinct non-null trade ids of the rows before the batch (int64); a
            day's trades, unlike its deltas, are few enough to keep (8 bytes per distinct id).
    """

    last_origin_ms: int | None = None
    last_sequence: int | None = None
    seen_trade_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


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
    table: Table,
    form: Form,
    day: date | None,
    check_day: bool,
    origin_tol: int,
    received_tol: int,
    carry: RowOrderCarry | None,
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
    before = pl.lit(carry.last_origin_ms if carry else None, pl.Int64)
    origin_checks = [
        _row_check(
            ORIGIN_MISSING, {origin: clock}, lambda s: _clock_ns(origin, form).is_not_null()
        ),
        _row_check(ORIGIN_NONPOSITIVE, {origin: clock}, lambda s: _clock_ns(origin, form) > 0),
        _row_check(
            UNSORTED_ROWS,
            {origin: clock},
            # Compare with the last *valid* origin before the row, skipping missing ones.
            lambda s: ms >= _in_partition(ms.shift(1, fill_value=before).forward_fill(), s),
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


def _sequence_checks(carry: RowOrderCarry | None) -> list[pa.Check]:
    seq = pl.col("sequence_number")
    before = pl.lit(carry.last_sequence if carry else None, pl.Int64)
    return [
        _row_check(
            SEQUENCE_REGRESSION,
            {"sequence_number": pl.Int64()},
            lambda s: seq >= _in_partition(seq.shift(1, fill_value=before), s),
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
    carry: RowOrderCarry | None = None,
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
        carry: for a raw frame that is one batch of a partition, what the row-order checks need
            from the rows before it (see `RowOrderCarry`); None: the frame starts its partition.

    Invariant: row-order checks (`unsorted_rows`, `sequence_regression`, `duplicate_trade_id`)
    compare rows in frame order within a partition; frames must not be re-sorted first.

    Raises:
        ValueError: `carry` with a normalised form (its frames may hold several partitions).
    """
    if carry is not None and form != "raw":
        raise ValueError("carry applies to raw frames (one partition's batch) only")
    spec = column_spec(table, form)
    check_day = form == "normalised" or day is not None
    if form == "normalised":
        day = None  # the day comes from each row's `dt`
    checks: dict[str, list[pa.Check]] = {name: [] for name in spec}
    for col, cs in _clock_checks(
        table, form, day, check_day, origin_day_tolerance_ns, received_day_tolerance_ns, carry
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
        first = pl.col(trade_id).is_first_distinct()
        if carry is not None and len(carry.seen_trade_ids):
            seen = pl.lit(pl.Series(carry.seen_trade_ids, dtype=pl.Int64)).implode()
            first = first & ~pl.col(trade_id).is_in(seen)
        checks[trade_id].append(
            _row_check(
                DUPLICATE_TRADE_ID,
                {trade_id: pl.Int64()},
                lambda s: pl.when(pl.col(trade_id).is_not_null()).then(_in_partition(first, s)),
            )
        )
    elif table == "book":
        checks["sequence_number"] += _sequence_checks(carry)
        for col, cs in _book_level_checks(tick).items():
            checks[col] += cs
    else:
        checks["sequence_number"] += _sequence_checks(carry)
        checks["price"] += _price_checks("price", tick)
        checks["size"] += _size_checks("size")
    columns = {
        name: pa.Column(dtype, checks=checks[name], nullable=nullable, name=name)
        for name, (dtype, nullable) in spec.items()
    }
    return pa.DataFrameSchema(columns, strict=True, name=f"{table} ({form})")


def advance_carry(carry: RowOrderCarry, batch: pl.DataFrame, table: Table) -> RowOrderCarry:
    """The carry for the batch after `batch`, a raw batch of `table` that `carry` preceded.

    Uses the same definitions as the checks (ms-rounded valid origin, raw NaT). A column that is
    missing or mistyped leaves its part of the carry unchanged (its check does not run either).
    """
    schema = batch.collect_schema()
    last_origin_ms, last_sequence, seen = (
        carry.last_origin_ms,
        carry.last_sequence,
        carry.seen_trade_ids,
    )
    if batch.height == 0:
        return carry
    if schema.get("timestamp") == pl.Int64():
        valid = batch.select(_valid_origin_ms("timestamp", "raw").drop_nulls().last()).item()
        last_origin_ms = valid if valid is not None else last_origin_ms
    if table != "trades" and schema.get("sequence_number") == pl.Int64():
        last_sequence = batch["sequence_number"][-1]
    if table == "trades" and schema.get("id") == pl.Int64():
        ids = batch["id"].drop_nulls().unique().to_numpy()
        seen = np.union1d(seen, ids.astype(np.int64, copy=False))
    return RowOrderCarry(last_origin_ms, last_sequence, seen)


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
