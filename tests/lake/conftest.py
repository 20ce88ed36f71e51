"""Small generated Lake datasets shared by the tests under tests/lake (session-scoped, built once).

- `synthetic_clean`: one symbol, two days, 3 minutes a day, no faults; small `chunk_rows` so every
  depth partition has several row groups.
- `synthetic_faults`: the shipped `faults` scenario (every fault kind, 2 symbols, 2 days, one
  empty and one missing partition) with its ground truth.
- `replay_book` / `message_runs`: a plain-Python reference replay of written book_delta_v2 files.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from feedcheck.lake.synthetic import (
    GroundTruth,
    Scenario,
    generate_dataset,
    initial_book,
    load_builtin_scenario,
)
from feedcheck.lake.synthetic.scenario import Instrument, Rates
from tests.lake.s3_fixtures import moto_endpoint, s3  # noqa: F401 - fixtures for the S3 tests


@dataclass(frozen=True)
class SyntheticDataset:
    root: Path
    scenario: Scenario
    truth: GroundTruth


CLEAN_SCENARIO = Scenario(
    seed=3,
    symbols=("BTC-USDT",),
    start=date(2024, 4, 1),
    end=date(2024, 4, 3),
    hours_per_day=0.05,
    rates=Rates(trades_per_hour=40_000.0, levels_per_message=20.0),
    instruments={"BTC-USDT": Instrument(tick=0.01, lot=0.00001, start_price=65_000.0)},
    chunk_rows=10_000,
)


@pytest.fixture(scope="session")
def synthetic_clean(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDataset:
    root = tmp_path_factory.mktemp("synthetic-clean")
    return SyntheticDataset(root, CLEAN_SCENARIO, generate_dataset(CLEAN_SCENARIO, root))


@pytest.fixture(scope="session")
def synthetic_faults(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDataset:
    root = tmp_path_factory.mktemp("synthetic-faults")
    scenario = dataclasses.replace(load_builtin_scenario("faults"), chunk_rows=20_000)
    return SyntheticDataset(root, scenario, generate_dataset(scenario, root))


# ---- a plain-Python reference replay of written book_delta_v2 files (independent of the kernel)


@dataclass
class ReplayBook:
    """Levels in ticks → lots. A row sets its level's absolute size; size <= 0 deletes it."""

    bids: dict[int, int]
    asks: dict[int, int]

    @classmethod
    def seeded(cls, scenario: Scenario, symbol: str) -> ReplayBook:
        """The generator's true book before the scenario's first message."""
        bid_px, bid_lots, ask_px, ask_lots = initial_book(scenario, symbol).levels()
        return cls(
            dict(zip(bid_px.tolist(), bid_lots.tolist(), strict=True)),
            dict(zip(ask_px.tolist(), ask_lots.tolist(), strict=True)),
        )

    def top(self, n: int = 20) -> tuple[list[int], list[int]]:
        return heapq.nlargest(n, self.bids), heapq.nsmallest(n, self.asks)

    def crossed(self) -> bool:
        return max(self.bids) >= min(self.asks)

    def replay(self, df: pl.DataFrame, tick: float, lot: float) -> Iterator[tuple[int, int, int]]:
        """Apply each message of a raw book_delta_v2 frame; yield (sequence_number, first row,
        end row) after each. Messages are runs of equal (receipt_timestamp, sequence_number)."""
        px = np.rint(df["price"].to_numpy() / tick).astype(np.int64).tolist()
        lots = np.rint(df["size"].to_numpy() / lot).astype(np.int64).tolist()
        is_bid = df["side_is_bid"].to_list()
        seq = df["sequence_number"].to_list()
        runs = message_starts(df).tolist()
        for a, b in zip(runs[:-1], runs[1:], strict=True):
            for r in range(a, b):
                side = self.bids if is_bid[r] else self.asks
                if lots[r] <= 0:
                    side.pop(px[r], None)
                else:
                    side[px[r]] = lots[r]
            yield seq[a], a, b


def message_starts(df: pl.DataFrame) -> np.ndarray:
    """First row of each message (run of equal receipt_timestamp, sequence_number), then len(df)."""
    recv = df["receipt_timestamp"].to_numpy()
    seq = df["sequence_number"].to_numpy()
    change = np.ones(len(df), dtype=bool)
    change[1:] = (recv[1:] != recv[:-1]) | (seq[1:] != seq[:-1])
    return np.append(np.flatnonzero(change), len(df))


@pytest.fixture(scope="session")
def replay_book() -> type[ReplayBook]:
    """The reference replay (`ReplayBook.seeded(...)`, `.replay(frame, tick, lot)`)."""
    return ReplayBook


@pytest.fixture(scope="session")
def message_runs():
    """`message_starts(frame)`: row boundaries of book_delta_v2 messages."""
    return message_starts
