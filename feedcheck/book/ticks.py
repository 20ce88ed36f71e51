"""Per-instrument fixed point: decimal strings and Lake floats → int64 ticks and lots, exactly.

Units: `price_ticks = price × 10**price_decimals` and `qty_lots = qty × 10**qty_decimals`, the
same convention as the wire parser (`feedcheck.binance.wire.Scale`). A tick that is not a power
of ten (`0.05`) keeps its decimals (2): ticks are then 0.01 units and every on-grid price is a
multiple of `tick_units` (5).

Parsing rules (one set for scalars and columns; the scalar parser is `wire.parse_fixed`):
- accepted: `digits[.digits]` in ASCII, also `5.` and `.5`; `"0.00000000"` is exactly 0;
- rejected and counted: signs (a negative price or quantity is a finding, never a value),
  exponents (`"1e-8"`: Binance never sends them and an exponent hides the digit count), spaces;
  a non-zero digit finer than the scale (never rounded);
- raised: a value ≥ 2**63 at the scale (`DataError` naming the column and the value). That is a
  scale chosen wrong for the instrument (SHIB quantities at a 1e-9 scale), not a data finding.

The scale travels with the data as Parquet key-value metadata under `SCALE_METADATA_KEY`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from feedcheck.binance.wire import MAX_DECIMALS, Scale, format_fixed, parse_fixed
from feedcheck.errors import ConfigError, DataError
from feedcheck.schemas.lake_columns import OFF_TICK_TOLERANCE_TICKS

__all__ = [
    "COLUMN_SOURCE",
    "INT64_MAX",
    "MAX_DECIMALS",
    "SCALE_METADATA_KEY",
    "FloatTicks",
    "InstrumentScale",
    "ParseErrorKind",
    "ParsedTicks",
    "float_to_ticks",
    "format_fixed",
    "float_to_steps",
    "format_ticks_column",
    "parse_decimal_column",
    "parse_fixed",
    "read_scale",
    "scale_from_metadata",
    "scale_metadata",
    "with_scale",
]

#: Default `path` named by errors raised on an in-memory column.
COLUMN_SOURCE = "column"
#: Parquet key-value metadata key holding `InstrumentScale.to_json()`.
SCALE_METADATA_KEY = "feedcheck.scale"
INT64_MAX = 2**63 - 1
#: Above 2**53 float64 cannot hold every integer, so a float → ticks result is not unit-exact.
FLOAT_EXACT_LIMIT = 2**53

_VALID = r"^(?:[0-9]+\.?[0-9]*|\.[0-9]+)$"
_PARTS = r"^([0-9]*)\.?([0-9]*)$"


class ParseErrorKind:
    """Codes in `ParsedTicks.error_kinds` (uint8). 0 is never stored: it means parsed."""

    #: Not `digits[.digits]` (exponent, space, letters, empty string).
    MALFORMED = 1
    #: A leading `-` on an otherwise valid number.
    NEGATIVE = 2
    #: A non-zero digit finer than the scale.
    OFF_SCALE = 3

    NAMES = {MALFORMED: "malformed", NEGATIVE: "negative", OFF_SCALE: "off_scale"}


def _step(value: str | Decimal | float, name: str) -> Decimal:
    # A float step is read through its shortest repr (0.01 → "0.01"): the intended decimal, not
    # the binary approximation Decimal(0.01) would give.
    text = repr(value) if isinstance(value, float) else str(value)
    try:
        step = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"{name} must be a decimal number, got {value!r}") from None
    if not step.is_finite() or step <= 0:
        raise ConfigError(f"{name} must be a positive decimal, got {value!r}")
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if -exponent > MAX_DECIMALS:
        raise ConfigError(f"{name} {value!r} is finer than 1e-{MAX_DECIMALS}")
    return step


def _decimals(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


@dataclass(frozen=True, slots=True)
class InstrumentScale:
    """An instrument's price tick and quantity lot, and the int64 fixed point they imply.

    Attributes:
        tick: price tick in quote units as a decimal string (BTCUSDT `"0.01"`, SHIBUSDT
            `"0.00000001"`); floats and Decimals are accepted and normalised to a plain string.
        lot: quantity step in base units (BTCUSDT `"0.00001"`, SHIBUSDT `"1"`).

    Invariants: `price_factor = 10**price_decimals`, `tick_units = tick × price_factor` is a
    positive int (likewise for lots); every on-grid price is a multiple of `tick_units` ticks.
    """

    tick: str
    lot: str

    def __post_init__(self) -> None:
        for name in ("tick", "lot"):
            step = _step(getattr(self, name), name)
            object.__setattr__(self, name, format(step.normalize(), "f"))

    @property
    def price_decimals(self) -> int:
        """Decimal places of a tick: price_ticks = price × 10**price_decimals."""
        return _decimals(Decimal(self.tick))

    @property
    def qty_decimals(self) -> int:
        """Decimal places of a lot: qty_lots = qty × 10**qty_decimals."""
        return _decimals(Decimal(self.lot))

    @property
    def price_factor(self) -> int:
        """Ticks per quote unit (10**price_decimals)."""
        return 10**self.price_decimals

    @property
    def qty_factor(self) -> int:
        """Lots per base unit (10**qty_decimals)."""
        return 10**self.qty_decimals

    @property
    def tick_units(self) -> int:
        """The price tick in ticks: 1 for a power-of-ten tick, 5 for `0.05`."""
        return int(Decimal(self.tick) * self.price_factor)

    @property
    def lot_units(self) -> int:
        """The lot step in lots."""
        return int(Decimal(self.lot) * self.qty_factor)

    @property
    def max_price(self) -> str:
        """Largest price int64 ticks hold at this scale, as a decimal string."""
        return format_fixed(INT64_MAX, self.price_decimals)

    @property
    def max_qty(self) -> str:
        """Largest quantity int64 lots hold at this scale (SHIBUSDT, lot 1: 9.2e18)."""
        return format_fixed(INT64_MAX, self.qty_decimals)

    @property
    def wire_scale(self) -> Scale:
        """The same scale as the wire parser's `Scale`."""
        return Scale(self.price_decimals, self.qty_decimals)

    def to_json(self) -> dict[str, str | int]:
        return {
            "tick": self.tick,
            "lot": self.lot,
            "price_decimals": self.price_decimals,
            "qty_decimals": self.qty_decimals,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, object]) -> InstrumentScale:
        return cls(str(raw["tick"]), str(raw["lot"]))


