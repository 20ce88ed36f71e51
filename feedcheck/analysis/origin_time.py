"""Story 1.1: origin_time completeness, continuity, ordering and clock skew, per partition and stream.

The core, `analyse_partition`, takes any LazyFrame with two int64 ns columns exactly as stored:
`origin_ns` (Lake raw `timestamp`, Binance `E`/`T`) and `received_ns` (Lake `receipt_timestamp`,
our receive clock). Null, int64 min (NaT), 0 and negative origins are counted apart, which the
normalised `Datetime` form cannot do (it turns NaT into null). The frame is pulled in batches
(polars streaming) through one numba pass (`origin_time_kernel`) that keeps only running counts,
a skew histogram and the few gaps worth keeping, so memory stays flat whatever the row count.

`analyse_staging` runs it over every partition of a Lake tree (staging area or generated tree),
rolls partitions up per stream, reports missing and empty partitions, recommends a clock per
stream and evaluates Story 1.1's criteria. Capture data (issue 3) comes in through
`analyse_partition` with the same two columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from feedcheck.analysis import origin_time_kernel as k
from feedcheck.analysis.origin_time_fold import OriginTimeFold
from feedcheck.analysis.origin_time_result import (
    HoleSummary,
    OriginCounts,
    OriginTimeConfig,
    PartitionLike,
    PartitionOriginTime,
    PartitionStatus,
)
from feedcheck.analysis.origin_time_scan import ORIGIN, RECEIVED, ClockScan
from feedcheck.analysis.origin_time_streams import OriginTimeResult
from feedcheck.analysis.skew_sketch import SkewSketch
from feedcheck.errors import ConfigError, CorruptFileError, DataError, SchemaMismatchError
from feedcheck.lake.layout import Partition, check_table, day_range, parse_key
from feedcheck.lake.readers import lake_files
from feedcheck.lake.synthetic.truth import GROUND_TRUTH_FILE
from feedcheck.schemas.lake_columns import HIVE_SCHEMA

#: Lake raw clock columns → the core's names.
LAKE_CLOCKS = {"timestamp": ORIGIN, "receipt_timestamp": RECEIVED}

#: `on_partition(result, done, total)`: called after each partition of a staging run.
PartitionCallback = Callable[[PartitionOriginTime, int, int], None]


def _where(partition: PartitionLike) -> str:
    return getattr(partition, "path", None) or (
        f"{partition.table}/{partition.exchange}/{partition.symbol}/{partition.dt.isoformat()}"
    )


def _check_clock_columns(frame: pl.LazyFrame, partition: PartitionLike) -> None:
    schema = frame.collect_schema()
    for col in (ORIGIN, RECEIVED):
        if col not in schema:
            raise SchemaMismatchError(
                _where(partition),
                "origin-time analysis needs both clock columns",
                column=col,
                expected="Int64 ns",
                found=f"no such column; frame has {', '.join(schema.names())}",
            )
        if schema[col] != pl.Int64:
            raise SchemaMismatchError(
                _where(partition),
                "clocks must be raw int64 ns (a Datetime column has merged null and NaT)",
                column=col,
                expected="Int64",
                found=str(schema[col]),
            )


def analyse_partition(
    frame: pl.LazyFrame, partition: PartitionLike, config: OriginTimeConfig
) -> PartitionOriginTime:
    """origin_time findings for one partition.

    Args:
        frame: rows in file (arrival) order with `origin_ns` and `received_ns`, both Int64 ns
            exactly as stored (null, int64 min = NaT, 0 and negatives kept); other columns
            (e.g. `dt`) are ignored. Read in streaming batches: memory does not grow with rows.
        partition: table, exchange, symbol and day (`Partition` or a capture day). The day
            bounds the "outside the day" check; the table picks the hole rule: tables in
            `config.fixed_hole_tables` use `config.trades_hole_ns`, others
            `config.hole_multiple` × the median step between distinct ms origins.
        config: thresholds; `config.now_ns` bounds the "in the future" check.

    Returns:
        A `PartitionOriginTime` (status EMPTY when the frame has no rows) carrying its skew
        sketch for stream rollups. Skew percentiles are exact unless more than
        `config.exact_skew_max_values` distinct (hour, skew) runs were seen (then within
        `skew.relative_error`).

    Raises:
        SchemaMismatchError: a clock column is missing or not Int64.
    """
    _check_clock_columns(frame, partition)
    scan = ClockScan(partition, config)
    for batch in frame.select(ORIGIN, RECEIVED).collect_batches():
        scan.batch(batch)
    counts = scan.origin_counts()
    median = scan.median_step_ns()
    if partition.table in config.fixed_hole_tables:
        threshold: int | None = config.trades_hole_ns
    else:
        threshold = config.hole_multiple * median if median is not None else None
    sketch = scan.sketch()
    c = scan.counts
    has_skew = bool(c[k.C_SKEW_ROWS])
    skew = sketch.stats(
        negative=int(c[k.C_SKEW_NEGATIVE]),
        spike=int(c[k.C_SKEW_SPIKE]),
        min_ns=int(c[k.C_SKEW_MIN]) if has_skew else None,
        max_ns=int(c[k.C_SKEW_MAX]) if has_skew else None,
    )
    return PartitionOriginTime(
        table=partition.table,
        exchange=partition.exchange,
        symbol=partition.symbol,
        dt=partition.dt,
        status=PartitionStatus.OK if counts.rows else PartitionStatus.EMPTY,
        counts=counts,
        median_step_ns=median,
        holes=scan.hole_summary(threshold, config.max_listed_holes),
        skew=skew,
        skew_sketch=sketch,
    )


def _check_files(files: Sequence[Path]) -> None:
    """Footer and clock-column checks before a scan, so errors name the file and column."""
    for file in files:
        if file.stat().st_size == 0:
            raise CorruptFileError(file, "0-byte file: no Parquet footer", found="0 bytes")
        try:
            schema = pl.read_parquet_schema(file)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise CorruptFileError(file, f"not readable as Parquet: {exc}") from exc
        for col in LAKE_CLOCKS:
            if schema.get(col) != pl.Int64:
                raise SchemaMismatchError(
                    file,
                    "Lake clock column missing or not int64 ns",
                    column=col,
                    expected="Int64",
                    found=str(schema.get(col, "no such column")),
                )


def analyse_lake_partition(
    files: Sequence[Path], partition: Partition, config: OriginTimeConfig
) -> PartitionOriginTime:
    """`analyse_partition` over one Lake partition's Parquet files (raw clock columns).

    Raises:
        CorruptFileError: a file is empty, has no readable footer, or its data cannot be decoded.
        SchemaMismatchError: `timestamp` / `receipt_timestamp` missing or not Int64.
    """
    files = sorted(files)
    _check_files(files)
    frame = pl.scan_parquet(
        files, hive_partitioning=True, hive_schema=dict(HIVE_SCHEMA), extra_columns="ignore"
    ).select(pl.col(raw).alias(name) for raw, name in LAKE_CLOCKS.items())
    try:
        return analyse_partition(frame, partition, config)
    except (pl.exceptions.PolarsError, OSError) as exc:
        # A footer that reads fine over a damaged data page (truncated or overwritten file).
        raise CorruptFileError(files[0].parent, f"Parquet data cannot be decoded: {exc}") from exc


def unreadable_partition(partition: PartitionLike, error: DataError) -> PartitionOriginTime:
    """The finding for a partition whose files cannot be used: no counts, the error kept."""
    sketch = SkewSketch.empty()
    return PartitionOriginTime(
        table=partition.table,
        exchange=partition.exchange,
        symbol=partition.symbol,
        dt=partition.dt,
        status=PartitionStatus.UNREADABLE,
        counts=OriginCounts(),
        median_step_ns=None,
        holes=HoleSummary(),
        skew=sketch.stats(negative=0, spike=0, min_ns=None, max_ns=None),
        error=str(error),
        skew_sketch=sketch,
    )


def _found_partitions(
    root: Path,
    tables: Sequence[str],
    exchange: str | None,
    symbols: Sequence[str] | None,
    start: date | None,
    end: date | None,
) -> dict[Partition, list[Path]]:
    found: dict[Partition, list[Path]] = {}
    for table in tables:
        files = lake_files(
            root, check_table(table), exchange=exchange, symbols=symbols, start=start, end=end
        )
        for file in files:
            key = parse_key(file.relative_to(root).as_posix())
            if key is not None:
                found.setdefault(key.partition, []).append(file)
    return found


@dataclass(frozen=True)
class StagingPlan:
    """What a run over a Lake tree will analyse: the partitions found (each with its files, any
    location a worker can read: local paths or S3 objects), the day range and the streams.

    Built by `plan_staging` (a local or shared tree) or from an S3 listing (`plan_from_found`);
    each partition is then analysed on its own (`analyse_found_partition`, anywhere: a thread, a
    Dask worker) and `combine_partitions` folds the per-partition results into the run's result.
    """

    source: str
    data_kind: str
    tables: tuple[str, ...]
    days: tuple[date, ...]
    streams: tuple[tuple[str, str, str], ...]
    found: dict[Partition, tuple[Any, ...]]

    @property
    def partitions(self) -> list[Partition]:
        """Present partitions in the order `analyse_staging` visits them (stream, then day)."""
        return sorted(self.found, key=lambda p: (p.table, p.exchange, p.symbol, p.dt))


def plan_from_found(
    source: str,
    data_kind: str,
    tables: Sequence[str],
    found: Mapping[Partition, Sequence[Any]],
    *,
    exchange: str | None = None,
    symbols: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> StagingPlan:
    """The plan for partitions already found (files per partition). A missing bound of the day
    range `[start, end)` is taken from the partitions found; with both `exchange` and `symbols`
    given every table × symbol is expected, so a stream with no file is missing on every day."""
    dts = sorted({p.dt for p in found})
    lo = start if start is not None else (dts[0] if dts else None)
    hi = end if end is not None else (dts[-1] + timedelta(days=1) if dts else None)
    days = day_range(lo, hi) if lo is not None and hi is not None and lo < hi else []
    streams = {(p.table, p.exchange, p.symbol) for p in found}
    if exchange is not None and symbols is not None:
        streams |= {(t, exchange, s) for t in tables for s in symbols}
    return StagingPlan(
        source=source,
        data_kind=data_kind,
        tables=tuple(tables),
        days=tuple(days),
        streams=tuple(sorted(streams)),
        found={p: tuple(files) for p, files in found.items()},
    )


def plan_staging(
    root: Path | str,
    tables: Sequence[str],
    *,
    exchange: str | None = None,
    symbols: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> StagingPlan:
    """The plan over a Lake Hive tree on a local or shared path (see `analyse_staging`).

    Raises:
        ConfigError: a bad table, exchange, symbol or date range.
    """
    root = Path(root)
    found = _found_partitions(root, tables, exchange, symbols, start, end)
    kind = "synthetic" if (root / GROUND_TRUTH_FILE).exists() else "lake"
    return plan_from_found(
        str(root), kind, tables, found, exchange=exchange, symbols=symbols, start=start, end=end
    )


def analyse_found_partition(
    files: Sequence[Path], partition: Partition, config: OriginTimeConfig
) -> PartitionOriginTime:
    """`analyse_lake_partition`, with unusable files turned into an UNREADABLE finding.

    The result keeps its skew sketch (a few thousand histogram buckets, plus up to
    `config.exact_skew_max_values` exact runs), which is all a rollup needs: no row leaves here.
    """
    try:
        return analyse_lake_partition(files, partition, config)
    except DataError as exc:
        return unreadable_partition(partition, exc)


def combine_partitions(
    plan: StagingPlan,
    results: Mapping[Partition, PartitionOriginTime],
    config: OriginTimeConfig,
) -> OriginTimeResult:
    """Fold per-partition results (any order, from anywhere) into the run's `OriginTimeResult`.

    Counts and holes add exactly; skew percentiles come from the merged sketches, exact while
    the stream has at most `config.exact_skew_max_values` distinct (hour, skew) runs, else within
    `SkewStats.relative_error` (2**-11) + 1 ns. The result does not depend on the order or the
    place the partitions were analysed in. This is `OriginTimeFold` fed in plan order; a run that
    gets results one by one folds them as they arrive instead, so it never holds them all.

    Raises:
        ConfigError: a planned partition has no result, or a result has no skew sketch.
    """
    fold = OriginTimeFold(plan, config)
    for part in plan.partitions:
        if part not in results:
            raise ConfigError(f"{part.key}: planned but no result to combine")
        fold.add(part, results[part])
    return fold.result()


def analyse_staging(
    root: Path | str,
    tables: Sequence[str],
    config: OriginTimeConfig,
    *,
    exchange: str | None = None,
    symbols: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    on_partition: PartitionCallback | None = None,
) -> OriginTimeResult:
    """Analyse every partition of `tables` in a Lake Hive tree and roll them up per stream.

    In one process, partition after partition: `plan_staging`, `analyse_found_partition` per
    partition, folded into an `OriginTimeFold` as it is done (as `combine_partitions` would).
    The flow runs the same steps with the partitions fanned out over a task runner (threads or a
    Dask cluster), folding each result as it arrives.

    Args:
        root: tree root holding `{table}/exchange=../symbol=../dt=../*.parquet`.
        tables: Lake tables to analyse.
        config: analysis configuration and thresholds.
        exchange, symbols: filters (None = all found). With both given, every table × symbol
            is expected, so a stream with no file at all is reported missing on every day.
        start, end: day range `[start, end)` (end exclusive); a missing bound is taken from the
            earliest / latest partition found over all tables.
        on_partition: called as `(partition_result, done, total)` after each present partition.

    Returns:
        An `OriginTimeResult`: present partitions (ok, empty, unreadable with the error kept),
        missing partitions (days of the range without a partition, per stream), per-stream
        rollups with recommendations, and the Story 1.1 criteria. Unreadable files are findings,
        not failures. A partition's skew sketch is dropped once folded into its stream's.

    Raises:
        ConfigError: a bad table, exchange, symbol or date range.
    """
    plan = plan_staging(root, tables, exchange=exchange, symbols=symbols, start=start, end=end)
    fold = OriginTimeFold(plan, config)
    todo = plan.partitions
    for done, part in enumerate(todo, start=1):
        summary = analyse_found_partition(plan.found[part], part, config)
        fold.add(part, summary)  # its sketch merged into the stream's: one kept per stream
        if on_partition is not None:
            on_partition(summary, done, len(todo))
    return fold.result()
