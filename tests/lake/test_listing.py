"""feedcheck.lake.listing and source: index and LIST routes, ranges, gaps, error mapping, against
a real moto S3 server on loopback (faults through a real HTTP proxy)."""

from __future__ import annotations

import gzip
import itertools
import json
import zlib
from datetime import date
from pathlib import Path
from typing import Any

import botocore.exceptions as bex
import pytest

from feedcheck.errors import (
    AccessDeniedError,
    ConfigError,
    NoFilesFoundError,
    NotFoundError,
    RemoteError,
    TransientRemoteError,
)
from feedcheck.lake.layout import Partition
from feedcheck.lake.listing import (
    Listing,
    build_contents_index,
    list_objects,
    write_contents_index,
)
from feedcheck.lake.source import (
    ENV_ACCESS_KEY_ID,
    ENV_SECRET_ACCESS_KEY,
    Credentials,
    LakeSource,
    exponential_backoff,
    make_s3_client,
    remote_error,
    resolve_credentials,
)
from feedcheck.testing.fault_proxy import Fault, FaultProxy
from feedcheck.testing.s3_server import publish_tree, set_auth_enforced
from tests.lake.s3_fixtures import (
    EXCHANGE,
    SYMBOL,
    S3Env,
    allow_public_read,
    build_tree,
    create_subscriber,
    deny_get,
    publish,
)

D = [date(2024, 1, d) for d in range(1, 7)]
NO_WAIT: dict[str, Any] = {"backoff": lambda: itertools.repeat(0.0), "sleep": lambda _s: None}
PREFIXED = "s3://qnt.data/market-data/cryptofeed"


def _list(s3: S3Env, tables: list[str], start: date, end: date, **kw: Any) -> Listing:
    client = kw.pop("client", s3.admin)
    symbols = kw.pop("symbols", [SYMBOL])
    return list_objects(client, s3.source, tables, EXCHANGE, symbols, start, end, **kw)


def _expected(files: dict, source: LakeSource) -> list[tuple[str, str, int, str]]:
    return [(source.key_for(r), r, f.size, f.md5) for r, f in sorted(files.items())]


def _got(listing: Listing) -> list[tuple[str, str, int, str]]:
    return [(o.key, o.relpath, o.size, o.etag) for o in listing.objects]


def _index_404_note(table: str) -> str:
    return (
        f"{table}: index unusable (HTTP 404: GetObject failed with NoSuchKey (The specified key "
        f"does not exist.): listing index {PREFIXED}/{table}/contents.json.gz); listed with S3 LIST"
    )


