"""Decimal128 validation: exact round trips of price/quantity strings per storage path, speed of
Decimal vs int64, and the verdict "Decimal128 works" / "int64 fallback ready".

Paths (each string → stored type → back to exact ticks, compared with the exact parse):
`polars_decimal`, `duckdb_decimal`, `arrow_decimal128_flba` (pyarrow's default Parquet encoding),
`arrow_decimal128_int` (`store_decimal_as_integer=True`; INT64 physical only for precision ≤ 18,
pyarrow keeps FIXED_LEN_BYTE_ARRAY above), `int64_ticks` (Parquet with the scale in metadata) and
`float64` (the Lake representation; its mismatches are the point of the comparison). Each path also
sums its column in its own type; polars Int64 sums wrap silently on overflow, so the int64 path's
`sum_exact` shows where sums need Int128.

Decimal precision is 18 when every value has ≤ 18 digits (DuckDB then stores INT64, the docs'
advice), else 38. Speeds are ns per value, measured here with `time.perf_counter` and returned as
data; they are never asserted in tests.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from feedcheck.book.ticks import (
    InstrumentScale,
    float_to_ticks,
    format_ticks_column,
    parse_decimal_column,
    read_scale,
    with_scale,
)
from feedcheck.errors import ConfigError, DataError
from feedcheck.report.criteria import CriterionResult, Status

DECIMAL_PATHS = (
    "polars_decimal",
    "duckdb_decimal",
    "arrow_decimal128_flba",
    "arrow_decimal128_int",
)
PATHS = (*DECIMAL_PATHS, "int64_ticks", "float64")
#: Decimal slower than int64 by more than this on a Parquet read fails the cost criterion.
MAX_DECIMAL_READ_SLOWDOWN = 2.0


@dataclass(frozen=True)
class Instrument:
    """A symbol and its scale; the dataset quotes prices/quantities at this scale."""

    symbol: str
    scale: InstrumentScale


#: Binance spot tick/lot (BTCUSDT, SOLUSDT, SHIBUSDT) plus a synthetic 1e-8-lot instrument whose
#: 1e10-scale quantities carry 19 digits (beyond float64 and Decimal(18)).
INSTRUMENTS = (
    Instrument("BTC-USDT", InstrumentScale("0.01", "0.00001")),
    Instrument("SOL-USDT", InstrumentScale("0.01", "0.001")),
    Instrument("SHIB-USDT", InstrumentScale("0.00000001", "1")),
    Instrument("WIDE-1E10", InstrumentScale("0.00000001", "0.00000001")),
)
#: (price ticks low, high, qty lots low, high) per symbol for the generated dataset.
_RANGES = {
    "BTC-USDT": (6_000_000, 7_000_000, 1, 100_000_000),
    "SOL-USDT": (10_000, 20_000, 1, 10_000_000),
    "SHIB-USDT": (1_000, 3_000, 1, 90_000_000_000),
    "WIDE-1E10": (1_000, 3_000, 10**18, 12 * 10**17),
}


def build_dataset(rows_per_symbol: int, *, seed: int = 1) -> pl.DataFrame:
    """Random on-grid quotes as Binance-style strings: columns symbol, price, qty (String)."""
    rng = np.random.default_rng(seed)
    frames = []
    for inst in INSTRUMENTS:
        p_lo, p_hi, q_lo, q_hi = _RANGES[inst.symbol]
        price = pl.Series(rng.integers(p_lo, p_hi, rows_per_symbol, dtype=np.int64))
        qty = pl.Series(rng.integers(q_lo, q_hi, rows_per_symbol, dtype=np.int64))
        frames.append(
            pl.DataFrame(
                {
                    "symbol": [inst.symbol] * rows_per_symbol,
                    "price": format_ticks_column(price, inst.scale.price_decimals),
                    "qty": format_ticks_column(qty, inst.scale.qty_decimals),
                }
            )
        )
    return pl.concat(frames)


@dataclass(frozen=True)
class PathResult:
    """One column of one symbol through one path.

    Attributes:
        mismatches: rows whose recovered ticks differ from the exact parse (null counts).
        first_mismatch: (sent, came back) decimal strings of the first mismatch, or None.
        sum_exact: the path's own sum equals the exact (Int128) sum of the ticks.
        physical_type: Parquet physical type on disk for the Parquet paths, else None.
    """

    path: str
    symbol: str
    column: str
    rows: int
    precision: int
    mismatches: int
    first_mismatch: tuple[str, str] | None
    sum_exact: bool
    physical_type: str | None = None


def _ticks_of_decimal(value: Decimal | None, decimals: int) -> int | None:
    return None if value is None else int(value.scaleb(decimals))


def _through_path(
    path: str, texts: pl.Series, decimals: int, precision: int, scale: InstrumentScale, tmp: Path
) -> tuple[pl.Series, int | None, str | None]:
    """Recovered ticks (Int64), the path's sum in ticks, and the Parquet physical type."""
    dtype = pl.Decimal(precision, decimals)
    if path == "polars_decimal":
        stored = texts.cast(dtype)
        back = parse_decimal_column(stored.cast(pl.String), decimals).values
        return back, _ticks_of_decimal(stored.sum(), decimals), None
    if path == "duckdb_decimal":
        con = duckdb.connect()
        frame = pl.DataFrame({"s": texts})
        cast = f"CAST(s AS DECIMAL({precision}, {decimals}))"
        con.register("t", frame.to_arrow())
        out = con.sql(f"SELECT CAST({cast} AS VARCHAR) AS v FROM t").pl()["v"]
        total = con.sql(f"SELECT SUM({cast}) FROM t").fetchall()[0]
        con.close()
        return (
            parse_decimal_column(out, decimals).values,
            _ticks_of_decimal(total[0], decimals),
            None,
        )
    if path.startswith("arrow_decimal128"):
        file = tmp / f"{path}.parquet"
        arr = pc.cast(texts.to_arrow(), pa.decimal128(precision, decimals))
        pq.write_table(pa.table({"v": arr}), file, store_decimal_as_integer=path.endswith("_int"))
        physical = pq.read_metadata(file).schema.column(0).physical_type
        col = pq.read_table(file)["v"]
        # Via polars, not pc.cast(col, string): Arrow prints 0.00000001 as "1E-8".
        recovered = pl.from_arrow(col)
        assert isinstance(recovered, pl.Series)
        back = parse_decimal_column(recovered.cast(pl.String), decimals).values
        return back, _ticks_of_decimal(pc.sum(col).as_py(), decimals), physical
    if path == "int64_ticks":
        file = tmp / "int64_ticks.parquet"
        ticks = parse_decimal_column(texts, decimals).values
        pq.write_table(with_scale(pa.table({"v": ticks.to_arrow()}), scale), file)
        physical = pq.read_metadata(file).schema.column(0).physical_type
        stored = pl.read_parquet(file)["v"]
        if read_scale(file) != scale:
            raise DataError(
                file, "scale metadata did not round trip", "v", str(scale), str(read_scale(file))
            )
        back = parse_decimal_column(format_ticks_column(stored, decimals), decimals).values
        return back, stored.sum(), physical
    if path == "float64":
        floats = texts.cast(pl.Float64)
        back = float_to_ticks(floats, decimals).values
        total = floats.sum()
        return back, round(total * 10**decimals), None
    raise ConfigError(f"unknown path {path!r}; choose from {PATHS}")


