"""The depth stream of one symbol: book state, seeding + warm-up, and one generated chunk.

`new_book` seeds a deep book around the instrument's start price and runs `WARMUP_MESSAGES`
messages that are never written, so the first day starts mid-stream with no snapshot, as Lake's
`book_delta_v2` does. `run_depth_chunk` calls the numba kernel (`book_kernel.step_messages_nb`)
with preallocated outputs and returns one chunk of messages; the state carries over to the next
chunk and the next day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from feedcheck.lake.synthetic import book_kernel as bk
from feedcheck.lake.synthetic import book_levels as bl
from feedcheck.lake.synthetic.nbrandom import new_state
from feedcheck.lake.synthetic.scenario import Instrument, Rates

#: Messages run before the first day and never written (the book is deep from the seed already).
WARMUP_MESSAGES = 600
#: First update id is `SEQUENCE_BASE` plus up to 1e8 (Binance spot BTCUSDT was ~2.5e10 in 2022).
SEQUENCE_BASE = 25_000_000_000
#: Median and log-sd of level sizes in lots.
SIZE_MEDIAN_LOTS = 2_000.0
SIZE_LOG_SD = 1.4
#: Largest message count per chunk (bounds the `book` snapshot arrays: 640 bytes per message).
MAX_MESSAGES_PER_CHUNK = 50_000


@dataclass(frozen=True)
class BookState:
    """Mutable arrays (the kernel updates them in place) behind a frozen handle."""

    bid_lots: np.ndarray  # int64[RING], by price tick & RING_MASK
    ask_lots: np.ndarray
    bid_stamp: np.ndarray  # int64[RING]: last message that wrote the slot
    ask_stamp: np.ndarray
    scalars: np.ndarray  # int64[N_SCALARS]: best prices, bounds, sequence, stale level
    rng: np.ndarray  # uint64[1]
    params: np.ndarray  # float64[N_PARAMS]

    @property
    def sequence(self) -> int:
        """`u` of the last message generated."""
        return int(self.scalars[bl.S_SEQ])

    def levels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every level of the true book: (bid ticks desc, bid lots, ask ticks asc, ask lots)."""
        sc = self.scalars
        bid_px = np.arange(sc[bl.S_BEST_BID], sc[bl.S_LO_BID] - 1, -1, dtype=np.int64)
        ask_px = np.arange(sc[bl.S_BEST_ASK], sc[bl.S_HI_ASK] + 1, dtype=np.int64)
        bid_lots = self.bid_lots[bid_px & bl.RING_MASK]
        ask_lots = self.ask_lots[ask_px & bl.RING_MASK]
        return (
            bid_px[bid_lots > 0],
            bid_lots[bid_lots > 0],
            ask_px[ask_lots > 0],
            ask_lots[ask_lots > 0],
        )


@dataclass(frozen=True)
class DepthChunk:
    """Messages `first .. first + messages - 1` of a day, as the kernel produced them.

    Row arrays (one row per written level update): `is_bid`, `price_ticks`, `size_lots` (0 =
    delete). Message arrays: `row_start`/`row_count` into the rows, `seq` (`u`), `best_bid`/
    `best_ask` ticks after the message, `crossed` (see `step_messages_nb`), and when asked the
    `book` snapshot arrays of shape (messages, BOOK_LEVELS) in ticks / lots (-1 = no level).
    """

    first: int
    is_bid: np.ndarray
    price_ticks: np.ndarray
    size_lots: np.ndarray
    row_start: np.ndarray
    row_count: np.ndarray
    seq: np.ndarray
    best_bid: np.ndarray
    best_ask: np.ndarray
    crossed: np.ndarray
    book: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None

    @property
    def messages(self) -> int:
        return int(self.seq.size)


def kernel_params(rates: Rates) -> np.ndarray:
    prm = np.zeros(bl.N_PARAMS, dtype=np.float64)
    levels = float(rates.levels_per_message)
    prm[bl.P_LEVELS] = levels
    prm[bl.P_IDS_EXTRA] = 0.6 * levels  # Binance: one id per change, several changes per level
    prm[bl.P_MOVE_PROB] = 0.3
    prm[bl.P_DIST_MEAN] = 30.0 + 1.5 * levels
    prm[bl.P_SIZE_MU] = np.log(SIZE_MEDIAN_LOTS)
    prm[bl.P_SIZE_SIGMA] = SIZE_LOG_SD
    prm[bl.P_PHANTOM] = 0.25
    return prm


