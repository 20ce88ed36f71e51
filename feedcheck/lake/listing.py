"""List the Lake objects to download for tables × symbols × days `[start, end)` on one exchange.

Two routes per table, as the vendor's client does:

* **index**: `{prefix}/{table}/contents.json.gz`, zlib- (or gzip-) compressed JSON
  `{"objects": [key, ...]}`. Keys may be full keys or relative to the prefix. The index has no
  sizes or ETags, so each selected key gets one HEAD (in parallel): one request per file instead
  of one LIST per symbol, and exact size/ETag for verification. An index that is missing,
  unreadable, malformed, or stale (a HEAD says 404) makes that table fall back to LIST; the
  reason is kept in `Listing.notes`.
* **list**: one paginated ListObjectsV2 per table × symbol under
  `{prefix}/{table}/exchange=EX/symbol=SYM/dt=`, starting after `dt={start}` and stopping at the
  first key with `dt >= end`, so a one-week range never pages through years of keys.

Missing data: a day with no file inside the range is a *gap* and is reported in
`Listing.missing` (Lake has such days); the download goes on. A table × symbol with no file on any
day of the range raises NoFilesFoundError (as lakeapi raises NoFilesFound).
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from feedcheck.errors import NoFilesFoundError, NotFoundError, RemoteError
from feedcheck.lake.layout import (
    ObjectKey,
    Partition,
    check_exchange,
    check_symbol,
    check_table,
    day_range,
    parse_key,
)
from feedcheck.lake.source import (
    DEFAULT_ATTEMPTS,
    DEFAULT_CONCURRENCY,
    Backoff,
    LakeSource,
    call_with_retries,
    exponential_backoff,
)
from feedcheck.lake.verify import normalise_etag

Method = Literal["index", "list"]
INDEX_NAME = "contents.json.gz"
# zlib.decompress with wbits=32+15 accepts both zlib and gzip headers.
_ZLIB_OR_GZIP_WBITS = 47
#: Keys per ListObjectsV2 request; 1000 is S3's maximum.
LIST_PAGE_SIZE = 1000


@dataclass(frozen=True)
class RemoteObject:
    """One Parquet object: full S3 `key`, Hive `relpath` (no prefix), size in bytes, bare ETag
    (quotes stripped), and the `bucket` it lives in, so one object is enough to fetch it."""

    key: str
    relpath: str
    partition: Partition
    size: int
    etag: str
    bucket: str

    @property
    def label(self) -> str:
        """`trades BINANCE BTC-USDT 2024-01-01 (s3 key ...)`: used in errors and logs."""
        return f"{self.partition.label} ({self.key})"


@dataclass(frozen=True)
class Listing:
    """What `list_objects` found. `objects` sorted by relpath; `missing` are gap days in range."""

    objects: tuple[RemoteObject, ...]
    missing: tuple[Partition, ...]
    methods: dict[str, Method] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(o.size for o in self.objects)


@dataclass(frozen=True)
class _Retry:
    attempts: int
    backoff: Backoff
    sleep: Callable[[float], None]

    def call(self, fn: Callable[[], Any], what: str, details: dict[str, str]) -> Any:
        return call_with_retries(
            fn,
            what=what,
            details=details,
            attempts=self.attempts,
            backoff=self.backoff,
            sleep=self.sleep,
        )


def list_objects(
    client: Any,
    source: LakeSource,
    tables: Sequence[str],
    exchange: str,
    symbols: Sequence[str],
    start: date,
    end: date,
    *,
    use_index: bool = True,
    concurrency: int = DEFAULT_CONCURRENCY,
    page_size: int = LIST_PAGE_SIZE,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: Backoff = exponential_backoff,
    sleep: Callable[[float], None] = time.sleep,
) -> Listing:
    """List objects of `tables × symbols` on `exchange` for days in `[start, end)` (end exclusive).

    Transient S3 failures are retried (`attempts` calls per request, delays from `backoff`).
    `concurrency` bounds parallel HEADs on the index route; `page_size` is keys per LIST call.

    Raises:
        ConfigError: bad table/exchange/symbol or an empty date range.
        NoFilesFoundError: a table × symbol has no file on any day of the range.
        AccessDeniedError / NotFoundError / TransientRemoteError: the bucket refused or failed;
            each names the table/exchange/symbol/days (or the object) and never the credentials.
    """
    days = day_range(start, end)
    check_exchange(exchange)
    wanted_symbols = tuple(check_symbol(s) for s in symbols)
    retry = _Retry(attempts, backoff, sleep)
    found: list[RemoteObject] = []
    methods: dict[str, Method] = {}
    notes: list[str] = []
    for table in dict.fromkeys(check_table(t) for t in tables):
        objects: list[RemoteObject] | None = None
        if use_index:
            objects, note = _list_from_index(
                client, source, table, exchange, wanted_symbols, start, end, retry, concurrency
            )
            if note:
                notes.append(note)
        if objects is None:
            objects = [
                obj
                for symbol in wanted_symbols
                for obj in _list_symbol(
                    client, source, table, exchange, symbol, start, end, retry, page_size
                )
            ]
            methods[table] = "list"
        else:
            methods[table] = "index"
        found.extend(objects)

    days_found: dict[tuple[str, str], set[date]] = {}
    for o in found:
        days_found.setdefault((o.partition.table, o.partition.symbol), set()).add(o.partition.dt)
    missing: list[Partition] = []
    for table in methods:
        for symbol in wanted_symbols:
            have = days_found.get((table, symbol), set())
            if not have:
                what = f"{table} {exchange} {symbol} [{start.isoformat()}, {end.isoformat()})"
                raise NoFilesFoundError(
                    what,
                    f"no files in {source.url} for any day of the range (end exclusive)",
                    None,
                    {
                        "table": table,
                        "exchange": exchange,
                        "symbol": symbol,
                        "start": start.isoformat(),
                        "end": end.isoformat(),
                        "method": methods[table],
                    },
                )
            missing.extend(Partition(table, exchange, symbol, d) for d in days if d not in have)
    ordered = tuple(sorted(found, key=lambda o: o.relpath))
    return Listing(ordered, tuple(sorted(missing)), methods, tuple(notes))


def _selected(
    relpath: str, table: str, exchange: str, symbols: Sequence[str], start: date, end: date
) -> ObjectKey | None:
    parsed = parse_key(relpath)
    if parsed is None:
        return None
    p = parsed.partition
    if p.table != table or p.exchange != exchange or p.symbol not in symbols:
        return None
    if not start <= p.dt < end:
        return None
    return parsed


def _list_symbol(
    client: Any,
    source: LakeSource,
    table: str,
    exchange: str,
    symbol: str,
    start: date,
    end: date,
    retry: _Retry,
    page_size: int,
) -> list[RemoteObject]:
    symbol_root = source.key_for(f"{table}/exchange={exchange}/symbol={symbol}")
    days = f"[{start.isoformat()}, {end.isoformat()})"
    what = f"{table} {exchange} {symbol} {days} under {source.url}"
    details = {
        "table": table,
        "exchange": exchange,
        "symbol": symbol,
        "bucket": source.bucket,
        "prefix": symbol_root + "/dt=",
    }

    def pages() -> list[RemoteObject]:
        out: list[RemoteObject] = []
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=source.bucket,
            Prefix=f"{symbol_root}/dt=",
            # Every key of day `start` sorts after this, every earlier day before it.
            StartAfter=f"{symbol_root}/dt={start.isoformat()}",
            PaginationConfig={"PageSize": page_size},
        ):
            for item in page.get("Contents", []):
                parsed = parse_key(item["Key"])
                if parsed is not None and parsed.partition.dt >= end:
                    return out
                picked = _selected(item["Key"], table, exchange, (symbol,), start, end)
                if picked is not None:
                    out.append(
                        RemoteObject(
                            item["Key"],
                            picked.relpath,
                            picked.partition,
                            int(item["Size"]),
                            normalise_etag(item["ETag"]) or "",
                            source.bucket,
                        )
                    )
        return out

    # A transient failure mid-pagination restarts this symbol's listing from the first page.
    return retry.call(pages, what, details)


def read_contents_index(client: Any, source: LakeSource, table: str, retry: _Retry) -> list[str]:
    """Keys in the table's `contents.json.gz`. Raises RemoteError, or ValueError when malformed."""
    key = source.index_key(table)
    details = {"table": table, "bucket": source.bucket, "key": key}

    def fetch() -> bytes:
        return client.get_object(Bucket=source.bucket, Key=key)["Body"].read()

    raw = retry.call(fetch, f"listing index s3://{source.bucket}/{key}", details)
    try:
        doc = json.loads(zlib.decompress(raw, _ZLIB_OR_GZIP_WBITS))
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"index s3://{source.bucket}/{key} is not compressed JSON: {exc}") from exc
    objects = doc.get("objects") if isinstance(doc, dict) else None
    if not isinstance(objects, list) or not all(isinstance(k, str) for k in objects):
        raise ValueError(f"index s3://{source.bucket}/{key} has no 'objects' list of keys")
    return objects


