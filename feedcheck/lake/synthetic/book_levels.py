"""Book state layout and the level operations of the order-book kernel (numba, in place).

The book of one symbol is two ring buffers of sizes in lots (bids, asks) indexed by
`price_ticks & RING_MASK`, plus a few int64 scalars (`S_*`: best prices, the deepest-level bounds,
the update id, a per-message stamp, the stale stranded level) and float parameters (`P_*`).
Every function here writes the rows it emits into the caller's preallocated outputs and returns
the new row count. `book_kernel.step_messages_nb` composes them into messages.

numba's on-disk cache of `step_messages_nb` is keyed on `book_kernel.py` only: after editing this
module or `nbrandom.py`, delete `feedcheck/lake/synthetic/__pycache__/*.nb*` (or touch the
kernel modules) so the kernels recompile.
"""

from __future__ import annotations

import math

from numba import njit

from feedcheck.lake.synthetic.nbrandom import exponential_nb, normal_nb, unif_nb

RING = 1 << 14  # ring buffer of price slots per side, indexed by ticks & RING_MASK
RING_MASK = RING - 1
BOOK_LEVELS = 20
DEPTH_TICKS = 2_000  # levels are inserted within this distance of the touch
EVICT_TICKS = 4_000  # levels further away are deleted (Lake keeps a few thousand per side)
FAR_TICKS = EVICT_TICKS + 100  # FAR_NOOP deletes sit here: the book never holds such a level
MAX_MOVE_TICKS = 8
EVICT_SCAN_PER_MESSAGE = 64

# scalar state slots
S_BEST_BID, S_BEST_ASK, S_LO_BID, S_HI_ASK, S_SEQ, S_STAMP = 0, 1, 2, 3, 4, 5
S_STALE_ON, S_STALE_IS_BID, S_STALE_PX = 6, 7, 8
N_SCALARS = 9

# float parameters
P_LEVELS, P_IDS_EXTRA, P_MOVE_PROB, P_DIST_MEAN, P_SIZE_MU, P_SIZE_SIGMA, P_PHANTOM = range(7)
N_PARAMS = 7


@njit(inline="always")
def size_lots_nb(rng, prm):
    v = math.exp(prm[P_SIZE_MU] + prm[P_SIZE_SIGMA] * normal_nb(rng))
    return int(min(max(round(v), 1.0), 1e9))


@njit(inline="always")
def distance_nb(rng, mean):
    d = int(exponential_nb(rng, mean))
    return d if d < DEPTH_TICKS else DEPTH_TICKS - 1


@njit(inline="always")
def occupancy_nb(d):
    return 0.25 + 0.7 * math.exp(-d / 300.0)


# ---- level writes


@njit(inline="always")
def put_nb(is_bid, px, lots, book, stamp, sc, out_is_bid, out_px, out_lots, n):
    """Set one level and write its row; keeps the deepest-level bound for eviction."""
    book[px & RING_MASK] = lots
    stamp[px & RING_MASK] = sc[S_STAMP]
    if lots > 0:
        if is_bid and px < sc[S_LO_BID]:
            sc[S_LO_BID] = px
        if (not is_bid) and px > sc[S_HI_ASK]:
            sc[S_HI_ASK] = px
    out_is_bid[n] = is_bid
    out_px[n] = px
    out_lots[n] = lots
    return n + 1


@njit
def evict_nb(is_bid, book, stamp, sc, out_is_bid, out_px, out_lots, n):
    scanned = 0
    if is_bid:
        while sc[S_LO_BID] < sc[S_BEST_BID] - EVICT_TICKS and scanned < EVICT_SCAN_PER_MESSAGE:
            px = sc[S_LO_BID]
            if book[px & RING_MASK] > 0:
                n = put_nb(True, px, 0, book, stamp, sc, out_is_bid, out_px, out_lots, n)
            sc[S_LO_BID] = px + 1
            scanned += 1
    else:
        while sc[S_HI_ASK] > sc[S_BEST_ASK] + EVICT_TICKS and scanned < EVICT_SCAN_PER_MESSAGE:
            px = sc[S_HI_ASK]
            if book[px & RING_MASK] > 0:
                n = put_nb(False, px, 0, book, stamp, sc, out_is_bid, out_px, out_lots, n)
            sc[S_HI_ASK] = px - 1
            scanned += 1
    return n


