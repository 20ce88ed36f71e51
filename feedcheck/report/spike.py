"""Story 1.2.5 (validation spike) results: one JSON-safe section per check plus its criteria,
rendered as markdown and per-check table rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from feedcheck.report.criteria import CriterionResult, Status, overall_status

if TYPE_CHECKING:
    from feedcheck.analysis.memory import MemoryProfile

#: Key of a check's `result` holding figure rows shown under its criteria (table + markdown).
FIGURES_KEY = "figures"
_MIB = 1 << 20
_GIB = 1 << 30


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
    for check in result.checks:
        figures = check.result.get(FIGURES_KEY) or []
        if figures:
            lines += ["", f"## {check.name}: figures", "", "| figure | status | value | evidence |",
                      "|---|---|---|---|"]  # fmt: skip
            for f in figures:
                value = "-" if f["value"] is None else f"{f['value']} {f['unit']}".strip()
                evidence = f["evidence"].replace("|", "\\|")
                lines.append(f"| {f['criterion']} | {f['status'] or '-'} | {value} | {evidence} |")
    errors = [c for c in result.checks if c.error]
    if errors:
        lines += ["", "## Checks that could not run", ""]
        lines += [f"- `{c.name}`: {c.error}" for c in errors]
    return "\n".join(lines) + "\n"


def check_table_rows(check: SpikeCheck) -> list[dict[str, Any]]:
    """The check's criteria as table rows (JSON-safe: value and threshold as text), then its
    figure rows (`result["figures"]`, same keys) when it has any."""
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
    ] + list(check.result.get(FIGURES_KEY) or [])


def _figure(
    name: str, value: str | None, unit: str, evidence: str, status: str | None = None
) -> dict[str, Any]:
    return {"criterion": name, "status": status, "value": value, "threshold": None,
            "unit": unit, "evidence": evidence}  # fmt: skip


def _mib(n: int | None) -> str | None:
    return None if n is None else f"{n / _MIB:.0f}"


def memory_figure_rows(
    profile: MemoryProfile, capped: MemoryProfile | None, small_host_bytes: int
) -> list[dict[str, Any]]:
    """The memory check's evidence beyond its criterion: peak and P95 RSS, each phase's peak,
    P95 against the small-host budget, and the hard-cap rerun (did it complete; if not, what
    failed). Rows use `check_table_rows`' keys; status is None for a plain figure."""
    from feedcheck.analysis.memory import memory_criterion

    samples = f"{profile.samples} RSS samples every {profile.interval_s:g} s (children included)"
    rows = [
        _figure("peak RSS", _mib(profile.peak_bytes), "MiB",
                f"max of {samples}; child VmHWM {_mib(profile.child_hwm_bytes) or '-'} MiB"),
        _figure("P95 RSS", _mib(profile.p95_bytes), "MiB", f"95th percentile of {samples}"),
    ]  # fmt: skip
    for ph in profile.phases:
        rows.append(
            _figure(
                f"phase {ph.name}", _mib(ph.sampled_peak_bytes), "MiB",
                f"sampled peak over {ph.start_s:.1f}-{ph.end_s:.1f} s; "
                f"phase VmHWM {_mib(ph.hwm_bytes)} MiB",
            )
        )  # fmt: skip
    small = memory_criterion(
        profile.p95_bytes if profile.completed else None, small_host_bytes, "the same run"
    )
    rows.append(
        _figure(
            f"small host: P95 < {small_host_bytes / _GIB:g} GiB", _mib(profile.p95_bytes), "MiB",
            small.evidence, small.status.value,
        )
    )  # fmt: skip
    if capped is not None and capped.cap_bytes is not None:
        cap = f"{capped.cap_bytes / _GIB:g} GiB"
        how = f"RLIMIT_AS {cap}, DuckDB memory_limit {capped.cap_bytes // 2 // _MIB} MB"
        done = [p.name for p in capped.phases]
        if capped.completed:
            evidence = f"completed under {how}; peak {_mib(capped.peak_bytes)} MiB"
        else:
            evidence = (
                f"did not complete under {how}: {capped.error}; phases finished: "
                f"{', '.join(done) or 'none'}"
            )
        rows.append(
            _figure(
                f"hard cap {cap} rerun", _mib(capped.peak_bytes), "MiB", evidence,
                "completed" if capped.completed else "failed",
            )
        )  # fmt: skip
    return rows