def round_trip(
    frame: pl.DataFrame, *, paths: tuple[str, ...] = PATHS, workdir: Path | None = None
) -> tuple[PathResult, ...]:
    """Send every symbol's price and qty strings through each path and count mismatches exactly.

    Args:
        frame: columns symbol, price, qty (String) for symbols in `INSTRUMENTS`.
        paths: subset of `PATHS`.
        workdir: where Parquet files go (a temporary directory when None).

    Raises:
        DataError: a string that is not exact at its instrument's scale (the input is wrong).
    """
    scales = {inst.symbol: inst.scale for inst in INSTRUMENTS}
    results: list[PathResult] = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for (symbol,), group in frame.group_by("symbol", maintain_order=True):
            scale = scales[str(symbol)]
            for column, decimals in (("price", scale.price_decimals), ("qty", scale.qty_decimals)):
                texts = group[column]
                parsed = parse_decimal_column(texts, decimals, column=column)
                if parsed.error_count:
                    row = int(parsed.error_rows[0])
                    raise DataError(
                        "dataset",
                        "value not exact at scale",
                        column,
                        f"{decimals} decimals",
                        repr(texts[row]),
                    )
                ref = parsed.values
                exact_sum = ref.cast(pl.Int128).sum()
                precision = 18 if ref.max() < 10**18 else 38  # type: ignore[operator]
                for path in paths:
                    back, total, physical = _through_path(
                        path, texts, decimals, precision, scale, Path(tmp)
                    )
                    bad = (back != ref).fill_null(True)
                    first = None
                    if bad.any():
                        row = int(bad.arg_true()[0])
                        came = back[row]
                        first = (
                            texts[row],
                            "null"
                            if came is None
                            else format_ticks_column(pl.Series([came]), decimals)[0],
                        )
                    results.append(
                        PathResult(
                            path,
                            str(symbol),
                            column,
                            len(ref),
                            precision,
                            int(bad.sum()),
                            first,
                            total == exact_sum,
                            physical,
                        )
                    )
    return tuple(results)