def new_book(instrument: Instrument, rates: Rates, rng: np.random.Generator) -> BookState:
    """A deep book around `instrument.start_price`, warmed up by `WARMUP_MESSAGES` messages.

    Spread one tick; levels within `DEPTH_TICKS` of the touch present with a probability that
    falls with depth; the update id starts at `SEQUENCE_BASE` + U(0, 1e8).
    """
    mid_ticks = int(round(instrument.start_price / instrument.tick))
    best_bid, best_ask = mid_ticks, mid_ticks + 1
    bid = np.zeros(bl.RING, dtype=np.int64)
    ask = np.zeros(bl.RING, dtype=np.int64)
    depth = np.arange(bl.DEPTH_TICKS, dtype=np.int64)
    occupancy = 0.25 + 0.7 * np.exp(-depth / 300.0)
    for book, touch, step in ((bid, best_bid, -1), (ask, best_ask, 1)):
        present = rng.random(depth.size) < occupancy
        present[0] = True
        lots = np.maximum(
            np.rint(rng.lognormal(np.log(SIZE_MEDIAN_LOTS), SIZE_LOG_SD, depth.size)), 1
        )
        book[(touch + step * depth) & bl.RING_MASK] = np.where(present, lots, 0).astype(np.int64)
    scalars = np.zeros(bl.N_SCALARS, dtype=np.int64)
    scalars[bl.S_BEST_BID], scalars[bl.S_BEST_ASK] = best_bid, best_ask
    scalars[bl.S_LO_BID] = best_bid - bl.DEPTH_TICKS + 1
    scalars[bl.S_HI_ASK] = best_ask + bl.DEPTH_TICKS - 1
    scalars[bl.S_SEQ] = SEQUENCE_BASE + int(rng.integers(0, 100_000_000))
    state = BookState(
        bid,
        ask,
        np.zeros(bl.RING, dtype=np.int64),
        np.zeros(bl.RING, dtype=np.int64),
        scalars,
        new_state(rng),
        kernel_params(rates),
    )
    modes = np.zeros(WARMUP_MESSAGES, dtype=np.int8)
    no_cut = np.zeros(WARMUP_MESSAGES, dtype=np.uint8)
    done = 0
    while done < WARMUP_MESSAGES:
        chunk = run_depth_chunk(state, modes[done:], no_cut[done:], done, 100_000, want_book=False)
        done += chunk.messages
    return state


def run_depth_chunk(
    state: BookState,
    modes: np.ndarray,
    no_cut: np.ndarray,
    first: int,
    chunk_rows: int,
    want_book: bool,
) -> DepthChunk:
    """Generate the next messages (at least one, at most `modes.size`) of about `chunk_rows` rows.

    Args:
        state: the book, advanced in place.
        modes: `book_kernel.MODE_*` per message from the chunk's first message to the day's end.
        no_cut: 1 where the chunk must not end after that message.
        first: index of the first message within the day (carried into the result).
        chunk_rows: row budget; a chunk exceeds it only to finish a `no_cut` chain.
        want_book: also extract the top `BOOK_LEVELS` levels per side after each message.
    """
    levels = float(state.params[bl.P_LEVELS])
    max_rows = bk.max_rows_per_message(levels)
    msg_cap = int(
        min(modes.size, MAX_MESSAGES_PER_CHUNK, max(64, chunk_rows // max(1, int(levels // 2))))
    )
    row_buf = chunk_rows + 2 * max_rows
    msg_buf = msg_cap + 2
    is_bid = np.empty(row_buf, dtype=np.bool_)
    px = np.empty(row_buf, dtype=np.int64)
    lots = np.empty(row_buf, dtype=np.int64)
    rows = np.empty(msg_buf, dtype=np.int64)
    seq = np.empty(msg_buf, dtype=np.int64)
    best_bid = np.empty(msg_buf, dtype=np.int64)
    best_ask = np.empty(msg_buf, dtype=np.int64)
    crossed = np.empty(msg_buf, dtype=np.uint8)
    shape = (msg_buf if want_book else 1, bl.BOOK_LEVELS)
    snap = tuple(np.empty(shape, dtype=np.int64) for _ in range(4))
    n_msgs, n_rows = bk.step_messages_nb(
        state.bid_lots,
        state.ask_lots,
        state.bid_stamp,
        state.ask_stamp,
        state.scalars,
        state.rng,
        state.params,
        modes,
        no_cut,
        chunk_rows,
        msg_cap,
        want_book,
        is_bid,
        px,
        lots,
        rows,
        seq,
        best_bid,
        best_ask,
        crossed,
        *snap,
    )
    count = rows[:n_msgs]
    start = np.cumsum(count) - count
    return DepthChunk(
        first=first,
        is_bid=is_bid[:n_rows],
        price_ticks=px[:n_rows],
        size_lots=lots[:n_rows],
        row_start=start,
        row_count=count,
        seq=seq[:n_msgs],
        best_bid=best_bid[:n_msgs],
        best_ask=best_ask[:n_msgs],
        crossed=crossed[:n_msgs],
        book=tuple(a[:n_msgs] for a in snap) if want_book else None,  # type: ignore[arg-type]
    )
