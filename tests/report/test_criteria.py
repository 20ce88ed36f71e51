"""The generic criterion types: JSON round trip and the fold into one status."""

from __future__ import annotations

import json

from feedcheck.report.criteria import CriterionResult, Status, overall_status


def _c(status: Status) -> CriterionResult:
    return CriterionResult("x < 1", status, 0.5, 1.0, "measured on y", "%")


def test_round_trip_is_plain_json():
    c = CriterionResult("p95 < 100 ms", Status.FAIL, 120_000_000, 100_000_000, "stream z", "ns")
    raw = json.loads(json.dumps(c.to_json()))
    assert raw["status"] == "FAIL" and CriterionResult.from_json(raw) == c


def test_overall_status_fails_first_then_unknown():
    assert overall_status([_c(Status.PASS), _c(Status.PASS)]) is Status.PASS
    assert overall_status([_c(Status.PASS), _c(Status.UNKNOWN)]) is Status.UNKNOWN
    assert overall_status([_c(Status.UNKNOWN), _c(Status.FAIL)]) is Status.FAIL
    assert overall_status([]) is Status.UNKNOWN  # no evidence is never a pass
