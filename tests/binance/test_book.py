"""The capture-side book: absolute sizes, deletes, best prices, crossed check, snapshot equality."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from feedcheck.binance.book import Book


def test_absolute_sizes_and_deletes() -> None:
    book = Book()
    book.load([(100, 5), (99, 7), (98, 0)], [(101, 3), (102, 4)])
    assert (book.bids.as_dict(), book.asks.as_dict()) == ({100: 5, 99: 7}, {101: 3, 102: 4})
    book.apply([(100, 2), (97, 1)], [(101, 0), (150, 0)])  # 150 unknown: harmless
    assert (book.bids.as_dict(), book.asks.as_dict()) == ({100: 2, 99: 7, 97: 1}, {102: 4})
    assert (book.best_bid(), book.best_ask(), len(book)) == (100, 102, 4)


def test_best_after_deleting_the_top_and_readding_it() -> None:
    book = Book()
    book.load([(100, 1), (99, 1)], [(101, 1)])
    book.apply([(100, 0)], [])
    assert book.best_bid() == 99
    book.apply([(100, 3)], [])
    book.apply([(100, 0)], [])
    book.apply([(100, 4)], [])
    assert (book.best_bid(), book.bids.qty(100)) == (100, 4)
    book.apply([(100, 0), (99, 0)], [(101, 0)])
    assert (book.best_bid(), book.best_ask(), book.is_crossed()) == (None, None, False)


def test_crossed_and_locked() -> None:
    book = Book()
    book.load([(100, 1)], [(101, 1)])
    assert not book.is_crossed()
    book.apply([(101, 1)], [])
    assert book.is_crossed()  # locked counts as crossed
    book.apply([(101, 0)], [(101, 0), (99, 2)])
    assert book.is_crossed()


def test_top_n() -> None:
    book = Book()
    book.load([(p, p) for p in range(90, 101)], [(p, p) for p in range(101, 111)])
    assert book.top(3) == ([(100, 100), (99, 99), (98, 98)], [(101, 101), (102, 102), (103, 103)])


def test_snapshot_equality_within_the_snapshot_window() -> None:
    book = Book()
    book.load([(100, 5), (99, 7), (50, 1)], [(101, 3), (102, 4), (200, 9)])
    # Levels deeper than the snapshot's deepest (50 bid, 200 ask) are afterimages, not compared.
    assert book.matches_snapshot([(100, 5), (99, 7)], [(101, 3), (102, 4)])
    assert book.snapshot_mismatches([(100, 5), (99, 6)], [(101, 3), (102, 4)]) == 1
    assert book.snapshot_mismatches([(100, 5), (98, 1)], [(101, 3)]) == 2  # 98 missing, 99 extra
    assert book.snapshot_mismatches([], [(101, 3), (102, 4), (200, 9)]) == 3  # empty side: all


@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(1, 40), st.integers(0, 3)), min_size=1, max_size=300
    )
)
def test_best_prices_equal_brute_force_after_every_update(
    updates: list[tuple[bool, int, int]],
) -> None:
    book = Book()
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    for is_bid, price, qty in updates:
        side = bids if is_bid else asks
        if qty:
            side[price] = qty
        else:
            side.pop(price, None)
        book.apply([(price, qty)] if is_bid else [], [] if is_bid else [(price, qty)])
        assert book.best_bid() == (max(bids) if bids else None)
        assert book.best_ask() == (min(asks) if asks else None)
        assert (book.bids.as_dict(), book.asks.as_dict()) == (bids, asks)


def test_best_stays_right_through_heavy_churn() -> None:
    # Thousands of adds and deletes of distinct prices: stale heap entries pile up and are
    # compacted; the best must stay the brute-force best throughout.
    book = Book()
    live: set[int] = set()
    for step in range(5_000):
        price = 1 + (step * 7919) % 997
        qty = 0 if price in live else 1 + step % 5
        book.apply([(price, qty)], [])
        if qty:
            live.add(price)
        else:
            live.discard(price)
        if step % 97 == 0:
            assert book.best_bid() == (max(live) if live else None)
    assert (book.best_bid(), len(book.bids)) == (max(live), len(live))


@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(1, 40), st.integers(0, 3), st.booleans()),
        min_size=1,
        max_size=300,
    )
)
def test_best_is_right_whenever_asked_after_updates_made_unwatched(
    updates: list[tuple[bool, int, int, bool]],
) -> None:
    # The heap is built on the first best() and kept from then on; a clear() drops it again.
    # Asking only now and then (the capture never asks) must give the brute-force answer.
    book = Book()
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    for step, (is_bid, price, qty, look) in enumerate(updates):
        if step % 50 == 49:
            book.load(list(bids.items())[:5], list(asks.items())[:5])
            bids, asks = dict(list(bids.items())[:5]), dict(list(asks.items())[:5])
        side = bids if is_bid else asks
        if qty:
            side[price] = qty
        else:
            side.pop(price, None)
        book.apply([(price, qty)] if is_bid else [], [] if is_bid else [(price, qty)])
        if look:
            assert book.best_bid() == (max(bids) if bids else None)
            assert book.best_ask() == (min(asks) if asks else None)
    assert (book.bids.as_dict(), book.asks.as_dict()) == (bids, asks)
    assert (book.best_bid(), book.best_ask()) == (
        max(bids) if bids else None,
        min(asks) if asks else None,
    )
