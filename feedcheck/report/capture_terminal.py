"""Terminal rendering of a capture validation: the artifact's table rows, as a rich table."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from feedcheck.binance.validate_result import CaptureValidation
from feedcheck.report.capture import capture_validation_rows

#: (row key, short header): the full names are in the JSON and the artifact.
_COLUMNS = (
    ("recording", "recording"),
    ("verdict", "verdict"),
    ("duration_s", "seconds"),
    ("depth_events", "depth"),
    ("trades", "trades"),
    ("gaps", "gaps"),
    ("resyncs", "resyncs"),
    ("snapshot_checks", "snap checks"),
    ("snapshot_mismatches", "snap diffs"),
    ("crossed", "crossed"),
    ("issues", "issues"),
)


def _cell(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_capture_validation(console: Console, validation: CaptureValidation) -> None:
    table = Table(title=f"capture validation: {validation.verdict.value}")
    for key, header in _COLUMNS:
        table.add_column(header, justify="left" if key == "recording" else "right", no_wrap=True)
    for row in capture_validation_rows(validation):
        table.add_row(*(_cell(row[k]) for k, _ in _COLUMNS))
    # At least 120 columns (a pipe reports 80): truncated numbers are unreadable.
    Console(file=console.file, width=max(console.width, 130)).print(table)
