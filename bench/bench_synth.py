"""Synthetic Lake generator: rows/s and peak RSS for one hour of book_delta_v2 at 8 M rows/hour.

Peer: pyarrow writing the same number of book_delta_v2-shaped rows (pre-built arrays, same row
groups, snappy) in the same process, i.e. the I/O floor any generator pays. The ratio says how
much of the generator's time is spent beyond writing.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.machine import describe, peak_rss_mib
from feedcheck.lake.synthetic import Rates, Scenario, generate_dataset
from feedcheck.schemas.lake_columns import raw_arrow_schema

HOURS = 1.0
SCENARIO = Scenario(
    seed=1,
    symbols=("BTC-USDT",),
    start=date(2024, 4, 1),
    end=date(2024, 4, 2),
    tables=("book_delta_v2",),
    hours_per_day=HOURS,
    rates=Rates(delta_messages_per_second=10.0, levels_per_message=222.0),
)


def _write_floor(rows: int, path: Path, chunk_rows: int) -> float:
    rng = np.random.default_rng(1)
    schema = raw_arrow_schema("book_delta_v2")
    chunk = pa.table(
        [
            pa.array(np.sort(rng.integers(0, 1 << 40, chunk_rows))),
            pa.array(np.sort(rng.integers(0, 1 << 40, chunk_rows))),
            pa.array(np.arange(chunk_rows, dtype=np.int64)),
            pa.array(rng.random(chunk_rows) < 0.5),
            pa.array(np.round(65_000 + rng.normal(0, 5, chunk_rows), 2)),
            pa.array(np.round(rng.exponential(0.5, chunk_rows), 5)),
        ],
        schema=schema,
    )
    t0 = time.perf_counter()
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        left = rows
        while left > 0:
            part = chunk.slice(0, min(left, chunk_rows))
            writer.write_table(part, row_group_size=chunk_rows)
            left -= part.num_rows
    return time.perf_counter() - t0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # Compile the numba kernels outside the timed run.
        warm = Scenario(**{**SCENARIO.__dict__, "hours_per_day": 0.01})
        generate_dataset(warm, Path(tmp) / "warm")
        t0 = time.perf_counter()
        truth = generate_dataset(SCENARIO, Path(tmp) / "lake")
        seconds = time.perf_counter() - t0
        rows = sum(p.rows for p in truth.partitions)
        floor_s = _write_floor(rows, Path(tmp) / "floor.parquet", SCENARIO.chunk_rows)
    print(f"machine: {describe()}")
    print(
        f"data: synthetic book_delta_v2, {HOURS:g} h at {SCENARIO.rates.delta_rows_per_hour:,.0f} rows/h"
    )
    print(f"synth_rows: {rows} rows")
    print(f"synth_seconds: {seconds:.2f} s")
    print(f"synth_throughput: {rows / seconds / 1e6:.2f} M rows/s")
    print(f"pyarrow_write_floor_throughput: {rows / floor_s / 1e6:.2f} M rows/s")
    print(f"synth_vs_write_floor: {floor_s / seconds:.2f} x")
    print(f"peak_rss: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
