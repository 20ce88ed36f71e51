"""Scale-out (issue 8): the origin-time flow on a real 2-worker `distributed.LocalCluster` gives the
thread pool's result, and a worker killed mid-run does not stop the flow."""

from __future__ import annotations

import gc
import json
import os
import signal
import threading
import time
import weakref
from dataclasses import replace
from datetime import date, timedelta

import pytest
from distributed import Client, LocalCluster, get_task_stream
from prefect import flow
from typer.testing import CliRunner

from feedcheck.analysis.origin_time import plan_staging
from feedcheck.analysis.origin_time_result import OriginTimeConfig
from feedcheck.analysis.origin_time_streams import OriginTimeResult
from feedcheck.cli import app
from feedcheck.errors import ConfigError
from feedcheck.flows.backfill import backfill, month_range
from feedcheck.flows.download import download
from feedcheck.flows.origin_time import origin_time
from feedcheck.flows.runners import (
    iter_partitions,
    make_task_runner,
    scale_out,
    scale_out_parameters,
)
from feedcheck.flows.spike import validation_spike
from feedcheck.lake.layout import TABLES
from feedcheck.lake.synthetic import generate_dataset, load_builtin_scenario
from feedcheck.report.criteria import Status
from feedcheck.tasks.analysis import analyse_origin_time_partition

DAYS = 4


@pytest.fixture(scope="module")
def month_like_tree(tmp_path_factory):
    """The `faults` scenario stretched to 4 days (2 symbols × 3 tables × 4 days, minus one missing
    and one empty partition, plus one corrupt file): 23 partitions to fan out."""
    base = load_builtin_scenario("faults")
    scenario = replace(
        base,
        end=base.start + timedelta(days=DAYS),
        hours_per_day=0.05,
        missing_partitions=("trades/BINANCE/ETH-USDT/2024-04-03",),
        empty_partitions=("book/BINANCE/BTC-USDT/2024-04-02",),
    )
    root = tmp_path_factory.mktemp("scaleout-lake")
    generate_dataset(scenario, root)
    corrupt = next(
        (root / "book_delta_v2").glob("exchange=BINANCE/symbol=ETH-USDT/dt=2024-04-04/*")
    )
    corrupt.write_bytes(corrupt.read_bytes()[:200])
    return root


@pytest.fixture(scope="module")
def cluster():
    """A real two-worker cluster of single-threaded worker processes (nannies restart them)."""
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        yield c


def _same(a: OriginTimeResult, b: OriginTimeResult) -> None:
    assert a.partitions == b.partitions
    assert a.streams == b.streams
    assert a.missing_partitions == b.missing_partitions
    assert a.criteria == b.criteria
    assert a.to_json() | {"config": None} == b.to_json() | {"config": None}


def _run(tree, tmp_path, name, **runner) -> OriginTimeResult:
    return origin_time(
        staging_dir=str(tree), report_dir=str(tmp_path / name), max_workers=2, **runner
    )


@pytest.fixture(scope="module")
def thread_pool_result(month_like_tree, tmp_path_factory) -> OriginTimeResult:
    return _run(month_like_tree, tmp_path_factory.mktemp("threads"), "threads")


def test_dask_cluster_gives_the_thread_pool_result(
    month_like_tree, thread_pool_result, cluster, tmp_path
):
    threads = thread_pool_result
    with Client(cluster) as client, get_task_stream(client) as stream:
        dask = _run(
            month_like_tree,
            tmp_path,
            "dask",
            task_runner="dask",
            dask_address=cluster.scheduler_address,
        )
    # one task per present partition, spread over both workers (processes other than this one)
    ran = [t for t in stream.data if t["key"].startswith("analyse_origin_time_partition")]
    assert len({t["key"] for t in ran}) == 23
    assert {t["worker"] for t in ran} == set(cluster.scheduler_info["workers"])
    assert len(threads.partitions) == 23
    assert {p.status.value for p in threads.partitions} == {"ok", "empty", "unreadable"}
    assert threads.missing_partitions == ("trades/BINANCE/ETH-USDT/2024-04-03",)
    assert all(s.skew.exact for s in dask.streams)
    _same(threads, dask)


@flow(name="take-summaries")
def _take_summaries(tree: str, dask_address: str) -> list[int]:
    """Each origin-time summary taken from `iter_partitions` on the cluster, then dropped:
    returns, after each, how many of the skew sketches taken so far are still alive."""
    plan = plan_staging(tree, list(TABLES))
    parts = plan.partitions
    refs, alive = [], []
    with scale_out("dask", dask_address) as runner:
        for _, summary in iter_partitions(
            runner,
            analyse_origin_time_partition,
            {"partition": parts, "files": [list(plan.found[p]) for p in parts]},
            {"config": OriginTimeConfig()},
        ):
            refs.append(weakref.ref(summary.skew_sketch))
            del summary
            alive.append(sum(r() is not None for r in refs))
    return alive