class TestRoutes:
    def test_index_route_heads_each_indexed_key(self, s3: S3Env, tmp_path: Path) -> None:
        files = build_tree(tmp_path, tables=("trades", "book"), symbols=(SYMBOL, "ETH-USDT"))
        publish(s3.admin, tmp_path, s3.source)
        assert len(write_contents_index(s3.admin, s3.source, "trades")) == 6
        assert len(write_contents_index(s3.admin, s3.source, "book")) == 6
        listing = _list(s3, ["trades", "book"], D[0], D[3], symbols=[SYMBOL, "ETH-USDT"])
        assert listing.methods == {"trades": "index", "book": "index"}
        assert _got(listing) == _expected(files, s3.source)
        assert (listing.missing, listing.notes) == ((), ())
        assert listing.total_bytes == sum(f.size for f in files.values())
        assert listing.objects[0].partition == Partition("book", EXCHANGE, SYMBOL, D[0])
        assert {o.bucket for o in listing.objects} == {"qnt.data"}

    def test_list_route_without_index(self, s3: S3Env, tmp_path: Path) -> None:
        files = build_tree(tmp_path, tables=("trades", "book_delta_v2"))
        publish(s3.admin, tmp_path, s3.source)
        listing = _list(s3, ["trades", "book_delta_v2"], D[0], D[3])
        assert listing.methods == {"trades": "list", "book_delta_v2": "list"}
        assert _got(listing) == _expected(files, s3.source)
        assert listing.notes == (_index_404_note("trades"), _index_404_note("book_delta_v2"))

    def test_use_index_false_skips_the_index(self, s3: S3Env, tmp_path: Path) -> None:
        build_tree(tmp_path, days=2)
        publish(s3.admin, tmp_path, s3.source)
        write_contents_index(s3.admin, s3.source, "trades")
        listing = _list(s3, ["trades"], D[0], D[2], use_index=False)
        assert (listing.methods, listing.notes, len(listing.objects)) == ({"trades": "list"}, (), 2)

    def test_index_with_relative_keys_and_gzip_framing(self, s3: S3Env, tmp_path: Path) -> None:
        """Index keys may omit the bucket prefix; gzip framing is read as well as zlib; keys that
        are not Hive Parquet paths are ignored."""
        files = build_tree(tmp_path, days=2)
        publish(s3.admin, tmp_path, s3.source)
        doc = {"objects": sorted(files) + ["trades/README.txt"]}
        s3.admin.put_object(
            Bucket="qnt.data",
            Key=s3.source.index_key("trades"),
            Body=gzip.compress(json.dumps(doc).encode()),
        )
        listing = _list(s3, ["trades"], D[0], D[2])
        assert listing.methods == {"trades": "index"}
        assert _got(listing) == _expected(files, s3.source)

    def test_malformed_index_falls_back_to_list(self, s3: S3Env, tmp_path: Path) -> None:
        files = build_tree(tmp_path, days=2)
        publish(s3.admin, tmp_path, s3.source)
        s3.admin.put_object(
            Bucket="qnt.data",
            Key=s3.source.index_key("trades"),
            Body=zlib.compress(b'{"keys": []}'),
        )
        listing = _list(s3, ["trades"], D[0], D[2])
        assert listing.methods == {"trades": "list"}
        assert listing.notes == (
            f"trades: index unusable (index {PREFIXED}/trades/contents.json.gz has no 'objects' "
            "list of keys); listed with S3 LIST",
        )
        assert _got(listing) == _expected(files, s3.source)

    def test_stale_index_falls_back_to_list(self, s3: S3Env, tmp_path: Path) -> None:
        files = build_tree(tmp_path)
        publish(s3.admin, tmp_path, s3.source)
        write_contents_index(s3.admin, s3.source, "trades")
        gone = sorted(files)[1]
        s3.admin.delete_object(Bucket="qnt.data", Key=s3.source.key_for(gone))
        listing = _list(s3, ["trades"], D[0], D[3])
        assert listing.methods == {"trades": "list"}
        assert len(listing.notes) == 1
        assert listing.notes[0].startswith("trades: index is stale (HTTP 404")
        assert [o.relpath for o in listing.objects] == [r for r in sorted(files) if r != gone]
        assert listing.missing == (Partition("trades", EXCHANGE, SYMBOL, D[1]),)

    def test_publish_tree_serves_a_local_tree_like_the_vendor(
        self, s3: S3Env, tmp_path: Path
    ) -> None:
        files = build_tree(tmp_path, tables=("trades", "book"), days=2)
        (tmp_path / "ground_truth.json").write_text("{}")
        keys = publish_tree(s3.endpoint, tmp_path, "qnt.data", "market-data/cryptofeed")
        assert keys == sorted(s3.source.key_for(r) for r in files)
        listing = _list(s3, ["trades", "book"], D[0], D[2])
        assert listing.methods == {"trades": "index", "book": "index"}
        assert _got(listing) == _expected(files, s3.source)

    def test_list_pages_start_after_start_and_stop_at_end(self, s3: S3Env, tmp_path: Path) -> None:
        """Days 1-6 stored, [2, 4) asked, 2 keys a page: the first page holds days 2-3, the second
        starts with day 4 and ends the listing, so exactly two LIST calls are made."""
        build_tree(tmp_path, days=6)
        publish(s3.admin, tmp_path, s3.source)
        proxy = FaultProxy(s3.endpoint)
        with proxy as endpoint:
            listing = _list(
                s3, ["trades"], D[1], D[3], client=s3.client(endpoint), use_index=False, page_size=2
            )
        assert [o.partition.dt for o in listing.objects] == [D[1], D[2]]
        assert proxy.count("GET", "/qnt.data") == 2