@dataclass(frozen=True)
class ParsedTicks:
    """A decimal-string column parsed to int64 at `decimals` places.

    Attributes:
        values: Int64 fixed-point values; null where the input was null or rejected.
        decimals: the scale (values = decimal × 10**decimals).
        error_rows: row positions (int64, ascending) of rejected values.
        error_kinds: `ParseErrorKind` code per `error_rows` entry (uint8).
        null_count: input nulls (passed through as null, not errors).
    """

    values: pl.Series
    decimals: int
    error_rows: np.ndarray
    error_kinds: np.ndarray
    null_count: int

    @property
    def error_count(self) -> int:
        return len(self.error_rows)

    def counts(self) -> dict[str, int]:
        """Rejected values per kind name (`malformed`, `negative`, `off_scale`), zeros included."""
        return {
            name: int(np.count_nonzero(self.error_kinds == code))
            for code, name in ParseErrorKind.NAMES.items()
        }


def parse_decimal_column(
    texts: pl.Series, decimals: int, *, column: str | None = None, source: str = COLUMN_SOURCE
) -> ParsedTicks:
    """Parse a String column of unsigned decimals to Int64 at `decimals` places, with no float.

    `["2683.80000000", "0.00000000", "1e-8"]` at 2 → `[268380, 0, null]`, one malformed error at
    row 2. Rejected values are counted and located (see the module rules), never rounded.

    Args:
        texts: polars String series.
        decimals: 0..MAX_DECIMALS.
        column: named in errors (defaults to the series name).
        source: the file or stream named in errors.

    Raises:
        ConfigError: `decimals` out of range.
        DataError: a valid value is ≥ 2**63 at this scale (names the first one and its row).
    """
    if not 0 <= decimals <= MAX_DECIMALS:
        raise ConfigError(f"decimals must be in 0..{MAX_DECIMALS}, got {decimals}")
    name = column if column is not None else texts.name
    s = pl.col("s")
    valid = s.str.contains(_VALID)
    negative = s.str.starts_with("-") & s.str.slice(1).str.contains(_VALID)
    whole = s.str.extract(_PARTS, 1).str.strip_chars_start("0")
    frac = s.str.extract(_PARTS, 2)
    off_scale = valid & (frac.str.strip_chars_end("0").str.len_chars() > decimals)
    digits = whole + frac.str.slice(0, decimals).str.pad_end(decimals, "0")
    digits = pl.when(digits == "").then(pl.lit("0")).otherwise(digits)
    ok = valid & ~off_scale
    frame = pl.DataFrame({"s": texts.cast(pl.String)}).select(
        value=pl.when(ok).then(digits.cast(pl.Int64, strict=False)),
        ok=ok.fill_null(False),
        kind=pl.when(s.is_null())
        .then(0)
        .when(negative)
        .then(ParseErrorKind.NEGATIVE)
        .when(~valid)
        .then(ParseErrorKind.MALFORMED)
        .when(off_scale)
        .then(ParseErrorKind.OFF_SCALE)
        .otherwise(0)
        .cast(pl.UInt8),
    )
    overflow = (frame["ok"] & frame["value"].is_null()).arg_true()
    if len(overflow):
        row = int(overflow[0])
        raise DataError(
            source,
            f"value exceeds int64 at {decimals} decimals ({len(overflow)} values, first at row {row})",
            name,
            f"<= {format_fixed(INT64_MAX, decimals)}",
            repr(texts[row]),
        )
    kinds = frame["kind"].to_numpy()
    rows = np.flatnonzero(kinds).astype(np.int64)
    return ParsedTicks(
        values=frame["value"].rename(texts.name),
        decimals=decimals,
        error_rows=rows,
        error_kinds=kinds[rows],
        null_count=texts.null_count(),
    )


