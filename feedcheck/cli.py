"""`feedcheck ...`: the flows from a terminal, with progress bars.

Exit status 0 when the command ran (whatever the data says); non-zero with a one-line reason on
stderr when it could not run.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from feedcheck.errors import FeedcheckError

app = typer.Typer(
    help="Can a faithful Binance order-book rebuild stand on Crypto Lake data plus our own capture?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

TODAY_EXCLUSIVE = "end is exclusive, as in Crypto Lake's own client"
#: `feedcheck demo` replaces its --out folder only when this file says it made it.
DEMO_MARKER = ".feedcheck-demo"

# Where a flow's partitions run (issue 8): the same three options on download, origin-time, spike.
TaskRunnerOption = Annotated[
    str,
    typer.Option(
        "--task-runner",
        help="Where partitions run: threads (a pool in this process) or dask (a Dask cluster)",
    ),
]
DaskAddressOption = Annotated[
    Optional[str],
    typer.Option(
        "--dask-address",
        help="Scheduler of an existing Dask cluster, tcp://host:8786 (dask without it: a local cluster)",
    ),
]
WorkersOption = Annotated[
    Optional[int],
    typer.Option(
        "--workers", help="Threads, or processes of a local Dask cluster (default: one per core)"
    ),
]


def _fail(message: str, code: int = 2) -> None:
    # Plain text, never wrapped: the contract is one line on stderr.
    typer.echo(f"feedcheck: {message}", err=True)
    raise typer.Exit(code)


def _parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"{option} {value!r} is not a date (YYYY-MM-DD)")
        raise  # unreachable; keeps type checkers happy


def _runner(task_runner: str, dask_address: Optional[str]) -> dict[str, Optional[str]]:
    """The flow's task_runner/dask_address parameters, checked before anything starts."""
    from feedcheck.flows.runners import scale_out_parameters

    try:
        return scale_out_parameters(task_runner, dask_address)
    except FeedcheckError as exc:
        _fail(str(exc))
        raise  # unreachable


def _quiet_task_logs() -> None:
    """Only warnings from Prefect on the terminal: the progress bar and the summary say the rest,
    and every log line still reaches the Prefect API (the run's page in the UI).
    Set PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL=INFO to see them all here too. Prefect reads
    these when it first configures logging, so this runs at import, before any flow."""
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    # The temporary Prefect server would otherwise try to send telemetry (and log its failure
    # on a machine without internet).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


_quiet_task_logs()


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _write_json(path: Path | None, payload: object) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str))


@app.command()
def synth(
    out: Annotated[
        Path, typer.Option(help="Dataset root to write (Hive layout + ground_truth.json)")
    ],
    scenario: Annotated[
        str, typer.Option(help="Builtin scenario name (demo, faults) or a YAML path")
    ] = "demo",
    seed: Annotated[Optional[int], typer.Option(help="Override the scenario's seed")] = None,
    symbols: Annotated[
        Optional[str], typer.Option(help="Comma-separated symbols, e.g. BTC-USDT,ETH-USDT")
    ] = None,
    start: Annotated[Optional[str], typer.Option(help="First day, YYYY-MM-DD")] = None,
    end: Annotated[
        Optional[str], typer.Option(help=f"Last day, YYYY-MM-DD ({TODAY_EXCLUSIVE})")
    ] = None,
    hours: Annotated[
        Optional[float], typer.Option(help="Hours of data per day (24 = full day)")
    ] = None,
) -> None:
    """Generate a synthetic Crypto Lake dataset with injected faults and their ground truth."""
    from feedcheck.cli_progress import rich_progress
    from feedcheck.lake.synthetic import generate_dataset, scenario_with_overrides
    from feedcheck.progress import partition_rows_progress

    try:
        sc = scenario_with_overrides(
            scenario,
            seed=seed,
            symbols=_csv(symbols) if symbols else None,
            start=_parse_day(start, "--start") if start else None,
            end=_parse_day(end, "--end") if end else None,
            hours_per_day=hours,
        )
        with rich_progress(console):
            truth = generate_dataset(
                sc, out, progress=partition_rows_progress("generate", len(sc.written_partitions()))
            )
    except FeedcheckError as exc:
        _fail(str(exc))
    rows = sum(p.rows for p in truth.partitions)
    console.print(
        f"wrote {len(truth.partitions)} partitions, {rows:,} rows, {len(truth.faults)} fault records → {out}"
    )


