"""feedcheck.lake.validation: exact failure counts per check on frames and files with known faults."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from feedcheck.errors import ConfigError, CorruptFileError, SchemaMismatchError
from feedcheck.lake.layout import Partition
from feedcheck.lake.readers import normalise
from feedcheck.lake.validation import (
    CHECK_FAULT_KINDS,
    SCHEMA_LEVEL_CHECKS,
    VALIDATION_BATCH_BYTES,
    _batch_rows,
    _file_batches,
    _file_layout,
    read_counts,
    validate_files,
    validate_partition,
    write_counts,
)
from feedcheck.schemas.lake import RowOrderCarry, lake_schema
from feedcheck.schemas.lake_columns import BOOK_DEPTH, CHECK_DESCRIPTIONS, NAT_NS, NS_PER_DAY

DAY = date(2024, 4, 1)
DAY_NS = 1_711_929_600 * 1_000_000_000
DAY_END_NS = DAY_NS + NS_PER_DAY
MS = 1_000_000
S = 1_000 * MS
TRADES = Partition("trades", "BINANCE", "BTC-USDT", DAY)
BOOK = Partition("book", "BINANCE", "BTC-USDT", DAY)
DELTAS = Partition("book_delta_v2", "BINANCE", "BTC-USDT", DAY)

TRADE_CHECKS = (
    "invalid_side",
    "negative_size",
    "nonpositive_price",
    "off_tick_price",
    "duplicate_trade_id",
    "origin_missing",
    "origin_nonpositive",
    "day_boundary_leak",
    "unsorted_rows",
    "received_missing",
    "received_out_of_day",
)
CLOCK_CHECKS = (
    "origin_missing",
    "origin_nonpositive",
    "day_boundary_leak",
    "unsorted_rows",
    "received_missing",
    "received_out_of_day",
)


def zero_counts(checks: tuple[str, ...]) -> dict[str, int]:
    return dict.fromkeys(checks + SCHEMA_LEVEL_CHECKS, 0)


def raw_trades(n: int) -> pl.DataFrame:
    i = np.arange(n)
    ts = DAY_NS + 10 * S + i * 10 * MS
    return pl.DataFrame(
        {
            "side": np.where(i % 2 == 0, "buy", "sell"),
            "amount": np.full(n, 0.5),
            "price": (6_500_000 + i) * 0.01,
            "id": 1_000 + i,
            "timestamp": ts,
            "receipt_timestamp": ts + 5 * MS,
        },
        schema_overrides={"timestamp": pl.Int64, "receipt_timestamp": pl.Int64},
    )


def raw_book(n: int) -> pl.DataFrame:
    i = np.arange(n)
    ts = DAY_NS + 10 * S + i * 100 * MS
    cols: dict[str, object] = {
        "timestamp": ts,
        "receipt_timestamp": ts + 5 * MS,
        "sequence_number": 100 + i,
    }
    for side, sign in (("bid", -1), ("ask", 1)):
        for k in range(BOOK_DEPTH):
            cols[f"{side}_{k}_price"] = np.full(n, (6_500_000 + sign * (k + 1)) * 0.01)
            cols[f"{side}_{k}_size"] = np.full(n, 1.0 + k)
    return pl.DataFrame(cols)


def raw_deltas(n: int) -> pl.DataFrame:
    i = np.arange(n)
    ts = DAY_NS + 10 * S + (i // 3) * 100 * MS  # three levels per message share the clocks
    return pl.DataFrame(
        {
            "timestamp": ts,
            "receipt_timestamp": ts + 5 * MS,
            "sequence_number": 1_000 + (i // 3) * 5,
            "side_is_bid": i % 2 == 0,
            "price": (6_500_000 + i % 7) * 0.01,
            "size": (i % 4) * 0.5,  # zeros are deletes: valid
        }
    )


def put(frame: pl.DataFrame, column: str, rows: dict[int, object]) -> pl.DataFrame:
    values = frame[column].to_list()
    for row, value in rows.items():
        values[row] = value
    return frame.with_columns(pl.Series(column, values, dtype=frame.schema[column]))


def faulty_trades() -> pl.DataFrame:
    """100 trades with known faults; each row carries at most one fault."""
    f = raw_trades(100)
    ts = f["timestamp"].to_list()
    f = put(
        f,
        "timestamp",
        {10: None, 11: None, 12: None, 20: NAT_NS, 21: NAT_NS, 30: 0, 31: -5, 40: -DAY_NS},
    )
    f = put(
        f, "timestamp", {0: DAY_NS - 2 * S, 1: DAY_NS - S, 90: ts[91], 91: ts[90]}
    )  # 2 leaks, 1 swap
    f = put(f, "receipt_timestamp", {0: DAY_NS - 2 * S + 5 * MS, 1: DAY_NS - S + 5 * MS})
    f = put(f, "receipt_timestamp", {95: DAY_END_NS + 61 * S, 96: NAT_NS})
    f = put(
        f, "price", {50: 0.0, 51: -65_000.0, 52: -0.01, 53: 0.0, 60: 65_000.605, 61: 65_000.613}
    )
    f = put(f, "amount", {62: -0.5})
    f = put(f, "side", {63: "BUY", 64: None, 65: ""})
    return put(f, "id", {70: 1_069, 71: 1_069, 80: 1_005})


TRADES_EXPECTED = zero_counts(TRADE_CHECKS) | {
    "origin_missing": 5,
    "origin_nonpositive": 3,
    "day_boundary_leak": 2,
    "unsorted_rows": 1,
    "nonpositive_price": 4,
    "off_tick_price": 2,
    "negative_size": 1,
    "invalid_side": 3,
    "duplicate_trade_id": 3,
    "received_out_of_day": 1,
    "received_missing": 1,
}


class TestKnownFaults:
    @pytest.mark.parametrize(
        ("table", "partition", "frame"),
        [
            ("trades", TRADES, raw_trades(50)),
            ("book", BOOK, raw_book(30)),
            ("book_delta_v2", DELTAS, raw_deltas(30)),
        ],
    )
    @pytest.mark.parametrize("form", ["raw", "normalised"])
    def test_valid_frames_have_no_failures(self, table, partition, frame, form) -> None:
        if form == "normalised":
            frame = normalise(frame, table, partition).collect()
        report = validate_partition(frame, table, partition, tick=0.01)
        assert (report.ok, report.rows, report.form, report.skipped) == (
            True,
            frame.height,
            form,
            (),
        )
        assert report.failure_cases.height == 0
        assert set(report.counts.values()) == {0}

    def test_trades_raw(self) -> None:
        report = validate_partition(faulty_trades(), "trades", TRADES, tick=0.01)
        assert report.counts == TRADES_EXPECTED
        assert not report.ok and report.rows == 100
        fc = report.failure_cases
        assert fc.filter(pl.col("check") == "origin_missing")["index"].to_list() == [
            10,
            11,
            12,
            20,
            21,
        ]
        assert fc.filter(pl.col("check") == "duplicate_trade_id")["index"].to_list() == [70, 71, 80]
        assert fc.filter(pl.col("check") == "unsorted_rows")["index"].to_list() == [91]
        assert set(fc["partition"]) == {"trades/BINANCE/BTC-USDT/2024-04-01"}
        assert fc.columns == [
            "partition",
            "file",
            "schema_context",
            "column",
            "check",
            "pandera_check",
            "failure_case",
            "index",
        ]

    def test_trades_normalised_agree_with_raw(self) -> None:
        frame = normalise(faulty_trades(), "trades", TRADES)  # a LazyFrame: values still checked
        report = validate_partition(frame, "trades", None, tick=0.01)
        assert (report.form, report.counts) == ("normalised", TRADES_EXPECTED)

    def test_book(self) -> None:
        f = raw_book(20)
        f = put(f, "bid_0_price", {3: 65_000.02, 4: 65_000.01})  # above / at ask_0 65000.01
        f = put(f, "bid_10_price", {6: 64_999.91})  # above bid_9 64999.90
        f = put(f, "ask_15_price", {7: 65_000.14})  # below ask_14 65000.15
        f = put(f, "bid_2_price", {8: 64_999.974}).pipe(put, "ask_2_price", {8: 65_000.036})
        f = put(f, "bid_19_price", {9: 0.0})
        f = put(f, "ask_5_size", {10: -1.0})
        for k in range(15, BOOK_DEPTH):  # a thin book: absent levels are not faults
            f = put(f, f"bid_{k}_price", {11: None}).pipe(put, f"bid_{k}_size", {11: None})
        f = put(
            f, "sequence_number", {12: 50, 14: 114, 15: 114}
        )  # one regression; repeats are fine
        report = validate_partition(f, "book", BOOK, tick=0.01)
        assert report.counts == zero_counts(
            CLOCK_CHECKS
            + (
                "sequence_regression",
                "nonpositive_price",
                "off_tick_price",
                "crossed_book",
                "negative_size",
                "bid_levels_not_descending",
                "ask_levels_not_ascending",
            )
        ) | {
            "crossed_book": 2,
            "bid_levels_not_descending": 1,
            "ask_levels_not_ascending": 1,
            "off_tick_price": 1,  # one row, two levels
            "nonpositive_price": 1,
            "negative_size": 1,
            "sequence_regression": 1,
        }
        off_tick = report.failure_cases.filter(pl.col("check") == "off_tick_price")
        assert off_tick.select("column", "index").rows() == [("ask_2_price", 8), ("bid_2_price", 8)]

    def test_book_delta_v2(self) -> None:
        f = put(
            raw_deltas(30), "sequence_number", {15: 990, 16: 990, 17: 990}
        )  # one message re-sent
        f = put(f, "price", {20: -65_000.0, 22: 65_000.005}).pipe(put, "size", {21: -0.5})
        report = validate_partition(f, "book_delta_v2", DELTAS, tick=0.01)
        assert report.counts == zero_counts(
            CLOCK_CHECKS
            + ("sequence_regression", "nonpositive_price", "off_tick_price", "negative_size")
        ) | {
            "sequence_regression": 1,
            "nonpositive_price": 1,
            "off_tick_price": 1,
            "negative_size": 1,
        }

    def test_lazy_validation_returns_every_failure_in_one_call(self) -> None:
        f = put(raw_deltas(12), "timestamp", {0: None, 1: 0}).pipe(put, "price", {2: 0.0, 3: 1.234})
        f = put(f, "size", {4: -1.0}).pipe(put, "sequence_number", {11: 0})
        report = validate_partition(
            normalise(f, "book_delta_v2", DELTAS), "book_delta_v2", DELTAS, tick=0.01
        )
        assert report.failure_cases.select("check", "index").rows() == [
            ("negative_size", 4),
            ("nonpositive_price", 2),
            ("off_tick_price", 3),
            ("origin_missing", 0),
            ("origin_nonpositive", 1),
            ("sequence_regression", 11),
        ]

    def test_frame_schema_problems_are_failure_cases(self) -> None:
        f = put(raw_trades(10), "side", {2: "x", 3: "y"})
        f = f.drop("price").with_columns(pl.col("amount").cast(pl.Int32), pl.lit("n").alias("note"))
        report = validate_partition(f, "trades", TRADES, tick=0.01)
        assert {k: v for k, v in report.counts.items() if v} == {
            "column_missing": 1,
            "column_unexpected": 1,
            "dtype_mismatch": 1,
            "invalid_side": 2,
        }
        schema_level = report.failure_cases.filter(pl.col("index").is_null())
        assert schema_level.select("check", "column", "failure_case").rows() == [
            ("column_missing", "price", "price"),
            ("column_unexpected", "note", "note"),
            ("dtype_mismatch", "amount", "Int32"),
        ]

    def test_nulls_in_non_nullable_columns(self) -> None:
        f = put(raw_trades(10), "id", {4: None}).pipe(put, "amount", {5: float("nan")})
        report = validate_partition(f, "trades", TRADES)
        assert report.counts["null_value"] == 2
        assert report.skipped == ("off_tick_price",)

    def test_raw_frame_without_partition_skips_day_checks(self) -> None:
        report = validate_partition(raw_trades(5), "trades")
        assert report.ok
        assert report.skipped == ("off_tick_price", "day_boundary_leak", "received_out_of_day")
        assert "day_boundary_leak" not in report.counts

    def test_partition_of_another_table(self) -> None:
        with pytest.raises(ConfigError):
            validate_partition(raw_trades(5), "trades", BOOK)

    def test_fault_kind_map_names_real_checks(self) -> None:
        assert set(CHECK_FAULT_KINDS) <= set(CHECK_DESCRIPTIONS)


class TestFiles:
    def write(self, root: Path, frame: pl.DataFrame, name: str) -> Path:
        path = root / TRADES.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(path)
        return path

    def test_partition_directory_rows_map_to_files(self, tmp_path: Path) -> None:
        first = self.write(tmp_path, raw_trades(40), "0.parquet")
        second = self.write(
            tmp_path, put(raw_trades(30), "price", {4: -1.0}).pipe(put, "id", {7: 9}), "1.parquet"
        )
        report = validate_partition(tmp_path / TRADES.path, "trades", tick=0.01)
        assert report.partition == TRADES and report.rows == 70
        assert report.path == str(tmp_path / TRADES.path)
        # row 40+ repeat ids 1000.. of the first file and go back in time: duplicates and one unsorted
        assert {k: v for k, v in report.counts.items() if v} == {
            "nonpositive_price": 1,
            "duplicate_trade_id": 29,
            "unsorted_rows": 1,
        }
        fc = report.failure_cases
        assert fc.filter(pl.col("check") == "nonpositive_price").select("file", "index").rows() == [
            (str(second), 44)
        ]
        assert first.exists()

    def test_validate_files_matches_the_directory(self, tmp_path: Path) -> None:
        first = self.write(tmp_path, raw_trades(5), "0.parquet")
        second = self.write(tmp_path, put(raw_trades(5), "price", {1: 0.0}), "1.parquet")
        by_dir = validate_partition(tmp_path / TRADES.path, "trades", tick=0.01)
        by_files = validate_files([second, first], "trades", TRADES, 0.01)
        assert by_files.counts == by_dir.counts
        assert by_files.counts["nonpositive_price"] == 1
        assert_frame_equal(by_files.failure_cases, by_dir.failure_cases)

    def test_missing_column_in_a_file_raises(self, tmp_path: Path) -> None:
        path = self.write(tmp_path, raw_trades(5).drop("receipt_timestamp"), "0.parquet")
        with pytest.raises(SchemaMismatchError) as info:
            validate_partition(path, "trades", tick=0.01)
        assert (info.value.path, info.value.column) == (path, "receipt_timestamp")
        assert str(path) in str(info.value) and "'receipt_timestamp'" in str(info.value)

    def test_extra_column_in_a_file_is_a_failure_case(self, tmp_path: Path) -> None:
        path = self.write(tmp_path, raw_trades(5).with_columns(pl.lit(1).alias("dt")), "0.parquet")
        report = validate_partition(path, "trades", tick=0.01)
        assert not report.ok
        assert report.failure_cases.select("file", "column", "check").rows() == [
            (None, "dt", "column_unexpected")
        ]

    def test_zero_byte_file_raises(self, tmp_path: Path) -> None:
        path = tmp_path / TRADES.path / "0.parquet"
        path.parent.mkdir(parents=True)
        path.touch()
        with pytest.raises(CorruptFileError):
            validate_partition(path.parent, "trades")


# ---- property: counts equal a direct numpy computation ------------------------------------------

ORIGINS = st.one_of(
    st.none(),
    st.just(NAT_NS),
    st.just(0),
    st.integers(-(10**18), -1),
    st.integers(DAY_NS - S, DAY_END_NS + S),
    st.sampled_from(
        [DAY_NS - 100, DAY_NS - MS, DAY_NS + 499_999, DAY_END_NS - 500_000, DAY_END_NS - MS]
    ),
)
ROWS = st.tuples(
    ORIGINS,
    st.one_of(
        st.integers(-1_000, 10**7).map(lambda t: t * 0.01), st.floats(-1e5, 1e5, allow_nan=False)
    ),
    st.floats(-10, 10, allow_nan=False),
    st.sampled_from(["buy", "sell", "BUY", "", None]),
    st.integers(0, 15),
)


def numpy_counts(rows: list[tuple]) -> dict[str, int]:
    origin = np.array([NAT_NS if r[0] is None else r[0] for r in rows], dtype=np.int64)
    missing = np.array([r[0] is None for r in rows]) | (origin == NAT_NS)
    valid = ~missing & (origin > 0)
    ms = (origin[valid] + MS // 2) // MS * MS
    price = np.array([r[1] for r in rows])
    ticks = price / 0.01
    return {
        "origin_missing": int(missing.sum()),
        "origin_nonpositive": int((~missing & (origin <= 0)).sum()),
        "day_boundary_leak": int(((ms < DAY_NS) | (ms >= DAY_END_NS)).sum()),
        "unsorted_rows": int((np.diff(ms) < 0).sum()),
        "nonpositive_price": int((price <= 0).sum()),
        "off_tick_price": int((np.abs(ticks - np.round(ticks)) > 1e-6).sum()),
        "negative_size": int((np.array([r[2] for r in rows]) < 0).sum()),
        "invalid_side": sum(r[3] not in ("buy", "sell") for r in rows),
        "duplicate_trade_id": len(rows) - len({r[4] for r in rows}),
    }


def trades_frame(rows: list[tuple]) -> pl.DataFrame:
    """Raw trades from (timestamp, price, amount, side, id) rows, received mid-day."""
    return pl.DataFrame(
        {
            "side": [r[3] for r in rows],
            "amount": [r[2] for r in rows],
            "price": [r[1] for r in rows],
            "id": [r[4] for r in rows],
            "timestamp": [r[0] for r in rows],
            "receipt_timestamp": [DAY_NS + 3_600 * S] * len(rows),
        },
        schema=dict(raw_trades(0).schema),
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(ROWS, min_size=1, max_size=40))
def test_trade_counts_equal_numpy(rows: list[tuple]) -> None:
    frame = trades_frame(rows)
    report = validate_partition(frame, "trades", TRADES, tick=0.01)
    expected = numpy_counts(rows)
    assert {k: report.counts[k] for k in expected} == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=1, max_size=50))
def test_sequence_regressions_equal_numpy(seq: list[int]) -> None:
    frame = raw_deltas(len(seq)).with_columns(pl.Series("sequence_number", seq, pl.Int64))
    report = validate_partition(frame, "book_delta_v2", DELTAS)
    assert report.counts["sequence_regression"] == int((np.diff(np.array(seq)) < 0).sum())


# ---- streaming: files validated in bounded batches count exactly as the whole frame ---------------


def faulty_deltas() -> pl.DataFrame:
    """30 delta rows: regressions inside and between messages, a repeat, a null sequence number,
    missing and out-of-order origins."""
    f = put(raw_deltas(30), "sequence_number", {4: 900, 9: 1_000, 15: 1_005, 16: None})
    ts = f["timestamp"].to_list()
    return put(f, "timestamp", {6: None, 7: NAT_NS, 8: ts[2], 20: 0, 25: ts[29], 26: None})


def faulty_book() -> pl.DataFrame:
    """12 book rows: a sequence regression, an unsorted row, a crossed and an off-tick level."""
    f = put(raw_book(12), "sequence_number", {3: 50, 7: None})
    f = put(f, "timestamp", {5: None, 6: f["timestamp"][1]})
    return put(f, "bid_0_price", {9: 70_000.0}).pipe(put, "ask_3_price", {10: 65_000.005})


def assert_same_report(streamed, whole, files: list[Path]) -> None:
    """`streamed` (a file run) has `whole`'s (the frame run's) counts and cases, with files."""
    assert (streamed.rows, streamed.counts, streamed.skipped) == (
        whole.rows,
        whole.counts,
        whole.skipped,
    )
    assert_frame_equal(streamed.failure_cases.drop("file"), whole.failure_cases.drop("file"))
    fc = streamed.failure_cases
    assert fc.filter(pl.col("index").is_null())["file"].null_count() == fc["index"].null_count()
    assert set(fc.drop_nulls("index")["file"]) <= {str(f) for f in files}


class TestStreamedFiles:
    """validate_partition on files reads at most `batch_rows` rows at a time; row-order checks
    carry the rows before each batch, so every batch size gives the whole frame's report."""

    def write(self, root: Path, part: Partition, frame: pl.DataFrame, name: str, **kw) -> Path:
        path = root / part.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(path, **kw)
        return path

    @pytest.mark.parametrize(
        ("part", "frame"),
        [
            (TRADES, faulty_trades()),
            (DELTAS, faulty_deltas()),
            (BOOK, faulty_book()),
        ],
        ids=["trades", "book_delta_v2", "book"],
    )
    def test_every_batch_size_gives_the_whole_frame_report(
        self, tmp_path: Path, part: Partition, frame: pl.DataFrame
    ) -> None:
        path = self.write(tmp_path, part, frame, "0.parquet")
        whole = validate_partition(frame, part.table, part, tick=0.01)
        failing = {k for k, v in whole.counts.items() if v}
        row_order = {"unsorted_rows", "duplicate_trade_id", "sequence_regression"}
        assert failing & row_order  # the carry is exercised
        for batch_rows in sorted({1, 2, 3, 5, 7, frame.height - 1, frame.height, 10**6}):
            streamed = validate_partition(path, part.table, tick=0.01, batch_rows=batch_rows)
            assert_same_report(streamed, whole, [path])

    def test_trade_counts(self, tmp_path: Path) -> None:
        path = self.write(tmp_path, TRADES, faulty_trades(), "0.parquet")
        assert validate_partition(path, "trades", tick=0.01, batch_rows=3).counts == TRADES_EXPECTED

    def test_files_with_an_extra_column_in_one(self, tmp_path: Path) -> None:
        """Columns of all files, as a diagonal concat; schema-level cases once, not per batch."""
        a = raw_trades(7).with_columns(pl.lit("x").alias("note"))
        b = put(raw_trades(6), "id", {2: 1_003}).pipe(put, "price", {5: 0.0})
        files = [self.write(tmp_path, TRADES, a, "0.parquet")]
        files.append(self.write(tmp_path, TRADES, b, "1.parquet"))
        whole = validate_partition(pl.concat([a, b], how="diagonal"), "trades", TRADES, tick=0.01)
        assert {k: v for k, v in whole.counts.items() if v} == {
            "column_unexpected": 1,
            "duplicate_trade_id": 7 - 1,  # b repeats a's ids 1000..1005 (1002 moved to 1003)
            "unsorted_rows": 1,
            "nonpositive_price": 1,
        }
        for batch_rows in (1, 2, 4, 100):
            streamed = validate_partition(
                tmp_path / TRADES.path, "trades", tick=0.01, batch_rows=batch_rows
            )
            assert_same_report(streamed, whole, files)

    @pytest.mark.parametrize("row_group_size", [10_000, 1_500])
    def test_reader_never_holds_more_than_batch_rows(
        self, tmp_path: Path, row_group_size: int
    ) -> None:
        """One 10,000-row row group (or seven) is still read 1,000 rows at a time."""
        frame = put(raw_deltas(10_000), "sequence_number", {1_000: 0, 4_500: 0})
        path = self.write(tmp_path, DELTAS, frame, "0.parquet", row_group_size=row_group_size)
        layout = _file_layout([path], "book_delta_v2")
        sizes = [b.height for b in _file_batches(path, layout, (), 1_000)]
        assert sizes == [1_000] * 10
        streamed = validate_partition(path, "book_delta_v2", tick=0.01, batch_rows=1_000)
        assert streamed.counts["sequence_regression"] == 2
        whole = validate_partition(frame, "book_delta_v2", DELTAS, tick=0.01)
        assert_same_report(streamed, whole, [path])

    def test_default_batch_is_a_byte_budget(self) -> None:
        assert _batch_rows(None, 6) == VALIDATION_BATCH_BYTES // 48 > 1_000_000
        assert _batch_rows(None, 83) == VALIDATION_BATCH_BYTES // (8 * 83)
        assert _batch_rows(5, 83) == 5
        with pytest.raises(ConfigError, match="batch_rows"):
            _batch_rows(0, 6)

    def test_carry_needs_a_raw_form(self) -> None:
        with pytest.raises(ValueError, match="raw"):
            lake_schema("trades", form="normalised", carry=RowOrderCarry())


