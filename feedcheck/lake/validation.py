"""Validate one Crypto Lake partition against its pandera schema and count failures per check.

`validate_partition` runs the whole schema with `lazy=True` (every failure comes back in one
failure-case table, not just the first) and forces `validation_depth="SCHEMA_AND_DATA"` (a
LazyFrame or a `PANDERA_VALIDATION_DEPTH=SCHEMA_ONLY` environment would otherwise skip the value
checks). Findings are data: a failing partition returns a report, it does not raise.

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandera.polars as pa
import polars as pl
from pandera.config import ValidationDepth, config_context

from feedcheck.errors import ConfigError, DataError, EmptyPartitionError
from feedcheck.lake.layout import Partition, Table, check_table, parse_key
from feedcheck.lake.readers import partition_files, read_files
from feedcheck.lake.synthetic.scenario import FaultKind
from feedcheck.schemas import lake_columns as s
from feedcheck.schemas.lake import lake_schema, schema_check_names
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
    concatenated in name order; null for schema-level cases). `counts` maps every check that ran
    plus `SCHEMA_LEVEL_CHECKS` to its count (see the module docstring); `skipped` lists the value
    checks that could not run for lack of a tick or a partition day.
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


def _failure_table(
    raw: pl.DataFrame,
    value_checks: frozenset[str],
    partition: Partition | None,
    file_of_row: pl.Expr,
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
        pl.col("index").cast(pl.Int64),
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


def _counts(failures: pl.DataFrame, names: tuple[str, ...]) -> dict[str, int]:
    counts = dict.fromkeys(names, 0)
    if failures.height:
        per_check = failures.group_by("check").agg(_FAILING)
        counts.update(zip(per_check["check"].to_list(), per_check["n"].to_list(), strict=True))
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


def _file_of_row(files: list[Path]) -> pl.Expr:
    """Expression mapping a partition row index to the file that holds it."""
    if len(files) == 1:
        return pl.when(pl.col("index").is_not_null()).then(pl.lit(str(files[0])))
    ends = [0]
    for f in files:
        ends.append(ends[-1] + pl.scan_parquet(f).select(pl.len()).collect().item())
    expr = pl.lit(None, pl.String)
    for f, lo, hi in reversed(list(zip(files, ends[:-1], ends[1:], strict=True))):
        in_file = (pl.col("index") >= lo) & (pl.col("index") < hi)
        expr = pl.when(in_file).then(pl.lit(str(f))).otherwise(expr)
    return expr


def validate_partition(
    path_or_frame: Path | str | pl.DataFrame | pl.LazyFrame,
    table: Table,
    partition: Partition | None = None,
    tick: float | None = None,
) -> ValidationReport:
    """Validate one partition's rows against the Lake schema of `table`, collecting all failures.

    Args:
        path_or_frame: a partition directory or Parquet file (read raw with `read_partition`), or a
            frame: raw (file columns) or normalised (detected by an `origin_time` column).
        table: `trades`, `book` or `book_delta_v2`.
        partition: the partition the rows belong to; inferred from a Hive path when None. Raw
            frames need it for the day checks (normalised frames carry `dt`).
        tick: instrument tick in quote units (e.g. 0.01); None skips `off_tick_price`.

    Returns:
        A `ValidationReport`; `ok` is True only when there is no failure case at all.

    Raises:
        CorruptFileError, SchemaMismatchError, EmptyPartitionError: a file that cannot be
            validated at all (see `read_partition`). Schema problems of a *frame* are reported as
            failure cases instead, as are extra columns of a file.
        ConfigError: `partition.table` is not `table`.
    """
    if isinstance(path_or_frame, (str, Path)):
        files = partition_files(path_or_frame)
        return _validate_files(files, table, partition, tick, str(path_or_frame))
    frame = path_or_frame.collect() if isinstance(path_or_frame, pl.LazyFrame) else path_or_frame
    return _validate(frame, check_table(table), partition, tick, [], None)


def validate_files(
    files: Sequence[Path | str],
    table: Table,
    partition: Partition | None = None,
    tick: float | None = None,
) -> ValidationReport:
    """`validate_partition` for an explicit list of one partition's files (e.g. a download's).

    Files are read in name order, as `partition_files` lists a directory, so row indices match.
    """
    paths = sorted(Path(f) for f in files)
    if not paths:
        raise ConfigError(f"no files to validate for {partition.label if partition else table}")
    return _validate_files(paths, table, partition, tick, str(paths[0].parent))


def _validate_files(
    files: list[Path], table: Table, partition: Partition | None, tick: float | None, path: str
) -> ValidationReport:
    table = check_table(table)
    if partition is None:
        key = parse_key(files[0].as_posix())
        partition = key.partition if key is not None else None
    frame = read_files(files, table=table)
    return _validate(frame, table, partition, tick, files, path)


def _validate(
    frame: pl.DataFrame,
    table: Table,
    partition: Partition | None,
    tick: float | None,
    files: list[Path],
    path: str | None,
) -> ValidationReport:
    if partition is not None and partition.table != table:
        raise ConfigError(f"partition {partition.label} is not a {table} partition")
    form: Form = "normalised" if "origin_time" in frame.columns else "raw"
    day: date | None = partition.dt if partition is not None and form == "raw" else None
    schema = lake_schema(table, tick, form=form, day=day)
    value_checks = schema_check_names(schema)
    # What the same table and form would run with a tick and a day: the difference is skipped.
    possible = schema_check_names(lake_schema(table, 1.0, form=form, day=date(2000, 1, 1)))
    failures = _failure_table(
        _run(schema, frame),
        frozenset(value_checks),
        partition,
        _file_of_row(files) if files else pl.lit(None, pl.String),
    )
    return ValidationReport(
        table=table,
        form=form,
        partition=partition,
        path=path,
        rows=frame.height,
        ok=failures.height == 0,
        failure_cases=failures,
        counts=_counts(failures, value_checks + SCHEMA_LEVEL_CHECKS),
        skipped=tuple(c for c in possible if c not in value_checks),
    )


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
