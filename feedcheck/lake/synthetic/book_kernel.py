"""The sequential order-book kernel behind `book_delta_v2` and `book` (numba, preallocated outputs).

One call of `step_messages_nb` advances the TRUE book of one symbol by a run of depth messages
(Binance depth@100ms events) and writes, per message, its level rows (side, price ticks, absolute
size lots; 0 lots = delete), its `u` update id, the best bid/ask after it and, when asked, the top
`BOOK_LEVELS` levels per side after it (the `book` row). All state lives in `depth.BookState`
arrays (layout and level operations in `book_levels.py`), so successive calls (chunks, days)
continue the same book and update-id sequence.

Invariants, by construction:
- the true book is never crossed: a move first deletes the receding side's levels it would cross;
- each price appears at most once per side in one message;
- a message consumes `k >= max(rows, 2)` update ids (so `u` steps by `k`);
- the book is deep (thousands of levels per side), levels further than `EVICT_TICKS` from the
  touch are deleted, and no level is ever placed `FAR_TICKS` or more from the touch.

Message modes let the fault planner shape the messages a fault will touch so that every fault
count stays exact (see `faults.py`): FROZEN and SINGLE messages only change sizes of levels that
exist (a reader that skips or misses them never sees a crossed book); FAR_NOOP is one delete of a
level `FAR_TICKS` away that never exists; STRANDED deletes the best level without writing that row
(the caller's file omits it) and lets the other side take the price, so a replay of the file is
crossed while the stale level lives; HEAL writes the missing delete so the stale level ends.
"""

from __future__ import annotations

from numba import njit

from feedcheck.lake.synthetic.book_levels import (
    EVICT_SCAN_PER_MESSAGE,
    FAR_TICKS,
    MAX_MOVE_TICKS,
    P_IDS_EXTRA,
    P_LEVELS,
    P_MOVE_PROB,
    RING_MASK,
    S_BEST_ASK,
    S_BEST_BID,
    S_SEQ,
    S_STALE_IS_BID,
    S_STALE_ON,
    S_STALE_PX,
    S_STAMP,
    evict_nb,
    move_nb,
    next_level_nb,
    put_nb,
    random_updates_nb,
    size_lots_nb,
    snapshot_nb,
)
from feedcheck.lake.synthetic.nbrandom import exponential_nb, poisson_nb, unif_nb

STRANDED_HEAL_MESSAGES = 50

MODE_NORMAL = 0
MODE_FROZEN = 1
MODE_SINGLE = 2
MODE_FAR_NOOP = 3
MODE_STRANDED_BID = 4
MODE_STRANDED_ASK = 5
MODE_HEAL = 6


def max_rows_per_message(levels_per_message: float) -> int:
    """Upper bound of rows one message can hold (random updates + a move + eviction + heal)."""
    return (
        int(4 * levels_per_message) + 32 + 2 * (MAX_MOVE_TICKS + 2) + 2 * EVICT_SCAN_PER_MESSAGE + 4
    )


