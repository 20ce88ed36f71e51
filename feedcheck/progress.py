"""Progress events from long work, for whoever is watching.

Library code and tasks call `emit(...)`; the CLI subscribes a rich progress bar with `listening(...)`;
flows also mirror progress into a Prefect progress artifact. Listeners are process-wide because
Prefect runs tasks on worker threads, where a context variable set by the CLI would not be seen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """`done` of `total` units of `stage` (e.g. files of "download"); `detail` names the last item."""

    stage: str
    done: int
    total: int
    detail: str = ""


Listener = Callable[[ProgressEvent], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def emit(event: ProgressEvent) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(event)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


class Counter:
    """Thread-safe done/total counter for one stage that emits an event per step."""

    def __init__(self, stage: str, total: int) -> None:
        self.stage, self.total, self.done = stage, total, 0
        self._lock = threading.Lock()
        emit(ProgressEvent(stage, 0, total))

    def step(self, detail: str = "") -> ProgressEvent:
        with self._lock:
            self.done += 1
            event = ProgressEvent(self.stage, self.done, self.total, detail)
        emit(event)
        return event


def partition_rows_progress(stage: str, total_partitions: int) -> Callable[[str, int], None]:
    """Adapter for per-partition row callbacks `(partition_key, rows_so_far)` (the generator's):
    one event per call, `done` = partitions started so far."""
    started: list[str] = []
    lock = threading.Lock()

    def on_rows(partition_key: str, rows: int) -> None:
        with lock:
            if partition_key not in started:
                started.append(partition_key)
            done = len(started)
        emit(ProgressEvent(stage, done, total_partitions, f"{partition_key} {rows:,} rows"))

    return on_rows