class TestCaseCap:
    """Only the first `max_cases` row cases per (check, column) are kept; counts stay exact."""

    def origin_less(self, rows: int, missing: range) -> pl.DataFrame:
        return put(raw_deltas(rows), "timestamp", dict.fromkeys(missing))

    @pytest.mark.parametrize("batch_rows", [7, 100, 10**6])
    def test_counts_stay_exact_and_the_first_cases_are_kept(
        self, tmp_path: Path, batch_rows: int
    ) -> None:
        frame = self.origin_less(500, range(20, 420))  # 400 rows without an origin time
        path = tmp_path / DELTAS.path / "0.parquet"
        path.parent.mkdir(parents=True)
        frame.write_parquet(path)
        everything = validate_partition(path, "book_delta_v2", tick=0.01, max_cases=None)
        capped = validate_partition(
            path, "book_delta_v2", tick=0.01, batch_rows=batch_rows, max_cases=25
        )
        assert capped.counts == everything.counts
        assert {k: v for k, v in capped.counts.items() if v} == {"origin_missing": 400}
        missing = capped.failure_cases.filter(pl.col("check") == "origin_missing")
        assert missing["index"].to_list() == list(range(20, 45))
        assert_frame_equal(capped.failure_cases, everything.failure_cases.head(25))
        assert (everything.cases_dropped, capped.cases_dropped) == (0, 400 - 25)
        assert not capped.ok

    def test_the_cap_is_per_column(self) -> None:
        """Two book levels off tick in every row: each column keeps its own first cases, and
        the check counts each row once."""
        frame = raw_book(40).with_columns(
            pl.col("bid_2_price") + 0.003, pl.col("ask_4_price") + 0.003
        )
        report = validate_partition(frame, "book", BOOK, tick=0.01, max_cases=5)
        off_tick = report.failure_cases.filter(pl.col("check") == "off_tick_price")
        assert off_tick.group_by("column").len().sort("column").rows() == [
            ("ask_4_price", 5),
            ("bid_2_price", 5),
        ]
        assert report.counts["off_tick_price"] == 40
        assert report.cases_dropped == 2 * 35

    def test_a_cap_below_one_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="max_cases"):
            validate_partition(raw_trades(3), "trades", TRADES, max_cases=0)

    def test_counts_file_round_trip_and_a_corrupt_one(self, tmp_path: Path) -> None:
        counts = {TRADES.key: {"nonpositive_price": 3}, DELTAS.key: {}}
        write_counts(tmp_path / "c.json", counts, cases_dropped=12)
        assert read_counts(tmp_path / "c.json") == (counts, 12)
        (tmp_path / "bad.json").write_text('{"counts": 3')
        with pytest.raises(CorruptFileError, match="bad.json"):
            read_counts(tmp_path / "bad.json")


@settings(max_examples=40, deadline=None)
@given(st.lists(ROWS, min_size=1, max_size=30), st.integers(1, 31))
def test_streamed_trades_equal_the_whole_frame(rows: list[tuple], batch_rows: int) -> None:
    frame = trades_frame(rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / TRADES.path / "0.parquet"
        path.parent.mkdir(parents=True)
        frame.write_parquet(path)
        streamed = validate_partition(path, "trades", tick=0.01, batch_rows=batch_rows)
    whole = validate_partition(frame, "trades", TRADES, tick=0.01)
    assert_same_report(streamed, whole, [path])
    expected = numpy_counts(rows)
    assert {k: streamed.counts[k] for k in expected} == expected