@app.command()
def download(
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help=f"Day after the last, YYYY-MM-DD ({TODAY_EXCLUSIVE})")],
    symbols: Annotated[str, typer.Option(help="Comma-separated Lake symbols")] = "BTC-USDT",
    tables: Annotated[
        str, typer.Option(help="Comma-separated tables")
    ] = "trades,book,book_delta_v2",
    exchange: Annotated[str, typer.Option(help="Lake exchange name")] = "BINANCE",
    staging: Annotated[Path, typer.Option(help="Staging directory (Hive layout)")] = Path(
        "staging"
    ),
    endpoint_url: Annotated[
        Optional[str], typer.Option(help="S3-compatible endpoint override")
    ] = None,
    sample: Annotated[
        bool, typer.Option("--sample", help="Public sample bucket, unsigned")
    ] = False,
    bucket: Annotated[Optional[str], typer.Option(help="Bucket override")] = None,
    prefix: Annotated[Optional[str], typer.Option(help="Key prefix override")] = None,
    secret_block: Annotated[
        Optional[str], typer.Option(help="Prefect Secret block with Lake keys")
    ] = None,
    validate: Annotated[bool, typer.Option(help="Validate schemas after staging")] = True,
    json_out: Annotated[
        Optional[Path], typer.Option("--json", help="Write the result as JSON")
    ] = None,
    task_runner: TaskRunnerOption = "threads",
    dask_address: DaskAddressOption = None,
    workers: WorkersOption = None,
) -> None:
    """Download Lake partitions into a staging area (resumable, verified) and validate them.
    On a Dask cluster, --staging must be a path every worker shares."""
    from feedcheck.cli_progress import rich_progress
    from feedcheck.flows.download import download as download_flow
    from feedcheck.report.download import print_summary

    first, after = _parse_day(start, "--start"), _parse_day(end, "--end")
    runner = _runner(task_runner, dask_address)
    try:
        with rich_progress(console):
            outcome = download_flow(
                start=first,
                end=after,
                tables=_csv(tables),
                exchange=exchange,
                symbols=_csv(symbols),
                staging_dir=str(staging),
                endpoint_url=endpoint_url,
                sample=sample,
                bucket=bucket,
                prefix=prefix,
                secret_block=secret_block,
                validate_schemas=validate,
                max_workers=workers,
                **runner,
            )
    except FeedcheckError as exc:
        _fail(str(exc))
    print_summary(Console(), outcome)
    _write_json(json_out, asdict(outcome))


@app.command("origin-time")
def origin_time(
    staging: Annotated[Path, typer.Option(help="Staged Lake tree (Hive layout)")] = Path("staging"),
    tables: Annotated[
        str, typer.Option(help="Comma-separated tables")
    ] = "trades,book,book_delta_v2",
    exchange: Annotated[Optional[str], typer.Option(help="Only this exchange")] = None,
    symbols: Annotated[
        Optional[str], typer.Option(help="Only these symbols (comma-separated)")
    ] = None,
    start: Annotated[Optional[str], typer.Option(help="First day, YYYY-MM-DD")] = None,
    end: Annotated[
        Optional[str], typer.Option(help=f"Day after the last ({TODAY_EXCLUSIVE})")
    ] = None,
    report_dir: Annotated[Optional[Path], typer.Option(help="Where plots and JSON go")] = None,
    json_out: Annotated[
        Optional[Path], typer.Option("--json", help="Write the result as JSON")
    ] = None,
    task_runner: TaskRunnerOption = "threads",
    dask_address: DaskAddressOption = None,
    workers: WorkersOption = None,
) -> None:
    """Story 1.1: origin_time completeness, continuity, ordering and clock skew, with plots and a
    recommendation per stream. One task per partition; on a Dask cluster --staging must be a
    path every worker can read."""
    from feedcheck.cli_progress import rich_progress
    from feedcheck.flows.origin_time import origin_time as origin_time_flow
    from feedcheck.report.origin_time_terminal import print_origin_time

    first = _parse_day(start, "--start") if start else None
    after = _parse_day(end, "--end") if end else None
    if not staging.is_dir():
        _fail(f"staging directory {staging} does not exist")
    runner = _runner(task_runner, dask_address)
    try:
        with rich_progress(console):
            result = origin_time_flow(
                staging_dir=str(staging),
                tables=_csv(tables),
                exchange=exchange,
                symbols=_csv(symbols) if symbols else None,
                start=first,
                end=after,
                report_dir=str(report_dir) if report_dir else None,
                max_workers=workers,
                **runner,
            )
    except FeedcheckError as exc:
        _fail(str(exc))
    print_origin_time(Console(), result)
    _write_json(json_out, result.to_json())


