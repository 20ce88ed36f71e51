"""Delta gap analysis: exact counts vs ground_truth.json, clean data, empty/missing days, capture."""

from __future__ import annotations

import dataclasses
import functools
import json
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from feedcheck.analysis.gaps import (
    DeltaGapResult,
    PartitionGaps,
    _message_times,
    _time_batches,
    analyse_delta_gaps,
    capture_gap_ratio,
    partition_gaps,
    worst_stream_day,
)
from feedcheck.binance.validate import group_recordings, validate_recordings
from feedcheck.binance.validate_result import CaptureValidation
from feedcheck.book.replay import message_starts
from feedcheck.errors import ConfigError
from feedcheck.lake.synthetic import generate_dataset, load_builtin_scenario
from feedcheck.report.criteria import Status

from .conftest import SyntheticDataset

REAL = Path(__file__).parents[1] / "data" / "real"
TICK = 0.01
LOTS = {"BTC-USDT": 1e-5, "ETH-USDT": 1e-4}
D1, D2, D3 = date(2024, 4, 1), date(2024, 4, 2), date(2024, 4, 3)


@pytest.fixture(scope="module")
def faults_gaps(synthetic_faults: SyntheticDataset) -> DeltaGapResult:
    return analyse_delta_gaps(synthetic_faults.root, tick=TICK, lot=LOTS)


@pytest.fixture(scope="module")
def clean_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """book_delta_v2 only, no fault; ETH 2024-04-02 empty, BTC 2024-04-02 missing."""
    root = tmp_path_factory.mktemp("gaps-clean")
    scenario = dataclasses.replace(
        load_builtin_scenario("faults"),
        tables=("book_delta_v2",),
        faults=(),
        empty_partitions=("book_delta_v2/BINANCE/ETH-USDT/2024-04-02",),
        missing_partitions=("book_delta_v2/BINANCE/BTC-USDT/2024-04-02",),
        chunk_rows=20_000,
    )
    generate_dataset(scenario, root)
    return root


@functools.cache
def real_validation() -> CaptureValidation:
    return validate_recordings(group_recordings([REAL]))


def _truth_key(p: PartitionGaps) -> str:
    return f"book_delta_v2/{p.exchange}/{p.symbol}/{p.dt.isoformat()}"


class TestFaultsScenario:
    def test_counts_match_ground_truth_per_partition(
        self, synthetic_faults: SyntheticDataset, faults_gaps: DeltaGapResult
    ) -> None:
        truth = synthetic_faults.truth
        assert len(faults_gaps.partitions) == 4
        for p in faults_gaps.partitions:
            key = _truth_key(p)
            holes = [f for f in truth.faults if f.partition == key and f.kind == "time_hole"]
            stranded = [
                f for f in truth.faults if f.partition == key and f.kind == "stranded_level"
            ]
            assert p.present
            assert p.regressions == truth.count(key, "sequence_regression") == 2
            assert p.duplicates == truth.count(key, "sequence_duplicate") == 2
            assert p.holes == truth.count(key, "time_hole") == 1
            assert p.hole_missing_messages == sum(
                i["removed_events"] for f in holes for i in f.details["instances"]
            )
            assert p.crossed_episodes == truth.count(key, "stranded_level") == 2
            assert p.crossed_messages == sum(f.details["crossed_messages"] for f in stranded)
            assert p.off_tick_prices == truth.count(key, "off_tick_price") > 0
            assert p.off_lot_sizes == 0
            (pt,) = [t for t in truth.partitions if t.partition == key]
            # ground truth counts distinct messages; a re-send is a second message here.
            assert (p.rows, p.messages - p.duplicates) == (pt.rows, pt.messages)
            assert (p.cadence_ns, p.hole_threshold_ns) == (100_000_000, 1_000_000_000)

    def test_gap_ratio_definition_and_fail(self, faults_gaps: DeltaGapResult) -> None:
        p = faults_gaps.partitions[0]
        events = 2 + 2 + p.hole_missing_messages + 2
        assert p.gap_events == events
        assert p.gap_ratio == events / (p.messages + p.hole_missing_messages)
        assert [(d, c.status) for d, c in faults_gaps.per_day] == [
            (D1, Status.FAIL),
            (D2, Status.FAIL),
        ]
        worst = max(faults_gaps.partitions, key=lambda q: q.gap_ratio or 0)
        assert faults_gaps.overall is not None
        assert faults_gaps.overall.status == Status.FAIL
        assert faults_gaps.overall.value == worst.gap_ratio * 100
        assert faults_gaps.overall.threshold == 0.1
        assert f"{worst.symbol} {worst.dt}, the worst of 4 stream-days (4 at or over" in (
            faults_gaps.overall.evidence
        )

    def test_a_thin_symbols_bad_day_is_not_averaged_away(self) -> None:
        """1 M clean BTC messages and 1,000 SOL ones with 5 regressions: 0.0005 % summed, but
        SOL's day is 0.5 %, and the criterion judges the worst stream-day."""
        btc = PartitionGaps("BINANCE", "BTC-USDT", D1, True, messages=1_000_000)
        sol = PartitionGaps("BINANCE", "SOL-USDT", D1, True, messages=1_000, regressions=5)
        absent = PartitionGaps("BINANCE", "SOL-USDT", D2, False)
        c = worst_stream_day("gap", [btc, sol, absent], 0.001)
        assert (c.status, c.value) == (Status.FAIL, 0.5)
        assert c.evidence.startswith(
            "5 gap events over 1000 messages on BINANCE SOL-USDT 2024-04-01"
        )
        assert "1 at or over the limit, 1 missing; all together 5 over 1001000" in c.evidence
        fine = worst_stream_day("gap", [btc, dataclasses.replace(sol, regressions=0)], 0.001)
        assert (fine.status, fine.value) == (Status.PASS, 0.0)
        nothing = worst_stream_day("gap", [absent], 0.001)
        assert (nothing.status, nothing.value) == (Status.UNKNOWN, None)

    def test_threshold_is_a_parameter(self, synthetic_faults: SyntheticDataset) -> None:
        r = analyse_delta_gaps(
            synthetic_faults.root, symbols=["BTC-USDT"], end=D2, tick=TICK, lot=LOTS,
            max_gap_ratio=0.5,
        )  # fmt: skip
        assert [(d, c.status, c.threshold) for d, c in r.per_day] == [(D1, Status.PASS, 50.0)]

    def test_to_json_round_trips_through_json(self, faults_gaps: DeltaGapResult) -> None:
        raw = json.loads(json.dumps(faults_gaps.to_json()))
        assert raw["overall"]["status"] == "FAIL"
        assert [d["dt"] for d in raw["per_day"]] == ["2024-04-01", "2024-04-02"]
        assert raw["partitions"][0]["regressions"] == 2
        assert raw["partitions"][0]["gap_events"] == faults_gaps.partitions[0].gap_events


