"""feedcheck.lake.synthetic: layout, schemas, determinism, depth/trade realism, config errors.

Fault counts are checked against the written files in test_synthetic_faults.py.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feedcheck.errors import ConfigError
from feedcheck.lake.layout import parse_key
from feedcheck.lake.synthetic import (
    FaultSpec,
    GroundTruth,
    Scenario,
    builtin_scenarios,
    generate_dataset,
    load_builtin_scenario,
    messages_per_day,
    scenario_with_overrides,
)
from feedcheck.lake.synthetic.book_kernel import max_rows_per_message
from feedcheck.lake.synthetic.scenario import FAULT_KINDS, MAX_NATURAL_LAG_NS, Rates

MS = 1_000_000
D1, D2 = date(2024, 4, 1), date(2024, 4, 2)
KEY = "{table}/BINANCE/BTC-USDT/{day}"


def day_start_ns(day: date) -> int:
    return (day - date(1970, 1, 1)).days * 86_400 * 10**9


def read(ds, table: str, day: date) -> pl.DataFrame:
    return pl.read_parquet(
        ds.root / _relpath(ds.truth, KEY.format(table=table, day=day)), hive_partitioning=False
    )


def _relpath(truth: GroundTruth, key: str) -> str:
    return next(p.path for p in truth.partitions if p.partition == key)


TRADES_COLUMNS = [
    ("side", pa.string()),
    ("amount", pa.float64()),
    ("price", pa.float64()),
    ("id", pa.int64()),
    ("timestamp", pa.int64()),
    ("receipt_timestamp", pa.int64()),
]
DELTA_COLUMNS = [
    ("timestamp", pa.int64()),
    ("receipt_timestamp", pa.int64()),
    ("sequence_number", pa.int64()),
    ("side_is_bid", pa.bool_()),
    ("price", pa.float64()),
    ("size", pa.float64()),
]
BOOK_COLUMNS = [
    ("timestamp", pa.int64()),
    ("receipt_timestamp", pa.int64()),
    ("sequence_number", pa.int64()),
] + [
    (f"{s}_{i}_{w}", pa.float64())
    for s in ("bid", "ask")
    for i in range(20)
    for w in ("price", "size")
]


class TestLayoutAndSchema:
    """data-formats.md §1.2 raw columns and §1.5 Hive layout."""

    def test_hive_paths(self, synthetic_clean):
        files = sorted(
            p.relative_to(synthetic_clean.root).as_posix()
            for p in synthetic_clean.root.rglob("*.parquet")
        )
        expected = sorted(
            f"{t}/exchange=BINANCE/symbol=BTC-USDT/dt={d}/part-0.snappy.parquet"
            for t in ("trades", "book", "book_delta_v2")
            for d in ("2024-04-01", "2024-04-02")
        )
        assert files == expected
        assert [parse_key(f).partition.key for f in files] == [
            f.split("/")[0] + "/BINANCE/BTC-USDT/" + f.split("dt=")[1][:10] for f in files
        ]
        assert (synthetic_clean.root / "ground_truth.json").is_file()
        assert sorted(p.path for p in synthetic_clean.truth.partitions) == expected

    @pytest.mark.parametrize(
        "table, columns",
        [("trades", TRADES_COLUMNS), ("book_delta_v2", DELTA_COLUMNS), ("book", BOOK_COLUMNS)],
    )
    def test_raw_columns_dtypes_and_snappy(self, synthetic_clean, table, columns):
        path = synthetic_clean.root / _relpath(
            synthetic_clean.truth, KEY.format(table=table, day=D1)
        )
        schema = pq.read_schema(path)
        assert [(f.name, f.type) for f in schema] == columns
        assert len(schema) == (83 if table == "book" else 6)
        meta = pq.ParquetFile(path).metadata
        assert {meta.row_group(0).column(i).compression for i in range(meta.num_columns)} == {
            "SNAPPY"
        }

    def test_chunks_become_row_groups(self, synthetic_clean):
        path = synthetic_clean.root / _relpath(
            synthetic_clean.truth, KEY.format(table="book_delta_v2", day=D1)
        )
        meta = pq.ParquetFile(path).metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        assert meta.num_row_groups >= 3
        assert sum(sizes) == meta.num_rows
        assert max(sizes) <= synthetic_clean.scenario.chunk_rows
        assert min(sizes[:-1]) > synthetic_clean.scenario.chunk_rows - max_rows_per_message(20.0)

    def test_same_scenario_gives_identical_bytes(self, synthetic_clean, tmp_path):
        truth = generate_dataset(synthetic_clean.scenario, tmp_path)
        for part in truth.partitions:
            assert (tmp_path / part.path).read_bytes() == (
                synthetic_clean.root / part.path
            ).read_bytes()
        assert (tmp_path / "ground_truth.json").read_text() == (
            synthetic_clean.root / "ground_truth.json"
        ).read_text()

    def test_ground_truth_round_trips(self, synthetic_clean):
        truth = GroundTruth.read(synthetic_clean.root)
        assert truth == synthetic_clean.truth
        assert truth.faults == []
        assert truth.scenario["symbols"] == ["BTC-USDT"]
        assert {p.partition: p.rows for p in truth.partitions} == {
            p.partition: pq.ParquetFile(synthetic_clean.root / p.path).metadata.num_rows
            for p in truth.partitions
        }


class TestDepth:
    """data-formats.md §4 item 3: book_delta_v2 message structure, and `book` consistent with it."""

    @pytest.mark.parametrize("day", [D1, D2])
    def test_message_structure(self, synthetic_clean, message_runs, day):
        df = read(synthetic_clean, "book_delta_v2", day)
        starts = message_runs(df)
        first = df[starts[:-1].tolist()]
        rows = np.diff(starts)
        n = messages_per_day(synthetic_clean.scenario)
        key = KEY.format(table="book_delta_v2", day=day)
        assert (
            len(first)
            == n
            == next(p.messages for p in synthetic_clean.truth.partitions if p.partition == key)
        )
        # every row of a message shares timestamp, receipt and sequence_number
        per_msg = (
            df.with_columns(msg=pl.Series(np.repeat(np.arange(n), rows)))
            .group_by("msg")
            .agg(pl.col("timestamp", "receipt_timestamp", "sequence_number").n_unique())
        )
        assert per_msg.select(pl.exclude("msg").max()).row(0) == (1, 1, 1)
        seq = first["sequence_number"].to_numpy()
        step = np.diff(seq)
        assert (step >= np.maximum(rows[1:], 2)).all()  # k ids consumed >= rows written
        assert 25_000_000_000 < seq[0] < 25_200_000_000
        assert 10 <= rows.mean() <= 30 and rows.min() >= 1
        assert (df["size"] == 0).sum() > 0 and (df["size"] >= 0).all()
        grid = np.diff((first["timestamp"].to_numpy() + MS // 2) // MS)
        assert grid.min() >= 95 and grid.max() <= 105  # depth@100ms

    def test_book_replays_from_deltas(self, synthetic_clean, replay_book):
        sc = synthetic_clean.scenario
        book = replay_book.seeded(sc, "BTC-USDT")
        tick, lot = 0.01, 0.00001
        checked = 0
        for day in (D1, D2):
            deltas, snaps = (
                read(synthetic_clean, "book_delta_v2", day),
                read(synthetic_clean, "book", day),
            )
            bid_px = np.rint(
                snaps.select(f"bid_{i}_price" for i in range(20)).to_numpy() / tick
            ).astype(np.int64)
            ask_px = np.rint(
                snaps.select(f"ask_{i}_price" for i in range(20)).to_numpy() / tick
            ).astype(np.int64)
            bid_sz = np.rint(
                snaps.select(f"bid_{i}_size" for i in range(20)).to_numpy() / lot
            ).astype(np.int64)
            for row, (seq, a, _) in enumerate(book.replay(deltas, tick, lot)):
                assert snaps["sequence_number"][row] == seq
                assert snaps["timestamp"][row] == deltas["timestamp"][a]
                assert snaps["receipt_timestamp"][row] == deltas["receipt_timestamp"][a]
                bids, asks = book.top()
                assert bids == bid_px[row].tolist() and asks == ask_px[row].tolist()
                assert [book.bids[p] for p in bids] == bid_sz[row].tolist()
                assert bids[0] < asks[0]
                checked += 1
        assert checked == 2 * messages_per_day(sc)

    def test_some_deletes_hit_absent_levels(self, synthetic_clean, replay_book):
        book = replay_book.seeded(synthetic_clean.scenario, "BTC-USDT")
        df = read(synthetic_clean, "book_delta_v2", D1)
        px = np.rint(df["price"].to_numpy() / 0.01).astype(np.int64)
        absent = 0
        sizes, bids = df["size"].to_numpy(), df["side_is_bid"].to_numpy()
        for r in range(len(df)):
            side = book.bids if bids[r] else book.asks
            if sizes[r] == 0:
                absent += side.pop(int(px[r]), None) is None
            else:
                side[int(px[r])] = 1
        assert 0.002 * len(df) < absent < 0.2 * len(df)

    def test_sequence_continues_across_days(self, synthetic_clean):
        last = read(synthetic_clean, "book", D1)["sequence_number"][-1]
        first_rows = read(synthetic_clean, "book_delta_v2", D2)
        first = first_rows["sequence_number"][0]
        assert 2 <= first - last <= 200
        assert (
            first_rows["sequence_number"] == first
        ).sum() < 100  # no start-of-day snapshot block


class TestClocks:
    """data-formats.md §1.3 and §4 item 4: float-derived ns, lag distribution."""

    @pytest.mark.parametrize("table", ["trades", "book_delta_v2", "book"])
    def test_float_noise_and_ms_origins(self, synthetic_clean, table):
        df = read(synthetic_clean, table, D1)
        origin = df["timestamp"].to_numpy()
        ms = (origin + MS // 2) // MS
        assert ((ms.astype(np.float64) / 1000.0 * 1e9).astype(np.int64) == origin).all()
        assert (origin % MS != 0).mean() > 0.5  # e.g. ...032999936
        assert (np.abs(origin - ms * MS) < 1_000).all()
        assert (df["receipt_timestamp"].to_numpy() % 1000 != 0).mean() > 0.5

    @pytest.mark.parametrize("table", ["trades", "book_delta_v2"])
    def test_lag_distribution(self, synthetic_clean, table):
        lags = []
        for day in (D1, D2):
            df = read(synthetic_clean, table, day)
            if table == "book_delta_v2":
                df = df.unique(subset=["sequence_number"], keep="first", maintain_order=True)
            lags.append((df["receipt_timestamp"] - df["timestamp"]).to_numpy())
            assert (df["timestamp"].diff().drop_nulls() >= 0).all()
            assert (df["receipt_timestamp"].diff().drop_nulls() > 0).all()
        lag = np.concatenate(lags) / MS
        assert 3.0 <= np.median(lag) <= 9.0
        assert 40.0 <= np.percentile(lag, 95) <= 200.0
        assert lag.min() > 0 and lag.max() < MAX_NATURAL_LAG_NS / MS


class TestTrades:
    """data-formats.md §4 item 5."""

    def test_ids_consecutive_across_days(self, synthetic_clean):
        ids = pl.concat([read(synthetic_clean, "trades", d)["id"] for d in (D1, D2)]).to_numpy()
        assert ids[0] > 2**31
        assert (np.diff(ids) == 1).all()

    def test_prices_at_the_touch_and_amounts_in_lots(self, synthetic_clean):
        trades, book = read(synthetic_clean, "trades", D1), read(synthetic_clean, "book", D1)
        bucket = ((trades["timestamp"].to_numpy() - day_start_ns(D1)) // (100 * MS)).astype(
            np.int64
        )
        buy = (trades["side"] == "buy").to_numpy()
        touch = np.where(
            buy, book["ask_0_price"].to_numpy()[bucket], book["bid_0_price"].to_numpy()[bucket]
        )
        assert (trades["price"].to_numpy() == touch).all()
        assert set(trades["side"].unique()) == {"buy", "sell"}
        lots = trades["amount"].to_numpy() / 0.00001
        assert (np.abs(lots - np.rint(lots)) < 1e-6).all() and (lots >= 1).all()

    def test_bursty_arrivals_share_ms(self, synthetic_clean):
        df = pl.concat([read(synthetic_clean, "trades", d) for d in (D1, D2)])
        per_second = df.group_by((pl.col("timestamp") // 10**9).alias("s")).len()["len"]
        assert per_second.max() >= 100  # bursts of hundreds per second
        assert per_second.median() < 20
        shared = df.group_by((pl.col("timestamp") + MS // 2) // MS).len().filter(pl.col("len") > 1)
        assert len(shared) > 100
        for day in (D1, D2):
            gaps = read(synthetic_clean, "trades", day)["timestamp"].diff().drop_nulls()
            assert gaps.max() < 3_200 * MS  # trades.TRADE_MAX_GAP_S


class TestScenarios:
    def test_builtin_scenarios_load(self):
        assert {"demo", "faults"} <= set(builtin_scenarios())
        faults = load_builtin_scenario("faults")
        assert faults.symbols == ("BTC-USDT", "ETH-USDT") and faults.hours_per_day == 0.1
        assert len(faults.days()) == 2
        kinds = {(f.table, f.kind) for f in faults.faults}
        assert {k for _, k in kinds} == set(FAULT_KINDS)
        assert load_builtin_scenario("demo").tables == ("trades", "book", "book_delta_v2")

    def test_overrides_narrow_faults_and_partitions(self):
        sc = scenario_with_overrides("faults", symbols=["BTC-USDT"], end=date(2024, 4, 2), seed=5)
        assert sc.seed == 5 and sc.symbols == ("BTC-USDT",) and sc.days() == [D1]
        assert all(f.symbol in (None, "BTC-USDT") for f in sc.faults)
        assert sc.empty_partitions == () and sc.missing_partitions == ()
        assert set(sc.instruments) == {"BTC-USDT"}

    def test_progress_reports_every_chunk(self, tmp_path):
        calls: list[tuple[str, int]] = []
        sc = dataclasses.replace(_small(), tables=("book_delta_v2",), chunk_rows=2_000)
        truth = generate_dataset(sc, tmp_path, progress=lambda key, rows: calls.append((key, rows)))
        key = "book_delta_v2/BINANCE/BTC-USDT/2024-04-01"
        mine = [rows for k, rows in calls if k == key]
        assert len(mine) >= 5 and mine == sorted(mine) and mine[-1] == truth.partitions[0].rows

    @pytest.mark.parametrize(
        "change, message",
        [
            ({"faults": (FaultSpec("book", "invalid_side", 1),)}, "does not apply"),
            ({"faults": (FaultSpec("trades", "stranded_level", 1),)}, "does not apply"),
            (
                {"faults": (FaultSpec("book", "origin_null", 1),), "tables": ("trades",)},
                "not in tables",
            ),
            ({"faults": (FaultSpec("trades", "origin_null", 1, symbol="ETH-USDT"),)}, "not in"),
            ({"faults": (FaultSpec("trades", "origin_null", 1, dt=date(2025, 1, 1)),)}, "outside"),
            ({"faults": (FaultSpec("trades", "time_hole", 40),)}, "faults need"),
            (
                {"faults": (FaultSpec("trades", "day_boundary_leak", 51),)},
                "day_boundary_leak count",
            ),
            ({"rates": Rates(delta_messages_per_second=0.5)}, "delta_messages_per_second"),
            ({"rates": Rates(trades_per_hour=0)}, "trades_per_hour"),
            ({"empty_partitions": ("book/BINANCE/BTC-USDT/2030-01-01",)}, "not table/EXCHANGE"),
            ({"seed": -1}, "seed"),
        ],
    )
    def test_bad_scenario_is_config_error(self, tmp_path, change, message):
        with pytest.raises(ConfigError, match=message):
            generate_dataset(dataclasses.replace(_small(), **change), tmp_path)
        assert list(tmp_path.iterdir()) == []  # nothing written

    def test_bad_yaml_and_names(self, tmp_path):
        bad = tmp_path / "bad.yaml"
        bad.write_text("seed: 1\nsymbols: [BTC-USDT]\ncolour: red\n")
        with pytest.raises(ConfigError, match="unknown scenario keys: colour"):
            Scenario.from_yaml(bad)
        with pytest.raises(ConfigError, match="unknown builtin scenario"):
            load_builtin_scenario("../etc/passwd")
        with pytest.raises(ConfigError, match="neither a builtin"):
            scenario_with_overrides(str(tmp_path / "nope.yaml"))


def _small() -> Scenario:
    return Scenario(
        seed=1,
        symbols=("BTC-USDT",),
        start=D1,
        end=D2,
        hours_per_day=0.02,
        rates=Rates(trades_per_hour=20_000.0),
    )
