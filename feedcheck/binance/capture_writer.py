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

import asyncio
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
    """A deque bounded in length, shared by the event loop (one producer) and one writer thread.

    No lock on the hot path: CPython's `deque.append` / `popleft` / `len` are atomic, and with one
    producer and one consumer a length check followed by an append cannot overshoot the bound
    (the consumer only shortens the deque). The consumer polls every `POLL_S` while idle instead
    of being notified per frame (a notify per frame costs more than the frame's parse).

    Invariant: frames are never dropped here; `offer` refuses one when `max_frames` records are
    waiting, and the caller decides (wait, or drop and record a gap).
    """

    #: Consumer poll period while the queue is empty (s): latency only, never loss.
    POLL_S = 0.005

    def __init__(self, max_frames: int) -> None:
        self.max_frames = max_frames
        self._items: deque[Record] = deque()
        self._closed = False
        #: Largest number of records ever waiting at once (high-water mark).
        self.peak_frames = 0

    def offer(self, recv_ns: int, frame: bytes) -> bool:
        """Queue a frame; False (nothing queued) when `max_frames` records are waiting."""
        items = self._items
        waiting = len(items)
        if waiting >= self.max_frames:
            return False
        items.append((FRAME, recv_ns, frame))
        if waiting >= self.peak_frames:
            self.peak_frames = waiting + 1
        return True

    def put_control(self, record: Record) -> None:
        """Queue a snapshot or marker record; never refused (it may exceed the bound)."""
        self._items.append(record)

    def has_room(self) -> bool:
        return len(self._items) < self.max_frames

    def __len__(self) -> int:
        """Records waiting for the writer thread."""
        return len(self._items)

    def close(self) -> None:
        """No more records: the writer drains what is queued, then stops."""
        self._closed = True

    def take(self, timeout_s: float) -> list[Record] | None:
        """Everything queued (polling up to `timeout_s` for something); [] on timeout; None
        once closed and drained."""
        items = self._items
        give_up = time.monotonic() + timeout_s
        while True:
            # Read `closed` before the length: every record queued before close() is seen.
            closed = self._closed
            count = len(items)
            if count:
                return [items.popleft() for _ in range(count)]
            if closed:
                return None
            if time.monotonic() >= give_up:
                return []
            time.sleep(self.POLL_S)


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
                # Runs of frames go to the writer's batch path: a per-frame call costs more
                # than the frame's line, and this thread competes with the socket for the GIL.
                start = 0
                for index, record in enumerate(batch):
                    tag = record[0]
                    if tag == FRAME:
                        continue
                    if start < index:
                        writer.write_frames(batch[start:index])
                    start = index + 1
                    if tag == SNAPSHOT:
                        writer.write_snapshot(record[1], record[2], record[3])
                    else:
                        writer.write_marker(record[1], record[2], **record[3])
                if start < len(batch):
                    writer.write_frames(batch[start:] if start else batch)
                writer.maybe_flush(time.time_ns())
                self.stats = writer.stats()
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            writer.close()
            self.stats = writer.stats()


def start_writer_thread(disk: DiskWriter, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
    """Run `disk` in its own thread; the returned future (of `loop`) resolves when the thread
    ends, with the error that stopped it if any. The thread is not a daemon: an interpreter
    exiting mid-capture still waits for the files to be closed and renamed."""
    done: asyncio.Future[None] = loop.create_future()
    threading.Thread(target=_run_disk, args=(disk, loop, done), name="capture-writer").start()
    return done


def _run_disk(
    disk: DiskWriter, loop: asyncio.AbstractEventLoop, done: asyncio.Future[None]
) -> None:
    """Writer-thread body: run the writer, then resolve `done` on the event loop."""
    try:
        disk.run()
    except BaseException as exc:  # handed to the event loop, which raises it
        loop.call_soon_threadsafe(_resolve, done, exc)
    else:
        loop.call_soon_threadsafe(_resolve, done, None)


def _resolve(done: asyncio.Future[None], exc: BaseException | None) -> None:
    if done.done():
        return
    if exc is None:
        done.set_result(None)
    else:
        done.set_exception(exc)
