"""The embedded default (`make run`): stand-ins for the two outside sources, nothing to configure.

- `embedded_lake`: a synthetic Crypto Lake dataset (builtin scenario, with injected faults and
  their ground truth) served from a real S3 API on loopback (moto), laid out exactly as the
  vendor's bucket, so the `download` flow runs its real code path against it.
- `rehearsal_captures`: the loopback Binance exchange and one short capture per regime, recorded
  exactly as a 24 h capture would be, so `validate-capture` has recordings to check.

The go/no-go flow (`demo=True`) strings these together with the other stories.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from feedcheck.lake.source import (
    ENV_ACCESS_KEY_ID,
    ENV_SECRET_ACCESS_KEY,
    VENDOR_BUCKET,
    VENDOR_PREFIX,
)

#: The three market regimes of Story 1.2, as the capture deployments name their folders.
REGIMES = ("us-open", "weekend", "event")
#: Snapshot depth of a rehearsal: weight 50 instead of 250 at 5000, so verification snapshots
#: every few seconds stay inside the capture's weight budget (the simulator's book is shallower).
REHEARSAL_SNAPSHOT_LIMIT = 1000


@dataclass(frozen=True)
class EmbeddedLake:
    """A synthetic Lake served on loopback: where, what range, and the ground truth's path."""

    endpoint_url: str
    scenario: str
    exchange: str
    symbols: tuple[str, ...]
    tables: tuple[str, ...]
    start: date
    end: date
    ground_truth: Path
    objects: int

    def describe(self) -> str:
        return (
            f"synthetic Crypto Lake data (builtin scenario {self.scenario!r}, injected faults "
            f"listed in {self.ground_truth}) served from a loopback S3 at {self.endpoint_url}"
        )


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def embedded_lake(
    lake_dir: Path | str,
    scenario: str = "demo",
    progress: Callable[..., None] | None = None,
) -> Iterator[EmbeddedLake]:
    """Generate `scenario` into `lake_dir` (replaced), serve it from moto on a free loopback port,
    and, while the context lasts, put moto's placeholder keys in the FEEDCHECK_LAKE_* env, where
    a real run's keys would be (the download flow reads them from there)."""
    from feedcheck.lake.synthetic import generate_dataset, scenario_with_overrides
    from feedcheck.testing.s3_server import (
        MOTO_ACCESS_KEY_ID,
        MOTO_SECRET_ACCESS_KEY,
        moto_s3_server,
        publish_tree,
    )

    lake_dir = Path(lake_dir)
    if lake_dir.exists():
        shutil.rmtree(lake_dir)
    sc = scenario_with_overrides(scenario)
    generate_dataset(sc, lake_dir, progress=progress)
    keys = {ENV_ACCESS_KEY_ID: MOTO_ACCESS_KEY_ID, ENV_SECRET_ACCESS_KEY: MOTO_SECRET_ACCESS_KEY}
    with moto_s3_server() as endpoint, _env(keys):
        published = publish_tree(endpoint, lake_dir, VENDOR_BUCKET, VENDOR_PREFIX)
        yield EmbeddedLake(
            endpoint_url=endpoint,
            scenario=str(scenario),
            exchange=sc.exchange,
            symbols=tuple(sc.symbols),
            tables=tuple(sc.tables),
            start=sc.start,
            end=sc.end,
            ground_truth=lake_dir / "ground_truth.json",
            objects=len(published),
        )


async def rehearsal_captures(
    capture_dir: Path | str,
    duration_s: float,
    regimes: Sequence[str] = REGIMES,
    symbols: Sequence[str] = ("BTCUSDT",),
    verify_snapshot_interval_s: float | None = 5.0,
    snapshot_limit: int = REHEARSAL_SNAPSHOT_LIMIT,
):
    """One capture of `duration_s` per regime into `capture_dir/<regime>/`, all at once against
    one loopback simulator; returns their `CaptureSummary`s in `regimes` order. Every
    `verify_snapshot_interval_s` each capture records a verification snapshot, so even a 20 s
    rehearsal gives `validate-capture` later snapshots to prove the rebuilt book against."""
    from feedcheck.binance.capture import CaptureConfig, capture
    from feedcheck.binance.simulator import Simulator, config_for_cli

    capture_dir = Path(capture_dir)
    async with Simulator(config_for_cli(symbols)) as sim:
        return await asyncio.gather(
            *(
                capture(
                    CaptureConfig(
                        symbols=tuple(symbols),
                        duration_s=duration_s,
                        out_dir=capture_dir / regime,
                        ws_url=sim.ws_url,
                        rest_url=sim.rest_url,
                        verify_snapshot_interval_s=verify_snapshot_interval_s,
                        snapshot_limit=snapshot_limit,
                    )
                )
                for regime in regimes
            )
        )
