"""Read Crypto Lake data: raw partitions with clear errors, lazy normalised scans, DuckDB views.

- `read_partition` reads one partition (a Hive `dt=` directory or one of its files) *raw*, exactly
  as the vendor stores it, and turns every unusable input into a `DataError` naming the file and
  the column: truncated / garbage / 0-byte Parquet → `CorruptFileError`; a missing column or a
  wrong dtype → `SchemaMismatchError`; no files or no rows → `EmptyPartitionError`. A 0-byte
  file is *corrupt* (it has no footer: an interrupted write or download), not empty: an empty
  partition is a valid Parquet file with zero rows (the generator's `empty_partitions`).
- `scan_lake` is the lazy, normalised view of a tree (lakeapi names, `Datetime(ns, UTC)` clocks,
  `exchange`, `symbol`, `dt` from the Hive path). It trusts the files: verify suspicious ones with
  `read_partition` / `validate_partition` first.
- `duckdb_connect` gives the same normalised tables as DuckDB views, for SQL analyses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from feedcheck.errors import ConfigError, CorruptFileError, EmptyPartitionError, SchemaMismatchError
from feedcheck.lake.layout import (
    TABLES,
    Partition,
    Table,
    check_exchange,
    check_symbol,
    check_table,
    parse_key,
)
from feedcheck.schemas.lake_columns import (
    HIVE_SCHEMA,
    NAT_NS,
    PARTITION_COLUMNS,
    RAW_CLOCK_COLUMNS,
    RAW_TO_NORMALISED,
    UTC_NS,
    raw_columns,
)

#: Files of a table under a root, relative to `root/table`.
_PARTITION_GLOB = "exchange=*/symbol=*/dt=*/*.parquet"
#: Dtypes accepted in place of String and cast to it on read: pandas writes categoricals as
#: dictionary columns, which polars reads back as Categorical.
_STRING_LIKE = (pl.Categorical, pl.Enum)


def partition_files(path: Path | str) -> list[Path]:
    """The Parquet files of a partition: `path` itself if it is a file, else its `*.parquet`
    children (hidden files excluded) in name order, which is the partition's row order.

    Raises:
        EmptyPartitionError: `path` does not exist, or the directory holds no Parquet file.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise EmptyPartitionError(path, "partition is missing: no such file or directory")
    files = sorted(p for p in path.glob("*.parquet") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise EmptyPartitionError(path, "partition directory holds no Parquet files")
    return files


def table_of(path: Path | str) -> Table:
    """The table a Hive path belongs to (`.../trades/exchange=../symbol=../dt=../[file]`)."""
    text = Path(path).as_posix()
    key = parse_key(text if text.endswith(".parquet") else f"{text}/_.parquet")
    if key is None:
        raise ConfigError(
            f"{path} is not in the Hive layout table/exchange=/symbol=/dt=: pass table="
        )
    return key.partition.table


def _check_file_schema(file: Path, table: Table) -> list[str]:
    """Compare a file's footer schema with the raw schema; return String-like columns to cast."""
    if file.stat().st_size == 0:
        raise CorruptFileError(
            file,
            "0-byte file: no Parquet footer (interrupted write or download?)",
            expected="a Parquet file",
            found="0 bytes",
        )
    try:
        found = pl.read_parquet_schema(file)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise CorruptFileError(file, f"not readable as Parquet: {exc}") from exc
    expected = raw_columns(table)
    missing = [c for c in expected if c not in found]
    if missing:
        raise SchemaMismatchError(
            file,
            f"missing column of {table} (all missing: {', '.join(missing)})",
            column=missing[0],
            expected=str(expected[missing[0]]),
            found=f"no such column; file has {', '.join(found)}",
        )
    to_cast = []
    for col, dtype in expected.items():
        if found[col] == dtype:
            continue
        if dtype == pl.String and isinstance(found[col], _STRING_LIKE):
            to_cast.append(col)
            continue
        raise SchemaMismatchError(
            file, f"wrong dtype for {table}", column=col, expected=str(dtype), found=str(found[col])
        )
    return to_cast


def _read_file(file: Path, table: Table) -> pl.DataFrame:
    to_cast = _check_file_schema(file, table)
    try:
        frame = pl.read_parquet(file)
    except (pl.exceptions.PolarsError, OSError) as exc:
        # The footer was fine but a data page is not: truncated in the middle or overwritten.
        raise CorruptFileError(file, f"Parquet data cannot be decoded: {exc}") from exc
    return frame.with_columns(pl.col(c).cast(pl.String) for c in to_cast) if to_cast else frame


def read_partition(path: Path | str, *, table: Table | None = None) -> pl.DataFrame:
    """Read one partition raw: file column names and dtypes (int64 ns clocks), no partition columns.

    Args:
        path: a Hive partition directory (`.../dt=YYYY-MM-DD`) or one Parquet file.
        table: the Lake table; inferred from the Hive path when None.

    Returns:
        The files' rows concatenated in `partition_files` order; extra columns are kept (the
        strict schema reports them).

    Raises:
        EmptyPartitionError: missing path, no Parquet file, or zero rows in total.
        CorruptFileError: a 0-byte, truncated or garbage file (names the file).
        SchemaMismatchError: a raw column is missing or has another dtype (names file, column,
            expected and found dtype).
        ConfigError: `table` is None and the path is not in the Hive layout.
    """
    return _read_all(partition_files(path), table, Path(path))


def read_files(files: Sequence[Path | str], *, table: Table | None = None) -> pl.DataFrame:
    """`read_partition` for an explicit list of one partition's files, read in the given order."""
    if not files:
        raise ConfigError("read_files needs at least one file")
    paths = [Path(f) for f in files]
    return _read_all(paths, table, paths[0].parent)


def _read_all(files: list[Path], table: Table | None, where: Path) -> pl.DataFrame:
    table = check_table(table) if table is not None else table_of(files[0])
    frames = [_read_file(f, table) for f in files]
    frame = pl.concat(frames, how="diagonal") if len(frames) > 1 else frames[0]
    if frame.height == 0:
        raise EmptyPartitionError(
            where,
            f"{table} partition holds no rows",
            expected="at least one row",
            found=f"0 rows in {len(files)} file(s)",
        )
    return frame


def normalise(
    frame: pl.DataFrame | pl.LazyFrame, table: Table, partition: Partition | None = None
) -> pl.LazyFrame:
    """Raw → normalised: lakeapi names, clocks as `Datetime(ns, UTC)` with int64 min → null.

    Partition columns come from `partition` when given (a raw file has none), else from the
    frame's own `exchange`, `symbol`, `dt` (a Hive scan). Columns come out in
    `schemas.lake.normalised_columns(table)` order; extra raw columns are dropped.
    """
    renames = RAW_TO_NORMALISED[check_table(table)]
    exprs: list[pl.Expr] = []
    for name in raw_columns(table):
        col = pl.col(name)
        if name in RAW_CLOCK_COLUMNS:
            col = pl.when(col != NAT_NS).then(col).cast(UTC_NS)
        exprs.append(col.alias(renames.get(name, name)))
    if partition is not None:
        exprs += [
            pl.lit(partition.exchange, pl.String).alias("exchange"),
            pl.lit(partition.symbol, pl.String).alias("symbol"),
            pl.lit(partition.dt, pl.Date).alias("dt"),
        ]
    else:
        exprs += [pl.col(c) for c in PARTITION_COLUMNS]
    return frame.lazy().select(exprs)


def lake_files(
    root: Path | str,
    table: Table,
    *,
    exchange: str | None = None,
    symbols: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[Path]:
    """Parquet files of `table` under `root` whose Hive partition matches the filters.

    `symbols`/`exchange` None means all; days are `start <= dt < end` (end exclusive, as lakeapi),
    either bound optional. Pruning is on paths, so files outside the filters are never opened.
    """
    check_table(table)
    if exchange is not None:
        check_exchange(exchange)
    wanted = None if symbols is None else {check_symbol(s) for s in symbols}
    if start is not None and end is not None and end <= start:
        raise ConfigError(
            f"empty date range: end {end} must be after start {start} (end is exclusive)"
        )
    root = Path(root)
    out = []
    for file in sorted((root / table).glob(_PARTITION_GLOB)):
        key = parse_key(file.relative_to(root).as_posix())
        if key is None:
            continue
        p = key.partition
        if (
            (exchange is None or p.exchange == exchange)
            and (wanted is None or p.symbol in wanted)
            and (start is None or p.dt >= start)
            and (end is None or p.dt < end)
        ):
            out.append(file)
    return out


def scan_lake(
    root: Path | str,
    table: Table,
    *,
    exchange: str | None = None,
    symbols: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> pl.LazyFrame:
    """Lazy normalised scan of `root/table` (Hive layout), pruned to the partition filters.

    Columns: `schemas.lake.normalised_columns(table)`; clocks `Datetime(ns, UTC)`, int64 min →
    null; `exchange`, `symbol` String and `dt` Date from an explicit Hive schema.

    Raises:
        EmptyPartitionError: no Parquet file matches the filters.
        ConfigError: a bad table, exchange, symbol or date range.
    """
    files = lake_files(root, table, exchange=exchange, symbols=symbols, start=start, end=end)
    if not files:
        raise EmptyPartitionError(
            Path(root) / table,
            f"no Parquet files for exchange={exchange or '*'} symbols={list(symbols or ['*'])} "
            f"dt in [{start or '-inf'}, {end or '+inf'})",
        )
    lf = pl.scan_parquet(
        files,
        hive_partitioning=True,
        hive_schema=dict(HIVE_SCHEMA),
        schema=raw_columns(table),
        # Exported captures add `first_update_id` / `prev_update_id` to book_delta_v2.
        extra_columns="ignore",
    )
    return normalise(lf, table)


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _duckdb_select(table: Table) -> str:
    renames = RAW_TO_NORMALISED[table]
    items = []
    for name in raw_columns(table):
        out = renames.get(name, name)
        if name in RAW_CLOCK_COLUMNS:
            # int64 min (NaT) → NULL; TIMESTAMPTZ_NS keeps ns, read back as Datetime(ns, 'UTC').
            ns = f'NULLIF("{name}", CAST({NAT_NS} AS BIGINT))'
            items.append(f'make_timestamp_ns({ns})::TIMESTAMPTZ_NS AS "{out}"')
        else:
            items.append(f'"{name}" AS "{out}"' if out != name else f'"{name}"')
    items += [f'"{c}"' for c in PARTITION_COLUMNS]
    return ", ".join(items)


def duckdb_connect(root: Path | str) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB connection with one normalised view per table present under `root`.

    Views are named `trades`, `book`, `book_delta_v2` and have the columns of
    `normalised_columns(table)`; clocks are `TIMESTAMPTZ_NS`. The session time zone is set with
    `SET TimeZone='UTC'` (not `connect(config=...)`, which fails to autoload ICU, stack.md §2.6),
    so `.pl()` gives `Datetime(ns, 'UTC')`, not `'Etc/UTC'`.
    """
    root = Path(root)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    hive_types = "{'exchange': VARCHAR, 'symbol': VARCHAR, 'dt': DATE}"
    for table in TABLES:
        if not any((root / table).glob(_PARTITION_GLOB)):
            continue
        pattern = _sql_string((root / table / _PARTITION_GLOB).as_posix())
        con.execute(
            f"CREATE VIEW {table} AS SELECT {_duckdb_select(table)} FROM read_parquet("
            f"{pattern}, hive_partitioning=true, hive_types={hive_types})"
        )
    return con