def test_the_flow_process_keeps_no_summary_once_taken(month_like_tree, cluster):
    """`iter_partitions` (what the origin-time flow folds from) keeps no result once yielded:
    with the cyclic GC off, each partition's skew sketch is freed once the caller drops it, so
    the flow holds about one summary at a time plus its fold's one sketch per stream."""
    gc.disable()  # only reference counts free objects: a kept reference cannot hide
    try:
        alive = _take_summaries(str(month_like_tree), cluster.scheduler_address)
    finally:
        gc.enable()
    # At most one earlier summary outlives its step, briefly (a reference in the Dask client's
    # message handling, seen on the first or second only); kept futures would give 1, 2, .., 23.
    assert len(alive) == 23 and max(alive) <= 1, alive


def test_killed_worker_is_retried_and_the_flow_completes(
    month_like_tree, thread_pool_result, cluster, tmp_path
):
    with Client(cluster) as client:
        before = client.run(os.getpid)
        killed: list[int] = []

        def kill_first_busy_worker() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                busy = [w for w, keys in client.processing().items() if keys]
                if busy:
                    os.kill(before[busy[0]], signal.SIGKILL)
                    killed.append(before[busy[0]])
                    return
                time.sleep(0.005)

        killer = threading.Thread(target=kill_first_busy_worker)
        killer.start()
        result = _run(
            month_like_tree,
            tmp_path,
            "killed",
            task_runner="dask",
            dask_address=cluster.scheduler_address,
        )
        killer.join()
        client.wait_for_workers(2, timeout=60)
        after = client.run(os.getpid)
        log = client.run_on_scheduler(
            lambda dask_scheduler: [
                (str(e[0]), e[1], e[2], e[4])
                for e in dask_scheduler.transition_log
                if str(e[0]).startswith("analyse_origin_time_partition")
            ]
        )
    # the task the dead worker held was released by the scheduler's worker cleanup, resubmitted,
    # and finished on a live worker
    lost = {
        key
        for key, start, finish, why in log
        if (start, finish) == ("processing", "released") and "worker" in why
    }
    assert lost and all(
        any(k == key and finish == "memory" for k, _, finish, _ in log) for key in lost
    )
    assert len(killed) == 1
    assert killed[0] not in after.values()  # the nanny started a fresh worker process
    _same(thread_pool_result, result)


def test_download_on_the_cluster_stages_what_the_thread_pool_stages(
    published_faults, lake_keys, cluster, tmp_path
):
    def run(staging, **runner):
        return download(
            start=published_faults.scenario_start,
            end=published_faults.scenario_end,
            symbols=published_faults.symbols,
            staging_dir=str(staging),
            endpoint_url=published_faults.endpoint,
            tick=0.01,
            **runner,
        )

    threads = run(tmp_path / "threads")
    dask = run(tmp_path / "dask", task_runner="dask", dask_address=cluster.scheduler_address)
    assert dask.ok and dask.summary["files"] == len(published_faults.truth.partitions)
    keep = ("files", "bytes", "rows", "by_status", "ok")
    assert {k: dask.summary[k] for k in keep} == {k: threads.summary[k] for k in keep}
    assert dask.validation == threads.validation and dask.validation  # faults found, same counts
    assert dask.missing_partitions == threads.missing_partitions
    for p in published_faults.truth.partitions:  # written by the workers into the shared path
        assert (tmp_path / "dask" / p.path).read_bytes() == (
            tmp_path / "threads" / p.path
        ).read_bytes()


def test_origin_time_workers_read_s3_directly(published_faults, lake_keys, cluster, tmp_path):
    """No staging anywhere: each worker fetches its partition from the (moto) S3 endpoint."""
    local = tmp_path / "same-lake-generated-here"
    generate_dataset(load_builtin_scenario("faults"), local)
    from_tree = origin_time(staging_dir=str(local), report_dir=str(tmp_path / "tree"))
    from_s3 = origin_time(
        lake_s3=True,
        endpoint_url=published_faults.endpoint,
        symbols=published_faults.symbols,
        start=published_faults.scenario_start,
        end=published_faults.scenario_end,
        staging_dir=str(tmp_path / "never-created"),
        report_dir=str(tmp_path / "s3"),
        task_runner="dask",
        dask_address=cluster.scheduler_address,
    )
    assert from_s3.source.startswith("s3://") and not (tmp_path / "never-created").exists()
    assert from_s3.partitions == from_tree.partitions
    assert from_s3.streams == from_tree.streams
    assert (
        from_s3.missing_partitions
        == from_tree.missing_partitions
        == ("trades/BINANCE/ETH-USDT/2024-04-01",)
    )
    assert from_s3.criteria == from_tree.criteria


