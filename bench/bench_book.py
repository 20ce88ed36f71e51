"""Book reconstruction: level updates/s of `feedcheck.book.engine` on one hour of synthetic
book_delta_v2 at 8 M rows/hour, against pure-Python books on the same rows in the same run.

Peers (each applies every message whole, then reads best bid/ask price and size):
- sortedcontainers.SortedDict per side (int tick keys), best via peekitem;
- plain dict per side, best via max()/min() over the side's keys.
- Lake's own numba `lakeapi.orderbook.OrderBookUpdater` (PyPI `lakeapi`, the `bench` extra):
  `process_next_update()` (one equal-received_time group) then `get_bests()`, over the same rows
  (whole hour; `LAKEAPI_ROWS` can cut it to a prefix at a group end), fed the same decoded
  ticks/lots as float64 and seeded with the same book (no seed API: its typed dicts are filled);
  its best bid/ask after every group is checked against the engine's after the same message. Its
  3000-5000 level depth trim cannot move the best. Without lakeapi the peer is reported absent.
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
from feedcheck.book.engine import BookEngine, BookSeed
from feedcheck.book.replay import message_starts, reconstruct_partition
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


#: DESIGN.md targets: level updates/s on one core, and the ratio to Lake's OrderBookUpdater.
TARGET_RATE = 10e6
TARGET_VS_LAKEAPI = 3.0
#: Rows given to OrderBookUpdater: None = the whole hour, else a prefix cut at the next group end
#: (its rate is measured on those rows, nothing extrapolated).
LAKEAPI_ROWS: int | None = None


def _lakeapi_frame(recv_ns, seq, side, px, lots):
    """lakeapi's normalised book_delta_v2 columns; price/size in ticks/lots as float64."""
    import pandas as pd

    return pd.DataFrame({
        "received_time": recv_ns, "sequence_number": seq, "side_is_bid": side,
        "price": px.astype(np.float64), "size": lots.astype(np.float64),
    })  # fmt: skip


def _lakeapi_updater(seed: BookSeed, df):
    from lakeapi.orderbook import OrderBookUpdater

    upd = OrderBookUpdater(df)
    # No seed API: fill its typed dicts directly; its bests cache starts invalid, so it rescans.
    for book, prices, sizes in ((upd.bid, seed.bid_px, seed.bid_lots),
                                (upd.ask, seed.ask_px, seed.ask_lots)):  # fmt: skip
        for p, q in zip(prices.tolist(), sizes.tolist(), strict=True):
            book[float(p)] = float(q)
    return upd


def _lakeapi(seed: BookSeed, df) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Seconds, then per processed group: end row (exclusive), best bid, best ask (ticks)."""
    upd = _lakeapi_updater(seed, df)
    ends, bids, asks = [], [], []
    t0 = time.perf_counter()
    while (end := upd.process_next_update()) != 0:
        bb, ba = upd.get_bests()
        ends.append(end)
        bids.append(bb)
        asks.append(ba)
    elapsed = time.perf_counter() - t0
    return elapsed, np.array(ends, np.int64), np.array(bids), np.array(asks)


def _lakeapi_peer(
    seed: BookSeed, recv_ns, seq, side, px, lots, starts, best
) -> tuple[list[str], float | None]:
    """Time OrderBookUpdater (best of 3) on LAKEAPI_ROWS rows (cut at a group end); check its
    bests against the engine's `best` (per message of the whole hour): report lines, s/row."""
    try:
        import lakeapi.orderbook  # noqa: F401
    except ImportError:
        return [
            "peer: lakeapi OrderBookUpdater: not installed (the bench extra; `make bench` installs it)"
        ], None
    # Cut at a received_time group boundary so its last group is whole.
    bounds = np.append(np.flatnonzero(recv_ns[1:] != recv_ns[:-1]) + 1, len(recv_ns))
    limit = len(recv_ns) if LAKEAPI_ROWS is None else LAKEAPI_ROWS
    n = int(bounds[min(np.searchsorted(bounds, limit), len(bounds) - 1)])
    cut = (recv_ns[:n], seq[:n], side[:n], px[:n], lots[:n])
    # Compile (numba, cache=True) outside the timed run.
    warm = _lakeapi_updater(seed, _lakeapi_frame(*(c[:1000] for c in cut)))
    while warm.process_next_update() != 0:
        warm.get_bests()
    df = _lakeapi_frame(*cut)
    lake_s, ends, bids, asks = _lakeapi(seed, df)
    lake_s = min(lake_s, *(_lakeapi(seed, df)[0] for _ in range(2)))
    # Every received_time group ends at a message end; compare at that message.
    msg = np.searchsorted(starts, ends) - 1
    whole = starts[msg + 1] == ends
    differ = int(np.sum((bids != best.bid_px[msg]) | (asks != best.ask_px[msg]) | ~whole))
    lines = [
        f"peer: lakeapi {_lakeapi_version()} OrderBookUpdater on {n:,} of {len(recv_ns):,} rows "
        f"({len(ends):,} received_time groups), seeded, process_next_update + get_bests",
        f"lakeapi_orderbookupdater_throughput: {n / lake_s / 1e6:.2f} M level updates/s",
        f"lakeapi_bests_agree: {'no' if differ else 'yes'}",
        f"lakeapi_groups_compared: {len(ends)} groups",
        f"lakeapi_groups_differ: {differ} groups",
    ]
    return lines, lake_s / n


