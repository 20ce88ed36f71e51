"""Memory profiling in a child process: phases, budget criterion edges, a capped run that fails."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from feedcheck.analysis.memory import (
    BUDGET_BYTES,
    CRITERION_NAME,
    GIB,
    MIB,
    SMALL_HOST_BUDGET_BYTES,
    MemoryProfile,
    _child_error,
    memory_criterion,
    profile_memory,
)
from feedcheck.analysis.peak_rss import peak_rss_bytes, reset_peak_rss
from feedcheck.errors import ConfigError, DataError
from feedcheck.lake.synthetic import Rates, Scenario, generate_dataset
from feedcheck.report.criteria import Status
from feedcheck.report.spike import memory_figure_rows

PHASES = ["startup", "reconstruct", "origin_time", "duckdb"]


@pytest.fixture(scope="module")
def small_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mem")
    sc = Scenario(
        seed=5, symbols=("BTC-USDT",), start=date(2024, 4, 1), end=date(2024, 4, 2),
        hours_per_day=0.03, tables=("book_delta_v2",), rates=Rates(levels_per_message=40.0),
        chunk_rows=3_000,
    )  # fmt: skip
    truth = generate_dataset(sc, root)
    assert truth.partitions[0].rows == 43_339
    return root


@pytest.fixture(scope="module")
def profile(small_root: Path) -> MemoryProfile:
    return profile_memory(small_root)


def test_constants() -> None:
    assert BUDGET_BYTES == 24 * 1024**3
    assert SMALL_HOST_BUDGET_BYTES == 16 * 1024**3


def test_profile_completes_with_phases_in_order(profile: MemoryProfile) -> None:
    assert profile.completed is True
    assert profile.error is None
    assert profile.rows == 43_339
    assert [p.name for p in profile.phases] == PHASES
    for earlier, later in zip(profile.phases, profile.phases[1:], strict=False):
        assert earlier.start_s <= earlier.end_s <= later.start_s
    assert all(p.hwm_bytes > 0 for p in profile.phases)


def test_profile_peak_at_least_p95(profile: MemoryProfile) -> None:
    assert profile.samples > 0
    assert profile.p95_bytes is not None and profile.peak_bytes is not None
    assert 0 < profile.p95_bytes <= profile.peak_bytes
    assert profile.child_hwm_bytes is not None and profile.child_hwm_bytes > 0
    assert profile.criterion.name == CRITERION_NAME
    assert profile.criterion.status is Status.PASS
    assert profile.criterion.value == profile.p95_bytes
    assert profile.criterion.threshold == BUDGET_BYTES


def test_criterion_edges() -> None:
    assert memory_criterion(16 * GIB - 1, 16 * GIB, "x").status is Status.PASS
    at = memory_criterion(16 * GIB, 16 * GIB, "x")
    assert (at.status, at.value, at.threshold, at.unit) == (
        Status.FAIL,
        16 * GIB,
        16 * GIB,
        "bytes",
    )
    assert memory_criterion(16 * GIB + 1, 16 * GIB, "x").status is Status.FAIL
    unknown = memory_criterion(None, BUDGET_BYTES, "x")
    assert (unknown.status, unknown.value) == (Status.UNKNOWN, None)
    assert memory_criterion(300 * MIB, 16 * GIB, "x").evidence == (
        "P95 RSS 300 MiB < budget 16.0 GiB over x"
    )


@pytest.fixture(scope="module")
def capped_64mib(small_root: Path) -> MemoryProfile:
    # 64 MiB of address space cannot even map the interpreter's imports of numpy/polars.
    return profile_memory(small_root, cap_bytes=64 * MIB)


def test_capped_run_too_small_reports_child_error(capped_64mib: MemoryProfile) -> None:
    capped = capped_64mib
    assert capped.completed is False
    assert capped.cap_bytes == 64 * MIB
    assert capped.error is not None and capped.error != ""
    assert capped.rows is None
    assert capped.criterion.status is Status.UNKNOWN
    assert [p.name for p in capped.phases] == []


def test_figure_rows_report_phases_small_host_and_what_failed_under_the_cap(
    profile: MemoryProfile, capped_64mib: MemoryProfile
) -> None:
    rows = memory_figure_rows(profile, capped_64mib, SMALL_HOST_BUDGET_BYTES)
    assert [r["criterion"] for r in rows] == [
        "peak RSS", "P95 RSS", *(f"phase {p}" for p in PHASES), "small host: P95 < 16 GiB",
        "hard cap 0.0625 GiB rerun",
    ]  # fmt: skip
    by = {r["criterion"]: r for r in rows}
    assert by["peak RSS"]["value"] == f"{profile.peak_bytes / MIB:.0f}"
    assert by["P95 RSS"]["value"] == f"{profile.p95_bytes / MIB:.0f}"
    assert by["small host: P95 < 16 GiB"]["status"] == "PASS"
    failed = by["hard cap 0.0625 GiB rerun"]
    assert failed["status"] == "failed"
    assert failed["evidence"] == (
        "did not complete under RLIMIT_AS 0.0625 GiB, DuckDB memory_limit 32 MB: "
        f"{capped_64mib.error}; phases finished: none"
    )
    assert all(r["status"] is None for r in rows[: 2 + len(PHASES)])
    # A run at or over 16 GiB fails the small-host profile; a capped run that completes says so.
    big = dataclasses.replace(profile, p95_bytes=SMALL_HOST_BUDGET_BYTES, peak_bytes=17 * GIB)
    ok_cap = dataclasses.replace(profile, cap_bytes=4 * GIB)
    rows = memory_figure_rows(big, ok_cap, SMALL_HOST_BUDGET_BYTES)
    assert rows[-2]["status"] == "FAIL" and rows[-2]["value"] == "16384"
    assert (rows[-1]["criterion"], rows[-1]["status"]) == ("hard cap 4 GiB rerun", "completed")
    assert rows[-1]["evidence"].startswith("completed under RLIMIT_AS 4 GiB, DuckDB memory_limit")
    assert len(memory_figure_rows(profile, None, SMALL_HOST_BUDGET_BYTES)) == 3 + len(PHASES)


def test_bad_arguments(small_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        profile_memory(small_root, interval_s=0.2)
    with pytest.raises(ConfigError):
        profile_memory(small_root, cap_bytes=0)
    with pytest.raises(DataError):
        profile_memory(tmp_path)


def test_child_error_picks_exception_line() -> None:
    stderr = (
        'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
        "_duckdb.OutOfMemoryException: Out of Memory Error: Failed to allocate\n\n"
        "See also https://duckdb.org/docs\n"
    )
    assert _child_error(1, stderr) == (
        "_duckdb.OutOfMemoryException: Out of Memory Error: Failed to allocate"
    )
    assert _child_error(1, "<jemalloc>: thread creation failed\n") == (
        "<jemalloc>: thread creation failed"
    )
    assert _child_error(3, "") == "exit status 3, no stderr"
    assert _child_error(-9, "") == "killed by SIGKILL"


def test_peak_rss_helper_reads_this_process() -> None:
    before = peak_rss_bytes()
    assert before > 0
    assert isinstance(reset_peak_rss(), bool)
    assert peak_rss_bytes() > 0