class TestCleanEmptyMissing:
    def test_clean_day_has_zero_gaps_and_passes(self, clean_root: Path) -> None:
        r = analyse_delta_gaps(clean_root, end=D2, tick=TICK, lot=LOTS)
        assert [(p.symbol, p.present, p.gap_events, p.crossed_messages) for p in r.partitions] == [
            ("BTC-USDT", True, 0, 0),
            ("ETH-USDT", True, 0, 0),
        ]
        assert all(p.gap_ratio == 0.0 and p.messages > 0 for p in r.partitions)
        assert [(d, c.status, c.value) for d, c in r.per_day] == [(D1, Status.PASS, 0.0)]
        assert r.overall is not None and r.overall.status == Status.PASS

    def test_empty_and_missing_day_is_unknown(self, clean_root: Path) -> None:
        r = analyse_delta_gaps(clean_root, start=D2, end=D3, tick=TICK, lot=LOTS)
        # BTC has no file in range at all: only ETH's empty partition is seen.
        assert [(p.symbol, p.present, p.messages) for p in r.partitions] == [("ETH-USDT", True, 0)]
        assert [(d, c.status, c.value) for d, c in r.per_day] == [(D2, Status.UNKNOWN, None)]
        assert r.overall is not None and r.overall.status == Status.UNKNOWN

    def test_missing_day_listed_and_day_criterion_uses_the_rest(self, clean_root: Path) -> None:
        r = analyse_delta_gaps(clean_root, tick=TICK, lot=LOTS)
        got = [(p.symbol, p.dt, p.present, p.messages > 0) for p in r.partitions]
        assert got == [
            ("BTC-USDT", D1, True, True),
            ("BTC-USDT", D2, False, False),
            ("ETH-USDT", D1, True, True),
            ("ETH-USDT", D2, True, False),
        ]
        assert [(d, c.status) for d, c in r.per_day] == [(D1, Status.PASS), (D2, Status.UNKNOWN)]
        assert "missing: BTC-USDT" in r.per_day[1][1].evidence
        assert r.overall is not None and r.overall.status == Status.PASS

    def test_empty_partition_file_reads_as_zero(self, clean_root: Path) -> None:
        (f,) = (clean_root / "book_delta_v2/exchange=BINANCE/symbol=ETH-USDT/dt=2024-04-02").glob(
            "*.parquet"
        )
        assert pq.ParquetFile(f).metadata.num_rows == 0
        g, final = partition_gaps(f, tick=TICK, lot=1e-4)
        assert (g.rows, g.messages, g.gap_events, g.cadence_ns, g.gap_ratio) == (0, 0, 0, 0, None)
        assert len(final.bid_px) == len(final.ask_px) == 0

    def test_no_file_at_all_is_unknown(self, tmp_path: Path) -> None:
        r = analyse_delta_gaps(tmp_path, tick=TICK, lot=1e-5)
        assert (r.partitions, r.per_day) == ((), ())
        assert r.overall is not None and r.overall.status == Status.UNKNOWN

    def test_bad_parameters_raise(self, clean_root: Path) -> None:
        with pytest.raises(ConfigError, match="no lot given for ETH-USDT"):
            analyse_delta_gaps(clean_root, tick=TICK, lot={"BTC-USDT": 1e-5})
        with pytest.raises(ConfigError, match="max_gap_ratio"):
            analyse_delta_gaps(clean_root, tick=TICK, lot=LOTS, max_gap_ratio=0)


