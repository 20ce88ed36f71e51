"""The `validation-spike` flow: every check as a task with its table, the JSON for the go/no-go,
and a check that cannot run leaves UNKNOWN (never PASS)."""

from __future__ import annotations

import json

from prefect.artifacts import Artifact

from feedcheck.flows.spike import RESULT_FILE, validation_spike
from feedcheck.report.criteria import Status


def test_spike_on_generated_data_writes_json_and_one_table_per_check(tmp_path):
    result = validation_spike(
        hours=0.01, report_dir=str(tmp_path), decimal_speed_rows=5_000, io_repeats=1
    )
    doc = json.loads((tmp_path / RESULT_FILE).read_text())
    assert set(doc["checks"]) == {c.name for c in result.checks}
    assert doc["verdict"] == result.verdict.value
    names = [c["name"] for c in doc["criteria"]]
    assert "Decimal128 works or int64 fallback ready" in names
    assert "I/O supports 220 GB/month" in names
    assert any(n.startswith("delta gap ratio") for n in names)
    assert "memory P95 < budget" in names
    assert "reconstruction >= 100k events/s" in names
    assert doc["checks"]["throughput"]["result"]["same_book"] is True
    assert doc["checks"]["memory"]["result"]["capped"]["completed"] is True
    assert all(c.error is None for c in result.checks)
    for check in result.checks:
        table = Artifact.get(f"spike-{check.name}")
        figures = check.result.get("figures") or []
        assert table is not None and len(json.loads(table.data)) == len(check.criteria) + len(
            figures
        )
    # The memory table shows the figures behind its criterion, the capped rerun included.
    memory = json.loads(Artifact.get("spike-memory").data)
    assert [r["criterion"] for r in memory] == [
        "memory P95 < budget", "peak RSS", "P95 RSS", "phase startup", "phase reconstruct",
        "phase origin_time", "phase duckdb", "small host: P95 < 16 GiB", "hard cap 4 GiB rerun",
    ]  # fmt: skip
    assert memory[-1]["status"] == "completed" and memory[-2]["status"] == "PASS"
    markdown = Artifact.get("validation-spike").data
    assert "Technical validation spike" in markdown
    assert "## memory: figures" in markdown and "| hard cap 4 GiB rerun | completed |" in markdown


def test_a_check_that_cannot_run_is_unknown_not_pass(tmp_path):
    empty = tmp_path / "no-parquet-here"
    empty.mkdir()
    result = validation_spike(
        data_dir=str(empty), report_dir=str(tmp_path / "r"), decimal_speed_rows=0, io_repeats=1
    )
    (io,) = [c for c in result.checks if c.name == "io"]
    assert io.error is not None
    assert [c.status for c in io.criteria] == [Status.UNKNOWN]
    (gaps,) = [c for c in result.checks if c.name == "gaps"]
    assert [c.status for c in gaps.criteria] == [Status.UNKNOWN]
    assert result.verdict is Status.UNKNOWN


def test_plan_decimal_criterion_passes_when_either_path_works():
    from feedcheck.report.criteria import CriterionResult
    from feedcheck.tasks.spike import plan_decimal_criterion

    def c(name, status):
        return CriterionResult(name, status, None, None, "")

    works, fallback = "Decimal128 works", "int64 fallback ready"
    assert (
        plan_decimal_criterion([c(works, Status.FAIL), c(fallback, Status.PASS)]).status
        is Status.PASS
    )
    assert (
        plan_decimal_criterion([c(works, Status.FAIL), c(fallback, Status.FAIL)]).status
        is Status.FAIL
    )
    assert plan_decimal_criterion([c(works, Status.UNKNOWN)]).status is Status.UNKNOWN
    assert plan_decimal_criterion([]).status is Status.UNKNOWN


def test_cli_spike_writes_json_and_a_missing_data_dir_is_one_line(tmp_path):
    """`feedcheck spike --json OUT` writes the flow's JSON (exit 0 whatever the verdict: here
    UNKNOWN, the data holds no Parquet file); a data directory that does not exist is exit 2
    with a one-line reason and nothing run."""
    from typer.testing import CliRunner

    from feedcheck.cli import app

    runner = CliRunner()
    missing = runner.invoke(app, ["spike", "--data", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    assert "Traceback" not in missing.output
    empty, out = tmp_path / "empty", tmp_path / "spike.json"
    empty.mkdir()
    ran = runner.invoke(
        app,
        [
            "spike",
            "--data",
            str(empty),
            "--report-dir",
            str(tmp_path / "r"),
            "--decimal-speed-rows",
            "0",
            "--io-repeats",
            "1",
            "--memory-cap-gib",
            "0",
            "--json",
            str(out),
        ],
    )
    assert ran.exit_code == 0, ran.output
    doc = json.loads(out.read_text())
    assert doc == json.loads((tmp_path / "r" / RESULT_FILE).read_text())
    assert doc["verdict"] == "UNKNOWN" and "validation spike: UNKNOWN" in ran.output
    assert set(doc["checks"]) == {"gaps", "memory", "throughput", "decimals", "io"}