@app.command("validate-capture")
def validate_capture(
    paths: Annotated[list[Path], typer.Argument(help="Recording files or directories")],
    json_out: Annotated[
        Optional[Path], typer.Option("--json", help="Write the result as JSON")
    ] = None,
) -> None:
    """Replay recordings (ours, hftbacktest or cryptofeed format): U/u (or pu) chain and the position
    of every gap, resyncs, book vs every in-band snapshot, crossed books."""
    from feedcheck.cli_progress import rich_progress
    from feedcheck.flows.validate_capture import validate_capture as validate_flow
    from feedcheck.report.capture_terminal import print_capture_validation

    try:
        with rich_progress(console):
            result = validate_flow(
                paths=[str(p) for p in paths], json_out=str(json_out) if json_out else None
            )
    except FeedcheckError as exc:
        _fail(str(exc))
    print_capture_validation(Console(), result)


@app.command("export-capture")
def export_capture(
    paths: Annotated[list[Path], typer.Argument(help="Recording files or directories")],
    out: Annotated[Path, typer.Option(help="Root of the Lake-layout Parquet tree to write")],
    exchange: Annotated[str, typer.Option(help="BINANCE (spot) or BINANCE_FUTURES")] = "BINANCE",
) -> None:
    """Recordings → Parquet in Lake's raw schemas and Hive layout (trades; book_delta_v2 with
    sequence_number = u plus first_update_id / prev_update_id), so `feedcheck origin-time --staging
    OUT` and the other analyses run on captures unchanged."""
    from feedcheck.binance.export import export_recordings
    from feedcheck.binance.validate import group_recordings

    try:
        result = export_recordings(group_recordings(paths), out, exchange=exchange)
    except FeedcheckError as exc:
        _fail(str(exc))
    console.print(
        f"wrote {len(result.files)} file(s) under {out}: {result.rows('trades'):,} trades, "
        f"{result.rows('book_delta_v2'):,} book_delta_v2 rows; {len(result.issues)} skipped line(s)"
    )


