"""Prefect tasks over `feedcheck.analysis`: one library call each, plus logging and progress."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from feedcheck.analysis.origin_time import (
    StagingPlan,
    analyse_found_partition,
    plan_from_found,
    plan_staging,
    unreadable_partition,
)
from feedcheck.analysis.origin_time_fold import OriginTimeFold
from feedcheck.analysis.origin_time_result import OriginTimeConfig, PartitionOriginTime
from feedcheck.analysis.origin_time_streams import OriginTimeResult
from feedcheck.errors import CorruptFileError
from feedcheck.lake import download as lake_download
from feedcheck.lake.layout import Partition
from feedcheck.lake.listing import Listing, RemoteObject
from feedcheck.lake.source import Credentials, LakeSource
from feedcheck.report.plots import write_origin_time_plots
from feedcheck.tasks.lake import lake_client


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
def combine_origin_time(fold: OriginTimeFold) -> OriginTimeResult:
    """The run's result from its partitions, folded in the flow's process as they arrived."""
    return fold.result()


@task(name="plan-origin-time-s3", cache_policy=NO_CACHE)
def plan_origin_time_from_listing(
    listing: Listing,
    source: LakeSource,
    tables: list[str],
    exchange: str,
    symbols: list[str],
    start: date,
    end: date,
) -> StagingPlan:
    """The plan over Lake objects listed on S3: each partition's files are `RemoteObject`s."""
    found: dict[Partition, list[RemoteObject]] = {}
    for obj in listing.objects:
        found.setdefault(obj.partition, []).append(obj)
    return plan_from_found(
        source.url, "lake", tables, found, exchange=exchange, symbols=symbols, start=start, end=end
    )


@task(
    name="analyse-origin-time-s3-partition",
    cache_policy=NO_CACHE,
    retries=1,
    retry_delay_seconds=5,
    task_run_name="origin-time {partition.label} (s3)",
)
def analyse_origin_time_s3_partition(
    partition: Partition,
    files: list[RemoteObject],
    config: OriginTimeConfig,
    source: LakeSource,
    credentials: Credentials | None,
    attempts: int,
) -> PartitionOriginTime:
    """One partition read straight from S3 by whichever worker runs this: its objects are fetched
    (verified, as the downloader does, same endpoint and credentials) into a scratch directory of
    the worker, analysed, and deleted. No staging copy is needed anywhere."""
    client = lake_client(source, credentials)
    with tempfile.TemporaryDirectory(prefix="feedcheck-ot-") as scratch:
        local = []
        for obj in files:
            entry = lake_download.download_object(client, obj, scratch, attempts=attempts)
            if not entry.ok:
                error = CorruptFileError(obj.key, f"{entry.status}: {entry.error}")
                return unreadable_partition(partition, error)
            local.append(lake_download.local_path(scratch, obj))
        result = analyse_found_partition(local, partition, config)
    get_run_logger().info(
        "%s (s3): %s, %d rows", partition.label, result.status.value, result.counts.rows
    )
    return result
