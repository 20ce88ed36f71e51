"""Prefect tasks over `feedcheck.lake`: each wraps one library call and adds retries and logging."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from feedcheck.errors import TransientRemoteError
from feedcheck.lake import download as lake_download
from feedcheck.lake import listing, validation
from feedcheck.lake.layout import Partition
from feedcheck.lake.listing import RemoteObject
from feedcheck.lake.manifest import ManifestEntry
from feedcheck.lake.source import Credentials, LakeSource, make_s3_client


def _retry_transient_only(task, task_run, state) -> bool:
    """Retry what can succeed next time (5xx, throttling, resets); never 403/404 or corrupt data."""
    try:
        state.result()
    except TransientRemoteError:
        return True
    except Exception:  # any other failure is final; the state keeps the exception for the flow
        return False
    return False


# Credentials travel as task inputs, so no task here may hash its inputs into a cache key.
@task(name="list-lake-objects", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[1, 4, 16],
      retry_condition_fn=_retry_transient_only)
def list_lake_objects(
    source: LakeSource,
    credentials: Credentials | None,
    tables: list[str],
    exchange: str,
    symbols: list[str],
    start,
    end,
) -> listing.Listing:
    client = make_s3_client(source, credentials)
    found = listing.list_objects(client, source, tables, exchange, symbols, start, end)
    get_run_logger().info(
        "listed %d objects (%d missing partitions) in %s", len(found.objects), len(found.missing),
        source.describe(),
    )
    return found


@task(name="download-lake-object", cache_policy=NO_CACHE, retries=3,
      retry_delay_seconds=[2, 8, 32], retry_jitter_factor=0.5,
      retry_condition_fn=_retry_transient_only, task_run_name="download {obj.relpath}")
def download_lake_object(
    obj: RemoteObject,
    source: LakeSource,
    credentials: Credentials | None,
    staging_dir: Path,
    attempts: int,
) -> ManifestEntry:
    client = make_s3_client(source, credentials)
    entry = lake_download.download_object(client, obj, staging_dir, attempts=attempts)
    get_run_logger().info("%s: %s (%d bytes)", obj.relpath, entry.status, entry.size_bytes)
    return entry


@task(name="validate-partition", cache_policy=NO_CACHE,
      task_run_name="validate {partition.label}")
def validate_staged_partition(
    partition: Partition, files: list[Path], tick: float | None
) -> validation.ValidationReport:
    return validation.validate_files(files, partition.table, partition, tick)
