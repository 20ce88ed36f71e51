"""Every injected fault's recorded count equals what a direct polars computation over the written
files finds (the rules are the ones `feedcheck.lake.synthetic.faults` documents), on the shipped
`faults` scenario: every kind, 2 symbols, 2 days, one empty and one missing partition."""

from __future__ import annotations

import dataclasses
from datetime import date
from types import SimpleNamespace

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from feedcheck.lake.layout import Partition
from feedcheck.lake.synthetic import (
    GroundTruth,
    generate_dataset,
    messages_per_day,
    scenario_with_overrides,
)
from feedcheck.lake.synthetic.faults import ALLOWED_KINDS, HOLE_MIN_GAP_NS
from feedcheck.lake.synthetic.scenario import FAULT_KINDS, SKEW_SPIKE_MIN_NS

MS = 1_000_000
NAT = np.iinfo(np.int64).min
TS, RECV = pl.col("timestamp"), pl.col("receipt_timestamp")
VALID = TS.is_not_null() & (TS > 0)
ORIGIN_MS = (TS + MS // 2) // MS
EMPTY, MISSING = "book/BINANCE/ETH-USDT/2024-04-02", "trades/BINANCE/ETH-USDT/2024-04-01"
#: Kinds whose count is the number of rows a row predicate flags.
ROW_PREDICATES = {
    "origin_null": TS.is_null(),
    "origin_nat": TS == NAT,
    "origin_zero": TS == 0,
    "origin_negative": (TS < 0) & (TS != NAT),
    "negative_skew": VALID & (RECV < TS),
    "skew_spike": VALID & (RECV - TS >= SKEW_SPIKE_MIN_NS),
}


def _columns(df: pl.DataFrame, suffix: str, plain: str) -> list[str]:
    return [c for c in df.columns if c.endswith(suffix)] or [plain]


def flagged(df: pl.DataFrame, kind: str, part: Partition, tick: float) -> list[int]:
    """File rows (0-based) that `kind`'s reference check flags."""
    rows = df.with_row_index("row")
    day_ms = (part.dt - date(1970, 1, 1)).days * 86_400_000
    prices, sizes = (
        _columns(df, "_price", "price"),
        _columns(df, "_size", "size" if "size" in df.columns else "amount"),
    )
    if kind in ROW_PREDICATES:
        expr = ROW_PREDICATES[kind]
    elif kind == "day_boundary_leak":
        expr = VALID & ((ORIGIN_MS < day_ms) | (ORIGIN_MS >= day_ms + 86_400_000))
    elif kind == "off_tick_price":
        expr = pl.any_horizontal(
            ((pl.col(c) / tick) - (pl.col(c) / tick).round(0)).abs() > 1e-6 for c in prices
        )
    elif kind == "nonpositive_price":
        expr = pl.any_horizontal(pl.col(c) <= 0 for c in prices)
    elif kind == "negative_size":
        expr = pl.any_horizontal(pl.col(c) < 0 for c in sizes)
    elif kind == "invalid_side":
        expr = ~pl.col("side").is_in(["buy", "sell"])
    elif kind == "duplicate_trade_id":
        expr = ~pl.col("id").is_first_distinct()
    elif kind == "sequence_regression":
        expr = pl.col("sequence_number").diff() < 0
    elif kind == "unsorted_rows":  # over valid-origin rows only, in file order
        return rows.filter(VALID).filter(ORIGIN_MS.diff() < 0)["row"].to_list()
    elif kind == "time_hole":
        return rows.filter(VALID).filter(TS.diff() >= HOLE_MIN_GAP_NS)["row"].to_list()
    elif kind == "sequence_duplicate":
        runs = rows.filter(
            (RECV != RECV.shift(1))
            | (pl.col("sequence_number") != pl.col("sequence_number").shift(1))
            | pl.col("row").eq(0)
        )
        return runs.filter(pl.col("sequence_number").diff() == 0)["row"].to_list()
    else:
        raise AssertionError(kind)
    return rows.filter(expr.fill_null(False))["row"].to_list()


def _written(ds):
    for p in ds.truth.partitions:
        if p.rows:
            yield p, pl.read_parquet(ds.root / p.path, hive_partitioning=False)


def _fault(truth, partition: str, kind: str):
    found = [f for f in truth.faults if f.partition == partition and f.kind == kind]
    return found[0] if found else None


CHECKED = sorted(ROW_PREDICATES) + [
    "day_boundary_leak",
    "off_tick_price",
    "nonpositive_price",
    "negative_size",
    "invalid_side",
    "duplicate_trade_id",
    "sequence_regression",
    "unsorted_rows",
    "time_hole",
    "sequence_duplicate",
]


def check_kind(ds, kind: str) -> int:
    """Compare `kind`'s reference check with the ground truth on every written partition; return
    how many partitions hold that fault."""
    checked = 0
    for p, df in _written(ds):
        part = Partition(*p.partition.split("/")[:3], date.fromisoformat(p.partition.split("/")[3]))
        if kind not in ALLOWED_KINDS[part.table]:
            continue
        rows = flagged(df, kind, part, ds.scenario.instrument(part.symbol).tick)
        fault = _fault(ds.truth, p.partition, kind)
        assert len(rows) == ds.truth.count(p.partition, kind), (p.partition, kind)
        if fault is None:
            continue
        checked += 1
        instances = fault.details["instances"]
        if kind == "unsorted_rows":
            assert rows == sorted(i["backward_row"] for i in instances)
        elif kind == "time_hole":
            assert rows == [i["first_row_after"] for i in instances]
            ts = df["timestamp"]
            assert [(ts[i["last_row_before"]], ts[i["first_row_after"]]) for i in instances] == [
                (i["start_ns"], i["end_ns"]) for i in instances
            ]
        elif kind in ("sequence_regression", "sequence_duplicate"):
            assert set(rows) <= set(fault.rows)
        else:
            assert rows == fault.rows
    return checked


def check_dropped(ds) -> int:
    """Dropped messages are absent, the sequence jumps over them, and every message is accounted."""
    n = messages_per_day(ds.scenario)
    checked = 0
    for p, df in _written(ds):
        if p.partition.startswith("trades"):
            continue
        seq = df["sequence_number"]
        assert p.messages == seq.n_unique()
        dropped, hole = (_fault(ds.truth, p.partition, k) for k in ("dropped_message", "time_hole"))
        removed = sum(i["removed_events"] for i in hole.details["instances"]) if hole else 0
        assert p.messages + (dropped.count if dropped else 0) + removed == n
        for inst in dropped.details["instances"] if dropped else []:
            assert inst["sequence_number"] not in seq
            assert seq[inst["next_row"] - 1] == inst["sequence_number"] - inst["ids_lost"]
            assert seq[inst["next_row"]] > inst["sequence_number"]
            checked += 1
    return checked


def check_stranded(ds, replay_book) -> int:
    """Replaying each symbol's delta files from the seed, the book is crossed exactly for the
    recorded messages, all inside the stranded windows; returns the levels checked."""
    sc, checked = ds.scenario, 0
    for symbol in sc.symbols:
        book = replay_book.seeded(sc, symbol)
        ins = sc.instrument(symbol)
        for day in sc.days():
            key = f"book_delta_v2/BINANCE/{symbol}/{day}"
            path = next(p.path for p in ds.truth.partitions if p.partition == key)
            df = pl.read_parquet(ds.root / path, hive_partitioning=False)
            crossed = [seq for seq, _, _ in book.replay(df, ins.tick, ins.lot) if book.crossed()]
            fault = _fault(ds.truth, key, "stranded_level")
            assert fault.count == 2 and len(crossed) == fault.details["crossed_messages"] > 0
            for inst in fault.details["instances"]:
                lo, hi = inst["sequence_number"], inst["heal_sequence_number"]
                assert len([s for s in crossed if lo <= s < hi]) == inst["crossed_messages"]
                checked += 1
    return checked


@pytest.mark.parametrize("kind", CHECKED)
def test_recorded_count_equals_reference_check(synthetic_faults, kind):
    # trades: 3 written partitions, book: 3, book_delta_v2: 4
    assert check_kind(synthetic_faults, kind) >= 3


def test_dropped_messages_are_missing_and_accounted(synthetic_faults):
    # book: 2 in each of 3 written partitions; book_delta_v2: 3 in each of 4
    assert check_dropped(synthetic_faults) == 3 * 2 + 4 * 3


def test_stranded_levels_cross_a_replay_for_the_recorded_messages(synthetic_faults, replay_book):
    assert check_stranded(synthetic_faults, replay_book) == 2 * 2 * 2


def test_counts_stay_exact_when_fault_windows_straddle_chunks(tmp_path, replay_book):
    """chunk_rows=1000 (about 45 depth messages a chunk): holes, stranded windows and leaks span
    or touch chunk boundaries; every check still matches, and a second run is byte-identical."""
    sc = dataclasses.replace(
        scenario_with_overrides("faults", symbols=["ETH-USDT"]), chunk_rows=1_000
    )
    ds = SimpleNamespace(
        root=tmp_path / "a", scenario=sc, truth=generate_dataset(sc, tmp_path / "a")
    )
    for kind in CHECKED:
        assert check_kind(ds, kind) >= 1, kind
    assert check_dropped(ds) == 2 + 3 * 2  # book: 1 written partition, deltas: 2
    assert check_stranded(ds, replay_book) == 4
    again = generate_dataset(sc, tmp_path / "b")
    assert again == ds.truth
    for p in again.partitions:
        assert (tmp_path / "b" / p.path).read_bytes() == (tmp_path / "a" / p.path).read_bytes()


def test_empty_and_missing_partitions(synthetic_faults):
    truth, root = synthetic_faults.truth, synthetic_faults.root
    empty = next(p for p in truth.partitions if p.partition == EMPTY)
    assert empty.rows == 0 and empty.messages == 0
    table = pq.read_table(root / empty.path)
    assert table.num_rows == 0 and table.schema.names[:3] == [
        "timestamp",
        "receipt_timestamp",
        "sequence_number",
    ]
    assert len(table.schema) == 83
    assert not (root / "trades/exchange=BINANCE/symbol=ETH-USDT/dt=2024-04-01").exists()
    assert MISSING not in {p.partition for p in truth.partitions}
    assert not [f for f in truth.faults if f.partition in (EMPTY, MISSING)]
    assert len(truth.partitions) == 3 * 2 * 2 - 1
    # the trade ids of the missing day are consumed: the next day starts after them
    ids = pl.read_parquet(
        root / "trades/exchange=BINANCE/symbol=ETH-USDT/dt=2024-04-02/part-0.snappy.parquet"
    )["id"]
    assert ids.min() > 3_000_000_000 + 2_000


def test_ground_truth_json_round_trips_with_faults(synthetic_faults):
    """Every recorded value is plain JSON (no numpy scalars turned into strings)."""
    assert GroundTruth.read(synthetic_faults.root) == synthetic_faults.truth
    assert len(synthetic_faults.truth.faults) == 151
    kinds = {f.kind for f in synthetic_faults.truth.faults}
    assert kinds == set(FAULT_KINDS)
