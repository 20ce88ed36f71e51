"""A real S3 API on loopback (moto's server) for the demo and the tests, plus helpers to fill it.

moto keeps its state in process-wide backends: every server started in one process serves the
same buckets. `reset_server` wipes them (tests call it between cases); `set_auth_enforced` turns
moto's signature/IAM checks on or off, again for the whole process.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from moto.server import ThreadedMotoServer

from feedcheck.lake.layout import parse_key
from feedcheck.lake.listing import write_contents_index
from feedcheck.lake.source import Credentials, LakeSource, make_s3_client

LOOPBACK = "127.0.0.1"
#: Credentials moto accepts while auth is off; never valid anywhere else.
MOTO_ACCESS_KEY_ID = "testing"
MOTO_SECRET_ACCESS_KEY = "testing"
_INDEX_NAME = "contents.json.gz"


@contextmanager
def moto_s3_server(host: str = LOOPBACK, port: int = 0, *, quiet: bool = True) -> Iterator[str]:
    """Run moto's threaded server on `host:port` (port 0 = a free port) and yield its endpoint
    URL, e.g. `http://127.0.0.1:40123`. When the block exits the server wipes what it held
    (moto's state is process-wide: the next server would serve it too) and stops.

    quiet: silence werkzeug's per-request access log (it goes to stderr otherwise).
    """
    if quiet:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    try:
        bound_host, bound_port = server.get_host_and_port()
        endpoint = f"http://{bound_host}:{bound_port}"
        yield endpoint
    finally:
        try:
            reset_server(endpoint)
            set_auth_enforced(endpoint, False)
        finally:
            server.stop()


def _post(endpoint_url: str, path: str, body: bytes) -> bytes:
    request = urllib.request.Request(
        endpoint_url + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def reset_server(endpoint_url: str) -> None:
    """Delete every bucket, IAM user and policy moto holds (in this whole process)."""
    _post(endpoint_url, "/moto-api/reset", b"")


def set_auth_enforced(endpoint_url: str, enforced: bool) -> None:
    """Make moto check signatures and IAM permissions on every request (or stop checking).

    With auth on, requests signed with unknown keys get 403 InvalidAccessKeyId and wrong secrets
    403 SignatureDoesNotMatch, exactly like S3.
    """
    _post(endpoint_url, "/moto-api/reset-auth", b"0" if enforced else b"inf")


def ensure_bucket(client: Any, bucket: str, region: str) -> None:
    """Create `bucket` in `region` unless it exists."""
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket in existing:
        return
    if region == "us-east-1":
        client.create_bucket(Bucket=bucket)
    else:
        client.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
        )


def upload_tree(client: Any, local_root: Path | str, bucket: str, prefix: str = "") -> list[str]:
    """Upload a local Lake tree to `s3://bucket/prefix/...`, keeping its relative paths.

    Uploads Hive Parquet files (`table/exchange=../symbol=../dt=../*.parquet`) and per-table
    `table/contents.json.gz` indexes; anything else (ground truth, `.part` files) stays local.
    The bucket must exist (see `ensure_bucket`). Returns the uploaded keys, sorted.
    """
    root = Path(local_root)
    keys: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relpath = path.relative_to(root).as_posix()
        is_index = relpath.count("/") == 1 and relpath.endswith("/" + _INDEX_NAME)
        parsed = parse_key(relpath)
        if not is_index and (parsed is None or parsed.relpath != relpath):
            continue
        key = f"{prefix}/{relpath}" if prefix else relpath
        with open(path, "rb") as body:
            client.put_object(Bucket=bucket, Key=key, Body=body)
        keys.append(key)
    return keys


def publish_tree(
    endpoint_url: str,
    local_root: Path | str,
    bucket: str,
    prefix: str = "",
    *,
    region: str = "eu-west-1",
    index: bool = True,
) -> list[str]:
    """Serve a local Lake tree from the S3 server at `endpoint_url` as the vendor lays it out:
    create `bucket`, upload the tree under `prefix`, and (index=True) publish each table's
    `contents.json.gz`. Uses moto's placeholder keys. Returns the uploaded Parquet keys, sorted.
    """
    source = LakeSource(bucket, prefix, region, endpoint_url)
    client = make_s3_client(source, Credentials(MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY))
    ensure_bucket(client, bucket, region)
    uploaded = upload_tree(client, local_root, bucket, prefix)
    keys = [k for k in uploaded if not k.endswith(_INDEX_NAME)]
    if index:
        tables = {parsed.partition.table for k in keys if (parsed := parse_key(k)) is not None}
        for table in sorted(tables):
            write_contents_index(client, source, table)
    return sorted(keys)
