"""Flow tests: the session's Prefect server, plus the builtin `faults` Lake published on moto S3."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest

from feedcheck.lake.source import (
    ENV_ACCESS_KEY_ID,
    ENV_SECRET_ACCESS_KEY,
    VENDOR_BUCKET,
    VENDOR_PREFIX,
)
from feedcheck.lake.synthetic import GroundTruth, generate_dataset, load_builtin_scenario
from feedcheck.testing.s3_server import (
    MOTO_ACCESS_KEY_ID,
    MOTO_SECRET_ACCESS_KEY,
    moto_s3_server,
    publish_tree,
)


@pytest.fixture(autouse=True)
def _harness(prefect_harness):
    """Every flow test runs against the session's Prefect server."""
    yield


@dataclass(frozen=True)
class PublishedLake:
    endpoint: str
    truth: GroundTruth
    scenario_start: date
    scenario_end: date
    symbols: list[str]


@pytest.fixture(scope="module")
def published_faults(tmp_path_factory) -> Iterator[PublishedLake]:
    scenario = load_builtin_scenario("faults")
    root = tmp_path_factory.mktemp("lake")
    truth = generate_dataset(scenario, root)
    with moto_s3_server() as endpoint:
        publish_tree(endpoint, root, VENDOR_BUCKET, VENDOR_PREFIX)
        yield PublishedLake(endpoint, truth, scenario.start, scenario.end, list(scenario.symbols))


@pytest.fixture
def lake_keys(monkeypatch):
    monkeypatch.setenv(ENV_ACCESS_KEY_ID, MOTO_ACCESS_KEY_ID)
    monkeypatch.setenv(ENV_SECRET_ACCESS_KEY, MOTO_SECRET_ACCESS_KEY)
