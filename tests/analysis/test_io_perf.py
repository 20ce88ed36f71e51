"""Parquet I/O measurement (`feedcheck.analysis.io_perf`): structure and units of the result, the
220 GB/month arithmetic and its criterion at the edges, per-child memory, bad input.

Never asserts a time or a speed: only counts, sizes and the arithmetic that relates them.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feedcheck.analysis.io_perf import find_parquet, measure_io, read_source, run_load
from feedcheck.analysis.io_perf_result import (
    MONTH_BYTES,
    IoPerfResult,
    check_month,
)
from feedcheck.errors import ConfigError, CorruptFileError, DataError, SchemaMismatchError
from feedcheck.lake.synthetic import GroundTruth, Rates, Scenario, generate_dataset
from feedcheck.report.criteria import Status

DELTA_GLOB = "book_delta_v2/**/*.parquet"
SCENARIO = Scenario(
    seed=3,
    symbols=("BTC-USDT", "ETH-USDT"),
    start=date(2024, 4, 1),
    end=date(2024, 4, 2),
    tables=("trades", "book_delta_v2"),
    hours_per_day=0.02,
    rates=Rates(levels_per_message=10.0),
    chunk_rows=5_000,
)


@dataclass(frozen=True)
class Measured:
    lake: Path
    work: Path
    truth: GroundTruth
    result: IoPerfResult


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Measured:
    base = tmp_path_factory.mktemp("io-perf")
    truth = generate_dataset(SCENARIO, base / "lake")
    result = measure_io(base / "lake", glob=DELTA_GLOB, work_dir=base / "work", repeats=1)
    return Measured(base / "lake", base / "work", truth, result)


def delta_files(lake: Path) -> list[Path]:
    return sorted(lake.glob(DELTA_GLOB))


class TestResultStructure:
    def test_source_counts_match_the_files(self, measured: Measured) -> None:
        files = delta_files(measured.lake)
        r = measured.result
        expected_rows = sum(
            p.rows for p in measured.truth.partitions if p.partition.startswith("book_delta_v2/")
        )
        assert r.files == len(files) == 2
        assert r.rows == expected_rows
        assert r.source_file_bytes == sum(f.stat().st_size for f in files)
        assert r.source == f"{measured.lake} ({DELTA_GLOB})"

    def test_decoded_bytes_equal_the_arrow_table_nbytes(self, measured: Measured) -> None:
        table = pa.concat_tables(pq.ParquetFile(f).read() for f in delta_files(measured.lake))
        assert measured.result.decoded_bytes == table.nbytes
        assert {r.decoded_bytes for r in measured.result.rates} == {table.nbytes}
        assert {r.rows for r in measured.result.rates} == {table.num_rows}

    def test_grid_is_every_engine_by_codec_writes_then_reads(self, measured: Measured) -> None:
        cells = [(r.op, r.codec, r.engine) for r in measured.result.rates]
        engines, codecs = ("polars", "pyarrow", "duckdb"), ("snappy", "zstd")
        assert cells == [
            (op, c, e) for op in ("write", "read") for c, e in itertools.product(codecs, engines)
        ]

    def test_file_bytes_are_the_sizes_of_the_files_written_and_read(
        self, measured: Measured
    ) -> None:
        io_dir = measured.work / "io"
        for r in measured.result.rates:
            writer = r.engine if r.op == "write" else "pyarrow"
            assert r.file == str(io_dir / f"{writer}-{r.codec}.parquet")
            assert r.file_bytes == Path(r.file).stat().st_size
            assert pq.ParquetFile(r.file).metadata.num_rows == measured.result.rows

    def test_rates_are_bytes_over_seconds_in_decimal_gb(self, measured: Measured) -> None:
        r = measured.result.rate("duckdb", "zstd", "read")
        assert r.seconds > 0
        assert r.file_gb_per_s == r.file_bytes / r.seconds / 1e9
        assert r.decoded_gb_per_s == r.decoded_bytes / r.seconds / 1e9
        assert r.to_json()["decoded_gb_per_s"] == r.decoded_gb_per_s

    def test_month_rests_on_the_slowest_read_or_load(self, measured: Measured) -> None:
        r = measured.result
        rates = {
            f"{x.engine} read of {x.codec} Parquet": x.file_bytes / x.seconds
            for x in r.rates
            if x.op == "read"
        } | {f"{x.approach} load": x.input_file_bytes / x.seconds for x in r.loads}
        basis = min(rates, key=lambda k: rates[k])
        assert r.month.basis == basis
        assert r.month.measured_bytes_per_s == rates[basis]
        assert r.criteria() == (r.month.criterion,)

    def test_json_round_trip(self, measured: Measured) -> None:
        raw = json.loads(json.dumps(measured.result.to_json()))
        assert IoPerfResult.from_json(raw) == measured.result


class TestLoadsInChildProcesses:
    def test_each_approach_loads_every_row_and_reports_its_own_memory(
        self, measured: Measured
    ) -> None:
        r = measured.result
        assert [x.approach for x in r.loads] == ["polars-eager", "polars-streaming", "duckdb-copy"]
        for run in r.loads:
            out = measured.work / "load" / f"{run.approach}.parquet"
            assert run.rows == r.rows
            assert pq.ParquetFile(out).metadata.num_rows == r.rows
            assert run.output_file_bytes == out.stat().st_size
            assert run.input_file_bytes == r.source_file_bytes
            assert run.input_decoded_bytes == r.decoded_bytes
            assert run.peak_rss_bytes >= run.baseline_rss_bytes > 0
            assert run.sampled_peak_rss_bytes > 0
        assert [x.memory_limit for x in r.loads] == ["", "", "256MB"]

    def test_child_peak_is_not_the_parents(self, measured: Measured, tmp_path: Path) -> None:
        # A 512 MiB parent: an exec'd child's ru_maxrss would start at this size.
        ballast = np.ones(64 * 1024 * 1024, dtype=np.float64)
        files = delta_files(measured.lake)
        run = run_load(
            "polars-streaming",
            files,
            tmp_path / "out.parquet",
            input_decoded_bytes=measured.result.decoded_bytes,
        )
        assert run.peak_rss_bytes < ballast.nbytes
        assert run.rows == measured.result.rows

    def test_failed_child_is_a_data_error_with_its_stderr(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.parquet"
        bad.write_bytes(b"not parquet at all")
        with pytest.raises(DataError, match="duckdb-copy load failed with exit code 1"):
            run_load("duckdb-copy", [bad], tmp_path / "out.parquet", input_decoded_bytes=1)


class TestMonthCheck:
    def test_exact_arithmetic(self) -> None:
        m = check_month(4000.0, "x", month_bytes=2_592_000_000, month_days=30)
        assert m.required_bytes_per_s == 1000.0
        assert m.required_mb_per_s == 0.001
        assert m.measured_mb_per_s == 0.004
        assert m.headroom == 4.0
        assert m.month_processing_s == 648_000.0
        assert m.criterion.status is Status.PASS
        assert (m.criterion.value, m.criterion.threshold, m.criterion.unit) == (
            0.004,
            0.001,
            "MB/s",
        )
        assert m.criterion.name == "I/O supports 220 GB/month"

    def test_default_month_is_220_gb_over_30_days(self) -> None:
        m = check_month(MONTH_BYTES / 2_592_000 * 10, "x")
        assert m.month_bytes == 220_000_000_000
        assert m.required_bytes_per_s == 220_000_000_000 / 2_592_000
        assert m.headroom == 10.0
        assert m.month_processing_s == 259_200.0

    def test_equal_rate_passes_and_one_ulp_below_fails(self) -> None:
        required = 1000.0
        at = check_month(required, month_bytes=2_592_000_000)
        below = check_month(math.nextafter(required, 0.0), month_bytes=2_592_000_000)
        assert (at.criterion.status, at.headroom) == (Status.PASS, 1.0)
        assert below.criterion.status is Status.FAIL
        assert below.headroom is not None and below.headroom < 1.0

    def test_zero_rate_fails_with_no_time(self) -> None:
        m = check_month(0.0, "stalled")
        assert m.criterion.status is Status.FAIL
        assert (m.month_processing_s, m.headroom, m.criterion.value) == (None, None, 0.0)

    def test_nothing_measured_is_unknown(self) -> None:
        m = check_month(None)
        assert m.criterion.status is Status.UNKNOWN
        assert (m.measured_bytes_per_s, m.headroom, m.criterion.value, m.basis) == (
            None,
            None,
            None,
            "",
        )

    @pytest.mark.parametrize("rate", [-1.0, math.nan, math.inf])
    def test_impossible_rate_is_a_config_error(self, rate: float) -> None:
        with pytest.raises(ConfigError, match="finite and >= 0"):
            check_month(rate)

    def test_empty_month_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match="must be > 0"):
            check_month(1.0, month_bytes=0)

    def test_measure_nothing_gives_unknown(self, measured: Measured, tmp_path: Path) -> None:
        r = measure_io(measured.lake, glob=DELTA_GLOB, engines=(), approaches=(), work_dir=tmp_path)
        assert (r.rates, r.loads) == ((), ())
        assert r.month.criterion.status is Status.UNKNOWN


class TestSources:
    def test_scenario_is_generated_then_measured(self, tmp_path: Path) -> None:
        scenario = Scenario(seed=5, tables=("book_delta_v2",), hours_per_day=0.01, chunk_rows=5_000)
        r = measure_io(
            scenario,
            engines=("pyarrow",),
            codecs=("zstd",),
            approaches=(),
            work_dir=tmp_path,
            repeats=1,
        )
        truth = json.loads((tmp_path / "lake" / "ground_truth.json").read_text())
        assert r.rows == sum(p["rows"] for p in truth["partitions"])
        assert [(x.engine, x.codec, x.op) for x in r.rates] == [
            ("pyarrow", "zstd", "write"),
            ("pyarrow", "zstd", "read"),
        ]
        assert r.month.basis == "pyarrow read of zstd Parquet"


class TestBadInput:
    def test_missing_directory(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="does not exist"):
            measure_io(tmp_path / "nope")
        with pytest.raises(ConfigError, match="does not exist"):
            find_parquet(tmp_path / "nope")

    def test_directory_without_parquet(self, tmp_path: Path) -> None:
        (tmp_path / "notes.txt").write_text("no data here")
        with pytest.raises(DataError, match="no Parquet files") as info:
            measure_io(tmp_path, work_dir=tmp_path / "work")
        assert info.value.path == tmp_path

    def test_mixed_schemas(self, measured: Measured) -> None:
        files = find_parquet(measured.lake)
        with pytest.raises(SchemaMismatchError, match="share one schema") as info:
            read_source(files)
        assert "trades" in str(info.value.path)

    def test_corrupt_file(self, tmp_path: Path) -> None:
        bad = tmp_path / "x" / "part-0.parquet"
        bad.parent.mkdir()
        bad.write_bytes(b"PAR1 truncated")
        with pytest.raises(CorruptFileError) as info:
            measure_io(tmp_path, work_dir=tmp_path / "work")
        assert info.value.path == bad

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"engines": ("spark",)},
            {"codecs": ("brotli",)},
            {"codecs": ("zstd", "zstd")},
            {"approaches": ("pandas",)},
            {"repeats": 0},
        ],
    )
    def test_bad_parameters(self, tmp_path: Path, kwargs: dict[str, object]) -> None:
        with pytest.raises(ConfigError):
            measure_io(tmp_path, **kwargs)  # type: ignore[arg-type]
