"""`capture` flow (Story 1.2): record live Binance trade + depth with a correct book sync.

The story: build the capture config from the parameters → run the capture session (one socket loop,
per-symbol book sync, resync on gaps, raw recording rotated and flushed every second) while a progress
artifact is updated in place → publish the capture summary. Deployments run it for 24 h at the US
open, on Saturdays, and on demand (`prefect.yaml`).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    aupdate_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run as runtime_flow_run

from feedcheck.binance import venue
from feedcheck.binance.capture import CaptureConfig, CaptureProgress, CaptureSummary, capture
from feedcheck.binance.capture_config import DEFAULT_VERIFY_SNAPSHOT_INTERVAL_S
from feedcheck.errors import ConfigError
from feedcheck.progress import ProgressEvent, emit
from feedcheck.report.capture_progress import capture_progress_text, capture_summary_markdown

#: How often the progress artifact is rewritten (it is one row in the API; no need to hammer it).
ARTIFACT_UPDATE_S = 10.0


@task(name="capture-session", cache_policy=NO_CACHE)
async def capture_session(
    config: CaptureConfig, artifact_update_s: float = ARTIFACT_UPDATE_S
) -> CaptureSummary:
    """Run one capture while mirroring its progress into a `capture-progress` artifact, updated
    in place every `artifact_update_s`; each progress report is also a log line and a
    `feedcheck.progress` event (the CLI's progress bar)."""
    logger = get_run_logger()
    latest: list[CaptureProgress] = []

    def on_progress(p: CaptureProgress) -> None:
        latest[:] = [p]
        emit(
            ProgressEvent(
                "capture", int(p.elapsed_s), int(config.duration_s), capture_progress_text(p)
            )
        )
        logger.info(capture_progress_text(p))

    artifact_id = await acreate_progress_artifact(
        0.0, key="capture-progress", description=f"capture of {', '.join(config.symbols)}"
    )

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(artifact_update_s)
            if latest:
                p = latest[0]
                pct = min(100.0, 100.0 * p.elapsed_s / config.duration_s)
                await aupdate_progress_artifact(artifact_id, pct, capture_progress_text(p))

    async with asyncio.TaskGroup() as group:
        reporter = group.create_task(report_progress())
        try:
            summary = await capture(config, on_progress=on_progress)
        finally:
            reporter.cancel()
    await aupdate_progress_artifact(artifact_id, 100.0, f"done: {summary.stopped_reason}")
    return summary


@flow(name="capture", log_prints=False)
async def capture_flow(
    symbols: list[str] = ["BTCUSDT"],  # noqa: B006 - Prefect copies parameters per run
    streams: list[str] = ["trade", "depth"],  # noqa: B006
    depth_speed_ms: int = 100,
    duration_s: float = 24 * 3600.0,
    out_dir: str = "captures",
    regime: str = "manual",
    ws_url: str | None = None,
    rest_url: str | None = None,
    rotate_interval_s: float = 3600.0,
    progress_interval_s: float = 5.0,
    artifact_update_s: float = ARTIFACT_UPDATE_S,
    verify_snapshot_interval_s: float | None = DEFAULT_VERIFY_SNAPSHOT_INTERVAL_S,
) -> CaptureSummary:
    """Capture `symbols` for `duration_s` into `out_dir/<regime>/` (real Binance spot by default;
    point `ws_url`/`rest_url` at `feedcheck simulate` to rehearse). Progress is reported every
    `progress_interval_s` (log line, CLI bar) and the `capture-progress` artifact rewritten in
    place every `artifact_update_s`. Every `verify_snapshot_interval_s` (None: never) each live
    symbol gets one more REST snapshot, recorded in-band for `validate-capture` to check the
    rebuilt book against (the go/no-go's "order-book state validated" needs at least one)."""
    if duration_s <= 0:
        raise ConfigError(f"duration_s must be > 0, got {duration_s}")
    if artifact_update_s <= 0:
        raise ConfigError(f"artifact_update_s must be > 0, got {artifact_update_s}")
    if not regime.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"regime {regime!r} must be letters, digits, - or _ (it names a folder)")
    config = CaptureConfig(
        symbols=tuple(venue.check_symbol(s.upper()) for s in symbols),
        streams=tuple(streams),
        depth_speed_ms=depth_speed_ms,
        duration_s=duration_s,
        out_dir=Path(out_dir) / regime,
        ws_url=ws_url or venue.SPOT.ws_base,
        rest_url=rest_url or venue.SPOT.rest_base,
        rotate_interval_s=rotate_interval_s,
        progress_interval_s=progress_interval_s,
        verify_snapshot_interval_s=verify_snapshot_interval_s,
    )
    summary = await capture_session(config, artifact_update_s)
    await acreate_markdown_artifact(
        capture_summary_markdown(summary, config, regime, runtime_flow_run.name or "local"),
        key="capture-summary",
        description=f"capture {regime}: {', '.join(config.symbols)}",
    )
    get_run_logger().info("capture %s finished: %s", regime, asdict(summary).get("stopped_reason"))
    return summary