def _lakeapi_version() -> str:
    from importlib.metadata import version

    return version("lakeapi")


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
        recv_ns = table["receipt_timestamp"].to_numpy().astype(np.int64)
        seq = table["sequence_number"].to_numpy().astype(np.int64)
        # Compile outside the timed run.
        BookEngine(seed).apply(side[:10], px[:10], lots[:10], np.array([0, 10]))
        engine_s = min(_timed_engine(seed, side, px, lots, starts) for _ in range(3))
        t0 = time.perf_counter()
        res = reconstruct_partition(path, ins.tick, ins.lot, seed=seed)
        stream_s = time.perf_counter() - t0
        best = BookEngine(seed).apply(side, px, lots, starts)
        lake_lines, lake_s_per_row = _lakeapi_peer(seed, recv_ns, seq, side, px, lots, starts, best)
        side_l, px_l, lots_l, starts_l = side.tolist(), px.tolist(), lots.tolist(), starts.tolist()
        sorted_s = _sorted_dict(seed, side_l, px_l, lots_l, starts_l)
        dict_s = _plain_dict(seed, side_l, px_l, lots_l, starts_l)
    # DESIGN.md format: one `name: value unit` line per figure, ratios as `name: 3.4 x`; the
    # `machine:`, `data:` and `peer:` lines say what ran where.
    engine_rate = rows / engine_s
    print(f"machine: {describe()}")
    print(f"data: synthetic book_delta_v2, 1 h at {SCENARIO.rates.delta_rows_per_hour:,.0f} rows/h, "
          f"{rows:,} rows, {msgs:,} messages, {len(seed.bid_px) + len(seed.ask_px)} seed levels")  # fmt: skip
    print("peer: sortedcontainers.SortedDict per side, best via peekitem, same rows, same process")
    print("peer: plain dict per side, best via max()/min(), same rows, same process")
    for line in lake_lines:
        print(line)
    print(f"book_engine_throughput: {engine_rate / 1e6:.2f} M level updates/s")
    print(f"book_engine_ns_per_update: {engine_s / rows * 1e9:.1f} ns")
    print(f"book_engine_stream_file_throughput: {rows / stream_s / 1e6:.2f} M rows/s")
    print(f"book_engine_stream_row_groups: {res.row_groups} row groups")
    print(f"book_decode_throughput: {rows / decode_s / 1e6:.2f} M rows/s")
    print(f"sorteddict_book_throughput: {rows / sorted_s / 1e6:.2f} M level updates/s")
    print(f"dict_book_throughput: {rows / dict_s / 1e6:.2f} M level updates/s")
    print(f"engine_vs_sorteddict: {sorted_s / engine_s:.1f} x")
    print(f"engine_vs_dict: {dict_s / engine_s:.1f} x")
    print(f"book_engine_target_10m_per_s: {'PASS' if engine_rate >= TARGET_RATE else 'FAIL'}")
    if lake_s_per_row is not None:
        ratio = lake_s_per_row / (engine_s / rows)  # per level update: lakeapi may run a prefix
        print(f"engine_vs_lakeapi: {ratio:.1f} x")
        print(f"engine_target_3x_lakeapi: {'PASS' if ratio >= TARGET_VS_LAKEAPI else 'FAIL'}")
    else:
        print("engine_target_3x_lakeapi: UNKNOWN")
    print(f"book_crossed_messages: {res.crossed_messages} messages")
    print(f"peak_rss: {peak_rss_mib():.0f} MiB")


def _timed_engine(seed: BookSeed, side, px, lots, starts) -> float:
    engine = BookEngine(seed)
    t0 = time.perf_counter()
    engine.apply(side, px, lots, starts)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
