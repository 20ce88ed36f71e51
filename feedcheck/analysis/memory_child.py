"""The measured job of `memory.profile_memory`, run alone in a fresh interpreter.

`python -m feedcheck.analysis.memory_child SPEC_JSON`. Runs, in order, the phases "startup"
(from the parent's launch: interpreter, numpy/pyarrow/polars/duckdb and the engine), "reconstruct" (`reconstruct_partition` over every
book_delta_v2 file under the root, row groups streamed), "origin_time" (`analyse_staging` over the
tables present) and "duckdb" (a per-file row and message count through DuckDB under
`memory_limit`). Each phase appends one JSON line to the phase file as it ends:
`{"phase", "start_s", "end_s", "hwm_bytes"}` (wall-clock epoch seconds, to line up with
memory_profiler's sample timestamps; `hwm_bytes` is the phase's own VmHWM where the kernel lets
it be reset, else the lifetime one). The last stdout line is a JSON summary. An error is left
uncaught: its traceback on stderr and the exit status are what the parent reports.

Spec keys: root, tick, lot, phase_file, duckdb_memory_limit (e.g. "512MB" or null), now_ns,
launched_s (the parent's wall clock just before launch).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from feedcheck.analysis.peak_rss import peak_rss_bytes, reset_peak_rss

DELTA_GLOB = "book_delta_v2/**/*.parquet"


class _Phases:
    def __init__(self, path: str) -> None:
        self.path = path

    def run(self, name: str, job: Any, start: float | None = None) -> Any:
        if start is None:
            reset_peak_rss()
            start = time.time()
        out = job()
        line = {
            "phase": name,
            "start_s": start,
            "end_s": time.time(),
            "hwm_bytes": peak_rss_bytes(),
        }
        with open(self.path, "a") as f:
            f.write(json.dumps(line) + "\n")
        return out


def _import() -> None:
    import duckdb  # noqa: F401
    import numpy  # noqa: F401
    import polars  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import feedcheck.analysis.origin_time  # noqa: F401
    import feedcheck.book.engine  # noqa: F401


def _reconstruct(root: Path, tick: float, lot: float) -> dict[str, int]:
    from feedcheck.book.replay import reconstruct_partition

    rows = messages = files = 0
    for path in sorted(root.glob(DELTA_GLOB)):
        result = reconstruct_partition(path, tick, lot)
        rows += result.rows
        messages += result.messages
        files += 1
    return {"rows": rows, "messages": messages, "files": files}


def _origin_time(root: Path, now_ns: int) -> dict[str, int]:
    from feedcheck.analysis.origin_time import analyse_staging
    from feedcheck.analysis.origin_time_result import OriginTimeConfig
    from feedcheck.lake.layout import TABLES

    tables = [t for t in TABLES if (root / t).is_dir()]
    result = analyse_staging(root, tables, OriginTimeConfig(now_ns=now_ns))
    return {"origin_time_partitions": len(result.partitions)}


def _duckdb(root: Path, memory_limit: str | None) -> dict[str, int]:
    import duckdb

    config = {"memory_limit": memory_limit} if memory_limit else {}
    con = duckdb.connect(config=config)
    total = 0
    for path in sorted(root.glob(DELTA_GLOB)):
        quoted = "'" + str(path).replace("'", "''") + "'"
        row = con.execute(
            "SELECT count(*), count(DISTINCT (receipt_timestamp, sequence_number)) "
            f"FROM read_parquet({quoted})"
        ).fetchone()
        assert row is not None  # an aggregate always returns one row
        total += int(row[1])
    con.close()
    return {"duckdb_messages": total}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    root = Path(spec["root"])
    phases = _Phases(spec["phase_file"])
    t0 = time.perf_counter()
    # Launch to here is the interpreter and the feedcheck package imports (-m imports the
    # package first); its mark is not reset, so it is the startup footprint.
    phases.run("startup", _import, start=spec["launched_s"])
    summary: dict[str, Any] = {}
    summary |= phases.run("reconstruct", lambda: _reconstruct(root, spec["tick"], spec["lot"]))
    summary |= phases.run("origin_time", lambda: _origin_time(root, spec["now_ns"]))
    summary |= phases.run("duckdb", lambda: _duckdb(root, spec["duckdb_memory_limit"]))
    summary["seconds"] = time.perf_counter() - t0
    summary["peak_rss_bytes"] = peak_rss_bytes()
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
