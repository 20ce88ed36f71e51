"""Prefect tasks over `feedcheck.lake`: each wraps one library call and adds retries and logging.

Credentials travel as task inputs, so no task here hashes its inputs into a cache key (NO_CACHE).
"""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from feedcheck.errors import DataError, TransientRemoteError
from feedcheck.lake import download as lake_download
from feedcheck.lake import listing, validation
from feedcheck.lake.layout import Partition
from feedcheck.lake.listing import RemoteObject
from feedcheck.lake.manifest import ManifestEntry
from feedcheck.lake.source import Credentials, LakeSource, make_s3_client
from feedcheck.progress import Counter

_clients: dict[tuple[LakeSource, str | None], Any] = {}
_clients_lock = threading.Lock()


def lake_client(source: LakeSource, credentials: Credentials | None) -> Any:
    """One botocore client per source and key id per process: clients are thread-safe and cost
    tens of ms to build, and every mapped download task would otherwise build its own."""
    key = (source, credentials.access_key_id if credentials else None)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = make_s3_client(source, credentials)
        return _clients[key]


def retry_transient_only(task, task_run, state) -> bool:
    """Retry what can succeed next time (5xx, throttling, resets); never 403/404 or bad data."""
    try:
        state.result()
    except TransientRemoteError:
        return True
    except BaseException:  # noqa: BLE001 - anything else is final; the state keeps the exception
        return False
    return False


@task(
    name="list-lake-objects",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_transient_only,
)
def list_lake_objects(
    source: LakeSource,
    credentials: Credentials | None,
    tables: list[str],
    exchange: str,
    symbols: list[str],
    start: date,
    end: date,
) -> listing.Listing:
    found = listing.list_objects(
        lake_client(source, credentials), source, tables, exchange, symbols, start, end
    )
    get_run_logger().info(
        "listed %d objects, %d bytes, %d missing partitions in %s (%s)",
        len(found.objects),
        found.total_bytes,
        len(found.missing),
        source.describe(),
        ", ".join(f"{t}: {m}" for t, m in sorted(found.methods.items())),
    )
    return found


@task(
    name="download-lake-object",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_transient_only,
    task_run_name="download {obj.relpath}",
)
def download_lake_object(
    obj: RemoteObject,
    source: LakeSource,
    credentials: Credentials | None,
    staging_dir: Path,
    attempts: int,
    counter: Counter | None = None,
) -> ManifestEntry:
    entry = lake_download.download_object(
        lake_client(source, credentials), obj, staging_dir, attempts=attempts
    )
    if entry.status in ("corrupt", "failed"):
        get_run_logger().warning("%s: %s: %s", obj.relpath, entry.status, entry.error)
    if counter is not None:
        counter.step(f"{obj.relpath} {entry.status}")
    return entry


@task(name="validate-partition", cache_policy=NO_CACHE, task_run_name="validate {partition.label}")
def validate_staged_partition(
    partition: Partition, files: list[Path], tick: float | None, counter: Counter | None = None
) -> validation.ValidationReport:
    try:
        report = validation.validate_files(files, partition.table, partition, tick)
    except DataError as exc:
        get_run_logger().warning("%s cannot be validated: %s", partition.label, exc)
        report = validation.unusable_partition_report(partition.table, partition, exc)
    if counter is not None:
        counter.step(partition.label)
    return report
