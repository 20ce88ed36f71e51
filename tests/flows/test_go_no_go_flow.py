"""The `go-no-go` flow under the Prefect engine: the embedded demo end to end (loopback S3,
loopback Binance, every story as a child), a child that fails, and --reuse of the results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prefect.artifacts import Artifact

from feedcheck.flows.go_no_go import go_no_go
from feedcheck.lake.synthetic import GroundTruth
from feedcheck.report.criteria import Status
from feedcheck.report.go_no_go import NO_GO, GoNoGoReport, Step, StepStatus

#: Rehearsals long enough for verification snapshots every `VERIFY_S` (at least two each,
#: with seconds to spare for the sync on a loaded machine), so the rebuilt books are proven.
REHEARSAL_S = 5.0
VERIFY_S = 1.5


def statuses(report: GoNoGoReport) -> dict[str, Status]:
    return {c.key: c.result.status for c in report.criteria}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[GoNoGoReport, Path]:
    folder = tmp_path_factory.mktemp("go-no-go") / "demo"
    report = go_no_go(
        demo=True,
        spike_hours=0.02,
        memory_cap_gib=None,
        rehearsal_capture_s=REHEARSAL_S,
        rehearsal_verify_s=VERIFY_S,
        report_dir=str(folder),
    )
    return report, folder


def test_demo_runs_every_story_and_judges_every_criterion(demo_run):
    report, folder = demo_run
    assert [(s.step, s.status) for s in report.steps] == [
        (Step.DOWNLOAD, StepStatus.COMPLETED),
        (Step.ORIGIN_TIME, StepStatus.COMPLETED),
        (Step.SPIKE, StepStatus.COMPLETED),
        (Step.CAPTURES, StepStatus.COMPLETED),
        (Step.VALIDATE_CAPTURE, StepStatus.COMPLETED),
    ]
    got = statuses(report)
    assert len(got) == 11
    # Rehearsals of a few seconds are not 24 h captures: the demo is honestly NO-GO.
    assert got["captures_complete"] is Status.FAIL and report.verdict == NO_GO
    complete = next(c.result for c in report.criteria if c.key == "captures_complete")
    assert "3 recording(s) in 3 regime(s)" in complete.evidence
    assert got["capture_gaps"] is Status.PASS  # the simulator injects no fault by default
    # Each rehearsal records a verification snapshot: the book is compared, and agrees.
    assert got["book_state"] is Status.PASS
    # The staged data are the demo Lake, injected faults and all (ground truth beside it).
    truth = GroundTruth.read(folder / "lake")
    staging = folder / "staging"
    staged = {str(p.relative_to(staging)) for p in staging.glob("*/exchange=*/**/*.parquet")}
    assert staged == {pt.path for pt in truth.partitions}


def test_demo_writes_the_report_and_the_artifacts(demo_run):
    report, folder = demo_run
    assert json.loads((folder / "report.json").read_text()) == report.to_json()
    markdown = (folder / "report.md").read_text()
    assert markdown.startswith("# Epic 1 go/no-go: **NO-GO")
    assert (folder / "go-no-go-headroom.png").is_file()
    assert len(list(folder.glob("plot-*.png"))) == 3  # Story 1.1's plots
    assert (folder / "origin-time/origin_time.json").is_file()
    assert (folder / "spike/spike.json").is_file()
    assert {p.name for p in (folder / "captures").iterdir()} == {"us-open", "weekend", "event"}

    artifact = Artifact.get("go-no-go")
    assert artifact is not None and artifact.type == "markdown"
    assert artifact.data.startswith("# Epic 1 go/no-go: **NO-GO")
    assert artifact.data.count("](data:image/png;base64,") == 4  # headroom + 3 Story 1.1 plots
    table = Artifact.get("go-no-go-criteria")
    assert table is not None
    rows = json.loads(table.data)
    assert [r["status"] for r in rows] == [c.result.status.value for c in report.criteria]


def test_reuse_judges_the_latest_results_with_new_thresholds(demo_run):
    report, folder = demo_run
    again = go_no_go(
        reuse=True,
        reports_dir=str(folder.parent),
        report_dir=str(folder.parent / "reused"),
        thresholds={"capture_min_hours": REHEARSAL_S / 2 / 3600},
    )
    assert {s.step: s.status for s in again.steps} == {
        Step.ORIGIN_TIME: StepStatus.REUSED,
        Step.SPIKE: StepStatus.REUSED,
        Step.VALIDATE_CAPTURE: StepStatus.REUSED,
    }
    expected = statuses(report) | {"captures_complete": Status.PASS}
    assert statuses(again) == expected


def test_a_failing_child_is_recorded_and_the_parent_completes(tmp_path):
    report = go_no_go(
        download_data=False,
        staging_dir=str(tmp_path / "no-staging"),
        spike_data_dir=str(tmp_path / "no-spike-data"),
        capture_dir=str(tmp_path / "no-captures"),
        report_dir=str(tmp_path / "report"),
    )
    runs = {s.step: s for s in report.steps}
    assert runs[Step.DOWNLOAD].status is StepStatus.SKIPPED
    assert runs[Step.VALIDATE_CAPTURE].status is StepStatus.FAILED
    assert "no-captures does not exist" in runs[Step.VALIDATE_CAPTURE].error
    got = statuses(report)
    assert {got[k] for k in ("captures_complete", "capture_gaps", "book_state")} == {Status.UNKNOWN}
    assert Status.PASS not in {got[k] for k in ("origin_missing", "skew_p95", "delta_gap_ratio")}
    assert report.verdict == NO_GO
    assert (tmp_path / "report/report.md").is_file()
