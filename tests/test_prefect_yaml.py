"""prefect.yaml stays in step with the flows: every entrypoint loads and every parameter exists."""

from __future__ import annotations

from pathlib import Path

import yaml
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

ROOT = Path(__file__).resolve().parents[1]


def _deployments() -> list[dict]:
    return yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]


def test_every_deployment_loads_and_its_parameters_exist(monkeypatch):
    monkeypatch.chdir(ROOT)
    names = []
    for dep in _deployments():
        flow = load_flow_from_entrypoint(dep["entrypoint"])
        accepted = set(parameter_schema(flow).properties)
        unknown = set(dep.get("parameters", {})) - accepted
        assert not unknown, f"{dep['name']}: unknown parameters {unknown}"
        names.append(f"{flow.name}/{dep['name']}")
    assert names == [
        "download/daily",
        "download/manual",
        "origin-time/manual",
        "capture/us-open",
        "capture/weekend",
        "capture/event",
        "validate-capture/manual",
        "validation-spike/manual",
        "go-no-go/manual",
        "go-no-go/demo",
        "backfill/monthly",
    ]


def test_schedules_have_explicit_timezones():
    for dep in _deployments():
        for schedule in dep.get("schedules") or []:
            assert schedule.get("timezone"), f"{dep['name']}: schedule without timezone"


def test_schedules_parse_as_prefect_cron_schedules():
    from prefect.schedules import Cron

    parsed = []
    for dep in _deployments():
        for schedule in dep.get("schedules") or []:
            parsed.append(Cron(schedule["cron"], timezone=schedule["timezone"]))
    assert [s.timezone for s in parsed] == ["UTC", "America/New_York", "UTC", "UTC"]
