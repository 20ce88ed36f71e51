"""Memory profiling in a child process: phases, budget criterion edges, a capped run that fails."""

from __future__ import annotations

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


def test_capped_run_too_small_reports_child_error(small_root: Path) -> None:
    # 64 MiB of address space cannot even map the interpreter's imports of numpy/polars.
    capped = profile_memory(small_root, cap_bytes=64 * MIB)
    assert capped.completed is False
    assert capped.cap_bytes == 64 * MIB
    assert capped.error is not None and capped.error != ""
    assert capped.rows is None
    assert capped.criterion.status is Status.UNKNOWN
    assert [p.name for p in capped.phases] == []


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
