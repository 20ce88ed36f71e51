"""Shared data for the analysis tests.

- `synthetic_faults`: the shipped `faults` scenario (every fault kind, 2 symbols, 2 days, one empty
  and one missing partition) with its ground truth, generated once per session.
- `faults_result`: `analyse_staging` over it with the generator's own thresholds (`FAULTS_CONFIG`).
- helpers: `clock_frame` builds a LazyFrame of the two raw clocks (None = null); `reference_*`
  recompute metrics with plain numpy from the written files; `read_hftbacktest` parses the real
  Binance recordings of tests/data/real.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from feedcheck.analysis import OriginTimeConfig, OriginTimeResult, analyse_staging
from feedcheck.lake.layout import TABLES
from feedcheck.lake.synthetic import GroundTruth, Scenario, generate_dataset, load_builtin_scenario
from feedcheck.lake.synthetic.faults import HOLE_MIN_GAP_NS
from feedcheck.lake.synthetic.scenario import SKEW_SPIKE_MIN_NS

MS = 1_000_000
NAT = np.iinfo(np.int64).min
#: 2024-06-01 00:00 UTC: after every generated row, so nothing is "in the future".
NOW_NS = 1_717_200_000 * 1_000_000_000
#: The generator's own hole and spike thresholds, so counts match ground_truth.json.
FAULTS_CONFIG = OriginTimeConfig(
    trades_hole_ns=HOLE_MIN_GAP_NS, skew_spike_ns=SKEW_SPIKE_MIN_NS, now_ns=NOW_NS
)
REAL_SPOT = Path(__file__).parents[1] / "data/real/binance-spot/ethusdt_20240808.gz"


@dataclass(frozen=True)
class SyntheticDataset:
    root: Path
    scenario: Scenario
    truth: GroundTruth


@dataclass(frozen=True)
class StreamDay:
    """A partition-like key for data that is not a Lake table (capture, real recordings)."""

    table: str
    exchange: str
    symbol: str
    dt: date


@pytest.fixture(scope="session")
def synthetic_faults(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDataset:
    root = tmp_path_factory.mktemp("synthetic-faults")
    scenario = dataclasses.replace(load_builtin_scenario("faults"), chunk_rows=20_000)
    return SyntheticDataset(root, scenario, generate_dataset(scenario, root))


@pytest.fixture(scope="session")
def faults_result(synthetic_faults: SyntheticDataset) -> OriginTimeResult:
    return analyse_staging(synthetic_faults.root, TABLES, FAULTS_CONFIG)


def clock_frame(origin: list[int | None], received: list[int | None]) -> pl.LazyFrame:
    """The core's input: `origin_ns`, `received_ns` as Int64 (None → null)."""
    return pl.DataFrame(
        {"origin_ns": origin, "received_ns": received},
        schema={"origin_ns": pl.Int64, "received_ns": pl.Int64},
    ).lazy()


def nearest_rank(values: np.ndarray, pct: int) -> int:
    """Reference percentile: the value at 1-based rank ceil(pct·n/100) of the sorted values."""
    ordered = np.sort(values)
    return int(ordered[max(1, -(-pct * ordered.size // 100)) - 1])


def read_raw(root: Path, path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(origin with nulls as 0, origin-null mask, receipt, receipt-null mask) of one file."""
    df = pl.read_parquet(root / path, columns=["timestamp", "receipt_timestamp"])
    ts, rt = df["timestamp"], df["receipt_timestamp"]
    return (
        ts.fill_null(0).to_numpy(),
        ts.is_null().to_numpy(),
        rt.fill_null(0).to_numpy(),
        rt.is_null().to_numpy(),
    )


@dataclass(frozen=True)
class ReferenceSkew:
    skew_ns: np.ndarray
    hour: np.ndarray


def reference_skew(
    origin: np.ndarray, o_null: np.ndarray, received: np.ndarray, r_null: np.ndarray
) -> ReferenceSkew:
    """Skews (received − origin) of rows with both clocks valid, with the UTC hour of the
    ms-rounded origin: the kernel's definitions, in plain numpy."""
    ok = ~o_null & (origin > 0) & ~r_null & (received > 0)
    o, r = origin[ok], received[ok]
    hour = ((o + MS // 2) // MS // 3_600_000) % 24
    return ReferenceSkew(r - o, hour)


def read_hftbacktest(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Real hftbacktest recording → {"depth": (origin_ns, received_ns), "trades": (...)}.

    Each line is `<local_ns> <json>`, the JSON a Binance combined-stream envelope. Depth origin is
    the event time `E`, trade origin the trade time `T` (both ms); bookTicker frames (no event
    time on spot) and REST snapshots (no `stream`) carry no exchange time and are skipped.
    """
    out: dict[str, tuple[list[int], list[int]]] = {"depth": ([], []), "trades": ([], [])}
    with gzip.open(path, "rt") as f:
        for line in f:
            local_ns, payload = line.split(" ", 1)
            msg = json.loads(payload)
            stream = msg.get("stream", "")
            if "@depth" in stream:
                kind, ms = "depth", msg["data"]["E"]
            elif stream.endswith("@trade"):
                kind, ms = "trades", msg["data"]["T"]
            else:
                continue
            out[kind][0].append(ms * MS)
            out[kind][1].append(int(local_ns))
    return {k: (np.array(o, np.int64), np.array(r, np.int64)) for k, (o, r) in out.items()}