class TestRange:
    @pytest.mark.parametrize("use_index", [True, False])
    def test_end_exclusive_start_inclusive(
        self, s3: S3Env, tmp_path: Path, use_index: bool
    ) -> None:
        build_tree(tmp_path, days=5)
        publish(s3.admin, tmp_path, s3.source)
        write_contents_index(s3.admin, s3.source, "trades")
        listing = _list(s3, ["trades"], D[1], D[3], use_index=use_index)
        assert [o.partition.dt for o in listing.objects] == [D[1], D[2]]
        assert listing.missing == ()

    @pytest.mark.parametrize("use_index", [True, False])
    def test_missing_days_are_reported_gaps(
        self, s3: S3Env, tmp_path: Path, use_index: bool
    ) -> None:
        build_tree(tmp_path, days=4, skip=[("trades", SYMBOL, D[1]), ("trades", SYMBOL, D[2])])
        publish(s3.admin, tmp_path, s3.source)
        write_contents_index(s3.admin, s3.source, "trades")
        listing = _list(s3, ["trades"], D[0], D[4], use_index=use_index)
        assert [o.partition.dt for o in listing.objects] == [D[0], D[3]]
        assert listing.missing == (
            Partition("trades", EXCHANGE, SYMBOL, D[1]),
            Partition("trades", EXCHANGE, SYMBOL, D[2]),
        )

    @pytest.mark.parametrize("use_index", [True, False])
    def test_empty_range_raises(self, s3: S3Env, tmp_path: Path, use_index: bool) -> None:
        build_tree(tmp_path, days=2)
        publish(s3.admin, tmp_path, s3.source)
        write_contents_index(s3.admin, s3.source, "trades")
        with pytest.raises(NoFilesFoundError) as info:
            _list(s3, ["trades"], D[0], D[2], symbols=[SYMBOL, "ETH-USDT"], use_index=use_index)
        assert str(info.value) == (
            f"no files in {PREFIXED} for any day of the range (end exclusive): "
            "trades BINANCE ETH-USDT [2024-01-01, 2024-01-03)"
        )
        assert info.value.details == {
            "table": "trades",
            "exchange": "BINANCE",
            "symbol": "ETH-USDT",
            "start": "2024-01-01",
            "end": "2024-01-03",
            "method": "index" if use_index else "list",
        }

    def test_range_after_the_data_is_empty(self, s3: S3Env, tmp_path: Path) -> None:
        build_tree(tmp_path, days=2)
        publish(s3.admin, tmp_path, s3.source)
        with pytest.raises(NoFilesFoundError):
            _list(s3, ["trades"], D[2], D[4])

    def test_end_not_after_start_is_a_config_error(self, s3: S3Env) -> None:
        with pytest.raises(ConfigError):
            _list(s3, ["trades"], D[2], D[2])

    @pytest.mark.parametrize(
        ("table", "exchange", "symbol"),
        [
            ("candles", EXCHANGE, SYMBOL),
            ("trades", "binance", SYMBOL),
            ("trades", EXCHANGE, "../x"),
        ],
    )
    def test_bad_names_are_config_errors(
        self, s3: S3Env, table: str, exchange: str, symbol: str
    ) -> None:
        with pytest.raises(ConfigError):
            list_objects(s3.admin, s3.source, [table], exchange, [symbol], D[0], D[1])


