"""Rendering of a capture validation: markdown for the `validate-capture` artifact, table rows.

Pure functions of `binance.validate_result.CaptureValidation`; the flow publishes them.
"""

from __future__ import annotations

from typing import Any

from feedcheck.binance.validate_result import CaptureValidation, RecordingValidation

_NS_PER_S = 1_000_000_000
#: Gaps, checks and crossed moments listed per recording in the markdown (counts stay exact).
MAX_LISTED = 10


def _duration(ns: int) -> str:
    seconds = ns / _NS_PER_S
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds:,.1f} s"


def capture_validation_rows(validation: CaptureValidation) -> list[dict[str, Any]]:
    """One JSON-safe row per recording (table artifact)."""
    rows = []
    for r in validation.recordings:
        rows.append(
            {
                "recording": r.label,
                "files": len(r.files),
                "format": r.format,
                "verdict": r.verdict.value,
                "duration_s": round(r.duration_ns / _NS_PER_S, 3),
                "symbols": ", ".join(s.symbol for s in r.symbols),
                "depth_events": r.depth_events,
                "trades": r.trades,
                "gaps": r.gaps,
                "resyncs": r.resyncs,
                "snapshot_checks": r.snapshot_checks,
                "snapshot_mismatches": r.snapshot_mismatches,
                "crossed": r.crossed,
                "issues": len(r.issues),
            }
        )
    return rows


def _recording_section(r: RecordingValidation) -> list[str]:
    lines = [
        f"### {r.label}: {r.verdict.value}",
        "",
        f"{len(r.files)} file(s), {r.format} format, {_duration(r.duration_ns)} of receive time; "
        f"messages: " + ", ".join(f"{k} {v:,}" for k, v in r.messages.items()) + ".",
        "",
        "| symbol | rules | scale (price/qty dp) | depth events | syncs | gaps | resyncs "
        "| snapshot checks | mismatches | crossed |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in r.symbols:
        lines.append(
            f"| {s.symbol} | {s.variant} | {s.price_decimals}/{s.qty_decimals} "
            f"({s.scale_source}) | {s.depth_events:,} | {s.syncs} | {s.gaps} | {s.resyncs} "
            f"| {s.snapshot_checks} | {s.snapshot_mismatches} | {s.crossed} |"
        )
    for g in r.gap_positions[:MAX_LISTED]:
        lines.append(
            f"- gap ({g.rule}) {g.symbol} at {g.path}:{g.line_no}: U={g.first_update_id} "
            f"u={g.final_update_id} pu={g.prev_update_id}, expected {g.expected} "
            f"(book at {g.local_update_id})"
        )
    for c in r.checks:
        if not c.mismatches:
            continue
        first = "; ".join(
            f"{d.side} {d.price}: book {d.book_qty or '-'} vs snapshot {d.snapshot_qty or '-'}"
            for d in c.first_diffs
        )
        lines.append(
            f"- snapshot mismatch {c.symbol} at {c.path}:{c.line_no} (lastUpdateId "
            f"{c.last_update_id}, {c.mode}): {c.mismatches} of {c.levels_compared} levels; {first}"
        )
    for x in r.crossed_positions[:MAX_LISTED]:
        lines.append(
            f"- crossed {x.symbol} at {x.path}:{x.line_no} (u={x.final_update_id}): "
            f"bid {x.best_bid} >= ask {x.best_ask}"
        )
    for i in r.issues[:MAX_LISTED]:
        lines.append(f"- read issue {i.kind} at {i.path}:{i.line_no}: {i.detail}")
    return [*lines, ""]


def capture_validation_markdown(validation: CaptureValidation) -> str:
    """The `validate-capture` report: verdict, totals, then one section per recording."""
    t = validation.total()
    lines = [
        f"# Capture validation: {t['verdict']}",
        "",
        f"{t['recordings']} recording(s), {_duration(t['duration_ns'])}: "
        f"**{t['gaps']} gaps**, {t['resyncs']} resyncs, "
        f"**{t['snapshot_mismatches']} snapshot mismatches** in {t['snapshot_checks']} checks, "
        f"**{t['crossed']} crossed** book moments, {t['depth_events']:,} depth events, "
        f"{t['trades']:,} trades, {t['issues']} read issues.",
        "",
        "PASS needs 0 gaps, 0 mismatches, 0 crossed and every symbol synced at least once; "
        "a recording that never synced is UNKNOWN.",
        "",
    ]
    for r in validation.recordings:
        lines += _recording_section(r)
    return "\n".join(lines)
