"""Parquet I/O: GB/s per engine × codec, streaming vs batch loading, and the 220 GB/month check.

Data: one hour of synthetic book_delta_v2 for BTC-USDT at ~8 M rows/hour (the generator's Lake
schema: 3 int64, 1 bool, 2 float64 columns). Peers: polars, pyarrow and DuckDB write and read the
same Arrow table / the same files in this process; ratios are against pyarrow. Loading approaches
run one per child process, so each peak RSS is that approach's own.
Target (DESIGN.md): Parquet read, decoded, zstd >= 0.7 GB/s.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

from bench.machine import describe
from feedcheck.analysis.io_perf import measure_io
from feedcheck.lake.synthetic import Rates, Scenario

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
ENGINES = ("polars", "pyarrow", "duckdb")
CODECS = ("snappy", "zstd")
PEER = "pyarrow"
MIB = 1024 * 1024
#: DESIGN.md target: Parquet read, decoded, zstd.
TARGET_READ_GB_S = 0.7


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        r = measure_io(SCENARIO, engines=ENGINES, codecs=CODECS, work_dir=Path(tmp), repeats=3)
    print(f"machine: {describe()}")
    print(
        f"data: synthetic book_delta_v2, {HOURS:g} h at "
        f"{SCENARIO.rates.delta_rows_per_hour:,.0f} rows/h; {r.rows} rows, "
        f"{r.decoded_bytes / 1e6:.0f} MB decoded, {r.source_file_bytes / 1e6:.0f} MB snappy on disk"
    )
    print("units: GB = 1e9 bytes; decoded = Arrow nbytes in memory, file = compressed on disk")
    print(f"peer: {PEER} (ratios are {PEER}'s time / the engine's), same files, same process")
    for x in r.rates:
        stem = f"{x.op}_{x.engine}_{x.codec}"
        print(f"{stem}_decoded: {x.decoded_gb_per_s:.3f} GB/s")
        print(f"{stem}_file: {x.file_gb_per_s:.3f} GB/s")
    for codec in CODECS:
        size = r.rate(PEER, codec, "write").file_bytes
        print(f"file_size_{codec}: {size / r.rows:.2f} B/row")
    for op in ("write", "read"):
        for codec in CODECS:
            peer = r.rate(PEER, codec, op)
            for engine in ENGINES:
                if engine != PEER:
                    other = r.rate(engine, codec, op)
                    print(f"{op}_{codec}_{engine}_vs_{PEER}: {peer.seconds / other.seconds:.2f} x")
    for run in r.loads:
        print(f"load_{run.approach}_decoded: {run.decoded_gb_per_s:.3f} GB/s")
        print(f"load_{run.approach}_peak_rss: {run.peak_rss_bytes / MIB:.0f} MiB")
        print(f"load_{run.approach}_baseline_rss: {run.baseline_rss_bytes / MIB:.0f} MiB")
        print(f"load_{run.approach}_sampled_peak_rss: {run.sampled_peak_rss_bytes / MIB:.0f} MiB")
    eager = r.load("polars-eager")
    for approach in ("polars-streaming", "duckdb-copy"):
        run = r.load(approach)
        print(f"peak_rss_eager_vs_{approach}: {eager.peak_rss_bytes / run.peak_rss_bytes:.2f} x")
    m = r.month
    assert m.measured_bytes_per_s is not None and m.month_processing_s is not None
    print(f"month_required: {m.required_mb_per_s:.4f} MB/s")
    print(f"month_basis: {m.basis}")
    print(f"month_measured: {m.measured_bytes_per_s / 1e6:.1f} MB/s")
    print(f"month_processing_time: {m.month_processing_s / 3600:.2f} h")
    print(f"month_headroom: {m.headroom:,.0f} x")
    print(f"month_criterion: {m.criterion.status.value}")
    read_zstd = r.rate("polars", "zstd", "read").decoded_gb_per_s
    print(f"target_read_zstd_decoded_polars: {read_zstd:.3f} GB/s")
    print(f"target_read_zstd_0_7_gb_per_s: {'PASS' if read_zstd >= TARGET_READ_GB_S else 'FAIL'}")


if __name__ == "__main__":
    main()
