"""The reconstruction engine against an obviously-correct dict book (hypothesis), the synthetic
generator's ground truth (`faults` and a clean scenario) and the capture's Book on the real
Binance spot recording."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedcheck.binance.formats import read_hftbacktest
from feedcheck.binance.sync import BookSync, SyncOutcome
from feedcheck.binance.wire import Scale, parse_depth_snapshot, parse_depth_update
from feedcheck.book.engine import (
    NO_ASK,
    NO_BID,
    BookEngine,
    BookSeed,
)
from feedcheck.book.replay import (
    crossed_episodes,
    iter_batches,
    message_starts,
    reconstruct_partition,
    stream_partition,
)
from feedcheck.errors import DataError, SchemaMismatchError
from feedcheck.lake.synthetic import (
    Scenario,
    generate_dataset,
    initial_book,
    scenario_with_overrides,
)
from feedcheck.lake.synthetic.scenario import Instrument, Rates

REAL_SPOT = Path(__file__).parents[1] / "data" / "real" / "binance-spot"


class DictBook:
    """The reference: two dicts, best by max/min, a message applied row by row."""

    def __init__(self, bids: dict[int, int], asks: dict[int, int]) -> None:
        self.bids, self.asks = dict(bids), dict(asks)

    def apply(self, rows: list[tuple[bool, int, int]]) -> None:
        for is_bid, px, qty in rows:
            side = self.bids if is_bid else self.asks
            if qty > 0:
                side[px] = qty
            else:
                side.pop(px, None)

    def best(self) -> tuple[int, int, int, int, bool]:
        bb = max(self.bids) if self.bids else NO_BID
        ba = min(self.asks) if self.asks else NO_ASK
        crossed = bool(self.bids) and bool(self.asks) and bb >= ba
        return bb, self.bids.get(bb, 0), ba, self.asks.get(ba, 0), crossed

    def top(self, n: int) -> tuple[list[int], list[int], list[int], list[int]]:
        b = sorted(self.bids, reverse=True)[:n]
        a = sorted(self.asks)[:n]
        pad_b, pad_a = [NO_BID] * (n - len(b)), [NO_ASK] * (n - len(a))
        return (
            b + pad_b,
            [self.bids[p] for p in b] + [0] * len(pad_b),
            a + pad_a,
            [self.asks[p] for p in a] + [0] * len(pad_a),
        )


levels = st.dictionaries(st.integers(90, 110), st.integers(1, 5), max_size=12)
row = st.tuples(st.booleans(), st.integers(85, 115), st.integers(-2, 6))
messages = st.lists(st.lists(row, max_size=6), max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bids=levels, asks=levels, msgs=messages, top_n=st.integers(0, 4))
def test_engine_equals_dict_book(bids, asks, msgs, top_n):
    """Random messages over a narrow price band: unknown-level deletes, zero and negative sizes,
    empty messages, updates that cross the book; every per-message output and the final book
    equal the dict reference."""
    engine = BookEngine(BookSeed.from_levels(bids.items(), asks.items()), top_n=top_n)
    ref = DictBook(bids, asks)
    flat = [r for m in msgs for r in m]
    starts = np.cumsum([0] + [len(m) for m in msgs])
    out = engine.apply(
        np.array([r[0] for r in flat], dtype=bool),
        np.array([r[1] for r in flat], dtype=np.int64),
        np.array([r[2] for r in flat], dtype=np.int64),
        starts,
    )
    for i, m in enumerate(msgs):
        ref.apply(m)
        got = (
            out.bid_px[i], out.bid_lots[i], out.ask_px[i], out.ask_lots[i], bool(out.crossed[i])
        )  # fmt: skip
        assert got == ref.best()
        if top_n:
            tops = (out.top_bid_px, out.top_bid_lots, out.top_ask_px, out.top_ask_lots)
            assert tuple(t[i].tolist() for t in tops) == ref.top(top_n)
    b, a = engine.snapshot().levels()
    assert b == sorted(ref.bids.items(), reverse=True) and a == sorted(ref.asks.items())
    c = engine.counters
    assert c.rows == len(flat) == c.adds + c.changes + c.deletes + c.absent_deletes
    assert c.negative_sizes == sum(r[2] < 0 for r in flat)


def test_capacity_grows_between_messages():
    """6000 new bid levels in one message, then half deleted: the side outgrows 1024 slots."""
    px = np.arange(1, 6001, dtype=np.int64)
    engine = BookEngine(BookSeed.from_levels([], [(7000, 1)]), top_n=2)
    is_bid = np.ones(9000, dtype=bool)
    rows_px = np.concatenate((px, px[::2]))
    lots = np.concatenate((np.full(6000, 3), np.zeros(3000, np.int64)))
    out = engine.apply(is_bid, rows_px, lots, np.array([0, 6000, 9000]))
    assert out.bid_px.tolist() == [6000, 6000] and out.top_bid_px[1].tolist() == [6000, 5998]
    b, a = engine.snapshot().levels()
    assert len(b) == 3000 and b[-1] == (2, 3) and a == [(7000, 1)]
    assert engine.counters.adds == 6000 and engine.counters.deletes == 3000


def test_seed_from_lake_book_row_and_rest_levels():
    row = {
        f"{s}_{i}_{f}": None for s in ("bid", "ask") for i in range(20) for f in ("price", "size")
    }
    row |= {"bid_0_price": 100.02, "bid_0_size": 0.5, "bid_1_price": 100.01, "bid_1_size": 0.0,
            "ask_0_price": 100.03, "ask_0_size": 1.25}  # fmt: skip
    seed = BookSeed.from_lake_book_row(row, 0.01, 0.01)
    assert seed.levels() == ([(10002, 50)], [(10003, 125)])
    del row["ask_19_size"]
    with pytest.raises(SchemaMismatchError) as err:
        BookSeed.from_lake_book_row(row, 0.01, 0.01)
    assert err.value.column == "ask_19_size"
    dup = BookSeed.from_levels([(5, 1), (5, 2), (4, 0)], [])
    assert BookEngine(dup).snapshot().levels() == ([(5, 2)], [])


def test_bad_batches_and_files_raise(tmp_path):
    engine = BookEngine()
    with pytest.raises(DataError) as err:
        engine.apply(np.ones(2, bool), np.ones(2, np.int64), np.ones(2, np.int64), np.array([0, 1]))
    assert err.value.column == "msg_starts"
    with pytest.raises(DataError) as err:
        engine.apply(np.ones(2, bool), np.ones(1, np.int64), np.ones(2, np.int64), np.array([0, 2]))
    assert err.value.column == "is_bid/px/size"
    path = tmp_path / "x.parquet"
    pq.write_table(
        pa.table({"receipt_timestamp": [1], "sequence_number": [1], "price": [1.0]}), path
    )
    with pytest.raises(SchemaMismatchError) as err:
        reconstruct_partition(path, 0.01, 0.01)
    assert err.value.column == "side_is_bid"


def test_crossed_episodes_and_message_starts():
    ep = crossed_episodes(np.array([0, 1, 1, 0, 0, 1, 0, 1], dtype=bool))
    assert (ep.start.tolist(), ep.length.tolist(), ep.open_at_end) == ([1, 5, 7], [2, 1, 1], True)
    starts = message_starts(np.array([5, 5, 5, 6, 6, 6]), np.array([1, 1, 2, 2, 2, 3]))
    assert starts.tolist() == [0, 2, 3, 5, 6]


def _delta_file(path: Path, prices: list[float], sizes: list[float]) -> Path:
    """A raw book_delta_v2 file, one row per message, alternating bid/ask."""
    n = len(prices)
    pq.write_table(
        pa.table({
            "receipt_timestamp": list(range(1, n + 1)), "sequence_number": list(range(1, n + 1)),
            "side_is_bid": [i % 2 == 0 for i in range(n)], "price": prices, "size": sizes,
        }),
        path,
    )  # fmt: skip
    return path


def test_replay_counts_off_grid_floats_and_refuses_overflow(tmp_path):
    """Lake floats go through `ticks.float_to_steps`: off-tick prices and off-lot sizes are
    counted exactly (and rounded), a SHIB-sized quantity at a 1e-9 lot raises instead of wrapping
    to a negative lot count, and a NaN price names its file and column."""
    ok = _delta_file(
        tmp_path / "ok.parquet",
        [100.00, 100.05, 100.013, 100.06, 99.99],
        [1.0, 2.0, 0.5, 0.1234567, 3.0],
    )
    res = reconstruct_partition(ok, 0.01, 0.001)
    assert (res.off_tick_prices, res.off_lot_sizes) == (1, 1)
    assert res.final.levels() == (
        [(10001, 500), (10000, 1000), (9999, 3000)],
        [(10005, 2000), (10006, 123)],
    )
    shib = _delta_file(tmp_path / "shib.parquet", [0.00001234, 0.00001235], [1.0, 9e10])
    with pytest.raises(DataError) as err:
        reconstruct_partition(shib, 1e-8, 1e-9)
    assert (err.value.path, err.value.column) == (str(shib), "size")
    assert reconstruct_partition(shib, 1e-8, 1.0).final.levels()[1] == [(1235, 90_000_000_000)]
    nan = _delta_file(tmp_path / "nan.parquet", [100.0, float("nan")], [1.0, 1.0])
    with pytest.raises(DataError) as err:
        reconstruct_partition(nan, 0.01, 0.001)
    assert (err.value.path, err.value.column) == (str(nan), "price")


# ---- synthetic Lake data -------------------------------------------------------------------


def _seed(scenario: Scenario, symbol: str) -> BookSeed:
    return BookSeed(*initial_book(scenario, symbol).levels())


def _path(root: Path, truth, key: str) -> Path:
    return root / next(p.path for p in truth.partitions if p.partition == key)


def _ticks(frame: pl.DataFrame, side: str, field: str, step: float) -> np.ndarray:
    cols = frame.select(f"{side}_{i}_{field}" for i in range(20)).to_numpy()
    return np.rint(cols / step).astype(np.int64)


@pytest.fixture(scope="module")
def faults_eth(tmp_path_factory):
    """The shipped `faults` scenario for ETH-USDT, row groups of 1000 rows, so messages
    straddle row groups (96 groups a day)."""
    sc = dataclasses.replace(
        scenario_with_overrides("faults", symbols=["ETH-USDT"]), chunk_rows=1000
    )
    root = tmp_path_factory.mktemp("faults-eth")
    return root, sc, generate_dataset(sc, root)


def test_faults_crossed_messages_equal_stranded_ground_truth(faults_eth):
    root, sc, truth = faults_eth
    ins, seed = sc.instrument("ETH-USDT"), _seed(sc, "ETH-USDT")
    for day in sc.days():
        key = f"book_delta_v2/BINANCE/ETH-USDT/{day}"
        res = reconstruct_partition(_path(root, truth, key), ins.tick, ins.lot, seed=seed)
        seed = res.final  # day 2 continues day 1's book
        (fault,) = [f for f in truth.faults if f.partition == key and f.kind == "stranded_level"]
        assert (
            res.row_groups == 96 and res.rows == pq.read_metadata(_path(root, truth, key)).num_rows
        )
        assert res.crossed_messages == fault.details["crossed_messages"] > 0
        # One crossed episode per stranded level, each as long as its recorded crossed messages.
        assert res.episodes.count == fault.count == 2 and not res.episodes.open_at_end
        for inst, start, length in zip(
            fault.details["instances"], res.episodes.start, res.episodes.length, strict=True
        ):
            assert length == inst["crossed_messages"]
            assert (
                inst["sequence_number"] <= res.sequence_number[start] < inst["heal_sequence_number"]
            )
        assert res.counters.negative_sizes == 1  # the injected negative_size row
        # Off-tick floats are counted exactly (and still applied, rounded to the nearest tick).
        assert res.off_tick_prices == truth.count(key, "off_tick_price") > 0
        assert res.off_lot_sizes == 0


def test_streaming_holds_one_row_group_and_equals_the_whole_partition(faults_eth):
    """Bounded memory: `iter_batches` never holds more than one row group plus the message
    carried over from the previous one, and `stream_partition` (which keeps nothing) gives
    exactly `reconstruct_partition`'s per-message outputs, top 3 included."""
    root, sc, truth = faults_eth
    ins, day = sc.instrument("ETH-USDT"), sc.start
    path = _path(root, truth, f"book_delta_v2/BINANCE/ETH-USDT/{day}")
    meta = pq.read_metadata(path)
    group_rows = max(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
    whole = pq.read_table(path, columns=["receipt_timestamp", "sequence_number"])
    starts = message_starts(*(whole.column(c).to_numpy() for c in whole.column_names))
    longest = int(np.diff(starts).max())
    assert meta.num_row_groups == 96 and longest < group_rows
    batches = list(iter_batches(path))
    sizes = [len(cols["size"]) for _, cols in batches]
    assert max(sizes) <= group_rows + longest
    assert [first for first, _ in batches] == np.cumsum([0] + sizes[:-1]).tolist()
    assert sum(sizes) == meta.num_rows and len(batches) <= meta.num_row_groups + 1
    engine = BookEngine(_seed(sc, "ETH-USDT"), top_n=3)
    streamed = list(stream_partition(path, ins.tick, ins.lot, engine))
    full = reconstruct_partition(path, ins.tick, ins.lot, seed=_seed(sc, "ETH-USDT"), top_n=3)
    assert [b.rows for b in streamed] == sizes
    for name in ("bid_px", "bid_lots", "ask_px", "ask_lots", "crossed", "top_bid_px",
                 "top_ask_lots"):  # fmt: skip
        got = np.concatenate([getattr(b.best, name) for b in streamed])
        assert np.array_equal(got, getattr(full.best, name)), name
    assert np.concatenate([b.first_rows for b in streamed]).tolist() == full.first_row.tolist()
    assert engine.snapshot().levels() == full.final.levels()


def test_faults_best_prices_equal_book_rows_where_deltas_are_fault_free(faults_eth):
    """Day 1 (day 2's ETH book partition is the scenario's empty one): every `book` row that is
    not itself faulted, matched to its delta message by sequence number, has the engine's best
    bid/ask prices unless that message is crossed (stranded); sizes also match until the first
    delta fault that rewrites sizes (a swapped row, a dropped message, a stranded window)."""
    root, sc, truth = faults_eth
    ins, day = sc.instrument("ETH-USDT"), sc.start
    dkey, bkey = (f"{t}/BINANCE/ETH-USDT/{day}" for t in ("book_delta_v2", "book"))
    res = reconstruct_partition(
        _path(root, truth, dkey), ins.tick, ins.lot, seed=_seed(sc, "ETH-USDT")
    )
    book = pl.read_parquet(_path(root, truth, bkey), hive_partitioning=False)
    bad_rows = {r for f in truth.faults if f.partition == bkey for r in f.rows}
    size_faults = [
        r for f in truth.faults if f.partition == dkey
        and f.kind in ("unsorted_rows", "stranded_level") for r in f.rows
    ] + [i["next_row"] for f in truth.faults if f.partition == dkey
         and f.kind == "dropped_message" for i in f.details["instances"]]  # fmt: skip
    first_size_fault = np.searchsorted(res.first_row, min(size_faults), side="right") - 1
    by_seq = {s: m for m, s in enumerate(res.sequence_number.tolist())}
    cols = {
        (s, f): _ticks(book, s, f, ins.tick if f == "price" else ins.lot)[:, 0]
        for s in ("bid", "ask") for f in ("price", "size")
    }  # fmt: skip
    prices = sizes = 0
    for r, s in enumerate(book["sequence_number"].to_list()):
        m = by_seq.get(s)
        if r in bad_rows or m is None or res.best.crossed[m]:
            continue
        assert (res.best.bid_px[m], res.best.ask_px[m]) == (
            cols["bid", "price"][r],
            cols["ask", "price"][r],
        )
        prices += 1
        if m < first_size_fault:
            assert (res.best.bid_lots[m], res.best.ask_lots[m]) == (
                cols["bid", "size"][r],
                cols["ask", "size"][r],
            )
            sizes += 1
    assert prices == 3174 - 76 and sizes > 500


def test_clean_top20_equals_every_book_row(tmp_path):
    """No faults: after every message the engine's top 20 (prices and sizes) equals the `book`
    row with the same index, over two days with state carried across midnight."""
    sc = Scenario(
        seed=5, symbols=("BTC-USDT",), start=date(2024, 4, 1), end=date(2024, 4, 3),
        hours_per_day=0.03, tables=("book", "book_delta_v2"),
        rates=Rates(levels_per_message=40.0),
        instruments={"BTC-USDT": Instrument(tick=0.01, lot=0.00001, start_price=65_000.0)},
        chunk_rows=3_000,
    )  # fmt: skip
    truth = generate_dataset(sc, tmp_path)
    seed, checked = _seed(sc, "BTC-USDT"), 0
    for day in sc.days():
        res = reconstruct_partition(
            _path(tmp_path, truth, f"book_delta_v2/BINANCE/BTC-USDT/{day}"), 0.01, 0.00001,
            seed=seed, top_n=20,
        )  # fmt: skip
        seed = res.final
        book = pl.read_parquet(_path(tmp_path, truth, f"book/BINANCE/BTC-USDT/{day}"))
        assert res.messages == len(book) and res.crossed_messages == 0
        assert res.sequence_number.tolist() == book["sequence_number"].to_list()
        assert np.array_equal(res.best.top_bid_px, _ticks(book, "bid", "price", 0.01))
        assert np.array_equal(res.best.top_bid_lots, _ticks(book, "bid", "size", 0.00001))
        assert np.array_equal(res.best.top_ask_px, _ticks(book, "ask", "price", 0.01))
        assert np.array_equal(res.best.top_ask_lots, _ticks(book, "ask", "size", 0.00001))
        checked += res.messages
    assert checked == 2 * round(0.03 * 3600 * sc.rates.delta_messages_per_second)


# ---- real Binance spot recording -------------------------------------------------------------


def test_real_spot_best_equals_capture_book_after_every_applied_event():
    """ETHUSDT spot 2024-08-08/09 (state carried across files): BookSync decides what is applied;
    the engine, seeded from the same REST snapshot and fed those events as one columnar batch,
    reports the capture Book's best bid/ask (price and size) after each of them."""
    scale = Scale(2, 5)
    sync = BookSync("ETHUSDT")
    seed: BookSeed | None = None
    rows: list[tuple[bool, int, int]] = []
    starts, expected = [0], []
    for rec in read_hftbacktest(sorted(REAL_SPOT.glob("*.gz"))):
        if rec.kind == "snapshot":
            snap = parse_depth_snapshot(orjson.loads(rec.payload), "ETHUSDT", scale)
            assert sync.on_snapshot(snap, rec.recv_ns) is SyncOutcome.SYNCED
            seed = BookSeed.from_levels(snap.bids, snap.asks)
            continue
        if rec.kind != "frame" or "@depth" not in (rec.stream or ""):
            continue
        event = parse_depth_update(orjson.loads(rec.payload)["data"], scale)
        if sync.on_depth(event, rec.recv_ns) is not SyncOutcome.APPLIED:
            continue
        rows += [(True, p, q) for p, q in event.bids] + [(False, p, q) for p, q in event.asks]
        starts.append(len(rows))
        book = sync.book
        bb, ba = book.best_bid(), book.best_ask()
        expected.append((bb, book.bids.qty(bb), ba, book.asks.qty(ba)))
    assert seed is not None and sync.counters.syncs == 1
    assert len(expected) == sync.counters.events_applied == 6468
    engine = BookEngine(seed)
    arr = np.array(rows, dtype=np.int64)
    out = engine.apply(arr[:, 0].astype(bool), arr[:, 1], arr[:, 2], np.array(starts))
    got = list(
        zip(
            *(o.tolist() for o in (out.bid_px, out.bid_lots, out.ask_px, out.ask_lots)), strict=True
        )
    )
    assert got == expected and not out.crossed.any()
    b, a = engine.snapshot().levels()
    assert (b, a) == (sync.book.bids.top(len(b) + 1), sync.book.asks.top(len(a) + 1))
