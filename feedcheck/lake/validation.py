"""Validate one Crypto Lake partition against its pandera schema and count failures per check.

`validate_partition` runs the whole schema with `lazy=True` (every failure comes back in one
failure-case table, not just the first) and forces `validation_depth="SCHEMA_AND_DATA"` (a
LazyFrame or a `PANDERA_VALIDATION_DEPTH=SCHEMA_ONLY` environment would otherwise skip the value
checks). Findings are data: a failing partition returns a report, it does not raise.

Files stream: a partition on disk is read (pyarrow, `pre_buffer=False`) and validated in batches of
at most `batch_rows` rows (default: `VALIDATION_BATCH_BYTES` of decoded cells), never across files;
failure cases are concatenated with partition row indices, schema-level cases kept once, and the
row-order checks get a `schemas.lake.RowOrderCarry` (last valid origin, last sequence number, the
trade ids seen), so every count and case equals the whole-partition run. Only the first
`MAX_CASES_PER_CHECK` row cases per (check, column) are kept (counts stay exact), so peak memory
is a batch plus a bounded case table (and, for trades, 8 bytes per distinct trade id): one 96 M-row
delta partition validates in 536 MiB peak RSS (4.0 GiB read whole; `bench/bench_stream_memory.py`).

Check names in `failure_cases.check` and `counts` are stable:

- the value checks of `feedcheck.schemas.lake.CHECK_DESCRIPTIONS`, each counted as the number of
  distinct failing rows (a book row with two off-tick levels counts once);
- schema-level names, counted as failure cases: `column_missing`, `column_unexpected`,
  `dtype_mismatch` (one per column), and `null_value` (rows where a non-nullable column is null;
  pandera also counts float NaN as null here);
- `check_error`: a check that raised instead of returning (a bug; should never appear).

Counting semantics vs the generator's fault kinds (`CHECK_FAULT_KINDS`): every value check flags
exactly the rows the fault definition names, so pandera's failure rows *are* the count. The one
built-in whose semantics differ, pandera's `unique` (`field_uniqueness`), flags every member of a
duplicated group including the first occurrence (ids 2,2,3,3,3 → 5 rows); it is not used:
`duplicate_trade_id` flags rows whose id appeared in an earlier row (→ 3), i.e. `n - n_unique`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandera.polars as pa
import polars as pl
import pyarrow
import pyarrow.parquet as pq
from pandera.config import ValidationDepth, config_context

from feedcheck.errors import ConfigError, CorruptFileError, DataError, EmptyPartitionError
from feedcheck.lake.layout import Partition, Table, check_table, parse_key

# The footer check `read_partition` runs on every file: the same errors, named the same way.
from feedcheck.lake.readers import _check_file_schema, partition_files
from feedcheck.lake.synthetic.scenario import FaultKind
from feedcheck.schemas import lake_columns as s
from feedcheck.schemas.lake import RowOrderCarry, advance_carry, lake_schema, schema_check_names
from feedcheck.schemas.lake_columns import Form

COLUMN_MISSING = "column_missing"
COLUMN_UNEXPECTED = "column_unexpected"
DTYPE_MISMATCH = "dtype_mismatch"
NULL_VALUE = "null_value"
CHECK_ERROR = "check_error"
#: A partition that could not be validated at all: a valid file with no rows, or a file that is
#: unreadable / has the wrong columns. Reported by `unusable_partition_report`, one case per partition.
EMPTY_PARTITION = "empty_partition"
UNUSABLE_FILE = "unusable_file"
#: Schema-level names, always present in `counts`.
SCHEMA_LEVEL_CHECKS = (COLUMN_MISSING, COLUMN_UNEXPECTED, DTYPE_MISMATCH, NULL_VALUE, CHECK_ERROR)
_PANDERA_NAMES = {
    "column_in_dataframe": COLUMN_MISSING,
    "column_in_schema": COLUMN_UNEXPECTED,
    "not_nullable": NULL_VALUE,
}

#: Which generator fault kinds (`synthetic.scenario.FaultKind`) each check counts: the check's
#: count equals the sum of those kinds' ground-truth counts when no other fault touches the rows.
CHECK_FAULT_KINDS: Mapping[str, tuple[FaultKind, ...]] = {
    s.ORIGIN_MISSING: ("origin_null", "origin_nat"),
    s.ORIGIN_NONPOSITIVE: ("origin_zero", "origin_negative"),
    s.NONPOSITIVE_PRICE: ("nonpositive_price",),
    s.NEGATIVE_SIZE: ("negative_size",),
    s.INVALID_SIDE: ("invalid_side",),
    s.OFF_TICK_PRICE: ("off_tick_price",),
    s.DUPLICATE_TRADE_ID: ("duplicate_trade_id",),
    s.SEQUENCE_REGRESSION: ("sequence_regression",),
    s.DAY_BOUNDARY_LEAK: ("day_boundary_leak",),
    s.UNSORTED_ROWS: ("unsorted_rows",),
}

#: Decoded bytes a batch of a file partition may take (8 bytes a cell): ~1.4 M `book_delta_v2` or
#: trades rows, ~100 k `book` rows. pandera's checks add a few boolean columns per check on top.
VALIDATION_BATCH_BYTES = 64 * 2**20

#: Row failure cases kept per (check, column) of one partition, the first by row; `counts` stay
#: exact. Without a cap a day whose every row lacks an origin time (a period Story 1.1 looks for)
#: would keep ~100 M cases, several GB, for one finding.
MAX_CASES_PER_CHECK = 10_000

_FAILURE_SCHEMA = {
    "partition": pl.String,
    "file": pl.String,
    "schema_context": pl.String,
    "column": pl.String,
    "check": pl.String,
    "pandera_check": pl.String,
    "failure_case": pl.String,
    "index": pl.Int64,
}


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one partition (or one frame).

    `failure_cases` has one row per failing (check, column, row): `partition` (Partition.key or
    null), `file` (the file holding the row, null for frames and schema-level cases),
    `schema_context`, `column`, `check` (stable name), `pandera_check` (pandera's own text),
    `failure_case` (the offending value as text), `index` (0-based row in the partition, files
    concatenated in name order; null for schema-level cases). Row cases are the first
    `max_cases` per (check, column); `cases_dropped` says how many more there were. `counts` maps
    every check that ran plus `SCHEMA_LEVEL_CHECKS` to its exact count (see the module
    docstring), whatever the cap; `skipped` lists the value checks that could not run for lack
    of a tick or a partition day.
    """

    table: Table
    form: Form
    partition: Partition | None
    path: str | None
    rows: int
    ok: bool
    failure_cases: pl.DataFrame
    counts: Mapping[str, int] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    cases_dropped: int = 0