def format_ticks_column(values: pl.Series, decimals: int) -> pl.Series:
    """Inverse of `parse_decimal_column`: Int64 → `"whole.frac"` with exactly `decimals` places.

    `[268380, 0]` at 2 → `["2683.80", "0.00"]`; nulls stay null. Matches `format_fixed`.

    Raises:
        ConfigError: a negative value (prices and quantities are unsigned) or bad `decimals`.
    """
    if not 0 <= decimals <= MAX_DECIMALS:
        raise ConfigError(f"decimals must be in 0..{MAX_DECIMALS}, got {decimals}")
    v = values.cast(pl.Int64)
    if (v < 0).any():
        raise ConfigError(f"fixed-point values must be >= 0, found {v.min()}")
    if decimals == 0:
        return v.cast(pl.String)
    factor = 10**decimals
    x = pl.col("v")
    text = (x // factor).cast(pl.String) + "." + (x % factor).cast(pl.String).str.zfill(decimals)
    return pl.DataFrame({"v": v}).select(text.alias(values.name)).to_series()


@dataclass(frozen=True)
class FloatTicks:
    """A float64 column rounded to int64 fixed point, with its off-tick findings.

    Attributes:
        values: Int64, round(x × 10**decimals) (half away from zero); null for null/NaN/inf.
        decimals: the scale.
        step_units: the tick (or lot) in units; on-grid values are multiples of it.
        off_tick_rows: positions where x/step is farther than `tolerance_ticks` from an integer.
        non_finite_rows: positions of NaN or ±inf.
        beyond_float_exact: finite values above 2**53 units, where float64 cannot resolve a unit.
    """

    values: pl.Series
    decimals: int
    step_units: int
    off_tick_rows: np.ndarray
    non_finite_rows: np.ndarray
    beyond_float_exact: int

    @property
    def off_tick_count(self) -> int:
        return len(self.off_tick_rows)


def float_to_ticks(
    floats: pl.Series,
    decimals: int,
    *,
    step_units: int = 1,
    tolerance_ticks: float = OFF_TICK_TOLERANCE_TICKS,
    column: str | None = None,
    source: str = COLUMN_SOURCE,
) -> FloatTicks:
    """Round a Lake float64 price/size column to int64 ticks and count off-tick values exactly.

    A value is off tick when |u/step_units − round(u/step_units)| > tolerance_ticks, with
    u = x × 10**decimals: the rule (and default tolerance) of the `off_tick_price` schema check.
    An off-tick value is still rounded, to the nearest unit (not the nearest tick).

    Args:
        floats: Float64 series (quote units for prices, base units for sizes).
        decimals: scale of the result.
        step_units: tick or lot in units (`InstrumentScale.tick_units`).
        tolerance_ticks: slack in ticks (`OFF_TICK_TOLERANCE_TICKS`).
        column, source: named in errors.

    Raises:
        DataError: |u| ≥ 2**63 (names the first such value and its row).
    """
    if not 0 <= decimals <= MAX_DECIMALS or step_units < 1:
        raise ConfigError(f"need decimals in 0..{MAX_DECIMALS} and step_units >= 1")
    name = column if column is not None else floats.name
    units = pl.col("x") * float(10**decimals)
    grid = units / float(step_units)
    finite = pl.col("x").is_finite()
    frame = pl.DataFrame({"x": floats.cast(pl.Float64)}).select(
        units=pl.when(finite).then(units),
        off=((grid - grid.round(0)).abs() > tolerance_ticks).fill_null(False) & finite,
        bad=pl.col("x").is_not_null() & ~pl.col("x").is_finite(),
    )
    too_big = (frame["units"].abs() >= float(2**63)).fill_null(False)
    if too_big.any():
        row = int(too_big.arg_true()[0])
        raise DataError(
            source,
            f"value exceeds int64 at {decimals} decimals ({int(too_big.sum())} values, first at row {row})",
            name,
            f"|x| < {format_fixed(INT64_MAX, decimals)}",
            repr(floats[row]),
        )
    rounded = frame["units"].round(0, mode="half_away_from_zero").cast(pl.Int64)
    beyond = (frame["units"].abs() > float(FLOAT_EXACT_LIMIT)).fill_null(False)
    return FloatTicks(
        values=rounded.rename(floats.name),
        decimals=decimals,
        step_units=step_units,
        off_tick_rows=frame["off"].arg_true().to_numpy().astype(np.int64),
        non_finite_rows=frame["bad"].arg_true().to_numpy().astype(np.int64),
        beyond_float_exact=int(beyond.sum()),
    )


@dataclass(frozen=True)
class StepUnits:
    """A float64 array as int64 multiples of a step, and how many values were off the step grid.

    Attributes:
        values: int64, rint(x / step) (half to even, as NumPy rounds).
        off_step: values farther than the tolerance from a whole number of steps (still rounded).
    """

    values: np.ndarray
    off_step: int


def float_to_steps(
    values: np.ndarray,
    step: float,
    *,
    tolerance_steps: float = OFF_TICK_TOLERANCE_TICKS,
    column: str = "value",
    source: str = COLUMN_SOURCE,
) -> StepUnits:
    """The engine's hot-path conversion of Lake floats: rint(x / step) as int64, checked.

    NumPy only (it runs once per row group): no polars frame, and units are steps (the tick
    index), which is what the book needs; `float_to_ticks` is the decimal-scale variant. Unlike
    a bare `astype(int64)`, which wraps silently, a value outside int64 (a SHIB quantity at a
    1e-9 lot) or a NaN/inf raises: neither can be applied to a book.

    Raises:
        ConfigError: `step` not > 0.
        DataError: a non-finite value or |x / step| >= 2**63 (names `source`, `column`, the
            first such value and its row).
    """
    if not step > 0:
        raise ConfigError(f"step must be > 0, got {step}")
    units = np.asarray(values, dtype=np.float64) / step
    bad = ~np.isfinite(units) | (np.abs(units) >= float(2**63))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            str(source),
            f"value not representable as int64 steps of {step!r} "
            f"({int(bad.sum())} values, first at row {row})",
            column,
            f"finite, |x| < {float(2**63) * step:.6g}",
            repr(float(np.asarray(values)[row])),
        )
    rounded = np.rint(units)
    off = int(np.count_nonzero(np.abs(units - rounded) > tolerance_steps))
    return StepUnits(rounded.astype(np.int64), off)


