"""Parquet I/O performance: write/read GB/s per engine × codec, streaming vs batch loading, and
whether this machine keeps up with 220 GB of Lake data a month (Story 1.2.5, item 7).

Method, so the figures compare like with like:
- The source rows are read once into an Arrow table (`decoded_bytes` = its `nbytes`). Every
  engine writes that same table with each codec, with the same row-group size and zstd level.
- Reads of codec c all read the one file pyarrow wrote with c (the first engine's when pyarrow is
  not measured), so engines decode identical bytes. Files were just written, so reads are warm:
  this measures decode cost, not the disk.
- Each rate is given twice: on-disk compressed bytes/s (`file_gb_per_s`) and decoded in-memory
  bytes/s (`decoded_gb_per_s`); Lake's 220 GB/month is on-disk Parquet, so the month check uses
  on-disk bytes/s.
- Loading approaches (source files → one zstd Parquet) run one per fresh child process
  (`io_perf_child.py`); their peak RSS is the child's own high-water mark, cross-checked by
  memory_profiler sampling the child from here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from memory_profiler import memory_usage

from feedcheck.analysis.io_perf_result import (
    APPROACHES,
    CODECS,
    ENGINES,
    MONTH_BYTES,
    MONTH_DAYS,
    Approach,
    Codec,
    Engine,
    IoPerfResult,
    IoRate,
    LoadRun,
    check_month,
)
from feedcheck.errors import ConfigError, CorruptFileError, DataError, SchemaMismatchError
from feedcheck.lake.synthetic import Scenario, generate_dataset

CHILD_SCRIPT = Path(__file__).with_name("io_perf_child.py")
#: Rows per Parquet row group for every writer (Lake's files use ~1 M too).
ROW_GROUP_ROWS = 1_000_000
#: zstd level pinned for every writer: engine defaults differ (pyarrow 1, polars and DuckDB 3).
ZSTD_LEVEL = 3
#: DuckDB's cap for the "duckdb-copy" load (prefect-stack.md §7.3 used the same).
DUCKDB_MEMORY_LIMIT = "256MB"
#: memory_profiler sampling interval of the child, s.
SAMPLE_INTERVAL_S = 0.05
T = TypeVar("T")


def find_parquet(root: Path, glob: str = "**/*.parquet") -> list[Path]:
    """Sorted Parquet files under `root` matching `glob`.

    Raises:
        ConfigError: `root` does not exist or is not a directory.
        DataError: no file matches.
    """
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"data directory {root} does not exist or is not a directory")
    files = sorted(p for p in root.glob(glob) if p.is_file())
    if not files:
        raise DataError(root, "no Parquet files to measure", expected=f"files matching {glob!r}")
    return files


def read_source(files: Sequence[Path]) -> pa.Table:
    """All rows of `files` as one Arrow table; the files must share one schema.

    Raises:
        CorruptFileError: a file cannot be read as Parquet.
        SchemaMismatchError: a file's schema differs from the first file's.
    """
    tables: list[pa.Table] = []
    for path in files:
        try:
            # ParquetFile, not read_table: no Hive keys are added from the path.
            table = pq.ParquetFile(path).read()
        except (pa.ArrowInvalid, OSError) as exc:
            raise CorruptFileError(path, f"cannot read Parquet: {exc}") from exc
        if tables and not table.schema.equals(tables[0].schema):
            raise SchemaMismatchError(
                path,
                "files measured together must share one schema",
                expected=str(tables[0].schema).replace("\n", "; "),
                found=str(table.schema).replace("\n", "; "),
            )
        tables.append(table)
    return pa.concat_tables(tables)


def _best(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """Smallest wall time of `repeats` calls, s, and the last call's value."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def _sql_str(text: str | Path) -> str:
    return "'" + str(text).replace("'", "''") + "'"


class _Engines:
    """The three engines over one source table, set up outside the timed calls."""

    def __init__(self, table: pa.Table, temp_dir: Path, row_group_rows: int, zstd_level: int):
        self.table = table
        self.frame = pl.from_arrow(table)  # shares the Arrow buffers
        self.rg = row_group_rows
        self.level = zstd_level
        self.con = duckdb.connect(config={"temp_directory": str(temp_dir)})
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.register("io_src", table)

    def close(self) -> None:
        self.con.close()

    def write(self, engine: Engine, codec: Codec, path: Path) -> int:
        level = self.level if codec == "zstd" else None
        if engine == "pyarrow":
            pq.write_table(
                self.table,
                path,
                compression="none" if codec == "uncompressed" else codec,
                compression_level=level,
                row_group_size=self.rg,
            )
        elif engine == "polars":
            assert isinstance(self.frame, pl.DataFrame)
            self.frame.write_parquet(
                path, compression=codec, compression_level=level, row_group_size=self.rg
            )
        else:
            opts = f"FORMAT parquet, COMPRESSION {codec}, ROW_GROUP_SIZE {self.rg}"
            if level is not None:
                opts += f", COMPRESSION_LEVEL {level}"
            self.con.execute(f"COPY io_src TO {_sql_str(path)} ({opts})").fetchall()
        return self.table.num_rows

    def read(self, engine: Engine, path: Path) -> int:
        if engine == "pyarrow":
            return pq.read_table(path).num_rows
        if engine == "polars":
            return pl.read_parquet(path).height
        # Through Arrow, as the peers measured it (anchors.md §8): includes that conversion.
        return (
            self.con.sql(f"SELECT * FROM read_parquet({_sql_str(path)})").to_arrow_table().num_rows
        )


