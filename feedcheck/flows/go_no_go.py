"""`go-no-go` flow (Epic 1): can the reconstruction be built on Lake data plus our capture, fast
and lean enough?

The story: stage the Lake data (download) → Story 1.1 on it (origin-time) → Story 1.2.5 (the
validation spike) → in the demo, three rehearsal captures against the loopback exchange → Story
1.2 on every recording (validate-capture) → judge DESIGN.md's criteria → write the report and
publish the `go-no-go` artifacts. Each story runs as a child flow whose failure is recorded with
its error (its criteria become UNKNOWN) instead of failing the parent. With `reuse`, the latest
results on disk are collected instead of running anything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run as runtime_flow_run
from prefect.states import State
from prefect.utilities.urls import url_for

from feedcheck.errors import ConfigError, FeedcheckError
from feedcheck.flows.runners import DEFAULT_TASK_RUNNER, scale_out_parameters
from feedcheck.lake.layout import TABLES, check_exchange, check_symbol, check_table
from feedcheck.progress import Counter
from feedcheck.report.go_no_go import Evidence, GoNoGoReport, Step, StepRun, StepStatus, evaluate
from feedcheck.report.go_no_go_files import (
    RESULT_FILES,
    artifact_images,
    latest_result,
    read_result,
    report_images,
    write_report,
)
from feedcheck.report.go_no_go_render import go_no_go_markdown, go_no_go_table_rows, headline
from feedcheck.report.machine import machine_info
from feedcheck.report.plots import PLOT_FILES
from feedcheck.report.thresholds import load_thresholds

#: Captions of Story 1.1's plots in the go/no-go report, keyed as `PLOT_FILES`.
ORIGIN_PLOTS = {
    "skew_cdf": "received − origin skew, CDF (Story 1.1)",
    "skew_hourly_p95": "p95 skew by UTC hour (Story 1.1)",
    "missing_by_day": "origin_time missing/invalid by day (Story 1.1)",
}


def _error_text(state: State) -> str:
    exc = state.result(raise_on_failure=False)
    if isinstance(exc, BaseException):
        return f"{type(exc).__name__}: {exc}"
    return state.message or state.type.value


def run_child(
    step: Step,
    child: Callable[..., Any],
    result_path: Path | None,
    counter: Counter | None = None,
    **params: Any,
):
    """Run a child flow (or task) and return (its result or None, its `StepRun`): a failure is
    recorded with its error, never raised, so the parent goes on and judges what it has."""
    started = time.monotonic()
    state: State = child(**params, return_state=True)
    if counter is not None:
        counter.step(step.value)
    details = state.state_details
    run_id = details.flow_run_id if details.flow_run_id is not None else details.task_run_id
    ui = url_for("flow-run", obj_id=run_id) if details.flow_run_id is not None else None
    seconds = round(time.monotonic() - started, 1)
    if state.is_completed():
        path = str(result_path) if result_path is not None and result_path.exists() else None
        run = StepRun(step, StepStatus.COMPLETED, None, path, str(run_id), ui, seconds)
        return state.result(), run
    get_run_logger().error("%s failed: %s", step.value, _error_text(state))
    return None, StepRun(
        step, StepStatus.FAILED, _error_text(state), None, str(run_id), ui, seconds
    )


def collect_latest(reports_dir: Path, exclude: Path) -> Evidence:
    """--reuse: the newest result of each story under `reports_dir` (not this run's folder)."""
    found: dict[Step, Any] = {}
    steps = []
    for step in RESULT_FILES:
        path = latest_result(reports_dir, step, exclude=exclude)
        if path is None:
            why = f"no {RESULT_FILES[step]} under {reports_dir}"
            steps.append(StepRun(step, StepStatus.MISSING, why))
            continue
        try:
            found[step] = read_result(step, path)
        except FeedcheckError as exc:
            steps.append(StepRun(step, StepStatus.FAILED, str(exc), str(path)))
            continue
        steps.append(StepRun(step, StepStatus.REUSED, None, str(path)))
    return Evidence(
        origin_time=found.get(Step.ORIGIN_TIME),
        spike=found.get(Step.SPIKE),
        captures=found.get(Step.VALIDATE_CAPTURE),
        steps=tuple(steps),
    )


@task(name="rehearsal-captures", cache_policy=NO_CACHE)
def rehearsal_captures_task(capture_dir: Path, duration_s: float, verify_s: float) -> list:
    """Three short captures (us-open, weekend, event) against the loopback exchange, each with
    a verification snapshot every `verify_s`."""
    from feedcheck.demo import rehearsal_captures

    return asyncio.run(
        rehearsal_captures(capture_dir, duration_s, verify_snapshot_interval_s=verify_s)
    )


@task(name="write-go-no-go-report", cache_policy=NO_CACHE)
def write_report_task(report: GoNoGoReport, folder: Path, plots: dict[str, Path]) -> dict:
    """report.md, report.json and the PNGs in `folder`; the images also as data URIs."""
    images = report_images(report, plots)
    files = write_report(report, folder, images)
    return {"files": files, "uris": artifact_images(images)}


def _provenance(
    evidence: Evidence, lake: str, captures: str, capture_dir: Path | None, demo: bool
) -> dict[str, Any]:
    origin = evidence.origin_time
    out: dict[str, Any] = {"Lake data": lake}
    if demo:
        out["Lake data kind"] = "synthetic"
    elif origin is not None:
        # "synthetic" when the staged tree holds a generator's ground truth, else "lake"
        out["Lake data kind"] = origin.data_kind
    if origin is not None:
        out["exchanges"] = ", ".join(sorted({s.exchange for s in origin.streams})) or "-"
        out["symbols"] = ", ".join(sorted({s.symbol for s in origin.streams})) or "-"
        out["days"] = f"{origin.start} to {origin.end} (end exclusive)" if origin.start else "-"
        out["tables"] = ", ".join(origin.tables)
    out["captures"] = captures
    if evidence.captures is not None:
        symbols = sorted({s.symbol for r in evidence.captures.recordings for s in r.symbols})
        out["capture symbols"] = ", ".join(symbols) or "-"
        out["recordings"] = len(evidence.captures.recordings)
    if capture_dir is not None:
        out["capture folder"] = str(capture_dir)
    if evidence.spike is not None:
        out["spike data"] = evidence.spike.data
    return out


@flow(name="go-no-go", log_prints=False)
def go_no_go(
    demo: bool = False,
    reuse: bool = False,
    reports_dir: str = "reports",
    report_dir: str | None = None,
    start: date | None = None,
    end: date | None = None,
    exchange: str = "BINANCE",
    symbols: list[str] = ["BTC-USDT"],  # noqa: B006 - Prefect copies parameters per run
    tables: list[str] = list(TABLES),  # noqa: B006
    staging_dir: str = "staging",
    download_data: bool = True,
    endpoint_url: str | None = None,
    sample: bool = False,
    bucket: str | None = None,
    prefix: str | None = None,
    secret_block: str | None = None,
    demo_scenario: str = "demo",
    spike_data_dir: str | None = None,
    spike_hours: float = 1.0,
    memory_cap_gib: float | None = 4.0,
    capture_dir: str = "captures",
    rehearsal_capture_s: float = 20.0,
    rehearsal_verify_s: float = 5.0,
    thresholds_file: str | None = None,
    thresholds: dict[str, float] | None = None,
    task_runner: str = DEFAULT_TASK_RUNNER,
    dask_address: str | None = None,
) -> GoNoGoReport:
    """Epic 1's go/no-go; the report goes to `report_dir` (default `reports_dir/go-no-go-<run>`).

    Real data: stages `tables × symbols × [start, end)` from Crypto Lake (credentials as the
    `download` flow takes them; `download_data=False` uses what `staging_dir` already holds) and
    validates every recording under `capture_dir`. `demo=True` replaces both sources by the
    embedded default: the `demo_scenario` Lake on a loopback S3 and three rehearsal captures of
    `rehearsal_capture_s` against the loopback exchange (a verification snapshot every
    `rehearsal_verify_s`, so the rebuilt book is proven), all under the report folder.
    `reuse=True` runs nothing and judges the newest results found under `reports_dir`.
    Thresholds: the plan's, then `thresholds_file` (YAML), then `thresholds` (see
    `GoNoGoThresholds`). `task_runner`/`dask_address` choose where download, origin-time and
    the spike fan out (a thread pool, or a Dask cluster: see `flows/runners.py`).
    """
    limits = load_thresholds(thresholds_file, thresholds)
    runner = scale_out_parameters(task_runner, dask_address)
    for t in tables:
        check_table(t)
    check_exchange(exchange)
    for s in symbols:
        check_symbol(s)
    if rehearsal_capture_s <= 0 or rehearsal_verify_s <= 0 or spike_hours <= 0:
        raise ConfigError("rehearsal_capture_s, rehearsal_verify_s and spike_hours must be > 0")
    if demo and reuse:
        raise ConfigError("demo and reuse exclude each other: reuse runs nothing")
    run_name = runtime_flow_run.name or "local"
    folder = Path(report_dir or Path(reports_dir) / f"go-no-go-{run_name}")
    logger = get_run_logger()

    if reuse:
        evidence = collect_latest(Path(reports_dir), exclude=folder)
        lake_text = "results reused from earlier runs (see Runs)"
        capture_text = "results reused from earlier runs (see Runs)"
        captures_at = None
    else:
        evidence, lake_text, capture_text, captures_at = _run_stories(
            folder,
            demo=demo,
            demo_scenario=demo_scenario,
            download_params=dict(
                start=start, end=end, tables=tables, exchange=exchange, symbols=symbols,
                endpoint_url=endpoint_url, sample=sample, bucket=bucket, prefix=prefix,
                secret_block=secret_block, **runner,
            ),
            staging=Path(staging_dir),
            download_data=download_data,
            spike_params=dict(
                data_dir=spike_data_dir, hours=spike_hours, memory_cap_gib=memory_cap_gib,
                memory_budget_gib=limits.memory_p95_max_gib, **runner,
            ),
            capture_dir=Path(capture_dir),
            rehearsal_capture_s=rehearsal_capture_s,
            rehearsal_verify_s=rehearsal_verify_s,
            origin_params=dict(
                missing_invalid_max_pct=limits.origin_missing_invalid_max_pct,
                skew_p95_max_ms=limits.skew_p95_max_ms, **runner,
            ),
        )  # fmt: skip

    report = evaluate(
        evidence,
        limits,
        provenance=_provenance(evidence, lake_text, capture_text, captures_at, demo),
        machine=machine_info(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        report_dir=str(folder),
    )
    origin_dir = _origin_report_dir(evidence)
    plots = (
        {ORIGIN_PLOTS[k]: origin_dir / name for k, name in PLOT_FILES.items()}
        if origin_dir is not None
        else {}
    )
    written = write_report_task(report, folder, plots)
    create_markdown_artifact(
        go_no_go_markdown(report, written["uris"]),
        key="go-no-go",
        description=f"Epic 1 go/no-go: {headline(report)}",
    )
    create_table_artifact(
        go_no_go_table_rows(report),
        key="go-no-go-criteria",
        description=f"Epic 1 criteria: {report.verdict}",
    )
    logger.info("go/no-go: %s; report in %s", headline(report), written["files"]["markdown"])
    return report


def _origin_report_dir(evidence: Evidence) -> Path | None:
    run = evidence.step(Step.ORIGIN_TIME)
    if run is None or run.result_path is None:
        return None
    return Path(run.result_path).parent


def _run_stories(
    folder: Path,
    *,
    demo: bool,
    demo_scenario: str,
    download_params: dict[str, Any],
    staging: Path,
    download_data: bool,
    spike_params: dict[str, Any],
    capture_dir: Path,
    rehearsal_capture_s: float,
    rehearsal_verify_s: float,
    origin_params: dict[str, Any],
) -> tuple[Evidence, str, str, Path]:
    """Every story as a child, in order; returns the evidence and how to describe its data."""
    from feedcheck.flows.download import MANIFEST_FILE, download
    from feedcheck.flows.origin_time import origin_time
    from feedcheck.flows.spike import validation_spike
    from feedcheck.flows.validate_capture import validate_capture
    from feedcheck.settings import LakeSettings

    steps: list[StepRun] = []
    if demo:
        staging, capture_dir = folder / "staging", folder / "captures"
    counter = Counter("go-no-go", 5 if demo else 4)
    with ExitStack() as stack:
        if demo:
            from feedcheck.demo import embedded_lake

            lake = stack.enter_context(embedded_lake(folder / "lake", demo_scenario))
            download_params.update(
                start=lake.start, end=lake.end, tables=list(lake.tables), exchange=lake.exchange,
                symbols=list(lake.symbols), endpoint_url=lake.endpoint_url, sample=False,
            )  # fmt: skip
            lake_text = lake.describe()
        else:
            overrides = {
                k: download_params[k] for k in ("endpoint_url", "bucket", "prefix")
                if download_params[k] is not None
            }  # fmt: skip
            lake_text = (
                LakeSettings(sample=download_params["sample"], **overrides).lake_source().describe()
            )
        if download_data or demo:
            _, run = run_child(
                Step.DOWNLOAD,
                download,
                staging / MANIFEST_FILE,
                counter,
                staging_dir=str(staging),
                **download_params,
            )
        else:
            run = StepRun(Step.DOWNLOAD, StepStatus.SKIPPED, f"using what {staging} holds")
            counter.step(Step.DOWNLOAD.value)
        steps.append(run)

    origin_dir = folder / "origin-time"
    origin, run = run_child(
        Step.ORIGIN_TIME,
        origin_time,
        origin_dir / RESULT_FILES[Step.ORIGIN_TIME],
        counter,
        staging_dir=str(staging),
        tables=download_params["tables"],
        symbols=download_params["symbols"],
        start=download_params["start"],
        end=download_params["end"],
        report_dir=str(origin_dir),
        **origin_params,
    )
    steps.append(run)

    spike_dir = folder / "spike"
    spike, run = run_child(
        Step.SPIKE,
        validation_spike,
        spike_dir / RESULT_FILES[Step.SPIKE],
        counter,
        report_dir=str(spike_dir),
        **spike_params,
    )
    steps.append(run)

    if demo:
        _, run = run_child(
            Step.CAPTURES,
            rehearsal_captures_task,
            None,
            counter,
            capture_dir=capture_dir,
            duration_s=rehearsal_capture_s,
            verify_s=rehearsal_verify_s,
        )
        steps.append(run)
        capture_text = (
            f"three rehearsal captures of {rehearsal_capture_s:g} s (us-open, weekend, event) "
            "against the loopback Binance simulator, a verification snapshot every "
            f"{rehearsal_verify_s:g} s"
        )
    else:
        capture_text = f"recordings found under {capture_dir}"

    validation_path = folder / RESULT_FILES[Step.VALIDATE_CAPTURE]
    captures, run = run_child(
        Step.VALIDATE_CAPTURE,
        validate_capture,
        validation_path,
        counter,
        paths=[str(capture_dir)],
        json_out=str(validation_path),
    )
    steps.append(run)
    evidence = Evidence(
        origin_time=origin,
        spike=spike,
        captures=captures,
        capture_root=str(capture_dir),
        steps=tuple(steps),
    )
    return evidence, lake_text, capture_text, capture_dir
