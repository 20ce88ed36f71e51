"""Throughput: the naive async per-event path and the batch engine end with the same book."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from feedcheck.analysis.throughput import (
    CRITERION_NAME,
    MIN_EVENTS_PER_S,
    decode,
    measure_throughput,
    run_batch,
    run_naive,
    same_book,
    throughput_criterion,
)
from feedcheck.book.engine import DELTA_COLUMNS
from feedcheck.errors import ConfigError, DataError
from feedcheck.lake.synthetic import Rates, Scenario, generate_dataset
from feedcheck.report.criteria import Status


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("thr")
    sc = Scenario(
        seed=5, symbols=("BTC-USDT",), start=date(2024, 4, 1), end=date(2024, 4, 2),
        hours_per_day=0.03, tables=("book_delta_v2",), rates=Rates(levels_per_message=40.0),
        chunk_rows=3_000,
    )  # fmt: skip
    generate_dataset(sc, root)
    return root


def _frame(rows: list[tuple[int, int, bool, float, float]]) -> pl.DataFrame:
    recv, seq, side, px, size = zip(*rows, strict=True)
    return pl.DataFrame(
        {"receipt_timestamp": recv, "sequence_number": seq, "side_is_bid": side,
         "price": px, "size": size},
        schema={"receipt_timestamp": pl.Int64, "sequence_number": pl.Int64,
                "side_is_bid": pl.Boolean, "price": pl.Float64, "size": pl.Float64},
    )  # fmt: skip


def test_tree_naive_and_batch_same_book(root: Path) -> None:
    r = measure_throughput(root)
    assert (r.events, r.messages) == (43_339, 1_080)
    assert r.same_book is True
    assert same_book(r.naive.final, r.batch.final)
    assert r.naive.best == r.batch.best
    assert r.naive.events_per_s > 0 and r.batch.events_per_s > 0
    assert r.criterion.name == CRITERION_NAME
    assert r.criterion.threshold == MIN_EVENTS_PER_S


def test_limit_cuts_at_message_boundary(root: Path) -> None:
    r = measure_throughput(root, limit_events=1_000)
    assert (r.events, r.messages) == (1_030, 26)
    assert r.same_book is True


def test_hand_frame_exact_book() -> None:
    frame = _frame([
        (1, 1, True, 100.00, 1.0), (1, 1, False, 100.02, 2.0),  # msg 1
        (2, 2, True, 100.01, 3.0), (2, 2, True, 100.00, 0.0),  # msg 2: add, delete
        (3, 3, False, 100.01, 4.0), (3, 3, False, 99.00, 0.0),  # msg 3: crossed; absent delete
    ])  # fmt: skip
    ev = decode(frame, tick=0.01, lot=1.0)
    assert ev.msg_starts.tolist() == [0, 2, 4, 6]
    naive, batch = run_naive(ev), run_batch(ev, batch_rows=2)
    assert naive.best == batch.best == (10001, 3, 10001, 4)
    for run in (naive, batch):
        assert run.final.bid_px.tolist() == [10001]
        assert run.final.bid_lots.tolist() == [3]
        assert np.asarray(run.final.ask_px).tolist() == [10001, 10002]
        assert run.final.ask_lots.tolist() == [4, 2]


def test_one_sided_book_best_is_minus_one() -> None:
    ev = decode(_frame([(1, 1, True, 5.0, 1.0)]), tick=1.0, lot=1.0)
    assert run_naive(ev).best == run_batch(ev).best == (5, 1, -1, -1)


def test_throughput_criterion_edges() -> None:
    assert throughput_criterion(100_000.0, "x").status is Status.PASS
    low = throughput_criterion(99_999.4, "x")
    assert (low.status, low.value, low.unit) == (Status.FAIL, 99_999, "events/s")


def test_bad_inputs(tmp_path: Path) -> None:
    frame = _frame([(1, 1, True, 5.0, 1.0)])
    with pytest.raises(ConfigError):
        decode(frame, tick=0.0, lot=1.0)
    with pytest.raises(ConfigError):
        decode(frame, tick=1.0, lot=1.0, limit_events=0)
    with pytest.raises(DataError):
        decode(frame.drop(DELTA_COLUMNS[-1]), tick=1.0, lot=1.0)
    with pytest.raises(DataError):
        measure_throughput(tmp_path)