def _check_rows(path: Path, what: str, expected: int, found: int) -> None:
    if found != expected:
        raise DataError(
            path, f"{what} returned a different row count", "rows", str(expected), str(found)
        )


def measure_rates(
    table: pa.Table,
    out_dir: Path,
    *,
    engines: Sequence[Engine],
    codecs: Sequence[Codec],
    repeats: int = 3,
    row_group_rows: int = ROW_GROUP_ROWS,
    zstd_level: int = ZSTD_LEVEL,
) -> tuple[IoRate, ...]:
    """Write `table` with every engine × codec into `out_dir`, then read each codec's file back
    with every engine. Returns the writes (codec-major) followed by the reads.

    `decoded_bytes` of every rate is `table.nbytes`; `file_bytes` is the size of the file written
    (writes) or read (reads). Seconds are the best of `repeats`.

    Raises:
        DataError: an engine wrote or read a different number of rows than `table` has.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    eng = _Engines(table, out_dir, row_group_rows, zstd_level)
    writes: list[IoRate] = []
    reads: list[IoRate] = []
    rows, nbytes = table.num_rows, table.nbytes
    try:
        for codec in codecs:
            for engine in engines:
                path = out_dir / f"{engine}-{codec}.parquet"
                secs, n = _best(lambda e=engine, c=codec, p=path: eng.write(e, c, p), repeats)
                _check_rows(path, f"{engine} write", rows, pq.ParquetFile(path).metadata.num_rows)
                writes.append(
                    IoRate(engine, codec, "write", secs, n, path.stat().st_size, nbytes, str(path))
                )
        for codec in codecs if engines else ():
            reader = "pyarrow" if "pyarrow" in engines else engines[0]
            path = out_dir / f"{reader}-{codec}.parquet"
            size = path.stat().st_size
            for engine in engines:
                secs, n = _best(lambda e=engine, p=path: eng.read(e, p), repeats)
                _check_rows(path, f"{engine} read", rows, n)
                reads.append(IoRate(engine, codec, "read", secs, n, size, nbytes, str(path)))
    finally:
        eng.close()
    return (*writes, *reads)


def run_load(
    approach: Approach,
    inputs: Sequence[Path],
    out: Path,
    *,
    input_decoded_bytes: int,
    row_group_rows: int = ROW_GROUP_ROWS,
    zstd_level: int = ZSTD_LEVEL,
    memory_limit: str = DUCKDB_MEMORY_LIMIT,
) -> LoadRun:
    """Load `inputs` into one zstd Parquet `out` with `approach`, in a fresh child process.

    Args:
        input_decoded_bytes: Arrow `nbytes` of the inputs' rows (for the decoded rate), bytes.
        memory_limit: DuckDB `memory_limit` ("duckdb-copy" only).

    Returns:
        `LoadRun` with the child's own wall time, rows and RSS high-water mark.

    Raises:
        ConfigError: unknown approach.
        DataError: the child failed (its exit code and the end of its stderr are in the reason).
    """
    if approach not in APPROACHES:
        raise ConfigError(f"approach {approach!r} is not one of {', '.join(APPROACHES)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    spec = {
        "approach": approach,
        "inputs": [str(p) for p in inputs],
        "out": str(out),
        "zstd_level": zstd_level,
        "row_group_rows": row_group_rows,
        "memory_limit": memory_limit,
        "temp_dir": str(out.parent / f"{approach}-spill"),
    }
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, str(CHILD_SCRIPT), json.dumps(spec)],
            stdout=subprocess.PIPE,
            stderr=err,
        )
        sampled_mib = memory_usage(
            proc, interval=SAMPLE_INTERVAL_S, include_children=True, max_usage=True
        )
        stdout, _ = proc.communicate()
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise DataError(out, f"{approach} load failed with exit code {proc.returncode}: {tail}")
    got = json.loads(stdout.decode().strip().splitlines()[-1])
    return LoadRun(
        approach=approach,
        seconds=got["seconds"],
        rows=got["rows"],
        input_file_bytes=sum(p.stat().st_size for p in inputs),
        input_decoded_bytes=input_decoded_bytes,
        output_file_bytes=got["output_file_bytes"],
        peak_rss_bytes=got["peak_rss_bytes"],
        baseline_rss_bytes=got["baseline_rss_bytes"],
        sampled_peak_rss_bytes=int(float(sampled_mib) * 1024 * 1024),
        memory_limit=memory_limit if approach == "duckdb-copy" else "",
    )


def _check_choice(kind: str, given: Sequence[str], allowed: Sequence[str]) -> None:
    bad = [g for g in given if g not in allowed]
    if bad or len(set(given)) != len(given):
        raise ConfigError(
            f"{kind} must be distinct values of {', '.join(allowed)}, got {list(given)}"
        )


@contextmanager
def _work_dir(work_dir: Path | None) -> Iterator[Path]:
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        yield Path(work_dir)
        return
    with tempfile.TemporaryDirectory(prefix="feedcheck-io-") as tmp:
        yield Path(tmp)


def measure_io(
    source: Path | Scenario,
    *,
    engines: Sequence[Engine] = ("polars", "pyarrow", "duckdb"),
    codecs: Sequence[Codec] = ("snappy", "zstd"),
    approaches: Sequence[Approach] = APPROACHES,
    glob: str = "**/*.parquet",
    work_dir: Path | None = None,
    repeats: int = 3,
    row_group_rows: int = ROW_GROUP_ROWS,
    zstd_level: int = ZSTD_LEVEL,
    duckdb_memory_limit: str = DUCKDB_MEMORY_LIMIT,
    month_bytes: int = MONTH_BYTES,
    month_days: int = MONTH_DAYS,
) -> IoPerfResult:
    """Measure Parquet I/O on one dataset and check the 220 GB/month rate.

    Args:
        source: a directory of Parquet files (one schema; narrowed by `glob`), or a `Scenario`
            that is generated into `work_dir/lake` first.
        engines, codecs: the write/read grid (defaults `ENGINES` and snappy + zstd).
        approaches: loading approaches, each run in its own child process; () skips them.
        work_dir: where the measured files are written and kept; None = a temporary directory
            removed on return (the `file` paths in the result then no longer exist).
        repeats: timed calls per grid cell; the best is kept.
        row_group_rows, zstd_level: pinned for every writer (`ROW_GROUP_ROWS`, `ZSTD_LEVEL`).
        duckdb_memory_limit: DuckDB `memory_limit` of the "duckdb-copy" load.
        month_bytes, month_days: the month to keep up with (`MONTH_BYTES` on disk over `MONTH_DAYS`).

    Returns:
        `IoPerfResult`; its month check rests on the slowest on-disk bytes/s among the reads and
        loads (UNKNOWN when neither ran).

    Raises:
        ConfigError: unknown engine/codec/approach, repeats < 1, or a missing directory.
        DataError: no Parquet files, a corrupt file, mixed schemas, or a failed load.
    """
    _check_choice("engines", engines, ENGINES)
    _check_choice("codecs", codecs, CODECS)
    _check_choice("approaches", approaches, APPROACHES)
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    if isinstance(source, Path | str) and not Path(source).is_dir():
        raise ConfigError(f"data directory {source} does not exist or is not a directory")
    with _work_dir(work_dir) as work:
        if isinstance(source, Scenario):
            root = work / "lake"
            generate_dataset(source, root)
        else:
            root = Path(source)
        files = find_parquet(root, glob)
        source_file_bytes = sum(p.stat().st_size for p in files)
        table = read_source(files)
        rows, nbytes = table.num_rows, table.nbytes
        rates = measure_rates(
            table,
            work / "io",
            engines=engines,
            codecs=codecs,
            repeats=repeats,
            row_group_rows=row_group_rows,
            zstd_level=zstd_level,
        )
        del table  # the children measure their own memory, but keep this process lean too
        loads = tuple(
            run_load(
                a,
                files,
                work / "load" / f"{a}.parquet",
                input_decoded_bytes=nbytes,
                row_group_rows=row_group_rows,
                zstd_level=zstd_level,
                memory_limit=duckdb_memory_limit,
            )
            for a in approaches
        )
        for run in loads:
            _check_rows(work / "load" / f"{run.approach}.parquet", run.approach, rows, run.rows)
    candidates = [
        (r.file_bytes / r.seconds, f"{r.engine} read of {r.codec} Parquet")
        for r in rates
        if r.op == "read"
    ] + [(run.input_file_bytes / run.seconds, f"{run.approach} load") for run in loads]
    slowest = min(candidates, default=(None, ""))
    return IoPerfResult(
        source=f"{root} ({glob})",
        files=len(files),
        rows=rows,
        source_file_bytes=source_file_bytes,
        decoded_bytes=nbytes,
        cpu_count=os.cpu_count() or 1,
        rates=rates,
        loads=loads,
        month=check_month(slowest[0], slowest[1], month_bytes=month_bytes, month_days=month_days),
    )
