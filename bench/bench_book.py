"""Book reconstruction: level updates/s of `feedcheck.book.engine` on one hour of synthetic
book_delta_v2 at 8 M rows/hour, against pure-Python books on the same rows in the same run.

Peers (each applies every message whole, then reads best bid/ask price and size):
- sortedcontainers.SortedDict per side (int tick keys), best via peekitem;
- plain dict per side, best via max()/min() over the side's keys.
Lake's own numba `lakeapi.orderbook.OrderBookUpdater` is not installed (PyPI `lakeapi` would be a
bench-only extra), so the ≥ 3× lakeapi target is not measured here.
Timed: the apply loops only (rows already decoded to int ticks/lots); decode is reported apart.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from sortedcontainers import SortedDict

from bench.bench_synth import SCENARIO
from bench.machine import describe, peak_rss_mib
from feedcheck.book.engine import BookEngine, BookSeed, message_starts, reconstruct_partition
from feedcheck.lake.synthetic import generate_dataset, initial_book


def _sorted_dict(seed: BookSeed, side, px, lots, starts) -> float:
    bids = SortedDict(zip(seed.bid_px.tolist(), seed.bid_lots.tolist(), strict=True))
    asks = SortedDict(zip(seed.ask_px.tolist(), seed.ask_lots.tolist(), strict=True))
    t0 = time.perf_counter()
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        for r in range(a, b):
            book = bids if side[r] else asks
            if lots[r] > 0:
                book[px[r]] = lots[r]
            else:
                book.pop(px[r], None)
        if bids:
            bids.peekitem(-1)
        if asks:
            asks.peekitem(0)
    return time.perf_counter() - t0


def _plain_dict(seed: BookSeed, side, px, lots, starts) -> float:
    bids = dict(zip(seed.bid_px.tolist(), seed.bid_lots.tolist(), strict=True))
    asks = dict(zip(seed.ask_px.tolist(), seed.ask_lots.tolist(), strict=True))
    t0 = time.perf_counter()
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        for r in range(a, b):
            book = bids if side[r] else asks
            if lots[r] > 0:
                book[px[r]] = lots[r]
            else:
                book.pop(px[r], None)
        if bids:
            bb = max(bids)
            bids[bb]
        if asks:
            ba = min(asks)
            asks[ba]
    return time.perf_counter() - t0


def main() -> None:
    symbol = SCENARIO.symbols[0]
    ins = SCENARIO.instrument(symbol)
    seed = BookSeed(*initial_book(SCENARIO, symbol).levels())
    with tempfile.TemporaryDirectory() as tmp:
        truth = generate_dataset(SCENARIO, Path(tmp))
        path = Path(tmp) / truth.partitions[0].path
        t0 = time.perf_counter()
        table = pq.read_table(path, columns=["receipt_timestamp", "sequence_number", "side_is_bid",
                                             "price", "size"])  # fmt: skip
        side = table["side_is_bid"].to_numpy()
        px = np.rint(table["price"].to_numpy() / ins.tick).astype(np.int64)
        lots = np.rint(table["size"].to_numpy() / ins.lot).astype(np.int64)
        starts = message_starts(table["receipt_timestamp"].to_numpy(),
                                table["sequence_number"].to_numpy())  # fmt: skip
        decode_s = time.perf_counter() - t0
        rows, msgs = len(px), len(starts) - 1
        # Compile outside the timed run.
        BookEngine(seed).apply(side[:10], px[:10], lots[:10], np.array([0, 10]))
        engine_s = min(_timed_engine(seed, side, px, lots, starts) for _ in range(3))
        t0 = time.perf_counter()
        res = reconstruct_partition(path, ins.tick, ins.lot, seed=seed)
        stream_s = time.perf_counter() - t0
        side_l, px_l, lots_l, starts_l = side.tolist(), px.tolist(), lots.tolist(), starts.tolist()
        sorted_s = _sorted_dict(seed, side_l, px_l, lots_l, starts_l)
        dict_s = _plain_dict(seed, side_l, px_l, lots_l, starts_l)
    print(f"machine: {describe()}")
    print(f"data: synthetic book_delta_v2, 1 h at {SCENARIO.rates.delta_rows_per_hour:,.0f} rows/h, "
          f"{rows:,} rows, {msgs:,} messages, {len(seed.bid_px) + len(seed.ask_px)} seed levels")  # fmt: skip
    print("peer: lakeapi OrderBookUpdater: not installed (bench-only extra, lead to decide)")
    print(f"book_engine_throughput: {rows / engine_s / 1e6:.2f} M level updates/s")
    print(f"book_engine_ns_per_update: {engine_s / rows * 1e9:.1f} ns")
    print(f"book_engine_stream_file_throughput: {rows / stream_s / 1e6:.2f} M rows/s "
          f"({res.row_groups} row groups, read + decode + apply)")  # fmt: skip
    print(f"book_decode_throughput: {rows / decode_s / 1e6:.2f} M rows/s")
    print(f"sorteddict_book_throughput: {rows / sorted_s / 1e6:.2f} M level updates/s")
    print(f"dict_book_throughput: {rows / dict_s / 1e6:.2f} M level updates/s")
    print(f"engine_vs_sorteddict: {sorted_s / engine_s:.1f} x")
    print(f"engine_vs_dict: {dict_s / engine_s:.1f} x")
    print(f"book_crossed_messages: {res.crossed_messages} messages")
    print(f"peak_rss: {peak_rss_mib():.0f} MiB")


def _timed_engine(seed: BookSeed, side, px, lots, starts) -> float:
    engine = BookEngine(seed)
    t0 = time.perf_counter()
    engine.apply(side, px, lots, starts)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
