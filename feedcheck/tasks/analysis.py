"""Prefect tasks over `feedcheck.analysis`: one library call each, plus logging and progress."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from feedcheck.analysis.origin_time import analyse_staging
from feedcheck.analysis.origin_time_result import OriginTimeConfig, PartitionOriginTime
from feedcheck.analysis.origin_time_streams import OriginTimeResult
from feedcheck.progress import ProgressEvent, emit
from feedcheck.report.plots import write_origin_time_plots


@task(name="analyse-origin-time", cache_policy=NO_CACHE)
def analyse_origin_time(
    staging: Path,
    tables: list[str],
    config: OriginTimeConfig,
    exchange: str | None,
    symbols: list[str] | None,
    start: date | None,
    end: date | None,
) -> OriginTimeResult:
    logger = get_run_logger()

    def on_partition(result: PartitionOriginTime, done: int, total: int) -> None:
        label = f"{result.table}/{result.exchange}/{result.symbol}/{result.dt}"
        emit(ProgressEvent("origin-time", done, total, label))
        logger.info("%s: %s, %d rows", label, result.status.value, result.counts.rows)

    return analyse_staging(
        staging,
        tables,
        config,
        exchange=exchange,
        symbols=symbols,
        start=start,
        end=end,
        on_partition=on_partition,
    )


@task(name="write-origin-time-plots", cache_policy=NO_CACHE)
def write_plots(result: OriginTimeResult, report_dir: Path) -> dict[str, Path]:
    return write_origin_time_plots(result, report_dir)
