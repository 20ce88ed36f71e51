"""feedcheck.book.ticks: scales, exact column parsing, float → ticks, metadata, overflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedcheck.binance.wire import Scale
from feedcheck.book.ticks import (
    INT64_MAX,
    SCALE_METADATA_KEY,
    InstrumentScale,
    ParseErrorKind,
    float_to_steps,
    float_to_ticks,
    format_fixed,
    format_ticks_column,
    parse_decimal_column,
    parse_fixed,
    read_scale,
    scale_metadata,
    with_scale,
)
from feedcheck.errors import ConfigError, DataError

BTC = InstrumentScale("0.01", "0.00001")
SOL = InstrumentScale("0.01", "0.001")
SHIB = InstrumentScale("0.00000001", "1")


class TestInstrumentScale:
    def test_binance_instruments(self) -> None:
        assert (BTC.price_decimals, BTC.qty_decimals) == (2, 5)
        assert (BTC.price_factor, BTC.qty_factor) == (100, 100_000)
        assert (SOL.price_decimals, SOL.qty_decimals) == (2, 3)
        assert (SHIB.price_decimals, SHIB.qty_decimals, SHIB.qty_factor) == (8, 0, 1)
        assert SHIB.max_qty == "9223372036854775807"
        assert SHIB.max_price == "92233720368.54775807"
        assert BTC.wire_scale == Scale(2, 5)

    def test_normalises_steps(self) -> None:
        scale = InstrumentScale("0.01000000", "1.00000000")
        assert (scale.tick, scale.lot) == ("0.01", "1")
        assert InstrumentScale(0.05, 1e-08) == InstrumentScale("0.05", "0.00000001")
        assert InstrumentScale("0.05", "1").tick_units == 5
        assert InstrumentScale("10", "0.5").tick_units == 10
        assert InstrumentScale("10", "0.5").lot_units == 5

    @pytest.mark.parametrize("tick", ["0", "-0.01", "abc", "nan", "1e-19"])
    def test_rejects_bad_steps(self, tick: str) -> None:
        with pytest.raises(ConfigError):
            InstrumentScale(tick, "1")

    def test_json_round_trip(self) -> None:
        assert InstrumentScale.from_json(SHIB.to_json()) == SHIB
        assert SHIB.to_json() == {
            "tick": "0.00000001",
            "lot": "1",
            "price_decimals": 8,
            "qty_decimals": 0,
        }


class TestParseColumn:
    def test_edge_strings(self) -> None:
        texts = pl.Series(
            "p",
            [
                "0.00000000",  # 0: exactly zero (a level delete)
                "2683.80000000",  # 1
                "1e-8",  # 2: exponent rejected (malformed)
                "-1.50",  # 3: negative rejected
                "2683.805",  # 4: finer than the scale
                ".5",  # 5
                "5.",  # 6
                "",  # 7: malformed
                None,  # 8: null passes through
                "0000000000000000000000012",  # 9: leading zeros
                " 1.0",  # 10: space
                "92233720368547758.07",  # 11: int64 max at 2 decimals
            ],
        )
        parsed = parse_decimal_column(texts, 2)
        assert parsed.values.to_list() == [
            0,
            268380,
            None,
            None,
            None,
            50,
            500,
            None,
            None,
            1200,
            None,
            INT64_MAX,
        ]
        assert parsed.error_rows.tolist() == [2, 3, 4, 7, 10]
        assert parsed.error_kinds.tolist() == [
            ParseErrorKind.MALFORMED,
            ParseErrorKind.NEGATIVE,
            ParseErrorKind.OFF_SCALE,
            ParseErrorKind.MALFORMED,
            ParseErrorKind.MALFORMED,
        ]
        assert parsed.counts() == {"malformed": 3, "negative": 1, "off_scale": 1}
        assert parsed.null_count == 1
        assert parsed.values.name == "p"

    def test_max_precision_decimals_18(self) -> None:
        parsed = parse_decimal_column(
            pl.Series(["9.223372036854775807", "0.000000000000000001"]), 18
        )
        assert parsed.values.to_list() == [INT64_MAX, 1]
        assert parsed.error_count == 0

    def test_shib_quantities_at_scale_zero(self) -> None:
        parsed = parse_decimal_column(pl.Series(["84000000000.00", "1"]), SHIB.qty_decimals)
        assert parsed.values.to_list() == [84_000_000_000, 1]

    def test_overflow_names_value_and_column(self) -> None:
        # A SHIB quantity at a 1e-9 scale: 8.4e10 × 1e9 > 2**63.
        texts = pl.Series("amount", ["1", "84000000000", "92233720368547758.08"])
        with pytest.raises(DataError) as info:
            parse_decimal_column(texts, 9, source="shib.parquet")
        err = info.value
        assert (err.path, err.column, err.found) == ("shib.parquet", "amount", "'84000000000'")
        assert "2 values, first at row 1" in err.reason
        assert err.expected == "<= 9223372036.854775807"

    def test_bad_decimals(self) -> None:
        with pytest.raises(ConfigError):
            parse_decimal_column(pl.Series(["1"]), 19)

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.integers(0, INT64_MAX), min_size=1, max_size=20), st.integers(0, 18))
    def test_round_trip_matches_scalar(self, values: list[int], decimals: int) -> None:
        texts = format_ticks_column(pl.Series(values, dtype=pl.Int64), decimals)
        assert texts.to_list() == [format_fixed(v, decimals) for v in values]
        assert parse_decimal_column(texts, decimals).values.to_list() == values

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet="0123456789.-e ", max_size=24), st.integers(0, 8))
    def test_accepts_exactly_what_the_wire_parser_accepts(self, text: str, decimals: int) -> None:
        try:
            expected: int | None = parse_fixed(text, decimals)
        except DataError:
            expected = None
        try:
            got = parse_decimal_column(pl.Series([text]), decimals).values[0]
        except DataError:  # overflow raises in both
            got = None
        assert got == expected

    def test_format_rejects_negative(self) -> None:
        with pytest.raises(ConfigError):
            format_ticks_column(pl.Series([-1]), 2)
        assert format_ticks_column(pl.Series([7, None]), 0).to_list() == ["7", None]


class TestFloatToTicks:
    def test_off_tick_counted_exactly(self) -> None:
        on = np.arange(6_500_000, 6_500_100, dtype=np.int64)  # 100 on-tick BTC prices
        floats = on / 100.0
        off_rows = [3, 17, 60]
        floats[off_rows] += 0.004  # 0.4 tick off
        floats = np.append(floats, [np.nan, np.inf])
        series = pl.Series("price", floats).extend(pl.Series("price", [None], dtype=pl.Float64))
        result = float_to_ticks(series, BTC.price_decimals, step_units=BTC.tick_units)
        assert result.off_tick_rows.tolist() == off_rows
        assert result.off_tick_count == 3
        assert result.non_finite_rows.tolist() == [100, 101]
        assert result.values[:100].to_list() == on.tolist()
        assert result.values[100:].to_list() == [None, None, None]
        assert result.beyond_float_exact == 0

    def test_step_grid_of_five(self) -> None:
        # tick 0.05: 1.05 on grid, 1.07 on the 0.01 scale but off the 0.05 grid.
        result = float_to_ticks(pl.Series([1.05, 1.07, 1.10]), 2, step_units=5)
        assert result.values.to_list() == [105, 107, 110]
        assert result.off_tick_rows.tolist() == [1]

    def test_overflow(self) -> None:
        with pytest.raises(DataError) as info:
            float_to_ticks(pl.Series("size", [1.0, 5e10]), 9)
        assert (info.value.column, info.value.found) == ("size", "50000000000.0")

    def test_beyond_float_exact(self) -> None:
        result = float_to_ticks(pl.Series([1e10, 1.0]), 8)
        assert result.beyond_float_exact == 1


class TestMetadata:
    def test_round_trip_pyarrow_and_polars(self, tmp_path: Path) -> None:
        table = with_scale(pa.table({"v": [1, 2]}).replace_schema_metadata({"a": "b"}), SHIB)
        pq.write_table(table, tmp_path / "a.parquet")
        assert read_scale(tmp_path / "a.parquet") == SHIB
        assert pq.read_schema(tmp_path / "a.parquet").metadata[b"a"] == b"b"
        pl.DataFrame({"v": [1]}).write_parquet(tmp_path / "b.parquet", metadata=scale_metadata(BTC))
        assert read_scale(tmp_path / "b.parquet") == BTC

    def test_missing_and_malformed(self, tmp_path: Path) -> None:
        pq.write_table(pa.table({"v": [1]}), tmp_path / "none.parquet")
        with pytest.raises(DataError) as info:
            read_scale(tmp_path / "none.parquet")
        assert (info.value.column, info.value.found) == (SCALE_METADATA_KEY, "absent")
        bad = pa.table({"v": [1]}).replace_schema_metadata({SCALE_METADATA_KEY: '{"tick": "x"}'})
        pq.write_table(bad, tmp_path / "bad.parquet")
        with pytest.raises(DataError):
            read_scale(tmp_path / "bad.parquet")
        lying = '{"tick": "0.01", "lot": "1", "price_decimals": 3, "qty_decimals": 0}'
        pq.write_table(
            bad.replace_schema_metadata({SCALE_METADATA_KEY: lying}), tmp_path / "l.parquet"
        )
        with pytest.raises(DataError, match="disagree"):
            read_scale(tmp_path / "l.parquet")


class TestFloatToSteps:
    """The engine's per-row-group conversion: rint(x / step), off-grid counted, overflow raised."""

    def test_rounds_and_counts_off_step(self) -> None:
        # 0.4 tick and 0.6 tick off (rounded to the nearest tick), an on-grid float, negative.
        out = float_to_steps(np.array([100.004, 100.006, 2683.8, -0.02]), 0.01)
        assert out.values.tolist() == [10000, 10001, 268380, -2]
        assert out.values.dtype == np.int64
        assert out.off_step == 2

    def test_tick_of_five_hundredths_counts_in_steps(self) -> None:
        out = float_to_steps(np.array([1.05, 1.07, 1.10]), 0.05)
        assert (out.values.tolist(), out.off_step) == ([21, 21, 22], 1)

    def test_shib_size_beyond_int64_raises_instead_of_wrapping(self) -> None:
        # 9e10 SHIB at a 1e-9 lot is 9e19 lots > 2**63: astype(int64) alone would wrap silently.
        with pytest.raises(DataError) as info:
            float_to_steps(np.array([1.0, 9e10, 9.5e10]), 1e-9, column="size", source="s.parquet")
        err = info.value
        assert (err.path, err.column, err.found) == ("s.parquet", "size", "90000000000.0")
        assert "2 values, first at row 1" in err.reason
        assert float_to_steps(np.array([9e10]), 1.0).values.tolist() == [90_000_000_000]

    def test_non_finite_raises(self) -> None:
        for bad in (np.nan, np.inf):
            with pytest.raises(DataError) as info:
                float_to_steps(np.array([1.0, bad]), 0.01, column="price")
            assert info.value.column == "price" and "first at row 1" in info.value.reason

    def test_bad_step(self) -> None:
        with pytest.raises(ConfigError):
            float_to_steps(np.array([1.0]), 0.0)
