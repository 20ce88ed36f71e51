"""feedcheck.lake.readers on small hand-made Hive trees: normalisation, pruning, bad files, DuckDB."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from feedcheck.errors import ConfigError, CorruptFileError, EmptyPartitionError, SchemaMismatchError
from feedcheck.lake.layout import Partition
from feedcheck.lake.readers import (
    duckdb_connect,
    lake_files,
    normalise,
    read_partition,
    scan_lake,
    table_of,
)
from feedcheck.schemas.lake_columns import BOOK_DEPTH, NAT_NS, normalised_columns, raw_columns

D1, D2, D3 = date(2024, 4, 1), date(2024, 4, 2), date(2024, 4, 3)
MS = 1_000_000


def day_ns(day: date) -> int:
    return (day - date(1970, 1, 1)).days * 86_400 * 1_000_000_000


def raw_frame(table: str, day: date, n: int = 5, seed: int = 0) -> pl.DataFrame:
    """A valid raw frame of `table` with n rows on `day`; row 1's origin is NaT, row 2's is null."""
    i = np.arange(n)
    ts = pl.Series(day_ns(day) + 3_600_000 * MS + seed * 10 * MS + i * MS, dtype=pl.Int64)
    ts = ts.scatter(1, NAT_NS).scatter(2, None) if n > 2 else ts
    recv = pl.Series(day_ns(day) + 3_600_000 * MS + seed * 10 * MS + i * MS + 5 * MS)
    if table == "trades":
        return pl.DataFrame(
            {
                "side": np.where(i % 2 == 0, "buy", "sell"),
                "amount": 0.5 + i,
                "price": (6_500_000 + i) * 0.01,
                "id": 100 * seed + i,
                "timestamp": ts,
                "receipt_timestamp": recv,
            }
        )
    if table == "book_delta_v2":
        return pl.DataFrame(
            {
                "timestamp": ts,
                "receipt_timestamp": recv,
                "sequence_number": 1_000 + seed * 100 + i,
                "side_is_bid": i % 2 == 0,
                "price": (6_500_000 + i) * 0.01,
                "size": 0.25 * i,
            }
        )
    cols: dict[str, object] = {"timestamp": ts, "receipt_timestamp": recv, "sequence_number": 7 + i}
    for side, sign in (("bid", -1), ("ask", 1)):
        for k in range(BOOK_DEPTH):
            cols[f"{side}_{k}_price"] = (6_500_000 + sign * (k + 1) + i) * 0.01
            cols[f"{side}_{k}_size"] = 1.0 + k + i
    return pl.DataFrame(cols)


def write(root: Path, part: Partition, frame: pl.DataFrame, name: str = "1.snappy.parquet") -> Path:
    path = root / part.path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, compression="snappy")
    return path


TREE = [
    Partition("trades", "BINANCE", "BTC-USDT", D1),
    Partition("trades", "BINANCE", "BTC-USDT", D2),
    Partition("trades", "BINANCE", "BTC-USDT", D3),
    Partition("trades", "BINANCE", "ETH-USDT", D1),
    Partition("trades", "BINANCE_FUTURES", "BTC-USDT-PERP", D1),
    Partition("book", "BINANCE", "BTC-USDT", D1),
    Partition("book_delta_v2", "BINANCE", "BTC-USDT", D1),
    Partition("book_delta_v2", "BINANCE", "BTC-USDT", D2),
]


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    for seed, part in enumerate(TREE):
        write(tmp_path, part, raw_frame(part.table, part.dt, seed=seed))
    return tmp_path


class TestScanLake:
    def test_normalised_names_dtypes_and_clocks(self, lake: Path) -> None:
        lf = scan_lake(lake, "trades", symbols=["BTC-USDT"], start=D1, end=D2)
        frame = lf.collect()
        assert dict(frame.schema) == normalised_columns("trades")
        raw = raw_frame("trades", D1, seed=0)
        assert frame["origin_time"].null_count() == 2  # the NaT row and the null row
        expected = raw["timestamp"].to_list()
        expected[1] = None
        assert frame["origin_time"].cast(pl.Int64).to_list() == expected
        assert frame["trade_id"].to_list() == raw["id"].to_list()
        assert frame["quantity"].to_list() == raw["amount"].to_list()
        assert frame.select("exchange", "symbol", "dt").unique().rows() == [
            ("BINANCE", "BTC-USDT", D1)
        ]

    @pytest.mark.parametrize(
        ("filters", "partitions"),
        [
            (
                {},
                {
                    ("BINANCE", "BTC-USDT", D1),
                    ("BINANCE", "BTC-USDT", D2),
                    ("BINANCE", "BTC-USDT", D3),
                    ("BINANCE", "ETH-USDT", D1),
                    ("BINANCE_FUTURES", "BTC-USDT-PERP", D1),
                },
            ),
            ({"exchange": "BINANCE_FUTURES"}, {("BINANCE_FUTURES", "BTC-USDT-PERP", D1)}),
            (
                {"symbols": ["ETH-USDT", "BTC-USDT"], "start": D1, "end": D2},
                {("BINANCE", "BTC-USDT", D1), ("BINANCE", "ETH-USDT", D1)},
            ),
            ({"start": D2}, {("BINANCE", "BTC-USDT", D2), ("BINANCE", "BTC-USDT", D3)}),
            (
                {"end": D2, "exchange": "BINANCE"},
                {("BINANCE", "BTC-USDT", D1), ("BINANCE", "ETH-USDT", D1)},
            ),
        ],
    )
    def test_partition_filters(self, lake: Path, filters: dict, partitions: set) -> None:
        frame = scan_lake(lake, "trades", **filters).collect()
        assert set(frame.select("exchange", "symbol", "dt").unique().rows()) == partitions
        assert frame.height == 5 * len(partitions)

    def test_pruned_files_are_never_opened(self, lake: Path) -> None:
        bad = lake / "trades/exchange=BINANCE/symbol=BTC-USDT/dt=2024-04-04/0.parquet"
        bad.parent.mkdir(parents=True)
        bad.write_bytes(b"")
        assert scan_lake(lake, "trades", end=date(2024, 4, 4)).collect().height == 25
        assert bad in lake_files(lake, "trades")
        with pytest.raises(pl.exceptions.PolarsError):
            scan_lake(lake, "trades").collect()

    def test_no_matching_partition(self, lake: Path) -> None:
        with pytest.raises(EmptyPartitionError) as info:
            scan_lake(lake, "trades", symbols=["SOL-USDT"])
        assert info.value.path == lake / "trades"
        assert "SOL-USDT" in str(info.value)

    @pytest.mark.parametrize(
        "kwargs",
        [{"symbols": ["../etc"]}, {"exchange": "binance"}, {"start": D2, "end": D2}],
    )
    def test_bad_filters(self, lake: Path, kwargs: dict) -> None:
        with pytest.raises(ConfigError):
            scan_lake(lake, "trades", **kwargs)

    def test_read_partition_normalised_equals_scan(self, lake: Path) -> None:
        part = TREE[6]
        raw = read_partition(lake / part.path)
        assert dict(raw.schema) == raw_columns("book_delta_v2")
        via_file = normalise(raw, "book_delta_v2", part).collect()
        via_scan = scan_lake(lake, "book_delta_v2", start=D1, end=D2).collect()
        assert_frame_equal(via_file, via_scan)


class TestReadPartitionErrors:
    @pytest.fixture
    def part(self) -> Partition:
        return Partition("trades", "BINANCE", "BTC-USDT", D1)

    def test_truncated_file(self, tmp_path: Path, part: Partition) -> None:
        path = write(tmp_path, part, raw_frame("trades", D1, n=1_000))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(CorruptFileError) as info:
            read_partition(path)
        assert info.value.path == path and str(path) in str(info.value)
        assert "not readable as Parquet" in str(info.value)

    def test_corrupt_data_pages_behind_an_intact_footer(
        self, tmp_path: Path, part: Partition
    ) -> None:
        path = tmp_path / part.path / "x.parquet"
        path.parent.mkdir(parents=True)
        raw_frame("trades", D1, n=20_000).write_parquet(path, compression="zstd")
        data = bytearray(path.read_bytes())
        for offset in range(100, len(data) // 2, 997):
            data[offset : offset + 64] = b"\xff" * 64
        path.write_bytes(bytes(data))
        with pytest.raises(CorruptFileError) as info:
            read_partition(path)
        assert info.value.path == path
        assert "Parquet data cannot be decoded" in str(info.value)

    def test_garbage_bytes(self, tmp_path: Path, part: Partition) -> None:
        path = tmp_path / part.path / "x.parquet"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"PAR1 this is not parquet at all" * 10)
        with pytest.raises(CorruptFileError) as info:
            read_partition(path.parent)
        assert info.value.path == path

    def test_zero_byte_file_is_corrupt(self, tmp_path: Path, part: Partition) -> None:
        path = tmp_path / part.path / "x.parquet"
        path.parent.mkdir(parents=True)
        path.touch()
        with pytest.raises(CorruptFileError) as info:
            read_partition(path)
        assert (info.value.path, info.value.found) == (path, "0 bytes")
        assert str(info.value).startswith(f"{path}: 0-byte file")

    def test_missing_column(self, tmp_path: Path, part: Partition) -> None:
        path = write(tmp_path, part, raw_frame("trades", D1).drop("price", "id"))
        with pytest.raises(SchemaMismatchError) as info:
            read_partition(path)
        err = info.value
        assert (err.path, err.column, err.expected) == (path, "price", "Float64")
        assert err.found == "no such column; file has side, amount, timestamp, receipt_timestamp"
        assert str(err).startswith(
            f"{path}, column 'price': missing column of trades (all missing: price, id)"
        )

    def test_wrong_dtype(self, tmp_path: Path, part: Partition) -> None:
        frame = raw_frame("trades", D1).with_columns(pl.col("timestamp").cast(pl.Datetime("ns")))
        path = write(tmp_path, part, frame)
        with pytest.raises(SchemaMismatchError) as info:
            read_partition(path)
        err = info.value
        assert (err.column, err.expected, err.found) == (
            "timestamp",
            "Int64",
            "Datetime(time_unit='ns', time_zone=None)",
        )
        assert str(path) in str(err) and "'timestamp'" in str(err)

    def test_zero_rows_is_an_empty_partition(self, tmp_path: Path, part: Partition) -> None:
        path = write(tmp_path, part, raw_frame("trades", D1).head(0))
        with pytest.raises(EmptyPartitionError) as info:
            read_partition(path.parent)
        assert (info.value.path, info.value.found) == (path.parent, "0 rows in 1 file(s)")

    def test_missing_and_empty_directories(self, tmp_path: Path, part: Partition) -> None:
        with pytest.raises(EmptyPartitionError, match="no such file or directory"):
            read_partition(tmp_path / part.path)
        (tmp_path / part.path).mkdir(parents=True)
        with pytest.raises(EmptyPartitionError, match="holds no Parquet files"):
            read_partition(tmp_path / part.path)

    def test_table_needs_a_hive_path_or_an_argument(self, tmp_path: Path) -> None:
        path = tmp_path / "loose.parquet"
        raw_frame("book_delta_v2", D1).write_parquet(path)
        with pytest.raises(ConfigError):
            read_partition(path)
        assert read_partition(path, table="book_delta_v2").height == 5
        assert table_of(tmp_path / TREE[5].path) == "book"

    def test_several_files_concatenate_in_name_order_and_categorical_side_is_accepted(
        self, tmp_path: Path, part: Partition
    ) -> None:
        a = raw_frame("trades", D1, n=3, seed=1)
        b = raw_frame("trades", D1, n=2, seed=2).with_columns(pl.col("side").cast(pl.Categorical))
        write(tmp_path, part, b, "b.parquet")
        write(tmp_path, part, a, "a.parquet")
        frame = read_partition(tmp_path / part.path)
        assert dict(frame.schema) == raw_columns("trades")
        assert frame["id"].to_list() == [100, 101, 102, 200, 201]


class TestDuckDB:
    def test_views_for_present_tables_and_utc_session(self, tmp_path: Path) -> None:
        for part in TREE[:2]:
            write(tmp_path, part, raw_frame("trades", part.dt))
        con = duckdb_connect(tmp_path)
        views = con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        assert views == [("trades",)]
        assert con.sql("SELECT current_setting('TimeZone')").fetchall() == [("UTC",)]

    @pytest.mark.parametrize("table", ["trades", "book", "book_delta_v2"])
    def test_duckdb_and_polars_give_identical_normalised_frames(
        self, lake: Path, table: str
    ) -> None:
        order = ["exchange", "symbol", "dt", "received_time"]
        con = duckdb_connect(lake)
        from_duckdb = con.sql(f"SELECT * FROM {table}").pl().sort(order)
        from_polars = scan_lake(lake, table).collect().sort(order)
        assert from_duckdb.schema["origin_time"] == pl.Datetime("ns", "UTC")
        assert from_polars.schema["received_time"] == pl.Datetime("ns", "UTC")
        assert dict(from_duckdb.schema) == normalised_columns(table)
        assert_frame_equal(from_duckdb, from_polars)
        assert from_duckdb["origin_time"].null_count() == 2 * from_duckdb.n_unique(["symbol", "dt"])
