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
from prefect import flow, get_run_logger, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run as runtime_flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from feedcheck.lake.layout import TABLES, Partition, check_exchange, check_symbol, check_table
from feedcheck.lake.manifest import Manifest, ManifestEntry
from feedcheck.lake.source import DEFAULT_CONCURRENCY
from feedcheck.progress import Counter
from feedcheck.report.download import download_summary_markdown, manifest_table_rows
from feedcheck.settings import LakeSettings
from feedcheck.tasks.lake import download_lake_object, list_lake_objects, validate_staged_partition
from feedcheck.tasks.secrets import lake_credentials

MANIFEST_FILE = "manifest.parquet"
FAILURE_CASES_FILE = "validation_failures.parquet"


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


# Downloads are I/O bound: one thread per concurrent GET, matched by the S3 client's pool size.
@flow(
    name="download",
    log_prints=False,
    task_runner=ThreadPoolTaskRunner(max_workers=DEFAULT_CONCURRENCY),
)
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
) -> DownloadOutcome:
    """Stage `tables × symbols × [start, end)` (end exclusive, as Lake's client) and validate it.

    Without `start`/`end` (the scheduled `download/daily` run) it stages the `days_back` complete
    UTC days before today. `tick` (quote units, e.g. 0.01) enables the off-tick price check.
    Credentials: the Secret block named `secret_block`, else FEEDCHECK_LAKE_AWS_* env, else the
    AWS chain; `sample` reads the public sample bucket unsigned.
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
    counter = Counter("download", len(listed.objects))
    futures = download_lake_object.map(
        listed.objects,
        unmapped(source),
        unmapped(credentials),
        unmapped(staging),
        unmapped(settings.attempts),
        unmapped(counter),
    )
    # 403/404 mid-run fail their task: re-raise the first one after every file has settled.
    entries: list[ManifestEntry] = [f.result() for f in futures]
    manifest = Manifest.of(entries, [p.key for p in listed.missing])
    manifest_path = manifest.write(staging / MANIFEST_FILE)

    validation: dict[str, dict[str, int]] = {}
    failure_cases_path = None
    if validate_schemas:
        staged = _staged_files(manifest, staging)
        counter = Counter("validate", len(staged))
        reports = validate_staged_partition.map(
            list(staged), list(staged.values()), unmapped(tick), unmapped(counter)
        ).result()
        validation = {r.partition.key: {c: n for c, n in r.counts.items() if n} for r in reports}
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
        flow_run=runtime_flow_run.name,
    )
