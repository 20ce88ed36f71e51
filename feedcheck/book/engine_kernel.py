"""Numba kernel of the reconstruction engine: one call applies a run of whole messages.

Book layout (see `feedcheck.book.engine` for why): each side is a sorted int64 key array with
its best level at the TAIL. Bid keys are prices in ticks, ask keys are negated prices, so both
sides sort ascending and share one code path; `lots` run parallel to the keys. Updates cluster at
the touch, so the elements an insert or delete shifts are the few between the level and the tail.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Best-price sentinels of an empty side (hftbacktest uses the same pair).
NO_BID = np.iinfo(np.int64).min
NO_ASK = np.iinfo(np.int64).max

# Slots of the int64 `state` array.
S_N_BID = 0  # live bid levels
S_N_ASK = 1  # live ask levels
S_ROWS = 2  # level rows applied
S_ADDS = 3  # rows that created a level
S_CHANGES = 4  # rows that changed an existing level's size
S_DELETES = 5  # rows that removed a level
S_ABSENT_DELETES = 6  # deletes of a level the book does not hold (normal beyond the depth seen)
S_NEGATIVE = 7  # rows with size < 0 (treated as deletes)
N_STATE = 8


@njit(cache=True, nogil=True, inline="always")
def _lower_bound(keys, n, key):
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def _set_level_nb(keys, lots, n, key, qty, state):
    """Set level `key` to `qty` lots (<= 0 deletes) on one side holding `n` levels; new n."""
    # Most rows touch the last few levels: look there before a full binary search.
    if n > 0 and keys[n - 1] <= key:
        i = n - 1 if keys[n - 1] == key else n
    else:
        i = _lower_bound(keys, n, key)
    found = i < n and keys[i] == key
    if qty > 0:
        if found:
            lots[i] = qty
            state[S_CHANGES] += 1
            return n
        for j in range(n, i, -1):
            keys[j] = keys[j - 1]
            lots[j] = lots[j - 1]
        keys[i] = key
        lots[i] = qty
        state[S_ADDS] += 1
        return n + 1
    if qty < 0:
        state[S_NEGATIVE] += 1
    if not found:
        state[S_ABSENT_DELETES] += 1
        return n
    for j in range(i, n - 1):
        keys[j] = keys[j + 1]
        lots[j] = lots[j + 1]
    state[S_DELETES] += 1
    return n - 1


@njit(cache=True, nogil=True)
def apply_messages_nb(
    is_bid,
    px_ticks,
    size_lots,
    msg_starts,
    first_msg,
    bid_keys,
    bid_lots,
    ask_keys,
    ask_lots,
    state,
    out_bid_px,
    out_bid_lots,
    out_ask_px,
    out_ask_lots,
    out_crossed,
    top_n,
    out_top_bid_px,
    out_top_bid_lots,
    out_top_ask_px,
    out_top_ask_lots,
):
    """Apply messages `first_msg ..` (message m = rows `msg_starts[m] .. msg_starts[m+1]-1`) in order; outputs per message.

    Stops before a message that could overflow a side's capacity and returns its index (the
    caller grows the arrays and calls again from there); returns the message count when done.
    Outputs are written at the message's index. Empty sides report NO_BID / NO_ASK and 0 lots;
    `out_crossed[m]` is 1 when both sides exist and best bid >= best ask after message m.
    """
    n_msgs = msg_starts.shape[0] - 1
    cap_bid = bid_keys.shape[0]
    cap_ask = ask_keys.shape[0]
    n_bid = state[S_N_BID]
    n_ask = state[S_N_ASK]
    for m in range(first_msg, n_msgs):
        a = msg_starts[m]
        b = msg_starts[m + 1]
        if n_bid + (b - a) > cap_bid or n_ask + (b - a) > cap_ask:
            state[S_N_BID] = n_bid
            state[S_N_ASK] = n_ask
            return m
        for r in range(a, b):
            if is_bid[r]:
                n_bid = _set_level_nb(bid_keys, bid_lots, n_bid, px_ticks[r], size_lots[r], state)
            else:
                n_ask = _set_level_nb(ask_keys, ask_lots, n_ask, -px_ticks[r], size_lots[r], state)
        state[S_ROWS] += b - a
        if n_bid > 0:
            bb = bid_keys[n_bid - 1]
            out_bid_px[m] = bb
            out_bid_lots[m] = bid_lots[n_bid - 1]
        else:
            bb = NO_BID
            out_bid_px[m] = NO_BID
            out_bid_lots[m] = 0
        if n_ask > 0:
            ba = -ask_keys[n_ask - 1]
            out_ask_px[m] = ba
            out_ask_lots[m] = ask_lots[n_ask - 1]
        else:
            ba = NO_ASK
            out_ask_px[m] = NO_ASK
            out_ask_lots[m] = 0
        out_crossed[m] = 1 if (n_bid > 0 and n_ask > 0 and bb >= ba) else 0
        for k in range(top_n):
            if k < n_bid:
                out_top_bid_px[m, k] = bid_keys[n_bid - 1 - k]
                out_top_bid_lots[m, k] = bid_lots[n_bid - 1 - k]
            else:
                out_top_bid_px[m, k] = NO_BID
                out_top_bid_lots[m, k] = 0
            if k < n_ask:
                out_top_ask_px[m, k] = -ask_keys[n_ask - 1 - k]
                out_top_ask_lots[m, k] = ask_lots[n_ask - 1 - k]
            else:
                out_top_ask_px[m, k] = NO_ASK
                out_top_ask_lots[m, k] = 0
    state[S_N_BID] = n_bid
    state[S_N_ASK] = n_ask
    return n_msgs