def _failure_table(
    raw: pl.DataFrame,
    value_checks: frozenset[str],
    partition: Partition | None,
    file_of_row: pl.Expr,
    first_row: int = 0,
) -> pl.DataFrame:
    if raw.height == 0:
        return pl.DataFrame(schema=_FAILURE_SCHEMA)
    check = pl.col("pandera_check")
    stable = (
        pl.when(check.str.starts_with("dtype("))
        .then(pl.lit(DTYPE_MISMATCH))
        # a row check reported without a row raised instead of returning
        .when(check.is_in(list(value_checks)) & pl.col("index").is_null())
        .then(pl.lit(CHECK_ERROR))
        .otherwise(check.replace(_PANDERA_NAMES))
    )
    out = raw.rename({"check": "pandera_check"}).with_columns(
        pl.col("index").cast(pl.Int64) + first_row,
        pl.col("failure_case").cast(pl.String),
        pl.lit(partition.key if partition else None, pl.String).alias("partition"),
    )
    out = out.with_columns(stable.alias("check"), file_of_row.alias("file"))
    # pandera names the schema in `column` and the column in `failure_case` for these two.
    whole_frame = pl.col("check").is_in([COLUMN_MISSING, COLUMN_UNEXPECTED])
    column = pl.when(whole_frame).then(pl.col("failure_case")).otherwise(pl.col("column"))
    out = out.with_columns(column.alias("column"))
    return out.select(list(_FAILURE_SCHEMA)).sort(["check", "column", "index"], nulls_last=True)


#: Failing rows of one check: rows for row checks (a row failing on several book levels counts
#: once), else cases (schema-level cases have no row).
_FAILING = (
    pl.when(pl.col("index").is_null().all())
    .then(pl.len())
    .otherwise(pl.col("index").drop_nulls().n_unique())
    .alias("n")
)