@dataclass(frozen=True)
class RoundingProbe:
    """What an engine does with a string finer than the column scale (`outcome`: the value it
    stored, or "error")."""

    engine: str
    text: str
    decimals: int
    outcome: str


def probe_finer_than_scale(
    text: str = "0.123456789", decimals: int = 8
) -> tuple[RoundingProbe, ...]:
    """Cast one too-fine string per engine: polars and DuckDB round silently, Arrow refuses, the
    int64 parser counts it as off-scale. Also Arrow's decimal → string of 1e-8 ("1E-8": an
    exponent a strict parser rejects). Findings, not errors."""
    dtype = pl.Decimal(18, decimals)
    polars_out = str(pl.Series([text]).cast(dtype)[0])
    duck = duckdb.sql(f"SELECT CAST('{text}' AS DECIMAL(18, {decimals}))::VARCHAR").fetchall()[0]
    try:
        arrow_out = str(pc.cast(pa.array([text]), pa.decimal128(18, decimals))[0].as_py())
    except pa.ArrowInvalid:
        arrow_out = "error"
    parsed = parse_decimal_column(pl.Series([text]), decimals)
    ticks_out = "error" if parsed.error_count else str(parsed.values[0])
    tiny = pc.cast(pa.array(["0.00000001"]), pa.decimal128(18, 8))
    return (
        RoundingProbe("arrow_to_string", "0.00000001", 8, str(pc.cast(tiny, pa.string())[0])),
        RoundingProbe("polars", text, decimals, polars_out),
        RoundingProbe("duckdb", text, decimals, str(duck[0])),
        RoundingProbe("arrow", text, decimals, arrow_out),
        RoundingProbe("int64_ticks", text, decimals, ticks_out),
    )


@dataclass(frozen=True)
class SpeedResult:
    """One operation on `rows` values: best-of-repeats ns per value for int64 and Decimal."""

    operation: str
    engine: str
    rows: int
    int64_ns_per_value: float
    decimal_ns_per_value: float

    @property
    def ratio(self) -> float:
        """Decimal time / int64 time (> 1: Decimal slower)."""
        return self.decimal_ns_per_value / self.int64_ns_per_value


