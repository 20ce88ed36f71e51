"""The `capture` flow against the loopback simulator (real sockets), then `validate-capture` on what
it recorded: the Story 1.2 path end to end under the Prefect engine, artifacts included."""

from __future__ import annotations

import asyncio
import json

from prefect.artifacts import Artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)

from feedcheck.binance.simulator import Simulator, config_for_cli
from feedcheck.flows.capture import capture_flow
from feedcheck.flows.validate_capture import validate_capture
from feedcheck.progress import ProgressEvent, listening

#: One verification snapshot in the 6 s capture: every 5 s is the shortest interval the weight
#: share allows at the flow's limit 5000 (weight 250: 3000/min, `VERIFY_WEIGHT_SHARE`).
DURATION_S = 6
VERIFY_S = 5.0


async def _capture_against_simulator(out_dir: str, events: list[ProgressEvent]):
    config = config_for_cli(["BTCUSDT"], time_scale=5.0, keep_payloads=False)
    async with Simulator(config) as sim:
        with listening(events.append):
            state = await capture_flow(
                symbols=["BTCUSDT"],
                duration_s=DURATION_S,
                out_dir=out_dir,
                regime="rehearsal",
                ws_url=sim.ws_url,
                rest_url=sim.rest_url,
                progress_interval_s=0.5,
                artifact_update_s=1.0,
                verify_snapshot_interval_s=VERIFY_S,
                return_state=True,
            )
        summary = await state.result()
        (conn,) = sim.log.conn_ids()  # one healthy connection: no reconnect
        sent_depth = len(sim.log.depth_ids(conn, "btcusdt@depth@100ms"))
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["capture-progress"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
            )
        )
    return summary, sent_depth, artifacts


def test_capture_records_a_gap_free_session_that_validates(tmp_path):
    events: list[ProgressEvent] = []
    summary, sent_depth, artifacts = asyncio.run(_capture_against_simulator(str(tmp_path), events))

    assert summary.stopped_reason == "duration"
    assert (summary.gaps, summary.resyncs, summary.frames_dropped) == (0, 0, 0)
    assert summary.snapshots == 1  # the sync snapshot; verification ones are counted apart
    assert (summary.verify_snapshots, summary.verify_snapshots_discarded) == (1, 0)
    assert summary.depth_events > 0
    files = sorted((tmp_path / "rehearsal").iterdir())
    assert files and not any(f.name.endswith(".part") for f in files)

    validation = validate_capture(paths=[str(tmp_path / "rehearsal")]).to_json()
    assert validation["total"]["gaps"] == 0
    assert validation["total"]["verdict"] == "PASS"
    # The verification snapshot was compared with the rebuilt book, or skipped when the book had
    # already passed its id (the real clock can tick between the REST answer and its line; the
    # manual-clock tests in tests/binance/test_capture_verify.py prove every one compared).
    [sym] = validation["recordings"][0]["symbols"]
    assert sym["snapshots"] == 1 + summary.verify_snapshots
    assert sym["snapshot_checks"] + sym["snapshot_checks_skipped"] == summary.verify_snapshots
    assert validation["total"]["snapshot_mismatches"] == 0
    # every depth event the simulator sent was recorded, and the replay saw each one
    assert validation["total"]["depth_events"] == summary.depth_events == sent_depth

    progress = Artifact.get("capture-progress")
    assert progress is not None and progress.type == "progress"
    assert float(progress.data) == 100.0
    # One artifact for the run, rewritten in place (never a new one per update).
    assert [(a.type, float(a.data)) for a in artifacts] == [("progress", 100.0)]
    # Every 0.5 s a progress event for the CLI's bar: elapsed of duration, counts, levels/s.
    capture_events = [e for e in events if e.stage == "capture"]
    assert len(capture_events) >= 3
    assert all(e.total == DURATION_S and "depth events" in e.detail for e in capture_events)
    assert [e.done for e in capture_events] == sorted(e.done for e in capture_events)
    report = Artifact.get("capture-summary")
    assert report is not None and "rehearsal" in report.data
    assert f"| verification snapshots (discarded) | {summary.verify_snapshots} (0) |" in report.data
    assert json.dumps(validation)  # the contract is JSON-safe
