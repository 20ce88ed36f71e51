"""Download listed Lake objects into a local staging tree: verified, atomic, idempotent, resumable.

Local path = `staging_dir / obj.relpath` (the same Hive layout as the bucket, without its prefix).

Per object (`download_object`, the unit a Prefect task maps over):

1. A local file that verifies against the remote size/ETag (and has a readable footer) is
   `skipped`: no GET is made.
2. Otherwise the object streams into `<name>.part` in the final directory (a stale `.part` from a
   killed run is removed first), MD5 computed on the way, then flush + fsync, verify, `os.replace`
   onto the final name and fsync the directory. A crash leaves at worst a `.part`, never a partial
   file under the final name.
3. Transient failures (5xx, throttling, reset, short body) are retried with full-jitter exponential
   backoff; a download that fails verification is re-fetched. Both share the `attempts` budget.
   When the received bytes match a plain-MD5 ETag but the footer is unreadable, the remote object
   itself is corrupt: it is reported at once, since a re-fetch returns the same bytes.
4. 403/404 and other non-retryable errors raise (AccessDeniedError / NotFoundError naming the
   partition and key). A pre-existing local file is never deleted: it is only replaced by a
   verified download.

`download` runs `download_object` over a thread pool (botocore clients are thread-safe; size the
client's pool with `make_s3_client(..., max_pool_connections=concurrency)`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import botocore.exceptions as bex

from feedcheck.errors import ConfigError, TransientRemoteError
from feedcheck.lake.layout import Partition
from feedcheck.lake.listing import RemoteObject, list_objects
from feedcheck.lake.manifest import Manifest, ManifestEntry, Status
from feedcheck.lake.source import (
    DEFAULT_ATTEMPTS,
    DEFAULT_CONCURRENCY,
    S3_ERRORS,
    Backoff,
    LakeSource,
    exponential_backoff,
    make_s3_client,
    remote_error,
)
from feedcheck.lake.verify import FileCheck, verify_file

PART_SUFFIX = ".part"
#: Bytes read from the response per write; bounds memory per thread whatever the object size.
CHUNK_BYTES = 1 << 20

#: on_progress(entry, done, total) is called from the calling thread after each object finishes.
Progress = Callable[[ManifestEntry, int, int], None]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DownloadResult:
    """The manifest of one `download` call and its wall time in seconds."""

    manifest: Manifest
    seconds: float

    @property
    def bytes_downloaded(self) -> int:
        """Bytes fetched and kept this run (skipped files count zero)."""
        return sum(e.size_bytes for e in self.manifest.by_status("downloaded"))

    @property
    def ok(self) -> bool:
        return self.manifest.ok


def local_path(staging_dir: Path | str, obj: RemoteObject) -> Path:
    """`staging_dir / obj.relpath`; ConfigError if the relpath would escape the staging dir."""
    root = Path(staging_dir).resolve()
    target = (root / obj.relpath).resolve()
    if not target.is_relative_to(root) or target == root:
        raise ConfigError(f"object path {obj.relpath!r} escapes staging dir {root}")
    return target


def download_object(
    client: Any,
    obj: RemoteObject,
    staging_dir: Path | str,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: Backoff = exponential_backoff,
    sleep: Callable[[float], None] = time.sleep,
) -> ManifestEntry:
    """Make `staging_dir / obj.relpath` a verified copy of `obj` (see the module docstring).

    Args:
        attempts: GETs allowed in total (transient errors and failed verifications share it).
        backoff: factory of delay iterators in seconds (default: full-jitter exponential, capped).
        sleep: called with each delay; tests pass a recorder to run in ms.

    Returns:
        ManifestEntry with status skipped (attempts=0), downloaded, corrupt or failed.

    Raises:
        AccessDeniedError, NotFoundError, RemoteError: not retried; the `.part` is removed.
    """
    if attempts < 1:
        raise ConfigError(f"attempts must be >= 1, got {attempts}")
    t0 = time.perf_counter()
    final = local_path(staging_dir, obj)
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + PART_SUFFIX)

    kept_note = ""
    if final.exists():
        existing = verify_file(final, obj.size, obj.etag)
        if existing.ok:
            return _entry(obj, existing, "skipped", 0, None, t0)
        kept_note = f"; the existing local file was left in place ({existing.problem})"
    # Never resume into a .part: a killed run may have written any prefix of the object.
    part.unlink(missing_ok=True)

    delays = backoff()
    status: Status = "failed"
    check: FileCheck | None = None
    problem = ""
    attempt = 0
    try:
        for attempt in range(1, attempts + 1):
            try:
                md5_hex, checksum_problem = _fetch_to(client, obj, part)
            except TransientRemoteError as exc:
                status, check, problem = "failed", None, str(exc)
            else:
                check = verify_file(part, obj.size, obj.etag, md5_hex=md5_hex)
                if check.ok and checksum_problem is None:
                    _commit(part, final)
                    return _entry(obj, check, "downloaded", attempt, None, t0)
                part.unlink()
                problems = [p for p in (check.problem, checksum_problem) if p]
                status, problem = "corrupt", f"{obj.label}: {'; '.join(problems)}"
                if check.md5_ok is True and checksum_problem is None:
                    break
            if attempt < attempts:
                delay_s = next(delays)
                _log.warning(
                    "attempt %d/%d: %s; retrying in %.3f s", attempt, attempts, problem, delay_s
                )
                sleep(delay_s)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return _entry(obj, check, status, attempt, problem + kept_note, t0)


def _fetch_to(client: Any, obj: RemoteObject, part: Path) -> tuple[str, str | None]:
    """GET `obj` into `part` (truncating it), fsync; return the hex MD5 of the bytes written and
    the in-transit checksum problem, if any.

    When the object was stored with a flexible checksum (CRC32 etc.), botocore validates it at
    the end of the stream and raises FlexibleChecksumError on a mismatch: every byte has been
    received by then, so it is reported like a failed verification (re-fetched, then "corrupt").
    Only network calls sit inside the S3 error handlers: a local disk error is an OSError too and
    must surface as itself, not as a retryable remote failure.
    """
    details = {
        "table": obj.partition.table,
        "exchange": obj.partition.exchange,
        "symbol": obj.partition.symbol,
        "dt": obj.partition.dt.isoformat(),
        "bucket": obj.bucket,
        "key": obj.key,
    }
    try:
        body = client.get_object(Bucket=obj.bucket, Key=obj.key)["Body"]
    except S3_ERRORS as exc:
        raise remote_error(exc, obj.label, details) from exc
    digest = hashlib.md5(usedforsecurity=False)
    checksum_problem: str | None = None
    try:
        with open(part, "wb") as f:
            while True:
                try:
                    chunk = body.read(CHUNK_BYTES)
                except bex.FlexibleChecksumError as exc:
                    checksum_problem = f"checksum mismatch in transit ({exc})"
                    break
                except S3_ERRORS as exc:
                    raise remote_error(exc, obj.label, details) from exc
                if not chunk:
                    break
                f.write(chunk)
                digest.update(chunk)
            f.flush()
            os.fsync(f.fileno())
    finally:
        body.close()
    return digest.hexdigest(), checksum_problem


def _commit(part: Path, final: Path) -> None:
    os.replace(part, final)
    # The rename is durable only once the directory entry is on disk.
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _entry(
    obj: RemoteObject,
    check: FileCheck | None,
    status: Status,
    attempts: int,
    error: str | None,
    t0: float,
) -> ManifestEntry:
    p = obj.partition
    return ManifestEntry(
        relpath=obj.relpath,
        table=p.table,
        exchange=p.exchange,
        symbol=p.symbol,
        dt=p.dt,
        size_bytes=obj.size,
        etag=obj.etag,
        md5_ok=check.md5_ok if check else None,
        footer_ok=check.footer_ok if check else None,
        rows=check.rows if check and check.ok else None,
        row_groups=check.row_groups if check and check.ok else None,
        status=status,
        attempts=attempts,
        error=error or None,
        seconds=time.perf_counter() - t0,
    )


def download(
    client: Any,
    objects: Sequence[RemoteObject],
    staging_dir: Path | str,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: Backoff = exponential_backoff,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: Progress | None = None,
    missing: Iterable[Partition] = (),
) -> DownloadResult:
    """Download every object with `concurrency` threads; see `download_object` for one object.

    `missing` (gap days from the listing) is carried into the manifest. Corrupt and failed objects
    are entries, not exceptions; the first non-retryable RemoteError (403, 404) cancels the objects
    not yet started, lets running ones finish, and is raised.
    """
    if concurrency < 1:
        raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
    unique = list({o.relpath: o for o in objects}.values())
    t0 = time.perf_counter()
    entries: list[ManifestEntry] = []
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="lake-download") as pool:
        futures: list[Future[ManifestEntry]] = [
            pool.submit(
                download_object,
                client,
                o,
                staging_dir,
                attempts=attempts,
                backoff=backoff,
                sleep=sleep,
            )
            for o in unique
        ]
        try:
            for future in as_completed(futures):
                entries.append(future.result())
                if on_progress is not None:
                    on_progress(entries[-1], len(entries), len(unique))
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    manifest = Manifest.of(entries, (p.key for p in missing))
    return DownloadResult(manifest, time.perf_counter() - t0)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m feedcheck.lake.download`: list + download one range, print the summary as JSON.

    Credentials come from env (FEEDCHECK_LAKE_AWS_*, then the AWS chain), never from arguments.
    Exit 0 when every object verified, 1 when some are corrupt/failed; errors propagate.
    """
    parser = argparse.ArgumentParser(prog="python -m feedcheck.lake.download")
    parser.add_argument("--staging", type=Path, required=True)
    parser.add_argument("--tables", required=True, help="comma separated, e.g. trades,book")
    parser.add_argument("--exchange", required=True)
    parser.add_argument("--symbols", required=True, help="comma separated, e.g. BTC-USDT")
    parser.add_argument("--start", type=date.fromisoformat, required=True)
    parser.add_argument("--end", type=date.fromisoformat, required=True, help="exclusive")
    parser.add_argument("--sample", action="store_true", help="unsigned sample bucket")
    parser.add_argument("--bucket")
    parser.add_argument("--prefix")
    parser.add_argument("--endpoint-url")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--no-index", action="store_true", help="always use S3 LIST")
    parser.add_argument("--manifest", type=Path, help="write the manifest (.parquet or .json)")
    args = parser.parse_args(argv)

    make_base = LakeSource.sample if args.sample else LakeSource.vendor
    base = make_base(args.endpoint_url)
    source = LakeSource(
        args.bucket or base.bucket,
        base.prefix if args.prefix is None else args.prefix,
        base.region,
        base.endpoint_url,
        base.unsigned,
    )
    client = make_s3_client(source, None, max_pool_connections=args.concurrency)
    listing = list_objects(
        client,
        source,
        args.tables.split(","),
        args.exchange,
        args.symbols.split(","),
        args.start,
        args.end,
        use_index=not args.no_index,
        concurrency=args.concurrency,
    )
    result = download(
        client, listing.objects, args.staging, concurrency=args.concurrency, missing=listing.missing
    )
    if args.manifest is not None:
        result.manifest.write(args.manifest)
    sys.stdout.write(json.dumps(result.manifest.summary(), sort_keys=True) + "\n")
    return 0 if result.ok else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    raise SystemExit(main())
