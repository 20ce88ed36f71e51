"""The download summary rebuilt from a staging folder's files (manifest + failure cases), as a
run that keeps only those files (the go/no-go's child download) prints it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
from rich.console import Console

from feedcheck.lake.manifest import Manifest, ManifestEntry
from feedcheck.lake.validation import failure_counts, validate_files, write_counts
from feedcheck.report.download import print_summary, staged_run
from feedcheck.schemas.lake_columns import NS_PER_DAY
from tests.lake.test_validation import TRADES, put, raw_trades

NEXT_DAY = replace(TRADES, dt=date(2024, 4, 2))
MISSING = "trades/BINANCE/BTC-USDT/2024-04-03"


def _entry(relpath: str, dt: date, rows: int, status: str = "downloaded") -> ManifestEntry:
    ok = status in ("downloaded", "skipped")
    return ManifestEntry(
        relpath=relpath,
        table="trades",
        exchange="BINANCE",
        symbol="BTC-USDT",
        dt=dt,
        size_bytes=2_048,
        etag="e",
        md5_ok=ok,
        footer_ok=ok or None,
        rows=rows if ok else None,
        row_groups=1 if ok else None,
        status=status,  # type: ignore[arg-type]
        attempts=1,
        error=None if ok else "md5 mismatch",
        seconds=0.1,
    )


def _staging(tmp_path: Path) -> tuple[Path, Path, pl.DataFrame]:
    """Two staged trades days: day 1 with a non-positive price and a repeated id (rows 3 and 8),
    day 2 clean; a third day missing; the failure cases written as the download flow writes them."""
    bad = put(raw_trades(20), "price", {3: 0.0}).pipe(put, "id", {8: 1_000})
    day = pl.col("timestamp", "receipt_timestamp") + NS_PER_DAY
    good = raw_trades(10).with_columns(day)  # raw_trades are on TRADES.dt
    reports = []
    for part, frame in ((TRADES, bad), (NEXT_DAY, good)):
        path = tmp_path / part.path / "1.parquet"
        path.parent.mkdir(parents=True)
        frame.write_parquet(path)
        reports.append(validate_files([path], "trades", part, tick=0.01))
    failures = pl.concat([r.failure_cases for r in reports if r.failure_cases.height])
    failures_path = tmp_path / "validation_failures.parquet"
    failures.write_parquet(failures_path)
    manifest = Manifest.of(
        [
            _entry(f"{TRADES.path}/1.parquet", TRADES.dt, 20),
            _entry(f"{NEXT_DAY.path}/1.parquet", NEXT_DAY.dt, 10),
        ],
        [MISSING],
    )
    return manifest.write(tmp_path / "manifest.parquet"), failures_path, failures


def test_failure_counts_equal_each_reports_counts(tmp_path):
    _, _, failures = _staging(tmp_path)
    assert failure_counts(failures) == {
        TRADES.key: {"duplicate_trade_id": 1, "nonpositive_price": 1}
    }
    assert failure_counts(failures.head(0)) == {}


def test_staged_run_prints_the_manifest_summary_and_findings(tmp_path):
    manifest_path, failures_path, _ = _staging(tmp_path)
    run = staged_run(manifest_path, failures_path, validated=True)
    assert (run.summary["files"], run.summary["rows"], run.summary["downloaded"]) == (2, 30, 2)
    assert run.missing_partitions == [MISSING]
    assert run.validation == {
        TRADES.key: {"duplicate_trade_id": 1, "nonpositive_price": 1},
        NEXT_DAY.key: {},
    }
    console = Console(record=True, width=120)
    print_summary(console, run)
    text = console.export_text()
    assert run.staging_dir == str(tmp_path)
    assert "│ total  │     2 │ 4.0 KiB │   30 │" in text
    assert "files: 2 downloaded, 0 skipped, 0 corrupt, 0 failed" in text
    assert f"missing partitions: 1\n  - {MISSING}" in text
    assert "│ duplicate_trade_id │    1 │" in text and "│ nonpositive_price  │    1 │" in text
    assert f"manifest: {manifest_path}" in text and f"failure cases: {failures_path}" in text


def test_counts_file_gives_exact_counts_beyond_the_kept_cases(tmp_path):
    """The failure-case file keeps the first cases per check; the counts file has them all."""
    manifest_path, failures_path, _ = _staging(tmp_path)
    counts = {TRADES.key: {"duplicate_trade_id": 1, "nonpositive_price": 40_000}}
    counts_path = write_counts(tmp_path / "validation_counts.json", counts, cases_dropped=30_000)
    run = staged_run(manifest_path, failures_path, validated=True, counts_path=counts_path)
    assert run.validation == counts | {NEXT_DAY.key: {}}
    assert run.cases_dropped == 30_000
    console = Console(record=True, width=160)
    print_summary(console, run)
    text = console.export_text()
    assert "│ nonpositive_price  │ 40,000 │" in text
    assert "30,000 more are counted above but not kept" in text


def test_without_failure_cases_validation_found_nothing_or_did_not_run(tmp_path):
    manifest_path, failures_path, _ = _staging(tmp_path)
    failures_path.unlink()  # the flow writes the file only when some check failed
    clean = staged_run(manifest_path, failures_path, validated=True)
    assert clean.validation == {TRADES.key: {}, NEXT_DAY.key: {}}
    assert clean.failure_cases_path is None
    skipped = staged_run(manifest_path, None, validated=False)
    for run, line in ((clean, "schema validation: no findings"), (skipped, "not run")):
        console = Console(record=True, width=120)
        print_summary(console, run)
        assert line in console.export_text()
