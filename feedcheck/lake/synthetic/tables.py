"""Raw Lake column layouts and the Arrow tables the generator writes, one chunk at a time.

Column names, order and dtypes are the vendor's raw Parquet ones (data-formats.md §1.2); the Hive
keys exchange/symbol/dt live only in the path. Prices and sizes are float64 made from exact ticks
and lots (`ticks / (1 / tick)`, which equals `float("65000.12")`), clocks are float-derived ns
(`clock.py`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from feedcheck.lake.layout import Table
from feedcheck.lake.synthetic import inject as inj
from feedcheck.lake.synthetic.book_levels import BOOK_LEVELS
from feedcheck.lake.synthetic.clock import origin_ms_to_ns, receipt_us_to_ns
from feedcheck.lake.synthetic.depth import DepthChunk
from feedcheck.lake.synthetic.scenario import Instrument
from feedcheck.lake.synthetic.trades import TradeChunk
from feedcheck.schemas.lake_columns import raw_arrow_schema

NAT_NS = np.iinfo(np.int64).min
#: `negative_size` in book_delta_v2 writes this many lots, negated.
NEGATIVE_SIZE_LOTS = 1_000
INVALID_SIDE = "unknown"
_SIDES = pa.array(["buy", "sell", INVALID_SIDE])

TRADES_SCHEMA = raw_arrow_schema("trades")
BOOK_DELTA_V2_SCHEMA = raw_arrow_schema("book_delta_v2")
BOOK_SCHEMA = raw_arrow_schema("book")
SCHEMAS: dict[Table, pa.Schema] = {
    "trades": TRADES_SCHEMA,
    "book": BOOK_SCHEMA,
    "book_delta_v2": BOOK_DELTA_V2_SCHEMA,
}


def book_off_tick_column(event: int) -> str:
    """The `book` cell an off_tick_price fault moves, chosen by the message's day index."""
    return f"bid_{event % BOOK_LEVELS}_price"


BOOK_NONPOSITIVE_COLUMN = f"bid_{BOOK_LEVELS - 1}_price"
BOOK_NEGATIVE_SIZE_COLUMN = f"bid_{BOOK_LEVELS - 1}_size"


def to_float(units: np.ndarray, step: float) -> np.ndarray:
    """Exact integer units (ticks, lots) → float64 as parsed from the decimal string."""
    inverse = 1.0 / step
    if abs(inverse - round(inverse)) < 1e-9 * inverse:
        return units / float(round(inverse))
    return units * step


def _timestamps(layout: inj.Layout, repeat: np.ndarray | None = None) -> tuple[pa.Array, pa.Array]:
    origin = origin_ms_to_ns(layout.origin_ms)
    flag = layout.origin_flag
    origin = np.where(flag == inj.ORIGIN_NAT, NAT_NS, origin)
    origin = np.where(flag == inj.ORIGIN_ZERO, 0, origin)
    origin = np.where(flag == inj.ORIGIN_NEGATIVE, -origin, origin)
    receipt = receipt_us_to_ns(layout.receipt_us)
    null = flag == inj.ORIGIN_NULL
    if repeat is not None:
        origin, receipt, null = (np.repeat(a, repeat) for a in (origin, receipt, null))
    return pa.array(origin, pa.int64(), mask=null if null.any() else None), pa.array(
        receipt, pa.int64()
    )


def trades_table(chunk: TradeChunk, layout: inj.Layout, inst: Instrument) -> pa.Table:
    src, flag = layout.src, layout.value_flag
    side_idx = np.where(chunk.is_buy[src], 0, 1).astype(np.int8)
    side_idx[flag == inj.VALUE_INVALID_SIDE] = 2
    price = to_float(chunk.price_ticks[src], inst.tick)
    price[flag == inj.VALUE_OFF_TICK] += inst.tick / 2
    price[flag == inj.VALUE_NONPOSITIVE] = 0.0
    amount = to_float(chunk.amount_lots[src], inst.lot)
    amount[flag == inj.VALUE_NEGATIVE_SIZE] *= -1.0
    origin, receipt = _timestamps(layout)
    side = pa.DictionaryArray.from_arrays(pa.array(side_idx), _SIDES).cast(pa.string())
    return pa.Table.from_arrays(
        [side, pa.array(amount), pa.array(price), pa.array(layout.key), origin, receipt],
        schema=TRADES_SCHEMA,
    )


def delta_rows_per_position(chunk: DepthChunk, layout: inj.Layout) -> np.ndarray:
    return chunk.row_count[layout.src]


def book_delta_v2_table(chunk: DepthChunk, layout: inj.Layout, inst: Instrument) -> pa.Table:
    counts = delta_rows_per_position(chunk, layout)
    before = np.cumsum(counts) - counts
    rows = np.repeat(chunk.row_start[layout.src] - before, counts) + np.arange(int(counts.sum()))
    price = to_float(chunk.price_ticks[rows], inst.tick)
    size = to_float(chunk.size_lots[rows], inst.lot)
    flag = np.repeat(layout.value_flag, counts)
    price[flag == inj.VALUE_OFF_TICK] += inst.tick / 2
    price[flag == inj.VALUE_NONPOSITIVE] = 0.0
    size[flag == inj.VALUE_NEGATIVE_SIZE] = -to_float(np.array([NEGATIVE_SIZE_LOTS]), inst.lot)[0]
    origin, receipt = _timestamps(layout, counts)
    seq = pa.array(np.repeat(layout.key, counts))
    return pa.Table.from_arrays(
        [origin, receipt, seq, pa.array(chunk.is_bid[rows]), pa.array(price), pa.array(size)],
        schema=BOOK_DELTA_V2_SCHEMA,
    )


def book_table(chunk: DepthChunk, layout: inj.Layout, inst: Instrument) -> pa.Table:
    assert chunk.book is not None, "book rows need run_depth_chunk(want_book=True)"
    src, flag = layout.src, layout.value_flag
    bid_px, bid_lots, ask_px, ask_lots = (a[src] for a in chunk.book)
    cols: dict[str, np.ndarray] = {}
    for side, px, lots in (("bid", bid_px, bid_lots), ("ask", ask_px, ask_lots)):
        # transposed so each level's column is contiguous
        price = np.ascontiguousarray(np.where(px < 0, np.nan, to_float(px, inst.tick)).T)
        size = np.ascontiguousarray(np.where(lots < 0, np.nan, to_float(lots, inst.lot)).T)
        for i in range(BOOK_LEVELS):
            cols[f"{side}_{i}_price"] = price[i]
            cols[f"{side}_{i}_size"] = size[i]
    events = chunk.first + src
    for q in np.flatnonzero(flag == inj.VALUE_OFF_TICK):
        cols[book_off_tick_column(int(events[q]))][q] += inst.tick / 2
    cols[BOOK_NONPOSITIVE_COLUMN][flag == inj.VALUE_NONPOSITIVE] = 0.0
    cols[BOOK_NEGATIVE_SIZE_COLUMN][flag == inj.VALUE_NEGATIVE_SIZE] *= -1.0
    origin, receipt = _timestamps(layout)
    arrays = [origin, receipt, pa.array(layout.key)] + [
        pa.array(cols[name]) for name in BOOK_SCHEMA.names[3:]
    ]
    return pa.Table.from_arrays(arrays, schema=BOOK_SCHEMA)