class TestErrors:
    def test_missing_bucket_is_not_found(self, s3: S3Env) -> None:
        with pytest.raises(NotFoundError) as info:
            _list(s3, ["trades"], D[0], D[2])
        err = info.value
        assert (err.status, err.details["code"], err.details["bucket"]) == (
            404,
            "NoSuchBucket",
            "qnt.data",
        )
        assert err.what == f"trades BINANCE BTC-USDT [2024-01-01, 2024-01-03) under {PREFIXED}"

    def test_403_on_head_names_the_partition(self, s3: S3Env, tmp_path: Path) -> None:
        build_tree(tmp_path, tables=("trades", "book"), days=2)
        publish(s3.admin, tmp_path, s3.source)
        write_contents_index(s3.admin, s3.source, "book")
        # Data objects only: the index stays readable, so the route is index + HEAD.
        deny_get(s3.admin, "qnt.data", "market-data/cryptofeed/book/exchange=")
        with pytest.raises(AccessDeniedError) as info:
            _list(s3, ["book"], D[0], D[1])
        err = info.value
        assert err.what == (
            "book BINANCE BTC-USDT 2024-01-01 (market-data/cryptofeed/book/exchange=BINANCE/"
            "symbol=BTC-USDT/dt=2024-01-01/1.snappy.parquet)"
        )
        assert (err.status, err.details["dt"], err.details["table"]) == (403, "2024-01-01", "book")

    def test_unknown_key_is_denied_and_the_secret_never_shows(
        self, s3: S3Env, tmp_path: Path
    ) -> None:
        build_tree(tmp_path, days=1)
        publish(s3.admin, tmp_path, s3.source)
        secret = "Sup3r-S3cret-Value-never-logged"
        creds = Credentials("AKIAFEEDCHECKTEST123", secret)
        set_auth_enforced(s3.endpoint, True)
        with pytest.raises(AccessDeniedError) as info:
            client = make_s3_client(s3.source, creds)
            _list(s3, ["trades"], D[0], D[1], client=client, use_index=False)
        err = info.value
        assert (err.status, err.details["code"]) == (403, "InvalidAccessKeyId")
        assert "trades BINANCE BTC-USDT [2024-01-01, 2024-01-02)" in str(err)
        texts = [
            str(err),
            repr(err),
            repr(err.details),
            str(err.__cause__),
            repr(creds),
            str(creds),
        ]
        assert [secret in t for t in texts] == [False] * 6
        assert "AKIAFEEDCHECKTEST123" not in repr(creds)

    def test_503_on_list_is_retried_with_backoff(self, s3: S3Env, tmp_path: Path) -> None:
        files = build_tree(tmp_path, days=2)
        publish(s3.admin, tmp_path, s3.source)
        delays: list[float] = []
        proxy = FaultProxy(s3.endpoint, [Fault("status", times=2, path_suffix="/qnt.data")])
        with proxy as endpoint:
            listing = _list(
                s3,
                ["trades"],
                D[0],
                D[2],
                client=s3.client(endpoint),
                use_index=False,
                backoff=lambda: exponential_backoff(rng=lambda: 1.0),
                sleep=delays.append,
            )
        assert _got(listing) == _expected(files, s3.source)
        assert delays == [0.5, 1.0]
        assert proxy.injected == [("status", "/qnt.data"), ("status", "/qnt.data")]
        assert proxy.count("GET", "/qnt.data") == 3

    def test_503_on_every_attempt_raises_transient(self, s3: S3Env, tmp_path: Path) -> None:
        build_tree(tmp_path, days=1)
        publish(s3.admin, tmp_path, s3.source)
        proxy = FaultProxy(s3.endpoint, [Fault("status", times=None, path_suffix="/qnt.data")])
        with proxy as endpoint:
            with pytest.raises(TransientRemoteError) as info:
                _list(
                    s3,
                    ["trades"],
                    D[0],
                    D[1],
                    client=s3.client(endpoint),
                    use_index=False,
                    attempts=3,
                    **NO_WAIT,
                )
        assert (info.value.status, info.value.details["code"]) == (503, "ServiceUnavailable")
        assert proxy.count("GET", "/qnt.data") == 3


class TestSampleBucket:
    def test_unsigned_sample_bucket_without_credentials(self, s3: S3Env, tmp_path: Path) -> None:
        files = build_tree(tmp_path, days=2)
        sample = LakeSource.sample(s3.endpoint)
        publish(s3.admin, tmp_path, sample)
        write_contents_index(s3.admin, sample, "trades")
        allow_public_read(s3.admin, "sample.crypto.lake")
        client = make_s3_client(sample, None, environ={})
        auth: list[str | None] = []
        client.meta.events.register(
            "before-send.s3.*",
            lambda request, **_: auth.append(request.headers.get("Authorization")),
        )
        listing = list_objects(client, sample, ["trades"], EXCHANGE, [SYMBOL], D[0], D[2])
        assert (sample.bucket, sample.prefix, sample.unsigned) == ("sample.crypto.lake", "", True)
        assert listing.methods == {"trades": "index"}
        assert _got(listing) == [(r, r, f.size, f.md5) for r, f in sorted(files.items())]
        assert auth == [None, None, None]  # index GET + 2 HEADs, none signed


