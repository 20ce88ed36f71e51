"""feedcheck.lake.download and manifest against a real moto S3 server on loopback, with faults
injected by a real HTTP proxy (503s, cut bodies, flipped bytes, slow bodies) and a real SIGKILL."""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from feedcheck.errors import AccessDeniedError, ConfigError, CorruptFileError, NotFoundError
from feedcheck.lake.download import PART_SUFFIX, download, download_object, local_path
from feedcheck.lake.download import main as download_main
from feedcheck.lake.layout import Partition
from feedcheck.lake.listing import RemoteObject, list_objects, write_contents_index
from feedcheck.lake.manifest import MANIFEST_SCHEMA, Manifest, ManifestEntry, merge
from feedcheck.lake.source import (
    ENV_ACCESS_KEY_ID,
    ENV_SECRET_ACCESS_KEY,
    LakeSource,
    exponential_backoff,
    make_s3_client,
)
from feedcheck.testing.fault_proxy import Fault, FaultProxy
from feedcheck.testing.s3_server import set_auth_enforced
from tests.lake.s3_fixtures import (
    ADMIN,
    EXCHANGE,
    SYMBOL,
    GetCounter,
    LocalFile,
    S3Env,
    allow_public_read,
    build_tree,
    create_subscriber,
    deny_get,
    publish,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
D0, D1, D2, D4 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 5)
#: Delays = the backoff envelope (0.5, 1, 2, ...), recorded instead of slept.
ENVELOPE: dict[str, Any] = {"backoff": lambda: exponential_backoff(rng=lambda: 1.0)}
INJECTED_503 = "HTTP 503: GetObject failed with ServiceUnavailable (injected by FaultProxy)"


def _publish_and_list(
    s3: S3Env, root: Path, *, days: int = 2, index: bool = False, **tree: Any
) -> tuple[dict[str, LocalFile], list[RemoteObject]]:
    """Build and publish a tree (optionally with indexes), then list all of it."""
    tables = tuple(tree.get("tables", ("trades",)))
    symbols = tuple(tree.get("symbols", (SYMBOL,)))
    files = build_tree(root, days=days, **tree)
    publish(s3.admin, root, s3.source)
    if index:
        for table in tables:
            write_contents_index(s3.admin, s3.source, table)
    end = date(2024, 1, 1 + days)
    listing = list_objects(
        s3.admin, s3.source, list(tables), EXCHANGE, list(symbols), D0, end, use_index=index
    )
    return files, list(listing.objects)


def _tree_files(root: Path, suffix: str) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob(f"*{suffix}") if p.is_file())


