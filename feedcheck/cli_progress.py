"""A rich progress bar fed by `feedcheck.progress` events: one bar per stage."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from feedcheck.progress import ProgressEvent, listening


@contextmanager
def rich_progress(console: Console) -> Iterator[None]:
    with Progress(
        TextColumn("[bold]{task.description:<9}"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}"),
        console=console,
        transient=False,
    ) as bar:
        bars: dict[str, int] = {}

        def on_event(event: ProgressEvent) -> None:
            if event.stage not in bars:
                bars[event.stage] = bar.add_task(event.stage, total=event.total or None, detail="")
            bar.update(
                bars[event.stage],
                completed=event.done,
                total=event.total or None,
                detail=event.detail[-48:],
            )

        with listening(on_event):
            yield
