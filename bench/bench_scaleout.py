"""Scale-out: the `origin-time` flow over a 30-day synthetic month, thread pool vs a local Dask cluster.

Data: 30 days × BTC-USDT, ETH-USDT × trades, book, book_delta_v2 (180 partitions) at the real
BTC-USDT rates (10 depth messages/s × 20 levels, 30 k trades/h) but `HOURS_PER_DAY` hours of data
a day: the reduced rate. Generated in a child process before anything is timed.

Both runs are the real Prefect flow (temporary local server) with one task per partition:
- threads: `ThreadPoolTaskRunner` with one thread per core, in this process;
- dask: a `distributed.LocalCluster` of one single-threaded worker process per core, started
  before timing (its start is reported on its own), used through `--dask-address`, warmed with
  a one-day run so worker imports and the numba kernel load are not in the figure.
Each is run `RUNS` times (Dask first, see below), best reported (the machine is shared); results
must be identical (`scaleout_results_identical`).

Figures: wall seconds, GB/s of Parquet on disk (GB = 1e9 bytes), M rows/s, peak RSS over the
measured runs (high-water marks reset after warm-up): the flow process for threads (it does the
work); each worker process and the flow (client) process for dask.

Extrapolation to the plan's 220 GB month on N workers:
    hours(N) = 220e9 B / (per-worker rate × N) / 3600, per-worker rate = month bytes / dask seconds / workers
It assumes linear scaling: partitions share nothing (each task reads one table × symbol × day and
returns a summary of a few kB), so N workers finish N times the partitions, as long as storage
(shared path or S3) delivers N × the per-worker rate and the Prefect API keeps up with the task
runs (report: `scaleout_dask_tasks_per_second`). The per-worker rate here carries the Prefect
per-task overhead of ~`month MB / 180` partitions; real Lake partitions are 100× larger, so the
figure is conservative. On this 2-core machine the client and the Prefect server share the cores
with the workers, which lowers the per-worker rate further.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from bench.machine import describe, peak_rss_mib  # noqa: E402
from feedcheck.lake.synthetic import Rates, Scenario, generate_dataset  # noqa: E402

SCENARIO = Scenario(
    seed=11,
    symbols=("BTC-USDT", "ETH-USDT"),
    start=date(2024, 4, 1),
    end=date(2024, 5, 1),
    tables=("trades", "book", "book_delta_v2"),
    hours_per_day=2.0,
    rates=Rates(trades_per_hour=30_000.0, delta_messages_per_second=10.0, levels_per_message=20.0),
)
HOURS_PER_DAY = SCENARIO.hours_per_day
RUNS = 2
MONTH_BYTES = 220e9
EXTRAPOLATE_WORKERS = (1, 4, 16, 64)


def _generate(root: str, one_day: bool) -> None:
    sc = replace(SCENARIO, end=date(2024, 4, 2), hours_per_day=0.05) if one_day else SCENARIO
    generate_dataset(sc, Path(root))


def _generate_in_child(root: Path, one_day: bool = False) -> None:
    proc = multiprocessing.get_context("spawn").Process(target=_generate, args=(str(root), one_day))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"generator exited with {proc.exitcode}")


def _reset_peak_rss() -> None:
    """Reset this process's RSS high-water mark (Linux >= 4.0: VmHWM and ru_maxrss)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _worker_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _comparable(result) -> dict:
    doc = result.to_json()
    return {k: doc[k] for k in ("partitions", "streams", "missing_partitions", "criteria")}


