"""`origin-time` flow (Story 1.1): is origin_time usable as the universal clock?

The story: analyse every staged partition (completeness, continuity, ordering, skew) → draw the
plots → write the JSON result the go/no-go reads → publish the report (markdown with the plots
embedded, so the Prefect UI shows them) and a per-partition table.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run as runtime_flow_run

from feedcheck.analysis.origin_time_fold import OriginTimeFold
from feedcheck.analysis.origin_time_result import (
    HOLE_MULTIPLE,
    MISSING_INVALID_MAX_PCT,
    NEGATIVE_SKEW_MAX_PCT,
    SKEW_P95_MAX_NS,
    TRADES_HOLE_NS,
    OriginTimeConfig,
    OriginTimeThresholds,
)
from feedcheck.analysis.origin_time_streams import OriginTimeResult
from feedcheck.errors import ConfigError
from feedcheck.flows.runners import DEFAULT_TASK_RUNNER, iter_partitions, scale_out
from feedcheck.lake.layout import TABLES, check_exchange, check_symbol, check_table
from feedcheck.progress import Counter
from feedcheck.report.criteria import overall_status
from feedcheck.report.origin_time import origin_time_markdown, origin_time_table_rows
from feedcheck.report.plots import png_data_uri
from feedcheck.settings import LakeSettings
from feedcheck.tasks.analysis import (
    analyse_origin_time_partition,
    analyse_origin_time_s3_partition,
    combine_origin_time,
    plan_origin_time,
    plan_origin_time_from_listing,
    write_plots,
)
from feedcheck.tasks.lake import list_lake_objects
from feedcheck.tasks.secrets import lake_credentials

RESULT_FILE = "origin_time.json"
NS_PER_MS = 1_000_000
NS_PER_MINUTE = 60_000_000_000


@task(name="write-origin-time-json", cache_policy=NO_CACHE)
def write_result_json(result: OriginTimeResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(result.to_json(), indent=1))
    tmp.replace(path)
    return path


@flow(name="origin-time", log_prints=False)
def origin_time(
    staging_dir: str = "staging",
    tables: list[str] = list(TABLES),  # noqa: B006 - Prefect copies parameters per run
    exchange: str | None = None,
    symbols: list[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    report_dir: str | None = None,
    hole_multiple: int = HOLE_MULTIPLE,
    trades_hole_minutes: float = TRADES_HOLE_NS / NS_PER_MINUTE,
    missing_invalid_max_pct: float = MISSING_INVALID_MAX_PCT,
    skew_p95_max_ms: float = SKEW_P95_MAX_NS / NS_PER_MS,
    negative_skew_max_pct: float = NEGATIVE_SKEW_MAX_PCT,
    task_runner: str = DEFAULT_TASK_RUNNER,
    dask_address: str | None = None,
    max_workers: int | None = None,
    lake_s3: bool = False,
    endpoint_url: str | None = None,
    sample: bool = False,
    bucket: str | None = None,
    prefix: str | None = None,
    secret_block: str | None = None,
) -> OriginTimeResult:
    """Story 1.1 over a staged Lake tree (`staging_dir`, Hive layout), `[start, end)` end exclusive.

    Writes `origin_time.json` and the plots into `report_dir` (default
    `reports/origin-time-<flow run name>`) and publishes the `origin-time` markdown artifact and the
    `origin-time-partitions` table. Findings never fail the run; unreadable partitions are findings.

    Partitions (table × symbol × day) are analysed one task each on `task_runner`: "threads"
    (default, `max_workers` threads, default one per core) or "dask" (the cluster at
    `dask_address`, or a local cluster of `max_workers` processes); each returns its counts and
    skew sketch, folded here into its stream's rollup as it arrives (`OriginTimeFold`: one sketch
    held per stream; exact counts; percentiles exact or within 2**-11, see `combine_partitions`).
    On a cluster, `staging_dir` must be a path every worker can read.

    `lake_s3=True` reads Crypto Lake on S3 instead of `staging_dir`, with the downloader's settings
    (`endpoint_url`, `sample`, `bucket`, `prefix`, `secret_block`, FEEDCHECK_LAKE_* env): the
    partitions of `symbols` × `[start, end)` on `exchange` (default BINANCE) are listed here and
    each worker fetches its partition's objects (verified) into a scratch directory, analyses them
    and deletes them, so no host needs a staged copy.
    """
    for t in tables:
        check_table(t)
    if exchange is not None:
        check_exchange(exchange)
    for s in symbols or []:
        check_symbol(s)
    config = OriginTimeConfig(
        hole_multiple=hole_multiple,
        trades_hole_ns=int(trades_hole_minutes * NS_PER_MINUTE),
        thresholds=OriginTimeThresholds(
            missing_invalid_max_pct=missing_invalid_max_pct,
            skew_p95_max_ns=int(skew_p95_max_ms * NS_PER_MS),
            negative_skew_max_pct=negative_skew_max_pct,
        ),
    )
    report = Path(report_dir or f"reports/origin-time-{runtime_flow_run.name or 'local'}")

    if lake_s3:
        if not symbols or start is None or end is None:
            raise ConfigError("lake_s3 needs symbols, start and end (what to list on S3)")
        overrides = dict(
            endpoint_url=endpoint_url, bucket=bucket, prefix=prefix, secret_block=secret_block
        )
        settings = LakeSettings(sample=sample, **{k: v for k, v in overrides.items() if v})
        source, credentials = settings.lake_source(), lake_credentials(settings)
        ex = exchange or "BINANCE"
        listing = list_lake_objects(source, credentials, tables, ex, symbols, start, end)
        plan = plan_origin_time_from_listing(listing, source, tables, ex, symbols, start, end)
        analyse = analyse_origin_time_s3_partition
        fixed = dict(
            config=config, source=source, credentials=credentials, attempts=settings.attempts
        )
    else:
        plan = plan_origin_time(Path(staging_dir), tables, exchange, symbols, start, end)
        analyse, fixed = analyse_origin_time_partition, dict(config=config)
    partitions = plan.partitions
    # Each summary is folded into its stream's rollup as it arrives and then dropped: this
    # process holds one skew sketch per stream, never one per partition.
    fold = OriginTimeFold(plan, config)
    with scale_out(task_runner, dask_address, max_workers=max_workers) as runner:
        for i, summary in iter_partitions(
            runner,
            analyse,
            {"partition": partitions, "files": [list(plan.found[p]) for p in partitions]},
            fixed,
            progress=Counter("origin-time", len(partitions)),
            describe=lambda r: f"{r.key} {r.status.value}",
        ):
            fold.add(partitions[i], summary)
            del summary
    result = combine_origin_time(fold)
    plots = write_plots(result, report)
    json_path = write_result_json(result, report / RESULT_FILE)

    uris = {key: png_data_uri(path.read_bytes()) for key, path in plots.items()}
    create_markdown_artifact(
        origin_time_markdown(result, uris),
        key="origin-time",
        description=f"Story 1.1: origin_time completeness and clock skew ({result.data_kind})",
    )
    create_table_artifact(
        origin_time_table_rows(result),
        key="origin-time-partitions",
        description="origin_time findings per partition",
    )
    get_run_logger().info(
        "origin-time: %d partitions, %d streams, criteria %s; result in %s",
        len(result.partitions),
        len(result.streams),
        overall_status(result.criteria).value,
        json_path,
    )
    return result
