"""The capture's disk side: a bounded hand-off queue and the thread that owns the RecordingWriter.

The socket reader (event loop) `offer`s each frame to a `FrameQueue` and never blocks on disk:
the queue is bounded by frames, and a full queue is the reader's problem (it waits a little,
then drops and records a `gap` marker: see `capture.py`). Markers and snapshots are control
records and always enter the queue (they are few, and losing one would corrupt the recording's
meaning). `DiskWriter.run` is the body of a dedicated thread: it takes whatever is queued in one
lock round-trip, writes it in order, and calls `maybe_flush` at least every `FLUSH_TICK_S` even
when the feed is idle, so a crash loses at most about a second.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from feedcheck.binance.recording_writer import RecordingOptions, RecordingStats, RecordingWriter

#: Most time the writer thread waits for records before calling `maybe_flush` anyway (s). With
#: the writer's 0.5 s flush interval, flushed data is never older than 0.75 s.
FLUSH_TICK_S = 0.25

# Record tags (first tuple element): plain ints keep the hot path cheap.
FRAME, SNAPSHOT, MARKER = 0, 1, 2
Record = tuple[Any, ...]


class FrameQueue:
    """A deque bounded in frames, shared by the event loop (producer) and one writer thread.

    Invariant: frames are never dropped here; `offer` refuses one when `max_frames` are queued,
    and the caller decides (wait, or drop and record a gap).
    """

    def __init__(self, max_frames: int) -> None:
        self.max_frames = max_frames
        self._items: deque[Record] = deque()
        self._frames = 0
        self._ready = threading.Condition(threading.Lock())
        self._closed = False
        #: Largest number of frames ever queued at once (high-water mark).
        self.peak_frames = 0

    def offer(self, recv_ns: int, frame: bytes) -> bool:
        """Queue a frame; False (nothing queued) when `max_frames` frames are waiting."""
        with self._ready:
            if self._frames >= self.max_frames:
                return False
            self._items.append((FRAME, recv_ns, frame))
            self._frames += 1
            if self._frames > self.peak_frames:
                self.peak_frames = self._frames
            self._ready.notify()
        return True

    def put_control(self, record: Record) -> None:
        """Queue a snapshot or marker record; never refused (not counted against the bound)."""
        with self._ready:
            self._items.append(record)
            self._ready.notify()

    def has_room(self) -> bool:
        return self._frames < self.max_frames

    def close(self) -> None:
        """No more records: the writer drains what is queued, then stops."""
        with self._ready:
            self._closed = True
            self._ready.notify()

    def take(self, timeout_s: float) -> list[Record] | None:
        """Everything queued (waiting up to `timeout_s` for something); [] on timeout; None
        once closed and drained."""
        with self._ready:
            if not self._items and not self._closed:
                self._ready.wait(timeout_s)
            if not self._items:
                return None if self._closed else []
            items = list(self._items)
            self._items.clear()
            self._frames = 0
            return items


class DiskWriter:
    """Owns one `RecordingWriter`; `run()` is a thread body. Only this thread touches the writer.

    `stats` is replaced (never mutated) after each batch, so other threads read it safely.
    `error` holds what stopped the thread (e.g. OSError: disk full) after `run` returned.
    """

    def __init__(self, options: RecordingOptions, queue: FrameQueue) -> None:
        self.options = options
        self.queue = queue
        self._writer = RecordingWriter(options)
        self.stats: RecordingStats = self._writer.stats()
        self.error: BaseException | None = None

    def run(self) -> None:
        """Write until the queue is closed and drained, then close the writer (`.part` files are
        renamed). On an error, close what can be closed, keep the error, and re-raise."""
        writer = self._writer
        try:
            while True:
                batch = self.queue.take(FLUSH_TICK_S)
                if batch is None:
                    break
                for record in batch:
                    tag = record[0]
                    if tag == FRAME:
                        writer.write_frame(record[1], record[2])
                    elif tag == SNAPSHOT:
                        writer.write_snapshot(record[1], record[2], record[3])
                    else:
                        writer.write_marker(record[1], record[2], **record[3])
                writer.maybe_flush(time.time_ns())
                self.stats = writer.stats()
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            writer.close()
            self.stats = writer.stats()