@app.command()
def capture(
    symbols: Annotated[str, typer.Option(help="Comma-separated Binance symbols")] = "BTCUSDT",
    duration: Annotated[float, typer.Option(help="Seconds to record")] = 60.0,
    out: Annotated[Path, typer.Option(help="Recording directory")] = Path("captures"),
    regime: Annotated[str, typer.Option(help="Sub-folder naming the market regime")] = "manual",
    streams: Annotated[
        str, typer.Option(help="Comma-separated streams per symbol")
    ] = "trade,depth",
    depth_speed_ms: Annotated[int, typer.Option(help="Diff-depth cadence: 100 or 1000")] = 100,
    ws_url: Annotated[
        Optional[str], typer.Option(help="WebSocket base (a simulator's URL)")
    ] = None,
    rest_url: Annotated[Optional[str], typer.Option(help="REST base (a simulator's URL)")] = None,
    verify_snapshot_interval_s: Annotated[
        float,
        typer.Option(
            help="Seconds between verification snapshots per live symbol, recorded for "
            "validate-capture to check the book against; 0 disables"
        ),
    ] = 900.0,  # capture_config.DEFAULT_VERIFY_SNAPSHOT_INTERVAL_S (not imported: CLI start-up)
    json_out: Annotated[
        Optional[Path], typer.Option("--json", help="Write the summary as JSON")
    ] = None,
) -> None:
    """Record live Binance spot trade + depth with snapshot sync and resync (real Binance by default;
    --ws-url/--rest-url point it at `feedcheck simulate`)."""
    import asyncio

    from feedcheck.cli_progress import rich_progress
    from feedcheck.flows.capture import capture_flow
    from feedcheck.report.capture_progress import capture_summary_text

    try:
        with rich_progress(console):
            summary = asyncio.run(
                capture_flow(
                    symbols=_csv(symbols),
                    streams=_csv(streams),
                    depth_speed_ms=depth_speed_ms,
                    duration_s=duration,
                    out_dir=str(out),
                    regime=regime,
                    ws_url=ws_url,
                    rest_url=rest_url,
                    verify_snapshot_interval_s=verify_snapshot_interval_s or None,
                )
            )
    except FeedcheckError as exc:
        _fail(str(exc))
    console.print(capture_summary_text(summary))
    _write_json(json_out, asdict(summary))


@app.command()
def spike(
    data: Annotated[
        Optional[Path], typer.Option(help="Lake tree to use (default: generate)")
    ] = None,
    hours: Annotated[float, typer.Option(help="Hours of generated data at 8 M events/h")] = 1.0,
    report_dir: Annotated[Optional[Path], typer.Option(help="Where results go")] = None,
    tick: Annotated[float, typer.Option(help="Instrument price tick")] = 0.01,
    lot: Annotated[float, typer.Option(help="Instrument lot size")] = 0.00001,
    memory_budget_gib: Annotated[
        float, typer.Option(help="Memory budget (plan: 24; 16 for a small host)")
    ] = 24.0,
    memory_cap_gib: Annotated[
        Optional[float], typer.Option(help="Hard address-space cap for the rerun (0: none)")
    ] = 4.0,
    decimal_speed_rows: Annotated[
        int, typer.Option(help="Values per Decimal vs int64 speed test (0 skips speeds)")
    ] = 1_000_000,
    io_repeats: Annotated[int, typer.Option(help="Repeats per Parquet I/O measurement")] = 3,
    json_out: Annotated[
        Optional[Path], typer.Option("--json", help="Write the result as JSON")
    ] = None,
    task_runner: TaskRunnerOption = "threads",
    dask_address: DaskAddressOption = None,
) -> None:
    """Story 1.2.5: the technical validation spike (Decimal128 vs int64, Parquet I/O and the
    220 GB/month rate, ...), each check with its criteria. With --task-runner dask the checks
    run on a cluster worker, one at a time."""
    from feedcheck.flows.spike import validation_spike

    if data is not None and not data.is_dir():
        _fail(f"data directory {data} does not exist")
    runner = _runner(task_runner, dask_address)
    try:
        result = validation_spike(
            data_dir=str(data) if data else None,
            hours=hours,
            report_dir=str(report_dir) if report_dir else None,
            tick=tick,
            lot=lot,
            memory_budget_gib=memory_budget_gib,
            memory_cap_gib=memory_cap_gib or None,
            decimal_speed_rows=decimal_speed_rows,
            io_repeats=io_repeats,
            **runner,
        )
    except FeedcheckError as exc:
        _fail(str(exc))
    for c in result.criteria:
        console.print(f"{c.status.value:<7} {c.name}: {c.evidence}", highlight=False)
    console.print(f"validation spike: {result.verdict.value}")
    _write_json(json_out, result.to_json())


