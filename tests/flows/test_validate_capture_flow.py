"""The `validate-capture` flow on the real recordings: 0 gaps as recorded, exactly one gap (at the
right place) when one depth line is deleted, JSON contract and artifacts."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

from prefect.artifacts import Artifact

from feedcheck.flows.validate_capture import validate_capture

REAL = Path(__file__).resolve().parents[1] / "data" / "real"


def test_real_recordings_have_no_gaps_and_json_follows_the_contract(tmp_path):
    out = tmp_path / "vc.json"
    result = validate_capture(paths=[str(REAL)], json_out=str(out))
    doc = json.loads(out.read_text())
    assert len(result.recordings) == 3
    for key in ("gaps", "resyncs", "snapshot_mismatches", "crossed"):
        assert doc["total"][key] == 0
        assert [r[key] for r in doc["recordings"]] == [0, 0, 0]
    assert doc["total"]["verdict"] == "PASS"
    report = Artifact.get("validate-capture")
    assert report is not None and "PASS" in report.data


def test_a_deleted_depth_line_is_exactly_one_gap(tmp_path):
    src = REAL / "binance-spot" / "ethusdt_20240808.gz"
    lines = gzip.decompress(src.read_bytes()).splitlines(keepends=True)
    depth = [i for i, line in enumerate(lines) if b"@depth@100ms" in line]
    victim = depth[len(depth) // 2]
    deleted = json.loads(lines[victim].split(b" ", 1)[1])["data"]
    target = tmp_path / "spot" / src.name
    target.parent.mkdir()
    target.write_bytes(gzip.compress(b"".join(lines[:victim] + lines[victim + 1 :])))
    shutil.copy(REAL / "README.md", tmp_path / "spot" / "README.md")  # not a recording: left out

    result = validate_capture(paths=[str(target.parent)])
    doc = result.to_json()
    assert doc["total"]["gaps"] == 1
    assert doc["total"]["resyncs"] == 1
    (gap,) = doc["recordings"][0]["gap_positions"]
    assert gap["rule"] == "continuity"
    assert gap["expected"] == deleted["U"]  # the chain wanted the deleted event next
    assert gap["first_update_id"] == deleted["u"] + 1  # and got the one after it
    # the next depth line: one line earlier in the edited file, 1-based: the same number
    assert gap["line_no"] == depth[depth.index(victim) + 1]
