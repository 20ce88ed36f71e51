"""`backfill` flow: one month of Crypto Lake staged, validated and analysed on a Dask cluster.

The story: pick the month (default: the last complete UTC month) → stage it with the `download`
flow → run Story 1.1 (`origin-time`) over it, both fanned out per partition on the same runner
(by default a Dask cluster: `dask_address`, or a local cluster when none is given) → return both
outcomes. The plan sizes a month at 220 GB; see README "Scale-out" for the measured rates.

Deployment `backfill/monthly` (prefect.yaml) runs it on the 2nd of each month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from prefect import flow, get_run_logger

from feedcheck.analysis.origin_time_streams import OriginTimeResult
from feedcheck.errors import ConfigError
from feedcheck.flows.download import DownloadOutcome, download
from feedcheck.flows.origin_time import origin_time
from feedcheck.flows.runners import scale_out_parameters
from feedcheck.lake.layout import TABLES
from feedcheck.report.criteria import overall_status


def month_range(month: str | None, today: date | None = None) -> tuple[date, date]:
    """`[first day, first day of the next month)` of `month` ("YYYY-MM"); None: the last complete
    UTC month before `today` (default: today, UTC).

    Raises:
        ConfigError: `month` is not YYYY-MM.
    """
    if month is None:
        today = today or datetime.now(timezone.utc).date()
        year, mon = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    else:
        try:
            first = datetime.strptime(month, "%Y-%m").date()
        except ValueError as exc:
            raise ConfigError(f"month {month!r} is not YYYY-MM") from exc
        year, mon = first.year, first.month
    start = date(year, mon, 1)
    end = date(year + 1, 1, 1) if mon == 12 else date(year, mon + 1, 1)
    return start, end


@dataclass(frozen=True)
class BackfillOutcome:
    """What a backfill staged and what Story 1.1 found on it."""

    start: date
    end: date
    download: DownloadOutcome
    origin_time: OriginTimeResult


@flow(name="backfill", log_prints=False)
def backfill(
    month: str | None = None,
    tables: list[str] = list(TABLES),  # noqa: B006 - Prefect copies parameters per run
    exchange: str = "BINANCE",
    symbols: list[str] = ["BTC-USDT"],  # noqa: B006 - Prefect copies parameters per run
    staging_dir: str = "staging",
    report_dir: str | None = None,
    endpoint_url: str | None = None,
    sample: bool = False,
    bucket: str | None = None,
    prefix: str | None = None,
    secret_block: str | None = None,
    task_runner: str = "dask",
    dask_address: str | None = None,
    max_workers: int | None = None,
) -> BackfillOutcome:
    """Stage and analyse `month` ("YYYY-MM", default the last complete UTC month) of `tables` ×
    `symbols`. Runs on `task_runner` ("dask" by default: the cluster at `dask_address`, or a local
    one of `max_workers` processes; "threads" for one machine). On a cluster `staging_dir` must be
    a path every worker shares. Credentials as the `download` flow."""
    start, end = month_range(month)
    runner = scale_out_parameters(task_runner, dask_address)
    staged = download(
        start=start,
        end=end,
        tables=tables,
        exchange=exchange,
        symbols=symbols,
        staging_dir=staging_dir,
        endpoint_url=endpoint_url,
        sample=sample,
        bucket=bucket,
        prefix=prefix,
        secret_block=secret_block,
        max_workers=max_workers,
        **runner,
    )
    analysed = origin_time(
        staging_dir=staging_dir,
        tables=tables,
        exchange=exchange,
        symbols=symbols,
        start=start,
        end=end,
        report_dir=report_dir,
        max_workers=max_workers,
        **runner,
    )
    get_run_logger().info(
        "backfill %s..%s: %d files, %d bytes staged (ok=%s); origin-time criteria %s",
        start,
        end,
        staged.summary["files"],
        staged.summary["bytes"],
        staged.ok,
        overall_status(analysed.criteria).value,
    )
    return BackfillOutcome(start, end, staged, analysed)