def _same_bytes(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


class TestFullDownload:
    @pytest.mark.parametrize("index", [True, False])
    def test_downloads_and_verifies_every_object(
        self, s3: S3Env, tmp_path: Path, index: bool
    ) -> None:
        files, objects = _publish_and_list(
            s3,
            tmp_path / "lake",
            index=index,
            tables=("trades", "book"),
            symbols=(SYMBOL, "ETH-USDT"),
        )
        staging = tmp_path / "staging"
        progress: list[tuple[int, int]] = []
        result = download(
            s3.admin,
            objects,
            staging,
            concurrency=4,
            on_progress=lambda e, done, total: progress.append((done, total)),
        )
        got = [
            (e.relpath, e.status, e.attempts, e.md5_ok, e.footer_ok, e.rows, e.row_groups, e.error)
            for e in result.manifest.entries
        ]
        assert got == [
            (r, "downloaded", 1, True, True, f.rows, f.row_groups, None)
            for r, f in sorted(files.items())
        ]
        assert progress == [(i, 8) for i in range(1, 9)]
        assert all(_same_bytes(staging / r, tmp_path / "lake" / r) for r in files)
        assert _tree_files(staging, PART_SUFFIX) == []
        total_bytes = sum(f.size for f in files.values())
        assert result.bytes_downloaded == total_bytes

        def table_totals(t: str) -> dict[str, int]:
            mine = [f for r, f in files.items() if r.startswith(t + "/")]
            return {
                "files": len(mine),
                "bytes": sum(f.size for f in mine),
                "rows": sum(f.rows for f in mine),
            }

        counts = {"downloaded": 8, "skipped": 0, "corrupt": 0, "failed": 0}
        assert result.manifest.summary() == {
            **counts,
            "files": 8,
            "bytes": total_bytes,
            "rows": sum(f.rows for f in files.values()),
            "by_status": counts,
            "by_table": {"book": table_totals("book"), "trades": table_totals("trades")},
            "missing_partitions": 0,
            "ok": True,
        }

    def test_rerun_skips_everything_with_zero_gets(self, s3: S3Env, tmp_path: Path) -> None:
        files, objects = _publish_and_list(s3, tmp_path / "lake", days=3)
        staging = tmp_path / "staging"
        first = download(s3.admin, objects, staging)
        assert [e.status for e in first.manifest.entries] == ["downloaded"] * 3
        mtimes = {r: (staging / r).stat().st_mtime_ns for r in files}
        client = s3.client()
        gets = GetCounter(client)
        again = download(client, objects, staging)
        assert [(e.status, e.attempts, e.rows, e.md5_ok) for e in again.manifest.entries] == [
            ("skipped", 0, f.rows, True) for _, f in sorted(files.items())
        ]
        assert (gets.calls, again.bytes_downloaded) == (0, 0)
        assert {r: (staging / r).stat().st_mtime_ns for r in files} == mtimes

    def test_local_file_failing_verification_is_replaced(self, s3: S3Env, tmp_path: Path) -> None:
        files, objects = _publish_and_list(s3, tmp_path / "lake", days=2)
        staging = tmp_path / "staging"
        download(s3.admin, objects, staging)
        damaged, intact = sorted(files)
        (staging / damaged).write_bytes((staging / damaged).read_bytes()[:100])
        result = download(s3.admin, objects, staging)
        assert [(e.relpath, e.status) for e in result.manifest.entries] == [
            (damaged, "downloaded"),
            (intact, "skipped"),
        ]
        assert _same_bytes(staging / damaged, tmp_path / "lake" / damaged)

    def test_stale_part_file_is_replaced(self, s3: S3Env, tmp_path: Path) -> None:
        files, objects = _publish_and_list(s3, tmp_path / "lake", days=1)
        staging = tmp_path / "staging"
        final = local_path(staging, objects[0])
        part = final.with_name(final.name + PART_SUFFIX)
        part.parent.mkdir(parents=True)
        part.write_bytes(b"PAR1 half of an old download")
        entry = download_object(s3.admin, objects[0], staging)
        assert (entry.status, entry.attempts) == ("downloaded", 1)
        assert _tree_files(staging, PART_SUFFIX) == []
        assert _same_bytes(final, tmp_path / "lake" / objects[0].relpath)

    def test_missing_days_are_carried_into_the_manifest(self, s3: S3Env, tmp_path: Path) -> None:
        build_tree(tmp_path / "lake", days=3, skip=[("trades", SYMBOL, D1)])
        publish(s3.admin, tmp_path / "lake", s3.source)
        listing = list_objects(
            s3.admin, s3.source, ["trades"], EXCHANGE, [SYMBOL], D0, date(2024, 1, 4)
        )
        result = download(s3.admin, listing.objects, tmp_path / "staging", missing=listing.missing)
        assert result.manifest.missing_partitions == ("trades/BINANCE/BTC-USDT/2024-01-02",)
        assert (result.manifest.summary()["missing_partitions"], result.ok) == (1, True)

    def test_unsigned_sample_bucket_download(self, s3: S3Env, tmp_path: Path) -> None:
        files = build_tree(tmp_path / "lake", days=2)
        sample = LakeSource.sample(s3.endpoint)
        publish(s3.admin, tmp_path / "lake", sample)
        allow_public_read(s3.admin, "sample.crypto.lake")
        client = make_s3_client(sample, None, environ={})
        listing = list_objects(client, sample, ["trades"], EXCHANGE, [SYMBOL], D0, D2)
        result = download(client, listing.objects, tmp_path / "staging")
        assert [(e.relpath, e.status) for e in result.manifest.entries] == [
            (r, "downloaded") for r in sorted(files)
        ]
        assert [o.key for o in listing.objects] == sorted(files)  # no prefix in the sample bucket

    def test_relpath_escaping_staging_is_refused(self, tmp_path: Path) -> None:
        partition = Partition("trades", EXCHANGE, SYMBOL, D0)
        obj = RemoteObject("k", "../../etc/x.parquet", partition, 1, "e", "b")
        with pytest.raises(ConfigError):
            local_path(tmp_path, obj)


class TestResume:
    def test_resume_after_sigkill_mid_download(self, s3: S3Env, tmp_path: Path) -> None:
        """A real `python -m feedcheck.lake.download` (concurrency 1) is killed once the first file
        landed and the second is a `.part`; the rerun completes it. The proxy streams the second
        day's body at 2 KiB per 0.5 s, so the kill always lands mid-file."""
        files = build_tree(tmp_path / "lake", days=4, rows=3000)
        publish(s3.admin, tmp_path / "lake", s3.source)
        staging = tmp_path / "staging"
        env = {**os.environ, ENV_ACCESS_KEY_ID: "testing", ENV_SECRET_ACCESS_KEY: "testing"}
        slow = Fault(
            "slow", times=None, path_contains="/dt=2024-01-02/", chunk_bytes=2048, delay_s=0.5
        )
        proxy = FaultProxy(s3.endpoint, [slow])
        with proxy as endpoint:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "feedcheck.lake.download",
                    "--staging",
                    str(staging),
                    "--tables",
                    "trades",
                    "--exchange",
                    EXCHANGE,
                    "--symbols",
                    SYMBOL,
                    "--start",
                    "2024-01-01",
                    "--end",
                    "2024-01-05",
                    "--endpoint-url",
                    endpoint,
                    "--concurrency",
                    "1",
                    "--no-index",
                ],
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            try:
                give_up = time.monotonic() + 120  # a guard against a hang, not a timing assertion
                while not (_tree_files(staging, ".parquet") and _tree_files(staging, PART_SUFFIX)):
                    assert proc.poll() is None, proc.communicate()
                    assert time.monotonic() < give_up
                    time.sleep(0.005)
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        first, second = sorted(files)[:2]
        assert _tree_files(staging, ".parquet") == [first]
        assert _tree_files(staging, PART_SUFFIX) == [second + PART_SUFFIX]
        assert proxy.injected == [("slow", f"/qnt.data/{s3.source.key_for(second)}")]

        listing = list_objects(
            s3.admin, s3.source, ["trades"], EXCHANGE, [SYMBOL], D0, D4, use_index=False
        )
        result = download(s3.admin, listing.objects, staging)
        assert [(e.relpath, e.status) for e in result.manifest.entries] == [
            (r, "skipped" if r == first else "downloaded") for r in sorted(files)
        ]
        assert _tree_files(staging, PART_SUFFIX) == []
        assert all(_same_bytes(staging / r, tmp_path / "lake" / r) for r in files)

    def test_module_entry_point_writes_the_manifest(
        self,
        s3: S3Env,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        files = build_tree(tmp_path / "lake", days=2)
        publish(s3.admin, tmp_path / "lake", s3.source)
        monkeypatch.setenv(ENV_ACCESS_KEY_ID, "testing")
        monkeypatch.setenv(ENV_SECRET_ACCESS_KEY, "testing")
        code = download_main(
            [
                "--staging",
                str(tmp_path / "staging"),
                "--tables",
                "trades",
                "--exchange",
                EXCHANGE,
                "--symbols",
                SYMBOL,
                "--start",
                "2024-01-01",
                "--end",
                "2024-01-04",
                "--endpoint-url",
                s3.endpoint,
                "--manifest",
                str(tmp_path / "manifest.json"),
            ]
        )
        summary = json.loads(capsys.readouterr().out)
        assert (code, summary["downloaded"], summary["missing_partitions"]) == (0, 2, 1)
        manifest = Manifest.read(tmp_path / "manifest.json")
        assert [e.relpath for e in manifest.entries] == sorted(files)
        assert manifest.missing_partitions == ("trades/BINANCE/BTC-USDT/2024-01-03",)


class TestFaults:
    def _via_proxy(
        self, s3: S3Env, tmp_path: Path, faults: list[Fault], **kwargs: Any
    ) -> tuple[ManifestEntry, list[float], FaultProxy, RemoteObject]:
        _, objects = _publish_and_list(s3, tmp_path / "lake", days=1)
        delays: list[float] = []
        proxy = FaultProxy(s3.endpoint, faults)
        with proxy as endpoint:
            entry = download_object(
                s3.client(endpoint),
                objects[0],
                tmp_path / "staging",
                sleep=delays.append,
                **{**ENVELOPE, **kwargs},
            )
        return entry, delays, proxy, objects[0]

    def test_503s_are_retried_with_backoff_then_succeed(self, s3: S3Env, tmp_path: Path) -> None:
        entry, delays, proxy, _ = self._via_proxy(s3, tmp_path, [Fault("status", times=2)])
        assert (entry.status, entry.attempts, entry.md5_ok, entry.error) == (
            "downloaded",
            3,
            True,
            None,
        )
        assert (delays, proxy.count("GET", ".parquet")) == ([0.5, 1.0], 3)

    def test_cut_body_is_retried(self, s3: S3Env, tmp_path: Path) -> None:
        entry, delays, proxy, _ = self._via_proxy(s3, tmp_path, [Fault("truncate", times=1)])
        assert (entry.status, entry.attempts, entry.footer_ok) == ("downloaded", 2, True)
        assert (delays, proxy.injected[0][0]) == ([0.5], "truncate")

    def test_transient_corruption_is_refetched(self, s3: S3Env, tmp_path: Path) -> None:
        entry, delays, _, obj = self._via_proxy(s3, tmp_path, [Fault("corrupt", times=1)])
        assert (entry.status, entry.attempts, entry.md5_ok, entry.error) == (
            "downloaded",
            2,
            True,
            None,
        )
        assert _same_bytes(tmp_path / "staging" / obj.relpath, tmp_path / "lake" / obj.relpath)

    def test_persistent_corruption_is_reported_corrupt(self, s3: S3Env, tmp_path: Path) -> None:
        entry, delays, _, obj = self._via_proxy(
            s3, tmp_path, [Fault("corrupt", times=None)], attempts=4
        )
        assert (entry.status, entry.attempts, entry.md5_ok, entry.footer_ok, entry.rows) == (
            "corrupt",
            4,
            False,
            False,
            None,
        )
        assert entry.error is not None and entry.error.startswith(f"{obj.label}: md5 ")
        assert "checksum mismatch in transit" in entry.error  # botocore's CRC32 check agrees
        assert delays == [0.5, 1.0, 2.0]
        assert _tree_files(tmp_path / "staging", "") == []  # no final file, no .part

    def test_corrupt_remote_object_is_not_refetched(self, s3: S3Env, tmp_path: Path) -> None:
        """Bytes that match the ETag but have no valid footer: a re-fetch returns the same."""
        _, objects = _publish_and_list(s3, tmp_path / "lake", days=1)
        good = (tmp_path / "lake" / objects[0].relpath).read_bytes()
        s3.admin.put_object(Bucket="qnt.data", Key=objects[0].key, Body=good[:-8] + b"\x00" * 8)
        listing = list_objects(s3.admin, s3.source, ["trades"], EXCHANGE, [SYMBOL], D0, D1)
        entry = download_object(s3.admin, listing.objects[0], tmp_path / "staging")
        assert (entry.status, entry.attempts, entry.md5_ok, entry.footer_ok) == (
            "corrupt",
            1,
            True,
            False,
        )
        assert "Parquet footer unreadable" in (entry.error or "")
        assert _tree_files(tmp_path / "staging", "") == []

    def test_503_on_every_attempt_is_failed(self, s3: S3Env, tmp_path: Path) -> None:
        entry, delays, proxy, obj = self._via_proxy(
            s3, tmp_path, [Fault("status", times=None)], attempts=3
        )
        assert (entry.status, entry.attempts, entry.md5_ok, entry.footer_ok) == (
            "failed",
            3,
            None,
            None,
        )
        assert entry.error == f"{INJECTED_503}: {obj.label}"
        assert (delays, proxy.count("GET", ".parquet")) == ([0.5, 1.0], 3)

    def test_good_local_file_is_never_touched(self, s3: S3Env, tmp_path: Path) -> None:
        _, objects = _publish_and_list(s3, tmp_path / "lake", days=1)
        staging = tmp_path / "staging"
        download_object(s3.admin, objects[0], staging)
        with FaultProxy(s3.endpoint, [Fault("status", times=None)]) as endpoint:
            entry = download_object(s3.client(endpoint), objects[0], staging)
        assert (entry.status, entry.attempts) == ("skipped", 0)

    def test_mismatching_local_file_is_kept_when_download_fails(
        self, s3: S3Env, tmp_path: Path
    ) -> None:
        _, objects = _publish_and_list(s3, tmp_path / "lake", days=1)
        obj = objects[0]
        target = local_path(tmp_path / "staging", obj)
        target.parent.mkdir(parents=True)
        target.write_bytes(b"an older local copy")
        with FaultProxy(s3.endpoint, [Fault("status", times=None)]) as endpoint:
            entry = download_object(
                s3.client(endpoint), obj, tmp_path / "staging", attempts=2, sleep=lambda _s: None
            )
        assert (entry.status, entry.attempts) == ("failed", 2)
        assert target.read_bytes() == b"an older local copy"
        assert entry.error == (
            f"{INJECTED_503}: {obj.label}; the existing local file was left in place "
            f"(size 19 bytes, expected {obj.size}; Parquet footer unreadable (ArrowInvalid: "
            "Parquet magic bytes not found in footer. Either the file is corrupted or this is not "
            "a parquet file.))"
        )


class TestRefusals:
    def test_403_on_get_names_the_partition(self, s3: S3Env, tmp_path: Path) -> None:
        _, objects = _publish_and_list(s3, tmp_path / "lake", days=2, tables=("book",))
        first_day_dir = objects[0].key.rsplit("/", 1)[0] + "/"
        deny_get(s3.admin, "qnt.data", first_day_dir)
        staging = tmp_path / "staging"
        with pytest.raises(AccessDeniedError) as info:
            download(s3.admin, objects, staging, concurrency=1)
        err = info.value
        assert err.what == f"book BINANCE BTC-USDT 2024-01-01 ({objects[0].key})"
        details = (err.status, err.details["table"], err.details["symbol"], err.details["dt"])
        assert details == (403, "book", SYMBOL, "2024-01-01")
        assert _tree_files(staging, PART_SUFFIX) == []

    def test_object_deleted_after_listing_is_not_found(self, s3: S3Env, tmp_path: Path) -> None:
        _, objects = _publish_and_list(s3, tmp_path / "lake", days=1)
        s3.admin.delete_object(Bucket="qnt.data", Key=objects[0].key)
        with pytest.raises(NotFoundError) as info:
            download_object(s3.admin, objects[0], tmp_path / "staging")
        err = info.value
        assert (err.status, err.details["code"], err.details["key"]) == (
            404,
            "NoSuchKey",
            objects[0].key,
        )
        # the message names what was asked for, as the 403 one does
        assert err.what == f"trades BINANCE BTC-USDT 2024-01-01 ({objects[0].key})"
        assert (err.details["table"], err.details["symbol"], err.details["dt"]) == (
            "trades",
            SYMBOL,
            "2024-01-01",
        )
        assert str(err).endswith(f": {err.what}") and "HTTP 404" in str(err)
        assert _tree_files(tmp_path / "staging", "") == []

    def test_missing_bucket_is_not_found(self, s3: S3Env, tmp_path: Path) -> None:
        _, objects = _publish_and_list(s3, tmp_path / "lake", days=1)
        with pytest.raises(NotFoundError) as info:
            download_object(s3.admin, replace(objects[0], bucket="no-such-bucket"), tmp_path / "x")
        assert info.value.details["code"] == "NoSuchBucket"

    def test_secret_never_reaches_logs_errors_or_manifests(
        self, s3: S3Env, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        build_tree(tmp_path / "lake", days=1)
        publish(s3.admin, tmp_path / "lake", s3.source)
        creds = create_subscriber(s3.endpoint)
        secret = creds.secret_access_key.get_secret_value()
        set_auth_enforced(s3.endpoint, True)
        caplog.set_level(logging.DEBUG)  # botocore logs every request it signs at DEBUG

        client = make_s3_client(s3.source, creds)
        listing = list_objects(client, s3.source, ["trades"], EXCHANGE, [SYMBOL], D0, D1)
        result = download(client, listing.objects, tmp_path / "staging")
        wrong = make_s3_client(s3.source, replace(creds, secret_access_key=secret[::-1]))
        with pytest.raises(AccessDeniedError) as info:
            download(wrong, listing.objects, tmp_path / "other")
        paths = [
            result.manifest.write(tmp_path / "m.json"),
            result.manifest.write(tmp_path / "m.parquet"),
        ]

        assert [e.status for e in result.manifest.entries] == ["downloaded"]
        assert info.value.details["code"] == "SignatureDoesNotMatch"
        assert len(caplog.records) > 0
        haystacks = [
            caplog.text,
            repr(result),
            str(info.value),
            repr(info.value),
            str(info.value.__cause__),
            repr(creds),
            *(p.read_bytes().decode("latin-1") for p in paths),
        ]
        assert [secret in h or secret[::-1] in h for h in haystacks] == [False] * len(haystacks)


def _entry(relpath: str, status: str, **kw: Any) -> ManifestEntry:
    base: dict[str, Any] = dict(
        relpath=relpath,
        table=relpath.split("/")[0],
        exchange=EXCHANGE,
        symbol=SYMBOL,
        dt=D0,
        size_bytes=1000,
        etag="e",
        md5_ok=True,
        footer_ok=True,
        rows=10,
        row_groups=1,
        status=status,
        attempts=1,
        error=None,
        seconds=0.25,
    )
    return ManifestEntry(**{**base, **kw})


_NO_FILE: dict[str, Any] = {"footer_ok": None, "rows": None, "row_groups": None}


class TestManifest:
    manifest = Manifest.of(
        [
            _entry("trades/b.parquet", "skipped", attempts=0),
            _entry(
                "book/a.parquet",
                "corrupt",
                **{**_NO_FILE, "footer_ok": False},
                md5_ok=False,
                error="md5 mismatch",
                attempts=5,
                size_bytes=500,
            ),
            _entry(
                "trades/a.parquet",
                "failed",
                **_NO_FILE,
                md5_ok=None,
                error="HTTP 503",
                size_bytes=7,
            ),
        ],
        ["trades/BINANCE/BTC-USDT/2024-01-02"],
    )

    @pytest.mark.parametrize("suffix", [".json", ".parquet"])
    def test_round_trip(self, tmp_path: Path, suffix: str) -> None:
        path = self.manifest.write(tmp_path / f"sub/manifest{suffix}")
        assert Manifest.read(path) == self.manifest
        assert [p.name for p in path.parent.iterdir()] == [f"manifest{suffix}"]

    def test_summary(self) -> None:
        counts = {"downloaded": 0, "skipped": 1, "corrupt": 1, "failed": 1}
        assert self.manifest.summary() == {
            **counts,
            "files": 3,
            "bytes": 1507,
            "rows": 10,
            "by_status": counts,
            "by_table": {
                "book": {"files": 1, "bytes": 500, "rows": 0},
                "trades": {"files": 2, "bytes": 1007, "rows": 10},
            },
            "missing_partitions": 1,
            "ok": False,
        }
        assert Manifest(()).summary()["files"] == 0

    def test_to_polars_keeps_the_schema(self) -> None:
        frame = self.manifest.to_polars()
        assert frame.schema == pl.Schema(MANIFEST_SCHEMA)
        assert frame["relpath"].to_list() == [
            "book/a.parquet",
            "trades/a.parquet",
            "trades/b.parquet",
        ]
        assert Manifest(()).to_polars().schema == pl.Schema(MANIFEST_SCHEMA)

    def test_bad_suffix_and_bad_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError):
            self.manifest.write(tmp_path / "manifest.csv")
        (tmp_path / "broken.json").write_text("{")
        with pytest.raises(CorruptFileError):
            Manifest.read(tmp_path / "broken.json")

    def test_merge_keeps_the_latest_entry_per_file(self) -> None:
        merged = merge([self.manifest, Manifest.of([_entry("trades/a.parquet", "downloaded")])])
        assert [(e.relpath, e.status) for e in merged.entries] == [
            ("book/a.parquet", "corrupt"),
            ("trades/a.parquet", "downloaded"),
            ("trades/b.parquet", "skipped"),
        ]
        assert merged.missing_partitions == self.manifest.missing_partitions

    def test_entry_partition_and_status_check(self) -> None:
        entry = _entry("trades/a.parquet", "skipped")
        assert entry.partition == Partition("trades", EXCHANGE, SYMBOL, D0)
        with pytest.raises(ConfigError):
            _entry("trades/a.parquet", "lost")


def test_backoff_is_injectable_and_endless() -> None:
    assert list(itertools.islice(exponential_backoff(rng=lambda: 0.5), 3)) == [0.25, 0.5, 1.0]


def test_a_stopped_server_leaves_nothing_for_the_next(tmp_path):
    """moto's buckets live in process-wide state: a server that stops must wipe them, or the next
    server in the same process serves another test's objects (a demo's partitions showed up in a
    later fixture's listing once)."""
    from feedcheck.lake.source import VENDOR_BUCKET, VENDOR_PREFIX
    from feedcheck.lake.synthetic import generate_dataset, scenario_with_overrides
    from feedcheck.testing.s3_server import moto_s3_server, publish_tree

    generate_dataset(
        scenario_with_overrides("demo", hours_per_day=0.01, symbols=["BTC-USDT"]), tmp_path
    )
    with moto_s3_server() as first:
        assert publish_tree(first, tmp_path, VENDOR_BUCKET, VENDOR_PREFIX)
    with moto_s3_server() as second:
        client = make_s3_client(LakeSource.vendor(second), ADMIN)
        assert client.list_buckets()["Buckets"] == []