@njit(cache=True)
def step_messages_nb(
    bid,
    ask,
    bid_st,
    ask_st,
    sc,
    rng,
    prm,
    modes,
    no_cut,
    row_cap,
    msg_cap,
    want_book,
    out_is_bid,
    out_px,
    out_lots,
    msg_rows,
    msg_seq,
    msg_best_bid,
    msg_best_ask,
    msg_crossed,
    bk_bid_px,
    bk_bid_lots,
    bk_ask_px,
    bk_ask_lots,
):
    """Advance the book by up to `modes.size` messages; returns `(messages, rows)` written.

    Stops before a message once `row_cap` rows or `msg_cap` messages could be exceeded, except
    right after a message flagged in `no_cut` (its fault spans the next message too): callers
    size the row outputs `row_cap + 2 * max_rows_per_message` and message outputs `msg_cap + 2`.
    Prices are int64 ticks, sizes int64 lots (0 = delete); `msg_crossed[i]` is 1 when a replay of
    the written rows (without the STRANDED deletes) is crossed after message i (bid >= ask).
    """
    max_rows = (
        int(4 * prm[P_LEVELS]) + 32 + 2 * (MAX_MOVE_TICKS + 2) + 2 * EVICT_SCAN_PER_MESSAGE + 4
    )
    rand_cap = int(4 * prm[P_LEVELS]) + 32
    n = 0
    i = 0
    while i < modes.size:
        if i > 0 and no_cut[i - 1] == 0 and (n + max_rows > row_cap or i >= msg_cap):
            break
        if i >= msg_rows.size or n + max_rows > out_px.size:
            break  # output full: only a no_cut chain longer than the callers' slack gets here
        mode = modes[i]
        sc[S_STAMP] += 1
        start = n
        omitted = 0
        target = min(poisson_nb(rng, prm[P_LEVELS]), rand_cap)
        if mode == MODE_NORMAL or mode == MODE_HEAL:
            n = evict_nb(True, bid, bid_st, sc, out_is_bid, out_px, out_lots, n)
            n = evict_nb(False, ask, ask_st, sc, out_is_bid, out_px, out_lots, n)
            if unif_nb(rng) < prm[P_MOVE_PROB]:
                delta = min(1 + int(exponential_nb(rng, 1.5)), MAX_MOVE_TICKS)
                n = move_nb(
                    unif_nb(rng) < 0.5,
                    delta,
                    bid,
                    ask,
                    bid_st,
                    ask_st,
                    sc,
                    rng,
                    prm,
                    out_is_bid,
                    out_px,
                    out_lots,
                    n,
                )
            if sc[S_BEST_ASK] - sc[S_BEST_BID] > 1 and unif_nb(rng) < 0.3:
                if unif_nb(rng) < 0.5:
                    px = sc[S_BEST_BID] + 1
                    if bid_st[px & RING_MASK] != sc[S_STAMP]:
                        n = put_nb(
                            True,
                            px,
                            size_lots_nb(rng, prm),
                            bid,
                            bid_st,
                            sc,
                            out_is_bid,
                            out_px,
                            out_lots,
                            n,
                        )
                        sc[S_BEST_BID] = px
                else:
                    px = sc[S_BEST_ASK] - 1
                    if ask_st[px & RING_MASK] != sc[S_STAMP]:
                        n = put_nb(
                            False,
                            px,
                            size_lots_nb(rng, prm),
                            ask,
                            ask_st,
                            sc,
                            out_is_bid,
                            out_px,
                            out_lots,
                            n,
                        )
                        sc[S_BEST_ASK] = px
            n = random_updates_nb(
                max(target - (n - start), 0),
                False,
                bid,
                ask,
                bid_st,
                ask_st,
                sc,
                rng,
                prm,
                out_is_bid,
                out_px,
                out_lots,
                n,
            )
        elif mode == MODE_FROZEN:
            n = random_updates_nb(
                max(target, 1),
                True,
                bid,
                ask,
                bid_st,
                ask_st,
                sc,
                rng,
                prm,
                out_is_bid,
                out_px,
                out_lots,
                n,
            )
        elif mode == MODE_SINGLE or mode == MODE_FAR_NOOP:
            is_bid = sc[S_STAMP] % 2 == 0
            if mode == MODE_SINGLE:
                lots = size_lots_nb(rng, prm)
                px = sc[S_BEST_BID] if is_bid else sc[S_BEST_ASK]
            else:
                lots = 0
                px = sc[S_BEST_BID] - FAR_TICKS if is_bid else sc[S_BEST_ASK] + FAR_TICKS
            if is_bid:
                n = put_nb(True, px, lots, bid, bid_st, sc, out_is_bid, out_px, out_lots, n)
            else:
                n = put_nb(False, px, lots, ask, ask_st, sc, out_is_bid, out_px, out_lots, n)
        else:
            is_bid = mode == MODE_STRANDED_BID
            omitted = 1
            if is_bid:
                p = sc[S_BEST_BID]
                bid[p & RING_MASK] = 0
                bid_st[p & RING_MASK] = sc[S_STAMP]
                sc[S_BEST_BID] = next_level_nb(bid, p, -1)
                n = put_nb(
                    False,
                    p,
                    size_lots_nb(rng, prm),
                    ask,
                    ask_st,
                    sc,
                    out_is_bid,
                    out_px,
                    out_lots,
                    n,
                )
                sc[S_BEST_ASK] = p
            else:
                p = sc[S_BEST_ASK]
                ask[p & RING_MASK] = 0
                ask_st[p & RING_MASK] = sc[S_STAMP]
                sc[S_BEST_ASK] = next_level_nb(ask, p, 1)
                n = put_nb(
                    True,
                    p,
                    size_lots_nb(rng, prm),
                    bid,
                    bid_st,
                    sc,
                    out_is_bid,
                    out_px,
                    out_lots,
                    n,
                )
                sc[S_BEST_BID] = p
            sc[S_STALE_ON] = 1
            sc[S_STALE_IS_BID] = 1 if is_bid else 0
            sc[S_STALE_PX] = p
            n = random_updates_nb(
                max(target - 1, 0),
                False,
                bid,
                ask,
                bid_st,
                ask_st,
                sc,
                rng,
                prm,
                out_is_bid,
                out_px,
                out_lots,
                n,
            )
        if n == start:
            px = sc[S_BEST_BID]
            n = put_nb(
                True, px, size_lots_nb(rng, prm), bid, bid_st, sc, out_is_bid, out_px, out_lots, n
            )
        if sc[S_STALE_ON] == 1:
            stale_bid = sc[S_STALE_IS_BID] == 1
            for r in range(start, n):
                if out_px[r] == sc[S_STALE_PX] and out_is_bid[r] == stale_bid:
                    sc[S_STALE_ON] = 0
            if mode == MODE_HEAL and sc[S_STALE_ON] == 1:
                if stale_bid:
                    n = put_nb(
                        True, sc[S_STALE_PX], 0, bid, bid_st, sc, out_is_bid, out_px, out_lots, n
                    )
                else:
                    n = put_nb(
                        False, sc[S_STALE_PX], 0, ask, ask_st, sc, out_is_bid, out_px, out_lots, n
                    )
                sc[S_STALE_ON] = 0
        crossed = 0
        if sc[S_STALE_ON] == 1:
            if sc[S_STALE_IS_BID] == 1:
                crossed = 1 if sc[S_STALE_PX] >= sc[S_BEST_ASK] else 0
            else:
                crossed = 1 if sc[S_STALE_PX] <= sc[S_BEST_BID] else 0
        k = max((n - start) + omitted + poisson_nb(rng, prm[P_IDS_EXTRA]), 2)
        sc[S_SEQ] += k
        msg_rows[i] = n - start
        msg_seq[i] = sc[S_SEQ]
        msg_best_bid[i] = sc[S_BEST_BID]
        msg_best_ask[i] = sc[S_BEST_ASK]
        msg_crossed[i] = crossed
        if want_book:
            snapshot_nb(bid, sc[S_BEST_BID], -1, bk_bid_px, bk_bid_lots, i)
            snapshot_nb(ask, sc[S_BEST_ASK], 1, bk_ask_px, bk_ask_lots, i)
        i += 1
    return i, n
