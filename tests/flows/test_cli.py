"""`feedcheck` commands in-process (typer's runner): exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from feedcheck.cli import app
from feedcheck.lake.synthetic import GroundTruth

runner = CliRunner()


def test_synth_writes_a_tree_and_its_ground_truth(tmp_path):
    result = runner.invoke(
        app,
        [
            "synth",
            "--out",
            str(tmp_path),
            "--scenario",
            "demo",
            "--symbols",
            "BTC-USDT",
            "--hours",
            "0.02",
        ],
    )
    assert result.exit_code == 0, result.output
    truth = GroundTruth.read(tmp_path)
    assert {p.partition.split("/")[2] for p in truth.partitions} == {"BTC-USDT"}
    assert len(truth.partitions) == 6  # 3 tables x 2 days
    assert "wrote 6 partitions" in result.output


def test_unknown_scenario_is_one_line_and_exit_2(tmp_path):
    result = runner.invoke(app, ["synth", "--out", str(tmp_path), "--scenario", "nope"])
    assert result.exit_code == 2
    assert "scenario 'nope' is neither a builtin (demo, faults) nor a YAML file" in result.output
    assert "Traceback" not in result.output


def test_bad_date_is_rejected_before_anything_runs(tmp_path):
    result = runner.invoke(
        app,
        ["download", "--start", "2024-13-01", "--end", "2024-04-02", "--staging", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "--start '2024-13-01' is not a date" in result.output
    assert not any(tmp_path.iterdir())


def test_download_writes_json_result(published_faults, lake_keys, tmp_path):
    out = tmp_path / "result.json"
    result = runner.invoke(
        app,
        [
            "download",
            "--start",
            "2024-04-02",
            "--end",
            "2024-04-03",
            "--symbols",
            "BTC-USDT",
            "--tables",
            "trades",
            "--staging",
            str(tmp_path / "staging"),
            "--endpoint-url",
            published_faults.endpoint,
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    expected = [
        p
        for p in published_faults.truth.partitions
        if p.partition == "trades/BINANCE/BTC-USDT/2024-04-02"
    ]
    assert doc["summary"]["files"] == 1
    assert doc["summary"]["rows"] == expected[0].rows
    assert doc["validation"]["trades/BINANCE/BTC-USDT/2024-04-02"]["invalid_side"] == (
        published_faults.truth.count("trades/BINANCE/BTC-USDT/2024-04-02", "invalid_side")
    )


def test_download_of_an_empty_range_exits_1_line(published_faults, lake_keys, tmp_path):
    result = runner.invoke(
        app,
        [
            "download",
            "--start",
            "2023-01-01",
            "--end",
            "2023-01-02",
            "--tables",
            "book",
            "--staging",
            str(tmp_path),
            "--endpoint-url",
            published_faults.endpoint,
        ],
    )
    assert result.exit_code == 2
    # One line of ours; Prefect's own run logs (the failed task) may come before it.
    (line,) = [x for x in result.output.splitlines() if x.startswith("feedcheck:")]
    assert "no files" in line and "book BINANCE BTC-USDT" in line


def test_export_capture_then_origin_time_on_the_real_recording(tmp_path):
    from pathlib import Path

    real = Path(__file__).resolve().parents[1] / "data" / "real" / "binance-spot"
    exported = runner.invoke(app, ["export-capture", str(real), "--out", str(tmp_path / "lake")])
    assert exported.exit_code == 0, exported.output
    assert "14,515 trades" in " ".join(exported.output.split())

    out = tmp_path / "ot.json"
    analysed = runner.invoke(
        app,
        [
            "origin-time",
            "--staging",
            str(tmp_path / "lake"),
            "--tables",
            "trades,book_delta_v2",
            "--json",
            str(out),
            "--report-dir",
            str(tmp_path / "r"),
        ],
    )
    assert analysed.exit_code == 0, analysed.output
    doc = json.loads(out.read_text())
    kinds = {s["key"]: s["recommendation"]["kind"] for s in doc["streams"]}
    assert kinds == {
        "book_delta_v2/BINANCE/ETH-USDT": "vendor clock sync needed",
        "trades/BINANCE/ETH-USDT": "vendor clock sync needed",
    }


def test_go_no_go_reuse_with_nothing_to_reuse_is_all_unknown(tmp_path):
    out = tmp_path / "report.json"
    result = runner.invoke(
        app,
        ["go-no-go", "--reuse", "--reports-dir", str(tmp_path / "reports"), "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["verdict"] == "NO-GO"
    assert report["counts"] == {"PASS": 0, "FAIL": 0, "UNKNOWN": 11}
    assert {s["status"] for s in report["steps"]} == {"missing"}
    assert "verdict: NO-GO" in result.output


def test_go_no_go_rejects_a_bad_threshold_in_one_line(tmp_path):
    result = runner.invoke(app, ["go-no-go", "--reuse", "--threshold", "memory=lots"])
    assert result.exit_code == 2
    assert "--threshold 'memory=lots' is not NAME=NUMBER" in result.output
    result = runner.invoke(
        app, ["go-no-go", "--reuse", "--reports-dir", str(tmp_path), "--threshold", "memory=1"]
    )
    assert result.exit_code == 2
    assert "unknown go/no-go threshold memory" in result.output


def test_demo_never_replaces_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    result = runner.invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "holds files that feedcheck demo did not write" in result.output
    assert (tmp_path / "precious.txt").read_text() == "keep me"