def scale_metadata(scale: InstrumentScale) -> dict[str, str]:
    """Parquet key-value metadata holding `scale` (pyarrow schema metadata or polars
    `write_parquet(metadata=...)`)."""
    return {SCALE_METADATA_KEY: json.dumps(scale.to_json(), sort_keys=True)}


def with_scale(table: pa.Table, scale: InstrumentScale) -> pa.Table:
    """`table` with `scale` added to its schema metadata (other keys kept)."""
    meta = dict(table.schema.metadata or {})
    meta.update({k.encode(): v.encode() for k, v in scale_metadata(scale).items()})
    return table.replace_schema_metadata(meta)


def scale_from_metadata(
    metadata: Mapping[bytes, bytes] | Mapping[str, str] | None, *, path: Path | str
) -> InstrumentScale:
    """The scale stored by `scale_metadata`.

    Raises:
        DataError: the key is absent, or its value is not a valid scale (names `path`).
    """
    raw = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in (metadata or {}).items()
    }
    if SCALE_METADATA_KEY not in raw:
        raise DataError(
            path,
            "no fixed-point scale in Parquet metadata",
            SCALE_METADATA_KEY,
            "a JSON scale",
            "absent",
        )
    text = raw[SCALE_METADATA_KEY]
    try:
        scale = InstrumentScale.from_json(json.loads(text))
        stored = json.loads(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(
            path,
            f"unreadable scale: {exc}",
            SCALE_METADATA_KEY,
            "{tick, lot, price_decimals, qty_decimals}",
            repr(text),
        ) from exc
    if (
        stored.get("price_decimals", scale.price_decimals) != scale.price_decimals
        or stored.get("qty_decimals", scale.qty_decimals) != scale.qty_decimals
    ):
        raise DataError(
            path,
            "stored decimals disagree with tick/lot",
            SCALE_METADATA_KEY,
            json.dumps(scale.to_json()),
            text,
        )
    return scale


def read_scale(path: Path | str) -> InstrumentScale:
    """Read the scale from a Parquet file's footer (no data pages are read).

    Raises:
        DataError: no or malformed scale metadata.
    """
    return scale_from_metadata(pq.read_metadata(path).metadata, path=path)
