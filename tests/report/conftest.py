"""A small Lake tree written by hand and its origin-time result, for the rendering tests.

trades BTC-USDT: 2024-04-01 and 04-03 with rows (a few negative skews, one null origin), 04-02
missing; book_delta_v2 BTC-USDT: 04-01 an empty file, 04-02 and 04-03 with rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feedcheck.analysis import OriginTimeConfig, OriginTimeResult, analyse_staging

MS = 1_000_000
D0 = 1_711_929_600 * 1_000_000_000  # 2024-04-01 00:00 UTC
DAY_NS = 86_400 * 1_000_000_000
NOW_NS = D0 + 30 * DAY_NS


def _write(root: Path, table: str, day: int, origin: list, received: list) -> None:
    folder = root / f"{table}/exchange=BINANCE/symbol=BTC-USDT/dt=2024-04-0{day + 1}"
    folder.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "timestamp": pa.array(origin, pa.int64()),
                "receipt_timestamp": pa.array(received, pa.int64()),
            }
        ),
        folder / "part-0.parquet",
    )


def _day(day: int, n: int, step_ms: int, rng: np.random.Generator) -> tuple[list, list]:
    origin = D0 + day * DAY_NS + np.arange(1, n + 1) * step_ms * MS
    received = origin + rng.lognormal(np.log(8 * MS), 1.0, n).astype(np.int64)
    received[::97] = origin[::97] - 3 * MS  # a few negative skews
    return origin.tolist(), received.tolist()


@pytest.fixture(scope="session")
def small_result(tmp_path_factory: pytest.TempPathFactory) -> OriginTimeResult:
    root = tmp_path_factory.mktemp("small-lake")
    rng = np.random.default_rng(2)
    for day in (0, 2):
        origin, received = _day(day, 3_000, 700, rng)
        origin[5] = None
        _write(root, "trades", day, origin, received)
    _write(root, "book_delta_v2", 0, [], [])
    for day in (1, 2):
        _write(root, "book_delta_v2", day, *_day(day, 5_000, 100, rng))
    return analyse_staging(root, ["trades", "book_delta_v2"], OriginTimeConfig(now_ns=NOW_NS))
