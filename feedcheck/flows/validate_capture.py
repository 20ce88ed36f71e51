"""`validate-capture` flow (Story 1.2): are the recordings gap-free and is the book they rebuild right?

The story: group the given files into recordings (rotated files of one session, consecutive day files)
→ replay each: U/u (or pu) chain with the position of every gap, resyncs, the book rebuilt from each
in-band snapshot compared exactly with every later one, crossed-book moments → write the JSON the
go/no-go reads → publish the markdown report and a table.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from feedcheck.binance.validate import CaptureValidation, group_recordings, validate_recordings
from feedcheck.errors import ConfigError
from feedcheck.progress import ProgressEvent, emit
from feedcheck.report.capture import capture_validation_markdown, capture_validation_rows


@task(name="validate-recording", cache_policy=NO_CACHE, task_run_name="validate {label}")
def validate_recording(files: list[Path], label: str) -> CaptureValidation:
    return validate_recordings([files])  # one recording: the files are read as one stream


@flow(name="validate-capture", log_prints=False)
def validate_capture(paths: list[str], json_out: str | None = None) -> CaptureValidation:
    """Validate recordings (files or directories; ours, hftbacktest or cryptofeed format)."""
    for p in paths:
        if not Path(p).exists():
            raise ConfigError(f"recording path {p} does not exist")
    # Directories are searched recursively; a crash's `.part` file is a readable recording too.
    groups = group_recordings([Path(p) for p in paths])
    if not groups:
        raise ConfigError(f"no recordings (of a known format) under {', '.join(paths)}")
    results = []
    for i, group in enumerate(groups, 1):
        results.append(validate_recording(group, group[0].name))
        emit(ProgressEvent("validate", i, len(groups), group[0].name))
    validation = CaptureValidation.merge(results)
    if json_out:
        out = Path(json_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(validation.to_json(), indent=1))
    create_markdown_artifact(
        capture_validation_markdown(validation),
        key="validate-capture",
        description="Story 1.2: capture gaps, resyncs, snapshot checks, crossed books",
    )
    create_table_artifact(
        capture_validation_rows(validation),
        key="validate-capture-recordings",
        description="one row per recording",
    )
    totals = validation.to_json()["total"]
    get_run_logger().info(
        "validated %d recordings: %d gaps, %d resyncs, %d snapshot mismatches, %d crossed",
        len(groups),
        totals["gaps"],
        totals["resyncs"],
        totals["snapshot_mismatches"],
        totals["crossed"],
    )
    return validation
