"""feedcheck.schemas.lake: column contracts, dtype traps and the semantics of each value check."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandera.polars as pa
import polars as pl
import pytest
from pandera.config import config_context

from feedcheck.schemas import lake_columns as s
from feedcheck.schemas.lake import (
    book_delta_v2_schema,
    book_schema,
    schema_check_names,
    trades_schema,
)

DAY = date(2024, 4, 1)
DAY_NS = 1_711_929_600 * 1_000_000_000  # 2024-04-01T00:00:00Z
MS = 1_000_000


def failures(
    schema: pa.DataFrameSchema, frame: pl.DataFrame | pl.LazyFrame
) -> dict[str, list[int | None]]:
    """check name → failing row indices (None for schema-level cases), validated lazily."""
    try:
        with config_context(validation_depth="SCHEMA_AND_DATA"):
            schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        out: dict[str, list[int | None]] = {}
        for check, index in exc.failure_cases.select("check", "index").iter_rows():
            out.setdefault(check, []).append(index)
        return {k: sorted(v, key=lambda x: -1 if x is None else x) for k, v in out.items()}
    return {}


def raw_trades(n: int = 10) -> pl.DataFrame:
    i = np.arange(n)
    ts = DAY_NS + 1_000 * MS + i * MS
    return pl.DataFrame(
        {
            "side": np.where(i % 2 == 0, "buy", "sell"),
            "amount": 0.001 * (1 + i % 3),
            "price": (6_500_000 + i) * 0.01,
            "id": 1_000 + i,
            "timestamp": ts,
            "receipt_timestamp": ts + 5 * MS,
        }
    )


def raw_book(n: int = 4) -> pl.DataFrame:
    i = np.arange(n)
    ts = DAY_NS + 1_000 * MS + i * 100 * MS
    cols: dict[str, object] = {
        "timestamp": ts,
        "receipt_timestamp": ts + 5 * MS,
        "sequence_number": 10 + i,
    }
    for k in range(s.BOOK_DEPTH):
        cols[f"bid_{k}_price"] = np.full(n, (6_500_000 - k) * 0.01)
        cols[f"bid_{k}_size"] = np.full(n, 1.0 + k)
    for k in range(s.BOOK_DEPTH):
        cols[f"ask_{k}_price"] = np.full(n, (6_500_001 + k) * 0.01)
        cols[f"ask_{k}_size"] = np.full(n, 2.0 + k)
    return pl.DataFrame(cols)


class TestColumnContracts:
    def test_book_level_columns_follow_lake_file_order(self) -> None:
        assert len(s.BOOK_LEVEL_COLUMNS) == 80
        assert s.BOOK_LEVEL_COLUMNS[:4] == (
            "bid_0_price",
            "bid_0_size",
            "bid_1_price",
            "bid_1_size",
        )
        assert s.BOOK_LEVEL_COLUMNS[39:42] == ("bid_19_size", "ask_0_price", "ask_0_size")
        assert s.book_columns("ask")[-1] == "ask_19_size"
        raw = list(s.raw_columns("book"))
        assert len(raw) == 83
        # Lake's own converter relies on these positions once exchange/symbol are appended.
        assert [raw.index(f"bid_{i}_price") for i in (0, 19)] == [3, 41]
        assert [raw.index(f"ask_{i}_price") for i in (0, 19)] == [43, 81]
        assert len(s.normalised_columns("book")) == 86  # 85 of lakeapi + dt

    def test_raw_and_normalised_trades_dtypes(self) -> None:
        assert s.raw_columns("trades") == {
            "side": pl.String,
            "amount": pl.Float64,
            "price": pl.Float64,
            "id": pl.Int64,
            "timestamp": pl.Int64,
            "receipt_timestamp": pl.Int64,
        }
        assert s.normalised_columns("trades") == {
            "side": pl.String,
            "quantity": pl.Float64,
            "price": pl.Float64,
            "trade_id": pl.Int64,
            "origin_time": pl.Datetime("ns", "UTC"),
            "received_time": pl.Datetime("ns", "UTC"),
            "exchange": pl.String,
            "symbol": pl.String,
            "dt": pl.Date,
        }

    @pytest.mark.parametrize("table", ["trades", "book", "book_delta_v2"])
    def test_normalised_is_raw_renamed_plus_partition_columns(self, table: str) -> None:
        renames = s.RAW_TO_NORMALISED[table]
        expected = {
            renames.get(n, n): (s.UTC_NS if n in s.RAW_CLOCK_COLUMNS else d)
            for n, d in s.raw_columns(table).items()
        }
        expected.update(s.HIVE_SCHEMA)
        assert s.normalised_columns(table) == expected


class TestDtypeTraps:
    def _normalised_trades(self, dtype: pl.DataType) -> pl.DataFrame:
        t = raw_trades(3)
        return pl.DataFrame(
            {
                "side": t["side"],
                "quantity": t["amount"],
                "price": t["price"],
                "trade_id": t["id"],
                "origin_time": t["timestamp"].cast(pl.Datetime("ns", "UTC")).cast(dtype),
                "received_time": t["receipt_timestamp"].cast(pl.Datetime("ns", "UTC")),
                "exchange": ["BINANCE"] * 3,
                "symbol": ["BTC-USDT"] * 3,
                "dt": [DAY] * 3,
            }
        )

    def test_ns_utc_passes(self) -> None:
        schema = trades_schema(0.01, form="normalised")
        assert failures(schema, self._normalised_trades(pl.Datetime("ns", "UTC"))) == {}

    @pytest.mark.parametrize(
        "dtype", [pl.Datetime("us", "UTC"), pl.Datetime("ns", "Etc/UTC"), pl.Datetime("ns")]
    )
    def test_other_datetimes_are_dtype_failures(self, dtype: pl.DataType) -> None:
        schema = trades_schema(0.01, form="normalised")
        found = failures(schema, self._normalised_trades(dtype))
        assert found == {"dtype('Datetime(time_unit='ns', time_zone='UTC')')": [None]}

    def test_lazyframe_validation_checks_values_only_at_schema_and_data_depth(self) -> None:
        bad = raw_trades(3).with_columns(pl.lit(-1.0).alias("price"))
        schema = trades_schema()
        out = schema.validate(bad.lazy(), lazy=True)  # default depth for LazyFrame: schema only
        assert isinstance(out, pl.LazyFrame)
        assert failures(schema, bad.lazy()) == {"nonpositive_price": [0, 1, 2]}


class TestValueChecks:
    def test_off_tick_tolerance_is_relative_to_the_tick(self) -> None:
        prices = [65_000.01, 0.07, 65_000.015, 65_000.01 + 1e-9, 65_000.01 + 0.01 * 1e-3]
        frame = raw_trades(5).with_columns(pl.Series("price", prices))
        # float noise (1e-7 ticks) passes, a thousandth of a tick does not
        assert failures(trades_schema(0.01), frame) == {"off_tick_price": [2, 4]}
        assert failures(trades_schema(None), frame) == {}

    def test_day_bounds_use_ms_rounded_origin(self) -> None:
        day_end = DAY_NS + s.NS_PER_DAY
        origins = [DAY_NS - 100, DAY_NS - MS, DAY_NS, day_end - MS, day_end - 100, day_end + 1]
        frame = raw_trades(6).with_columns(
            pl.Series("timestamp", origins), pl.Series("receipt_timestamp", [DAY_NS + MS] * 6)
        )
        # -100 ns is float noise around midnight (rounds into the day); day_end-100 rounds out.
        assert failures(trades_schema(day=DAY), frame) == {
            "day_boundary_leak": [1, 4, 5],
            "unsorted_rows": [1],
        }
        assert failures(trades_schema(), frame) == {"unsorted_rows": [1]}  # no day, no leak check

    def test_received_day_tolerance(self) -> None:
        day_end = DAY_NS + s.NS_PER_DAY
        tol = s.RECEIVED_DAY_TOLERANCE_NS
        received = [DAY_NS - tol, DAY_NS - tol - 1, day_end + tol - 1, day_end + tol]
        frame = raw_trades(4).with_columns(pl.Series("receipt_timestamp", received))
        assert failures(trades_schema(day=DAY), frame) == {"received_out_of_day": [1, 3]}

    def test_unsorted_skips_invalid_origins(self) -> None:
        origins = [
            DAY_NS + 5 * MS,
            0,
            None,
            DAY_NS + 6 * MS,
            s.NAT_NS,
            DAY_NS + 4 * MS,
            DAY_NS + 4 * MS,
        ]
        frame = raw_trades(7).with_columns(pl.Series("timestamp", origins, pl.Int64))
        assert failures(trades_schema(), frame) == {
            "origin_nonpositive": [1],
            "origin_missing": [2, 4],
            "unsorted_rows": [5],  # 4 ms after the last valid 6 ms; row 6 equals row 5: sorted
        }

    def test_duplicate_ids_flag_repeats_not_first_occurrences(self) -> None:
        frame = raw_trades(6).with_columns(pl.Series("id", [1, 2, 2, 3, 3, 3]))
        assert failures(trades_schema(), frame) == {"duplicate_trade_id": [2, 4, 5]}
        builtin = pa.DataFrameSchema({"id": pa.Column(pl.Int64, unique=True)})
        assert failures(builtin, frame.select("id")) == {"field_uniqueness": [1, 2, 3, 4, 5]}

    def test_side_null_and_unknown_are_invalid(self) -> None:
        frame = raw_trades(4).with_columns(pl.Series("side", ["buy", "BUY", None, "sell"]))
        assert failures(trades_schema(), frame) == {"invalid_side": [1, 2]}

    def test_nan_in_a_non_nullable_float_is_a_null_value(self) -> None:
        frame = raw_trades(3).with_columns(pl.Series("price", [1.0, float("nan"), None]))
        assert failures(trades_schema(0.01), frame) == {"not_nullable": [1, 2]}

    def test_book_levels(self) -> None:
        frame = raw_book(6).with_columns(
            # row 0 crossed, row 1 locked (equal = crossed), row 2: absent bid_0 (null) skips
            pl.Series("bid_0_price", [65_000.02, 65_000.01, None, 65_000.0, 65_000.0, 65_000.0]),
            # row 3: bid_5 above bid_4 → not descending (and bid_6 below it: still one row)
            pl.Series(
                "bid_5_price", [64_999.95, 64_999.95, 64_999.95, 65_000.5, 64_999.95, 64_999.95]
            ),
            # row 4: NaN = absent level; row 5: ask_7 below ask_6, a negative size, off tick
            pl.Series(
                "ask_7_price",
                [65_000.08, 65_000.08, 65_000.08, 65_000.08, float("nan"), 65_000.065],
            ),
            pl.Series("ask_7_size", [1.0, 1.0, 1.0, 1.0, float("nan"), -1.0]),
        )
        assert failures(book_schema(0.01), frame) == {
            "crossed_book": [0, 1],
            "bid_levels_not_descending": [3],
            "ask_levels_not_ascending": [5],
            "negative_size": [5],
            "off_tick_price": [5],
        }

    def test_checks_pass_vacuously_when_their_input_column_is_missing(self) -> None:
        # crossed_book needs ask_0_price: skipped; the bid ladder check still runs and fails
        frame = raw_book(3).drop("ask_0_price").with_columns(pl.lit(1.0).alias("bid_0_price"))
        found = failures(book_schema(0.01), frame)
        assert found == {"column_in_dataframe": [None], "bid_levels_not_descending": [0, 1, 2]}

    def test_normalised_row_order_checks_run_per_partition(self) -> None:
        def part(symbol: str, seq0: int) -> pl.DataFrame:
            ts = pl.Series([DAY_NS + MS, DAY_NS + 2 * MS]).cast(pl.Datetime("ns", "UTC"))
            return pl.DataFrame(
                {
                    "origin_time": ts,
                    "received_time": ts,
                    "sequence_number": [seq0, seq0 + 1],
                    "side_is_bid": [True, False],
                    "price": [1.0, 2.0],
                    "size": [0.0, 1.0],
                    "exchange": ["BINANCE"] * 2,
                    "symbol": [symbol] * 2,
                    "dt": [DAY] * 2,
                }
            )

        # the second partition starts with lower sequence numbers and earlier times: no fault
        frame = pl.concat([part("BTC-USDT", 100), part("ETH-USDT", 5)])
        assert failures(book_delta_v2_schema(0.01, form="normalised"), frame) == {}
        one = frame.with_columns(pl.lit("BTC-USDT").alias("symbol"))
        assert failures(book_delta_v2_schema(0.01, form="normalised"), one) == {
            "sequence_regression": [2],
            "unsorted_rows": [2],
        }

    def test_schema_check_names(self) -> None:
        assert schema_check_names(book_delta_v2_schema()) == (
            "origin_missing",
            "origin_nonpositive",
            "unsorted_rows",
            "received_missing",
            "sequence_regression",
            "nonpositive_price",
            "negative_size",
        )
        assert set(schema_check_names(book_schema(0.01, day=DAY))) == set(s.CHECK_DESCRIPTIONS) - {
            "invalid_side",
            "duplicate_trade_id",
        }