class _Cases:
    """One partition's failure cases as its batches report them: exact counts per check, the
    first `max_cases` row cases per (check, column), schema-level cases (no row: missing/extra
    column, dtype) kept once though every batch reports them.

    Batches hold disjoint rows in partition order, so per-batch distinct failing rows add up to
    the partition's, and the first cases of the batches so far are the partition's first.
    """

    def __init__(self, names: tuple[str, ...], max_cases: int | None) -> None:
        if max_cases is not None and max_cases < 1:
            raise ConfigError(f"max_cases must be >= 1 or None, got {max_cases}")
        self.counts = dict.fromkeys(names, 0)
        self.max_cases = max_cases
        self.rows = pl.DataFrame(schema=_FAILURE_SCHEMA)
        self.whole = pl.DataFrame(schema=_FAILURE_SCHEMA)
        self.dropped = 0

    def add(self, cases: pl.DataFrame) -> None:
        if cases.height == 0:
            return
        has_row = pl.col("index").is_not_null()
        rows = cases.filter(has_row)
        per_check = rows.group_by("check").agg(pl.col("index").n_unique())
        for check, n in per_check.iter_rows():
            self.counts[check] = self.counts.get(check, 0) + n
        self.whole = pl.concat([self.whole, cases.filter(~has_row)]).unique(maintain_order=True)
        kept = pl.concat([self.rows, rows])
        if self.max_cases is not None:
            rank = pl.int_range(pl.len()).over("check", "column", order_by="index")
            kept = kept.filter(rank < self.max_cases)
        self.dropped += self.rows.height + rows.height - kept.height
        self.rows = kept

    def failure_cases(self) -> pl.DataFrame:
        merged = pl.concat([self.rows, self.whole], how="vertical")
        return merged.sort(["check", "column", "index"], nulls_last=True, maintain_order=True)

    def exact_counts(self) -> dict[str, int]:
        counts = dict(self.counts)
        for check, n in self.whole.group_by("check").len().iter_rows():
            counts[check] = counts.get(check, 0) + n
        return counts