@njit
def move_nb(up, delta, bid, ask, bid_st, ask_st, sc, rng, prm, out_is_bid, out_px, out_lots, n):
    """Shift the touch by `delta` ticks: the receding side first deletes every level the move would
    cross, then both touches land `delta` ticks away, so the spread is kept and nothing crosses."""
    if up:
        rec, rec_st, adv, adv_st = ask, ask_st, bid, bid_st
        rec_best, adv_best, step = sc[S_BEST_ASK], sc[S_BEST_BID], 1
    else:
        rec, rec_st, adv, adv_st = bid, bid_st, ask, ask_st
        rec_best, adv_best, step = sc[S_BEST_BID], sc[S_BEST_ASK], -1
    rec_is_bid = not up
    for j in range(delta):
        px = rec_best + j * step
        if rec[px & RING_MASK] > 0:
            n = put_nb(rec_is_bid, px, 0, rec, rec_st, sc, out_is_bid, out_px, out_lots, n)
    new_rec = rec_best + delta * step
    if rec[new_rec & RING_MASK] == 0:
        n = put_nb(
            rec_is_bid,
            new_rec,
            size_lots_nb(rng, prm),
            rec,
            rec_st,
            sc,
            out_is_bid,
            out_px,
            out_lots,
            n,
        )
    for j in range(1, delta + 1):
        px = adv_best + j * step
        if j == delta or unif_nb(rng) < 0.5:
            n = put_nb(
                up, px, size_lots_nb(rng, prm), adv, adv_st, sc, out_is_bid, out_px, out_lots, n
            )
    if up:
        sc[S_BEST_ASK], sc[S_BEST_BID] = new_rec, adv_best + delta
    else:
        sc[S_BEST_BID], sc[S_BEST_ASK] = new_rec, adv_best - delta
    return n


@njit
def random_updates_nb(
    count, sizes_only, bid, ask, bid_st, ask_st, sc, rng, prm, out_is_bid, out_px, out_lots, n
):
    """`count` updates near the touch. Levels drift toward an occupancy that falls with depth;
    some deletes hit levels that do not exist (harmless, as on Binance). `sizes_only` keeps the set
    of levels unchanged (FROZEN messages). Never touches the best price or the stale level."""
    stamp_now = sc[S_STAMP]
    done = 0
    tries = 0
    while done < count and tries < 4 * count + 8:
        tries += 1
        is_bid = unif_nb(rng) < 0.5
        d = distance_nb(rng, prm[P_DIST_MEAN])
        if is_bid:
            book, st, px = bid, bid_st, sc[S_BEST_BID] - d
        else:
            book, st, px = ask, ask_st, sc[S_BEST_ASK] + d
        slot = px & RING_MASK
        if st[slot] == stamp_now:
            continue
        if sc[S_STALE_ON] == 1 and px == sc[S_STALE_PX] and is_bid == (sc[S_STALE_IS_BID] == 1):
            continue
        exists = book[slot] > 0
        if sizes_only or d == 0:
            if not exists:
                continue
            lots = size_lots_nb(rng, prm)
        else:
            want = unif_nb(rng) < occupancy_nb(d)
            if want:
                lots = size_lots_nb(rng, prm)
            elif exists:
                lots = 0
            elif unif_nb(rng) < prm[P_PHANTOM]:
                lots = 0
            else:
                continue
        n = put_nb(is_bid, px, lots, book, st, sc, out_is_bid, out_px, out_lots, n)
        done += 1
    return n


@njit
def next_level_nb(book, px, step):
    for _ in range(EVICT_TICKS + MAX_MOVE_TICKS * 2 + 256):
        px += step
        if book[px & RING_MASK] > 0:
            return px
    return px


@njit
def snapshot_nb(book, best, step, px_out, lots_out, row):
    k = 0
    px = best
    for _ in range(EVICT_TICKS + 256):
        lots = book[px & RING_MASK]
        if lots > 0:
            px_out[row, k] = px
            lots_out[row, k] = lots
            k += 1
            if k == BOOK_LEVELS:
                return
        px += step
    while k < BOOK_LEVELS:
        px_out[row, k] = -1
        lots_out[row, k] = -1
        k += 1
