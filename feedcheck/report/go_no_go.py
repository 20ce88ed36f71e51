"""The epic's go/no-go: every criterion of DESIGN.md's table, judged from the stories' results.

Pure: it takes the results the child flows returned (or wrote as JSON), the thresholds, and what
ran, and returns a `GoNoGoReport`. A criterion whose evidence is missing (its story did not run,
failed, or measured nothing) is UNKNOWN, never PASS; the verdict is GO only when every criterion
passes.

Story 1.1's criteria are re-evaluated from the per-stream figures with these thresholds; the
spike's are re-judged from their measured values, so `--reuse` of an older result applies
today's thresholds; the capture criteria are computed here from the capture validation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from feedcheck.analysis.origin_time_streams import OriginTimeResult
from feedcheck.analysis.origin_time_verdict import evaluate_criteria
from feedcheck.binance.validate_result import CaptureValidation, RecordingValidation
from feedcheck.report.criteria import CriterionResult, Status
from feedcheck.report.spike import SpikeResult
from feedcheck.report.thresholds import GoNoGoThresholds

GO = "GO"
NO_GO = "NO-GO"
NS_PER_HOUR = 3_600_000_000_000
GIB = 2**30
#: A capture run for `capture_min_hours` records from its first to its last frame, a little less
#: than the scheduled span (connect, snapshot, stop): this share of the span counts as complete.
CAPTURE_SPAN_SLACK = 0.01
#: The plan sizes a month of data at `io_month_gb` over this many days.
MONTH_DAYS = 30
#: Regime name of a recording that sits directly in the capture root.
ROOT_REGIME = "(capture root)"


class Step(str, Enum):
    """The children of the go/no-go, in the order they run."""

    DOWNLOAD = "download"
    ORIGIN_TIME = "origin-time"
    SPIKE = "validation-spike"
    CAPTURES = "rehearsal-captures"
    VALIDATE_CAPTURE = "validate-capture"


class StepStatus(str, Enum):
    COMPLETED = "completed"
    FAILED = "failed"  # it ran and raised: its error is kept, its criteria are UNKNOWN
    REUSED = "reused"  # --reuse: the latest result found on disk
    MISSING = "missing"  # --reuse found no result
    SKIPPED = "skipped"  # not asked for in this run


@dataclass(frozen=True)
class StepRun:
    """One child of the go/no-go: how it ended and where its evidence is.

    Attributes:
        step: which child.
        status: completed, failed, reused, missing or skipped.
        error: the child's error (failed) or why nothing was found (missing).
        result_path: its JSON result on disk, when there is one.
        flow_run_id: the child flow run's id, when it ran under Prefect.
        ui_url: that run's page in the Prefect UI, when the UI's address is known.
        seconds: wall time of the child (None when reused).
    """

    step: Step
    status: StepStatus
    error: str | None = None
    result_path: str | None = None
    flow_run_id: str | None = None
    ui_url: str | None = None
    seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step.value,
            "status": self.status.value,
            "error": self.error,
            "result_path": self.result_path,
            "flow_run_id": self.flow_run_id,
            "ui_url": self.ui_url,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> StepRun:
        return cls(
            Step(raw["step"]),
            StepStatus(raw["status"]),
            raw.get("error"),
            raw.get("result_path"),
            raw.get("flow_run_id"),
            raw.get("ui_url"),
            raw.get("seconds"),
        )


@dataclass(frozen=True)
class EpicCriterion:
    """One row of the go/no-go table: DESIGN.md's criterion, the story and step it rests on."""

    key: str
    story: str
    step: Step
    result: CriterionResult

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "story": self.story,
            "step": self.step.value,
            **self.result.to_json(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> EpicCriterion:
        return cls(raw["key"], raw["story"], Step(raw["step"]), CriterionResult.from_json(raw))


@dataclass(frozen=True)
class Evidence:
    """What the children produced; None where a child did not run, failed or left nothing.

    Attributes:
        origin_time: Story 1.1's result over the staged Lake data.
        spike: Story 1.2.5's result.
        captures: Story 1.2's validation of every recording under `capture_root`.
        capture_root: the directory whose sub-folders name the regimes (`captures/us-open/...`).
        steps: how each child ended.
    """

    origin_time: OriginTimeResult | None = None
    spike: SpikeResult | None = None
    captures: CaptureValidation | None = None
    capture_root: str | None = None
    steps: tuple[StepRun, ...] = ()

    def step(self, step: Step) -> StepRun | None:
        return next((s for s in self.steps if s.step is step), None)


@dataclass(frozen=True)
class GoNoGoReport:
    """The verdict, every criterion, and what it rests on (`provenance`, `machine`, `steps`)."""

    criteria: tuple[EpicCriterion, ...]
    thresholds: GoNoGoThresholds
    steps: tuple[StepRun, ...]
    provenance: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    recommendations: tuple[tuple[str, str], ...] = ()
    created: str | None = None
    report_dir: str | None = None

    @property
    def verdict(self) -> str:
        """GO only when every criterion passes (and there is at least one)."""
        ok = bool(self.criteria) and all(c.result.status is Status.PASS for c in self.criteria)
        return GO if ok else NO_GO

    def count(self, status: Status) -> int:
        return sum(c.result.status is status for c in self.criteria)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "counts": {s.value: self.count(s) for s in Status},
            "criteria": [c.to_json() for c in self.criteria],
            "thresholds": self.thresholds.to_json(),
            "steps": [s.to_json() for s in self.steps],
            "provenance": self.provenance,
            "machine": self.machine,
            "recommendations": [{"topic": t, "text": x} for t, x in self.recommendations],
            "created": self.created,
            "report_dir": self.report_dir,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> GoNoGoReport:
        return cls(
            criteria=tuple(EpicCriterion.from_json(c) for c in raw["criteria"]),
            thresholds=GoNoGoThresholds.from_json(raw["thresholds"]),
            steps=tuple(StepRun.from_json(s) for s in raw["steps"]),
            provenance=raw.get("provenance", {}),
            machine=raw.get("machine", {}),
            recommendations=tuple((r["topic"], r["text"]) for r in raw["recommendations"]),
            created=raw.get("created"),
            report_dir=raw.get("report_dir"),
        )


# --- the criteria ------------------------------------------------------------------------------


def _unknown(name: str, why: str, threshold: Any = None, unit: str = "") -> CriterionResult:
    return CriterionResult(name, Status.UNKNOWN, None, threshold, why, unit)


def _why_absent(evidence: Evidence, step: Step) -> str:
    run = evidence.step(step)
    if run is None or run.status is StepStatus.SKIPPED:
        return f"{step.value} did not run"
    if run.status is StepStatus.FAILED:
        return f"{step.value} failed: {run.error}"
    if run.status is StepStatus.MISSING:
        return f"no {step.value} result found ({run.error})"
    return f"{step.value} left no result"


ORIGIN_NAMES = (
    ("origin_missing", "origin_time missing/invalid"),
    ("skew_p95", "received − origin skew, p95"),
    ("timestamp_strategy", "timestamp strategy"),
)


def origin_time_criteria(evidence: Evidence, t: GoNoGoThresholds) -> list[EpicCriterion]:
    """Story 1.1's three criteria, re-evaluated per stream with `t` (the negative-skew tolerance
    stays the one the analysis ran with)."""
    result = evidence.origin_time
    if result is None:
        why = _why_absent(evidence, Step.ORIGIN_TIME)
        judged = [
            _unknown(ORIGIN_NAMES[0][1], why, t.origin_missing_invalid_max_pct, "%"),
            _unknown(ORIGIN_NAMES[1][1], why, t.skew_p95_max_ms, "ms"),
            _unknown(ORIGIN_NAMES[2][1], why, "stated"),
        ]
    else:
        thresholds = replace(
            result.config.thresholds,
            missing_invalid_max_pct=t.origin_missing_invalid_max_pct,
            skew_p95_max_ns=round(t.skew_p95_max_ms * 1e6),
        )
        missing, skew, strategy = evaluate_criteria(result, thresholds)
        skew_ms = None if skew.value is None else round(float(skew.value) / 1e6, 3)
        judged = [
            replace(missing, name=ORIGIN_NAMES[0][1]),
            replace(
                skew, name=ORIGIN_NAMES[1][1], value=skew_ms, threshold=t.skew_p95_max_ms, unit="ms"
            ),
            replace(strategy, name=ORIGIN_NAMES[2][1], threshold="stated"),
        ]
    return [
        EpicCriterion(k, "1.1", Step.ORIGIN_TIME, c)
        for (k, _), c in zip(ORIGIN_NAMES, judged, strict=True)
    ]


def regime_of(recording: RecordingValidation, capture_root: str | None) -> str:
    """The regime a recording belongs to: the first folder below `capture_root` (the capture
    flow writes `<out_dir>/<regime>/...`), else the folder the recording is in."""
    first = Path(recording.files[0])
    if capture_root is not None:
        try:
            parts = first.resolve().relative_to(Path(capture_root).resolve()).parts
        except ValueError:
            parts = ()
        if len(parts) > 1:
            return parts[0]
        if len(parts) == 1:
            return ROOT_REGIME
    return first.parent.name


def _span(ns: int) -> str:
    """A recording's span, in h (s when under an hour, so rehearsals do not read as 0.00 h)."""
    if ns < NS_PER_HOUR:
        return f"{ns / 1e9:.0f} s"
    return f"{ns / NS_PER_HOUR:.2f} h"


def capture_criteria(evidence: Evidence, t: GoNoGoThresholds) -> list[EpicCriterion]:
    """Story 1.2's three criteria from the validation of every recording found:
    complete captures in distinct regimes, zero sequence gaps, book state validated."""
    names = ("24 h captures, three regimes", "capture sequence gaps", "order-book state validated")
    validation = evidence.captures
    recordings = validation.recordings if validation is not None else ()
    if not recordings:
        why = (
            _why_absent(evidence, Step.VALIDATE_CAPTURE)
            if validation is None
            else f"no recording under {evidence.capture_root}"
        )
        judged = [
            _unknown(names[0], why, t.capture_regimes, "regimes"),
            _unknown(names[1], why, t.capture_max_gaps, "gaps"),
            _unknown(names[2], why, 0, "disagreements"),
        ]
    else:
        judged = [
            _regimes_criterion(names[0], recordings, evidence.capture_root, t),
            _gaps_criterion(names[1], recordings, t),
            _book_criterion(names[2], recordings),
        ]
    keys = ("captures_complete", "capture_gaps", "book_state")
    return [
        EpicCriterion(k, "1.2", Step.VALIDATE_CAPTURE, c) for k, c in zip(keys, judged, strict=True)
    ]


def _regimes_criterion(
    name: str, recordings: Sequence[RecordingValidation], root: str | None, t: GoNoGoThresholds
) -> CriterionResult:
    longest: dict[str, int] = {}
    for rec in recordings:
        regime = regime_of(rec, root)
        longest[regime] = max(longest.get(regime, 0), rec.duration_ns)
    needed_ns = t.capture_min_hours * NS_PER_HOUR * (1 - CAPTURE_SPAN_SLACK)
    complete = sorted(r for r, ns in longest.items() if ns >= needed_ns)
    parts = [
        f"{r} {_span(ns)}" + ("" if r in complete else f" (< {t.capture_min_hours:g} h)")
        for r, ns in sorted(longest.items())
    ]
    ok = len(complete) >= t.capture_regimes
    return CriterionResult(
        name,
        Status.PASS if ok else Status.FAIL,
        len(complete),
        t.capture_regimes,
        f"{len(recordings)} recording(s) in {len(longest)} regime(s), longest per regime: "
        + ", ".join(parts)
        + f"; {len(complete)} complete of {t.capture_regimes} needed",
        "regimes",
    )


def _gaps_criterion(
    name: str, recordings: Sequence[RecordingValidation], t: GoNoGoThresholds
) -> CriterionResult:
    depth = sum(r.depth_events for r in recordings)
    if depth == 0:
        return _unknown(name, "no depth event in any recording", t.capture_max_gaps, "gaps")
    gaps = sum(r.gaps for r in recordings)
    where = [f"{r.label} {r.gaps}" for r in recordings if r.gaps]
    return CriterionResult(
        name,
        Status.PASS if gaps <= t.capture_max_gaps else Status.FAIL,
        gaps,
        t.capture_max_gaps,
        f"U/u chain over {depth:,} depth events in {len(recordings)} recording(s): {gaps} gap(s)"
        + (f" ({', '.join(where)})" if where else "")
        + f", {sum(r.resyncs for r in recordings)} resync(s)",
        "gaps",
    )


def _book_criterion(name: str, recordings: Sequence[RecordingValidation]) -> CriterionResult:
    checks = sum(r.snapshot_checks for r in recordings)
    mismatches = sum(r.snapshot_mismatches for r in recordings)
    crossed = sum(r.crossed for r in recordings)
    evidence = (
        f"book rebuilt from the in-band snapshots compared exactly with {checks} later "
        f"snapshot(s): {mismatches} mismatch(es); {crossed} crossed-book moment(s)"
    )
    if mismatches or crossed:
        status = Status.FAIL
    elif checks == 0:
        status = Status.UNKNOWN
        evidence += "; no later snapshot to compare the rebuilt book with, so nothing is proven"
    else:
        status = Status.PASS
    return CriterionResult(name, status, mismatches + crossed, 0, evidence, "disagreements")


def _rejudge(
    child: CriterionResult | None,
    name: str,
    why_absent: str,
    threshold: Any,
    unit: str,
    measure: Callable[[Any], float | None],
    ok: Callable[[float], bool],
    shown: str,
) -> CriterionResult:
    """`child` judged again against `threshold`: `measure` turns its value into `unit`, `ok` says
    whether that passes. A child that was UNKNOWN stays UNKNOWN unless the value fails."""
    if child is None:
        return _unknown(name, why_absent, threshold, unit)
    value = None if child.value is None else measure(child.value)
    if value is None:
        return replace(child, name=name, status=Status.UNKNOWN, threshold=threshold, unit=unit)
    if not ok(value):
        status = Status.FAIL
    else:
        status = Status.UNKNOWN if child.status is Status.UNKNOWN else Status.PASS
    return CriterionResult(name, status, value, threshold, f"{shown}: {child.evidence}", unit)


def spike_criteria(evidence: Evidence, t: GoNoGoThresholds) -> list[EpicCriterion]:
    """Story 1.2.5's five criteria, re-judged from the spike's measured values with `t`."""
    spike = evidence.spike
    why = _why_absent(evidence, Step.SPIKE)
    checks = {c.name: c for c in spike.checks} if spike is not None else {}

    def first(check: str) -> CriterionResult | None:
        c = checks.get(check)
        if c is None:
            return None
        return c.criteria[0] if c.criteria else None

    def child_absent(check: str) -> str:
        c = checks.get(check)
        if spike is None:
            return why
        if c is None:
            return f"the spike ran no {check} check"
        return f"{check} check could not run: {c.error}"

    month_mb_s = t.io_month_gb * 1e9 / (MONTH_DAYS * 86_400) / 1e6
    judged = [
        (
            "delta_gap_ratio",
            _rejudge(
                first("gaps"), "delta gap ratio", child_absent("gaps"),
                t.delta_gap_ratio_max_pct, "%", float,
                lambda v: v < t.delta_gap_ratio_max_pct,
                f"< {t.delta_gap_ratio_max_pct:g} %",
            ),
        ),
        (
            "memory_p95",
            _rejudge(
                first("memory"), "memory, P95 over the run", child_absent("memory"),
                t.memory_p95_max_gib, "GiB", lambda v: round(float(v) / GIB, 3),
                lambda v: v < t.memory_p95_max_gib,
                f"< {t.memory_p95_max_gib:g} GiB",
            ),
        ),
        (
            "throughput",
            _rejudge(
                first("throughput"), "throughput", child_absent("throughput"),
                t.throughput_min_events_per_s, "events/s", float,
                lambda v: v >= t.throughput_min_events_per_s,
                f">= {t.throughput_min_events_per_s:,.0f} events/s",
            ),
        ),
        (
            "decimals",
            _decimals(first("decimals"), child_absent("decimals")),
        ),
        (
            "io_month",
            _rejudge(
                first("io"), f"I/O supports {t.io_month_gb:g} GB/month", child_absent("io"),
                round(month_mb_s, 4), "MB/s", lambda v: round(float(v), 1),
                lambda v: v >= month_mb_s,
                f"needs >= {month_mb_s:.4f} MB/s for {t.io_month_gb:g} GB over {MONTH_DAYS} days",
            ),
        ),
    ]  # fmt: skip
    return [EpicCriterion(k, "1.2.5", Step.SPIKE, c) for k, c in judged]


def _decimals(child: CriterionResult | None, why_absent: str) -> CriterionResult:
    name = "Decimal128 works or int64 fallback"
    if child is None:
        return _unknown(name, why_absent, "yes")
    value = {Status.PASS: "yes", Status.FAIL: "no"}.get(child.status)
    return CriterionResult(name, child.status, value, "yes", child.evidence)


def evaluate(
    evidence: Evidence,
    thresholds: GoNoGoThresholds,
    *,
    provenance: dict[str, Any] | None = None,
    machine: dict[str, Any] | None = None,
    created: str | None = None,
    report_dir: str | None = None,
) -> GoNoGoReport:
    """Every criterion of DESIGN.md's table, in its order, plus the recommendations."""
    from feedcheck.report.go_no_go_advice import recommendations

    origin = origin_time_criteria(evidence, thresholds)
    criteria = (
        *origin,
        *capture_criteria(evidence, thresholds),
        *spike_criteria(evidence, thresholds),
    )
    return GoNoGoReport(
        criteria=criteria,
        thresholds=thresholds,
        steps=evidence.steps,
        provenance=provenance or {},
        machine=machine or {},
        recommendations=recommendations(criteria, evidence),
        created=created,
        report_dir=report_dir,
    )


__all__ = [
    "GO",
    "NO_GO",
    "EpicCriterion",
    "Evidence",
    "GoNoGoReport",
    "Step",
    "StepRun",
    "StepStatus",
    "evaluate",
]
