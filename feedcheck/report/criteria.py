"""Success criteria as data: a status, the measured value, the threshold and the evidence.

Every analysis states its criteria with these types and the go/no-go report folds them. A
criterion with no evidence is UNKNOWN, never PASS (DESIGN.md, go/no-go criteria).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Status(str, Enum):
    """Outcome of one criterion. The string values are what JSON and reports show."""

    PASS = "PASS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"


#: JSON-safe scalar a criterion can carry as its value or threshold.
Scalar = int | float | str | bool | None


@dataclass(frozen=True)
class CriterionResult:
    """One evaluated criterion.

    Attributes:
        name: stable, human-readable name (e.g. "origin_time missing/invalid < 5 %").
        status: PASS, FAIL or UNKNOWN (the data needed was absent).
        value: the measured figure the status rests on (None when UNKNOWN); units in `unit`.
        threshold: the limit it was compared with, in the same unit.
        evidence: one or two sentences saying what was measured on what, and where it failed.
        unit: unit of `value` and `threshold` ("%", "ns", "" for none).
    """

    name: str
    status: Status
    value: Scalar
    threshold: Scalar
    evidence: str
    unit: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "value": self.value,
            "threshold": self.threshold,
            "evidence": self.evidence,
            "unit": self.unit,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> CriterionResult:
        return cls(
            name=raw["name"],
            status=Status(raw["status"]),
            value=raw["value"],
            threshold=raw["threshold"],
            evidence=raw["evidence"],
            unit=raw.get("unit", ""),
        )


def overall_status(criteria: Iterable[CriterionResult]) -> Status:
    """FAIL if any criterion fails, else UNKNOWN if any is unknown (or there are none), else PASS."""
    statuses = [c.status for c in criteria]
    if Status.FAIL in statuses:
        return Status.FAIL
    if not statuses or Status.UNKNOWN in statuses:
        return Status.UNKNOWN
    return Status.PASS