def _best_ns(fn: Callable[[], object], repeats: int, rows: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e9 / rows


def measure_speed(
    rows: int, *, seed: int = 1, repeats: int = 3, workdir: Path | None = None
) -> tuple[SpeedResult, ...]:
    """Time sum, diff, group-by(1000 keys) sum, sort and Parquet write/read on `rows` BTC-like
    prices as Int64 ticks vs Decimal(18, 8) (polars, pyarrow FLBA / store-as-integer, DuckDB)."""
    rng = np.random.default_rng(seed)
    ticks = rng.integers(6_000_000_000_000, 7_000_000_000_000, rows, dtype=np.int64)
    keys = rng.integers(0, 1000, rows, dtype=np.int64)
    ints = pl.DataFrame({"k": keys, "v": ticks})
    decs = ints.with_columns(v=pl.Series(_scaled_decimal(ticks, 8)))
    out: list[SpeedResult] = []

    def pair(
        op: str, engine: str, f_int: Callable[[], object], f_dec: Callable[[], object]
    ) -> None:
        out.append(
            SpeedResult(
                op, engine, rows, _best_ns(f_int, repeats, rows), _best_ns(f_dec, repeats, rows)
            )
        )

    pair("sum", "polars", lambda: ints["v"].sum(), lambda: decs["v"].sum())
    pair("diff", "polars", lambda: ints["v"].diff(), lambda: decs["v"].diff())
    pair(
        "group_by_sum",
        "polars",
        lambda: ints.group_by("k").agg(pl.col("v").sum()),
        lambda: decs.group_by("k").agg(pl.col("v").sum()),
    )
    pair("sort", "polars", lambda: ints["v"].sort(), lambda: decs["v"].sort())
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        fi, fd = Path(tmp) / "i.parquet", Path(tmp) / "d.parquet"
        pair(
            "parquet_write",
            "polars",
            lambda: ints.write_parquet(fi),
            lambda: decs.write_parquet(fd),
        )
        pair("parquet_read", "polars", lambda: pl.read_parquet(fi), lambda: pl.read_parquet(fd))
        t_int, t_dec = ints.to_arrow(), decs.to_arrow()
        fa, fb = Path(tmp) / "a.parquet", Path(tmp) / "b.parquet"
        pq.write_table(t_int, fa)
        pair(
            "parquet_write_flba",
            "pyarrow",
            lambda: pq.write_table(t_int, fa),
            lambda: pq.write_table(t_dec, fb),
        )
        pair("parquet_read_flba", "pyarrow", lambda: pq.read_table(fa), lambda: pq.read_table(fb))
        pq.write_table(t_dec, fb, store_decimal_as_integer=True)
        pair(
            "parquet_read_int64_physical",
            "pyarrow",
            lambda: pq.read_table(fa),
            lambda: pq.read_table(fb),
        )
        con = duckdb.connect()
        con.register("ti", t_int)
        con.register("td", t_dec)  # DECIMAL(18, 8): INT64 storage inside DuckDB
        pair(
            "group_by_sum",
            "duckdb",
            lambda: con.sql("SELECT k, SUM(v) FROM ti GROUP BY k").fetchall(),
            lambda: con.sql("SELECT k, SUM(v) FROM td GROUP BY k").fetchall(),
        )
        con.close()
    return tuple(out)


def _scaled_decimal(ticks: np.ndarray, decimals: int) -> pa.Array:
    # Build decimal128(18, decimals) from unscaled ints without float: cast to scale 0, then
    # reinterpret the same 16-byte values at the target scale (a view, no arithmetic).
    whole = pa.array(ticks, pa.int64()).cast(pa.decimal128(19, 0))
    return whole.view(pa.decimal128(18, decimals))


def _overflow_detected() -> bool:
    # SHIB-sized quantity at a 1e-9 scale: 5e10 × 1e9 = 5e19 lots > 2**63.
    try:
        parse_decimal_column(pl.Series(["50000000000"]), 9, column="qty")
    except DataError:
        return True
    return False


def evaluate(
    paths: tuple[PathResult, ...],
    speed: tuple[SpeedResult, ...],
    *,
    max_read_slowdown: float = MAX_DECIMAL_READ_SLOWDOWN,
) -> tuple[CriterionResult, ...]:
    """The verdicts: "Decimal128 works" (every Decimal path exact, values and sums), "int64
    fallback ready" (int64 ticks exact, scale metadata round trip, overflow raised) and the Parquet
    read cost of Decimal vs int64 (UNKNOWN without speed data)."""
    dec = [p for p in paths if p.path in DECIMAL_PATHS]
    ints = [p for p in paths if p.path == "int64_ticks"]
    floats = [p for p in paths if p.path == "float64"]
    float_bad = sum(p.mismatches for p in floats)
    float_note = (
        f" float64 for comparison: {float_bad} of {sum(p.rows for p in floats)} values wrong."
    )
    criteria = []
    if not dec:
        criteria.append(
            CriterionResult("Decimal128 works", Status.UNKNOWN, None, 0, "no Decimal path was run")
        )
    else:
        bad = sum(p.mismatches for p in dec)
        sums = sum(not p.sum_exact for p in dec)
        criteria.append(
            CriterionResult(
                "Decimal128 works",
                Status.PASS if bad == 0 and sums == 0 else Status.FAIL,
                bad,
                0,
                f"{len(dec)} path×column×symbol round trips ({', '.join(DECIMAL_PATHS)}), "
                f"{sum(p.rows for p in dec)} values: {bad} mismatches, {sums} inexact sums; "
                "polars/DuckDB round finer-than-scale strings silently, so parse before casting."
                + float_note,
                "values",
            )
        )
    if not ints:
        criteria.append(
            CriterionResult("int64 fallback ready", Status.UNKNOWN, None, 0, "int64 path not run")
        )
    else:
        bad = sum(p.mismatches for p in ints)
        overflow = _overflow_detected()
        wraps = [f"{p.symbol}.{p.column}" for p in ints if not p.sum_exact]
        ok = bad == 0 and overflow
        criteria.append(
            CriterionResult(
                "int64 fallback ready",
                Status.PASS if ok else Status.FAIL,
                bad,
                0,
                f"{sum(p.rows for p in ints)} values through int64 ticks + Parquet scale metadata: "
                f"{bad} mismatches; overflow {'raised' if overflow else 'NOT raised'} "
                f"(SHIB qty at 1e-9). Int64 sums wrap silently in polars for "
                f"{', '.join(wraps) or 'no column'}: sum in Int128.",
                "values",
            )
        )
    reads = [s for s in speed if s.operation.startswith("parquet_read")]
    if not reads:
        criteria.append(
            CriterionResult(
                "Decimal128 Parquet read cost",
                Status.UNKNOWN,
                None,
                max_read_slowdown,
                "speed not measured",
                "x",
            )
        )
    else:
        worst = max(reads, key=lambda s: s.ratio)
        criteria.append(
            CriterionResult(
                "Decimal128 Parquet read cost",
                Status.PASS if worst.ratio <= max_read_slowdown else Status.FAIL,
                round(worst.ratio, 2),
                max_read_slowdown,
                "; ".join(f"{s.engine} {s.operation} {s.ratio:.2f}x" for s in reads)
                + f" on {worst.rows} values (Decimal time / int64 time).",
                "x",
            )
        )
    return tuple(criteria)


@dataclass(frozen=True)
class DecimalsReport:
    """Everything the Decimal128 check measured, and its verdicts."""

    paths: tuple[PathResult, ...]
    probes: tuple[RoundingProbe, ...]
    speed: tuple[SpeedResult, ...]
    criteria: tuple[CriterionResult, ...]

    def mismatches_by_path(self) -> dict[str, int]:
        """Total mismatching values per path (every path present, zeros included)."""
        out = {path: 0 for path in dict.fromkeys(p.path for p in self.paths)}
        for p in self.paths:
            out[p.path] += p.mismatches
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "paths": [asdict(p) for p in self.paths],
            "mismatches_by_path": self.mismatches_by_path(),
            "probes": [asdict(p) for p in self.probes],
            "speed": [{**asdict(s), "ratio": s.ratio} for s in self.speed],
            "criteria": [c.to_json() for c in self.criteria],
        }


def run_decimals_check(
    rows_per_symbol: int = 10_000,
    speed_rows: int = 1_000_000,
    *,
    seed: int = 1,
    repeats: int = 3,
    dataset: pl.DataFrame | None = None,
    workdir: Path | None = None,
) -> DecimalsReport:
    """Round trips on `dataset` (default `build_dataset(rows_per_symbol, seed)`), the finer-than-
    scale probes, speeds on `speed_rows` values (0 skips them: the cost criterion is UNKNOWN), and
    the verdicts."""
    frame = dataset if dataset is not None else build_dataset(rows_per_symbol, seed=seed)
    paths = round_trip(frame, workdir=workdir)
    speed = (
        measure_speed(speed_rows, seed=seed, repeats=repeats, workdir=workdir) if speed_rows else ()
    )
    return DecimalsReport(paths, probe_finer_than_scale(), speed, evaluate(paths, speed))
