"""Fixtures and builders for the Lake S3 tests: a real moto server on loopback and small Parquet
files written with pyarrow in Lake's Hive layout (independent of the synthetic generator).

Import the fixtures into a test module: `from tests.lake.s3_fixtures import moto_endpoint, s3`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from feedcheck.lake.layout import Partition
from feedcheck.lake.source import Credentials, LakeSource, make_s3_client
from feedcheck.testing.s3_server import (
    MOTO_ACCESS_KEY_ID,
    MOTO_SECRET_ACCESS_KEY,
    ensure_bucket,
    moto_s3_server,
    reset_server,
    set_auth_enforced,
    upload_tree,
)

EXCHANGE = "BINANCE"
SYMBOL = "BTC-USDT"
DAY0 = date(2024, 1, 1)
#: 2024-01-01 00:00:00 UTC in ns.
DAY0_NS = 1_704_067_200_000_000_000
ADMIN = Credentials(MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY)


@dataclass(frozen=True)
class LocalFile:
    """A file written by `build_tree`: its Hive relpath, bytes on disk, MD5 and Parquet shape."""

    relpath: str
    size: int
    md5: str
    rows: int
    row_groups: int


def write_table_file(path: Path, table: str, rows: int, seed: int, row_group_rows: int) -> None:
    """A small Parquet file with the table's raw Lake columns; content depends only on the args."""
    i = pa.array(range(rows), pa.int64())
    ts = pc.add(pc.multiply(i, 1_000_000), DAY0_NS + seed * 86_400_000_000_000)
    recv = pc.add(ts, 5_000_000)
    price = pc.add(pc.multiply(pc.cast(i, pa.float64()), 0.01), 42_000.0 + seed)
    if table == "trades":
        columns = {
            "side": pa.array(["buy" if k % 3 else "sell" for k in range(rows)]),
            "amount": pc.add(pc.cast(i, pa.float64()), 0.5),
            "price": price,
            "id": pc.add(i, 3_000_000_000 + seed * 1_000_000),
            "timestamp": ts,
            "receipt_timestamp": recv,
        }
    else:
        columns = {
            "timestamp": ts,
            "receipt_timestamp": recv,
            "sequence_number": pc.add(i, 25_000_000_000),
            "side_is_bid": pa.array([k % 2 == 0 for k in range(rows)]),
            "price": price,
            "size": pc.cast(i, pa.float64()),
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path, compression="snappy", row_group_size=row_group_rows)


def build_tree(
    root: Path,
    *,
    tables: Sequence[str] = ("trades",),
    symbols: Sequence[str] = (SYMBOL,),
    days: int = 3,
    first_day: date = DAY0,
    rows: int = 300,
    row_group_rows: int = 100,
    skip: Sequence[tuple[str, str, date]] = (),
) -> dict[str, LocalFile]:
    """One `1.snappy.parquet` per table × symbol × day (minus `skip`), keyed by relpath."""
    out: dict[str, LocalFile] = {}
    for t_i, table in enumerate(tables):
        for s_i, symbol in enumerate(symbols):
            for d in range(days):
                dt = first_day + timedelta(days=d)
                if (table, symbol, dt) in skip:
                    continue
                partition = Partition(table, EXCHANGE, symbol, dt)  # type: ignore[arg-type]
                relpath = f"{partition.path}/1.snappy.parquet"
                path = root / relpath
                write_table_file(
                    path,
                    table,
                    rows + d,
                    seed=d + 10 * s_i + 100 * t_i,
                    row_group_rows=row_group_rows,
                )
                data = path.read_bytes()
                out[relpath] = LocalFile(
                    relpath,
                    len(data),
                    hashlib.md5(data).hexdigest(),
                    rows + d,
                    -(-(rows + d) // row_group_rows),
                )
    return out


def publish(client: Any, root: Path, source: LakeSource) -> list[str]:
    """Create the bucket and upload the tree under the source's prefix (no index)."""
    ensure_bucket(client, source.bucket, source.region)
    return upload_tree(client, root, source.bucket, source.prefix)


#: AWS authorises HEAD with s3:GetObject; moto evaluates it as the pseudo-action s3:HeadObject,
#: so the policies below name both to behave like S3 does.
_READ_ACTIONS = ["s3:GetObject", "s3:HeadObject"]


def allow_public_read(client: Any, bucket: str) -> None:
    """A bucket policy like the public sample bucket's: anyone may list and get."""
    client.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": _READ_ACTIONS,
                        "Resource": [f"arn:aws:s3:::{bucket}/*"],
                    },
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": ["s3:ListBucket"],
                        "Resource": [f"arn:aws:s3:::{bucket}"],
                    },
                ],
            }
        ),
    )


def deny_get(client: Any, bucket: str, key_prefix: str) -> None:
    """A bucket policy denying GetObject under `key_prefix`: S3 answers 403 for GET and HEAD."""
    client.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": _READ_ACTIONS,
                        "Resource": [f"arn:aws:s3:::{bucket}/{key_prefix}*"],
                    }
                ],
            }
        ),
    )


class GetCounter:
    """Counts GetObject calls made through a client (botocore's before-call event)."""

    def __init__(self, client: Any) -> None:
        self.calls = 0
        client.meta.events.register("before-call.s3.GetObject", self._on_call)

    def _on_call(self, **_: Any) -> None:
        self.calls += 1


@dataclass(frozen=True)
class S3Env:
    endpoint: str
    source: LakeSource
    admin: Any

    def client(self, endpoint: str | None = None, **kwargs: Any) -> Any:
        """A Lake client on the vendor source, optionally through another endpoint (a proxy)."""
        src = LakeSource.vendor(endpoint or self.endpoint)
        return make_s3_client(src, kwargs.pop("credentials", ADMIN), **kwargs)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(moto_endpoint: str) -> Iterator[S3Env]:
    """A wiped moto server with auth off; the vendor source pointed at it; an admin client."""
    reset_server(moto_endpoint)
    set_auth_enforced(moto_endpoint, False)
    source = LakeSource.vendor(moto_endpoint)
    yield S3Env(moto_endpoint, source, make_s3_client(source, ADMIN))
    set_auth_enforced(moto_endpoint, False)


def create_subscriber(endpoint: str, user: str = "lake-subscriber") -> Credentials:
    """A real IAM user on the moto server allowed to list and read every bucket, and its new key
    pair (what a Lake subscription hands out). Enable moto's auth afterwards to make it matter."""
    import boto3

    iam = boto3.session.Session(
        aws_access_key_id=ADMIN.access_key_id,
        aws_secret_access_key=ADMIN.secret_access_key.get_secret_value(),
    ).client("iam", endpoint_url=endpoint, region_name="us-east-1")
    iam.create_user(UserName=user)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": "*"}
        ],
    }
    iam.put_user_policy(UserName=user, PolicyName="lake-read", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])
