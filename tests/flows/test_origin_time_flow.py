"""The `origin-time` flow end to end on the generated `faults` Lake tree: artifacts with embedded
plots, the JSON result on disk, and the same numbers as the library called directly."""

from __future__ import annotations

import json

import pytest
from prefect.artifacts import Artifact
from typer.testing import CliRunner

from feedcheck.analysis.origin_time import analyse_staging
from feedcheck.analysis.origin_time_result import OriginTimeConfig
from feedcheck.cli import app
from feedcheck.flows.origin_time import RESULT_FILE, origin_time
from feedcheck.lake.synthetic import generate_dataset, load_builtin_scenario
from feedcheck.report.plots import PLOT_FILES


@pytest.fixture(scope="module")
def faults_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults-lake")
    return root, generate_dataset(load_builtin_scenario("faults"), root)


def test_flow_publishes_report_with_plots_and_writes_json(faults_tree, tmp_path):
    root, truth = faults_tree
    result = origin_time(staging_dir=str(root), report_dir=str(tmp_path / "report"))

    direct = analyse_staging(root, ["trades", "book", "book_delta_v2"], OriginTimeConfig())
    assert [p.key for p in result.partitions] == [p.key for p in direct.partitions]
    assert [s.counts for s in result.streams] == [s.counts for s in direct.streams]
    assert result.missing_partitions == ("trades/BINANCE/ETH-USDT/2024-04-01",)
    origin_null = sum(p.counts.origin_null for p in result.partitions)
    assert origin_null == truth.total("origin_null")

    saved = json.loads((tmp_path / "report" / RESULT_FILE).read_text())
    assert [c["status"] for c in saved["criteria"]] == [c.status.value for c in result.criteria]
    written = sorted(p.name for p in (tmp_path / "report").glob("*.png"))
    assert written == sorted(PLOT_FILES.values())

    report = Artifact.get("origin-time")
    assert report is not None and report.type == "markdown"
    assert report.data.count("](data:image/png;base64,") == 3
    assert len(report.data) < 1_500_000  # above this the UI drops the artifact's event
    table = Artifact.get("origin-time-partitions")
    rows = json.loads(table.data)
    assert len(rows) == len(result.partitions) + len(result.missing_partitions)


def test_cli_writes_json_and_refuses_a_missing_staging_dir(faults_tree, tmp_path):
    root, _ = faults_tree
    runner = CliRunner()
    missing = runner.invoke(app, ["origin-time", "--staging", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert "does not exist" in missing.output

    out = tmp_path / "ot.json"
    ok = runner.invoke(
        app,
        [
            "origin-time",
            "--staging",
            str(root),
            "--tables",
            "trades",
            "--symbols",
            "BTC-USDT",
            "--report-dir",
            str(tmp_path / "r"),
            "--json",
            str(out),
        ],
    )
    assert ok.exit_code == 0, ok.output
    doc = json.loads(out.read_text())
    assert {s["key"] for s in doc["streams"]} == {"trades/BINANCE/BTC-USDT"}
    direct = analyse_staging(root, ["trades"], OriginTimeConfig(), symbols=["BTC-USDT"])
    assert [c["status"] for c in doc["criteria"]] == [c.status.value for c in direct.criteria]
    (stream,) = doc["streams"]
    assert stream["counts"] == direct.streams[0].counts.to_json()
    assert stream["recommendation"]["kind"] == direct.streams[0].recommendation.kind.value
