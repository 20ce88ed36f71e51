"""The `download` flow end to end: generated Lake data on a real moto S3 server, the real Prefect
engine (session harness), artifacts read back from the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prefect.artifacts import Artifact

from feedcheck.errors import NoFilesFoundError
from feedcheck.flows.download import FAILURE_CASES_FILE, VALIDATION_COUNTS_FILE, download
from feedcheck.lake.layout import TABLES
from feedcheck.lake.validation import CHECK_FAULT_KINDS
from feedcheck.report.download import staged_run
from feedcheck.testing.s3_server import MOTO_SECRET_ACCESS_KEY
from tests.flows.conftest import PublishedLake

TICK = 0.01
# Checks whose failing rows equal the injected count of their fault kinds with no interference.
EXACT_CHECKS = (
    "origin_missing",
    "nonpositive_price",
    "negative_size",
    "invalid_side",
    "duplicate_trade_id",
    "off_tick_price",
    "day_boundary_leak",
)


def _run(lake: PublishedLake, staging: Path, **kw):
    return download(
        start=lake.scenario_start,
        end=lake.scenario_end,
        symbols=lake.symbols,
        staging_dir=str(staging),
        endpoint_url=lake.endpoint,
        tick=TICK,
        **kw,
    )


def test_stages_every_partition_and_finds_every_injected_schema_fault(
    published_faults, lake_keys, tmp_path
):
    truth = published_faults.truth
    outcome = _run(published_faults, tmp_path / "staging")

    assert outcome.ok
    assert outcome.summary["files"] == len(truth.partitions)
    assert outcome.summary["by_status"]["downloaded"] == len(truth.partitions)
    assert outcome.summary["rows"] == sum(p.rows for p in truth.partitions)
    assert outcome.missing_partitions == ["trades/BINANCE/ETH-USDT/2024-04-01"]
    for p in truth.partitions:
        assert (tmp_path / "staging" / p.path).is_file()
    for check in EXACT_CHECKS:
        for p in truth.partitions:
            expected = sum(truth.count(p.partition, kind) for kind in CHECK_FAULT_KINDS[check])
            found = outcome.validation.get(p.partition, {}).get(check, 0)
            assert found == expected, (p.partition, check)
    assert outcome.validation["book/BINANCE/ETH-USDT/2024-04-02"] == {"empty_partition": 1}
    assert sum(truth.total(k) for c in EXACT_CHECKS for k in CHECK_FAULT_KINDS[c]) > 0
    # what the CLI prints afterwards is read back from the staging folder: the same counts
    staging = tmp_path / "staging"
    assert outcome.failure_cases_path == str(staging / FAILURE_CASES_FILE)
    staged = staged_run(
        outcome.manifest_path,
        outcome.failure_cases_path,
        validated=True,
        counts_path=staging / VALIDATION_COUNTS_FILE,
    )
    assert staged.validation == outcome.validation
    assert staged.cases_dropped == outcome.cases_dropped == 0

    manifest = Artifact.get("download-manifest")
    assert manifest is not None and manifest.type == "table"
    rows = json.loads(manifest.data)
    assert sorted(r["file"] for r in rows) == sorted(p.path for p in truth.partitions)
    summary = Artifact.get("download-summary")
    assert summary is not None and "trades/BINANCE/ETH-USDT/2024-04-01" in summary.data
    assert MOTO_SECRET_ACCESS_KEY not in summary.data + manifest.data


def test_rerun_skips_every_verified_file(published_faults, lake_keys, tmp_path):
    first = _run(published_faults, tmp_path / "staging", validate_schemas=False)
    second = _run(published_faults, tmp_path / "staging", validate_schemas=False)
    assert first.summary["by_status"]["downloaded"] == first.summary["files"]
    assert (
        second.summary["by_status"]["skipped"] == second.summary["files"] == first.summary["files"]
    )
    assert second.validation == {}


def test_empty_range_fails_the_run_naming_what_was_asked(published_faults, lake_keys, tmp_path):
    from datetime import date

    state = download(
        start=date(2023, 1, 1),
        end=date(2023, 1, 3),
        tables=["trades"],
        symbols=["BTC-USDT"],
        staging_dir=str(tmp_path),
        endpoint_url=published_faults.endpoint,
        return_state=True,
    )
    assert state.is_failed()
    with pytest.raises(NoFilesFoundError, match="trades BINANCE BTC-USDT"):
        state.result()
    assert not any(tmp_path.rglob("*.parquet"))
    assert set(TABLES) >= {"trades"}
