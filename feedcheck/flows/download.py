"""`download` flow: list Crypto Lake partitions, stage them verified, validate their schemas.

The story: resolve where the data lives and who we are → list what exists for the range → download
every file (concurrently, resumable, verified) → write the manifest → validate each staged partition
→ publish the `download-manifest` table and the `download-summary` markdown.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run as runtime_flow_run

from feedcheck.flows.runners import DEFAULT_TASK_RUNNER, map_partitions, scale_out
from feedcheck.lake.layout import TABLES, Partition, check_exchange, check_symbol, check_table
from feedcheck.lake.manifest import Manifest, ManifestEntry
from feedcheck.lake.validation import write_counts
from feedcheck.progress import Counter
from feedcheck.report.download import download_summary_markdown, manifest_table_rows
from feedcheck.settings import LakeSettings
from feedcheck.tasks.lake import download_lake_object, list_lake_objects, validate_staged_partition
from feedcheck.tasks.secrets import lake_credentials

MANIFEST_FILE = "manifest.parquet"
FAILURE_CASES_FILE = "validation_failures.parquet"
#: Exact failing rows per partition and check: the failure-case file keeps only the first
#: `MAX_CASES_PER_CHECK` cases per check and column of a partition.
VALIDATION_COUNTS_FILE = "validation_counts.json"


@dataclass(frozen=True)
class DownloadOutcome:
    """What a download run staged and what validation found; the flow's return value."""

    staging_dir: str
    manifest_path: str
    summary: dict[str, Any]
    missing_partitions: list[str]
    #: partition key → failing rows per check (only checks that failed)
    validation: dict[str, dict[str, int]] = field(default_factory=dict)
    failure_cases_path: str | None = None
    #: row failure cases beyond the per-check cap, counted but not written
    cases_dropped: int = 0
    #: the Prefect flow run's name, to find its page in the UI
    flow_run: str | None = None

    @property
    def ok(self) -> bool:
        """Every listed file is staged and verified (findings in the data do not make it false)."""
        return bool(self.summary["ok"])


def _default_range(start: date | None, end: date | None, days_back: int) -> tuple[date, date]:
    end = end or datetime.now(timezone.utc).date()
    return (start or end - timedelta(days=days_back)), end


def _staged_files(manifest: Manifest, staging: Path) -> dict[Partition, list[Path]]:
    files: dict[Partition, list[Path]] = defaultdict(list)
    for entry in manifest.entries:
        if entry.ok:
            files[entry.partition].append(staging / entry.relpath)
    return dict(sorted(files.items()))


@flow(name="download", log_prints=False)
def download(
    start: date | None = None,
    end: date | None = None,
    tables: list[str] = list(TABLES),  # noqa: B006 - Prefect copies parameters per run
    exchange: str = "BINANCE",
    symbols: list[str] = ["BTC-USDT"],  # noqa: B006 - Prefect copies parameters per run
    staging_dir: str | None = None,
    endpoint_url: str | None = None,
    sample: bool = False,
    bucket: str | None = None,
    prefix: str | None = None,
    secret_block: str | None = None,
    attempts: int = 5,
    validate_schemas: bool = True,
    tick: float | None = None,
    days_back: int = 1,
    task_runner: str = DEFAULT_TASK_RUNNER,
    dask_address: str | None = None,
    max_workers: int | None = None,
) -> DownloadOutcome:
    """Stage `tables × symbols × [start, end)` (end exclusive, as Lake's client) and validate it.

    Without `start`/`end` (the scheduled `download/daily` run) it stages the `days_back` complete
    UTC days before today. `tick` (quote units, e.g. 0.01) enables the off-tick price check.
    Credentials: the Secret block named `secret_block`, else FEEDCHECK_LAKE_AWS_* env, else the
    AWS chain; `sample` reads the public sample bucket unsigned.

    Files download one task each, then partitions validate one task each, on `task_runner`:
    "threads" (default; `max_workers` threads, default the settings' concurrency, 8: downloads are
    I/O bound, one thread per GET matches the S3 client's pool) or "dask" (the cluster at
    `dask_address`, or a local cluster of `max_workers` processes). On a cluster `staging_dir` must
    be a path every worker can write and read; only manifest rows and validation counts come back.
    """
    start, end = _default_range(start, end, days_back)
    for t in tables:
        check_table(t)
    check_exchange(exchange)
    for s in symbols:
        check_symbol(s)
    overrides = dict(
        endpoint_url=endpoint_url,
        bucket=bucket,
        prefix=prefix,
        secret_block=secret_block,
        staging_dir=staging_dir,
        attempts=attempts,
    )
    settings = LakeSettings(sample=sample, **{k: v for k, v in overrides.items() if v is not None})
    source = settings.lake_source()
    credentials = lake_credentials(settings)
    staging = Path(settings.staging_dir)
    logger = get_run_logger()

    listed = list_lake_objects(source, credentials, tables, exchange, symbols, start, end)
    workers = max_workers or (settings.concurrency if task_runner == "threads" else None)
    with scale_out(task_runner, dask_address, max_workers=workers) as runner:
        # 403/404 mid-run fail their task: the first one is re-raised after every file settled.
        entries: list[ManifestEntry] = map_partitions(
            runner,
            download_lake_object,
            {"obj": list(listed.objects)},
            {
                "source": source,
                "credentials": credentials,
                "staging_dir": staging,
                "attempts": settings.attempts,
            },
            progress=Counter("download", len(listed.objects)),
            describe=lambda e: f"{e.relpath} {e.status}",
        )
        manifest = Manifest.of(entries, [p.key for p in listed.missing])
        manifest_path = manifest.write(staging / MANIFEST_FILE)

        staged = _staged_files(manifest, staging) if validate_schemas else {}
        reports = map_partitions(
            runner,
            validate_staged_partition,
            {"partition": list(staged), "files": list(staged.values())},
            {"tick": tick},
            progress=Counter("validate", len(staged)),
            describe=lambda r: r.partition.label,
        )

    validation: dict[str, dict[str, int]] = {}
    failure_cases_path = None
    cases_dropped = sum(r.cases_dropped for r in reports)
    if validate_schemas:
        validation = {r.partition.key: {c: n for c, n in r.counts.items() if n} for r in reports}
        write_counts(staging / VALIDATION_COUNTS_FILE, validation, cases_dropped)
        failures = [r.failure_cases for r in reports if r.failure_cases.height]
        if failures:
            failure_cases_path = str(staging / FAILURE_CASES_FILE)
            pl.concat(failures).write_parquet(failure_cases_path)

    summary = manifest.summary()
    create_table_artifact(
        manifest_table_rows(manifest),
        key="download-manifest",
        description=f"Crypto Lake files staged in {staging} from {source.describe()}",
    )
    create_markdown_artifact(
        download_summary_markdown(
            summary, list(manifest.missing_partitions), validation, source.describe()
        ),
        key="download-summary",
        description="Download and schema validation summary",
    )
    logger.info(
        "staged %d files, %d bytes, %d rows; ok=%s",
        summary["files"],
        summary["bytes"],
        summary["rows"],
        summary["ok"],
    )
    return DownloadOutcome(
        staging_dir=str(staging),
        manifest_path=str(manifest_path),
        summary=summary,
        missing_partitions=list(manifest.missing_partitions),
        validation=validation,
        failure_cases_path=failure_cases_path,
        cases_dropped=cases_dropped,
        flow_run=runtime_flow_run.name,
    )