def failure_counts(failure_cases: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Partition key → check → failing rows, from a failure-case table (one report's, or the
    download flow's `validation_failures.parquet`, which concatenates them), counted as
    `ValidationReport.counts` counts; only checks that failed appear."""
    out: dict[str, dict[str, int]] = {}
    if failure_cases.height == 0:
        return out
    per = failure_cases.group_by("partition", "check").agg(_FAILING).sort("partition", "check")
    for partition, check, n in per.iter_rows():
        out.setdefault(partition, {})[check] = n
    return out


def write_counts(
    path: Path | str, counts: Mapping[str, Mapping[str, int]], cases_dropped: int
) -> Path:
    """Write partition key → check → exact failing rows (only checks that failed), with the
    number of row cases the per-check cap left out of the failure-case file, as JSON."""
    doc = {
        "counts": {key: dict(per) for key, per in counts.items()},
        "cases_dropped": cases_dropped,
        "max_cases_per_check": MAX_CASES_PER_CHECK,
    }
    path = Path(path)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return path


def read_counts(path: Path | str) -> tuple[dict[str, dict[str, int]], int]:
    """(partition key → check → failing rows, cases dropped) from a `write_counts` file.

    Raises:
        CorruptFileError: the file is not such a JSON document.
    """
    try:
        doc = json.loads(Path(path).read_text())
        return {k: dict(v) for k, v in doc["counts"].items()}, int(doc["cases_dropped"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptFileError(Path(path), f"not a validation counts file: {exc}") from exc


def validate_partition(
    path_or_frame: Path | str | pl.DataFrame | pl.LazyFrame,
    table: Table,
    partition: Partition | None = None,
    tick: float | None = None,
    *,
    batch_rows: int | None = None,
    max_cases: int | None = MAX_CASES_PER_CHECK,
) -> ValidationReport:
    """Validate one partition's rows against the Lake schema of `table`, collecting all failures.

    A partition on disk is streamed: read and validated in batches of at most `batch_rows` rows
    (never across files), so memory is bounded by a batch, not the partition. The batches'
    failure cases are concatenated (row indices offset to the partition) and counted as one; the
    row-order checks get a `RowOrderCarry` of the rows before each batch, so every count and
    failure case is the same as validating the whole partition at once. A frame is validated as
    it is (it is in memory already).

    Args:
        path_or_frame: a partition directory or Parquet file (raw files, in `partition_files`
            order), or a frame: raw (file columns) or normalised (detected by an `origin_time`
            column).
        table: `trades`, `book` or `book_delta_v2`.
        partition: the partition the rows belong to; inferred from a Hive path when None. Raw
            frames need it for the day checks (normalised frames carry `dt`).
        tick: instrument tick in quote units (e.g. 0.01); None skips `off_tick_price`.
        batch_rows: rows per batch for files; None: `VALIDATION_BATCH_BYTES` / (8 × columns).
        max_cases: row failure cases kept per (check, column), the first by row; None keeps
            all. Counts are exact either way.

    Returns:
        A `ValidationReport`; `ok` is True only when there is no failure case at all.

    Raises:
        CorruptFileError, SchemaMismatchError, EmptyPartitionError: a file that cannot be
            validated at all (see `read_partition`; every footer is checked before any data is
            read). Schema problems of a *frame* are reported as failure cases instead, as are
            extra columns of a file.
        ConfigError: `partition.table` is not `table`, `batch_rows` < 1 or `max_cases` < 1.
    """
    if isinstance(path_or_frame, (str, Path)):
        files = partition_files(path_or_frame)
        return _validate_files(
            files, table, partition, tick, str(path_or_frame), batch_rows, max_cases
        )
    frame = path_or_frame.collect() if isinstance(path_or_frame, pl.LazyFrame) else path_or_frame
    return _validate(frame, check_table(table), partition, tick, max_cases)


def validate_files(
    files: Sequence[Path | str],
    table: Table,
    partition: Partition | None = None,
    tick: float | None = None,
    *,
    batch_rows: int | None = None,
    max_cases: int | None = MAX_CASES_PER_CHECK,
) -> ValidationReport:
    """`validate_partition` for an explicit list of one partition's files (e.g. a download's).

    Files are read in name order, as `partition_files` lists a directory, so row indices match.
    """
    paths = sorted(Path(f) for f in files)
    if not paths:
        raise ConfigError(f"no files to validate for {partition.label if partition else table}")
    return _validate_files(
        paths, table, partition, tick, str(paths[0].parent), batch_rows, max_cases
    )


@dataclass(frozen=True)
class _FileLayout:
    """What the footers of a partition's files say: the partition's columns (every file's, in
    first-seen order, as a diagonal concat would give) with their dtypes, the String-like columns
    to cast per file, and the rows per file."""

    columns: dict[str, pl.DataType]
    to_cast: tuple[tuple[str, ...], ...]
    rows: tuple[int, ...]


def _file_layout(files: list[Path], table: Table) -> _FileLayout:
    columns: dict[str, pl.DataType] = {}
    to_cast: list[tuple[str, ...]] = []
    rows: list[int] = []
    for f in files:
        to_cast.append(tuple(_check_file_schema(f, table)))
        for name, dtype in pl.read_parquet_schema(f).items():
            columns.setdefault(name, pl.String() if name in to_cast[-1] else dtype)
        try:
            rows.append(pq.ParquetFile(f).metadata.num_rows)
        except (OSError, pyarrow.ArrowException) as exc:
            raise CorruptFileError(f, f"not readable as Parquet: {exc}") from exc
    return _FileLayout(columns, tuple(to_cast), tuple(rows))


def _file_batches(
    file: Path, layout: _FileLayout, to_cast: tuple[str, ...], batch_rows: int
) -> Iterator[pl.DataFrame]:
    """The rows of one file in batches of at most `batch_rows`, with the partition's columns."""
    try:
        # pre_buffer=False: with it, pyarrow keeps every row group's buffered column chunks
        # until the file is closed, so memory grows with the file (measured: ~7 MiB per 1.4 M
        # delta rows), not with the batch.
        reader = pq.ParquetFile(file, pre_buffer=False)
        for batch in reader.iter_batches(batch_size=batch_rows):
            if batch.num_rows == 0:
                continue
            frame = pl.DataFrame(pl.from_arrow(batch))
            frame = frame.with_columns(pl.col(c).cast(pl.String) for c in to_cast)
            absent = [pl.lit(None, d).alias(c) for c, d in layout.columns.items() if c not in frame]
            yield frame.with_columns(absent).select(list(layout.columns))
    except (OSError, pyarrow.ArrowException) as exc:
        # The footer was fine but a data page is not: truncated in the middle or overwritten.
        raise CorruptFileError(file, f"Parquet data cannot be decoded: {exc}") from exc


def _batch_rows(batch_rows: int | None, columns: int) -> int:
    if batch_rows is None:
        return max(1, VALIDATION_BATCH_BYTES // (8 * max(columns, 1)))
    if batch_rows < 1:
        raise ConfigError(f"batch_rows must be >= 1, got {batch_rows}")
    return batch_rows


def _validate_files(
    files: list[Path],
    table: Table,
    partition: Partition | None,
    tick: float | None,
    path: str,
    batch_rows: int | None,
    max_cases: int | None,
) -> ValidationReport:
    table = check_table(table)
    if partition is None:
        key = parse_key(files[0].as_posix())
        partition = key.partition if key is not None else None
    _check_partition(partition, table)
    layout = _file_layout(files, table)
    total = sum(layout.rows)
    if total == 0:
        raise EmptyPartitionError(
            Path(path),
            f"{table} partition holds no rows",
            expected="at least one row",
            found=f"0 rows in {len(files)} file(s)",
        )
    form: Form = "normalised" if "origin_time" in layout.columns else "raw"
    day, value_checks, skipped = _plan(table, tick, form, partition)
    # A file with an `origin_time` column reads as a normalised frame, whose row-order checks
    # cannot be carried across batches: validate it whole, as it always was.
    per_batch = _batch_rows(batch_rows, len(layout.columns)) if form == "raw" else total
    carry = RowOrderCarry() if form == "raw" else None
    cases = _Cases(value_checks + SCHEMA_LEVEL_CHECKS, max_cases)
    first_row = 0
    for file, to_cast in zip(files, layout.to_cast, strict=True):
        file_of_row = pl.when(pl.col("index").is_not_null()).then(pl.lit(str(file)))
        for batch in _file_batches(file, layout, to_cast, per_batch):
            schema = lake_schema(table, tick, form=form, day=day, carry=carry)
            raw = _run(schema, batch)
            cases.add(
                _failure_table(raw, frozenset(value_checks), partition, file_of_row, first_row)
            )
            if carry is not None:
                carry = advance_carry(carry, batch, table)
            first_row += batch.height
    return _report(table, form, partition, path, first_row, cases, skipped)


def _report(
    table: Table,
    form: Form,
    partition: Partition | None,
    path: str | None,
    rows: int,
    cases: _Cases,
    skipped: tuple[str, ...],
) -> ValidationReport:
    failures = cases.failure_cases()
    return ValidationReport(
        table=table,
        form=form,
        partition=partition,
        path=path,
        rows=rows,
        ok=failures.height == 0,
        failure_cases=failures,
        counts=cases.exact_counts(),
        skipped=skipped,
        cases_dropped=cases.dropped,
    )


def _check_partition(partition: Partition | None, table: Table) -> None:
    if partition is not None and partition.table != table:
        raise ConfigError(f"partition {partition.label} is not a {table} partition")


def _plan(
    table: Table, tick: float | None, form: Form, partition: Partition | None
) -> tuple[date | None, tuple[str, ...], tuple[str, ...]]:
    """(day for raw checks, value checks that run, value checks skipped for lack of tick/day)."""
    day: date | None = partition.dt if partition is not None and form == "raw" else None
    value_checks = schema_check_names(lake_schema(table, tick, form=form, day=day))
    # What the same table and form would run with a tick and a day: the difference is skipped.
    possible = schema_check_names(lake_schema(table, 1.0, form=form, day=date(2000, 1, 1)))
    return day, value_checks, tuple(c for c in possible if c not in value_checks)


def _validate(
    frame: pl.DataFrame,
    table: Table,
    partition: Partition | None,
    tick: float | None,
    max_cases: int | None,
) -> ValidationReport:
    _check_partition(partition, table)
    form: Form = "normalised" if "origin_time" in frame.columns else "raw"
    day, value_checks, skipped = _plan(table, tick, form, partition)
    schema = lake_schema(table, tick, form=form, day=day)
    cases = _Cases(value_checks + SCHEMA_LEVEL_CHECKS, max_cases)
    cases.add(
        _failure_table(
            _run(schema, frame), frozenset(value_checks), partition, pl.lit(None, pl.String)
        )
    )
    return _report(table, form, partition, None, frame.height, cases, skipped)


def _run(schema: pa.DataFrameSchema, frame: pl.DataFrame) -> pl.DataFrame:
    """pandera's failure-case table (empty when valid), every check run in one lazy pass."""
    try:
        with config_context(
            validation_enabled=True, validation_depth=ValidationDepth.SCHEMA_AND_DATA
        ):
            schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return exc.failure_cases
    return pl.DataFrame()


def unusable_partition_report(
    table: Table, partition: Partition | None, error: DataError
) -> ValidationReport:
    """A report for a partition `validate_files` could not validate (it raised `error`).

    Findings are data: the download flow records an empty or unreadable partition as one failure
    case (`empty_partition` or `unusable_file`, the error text as `failure_case`) and goes on with
    the other partitions instead of failing the run.
    """
    check = EMPTY_PARTITION if isinstance(error, EmptyPartitionError) else UNUSABLE_FILE
    case = pl.DataFrame(
        {
            "partition": [partition.key if partition else None],
            "file": [str(error.path)],
            "schema_context": ["DataFrameSchema"],
            "column": [error.column],
            "check": [check],
            "pandera_check": [None],
            "failure_case": [str(error)],
            "index": [None],
        },
        schema=_FAILURE_SCHEMA,
    )
    return ValidationReport(
        table=check_table(table),
        form="raw",
        partition=partition,
        path=str(error.path),
        rows=0,
        ok=False,
        failure_cases=case,
        counts={check: 1},
    )
