"""Story 1.2.5 (validation spike) results: one JSON-safe section per check plus its criteria,
rendered as markdown and per-check table rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from feedcheck.report.criteria import CriterionResult, Status, overall_status


@dataclass(frozen=True)
class SpikeCheck:
    """One check of the spike: its name, its criteria and its full JSON result (or the error that
    stopped it: a check that could not run leaves its criteria UNKNOWN, never PASS)."""

    name: str
    criteria: tuple[CriterionResult, ...]
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "criteria": [c.to_json() for c in self.criteria],
            "result": self.result,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SpikeCheck:
        return cls(
            raw["name"],
            tuple(CriterionResult.from_json(c) for c in raw["criteria"]),
            raw.get("result") or {},
            raw.get("error"),
        )


@dataclass(frozen=True)
class SpikeResult:
    data: str
    checks: tuple[SpikeCheck, ...]

    @property
    def criteria(self) -> tuple[CriterionResult, ...]:
        return tuple(c for check in self.checks for c in check.criteria)

    @property
    def verdict(self) -> Status:
        return overall_status(self.criteria)

    def to_json(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "verdict": self.verdict.value,
            "criteria": [c.to_json() for c in self.criteria],
            "checks": {c.name: c.to_json() for c in self.checks},
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SpikeResult:
        """Inverse of `to_json` (the go/no-go reads `spike.json` back with it)."""
        return cls(raw["data"], tuple(SpikeCheck.from_json(c) for c in raw["checks"].values()))


def failed_check(name: str, criterion_names: tuple[str, ...], error: str) -> SpikeCheck:
    """A check that could not run: each of its criteria UNKNOWN, with the error as evidence."""
    criteria = tuple(
        CriterionResult(n, Status.UNKNOWN, None, None, f"could not run: {error}")
        for n in criterion_names
    )
    return SpikeCheck(name, criteria, {}, error)


def spike_markdown(result: SpikeResult) -> str:
    lines = [
        "# Technical validation spike (Story 1.2.5)",
        "",
        f"**Overall: {result.verdict.value}** on {result.data}",
        "",
        "| check | criterion | status | value | threshold | evidence |",
        "|---|---|---|---|---|---|",
    ]
    for check in result.checks:
        for c in check.criteria:
            value = "-" if c.value is None else f"{c.value} {c.unit}".strip()
            threshold = "-" if c.threshold is None else f"{c.threshold} {c.unit}".strip()
            evidence = c.evidence.replace("|", "\\|")
            lines.append(
                f"| {check.name} | {c.name} | **{c.status.value}** | {value} | {threshold} | "
                f"{evidence} |"
            )
    errors = [c for c in result.checks if c.error]
    if errors:
        lines += ["", "## Checks that could not run", ""]
        lines += [f"- `{c.name}`: {c.error}" for c in errors]
    return "\n".join(lines) + "\n"


def check_table_rows(check: SpikeCheck) -> list[dict[str, Any]]:
    """The check's criteria as table rows (JSON-safe: value and threshold as text)."""
    return [
        {
            "criterion": c.name,
            "status": c.status.value,
            "value": None if c.value is None else str(c.value),
            "threshold": None if c.threshold is None else str(c.threshold),
            "unit": c.unit,
            "evidence": c.evidence,
        }
        for c in check.criteria
    ]
