"""The trade stream of one symbol and day: bursty arrivals, consecutive ids, prices at the touch.

Trades are counted per bucket of the depth-message grid (100 ms at 10 messages/s), so each trade
is priced against the true book after that bucket's message: a buy at the best ask, a sell at the
best bid, always on tick. Arrivals follow a regime-switching Poisson process (quiet / normal /
burst, bursts of a few hundred trades/s) whose mean is `rates.trades_per_hour`; a trade is forced
at least every `TRADE_MAX_GAP_S` so that only injected holes leave long silences. Several trades
share one ms (one taker order sweeping, as aggTrade rows do), and share its side. Amounts are
positive whole lots. Ids are consecutive int64 continuing across days (start above 2^31).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from feedcheck.lake.synthetic.nbrandom import exponential_nb, poisson_nb, unif_nb

#: No natural silence between trades exceeds this (holes are longer, see faults.HOLE_DURATION_S).
TRADE_MAX_GAP_S = 3.0
#: First trade id of a symbol: above 2^31, as BTCUSDT's are.
TRADE_ID_BASE = 3_000_000_000
#: Median and log-sd of trade amounts in lots.
AMOUNT_MEDIAN_LOTS = 300.0
AMOUNT_LOG_SD = 1.4
#: Probability that a trade shares the previous trade's ms (same taker order).
SAME_MS_PROB = 0.45

# regimes: rate multiplier, mean duration (s), probability of being entered
_REGIME_MULT = np.array([0.3, 1.0, 25.0])
_REGIME_MEAN_S = np.array([60.0, 120.0, 4.0])
_REGIME_ENTER = np.array([0.45, 0.45, 0.10])


@njit(cache=True)
def trade_counts_nb(state, base_per_bucket, mult, mean_buckets, enter_cdf, max_gap_buckets, out):
    """Fill `out[b]` with the trade count of bucket b: Poisson around
    `base_per_bucket * mult[regime]`, regimes lasting an exponential number of buckets; a trade
    is forced after `max_gap_buckets - 1` empty buckets. `state` is a `nbrandom` state."""
    left = 0
    regime = 1
    since = 0
    for b in range(out.size):
        if left <= 0:
            u = unif_nb(state)
            regime = 0
            while regime < enter_cdf.size - 1 and u >= enter_cdf[regime]:
                regime += 1
            left = 1 + int(exponential_nb(state, mean_buckets[regime]))
        left -= 1
        c = poisson_nb(state, base_per_bucket * mult[regime])
        if c == 0 and since + 1 >= max_gap_buckets:
            c = 1
        since = 0 if c > 0 else since + 1
        out[b] = c


def trade_counts(
    rng: np.random.Generator, n_buckets: int, buckets_per_second: float, trades_per_hour: float
) -> np.ndarray:
    """Trades per depth bucket for one day (int64[n_buckets]); mean rate `trades_per_hour`."""
    weights = _REGIME_ENTER * _REGIME_MEAN_S
    mean_mult = float((weights * _REGIME_MULT).sum() / weights.sum())
    base = trades_per_hour / 3600.0 / buckets_per_second / mean_mult
    out = np.zeros(n_buckets, dtype=np.int64)
    state = np.array([rng.integers(1, 2**63 - 1)], dtype=np.uint64)
    max_gap = max(1, int(TRADE_MAX_GAP_S * buckets_per_second))
    trade_counts_nb(
        state,
        base,
        _REGIME_MULT,
        _REGIME_MEAN_S * buckets_per_second,
        np.cumsum(_REGIME_ENTER),
        max_gap,
        out,
    )
    return out


@dataclass(frozen=True)
class TradeChunk:
    """Trades `first .. first + n - 1` of a day (0-based within the day)."""

    first: int
    bucket: np.ndarray  # int64: depth message / bucket index
    origin_ms: np.ndarray  # int64 exchange ms (trade time T)
    is_buy: np.ndarray  # bool: taker side
    price_ticks: np.ndarray
    amount_lots: np.ndarray
    trade_id: np.ndarray


def trade_chunk(
    rng: np.random.Generator,
    counts: np.ndarray,
    bucket_lo: int,
    bucket_hi: int,
    first_trade: int,
    bucket_start_ms: np.ndarray,
    bucket_width_ms: int,
    best_bid: np.ndarray,
    best_ask: np.ndarray,
    first_id: int,
) -> TradeChunk:
    """Build the trades of buckets `[bucket_lo, bucket_hi)`.

    Args:
        counts: trades per bucket for the day; `first_trade` is the day index of the first trade
            of `bucket_lo` (i.e. `counts[:bucket_lo].sum()`).
        bucket_start_ms: exchange ms at which each bucket starts; trades of a bucket fall within
            `[start, start + bucket_width_ms)`, so buckets never overlap in time.
        best_bid, best_ask: the true touch (ticks) after each bucket's depth message.
        first_id: id of the day's first trade; ids are `first_id + day index`.
    """
    per = counts[bucket_lo:bucket_hi]
    n = int(per.sum())
    bucket = np.repeat(np.arange(bucket_lo, bucket_hi, dtype=np.int64), per)
    first_of_bucket = np.ones(n, dtype=bool)
    first_of_bucket[1:] = bucket[1:] != bucket[:-1]
    same_ms = rng.random(n) < SAME_MS_PROB
    step = np.where(same_ms, 0, rng.geometric(0.35, n))
    step = np.where(first_of_bucket, rng.integers(0, max(bucket_width_ms // 2, 1), n), step)
    total = np.cumsum(step)
    before_bucket = np.repeat((total - step)[first_of_bucket], per[per > 0])
    offset = np.minimum(total - before_bucket, bucket_width_ms - 1)
    origin_ms = bucket_start_ms[bucket] + offset
    new_order = first_of_bucket | (step != 0)
    leader = np.maximum.accumulate(np.where(new_order, np.arange(n), 0))
    is_buy = (rng.random(n) < 0.5)[leader]
    price = np.where(is_buy, best_ask[bucket], best_bid[bucket])
    lots = np.maximum(np.rint(rng.lognormal(np.log(AMOUNT_MEDIAN_LOTS), AMOUNT_LOG_SD, n)), 1)
    ids = first_id + first_trade + np.arange(n, dtype=np.int64)
    return TradeChunk(
        first_trade, bucket, origin_ms, is_buy, price.astype(np.int64), lots.astype(np.int64), ids
    )