class TestSource:
    def test_vendor_and_sample_defaults(self) -> None:
        v = LakeSource.vendor()
        assert (v.bucket, v.prefix, v.region, v.endpoint_url, v.unsigned) == (
            "qnt.data",
            "market-data/cryptofeed",
            "eu-west-1",
            None,
            False,
        )
        assert v.index_key("book") == "market-data/cryptofeed/book/contents.json.gz"
        assert v.describe() == f"{PREFIXED} (eu-west-1, signed)"
        assert LakeSource.sample("http://127.0.0.1:9").describe() == (
            "s3://sample.crypto.lake (eu-west-1, via http://127.0.0.1:9, unsigned)"
        )

    def test_credential_resolution_order(self) -> None:
        env = {ENV_ACCESS_KEY_ID: "AKIAENV", ENV_SECRET_ACCESS_KEY: "env-secret"}
        explicit = Credentials("AKIAEXPLICIT", "explicit-secret")
        assert resolve_credentials(explicit, env) is explicit
        from_env = resolve_credentials(None, env)
        assert from_env is not None
        assert (from_env.access_key_id, from_env.secret_access_key.get_secret_value()) == (
            "AKIAENV",
            "env-secret",
        )
        assert resolve_credentials(None, {}) is None
        with pytest.raises(ConfigError):
            resolve_credentials(None, {ENV_ACCESS_KEY_ID: "AKIAENV"})
        assert "env-secret" not in repr(from_env) and "env-secret" not in str(from_env)

    def test_env_credentials_sign_requests(self, s3: S3Env, tmp_path: Path) -> None:
        """With moto's auth on, only a real IAM key pair passes: the env pair is what signs."""
        build_tree(tmp_path, days=1)
        publish(s3.admin, tmp_path, s3.source)
        creds = create_subscriber(s3.endpoint)
        env = {
            ENV_ACCESS_KEY_ID: creds.access_key_id,
            ENV_SECRET_ACCESS_KEY: creds.secret_access_key.get_secret_value(),
        }
        set_auth_enforced(s3.endpoint, True)
        good = make_s3_client(s3.source, None, environ=env)
        assert len(_list(s3, ["trades"], D[0], D[1], client=good, use_index=False).objects) == 1
        wrong_env = {**env, ENV_SECRET_ACCESS_KEY: "wrong-secret"}
        wrong = make_s3_client(s3.source, None, environ=wrong_env)
        with pytest.raises(AccessDeniedError) as info:
            _list(s3, ["trades"], D[0], D[1], client=wrong, use_index=False)
        assert info.value.details["code"] == "SignatureDoesNotMatch"
        assert "wrong-secret" not in str(info.value)
        assert creds.secret_access_key.get_secret_value() not in str(info.value)

    def test_backoff_envelope_doubles_to_the_cap(self) -> None:
        full = list(itertools.islice(exponential_backoff(rng=lambda: 1.0), 8))
        assert full == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]
        quarter = exponential_backoff(initial_s=0.1, max_s=0.3, rng=lambda: 0.25)
        assert list(itertools.islice(quarter, 4)) == [0.025, 0.05, 0.075, 0.075]

    @pytest.mark.parametrize(
        ("status", "code", "kind"),
        [
            (403, "AccessDenied", AccessDeniedError),
            (404, "NoSuchKey", NotFoundError),
            (404, "404", NotFoundError),
            (503, "SlowDown", TransientRemoteError),
            (500, "InternalError", TransientRemoteError),
            (400, "InvalidArgument", RemoteError),
        ],
    )
    def test_client_error_classification(self, status: int, code: str, kind: type) -> None:
        exc = bex.ClientError(
            {
                "Error": {"Code": code, "Message": "m"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            "GetObject",
        )
        mapped = remote_error(exc, "trades BINANCE BTC-USDT 2024-01-01", {"key": "k"})
        assert type(mapped) is kind
        assert str(mapped) == (
            f"HTTP {status}: GetObject failed with {code} (m): trades BINANCE BTC-USDT 2024-01-01"
        )
        assert mapped.details == {"key": "k", "code": code}

    def test_transport_and_credential_errors(self) -> None:
        endpoint_down = bex.EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
        assert type(remote_error(endpoint_down, "w")) is TransientRemoteError
        assert type(remote_error(bex.NoCredentialsError(), "w")) is AccessDeniedError

    def test_index_bytes_round_trip(self) -> None:
        raw = build_contents_index(["b", "a"])
        assert json.loads(zlib.decompress(raw)) == {"objects": ["a", "b"]}