def test_spike_checks_run_on_the_cluster(cluster, tmp_path):
    empty = tmp_path / "no-parquet-here"
    empty.mkdir()
    result = validation_spike(
        data_dir=str(empty),
        report_dir=str(tmp_path / "r"),
        decimal_speed_rows=0,
        io_repeats=1,
        memory_cap_gib=None,
        task_runner="dask",
        dask_address=cluster.scheduler_address,
    )
    assert [c.name for c in result.checks] == ["gaps", "memory", "throughput", "decimals", "io"]
    (gaps,) = [c for c in result.checks if c.name == "gaps"]
    assert [c.status for c in gaps.criteria] == [Status.UNKNOWN]  # no data: never PASS
    assert (tmp_path / "r" / "spike.json").is_file()


def test_cli_origin_time_on_the_cluster(month_like_tree, thread_pool_result, cluster, tmp_path):
    runner = CliRunner()
    out = tmp_path / "ot.json"
    ok = runner.invoke(
        app,
        ["origin-time", "--staging", str(month_like_tree), "--report-dir", str(tmp_path / "r"),
         "--task-runner", "dask", "--dask-address", cluster.scheduler_address, "--json", str(out)],
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    doc = json.loads(out.read_text())
    expected = thread_pool_result.to_json()
    for key in ("partitions", "streams", "missing_partitions", "criteria"):
        assert doc[key] == json.loads(json.dumps(expected[key])), key

    bad = runner.invoke(app, ["origin-time", "--staging", str(month_like_tree),
                              "--task-runner", "processes"])  # fmt: skip
    assert bad.exit_code == 2 and "task_runner must be one of threads, dask" in bad.output
    lone = runner.invoke(app, ["spike", "--dask-address", "tcp://127.0.0.1:1"])
    assert lone.exit_code == 2 and "dask_address needs task_runner='dask'" in lone.output


def test_backfill_month_on_the_cluster(published_faults, lake_keys, cluster, tmp_path):
    out = backfill(
        month="2024-04",
        symbols=published_faults.symbols,
        staging_dir=str(tmp_path / "staging"),
        report_dir=str(tmp_path / "report"),
        endpoint_url=published_faults.endpoint,
        dask_address=cluster.scheduler_address,
    )
    assert (out.start, out.end) == (date(2024, 4, 1), date(2024, 5, 1))
    assert out.download.ok
    assert out.download.summary["files"] == len(published_faults.truth.partitions)
    # the month's other 28 days are missing for all 6 streams, 04-01 also for ETH trades
    assert len(out.download.missing_partitions) == 6 * 28 + 1
    assert len(out.origin_time.partitions) == len(published_faults.truth.partitions)
    assert set(out.download.missing_partitions) == set(out.origin_time.missing_partitions)


def test_month_range():
    assert month_range("2024-02") == (date(2024, 2, 1), date(2024, 3, 1))
    assert month_range("2024-12") == (date(2024, 12, 1), date(2025, 1, 1))
    assert month_range(None, today=date(2025, 1, 15)) == (date(2024, 12, 1), date(2025, 1, 1))
    assert month_range(None, today=date(2025, 3, 1)) == (date(2025, 2, 1), date(2025, 3, 1))
    with pytest.raises(ConfigError, match="not YYYY-MM"):
        month_range("2024-13")


def test_runner_choice_is_checked():
    with pytest.raises(ConfigError, match="task_runner must be one of"):
        make_task_runner("processes")
    with pytest.raises(ConfigError, match="needs task_runner='dask'"):
        make_task_runner("threads", "tcp://127.0.0.1:8786")
    with pytest.raises(ConfigError, match="tcp://host:8786"):
        make_task_runner("dask", "127.0.0.1:8786")
    assert scale_out_parameters("dask", "tcp://h:1") == {
        "task_runner": "dask",
        "dask_address": "tcp://h:1",
    }


def test_go_no_go_fans_its_children_out_on_the_cluster(
    month_like_tree, thread_pool_result, cluster, tmp_path
):
    from feedcheck.flows.go_no_go import go_no_go
    from feedcheck.report.go_no_go import Evidence, evaluate
    from feedcheck.report.thresholds import GoNoGoThresholds

    empty = tmp_path / "no-parquet-here"
    empty.mkdir()
    with Client(cluster) as client, get_task_stream(client) as stream:
        report = go_no_go(
            download_data=False,
            staging_dir=str(month_like_tree),
            symbols=["BTC-USDT", "ETH-USDT"],
            spike_data_dir=str(empty),
            memory_cap_gib=None,
            capture_dir=str(tmp_path / "no-captures"),
            report_dir=str(tmp_path / "report"),
            task_runner="dask",
            dask_address=cluster.scheduler_address,
        )
    ran = {t["key"] for t in stream.data if t["key"].startswith("analyse_origin_time_partition")}
    assert len(ran) == 23  # origin-time's partitions ran on the cluster's workers
    # ... and judge exactly as the thread pool's result does
    expected = evaluate(Evidence(origin_time=thread_pool_result), GoNoGoThresholds())
    got = {c.key: c.result for c in report.criteria}
    for c in expected.criteria[:3]:
        assert (got[c.key].status, got[c.key].value) == (c.result.status, c.result.value)
