"""The deployment path end to end, as a user runs it: a real `prefect server` on loopback, every
deployment of prefect.yaml deployed with `deployments/setup.sh`, a process worker started from
the repo root, `prefect deployment run 'go-no-go/demo'` with small parameters, and the go-no-go
artifact read back through the API."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from feedcheck.testing.prefect_server import prefect_server

ROOT = Path(__file__).resolve().parents[1]
PREFECT = [sys.executable, "-m", "prefect"]
RUN_TIMEOUT_S = 420
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _cli(server, *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [*PREFECT, *args],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with prefect_server(tmp_path_factory.mktemp("prefect-home")) as s:
        yield s


def test_go_no_go_runs_as_a_deployment_on_a_worker(server, tmp_path):
    setup = subprocess.run(
        ["bash", "deployments/setup.sh"],
        cwd=ROOT,
        env={**server.env, "PREFECT": str(Path(sys.executable).parent / "prefect")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    # Every deployment of prefect.yaml reached the server, schedules and time zones included.
    deployed = server.post("/deployments/filter", {})
    expected = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    assert sorted(d["name"] for d in deployed) == sorted(d["name"] for d in expected)
    zones = sorted(s["schedule"]["timezone"] for d in deployed for s in d["schedules"])
    assert zones == sorted(s["timezone"] for d in expected for s in d.get("schedules") or [])
    # Only the run this test asks for: no cron run may fall due while the worker polls.
    _cli(server, "--no-prompt", "deployment", "schedule", "pause", "--all")

    report_dir = tmp_path / "report"
    out = _cli(
        server,
        "deployment",
        "run",
        "go-no-go/demo",
        "--param", "spike_hours=0.02",
        "--param", "memory_cap_gib=null",
        "--param", "rehearsal_capture_s=4",
        "--param", "rehearsal_verify_s=1.5",
        "--param", f"report_dir={json.dumps(str(report_dir))}",
    )  # fmt: skip
    run_id = re.search(r"UUID: ([0-9a-f-]{36})", out).group(1)

    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        [*PREFECT, "worker", "start", "--pool", "feedcheck", "--install-policy", "never"],
        cwd=ROOT,
        env=server.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        state = None
        while time.monotonic() < deadline:
            state = server.get(f"/flow_runs/{run_id}")["state"]["type"]
            if state in TERMINAL:
                break
            time.sleep(2)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        log.close()
    worker_log = (tmp_path / "worker.log").read_text()
    assert state == "COMPLETED", f"flow run ended {state}; worker log:\n{worker_log[-4000:]}"

    artifact = server.latest_artifact("go-no-go")
    assert artifact["flow_run_id"] == run_id
    assert artifact["type"] == "markdown"
    assert artifact["data"].startswith("# Epic 1 go/no-go: **NO-GO")
    assert artifact["data"].count("](data:image/png;base64,") == 4
    report = json.loads((report_dir / "report.json").read_text())
    assert len(report["criteria"]) == 11
    # The children ran under the worker's parent run, each with its own flow run in the API.
    book = next(c for c in report["criteria"] if c["key"] == "book_state")
    assert book["status"] == "PASS", book["evidence"]
    children = {s["step"]: s for s in report["steps"]}
    assert children["validate-capture"]["status"] == "completed"
    child = server.get(f"/flow_runs/{children['origin-time']['flow_run_id']}")
    assert child["parent_task_run_id"] is not None
    assert children["origin-time"]["ui_url"].startswith(server.ui_url)
    table = server.latest_artifact("go-no-go-criteria")
    assert [r["status"] for r in json.loads(table["data"])] == [
        c["status"] for c in report["criteria"]
    ]