@app.command()
def simulate(
    symbols: Annotated[str, typer.Option(help="Comma-separated Binance symbols")] = "BTCUSDT",
    port_ws: Annotated[int, typer.Option(help="WebSocket port (0 = any free port)")] = 9443,
    port_rest: Annotated[int, typer.Option(help="REST port (0 = any free port)")] = 8080,
    scenario: Annotated[Optional[Path], typer.Option(help="Fault scenario YAML/JSON")] = None,
    time_scale: Annotated[float, typer.Option(help="Exchange seconds per wall second")] = 1.0,
) -> None:
    """Run the loopback Binance exchange (combined/raw streams, REST depth and exchangeInfo) until
    Ctrl-C. Point `feedcheck capture --ws-url/--rest-url` at the URLs it prints."""
    import asyncio

    from feedcheck.binance.simulator import config_for_cli, run_simulator

    try:
        config = config_for_cli(
            _csv(symbols),
            ws_port=port_ws,
            rest_port=port_rest,
            scenario=scenario,
            time_scale=time_scale,
        )
    except (FeedcheckError, OSError, ValueError) as exc:
        _fail(str(exc))

    def on_ready(sim) -> None:
        console.print(f"websocket: {sim.ws_url}   (e.g. {sim.stream_url('btcusdt@depth@100ms')})")
        console.print(f"rest:      {sim.rest_url}/api/v3/depth?symbol=...")

    try:
        asyncio.run(run_simulator(config, on_ready=on_ready))
    except KeyboardInterrupt:
        console.print("simulator stopped")
    except OSError as exc:
        _fail(f"cannot start the simulator: {exc}")


