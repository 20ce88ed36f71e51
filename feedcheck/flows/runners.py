"""Where a flow's partition fan-out runs: a thread pool in the flow's process, or a Dask cluster.

Every heavy flow (download, origin-time, validation-spike, go-no-go) takes the same two
parameters and hands them to this module:

- `task_runner="threads"` (default): a `ThreadPoolTaskRunner` in the flow's own process.
- `task_runner="dask"` with `dask_address="tcp://host:8786"`: the tasks run on an existing Dask
  cluster through prefect-dask's `DaskTaskRunner`; without an address a temporary
  `distributed.LocalCluster` (one single-threaded worker process per core) is started for the run
  and closed after it.

The runner is picked at run time (a flow parameter, so a deployment run can say
`--param task_runner=dask --param dask_address=tcp://...`), not fixed in the `@flow` decorator:
the flow opens it with `scale_out(...)` around its fan-out and maps its per-partition task with
`map_partitions(...)` (all results, in order) or `iter_partitions(...)` (each result as it
arrives, kept by nobody once taken, so the flow can fold them and hold one at a time). Each
mapped task returns a small summary (counts, sketches, manifest rows), so no raw row travels back
to the flow; progress is stepped here, in the flow's process, as results arrive (a worker process
cannot reach the CLI's progress bar).

A parent flow that calls these flows as children (go-no-go) passes the choice down with
`**scale_out_parameters(task_runner, dask_address)`.

Workers on other hosts need the data where they can read it: a staging path shared by every
worker (NFS, a mounted bucket), or S3 read directly with the downloader's endpoint settings
(`origin-time` with `lake_s3=True`). Prefect reaches the workers through the serialized run
context (API URL and settings travel with each task), so workers need the project installed and
network access to the Prefect API, nothing else.

A worker that dies mid-task (killed, out of memory) loses its tasks; Dask's scheduler resubmits
them to a live worker (up to `distributed.scheduler.allowed-failures` times, default 3) and the
Prefect task run is re-run under the same id, so the flow completes.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from prefect import unmapped
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.tasks import Task

from feedcheck.errors import ConfigError
from feedcheck.progress import Counter

TaskRunnerKind = Literal["threads", "dask"]
#: The values of the flows' `task_runner` parameter (and of the CLI's `--task-runner`).
TASK_RUNNERS: tuple[TaskRunnerKind, ...] = ("threads", "dask")
#: Default `task_runner`: a thread pool in the flow's process.
DEFAULT_TASK_RUNNER: TaskRunnerKind = "threads"

R = TypeVar("R")


def _cores() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def make_task_runner(
    task_runner: str = DEFAULT_TASK_RUNNER,
    dask_address: str | None = None,
    *,
    max_workers: int | None = None,
    local_cluster_kwargs: Mapping[str, Any] | None = None,
) -> TaskRunner:
    """A Prefect task runner for `task_runner` in `TASK_RUNNERS` (not started).

    Args:
        task_runner: "threads" or "dask".
        dask_address: scheduler address of an existing Dask cluster (`tcp://host:8786`); only
            with "dask". None with "dask" starts a temporary `distributed.LocalCluster`.
        max_workers: threads: pool size (default: the cores this process may use); dask without
            an address: worker processes of the local cluster (default: the same). Ignored when
            joining an existing cluster (its size is the cluster's).
        local_cluster_kwargs: extra `LocalCluster` keywords (e.g. `memory_limit`), local only.

    Raises:
        ConfigError: an unknown runner, an address without "dask", a bad address or size.
    """
    if task_runner not in TASK_RUNNERS:
        raise ConfigError(
            f"task_runner must be one of {', '.join(TASK_RUNNERS)}, got {task_runner!r}"
        )
    if max_workers is not None and max_workers < 1:
        raise ConfigError(f"max_workers must be >= 1, got {max_workers}")
    workers = max_workers or _cores()
    if task_runner == "threads":
        if dask_address:
            raise ConfigError("dask_address needs task_runner='dask'")
        return ThreadPoolTaskRunner(max_workers=workers)

    from prefect_dask import DaskTaskRunner  # imported only when asked for: distributed is heavy

    if dask_address:
        if "://" not in dask_address:
            raise ConfigError(f"dask_address must look like tcp://host:8786, got {dask_address!r}")
        if local_cluster_kwargs:
            raise ConfigError("local_cluster_kwargs apply to a local cluster, not to dask_address")
        return DaskTaskRunner(address=dask_address)
    cluster = {
        "n_workers": workers,
        # One task per process: the analyses are numba/polars loops that hold memory per task;
        # more partitions in flight per worker would only multiply the peak.
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": None,
        **dict(local_cluster_kwargs or {}),
    }
    return DaskTaskRunner(cluster_kwargs=cluster)


@contextmanager
def scale_out(
    task_runner: str = DEFAULT_TASK_RUNNER,
    dask_address: str | None = None,
    *,
    max_workers: int | None = None,
    local_cluster_kwargs: Mapping[str, Any] | None = None,
) -> Iterator[TaskRunner]:
    """The started runner of `make_task_runner(...)`; stopped (local cluster closed) on exit.

    Use inside a flow run: tasks submitted through it are task runs of that flow."""
    runner = make_task_runner(
        task_runner,
        dask_address,
        max_workers=max_workers,
        local_cluster_kwargs=local_cluster_kwargs,
    )
    with runner:
        yield runner


def scale_out_parameters(task_runner: str, dask_address: str | None) -> dict[str, Any]:
    """The keyword arguments a parent flow passes to a child flow to run it on the same runner.

    Raises:
        ConfigError: as `make_task_runner` (checked here so a parent fails before any child runs).
    """
    if task_runner not in TASK_RUNNERS:
        raise ConfigError(
            f"task_runner must be one of {', '.join(TASK_RUNNERS)}, got {task_runner!r}"
        )
    if dask_address and task_runner != "dask":
        raise ConfigError("dask_address needs task_runner='dask'")
    return {"task_runner": task_runner, "dask_address": dask_address}


def map_partitions(
    runner: TaskRunner,
    task: Task[..., R],
    mapped: Mapping[str, Sequence[Any]],
    fixed: Mapping[str, Any] | None = None,
    *,
    progress: Counter | None = None,
    describe: Callable[[R], str] | None = None,
) -> list[R]:
    """Run `task` once per item of the `mapped` sequences (all the same length) on `runner`.

    Args:
        mapped: parameter name → one value per task run (e.g. partitions and their files).
        fixed: parameter name → the same value for every run (config, source, ...).
        progress: stepped in this process as each result arrives, with `describe(result)`.

    Returns:
        The results in the order of `mapped` (whatever order they finished in). All of them are
        held until the last arrives; to fold them as they arrive, use `iter_partitions`.

    Raises:
        The first failed task's exception, once every task has settled (no task is abandoned
        half-way, so files they write are complete or absent).
    """
    results: list[Any] = [None] * max((len(v) for v in mapped.values()), default=0)
    for i, result in iter_partitions(
        runner, task, mapped, fixed, progress=progress, describe=describe
    ):
        results[i] = result
    return results


def iter_partitions(
    runner: TaskRunner,
    task: Task[..., R],
    mapped: Mapping[str, Sequence[Any]],
    fixed: Mapping[str, Any] | None = None,
    *,
    progress: Counter | None = None,
    describe: Callable[[R], str] | None = None,
) -> Iterator[tuple[int, R]]:
    """`map_partitions`, yielding `(index in mapped, result)` as each task finishes.

    Nothing here keeps a result once it is yielded: each task's future (which holds its final
    state, result included) is dropped as its result is taken, so a caller that folds the
    results and drops them holds one at a time. (Prefect's `as_completed` keeps every future
    until the last one finishes, hence the done-callback queue here.)

    Raises:
        ConfigError: the mapped sequences differ in length (before any task is submitted).
        The first (in `mapped` order) failed task's exception, after every task has settled and
        every success has been yielded.
    """
    lengths = {len(v) for v in mapped.values()}
    if len(lengths) > 1:
        raise ConfigError(f"mapped parameters differ in length: {sorted(lengths)}")
    if not mapped or lengths == {0}:
        return
    parameters: dict[str, Any] = {name: list(values) for name, values in mapped.items()}
    parameters.update({name: unmapped(value) for name, value in (fixed or {}).items()})
    futures: list[PrefectFuture[R] | None] = list(runner.map(task, parameters))
    finished: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i, future in enumerate(futures):
        assert future is not None
        # The callback holds the index only: the queue never keeps a future alive.
        future.add_done_callback(lambda _done, i=i: finished.put(i))
    del future
    failed: list[tuple[int, BaseException]] = []
    for _ in range(len(futures)):
        i = finished.get()
        taken, futures[i] = futures[i], None
        assert taken is not None
        try:
            # Boxed, so that this frame lets go of the result as it yields it (a local would
            # keep it alive until the caller asks for the next one).
            box = [taken.result()]
        except Exception as exc:  # noqa: BLE001 - re-raised below, after the others settle
            failed.append((i, exc))
            continue
        _forget_result(taken)
        del taken
        if progress is not None:
            progress.step(describe(box[0]) if describe else "")
        yield i, box.pop()
    if failed:
        raise min(failed, key=lambda f: f[0])[1]


def _forget_result(future: PrefectFuture[Any]) -> None:
    """Drop the finished `future`'s reference to its result (its final state's `data`).

    Why: a thread-pool future and the `concurrent.futures.Future` it wraps refer to each other
    (Prefect registers a done callback bound to the wrapper), so a dropped future is freed only by
    the cyclic GC's next full pass, result included; measured on 30 tasks of 20 MB each, all 30
    results were still alive at the end of the loop. A full `gc.collect()` per result costs
    ~0.2 s in a flow process, so the link to the result is cut instead.
    """
    future.state.data = None


def run_one_at_a_time(
    runner: TaskRunner, calls: Sequence[tuple[Task[..., Any], Mapping[str, Any]]]
) -> list[Any]:
    """Run `(task, parameters)` calls on `runner` in order, each after the previous finished.

    For tasks that measure the machine they run on (memory, throughput): on a cluster they run on
    a worker, but never two at once. Raises the first failing task's exception.
    """
    return [runner.submit(task, dict(parameters)).result() for task, parameters in calls]