def _list_from_index(
    client: Any,
    source: LakeSource,
    table: str,
    exchange: str,
    symbols: Sequence[str],
    start: date,
    end: date,
    retry: _Retry,
    concurrency: int,
) -> tuple[list[RemoteObject] | None, str | None]:
    """Objects via the index plus one HEAD each; (None, reason) when LIST must be used instead."""
    try:
        keys = read_contents_index(client, source, table, retry)
    except (RemoteError, ValueError) as exc:
        return None, f"{table}: index unusable ({exc}); listed with S3 LIST"
    prefix = f"{source.prefix}/" if source.prefix else ""
    picked: list[ObjectKey] = []
    for entry in dict.fromkeys(keys):
        relpath = entry[len(prefix) :] if prefix and entry.startswith(prefix) else entry
        parsed = _selected(relpath, table, exchange, symbols, start, end)
        if parsed is not None and parsed.relpath == relpath:
            picked.append(parsed)

    def head(parsed: ObjectKey) -> RemoteObject:
        key = source.key_for(parsed.relpath)
        details = {
            "table": table,
            "exchange": exchange,
            "symbol": parsed.partition.symbol,
            "dt": parsed.partition.dt.isoformat(),
            "bucket": source.bucket,
            "key": key,
        }
        meta = retry.call(
            lambda: client.head_object(Bucket=source.bucket, Key=key),
            f"{parsed.partition.label} ({key})",
            details,
        )
        return RemoteObject(
            key,
            parsed.relpath,
            parsed.partition,
            int(meta["ContentLength"]),
            normalise_etag(meta["ETag"]) or "",
            source.bucket,
        )

    try:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            return list(pool.map(head, picked)), None
    except NotFoundError as exc:
        return None, f"{table}: index is stale ({exc}); listed with S3 LIST"


def build_contents_index(keys: Sequence[str]) -> bytes:
    """The bytes of a vendor-style index: zlib-compressed `{"objects": [keys...]}`, keys sorted."""
    return zlib.compress(json.dumps({"objects": sorted(keys)}).encode())


def write_contents_index(client: Any, source: LakeSource, table: str) -> list[str]:
    """Publish `{prefix}/{table}/contents.json.gz` listing every Parquet key under the table, as
    the vendor does (full keys, prefix included). For tests and the demo. Returns the keys."""
    check_table(table)
    root = source.key_for(table) + "/"
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=source.bucket, Prefix=root):
        keys.extend(item["Key"] for item in page.get("Contents", []) if parse_key(item["Key"]))
    client.put_object(
        Bucket=source.bucket, Key=source.index_key(table), Body=build_contents_index(keys)
    )
    return sorted(keys)