def main() -> None:
    from distributed import Client, LocalCluster

    from feedcheck.flows.origin_time import origin_time
    from feedcheck.flows.runners import _cores

    workers = _cores()
    with tempfile.TemporaryDirectory() as tmp:
        month, warm = Path(tmp) / "month", Path(tmp) / "warm"
        t0 = time.perf_counter()
        _generate_in_child(month)
        gen_s = time.perf_counter() - t0
        _generate_in_child(warm, one_day=True)
        files = list(month.rglob("*.parquet"))
        month_bytes = sum(f.stat().st_size for f in files)

        def run(root: Path, **runner):
            t0 = time.perf_counter()
            result = origin_time(
                staging_dir=str(root),
                report_dir=str(Path(tmp) / "reports" / f"r{time.monotonic_ns()}"),
                max_workers=workers,
                **runner,
            )
            return result, time.perf_counter() - t0

        run(warm)  # Prefect's temporary server, imports, numba kernel load
        thread_runs, thread_result = [], None
        t0 = time.perf_counter()
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        cluster_s = time.perf_counter() - t0
        try:
            address = cluster.scheduler_address
            run(warm, task_runner="dask", dask_address=address)
            with Client(cluster) as client:
                client.run(_reset_peak_rss)  # the warm-up's imports stay, its peak does not
            dask_runs, dask_result = [], None
            # Dask first: memory the thread runs' analyses leave in this process (allocators keep
            # it) would otherwise count as the Dask client's.
            _reset_peak_rss()
            for _ in range(RUNS):
                dask_result, s = run(month, task_runner="dask", dask_address=address)
                dask_runs.append(s)
            client_rss = peak_rss_mib()
            _reset_peak_rss()
            for _ in range(RUNS):
                thread_result, s = run(month)
                thread_runs.append(s)
            threads_rss = peak_rss_mib()
            with Client(cluster) as client:
                worker_rss = sorted(client.run(_worker_peak_rss_mib).values())
        finally:
            cluster.close()

    rows = sum(p.counts.rows for p in thread_result.partitions)
    parts = len(thread_result.partitions)
    threads_s, dask_s = min(thread_runs), min(dask_runs)
    per_worker_bps = month_bytes / dask_s / workers
    print(f"machine: {describe()}")
    print(
        f"data: synthetic month, 30 days x 2 symbols x 3 tables, {HOURS_PER_DAY:g} h/day at "
        f"BTC-USDT rates ({SCENARIO.rates.delta_rows_per_hour:,.0f} delta rows/h)"
    )
    print(f"peer: thread pool ({workers} threads, same flow, same data, same process)")
    print(f"scaleout_partitions: {parts} partitions")
    print(f"scaleout_rows: {rows} rows")
    print(f"scaleout_month_bytes: {month_bytes / 1e9:.3f} GB")
    print(f"scaleout_generate_seconds: {gen_s:.1f} s")
    print(f"scaleout_workers: {workers} workers")
    print(f"scaleout_threads_seconds: {threads_s:.2f} s")
    print(f"scaleout_threads_throughput: {month_bytes / threads_s / 1e9:.3f} GB/s")
    print(f"scaleout_threads_rows_throughput: {rows / threads_s / 1e6:.1f} M rows/s")
    print(f"scaleout_threads_peak_rss: {threads_rss:.0f} MiB")
    print(f"scaleout_dask_cluster_start_seconds: {cluster_s:.1f} s")
    print(f"scaleout_dask_seconds: {dask_s:.2f} s")
    print(f"scaleout_dask_throughput: {month_bytes / dask_s / 1e9:.3f} GB/s")
    print(f"scaleout_dask_rows_throughput: {rows / dask_s / 1e6:.1f} M rows/s")
    print(f"scaleout_dask_tasks_per_second: {parts / dask_s:.1f} tasks/s")
    for i, rss in enumerate(worker_rss):
        print(f"scaleout_dask_worker_{i}_peak_rss: {rss:.0f} MiB")
    print(f"scaleout_dask_client_peak_rss: {client_rss:.0f} MiB")
    print(f"scaleout_dask_vs_threads: {threads_s / dask_s:.2f} x")
    print(f"scaleout_dask_per_worker_throughput: {per_worker_bps / 1e6:.1f} MB/s")
    for n in EXTRAPOLATE_WORKERS:
        hours = MONTH_BYTES / (per_worker_bps * n) / 3600
        print(f"scaleout_220gb_on_{n}_workers: {hours:.2f} h")
    same = _comparable(thread_result) == _comparable(dask_result)
    print(f"scaleout_results_identical: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
