"""Rendering of a download run: the manifest as table rows, a markdown summary, a terminal table.

Pure functions of the manifest summary and validation counts; the flow publishes them as artifacts
and the CLI prints them. Nothing here sees credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

from feedcheck.lake.manifest import Manifest
from feedcheck.lake.validation import MAX_CASES_PER_CHECK, failure_counts, read_counts


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    raise AssertionError("unreachable")


def manifest_table_rows(manifest: Manifest) -> list[dict[str, Any]]:
    """One JSON-safe row per staged file (dates as ISO strings: table artifacts use json.dumps)."""
    rows = []
    for e in manifest.entries:
        rows.append(
            {
                "file": e.relpath,
                "status": e.status,
                "bytes": e.size_bytes,
                "rows": e.rows,
                "row_groups": e.row_groups,
                "md5_ok": e.md5_ok,
                "footer_ok": e.footer_ok,
                "attempts": e.attempts,
                "seconds": round(e.seconds, 3),
                "error": e.error or "",
            }
        )
    return rows


def validation_totals(validation: dict[str, dict[str, int]]) -> dict[str, int]:
    """Failing rows per check, summed over partitions (checks with zero failures left out)."""
    totals: dict[str, int] = {}
    for counts in validation.values():
        for check, n in counts.items():
            if n:
                totals[check] = totals.get(check, 0) + n
    return dict(sorted(totals.items()))


def download_summary_markdown(
    summary: dict[str, Any],
    missing_partitions: list[str],
    validation: dict[str, dict[str, int]],
    source: str,
) -> str:
    """The `download-summary` artifact: totals, per-table rows, missing days, schema findings."""
    status = summary["by_status"]
    lines = [
        "# Crypto Lake download",
        "",
        f"Source: `{source}`",
        "",
        f"**{summary['files']} files**, {_human_bytes(summary['bytes'])}, {summary['rows']:,} rows: "
        + ", ".join(f"{n} {s}" for s, n in status.items()),
        "",
        "| table | files | bytes | rows |",
        "|---|---:|---:|---:|",
    ]
    for table, t in summary["by_table"].items():
        lines.append(f"| {table} | {t['files']} | {_human_bytes(t['bytes'])} | {t['rows']:,} |")
    lines += ["", f"## Missing partitions ({len(missing_partitions)})", ""]
    lines += [f"- `{p}`" for p in missing_partitions] or ["None: every requested day has data."]
    totals = validation_totals(validation)
    lines += ["", "## Schema validation", ""]
    if not validation:
        lines.append("Not run.")
    elif not totals:
        lines.append(f"All {len(validation)} partitions pass every check.")
    else:
        lines += ["| check | failing rows | partitions |", "|---|---:|---:|"]
        for check, n in totals.items():
            parts = sum(1 for c in validation.values() if c.get(check))
            lines.append(f"| {check} | {n:,} | {parts} |")
    return "\n".join(lines) + "\n"


def print_summary(console: Console, outcome: Any) -> None:
    """Terminal rendering of a `DownloadOutcome`: per-table totals, statuses, findings."""
    summary = outcome.summary
    table = Table(title=f"Staged in {outcome.staging_dir}")
    for col in ("table", "files", "bytes", "rows"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for name, t in summary["by_table"].items():
        table.add_row(name, str(t["files"]), _human_bytes(t["bytes"]), f"{t['rows']:,}")
    table.add_row(
        "[bold]total", str(summary["files"]), _human_bytes(summary["bytes"]), f"{summary['rows']:,}"
    )
    console.print(table)
    console.print("files: " + ", ".join(f"{n} {s}" for s, n in summary["by_status"].items()))
    console.print(f"missing partitions: {len(outcome.missing_partitions)}")
    for p in outcome.missing_partitions:
        console.print(f"  - {p}")
    totals = validation_totals(outcome.validation)
    if totals:
        findings = Table(title="Schema validation findings (failing rows)")
        findings.add_column("check")
        findings.add_column("rows", justify="right")
        for check, n in totals.items():
            findings.add_row(check, f"{n:,}")
        console.print(findings)
    else:
        console.print(
            "schema validation: no findings" if outcome.validation else "schema validation: not run"
        )
    console.print(f"manifest: {outcome.manifest_path}")
    if outcome.failure_cases_path:
        console.print(f"failure cases: {outcome.failure_cases_path}")
    if outcome.cases_dropped:
        console.print(
            f"  (the first {MAX_CASES_PER_CHECK:,} per partition, check and column; "
            f"{outcome.cases_dropped:,} more are counted above but not kept)"
        )
    if outcome.flow_run:
        console.print(
            f"Prefect flow run: {outcome.flow_run} (artifacts download-manifest, download-summary)"
        )


@dataclass(frozen=True)
class StagedRun:
    """What `print_summary` needs, rebuilt from a staging folder's files instead of a returned
    `DownloadOutcome` (the go/no-go runs the download flow as a child and keeps only its files)."""

    staging_dir: str
    manifest_path: str
    summary: dict[str, Any]
    missing_partitions: list[str]
    validation: dict[str, dict[str, int]] = field(default_factory=dict)
    failure_cases_path: str | None = None
    cases_dropped: int = 0
    flow_run: str | None = None


def staged_run(
    manifest_path: Path | str,
    failure_cases_path: Path | str | None,
    validated: bool,
    counts_path: Path | str | None = None,
) -> StagedRun:
    """A `StagedRun` from a download's manifest and its failure-case file.

    Args:
        manifest_path: the manifest the download wrote (`manifest.parquet` or `.json`).
        failure_cases_path: its `validation_failures.parquet`; the flow writes it only when some
            check failed, so a missing file means "no findings" when `validated`.
        validated: whether schema validation ran; if not, the summary says "not run".
        counts_path: its `validation_counts.json`, the exact counts (the failure-case file keeps
            only the first cases per check); without it counts come from the failure cases.

    Raises:
        CorruptFileError: the manifest or the counts file cannot be read.
    """
    manifest = Manifest.read(manifest_path)
    validation: dict[str, dict[str, int]] = {}
    cases_dropped = 0
    failures = Path(failure_cases_path) if failure_cases_path is not None else None
    has_failures = failures is not None and failures.is_file()
    if validated:
        # every verified partition was validated; the ones without a failure case passed
        validation = {e.partition.key: {} for e in manifest.entries if e.ok}
        if counts_path is not None and Path(counts_path).is_file():
            counts, cases_dropped = read_counts(counts_path)
            validation.update(counts)
        elif has_failures:
            validation.update(failure_counts(pl.read_parquet(failures)))
    return StagedRun(
        staging_dir=str(Path(manifest_path).parent),
        manifest_path=str(manifest_path),
        summary=manifest.summary(),
        missing_partitions=list(manifest.missing_partitions),
        validation=validation,
        failure_cases_path=str(failures) if has_failures else None,
        cases_dropped=cases_dropped,
    )