class TestCapture:
    def test_real_recordings_have_zero_gap_ratio(self) -> None:
        v = real_validation()
        r = capture_gap_ratio(v)
        assert [(label, g) for label, g, _ in r.recordings] == [
            ("ethusdt_20240808.gz", 0),
            ("ethusdt_20240718.gz", 0),
            ("BINANCE-ee25be.0", 0),
        ]
        assert r.depth_events == sum(rec.depth_events for rec in v.recordings) > 0
        assert (r.gaps, r.gap_ratio, r.criterion.status) == (0, 0.0, Status.PASS)
        assert json.loads(json.dumps(r.to_json()))["criterion"]["status"] == "PASS"

    def test_no_recording_is_unknown(self) -> None:
        r = capture_gap_ratio(CaptureValidation(()))
        assert (r.gaps, r.depth_events, r.gap_ratio, r.criterion.status) == (
            0, 0, None, Status.UNKNOWN,
        )  # fmt: skip

    def test_recording_with_gaps_fails(self) -> None:
        # The spot recording's own validation with 20 chain breaks written into its counters.
        rec = real_validation().recordings[0]
        broken = dataclasses.replace(
            rec, symbols=tuple(dataclasses.replace(s, gaps=20) for s in rec.symbols)
        )
        r = capture_gap_ratio(CaptureValidation((broken,)))
        assert (r.gaps, r.depth_events) == (20, rec.depth_events)
        assert r.gap_ratio == 20 / rec.depth_events
        assert (r.criterion.status, r.criterion.value) == (Status.FAIL, 20 / rec.depth_events * 100)


def _eager_message_times(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pre-streaming reference: the three columns read whole, messages found in one pass."""
    table = pq.read_table(path, columns=["timestamp", "receipt_timestamp", "sequence_number"])
    recv = table.column("receipt_timestamp").fill_null(0).to_numpy()
    seq = table.column("sequence_number").to_numpy()
    starts = message_starts(recv, seq)[:-1]
    origin = table.column("timestamp").fill_null(0).to_numpy()[starts]
    valid = (~table.column("timestamp").is_null().to_numpy(zero_copy_only=False))[starts]
    return seq[starts], origin, valid & (origin > 0)


@pytest.fixture(scope="module")
def small_groups(
    synthetic_faults: SyntheticDataset, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The faults BTC day rewritten with 997-row row groups (messages straddle them)."""
    (src,) = (
        synthetic_faults.root / "book_delta_v2/exchange=BINANCE/symbol=BTC-USDT/dt=2024-04-01"
    ).glob("*.parquet")
    dst = tmp_path_factory.mktemp("gaps-rg") / src.relative_to(synthetic_faults.root)
    dst.parent.mkdir(parents=True)
    pq.write_table(pq.read_table(src), dst, row_group_size=997)
    assert pq.ParquetFile(dst).num_row_groups > 10
    return src, dst


class TestStreamedReads:
    """`_message_times` reads the delta columns in bounded batches with the eager answers."""

    @pytest.mark.parametrize("batch_rows", [3, 1_000, 10**9])
    def test_batched_message_times_equal_the_eager_read(
        self, small_groups: tuple[Path, Path], batch_rows: int
    ) -> None:
        src, dst = small_groups
        want = _eager_message_times(src)
        assert len(want[0]) > 1_000  # enough messages for boundaries to fall inside them
        for got in (_message_times(src, batch_rows), _message_times(dst, batch_rows)):
            for g, w in zip(got, want, strict=True):
                np.testing.assert_array_equal(g, w)

    @pytest.mark.parametrize("batch_rows", [500, 2_000])
    def test_no_batch_exceeds_batch_rows(
        self, small_groups: tuple[Path, Path], batch_rows: int
    ) -> None:
        src, dst = small_groups
        rows = pq.ParquetFile(src).metadata.num_rows
        for path in (src, dst):
            sizes = [len(b[0]) for b in _time_batches(path, batch_rows)]
            assert sum(sizes) == rows
            assert max(sizes) <= batch_rows
            assert len(sizes) >= -(-rows // batch_rows)

    def test_partition_gaps_equal_across_row_group_layouts(
        self, small_groups: tuple[Path, Path]
    ) -> None:
        src, dst = small_groups
        one, _ = partition_gaps(src, tick=TICK, lot=LOTS["BTC-USDT"])
        many, _ = partition_gaps(dst, tick=TICK, lot=LOTS["BTC-USDT"])
        assert one == many
        assert one.regressions == one.duplicates == 2 and one.holes == 1

    def test_bad_batch_rows_raises(self, small_groups: tuple[Path, Path]) -> None:
        with pytest.raises(ConfigError, match="batch_rows"):
            _message_times(small_groups[0], 0)
