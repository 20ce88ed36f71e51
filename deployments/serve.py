"""Single-machine scheduling without a work pool: `python deployments/serve.py [NAME ...]`.

Serves the deployments of prefect.yaml (all, or those named `flow/deployment`) from this process,
with the same parameters, schedules and tags, so the two ways of running never drift apart. Needs
a running Prefect server (`prefect server start`) for schedules and the UI. Use prefect.yaml with
a process worker (`deployments/setup.sh`) when a separate worker should run them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml
from prefect import serve
from prefect.flows import load_flow_from_entrypoint
from prefect.schedules import Cron

ROOT = Path(__file__).resolve().parents[1]


def deployments_from_yaml(path: Path = ROOT / "prefect.yaml", only: set[str] | None = None):
    """`RunnerDeployment`s for the entries of prefect.yaml (`only`: `flow/name` keys to keep)."""
    out = []
    for entry in yaml.safe_load(path.read_text())["deployments"]:
        file, function = entry["entrypoint"].split(":")
        flow = load_flow_from_entrypoint(f"{ROOT / file}:{function}")
        key = f"{flow.name}/{entry['name']}"
        if only and key not in only:
            continue
        schedules = [
            Cron(s["cron"], timezone=s["timezone"], active=s.get("active", True))
            for s in entry.get("schedules") or []
        ]
        out.append(
            flow.to_deployment(
                name=entry["name"],
                description=entry.get("description"),
                parameters=entry.get("parameters") or {},
                schedules=schedules,
                tags=entry.get("tags") or [],
            )
        )
    if only and len(out) != len(only):
        raise SystemExit(f"unknown deployment(s) among {', '.join(sorted(only))}")
    return out


def main(argv: list[str]) -> None:
    os.chdir(
        ROOT
    )  # flows write reports/, staging/, captures/ relative to the repo, as a worker does
    serve(*deployments_from_yaml(only=set(argv) or None))


if __name__ == "__main__":
    main(sys.argv[1:])
