"""Prefect tasks over `feedcheck.analysis`: one library call each, plus logging and progress."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from feedcheck.analysis.origin_time import (
    StagingPlan,
    analyse_found_partition,
    combine_partitions,
    plan_staging,
)
from feedcheck.analysis.origin_time_result import OriginTimeConfig, PartitionOriginTime
from feedcheck.analysis.origin_time_streams import OriginTimeResult
from feedcheck.lake.layout import Partition
from feedcheck.report.plots import write_origin_time_plots


@task(name="write-origin-time-plots", cache_policy=NO_CACHE)
def write_plots(result: OriginTimeResult, report_dir: Path) -> dict[str, Path]:
    return write_origin_time_plots(result, report_dir)


@task(name="plan-origin-time", cache_policy=NO_CACHE)
def plan_origin_time(
    staging: Path,
    tables: list[str],
    exchange: str | None,
    symbols: list[str] | None,
    start: date | None,
    end: date | None,
) -> StagingPlan:
    plan = plan_staging(staging, tables, exchange=exchange, symbols=symbols, start=start, end=end)
    get_run_logger().info(
        "origin-time: %d partitions of %d streams over %d days in %s",
        len(plan.found),
        len(plan.streams),
        len(plan.days),
        staging,
    )
    return plan


# Retries: a partition lost with its worker is resubmitted by Dask itself; these cover a task
# that failed for a reason a second try can fix (a shared path briefly unavailable).
@task(
    name="analyse-origin-time-partition",
    cache_policy=NO_CACHE,
    retries=1,
    retry_delay_seconds=5,
    task_run_name="origin-time {partition.label}",
)
def analyse_origin_time_partition(
    partition: Partition, files: list[Path], config: OriginTimeConfig
) -> PartitionOriginTime:
    """One partition, wherever the runner puts it; returns its summary and skew sketch only."""
    result = analyse_found_partition(files, partition, config)
    get_run_logger().info(
        "%s: %s, %d rows", partition.label, result.status.value, result.counts.rows
    )
    return result


@task(name="combine-origin-time", cache_policy=NO_CACHE)
def combine_origin_time(
    plan: StagingPlan,
    partitions: list[Partition],
    results: list[PartitionOriginTime],
    config: OriginTimeConfig,
) -> OriginTimeResult:
    """`results[i]` is the summary of `partitions[i]`; merged in the flow's process."""
    return combine_partitions(plan, dict(zip(partitions, results, strict=True)), config)
