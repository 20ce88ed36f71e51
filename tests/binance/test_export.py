"""Export of recordings to Lake-layout Parquet, checked against an independent parse of the
real files, and issue [2]'s origin-time analysis run on the exported tree."""

from __future__ import annotations

import functools
import gzip
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import pyarrow.parquet as pq
import pytest

from feedcheck.analysis.origin_time import analyse_staging
from feedcheck.analysis.origin_time_result import OriginTimeConfig, RecommendationKind
from feedcheck.binance.export import (
    METADATA_KEY,
    ExportResult,
    export_recordings,
    lake_symbol,
    to_float,
)
from feedcheck.errors import ConfigError
from feedcheck.lake.readers import duckdb_connect

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
SPOT = [REAL / "binance-spot/ethusdt_20240808.gz", REAL / "binance-spot/ethusdt_20240809.gz"]
USDM_0718 = REAL / "binance-usdm/ethusdt_20240718.gz"
NS_PER_MS = 1_000_000
#: A fixed "now" far after the data, so no origin counts as in the future.
NOW_NS = 1_800_000_000 * 1_000_000_000


def day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


@functools.cache
def spot_expected() -> dict[str, object]:
    """Rows per (table, day), negative skews and sides, from the files with plain json."""
    rows: Counter[tuple[str, str]] = Counter()
    negative: Counter[str] = Counter()
    sides: Counter[str] = Counter()
    for path in SPOT:
        for line in gzip.open(path, "rb").read().splitlines():
            recv, body = line.split(b" ", 1)
            obj = json.loads(body)
            stream, data = obj.get("stream", ""), obj.get("data")
            if "@depth" in stream:
                levels = len(data["b"]) + len(data["a"])
                rows["book_delta_v2", day(data["E"])] += levels
                negative["book_delta_v2"] += levels * (int(recv) < data["E"] * NS_PER_MS)
            elif stream.endswith("@trade"):
                rows["trades", day(data["T"])] += 1
                negative["trades"] += int(recv) < data["T"] * NS_PER_MS
                sides["sell" if data["m"] else "buy"] += 1
    return {"rows": rows, "negative": negative, "sides": sides}


@pytest.fixture(scope="module")
def spot_export(tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    out = tmp_path_factory.mktemp("lake")
    return export_recordings([SPOT], out, row_group_rows=50_000)


class TestRealSpotExport:
    def test_rows_per_partition_equal_the_levels_and_trades_of_the_files(
        self, spot_export: ExportResult
    ) -> None:
        got = Counter()
        for f in spot_export.files:
            frame = pl.read_parquet(f.path)
            assert frame.height == f.rows
            got[f.table, f.dt.isoformat()] += frame.height
        assert got == spot_expected()["rows"]
        assert {(f.exchange, f.symbol) for f in spot_export.files} == {("BINANCE", "ETH-USDT")}

    def test_columns_values_and_metadata(self, spot_export: ExportResult) -> None:
        root = Path(spot_export.out_root)
        trades = pl.read_parquet(root / "trades", hive_partitioning=True)
        assert trades.columns[:6] == [
            "side",
            "amount",
            "price",
            "id",
            "timestamp",
            "receipt_timestamp",
        ]
        assert Counter(trades["side"].to_list()) == spot_expected()["sides"]
        deltas = pl.read_parquet(root / "book_delta_v2", hive_partitioning=True)
        assert deltas["prev_update_id"].null_count() == deltas.height  # spot has no pu
        assert (deltas["first_update_id"] <= deltas["sequence_number"]).all()
        # The first recorded level: ["2683.80000000","3.02920000"] of the first depth event.
        assert deltas.row(0, named=True)["price"] == 2683.8
        assert deltas.row(0, named=True)["size"] == 3.0292
        first = spot_export.files[0]
        meta = orjson.loads(pq.read_metadata(first.path).metadata[METADATA_KEY])
        assert (meta["price_decimals"], meta["qty_decimals"], meta["scale_source"]) == (
            2,
            5,
            "inferred",
        )
        assert pq.ParquetFile(first.path).num_row_groups == -(-first.rows // 50_000)
        assert not list(root.rglob("*.part"))

    def test_duckdb_views_read_the_export_despite_extra_columns(
        self, spot_export: ExportResult
    ) -> None:
        con = duckdb_connect(spot_export.out_root)
        (n,) = con.execute("SELECT count(*) FROM book_delta_v2").fetchone()
        assert n == spot_export.rows("book_delta_v2")

    def test_origin_time_analysis_finds_the_real_clock_skew(
        self, spot_export: ExportResult
    ) -> None:
        result = analyse_staging(
            spot_export.out_root, ["trades", "book_delta_v2"], OriginTimeConfig(now_ns=NOW_NS)
        )
        expected = spot_expected()
        by_table = {s.table: s for s in result.streams}
        for table, stream in by_table.items():
            rows = sum(n for (t, _), n in expected["rows"].items() if t == table)
            assert stream.counts.rows == rows
            assert stream.skew.negative == expected["negative"][table] == rows  # 100 % negative
            assert (
                -1_300_000_000 < stream.skew.p50_ns < -1_250_000_000
            )  # local − exchange ≈ −1.27 s
            assert stream.recommendation.kind is RecommendationKind.CLOCK_SYNC


def test_usdm_export_is_perp_with_pu(tmp_path: Path) -> None:
    result = export_recordings(USDM_0718, tmp_path, exchange="BINANCE_FUTURES")
    assert {f.symbol for f in result.files} == {"ETH-USDT-PERP"}
    deltas = pl.read_parquet(tmp_path / "book_delta_v2", hive_partitioning=True)
    assert deltas["prev_update_id"].null_count() == 0
    assert result.scales == {"ETHUSDT": (2, 3, "inferred")}


@pytest.mark.parametrize(
    ("binance", "exchange", "lake"),
    [
        ("ETHUSDT", "BINANCE", "ETH-USDT"),
        ("ETHBTC", "BINANCE", "ETH-BTC"),
        ("BTCFDUSD", "BINANCE", "BTC-FDUSD"),
        ("ETHBUSD", "BINANCE", "ETH-BUSD"),
        ("BTCUSDT", "BINANCE_FUTURES", "BTC-USDT-PERP"),
    ],
)
def test_lake_symbol(binance: str, exchange: str, lake: str) -> None:
    assert lake_symbol(binance, exchange) == lake


def test_lake_symbol_without_known_quote_raises() -> None:
    with pytest.raises(ConfigError):
        lake_symbol("USDT")


def test_to_float_divides_out_common_zeros_exactly() -> None:
    values = np.array([268380000000, 0, 302920000], dtype=np.int64)
    assert to_float(values, 8).tolist() == [2683.8, 0.0, 3.0292]
