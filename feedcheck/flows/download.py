"""`download` flow: list Crypto Lake partitions, stage them verified, validate their schemas.

The story: resolve where the data lives and who we are → list what exists for the range → download
every file (concurrently, resumable, verified) → write the manifest → validate each staged partition
→ publish the `download-manifest` table and a markdown summary.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from prefect import flow, get_run_logger, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from feedcheck.lake.layout import TABLES, Partition, check_exchange, check_symbol, check_table
from feedcheck.lake.manifest import Manifest
from feedcheck.lake.source import resolve_credentials, source_from_settings
from feedcheck.report.download import download_summary_markdown, manifest_table_rows
from feedcheck.settings import LakeSettings
from feedcheck.tasks.lake import download_lake_object, list_lake_objects, validate_staged_partition

MANIFEST_FILE = "manifest.parquet"


def _default_range(start: date | None, end: date | None, days_back: int) -> tuple[date, date]:
    today = datetime.now(timezone.utc).date()
    end = end or today
    return (start or end - timedelta(days=days_back)), end


@dataclass(frozen=True)
class DownloadOutcome:
    """What a download run staged and what validation found; the flow's return value."""

    staging_dir: str
    manifest_path: str
    summary: dict
    missing_partitions: list[str]
    validation: dict[str, dict[str, int]]  # partition key → failing rows per check
    ok: bool


@flow(name="download", log_prints=False)
def download(
    start: date | None = None,
    end: date | None = None,
    tables: list[str] = list(TABLES),
    exchange: str = "BINANCE",
    symbols: list[str] = ["BTC-USDT"],  # noqa: B006 - Prefect parameters are copied per run
    staging_dir: str | None = None,
    endpoint_url: str | None = None,
    sample: bool = False,
    bucket: str | None = None,
    prefix: str | None = None,
    secret_block: str | None = None,
    attempts: int = 5,
    validate: bool = True,
    tick: float | None = None,
    days_back: int = 1,
) -> DownloadOutcome:
    """Stage `tables × symbols × [start, end)` (end exclusive, as Lake's client) and validate it.

    Without `start`/`end` (the scheduled `download/daily` run) it stages the `days_back` complete
    UTC days before today.
    """
    start, end = _default_range(start, end, days_back)
    for t in tables:
        check_table(t)
    check_exchange(exchange)
    for s in symbols:
        check_symbol(s)
    overrides = {k: v for k, v in dict(
        endpoint_url=endpoint_url, sample=sample or None, bucket=bucket, prefix=prefix,
        secret_block=secret_block, staging_dir=staging_dir,
    ).items() if v is not None}
    settings = LakeSettings(**overrides)
    source = source_from_settings(settings)
    credentials = resolve_credentials(settings)
    staging = Path(settings.staging_dir)

    listed = list_lake_objects(source, credentials, tables, exchange, symbols, start, end)
    entries = download_lake_object.map(
        listed.objects, unmapped(source), unmapped(credentials), unmapped(staging),
        unmapped(attempts),
    ).result()
    manifest = Manifest(entries)
    manifest_path = manifest.write(staging / MANIFEST_FILE)

    validation: dict[str, dict[str, int]] = {}
    if validate:
        files_by_partition: dict[Partition, list[Path]] = defaultdict(list)
        for entry in manifest.entries:
            if entry.status in ("downloaded", "skipped"):
                files_by_partition[entry.partition].append(staging / entry.relpath)
        parts = sorted(files_by_partition)
        reports = validate_staged_partition.map(
            parts, [files_by_partition[p] for p in parts], unmapped(tick)
        ).result()
        validation = {p.key: dict(r.counts) for p, r in zip(parts, reports)}

    summary = manifest.summary()
    create_table_artifact(
        manifest_table_rows(manifest), key="download-manifest",
        description=f"Staged Crypto Lake files in {staging}",
    )
    create_markdown_artifact(
        download_summary_markdown(summary, listed.missing, validation, source.describe()),
        key="download-summary", description="Download and schema validation summary",
    )
    ok = summary["failed"] == 0 and summary["corrupt"] == 0
    get_run_logger().info("staged %d files, %d bytes; ok=%s", summary["files"], summary["bytes"], ok)
    return DownloadOutcome(
        staging_dir=str(staging),
        manifest_path=str(manifest_path),
        summary=summary,
        missing_partitions=[p.key for p in listed.missing],
        validation=validation,
        ok=ok,
    )

