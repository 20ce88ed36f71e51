"""Capture progress and summary as text and markdown (progress artifact, logs, CLI, summary artifact)."""

from __future__ import annotations

from feedcheck.binance.capture_config import CaptureConfig, CaptureProgress, CaptureSummary


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def capture_progress_text(p: CaptureProgress) -> str:
    """One line: counts, levels/s, gaps, resyncs, reconnects, bytes, last update ids."""
    ids = ", ".join(f"{s} u={u}" for s, u in sorted(p.last_update_id.items()))
    return (
        f"{p.elapsed_s:,.0f} s: {p.depth_events:,} depth events, {p.trades:,} trades, "
        f"{p.levels_per_s:,.0f} levels/s, {p.gaps} gaps, {p.resyncs} resyncs, "
        f"{p.reconnects} reconnects, {_mib(p.bytes_written)}" + (f"; {ids}" if ids else "")
    )


def capture_summary_text(s: CaptureSummary) -> str:
    return (
        f"captured {s.elapsed_s:,.0f} s ({s.stopped_reason}): {s.frames:,} frames, "
        f"{s.depth_events:,} depth events, {s.trades:,} trades, {s.levels:,} levels "
        f"({s.levels_per_s:,.0f}/s), {s.gaps} gaps, {s.resyncs} resyncs, {s.reconnects} reconnects, "
        f"{s.snapshots} snapshots (+{s.verify_snapshots} verification), "
        f"{_mib(s.bytes_written)} in {len(s.files)} file(s); "
        f"CPU {s.cpu_s:,.1f} s"
    )


def capture_summary_markdown(
    s: CaptureSummary, config: CaptureConfig, regime: str, run_name: str
) -> str:
    """The `capture-summary` artifact."""
    rows = [
        ("regime", regime),
        ("symbols", ", ".join(config.symbols)),
        ("stream URL", f"`{s.url}`"),
        ("stopped", s.stopped_reason),
        ("duration", f"{s.elapsed_s:,.1f} s of {config.duration_s:,.0f} s"),
        ("frames / depth events / trades", f"{s.frames:,} / {s.depth_events:,} / {s.trades:,}"),
        ("levels (per s)", f"{s.levels:,} ({s.levels_per_s:,.0f}/s)"),
        ("sequence gaps (overflow gaps)", f"{s.gaps} ({s.overflow_gaps})"),
        ("resyncs / snapshots / REST retries", f"{s.resyncs} / {s.snapshots} / {s.rest_retries}"),
        (
            "verification snapshots (discarded)",
            f"{s.verify_snapshots} ({s.verify_snapshots_discarded})"
            if config.verify_snapshot_interval_s is not None
            else "off",
        ),
        ("reconnects (roll-overs)", f"{s.reconnects} ({s.rollovers})"),
        ("frames dropped", f"{s.frames_dropped:,}"),
        ("bytes written", _mib(s.bytes_written)),
        (
            "CPU",
            f"{s.cpu_s:,.1f} s ({100 * s.cpu_s / s.elapsed_s:.1f} % of one core)"
            if s.elapsed_s
            else "-",
        ),
    ]
    lines = [f"# Capture `{regime}` ({run_name})", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    lines += ["", "## Files", ""] + [f"- `{f}`" for f in s.files]
    lines += [
        "",
        f"Validate with `feedcheck validate-capture {config.out_dir}` (flow `validate-capture`).",
    ]
    return "\n".join(lines) + "\n"