def _parse_thresholds(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[key.strip()] = float(value)
        except ValueError:
            _fail(f"--threshold {item!r} is not NAME=NUMBER")
    return out


def _print_staged(staging: Path) -> None:
    """The download's manifest summary and schema findings, read back from what it wrote."""
    from feedcheck.flows.download import FAILURE_CASES_FILE, MANIFEST_FILE, VALIDATION_COUNTS_FILE
    from feedcheck.report.download import print_summary, staged_run

    if (staging / MANIFEST_FILE).is_file():
        run = staged_run(
            staging / MANIFEST_FILE,
            staging / FAILURE_CASES_FILE,
            validated=True,
            counts_path=staging / VALIDATION_COUNTS_FILE,
        )
        print_summary(Console(), run)


def _run_go_no_go(json_out: Path | None, staging: Path | None = None, **params: object) -> None:
    from feedcheck.cli_progress import rich_progress
    from feedcheck.flows.go_no_go import go_no_go as go_no_go_flow
    from feedcheck.report.go_no_go_render import print_go_no_go

    try:
        with rich_progress(console):
            report = go_no_go_flow(**params)
    except FeedcheckError as exc:
        _fail(str(exc))
    if staging is not None:
        _print_staged(staging)
    print_go_no_go(Console(), report)
    console.print(f"report: {report.report_dir}/report.md (and report.json, PNGs)", highlight=False)
    _write_json(json_out, report.to_json())


@app.command("go-no-go")
def go_no_go(
    demo: Annotated[
        bool, typer.Option("--demo", help="Embedded default: synthetic Lake + simulator")
    ] = False,
    reuse: Annotated[
        bool, typer.Option("--reuse", help="Judge the latest results under --reports-dir")
    ] = False,
    start: Annotated[Optional[str], typer.Option(help="First Lake day, YYYY-MM-DD")] = None,
    end: Annotated[
        Optional[str], typer.Option(help=f"Day after the last ({TODAY_EXCLUSIVE})")
    ] = None,
    symbols: Annotated[str, typer.Option(help="Comma-separated Lake symbols")] = "BTC-USDT",
    tables: Annotated[
        str, typer.Option(help="Comma-separated tables")
    ] = "trades,book,book_delta_v2",
    exchange: Annotated[str, typer.Option(help="Lake exchange name")] = "BINANCE",
    staging: Annotated[Path, typer.Option(help="Staging directory")] = Path("staging"),
    download: Annotated[
        bool, typer.Option(help="Download first (--no-download: use what is staged)")
    ] = True,
    endpoint_url: Annotated[Optional[str], typer.Option(help="S3 endpoint override")] = None,
    sample: Annotated[bool, typer.Option("--sample", help="Public sample bucket")] = False,
    bucket: Annotated[Optional[str], typer.Option(help="Bucket override")] = None,
    prefix: Annotated[Optional[str], typer.Option(help="Key prefix override")] = None,
    secret_block: Annotated[
        Optional[str], typer.Option(help="Prefect Secret block with Lake keys")
    ] = None,
    capture_dir: Annotated[Path, typer.Option(help="Recordings, one folder per regime")] = Path(
        "captures"
    ),
    spike_data: Annotated[
        Optional[Path], typer.Option(help="Lake tree for the spike (default: generate)")
    ] = None,
    spike_hours: Annotated[float, typer.Option(help="Generated spike hours at 8 M/h")] = 1.0,
    rehearsal_seconds: Annotated[
        float, typer.Option(help="--demo: length of each rehearsal capture")
    ] = 20.0,
    thresholds_file: Annotated[
        Optional[Path], typer.Option("--thresholds", help="YAML of threshold overrides")
    ] = None,
    threshold: Annotated[
        Optional[list[str]], typer.Option(help="NAME=NUMBER override (repeatable)")
    ] = None,
    reports_dir: Annotated[Path, typer.Option(help="Where reports are kept")] = Path("reports"),
    report_dir: Annotated[
        Optional[Path], typer.Option(help="This run's folder (default reports/go-no-go-<run>)")
    ] = None,
    json_out: Annotated[
        Optional[Path], typer.Option("--json", help="Write the report as JSON")
    ] = None,
    task_runner: TaskRunnerOption = "threads",
    dask_address: DaskAddressOption = None,
) -> None:
    """Epic 1's go/no-go: run (or, with --reuse, collect) download → origin-time → validation-spike
    → validate-capture and judge every criterion; GO only when all pass."""
    _run_go_no_go(
        json_out,
        staging=staging if download and not (demo or reuse) else None,
        demo=demo,
        reuse=reuse,
        start=_parse_day(start, "--start") if start else None,
        end=_parse_day(end, "--end") if end else None,
        exchange=exchange,
        symbols=_csv(symbols),
        tables=_csv(tables),
        staging_dir=str(staging),
        download_data=download,
        endpoint_url=endpoint_url,
        sample=sample,
        bucket=bucket,
        prefix=prefix,
        secret_block=secret_block,
        capture_dir=str(capture_dir),
        spike_data_dir=str(spike_data) if spike_data else None,
        spike_hours=spike_hours,
        rehearsal_capture_s=rehearsal_seconds,
        thresholds_file=str(thresholds_file) if thresholds_file else None,
        thresholds=_parse_thresholds(threshold or []) or None,
        reports_dir=str(reports_dir),
        report_dir=str(report_dir) if report_dir else None,
        **_runner(task_runner, dask_address),
    )


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Working directory for the demo")] = Path("out/demo"),
    scenario: Annotated[str, typer.Option(help="Builtin scenario name or YAML path")] = "demo",
    spike_hours: Annotated[float, typer.Option(help="Generated spike hours at 8 M/h")] = 1.0,
    rehearsal_seconds: Annotated[
        float, typer.Option(help="Length of each rehearsal capture")
    ] = 20.0,
    json_out: Annotated[
        Optional[Path], typer.Option("--json", help="Write the report as JSON")
    ] = None,
) -> None:
    """The main job on the embedded default (what `make run` runs): the whole go/no-go on synthetic
    Lake data served from a loopback S3 and rehearsal captures against the loopback Binance.
    Needs no network and no credentials; everything goes under --out (replaced each run)."""
    import shutil

    marker = out / DEMO_MARKER
    if out.exists() and any(out.iterdir()) and not marker.exists():
        _fail(f"--out {out} holds files that feedcheck demo did not write; choose another folder")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    marker.write_text("written by `feedcheck demo`; the next demo run replaces this folder\n")
    _run_go_no_go(
        json_out,
        staging=out / "staging",
        demo=True,
        demo_scenario=scenario,
        spike_hours=spike_hours,
        rehearsal_capture_s=rehearsal_seconds,
        report_dir=str(out),
    )


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
