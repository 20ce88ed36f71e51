"""The dense-window paths of the engine against a dict book: adds far outside the current
window (re-centre / grow, negative keys) and a book too wide for a dense window (exact switch to
the sorted-array mode mid-stream, including inside `load`)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedcheck.book import engine as eng
from feedcheck.book.engine import NO_ASK, NO_BID, BookEngine, BookSeed


def _ref_outputs(bids, asks, msgs, top_n):
    """Per message (best tuple, top lists) from two dicts, plus the final dicts."""
    bids, asks = dict(bids), dict(asks)
    outs = []
    for m in msgs:
        for is_bid, px, qty in m:
            side = bids if is_bid else asks
            if qty > 0:
                side[px] = qty
            else:
                side.pop(px, None)
        bb = max(bids) if bids else NO_BID
        ba = min(asks) if asks else NO_ASK
        best = (bb, bids.get(bb, 0), ba, asks.get(ba, 0), bool(bids and asks and bb >= ba))
        b, a = sorted(bids, reverse=True)[:top_n], sorted(asks)[:top_n]
        top = (
            b + [NO_BID] * (top_n - len(b)), [bids[p] for p in b] + [0] * (top_n - len(b)),
            a + [NO_ASK] * (top_n - len(a)), [asks[p] for p in a] + [0] * (top_n - len(a)),
        )  # fmt: skip
        outs.append((best, top))
    return outs, bids, asks


price = st.one_of(st.integers(85, 115), st.integers(5_000, 5_030), st.integers(-3_030, -3_000))
levels = st.dictionaries(price, st.integers(1, 5), max_size=10)
row = st.tuples(st.booleans(), price, st.integers(-1, 6))
messages = st.lists(st.lists(row, max_size=6), max_size=30)


@pytest.mark.parametrize("max_span", [1 << 22, 4_096])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bids=levels, asks=levels, msgs=messages, top_n=st.integers(0, 3))
def test_window_moves_and_sorted_switch_equal_dict_book(max_span, bids, asks, msgs, top_n):
    """Prices in three clusters 8,000 ticks apart: with the default span every far add re-centres
    or grows the window; with a 4,096-tick limit the book goes sorted when a side spans two
    clusters. Every output, the final book and the counters equal the dict reference."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(eng, "_MAX_SPAN", max_span)
        engine = BookEngine(BookSeed.from_levels(bids.items(), asks.items()), top_n=top_n)
        flat = [r for m in msgs for r in m]
        out = engine.apply(
            np.array([r[0] for r in flat], dtype=bool),
            np.array([r[1] for r in flat], dtype=np.int64),
            np.array([r[2] for r in flat], dtype=np.int64),
            np.cumsum([0] + [len(m) for m in msgs]),
        )
    want, ref_b, ref_a = _ref_outputs(bids, asks, msgs, top_n)
    for i, (best, top) in enumerate(want):
        got = (out.bid_px[i], out.bid_lots[i], out.ask_px[i], out.ask_lots[i], bool(out.crossed[i]))
        assert got == best
        if top_n:
            tops = (out.top_bid_px, out.top_bid_lots, out.top_ask_px, out.top_ask_lots)
            assert tuple(t[i].tolist() for t in tops) == top
    b, a = engine.snapshot().levels()
    assert b == sorted(ref_b.items(), reverse=True) and a == sorted(ref_a.items())
    c = engine.counters
    assert c.rows == len(flat) == c.adds + c.changes + c.deletes + c.absent_deletes


def test_wide_book_goes_sorted_and_stays_exact():
    """A bid 5,000,000 ticks below the touch (wider than the default 4,194,304-tick window):
    the engine switches to sorted mode, keeps both levels, and later best deletes fall through to
    the far level; a far delete of an absent level is counted, not stored."""
    engine = BookEngine(BookSeed.from_levels([(5_000_100, 2)], [(5_000_101, 3)]), top_n=2)
    out = engine.apply(
        np.array([True, True, False], dtype=bool),
        np.array([100, 5_000_100, 1], dtype=np.int64),
        np.array([7, 0, 0], dtype=np.int64),
        np.array([0, 1, 2, 3]),
    )
    assert out.bid_px.tolist() == [5_000_100, 100, 100]
    assert out.bid_lots.tolist() == [2, 7, 7]
    assert out.top_bid_px.tolist() == [[5_000_100, 100], [100, NO_BID], [100, NO_BID]]
    assert out.ask_px.tolist() == [5_000_101] * 3
    assert engine.snapshot().levels() == ([(100, 7)], [(5_000_101, 3)])
    c = engine.counters
    assert (c.rows, c.adds, c.deletes, c.absent_deletes) == (3, 1, 1, 1)
