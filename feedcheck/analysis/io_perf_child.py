"""One loading approach, run alone in a fresh interpreter so its peak RSS is its own.

Run by file path (`python io_perf_child.py SPEC_JSON`), not as `-m feedcheck...`, so the child
imports only the stdlib and the one engine it measures: its baseline RSS is the interpreter plus
that engine, not the whole feedcheck package. Prints one JSON line on stdout:
`{"rows", "seconds", "baseline_rss_bytes", "peak_rss_bytes", "output_file_bytes"}`.

Spec keys: approach ("polars-eager" | "polars-streaming" | "duckdb-copy"), inputs (Parquet
paths), out (Parquet path written with zstd), zstd_level, row_group_rows, memory_limit and
temp_dir (DuckDB only; spills go to temp_dir, never the working directory).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

# Run by file path, so this directory is sys.path[0]: the sibling imports without the
# feedcheck package (and polars), keeping the baseline the interpreter plus one engine.
from peak_rss import peak_rss_bytes


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _polars_eager(spec: dict[str, Any]) -> int:
    import polars as pl

    df = pl.read_parquet(spec["inputs"], hive_partitioning=False)
    df.write_parquet(
        spec["out"],
        compression="zstd",
        compression_level=spec["zstd_level"],
        row_group_size=spec["row_group_rows"],
    )
    return df.height


def _polars_streaming(spec: dict[str, Any]) -> int:
    import polars as pl

    pl.scan_parquet(spec["inputs"], hive_partitioning=False).sink_parquet(
        spec["out"],
        compression="zstd",
        compression_level=spec["zstd_level"],
        row_group_size=spec["row_group_rows"],
    )
    # Footer only: cheap, and it proves the sink wrote every row.
    return int(pl.scan_parquet(spec["out"]).select(pl.len()).collect().item())


def _duckdb_copy(spec: dict[str, Any]) -> int:
    import duckdb

    con = duckdb.connect(
        config={"memory_limit": spec["memory_limit"], "temp_directory": spec["temp_dir"]}
    )
    files = "[" + ", ".join(_sql_str(p) for p in spec["inputs"]) + "]"
    row = con.execute(
        f"COPY (SELECT * FROM read_parquet({files}, hive_partitioning = false)) "
        f"TO {_sql_str(spec['out'])} (FORMAT parquet, COMPRESSION zstd, "
        f"COMPRESSION_LEVEL {int(spec['zstd_level'])}, "
        f"ROW_GROUP_SIZE {int(spec['row_group_rows'])})"
    ).fetchall()
    con.close()
    return int(row[0][0])


JOBS = {
    "polars-eager": ("polars", _polars_eager),
    "polars-streaming": ("polars", _polars_streaming),
    "duckdb-copy": ("duckdb", _duckdb_copy),
}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    module, job = JOBS[spec["approach"]]
    __import__(module)
    baseline = peak_rss_bytes()
    t0 = time.perf_counter()
    rows = job(spec)
    seconds = time.perf_counter() - t0
    peak = peak_rss_bytes()
    out = {
        "rows": rows,
        "seconds": seconds,
        "baseline_rss_bytes": baseline,
        "peak_rss_bytes": peak,
        "output_file_bytes": os.path.getsize(spec["out"]),
    }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
