"""Numba kernel of the reconstruction engine: one call applies a run of whole messages.

Book layout (see `feedcheck.book.engine` for why): each side is a sorted int64 key array with
its best level at the TAIL. Bid keys are prices in ticks, ask keys are negated prices, so both
sides sort ascending and share one code path; `lots` run parallel to the keys. Updates cluster at
the touch, so the elements an insert or delete shifts are the few between the level and the tail.
`apply_messages_dense_nb` is the default path: a dense lots window per side (see the engine).
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


# Dense-window layout: per side one int64 `lots` array indexed by key - base (bid key = price,
# ask key = -price, so the best is the highest live index on both sides). Extra state slots:
D_BID_BASE = 0  # key of bid index 0
D_ASK_BASE = 1
D_BID_BEST = 2  # index of the best bid, -1 when the side is empty
D_ASK_BEST = 3
N_DENSE = 4


@njit(cache=True, nogil=True, inline="always")
def _dense_set_nb(lots, base, best, n, key, qty, state):
    """Set level `key` to `qty` (<= 0 deletes) in one dense side; returns (n, best)."""
    i = key - base
    inside = 0 <= i < lots.shape[0]
    if qty > 0:
        # The caller checked every add of the message lies in the window.
        if lots[i] > 0:
            state[S_CHANGES] += 1
        else:
            state[S_ADDS] += 1
            n += 1
            if i > best:
                best = i
        lots[i] = qty
        return n, best
    if qty < 0:
        state[S_NEGATIVE] += 1
    if not inside or lots[i] == 0:
        state[S_ABSENT_DELETES] += 1
        return n, best
    lots[i] = 0
    state[S_DELETES] += 1
    n -= 1
    if n == 0:
        best = -1
    elif i == best:
        # Only a best delete scans, and only down to the next live level.
        j = i - 1
        while lots[j] == 0:
            j -= 1
        best = j
    return n, best


@njit(cache=True, nogil=True)
def apply_messages_dense_nb(
    is_bid,
    px_ticks,
    size_lots,
    msg_starts,
    first_msg,
    bid_lots,
    ask_lots,
    state,
    dense,
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
    """`apply_messages_nb` on dense windows: same outputs, counters and return contract.

    Stops before a message with an add (size > 0) outside its side's window and returns its
    index (the caller re-centres / grows the window and calls again); deletes outside the window
    are absent deletes. Returns the message count when done.
    """
    n_msgs = msg_starts.shape[0] - 1
    cap_bid = bid_lots.shape[0]
    cap_ask = ask_lots.shape[0]
    bid_base = dense[D_BID_BASE]
    ask_base = dense[D_ASK_BASE]
    bid_best = dense[D_BID_BEST]
    ask_best = dense[D_ASK_BEST]
    n_bid = state[S_N_BID]
    n_ask = state[S_N_ASK]
    for m in range(first_msg, n_msgs):
        a = msg_starts[m]
        b = msg_starts[m + 1]
        fits = True
        for r in range(a, b):
            if size_lots[r] > 0:
                if is_bid[r]:
                    i = px_ticks[r] - bid_base
                    if i < 0 or i >= cap_bid:
                        fits = False
                else:
                    i = -px_ticks[r] - ask_base
                    if i < 0 or i >= cap_ask:
                        fits = False
        if not fits:
            state[S_N_BID] = n_bid
            state[S_N_ASK] = n_ask
            dense[D_BID_BEST] = bid_best
            dense[D_ASK_BEST] = ask_best
            return m
        for r in range(a, b):
            if is_bid[r]:
                n_bid, bid_best = _dense_set_nb(
                    bid_lots, bid_base, bid_best, n_bid, px_ticks[r], size_lots[r], state
                )
            else:
                n_ask, ask_best = _dense_set_nb(
                    ask_lots, ask_base, ask_best, n_ask, -px_ticks[r], size_lots[r], state
                )
        state[S_ROWS] += b - a
        if n_bid > 0:
            bb = bid_best + bid_base
            out_bid_px[m] = bb
            out_bid_lots[m] = bid_lots[bid_best]
        else:
            bb = NO_BID
            out_bid_px[m] = NO_BID
            out_bid_lots[m] = 0
        if n_ask > 0:
            ba = -(ask_best + ask_base)
            out_ask_px[m] = ba
            out_ask_lots[m] = ask_lots[ask_best]
        else:
            ba = NO_ASK
            out_ask_px[m] = NO_ASK
            out_ask_lots[m] = 0
        out_crossed[m] = 1 if (n_bid > 0 and n_ask > 0 and bb >= ba) else 0
        if top_n > 0:
            _dense_top_nb(bid_lots, bid_base, bid_best, n_bid, top_n, 1, NO_BID,
                          out_top_bid_px[m], out_top_bid_lots[m])  # fmt: skip
            _dense_top_nb(ask_lots, ask_base, ask_best, n_ask, top_n, -1, NO_ASK,
                          out_top_ask_px[m], out_top_ask_lots[m])  # fmt: skip
    state[S_N_BID] = n_bid
    state[S_N_ASK] = n_ask
    dense[D_BID_BEST] = bid_best
    dense[D_ASK_BEST] = ask_best
    return n_msgs


@njit(cache=True, nogil=True, inline="always")
def _dense_top_nb(lots, base, best, n, top_n, sign, empty_px, out_px, out_lots):
    """Top `top_n` levels best first; the scan stops after the side's last live level."""
    k = 0
    j = best
    lim = min(top_n, n)
    while k < lim:
        q = lots[j]
        if q > 0:
            out_px[k] = sign * (j + base)
            out_lots[k] = q
            k += 1
        j -= 1
    while k < top_n:
        out_px[k] = empty_px
        out_lots[k] = 0
        k += 1
