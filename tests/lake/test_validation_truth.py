"""validate_partition against the synthetic generator's ground truth (builtin `faults` scenario).

The scenario injects every schema-level fault kind into every table it applies to, over 2 symbols
× 2 days, plus one empty partition. For each partition and each check of `CHECK_FAULT_KINDS`, the
count must equal the summed ground-truth count of its kinds, the flagged rows must be among the
rows the truth lists (a swap lists both rows, a regressed message all its rows; the check flags
the first row that goes backwards), and every other check must find nothing.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from feedcheck.errors import EmptyPartitionError
from feedcheck.lake.layout import parse_key
from feedcheck.lake.synthetic import GroundTruth, generate_dataset, load_builtin_scenario
from feedcheck.lake.validation import CHECK_FAULT_KINDS, ValidationReport, validate_partition

EMPTY = "book/BINANCE/ETH-USDT/2024-04-02"


@pytest.fixture(scope="module")
def dataset(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, GroundTruth, dict[str, ValidationReport]]:
    root = tmp_path_factory.mktemp("lake")
    scenario = load_builtin_scenario("faults")
    truth = generate_dataset(scenario, root)
    reports = {}
    for part in truth.partitions:
        if part.partition == EMPTY:
            continue
        partition = parse_key(part.path).partition
        tick = scenario.instrument(partition.symbol).tick
        reports[part.partition] = validate_partition(root / part.path, partition.table, tick=tick)
    return root, truth, reports


def test_counts_equal_ground_truth(dataset) -> None:
    _, truth, reports = dataset
    found = {
        (key, check): r.counts[check]
        for key, r in reports.items()
        for check in CHECK_FAULT_KINDS
        if check in r.counts
    }
    expected = {
        (key, check): sum(truth.count(key, kind) for kind in CHECK_FAULT_KINDS[check])
        for key, check in found
    }
    assert found == expected
    # not vacuous: every mapped check has injected faults somewhere
    assert {check for (_, check), n in expected.items() if n} == set(CHECK_FAULT_KINDS)
    # and no partition with recorded faults went unvalidated
    mapped = {kind for kinds in CHECK_FAULT_KINDS.values() for kind in kinds}
    assert sum(found.values()) == sum(f.count for f in truth.faults if f.kind in mapped)


def test_flagged_rows_are_truth_rows(dataset) -> None:
    _, truth, reports = dataset
    for key, report in reports.items():
        for check, kinds in CHECK_FAULT_KINDS.items():
            truth_rows = {
                row
                for f in truth.faults
                if f.partition == key and f.kind in kinds
                for row in f.rows
            }
            flagged = set(report.failure_cases.filter(pl.col("check") == check)["index"].to_list())
            assert flagged <= truth_rows, (key, check)


def test_nothing_else_fails(dataset) -> None:
    _, truth, reports = dataset
    others = {
        (key, check): n
        for key, r in reports.items()
        for check, n in r.counts.items()
        if n and check not in CHECK_FAULT_KINDS
    }
    assert others == {}
    assert {key: r.rows for key, r in reports.items()} == {
        p.partition: p.rows for p in truth.partitions if p.partition != EMPTY
    }
    assert all(r.skipped == () for r in reports.values())


def test_empty_partition_is_reported(dataset) -> None:
    root, truth, _ = dataset
    (empty,) = [p for p in truth.partitions if p.partition == EMPTY]
    assert empty.rows == 0
    with pytest.raises(EmptyPartitionError) as info:
        validate_partition((root / empty.path).parent, "book")
    assert info.value.found == "0 rows in 1 file(s)"


def test_small_batches_give_the_same_report(dataset) -> None:
    """Streamed in 1,999-row batches (every partition split, deltas in ~34), each partition's
    counts and failure cases are exactly those of the one-batch run above."""
    root, truth, reports = dataset
    scenario = load_builtin_scenario("faults")
    for part in truth.partitions:
        if part.partition == EMPTY:
            continue
        partition = parse_key(part.path).partition
        tick = scenario.instrument(partition.symbol).tick
        small = validate_partition(root / part.path, partition.table, tick=tick, batch_rows=1_999)
        whole = reports[part.partition]
        assert part.rows > 1_999
        assert (small.rows, small.counts, small.skipped) == (
            whole.rows,
            whole.counts,
            whole.skipped,
        )
        assert_frame_equal(small.failure_cases, whole.failure_cases)
