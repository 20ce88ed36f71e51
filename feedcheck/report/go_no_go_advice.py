"""The recommendations the plan asks of Epic 1, written from the evidence: the timestamp strategy,
the decimal strategy, the memory approach, and what to change before Epic 2 (the plan's risk
table, applied to every criterion that did not pass)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from feedcheck.report.criteria import Status

if TYPE_CHECKING:
    from feedcheck.report.go_no_go import EpicCriterion, Evidence

MIB = 2**20

#: The plan's risk table ("Risk Mitigation"), per criterion key: what to do when it fails.
ON_FAIL = {
    "origin_missing": "use received_time (Lake's `timestamp`) for the streams over the limit; "
    "ask the vendor for clock sync as the fallback",
    "skew_p95": "order by origin_time but budget for the measured skew; request vendor clock "
    "sync, or correct received_time by the measured offset before Epic 2 relies on it",
    "timestamp_strategy": "rerun origin-time on the missing streams until each has a "
    "recommendation",
    "captures_complete": "let the capture/us-open, capture/weekend and capture/event deployments "
    "finish a full 24 h run each",
    "capture_gaps": "find the cause of each gap (the positions are in validate-capture's JSON) "
    "before trusting captures as golden samples",
    "book_state": "the rebuilt book disagrees with the exchange: fix sync before Epic 2",
    "delta_gap_ratio": "rebuild from Lake `book` snapshots at each gap (snapshot "
    "reconstruction), or lower the fidelity target",
    "memory_p95": "stream in smaller windows (row groups, DuckDB memory_limit); else larger "
    "hardware",
    "throughput": "optimise the critical path (the batch engine, not per-event awaits); else "
    "batch processing",
    "decimals": "neither Decimal128 nor int64 ticks round-trip exactly: fix before any price "
    "leaves the parser",
    "io_month": "move to faster storage or a columnar layout with fewer, larger files",
}


def recommendations(
    criteria: Sequence[EpicCriterion], evidence: Evidence
) -> tuple[tuple[str, str], ...]:
    """(topic, text) pairs, in the plan's order."""
    return (
        ("timestamp strategy", _timestamps(evidence)),
        ("decimal strategy", _decimals(evidence)),
        ("memory approach", _memory(evidence)),
        ("before Epic 2", _before_epic2(criteria)),
    )


def _timestamps(evidence: Evidence) -> str:
    result = evidence.origin_time
    if result is None or not result.streams:
        return "unknown: Story 1.1 did not run on any data, so no clock can be recommended yet"
    by_kind: dict[str, list[str]] = defaultdict(list)
    first_reason: dict[str, str] = {}
    for s in result.streams:
        rec = s.recommendation
        if rec is None:
            continue
        by_kind[rec.kind.value].append(s.key)
        if rec.reasons:
            first_reason.setdefault(rec.kind.value, f"{s.key}: {rec.reasons[0]}")
    parts = [
        f"{kind} for {len(streams)} stream(s) ({', '.join(streams)})"
        + (f"; e.g. {first_reason[kind]}" if kind in first_reason else "")
        for kind, streams in sorted(by_kind.items())
    ]
    return (
        "; ".join(parts)
        + f". Measured on {result.data_kind} data; order by origin_time where recommended and "
        "keep received_time alongside, since both clocks are needed for latency models."
    )


def _spike_result(evidence: Evidence, check: str) -> dict[str, Any] | None:
    if evidence.spike is None:
        return None
    c = next((c for c in evidence.spike.checks if c.name == check), None)
    return c.result if c is not None and c.result else None


def _decimals(evidence: Evidence) -> str:
    result = _spike_result(evidence, "decimals")
    if result is None:
        return "unknown: the Decimal128 check did not run"
    verdicts = {c["name"]: c["status"] for c in result.get("criteria", [])}
    speed = result.get("speed", [])
    slow = max(speed, key=lambda s: s["ratio"], default=None)
    text = (
        f"Decimal128 works: {verdicts.get('Decimal128 works', 'UNKNOWN')}; "
        f"int64 fallback ready: {verdicts.get('int64 fallback ready', 'UNKNOWN')}. "
    )
    if verdicts.get("int64 fallback ready") == "PASS":
        text += (
            "Store prices and quantities as int64 ticks/lots with the scale in Parquet metadata "
            "(exact, and the fastest path); parse exchange strings straight to ticks; sum in "
            "Int128; keep Decimal128 for display and export."
        )
    elif verdicts.get("Decimal128 works") == "PASS":
        text += "Use Decimal128 end to end until the int64 path passes."
    if slow is not None:
        text += (
            f" Slowest Decimal operation measured: {slow['engine']} {slow['operation']} "
            f"{slow['ratio']:.2f}x int64."
        )
    return text


def _memory(evidence: Evidence) -> str:
    result = _spike_result(evidence, "memory")
    profile = (result or {}).get("profile")
    if not profile or profile.get("p95_bytes") is None:
        return "unknown: the memory profile did not complete"
    text = (
        f"Streaming row groups (no whole-day loads): reconstruction + analyses of "
        f"{profile.get('rows') or 0:,} rows peaked at {profile['peak_bytes'] / MIB:,.0f} MiB "
        f"(P95 {profile['p95_bytes'] / MIB:,.0f} MiB) against a "
        f"{profile['budget_bytes'] / 2**30:g} GiB budget."
    )
    capped = (result or {}).get("capped")
    if capped:
        cap = capped["cap_bytes"] / 2**30
        text += f" Under a hard {cap:g} GiB address-space cap it " + (
            "still completes." if capped["completed"] else f"fails: {capped['error']}."
        )
    return text


def _before_epic2(criteria: Sequence[EpicCriterion]) -> str:
    todo = []
    for c in criteria:
        if c.result.status is Status.FAIL:
            todo.append(f"{c.result.name} FAILED: {ON_FAIL.get(c.key, 'investigate')}")
        elif c.result.status is Status.UNKNOWN:
            todo.append(f"{c.result.name} is UNKNOWN: measure it ({c.result.evidence})")
    if not todo:
        return "nothing blocks Epic 2: every criterion passed."
    return " · ".join(todo)
