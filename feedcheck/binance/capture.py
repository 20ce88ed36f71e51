"""Live Binance capture: one combined-stream socket, per-symbol book sync, a raw recording on disk.

Shape of a session (`CaptureSession.run`, all tasks in one `asyncio.TaskGroup`, stopped by
cancelling it when `duration_s` expires or the `stop` event is set):

- exchangeInfo once at start: each symbol's tick/lot and the Scale used to parse it go into every
  `connect` marker, so a recording alone gives the fixed-point scales;
- the socket loop, `async for ws in Reconnector(...)`: each connection writes a `connect` marker
  and starts every book from nothing; each frame is stamped (`time.time_ns()`), queued for the
  disk thread exactly as received, then parsed and fed to its symbol's `BookSync` (`Ingest`).
  A break writes a `disconnect` marker, drops every book, and reconnects after the backoff
  (`serverShutdown`: at once); the connect-rate limit (300 / 5 min) applies to every attempt;
- one snapshot task per symbol when its sync asks (never awaited in the reader): the REST body is
  recorded in-band, then fed to the sync; a snapshot older than the first buffered event, or a
  gap found replaying the buffer, fetches again; 5xx/timeouts retry with backoff, 429 waits
  `Retry-After`;
- the verification task (when `verify_snapshot_interval_s` is set): every interval, one more
  REST snapshot per symbol whose book is live, fetched one symbol at a time with the same limit
  and retry policy, and recorded in-band exactly like a sync snapshot but never fed to the sync
  (it is evidence, not a resync): `validate-capture` compares the book rebuilt from the
  recording with it. One that comes back after its book stopped being live is not recorded: a
  replay would take it for a sync snapshot the capture never used;
- the disk thread (`capture_writer.DiskWriter`) owns the `RecordingWriter`: flushed at least
  every ~0.75 s, files `.part` until closed. The reader → disk queue is bounded: when full the
  reader stops reading (back-pressure, up to `queue_full_wait_s`), then drops frames until there
  is room and records them as one `gap` marker. A gap marker breaks every book on replay, so
  every symbol resyncs from a fresh snapshot recorded after it: never a silent drop;
- roll-over at `connection_lifetime_s`: the successor is opened and served (its `connect` marker
  has `rollover_of`; books restart from it, fed by it alone), while the old socket is still read
  and recorded for `rollover_overlap_s`, then closed without a `disconnect` marker (nothing
  broke). Its late frames repeat or precede what the new socket carries, so the sync rules ignore
  them on replay (`u <= local id`); no event falls between the two sockets;
- progress every `progress_interval_s` (callback and a log line).

Run it: `capture(config)` from async code, `run_capture(config)` from sync code, or
`python -m feedcheck.binance.capture --symbols BTCUSDT --duration-s 60 --out-dir captures`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
import time
from collections.abc import Callable

import aiohttp
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from feedcheck.binance.capture_config import CaptureConfig, CaptureProgress, CaptureSummary
from feedcheck.binance.capture_ingest import SHUTDOWN, Ingest, IngestCounters
from feedcheck.binance.capture_limits import BackoffFactory, ConnectLimiter, backoff
from feedcheck.binance.capture_rest import Instrument, fetch_instruments, get_with_retries
from feedcheck.binance.capture_socket import Reconnector
from feedcheck.binance.capture_writer import (
    MARKER,
    SNAPSHOT,
    DiskWriter,
    FrameQueue,
    start_writer_thread,
)
from feedcheck.binance.recording import NS_PER_S, MarkerKind
from feedcheck.binance.recording_writer import RecordingOptions
from feedcheck.binance.sync import SyncState
from feedcheck.errors import FeedcheckError

__all__ = [
    "CaptureConfig",
    "CaptureProgress",
    "CaptureSession",
    "CaptureSummary",
    "capture",
    "run_capture",
]

logger = logging.getLogger(__name__)

ProgressHook = Callable[[CaptureProgress], None]
#: Poll period of a reader waiting for room in a full queue (only while it is full).
_ROOM_POLL_S = 0.001


class CaptureSession:
    """One capture run (see the module docstring). `run()` once; `progress()` any time.

    Args:
        config: what to capture.
        on_progress: called every `progress_interval_s` from the event loop (must not block).
        backoff: factory of reconnect / REST retry delays (`capture_limits.backoff`).
        limiter: connect-rate limiter (default: Binance's 300 per 5 min).
        stop: when set, the capture stops as at the end of `duration_s` (reason `stopped`).
    """

    def __init__(
        self,
        config: CaptureConfig,
        *,
        on_progress: ProgressHook | None = None,
        backoff: BackoffFactory = backoff,
        limiter: ConnectLimiter | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.config = config
        self._on_progress = on_progress
        self._backoff = backoff
        self._limiter = limiter or ConnectLimiter()
        self._stop = stop
        self._queue = FrameQueue(config.queue_max_frames)
        self._disk: DiskWriter | None = None
        self._ingest: Ingest | None = None
        self._instruments: dict[str, Instrument] = {}
        self._http: aiohttp.ClientSession | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._reconnector: Reconnector | None = None
        self._fetches: dict[str, asyncio.Task[None]] = {}
        #: Symbol whose verification snapshot is being fetched, if any.
        self._verifying: str | None = None
        self._conn_ids = itertools.count(1)
        self._primary: int | None = None
        self._start_mono = 0.0
        self._rate_mark = (0.0, 0)
        self._stopped = False
        #: Last live book id per symbol seen before a reset (the summary reports it).
        self._last_live: dict[str, int] = {}
        # Totals beyond the ingest's and the syncs' counters.
        self.frames_recorded = 0
        self.frames_dropped = 0
        self.overflow_gaps = 0
        self.overflow_resyncs = 0
        self.reconnects = 0
        self.rollovers = 0
        self.rest_retries = 0
        self.verify_snapshots = 0
        self.verify_snapshots_discarded = 0
        self._drop_pending = 0
        self._drop_first_ns = 0
        self._drop_last_ns = 0

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(self) -> CaptureSummary:
        """Capture until `duration_s` (or `stop`); always finish the files (`.part` renamed).

        Raises:
            VenueError / ConfigError: exchangeInfo or a snapshot refused (not transient).
            DataError: a frame the parser rejects. OSError: the recording cannot be written.
            InvalidHandshake: the server refused the WebSocket URL (e.g. unknown stream).
        """
        cfg = self.config
        loop = asyncio.get_running_loop()
        start_ns, cpu0 = time.time_ns(), time.process_time()
        self._start_mono = loop.time()
        cfg.out_dir.mkdir(parents=True, exist_ok=True)
        options = RecordingOptions(
            directory=cfg.out_dir,
            prefix=cfg.file_prefix,
            symbols=cfg.symbols,
            url=cfg.url,
            compression=cfg.compression,
            rotate_interval_ns=round(cfg.rotate_interval_s * NS_PER_S),
        )
        disk = self._disk = DiskWriter(options, self._queue)
        disk_done = start_writer_thread(disk, loop)
        scope = asyncio.timeout_at(self._start_mono + cfg.duration_s)
        try:
            async with aiohttp.ClientSession() as http:
                self._http = http
                async with scope:
                    await self._run_tasks(disk_done, scope)
        except TimeoutError:
            if not scope.expired():
                raise
        except BaseExceptionGroup as group:
            # Surface the one real failure rather than a group of it and its cancellations.
            errors = [e for e in group.exceptions if not isinstance(e, asyncio.CancelledError)]
            if len(errors) == 1:
                raise errors[0] from None
            raise
        finally:
            self._tg = None
            self._queue.close()
            await asyncio.shield(disk_done)
        summary = self._summary(start_ns, time.process_time() - cpu0)
        logger.info("capture finished (%s): %s", summary.stopped_reason, _progress_line(summary))
        return summary

    async def _run_tasks(self, disk_done: asyncio.Future[None], scope: asyncio.Timeout) -> None:
        cfg = self.config
        assert self._http is not None
        self._instruments = await fetch_instruments(
            self._http,
            cfg.rest_url.rstrip("/"),
            cfg.symbols,
            cfg.venue_spec,
            self._backoff(),
            cfg.rest_timeout_s,
        )
        self._ingest = Ingest(self._instruments, cfg.variant)
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            tg.create_task(self._socket_loop(), name="capture-socket")
            tg.create_task(self._progress_loop(), name="capture-progress")
            tg.create_task(self._watch_disk(disk_done), name="capture-disk")
            if cfg.verify_snapshot_interval_s is not None:
                tg.create_task(
                    self._verify_loop(cfg.verify_snapshot_interval_s), name="capture-verify"
                )
            if self._stop is not None:
                tg.create_task(self._stop_on(self._stop, scope), name="capture-stop")

    async def _stop_on(self, stop: asyncio.Event, scope: asyncio.Timeout) -> None:
        await stop.wait()
        self._stopped = True
        scope.reschedule(asyncio.get_running_loop().time())  # expire now: cancels everything

    async def _watch_disk(self, disk_done: asyncio.Future[None]) -> None:
        await asyncio.shield(disk_done)  # raises what stopped the writer thread
        raise FeedcheckError("the recording writer stopped before the capture ended")

    # -- sockets ------------------------------------------------------------------------------

    async def _socket_loop(self) -> None:
        cfg = self.config
        reconnector = self._reconnector = Reconnector(
            cfg.url, self._limiter, self._backoff, cfg.open_timeout_s, cfg.keepalive_ping_s
        )
        rollover_of: int | None = None
        async for ws in reconnector:
            conn_id = next(self._conn_ids)
            if conn_id > 1:
                self.reconnects += 1
            rollover_of = await self._serve(ws, conn_id, rollover_of)

    async def _serve(
        self, ws: ClientConnection, conn_id: int, rollover_of: int | None
    ) -> int | None:
        """Serve one connection until it breaks (None) or is rolled over (returns its id)."""
        cfg = self.config
        assert self._reconnector is not None and self._tg is not None
        loop = asyncio.get_running_loop()
        opened = loop.time()
        fields: dict[str, object] = {
            "url": cfg.url,
            "conn_id": conn_id,
            "perf_ns": time.perf_counter_ns(),
            "instruments": {s: i.as_marker() for s, i in self._instruments.items()},
        }
        if rollover_of is not None:
            fields["rollover_of"] = rollover_of
        self._marker("connect", **fields)
        self._reset()
        self._primary = conn_id
        reason, code, retired = "stop", None, False
        try:
            async with asyncio.timeout_at(opened + cfg.connection_lifetime_s) as life:
                try:
                    await self._read(ws, conn_id)
                    reason = "server_shutdown"
                    self._reconnector.reconnect_now()
                except ConnectionClosed as exc:
                    reason = "closed"
                    code = exc.rcvd.code if exc.rcvd is not None else None
        except TimeoutError:
            if not life.expired():
                raise
            self._primary = None  # from now on the old socket is recorded, never fed
            successor = await self._reconnector.open()
            self.rollovers += 1
            self._reconnector.hand_over(successor)
            retired = True
            self._tg.create_task(self._retire(ws, conn_id), name=f"capture-retire-{conn_id}")
            return conn_id
        finally:
            if not retired:
                if self._drop_pending:
                    self._end_overflow()
                self._marker("disconnect", conn_id=conn_id, reason=reason, code=code,
                             perf_ns=time.perf_counter_ns())  # fmt: skip
                self._reset()
                await ws.close()
        logger.warning("connection %d ended (%s, code %s); reconnecting", conn_id, reason, code)
        if loop.time() - opened >= cfg.healthy_after_s:
            self._reconnector.healthy()
        return None

    async def _retire(self, ws: ClientConnection, conn_id: int) -> None:
        """Keep recording a rolled-over socket for `rollover_overlap_s`, then close it."""
        try:
            async with asyncio.timeout(self.config.rollover_overlap_s) as scope:
                await self._read(ws, conn_id)
        except TimeoutError:
            if not scope.expired():
                raise
        except ConnectionClosed:
            pass  # the successor is live: the old socket owes us nothing more
        finally:
            await ws.close()
        logger.info("connection %d retired after roll-over", conn_id)

    async def _read(self, ws: ClientConnection, conn_id: int) -> None:
        """Record every frame; feed those of the primary socket to the syncs. Returns on a
        `serverShutdown` notice; raises ConnectionClosed when the socket ends."""
        queue = self._queue
        ingest = self._ingest
        assert ingest is not None
        recv = ws.recv
        while True:
            frame = await recv(decode=False)
            recv_ns = time.time_ns()
            if self._drop_pending:
                if not queue.has_room():
                    self._drop(recv_ns)
                    continue
                self._end_overflow()
                queue.offer(recv_ns, frame)
            elif not queue.offer(recv_ns, frame):
                if not (await self._wait_room() and queue.offer(recv_ns, frame)):
                    self._drop(recv_ns)
                    continue
            self.frames_recorded += 1
            if conn_id != self._primary:
                continue
            wanted = ingest.on_frame(frame, recv_ns)
            if wanted is None:
                continue
            if wanted == SHUTDOWN:
                return
            self._want_snapshot(wanted)

    async def _wait_room(self) -> bool:
        """Back-pressure: stop reading (the socket buffers fill, then TCP's window closes) until
        the queue has room or `queue_full_wait_s` passed. True when there is room."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.config.queue_full_wait_s
        while not self._queue.has_room() and loop.time() < give_up:
            await asyncio.sleep(_ROOM_POLL_S)
        return self._queue.has_room()

    def _drop(self, recv_ns: int) -> None:
        if not self._drop_pending:
            self._drop_first_ns = recv_ns
            logger.warning("recording queue full (%d frames): dropping", self._queue.max_frames)
        self._drop_pending += 1
        self._drop_last_ns = recv_ns
        self.frames_dropped += 1

    def _end_overflow(self) -> None:
        """Record the dropped run as one gap marker and restart every book after it."""
        self._marker("gap", reason="overflow", dropped=self._drop_pending,
                     first_recv_ns=self._drop_first_ns, last_recv_ns=self._drop_last_ns,
                     queue_max_frames=self._queue.max_frames)  # fmt: skip
        logger.warning("dropped %d frames (queue overflow): gap recorded", self._drop_pending)
        self.overflow_gaps += 1
        self._drop_pending = 0
        self.overflow_resyncs += self._reset()

    # -- books and snapshots ------------------------------------------------------------------

    def _reset(self) -> int:
        """Cancel every snapshot fetch and drop every book; returns how many books had state."""
        for task in self._fetches.values():
            task.cancel()  # before its on_snapshot: the sync would no longer be BUFFERING
        self._fetches.clear()
        assert self._ingest is not None
        self._last_live.update(self._ingest.live_update_ids())
        before = sum(1 for s in self._ingest.syncs.values() if s.state is not SyncState.IDLE)
        self._ingest.reset()
        return before

    @property
    def fetching(self) -> bool:
        """True while a snapshot fetch (sync or verification) is in flight for some symbol."""
        return self._verifying is not None or any(
            not task.done() for task in self._fetches.values()
        )

    def _want_snapshot(self, symbol: str) -> None:
        task = self._fetches.get(symbol)
        if (task is None or task.done()) and self._tg is not None:
            self._fetches[symbol] = self._tg.create_task(
                self._fetch(symbol), name=f"capture-snapshot-{symbol}"
            )

    async def _fetch(self, symbol: str) -> None:
        cfg = self.config
        assert self._http is not None and self._ingest is not None
        delays = self._backoff()
        url = cfg.rest_url.rstrip("/") + cfg.venue_spec.depth_path
        params = {"symbol": symbol, "limit": str(cfg.snapshot_limit)}
        while True:
            recv_ns, body = await get_with_retries(
                self._http, url, params, f"depth snapshot {symbol}", delays,
                cfg.rest_timeout_s, self._on_rest_retry,
            )  # fmt: skip
            self._queue.put_control((SNAPSHOT, recv_ns, symbol, body))
            outcome = self._ingest.on_snapshot(symbol, body, recv_ns)
            if not outcome.needs_snapshot:
                return
            delay = next(delays)
            logger.info("%s: snapshot %s; fetching again in %.3f s", symbol, outcome.value, delay)
            await asyncio.sleep(delay)

    async def _verify_loop(self, interval_s: float) -> None:
        """Every `interval_s`, one verification snapshot per symbol whose book is live, one
        symbol at a time: at most one verification request is ever in flight, so their weight
        stays what `CaptureConfig.verify_weight_per_min` planned, and a 429's `Retry-After`
        holds back the rest of the round too."""
        assert self._ingest is not None
        syncs = self._ingest.syncs
        while True:
            await asyncio.sleep(interval_s)
            for symbol in self.config.symbols:
                if syncs[symbol].state is SyncState.LIVE:
                    await self._verify(symbol)

    async def _verify(self, symbol: str) -> None:
        """Fetch one verification snapshot and record it in-band if `symbol`'s book is still
        live (the sync never sees it)."""
        cfg = self.config
        assert self._http is not None and self._ingest is not None
        url = cfg.rest_url.rstrip("/") + cfg.venue_spec.depth_path
        params = {"symbol": symbol, "limit": str(cfg.snapshot_limit)}
        self._verifying = symbol
        try:
            recv_ns, body = await get_with_retries(
                self._http, url, params, f"verification snapshot {symbol}", self._backoff(),
                cfg.rest_timeout_s, self._on_rest_retry,
            )  # fmt: skip
            # No await from here to the queue: the sync's state now is the state a replay has
            # at this record, since every frame fed to the sync so far is already queued.
            if self._ingest.syncs[symbol].state is SyncState.LIVE:
                self._queue.put_control((SNAPSHOT, recv_ns, symbol, body))
                self.verify_snapshots += 1
            else:
                self.verify_snapshots_discarded += 1
                logger.info("%s: verification snapshot discarded: the book is no longer live",
                            symbol)  # fmt: skip
        finally:
            self._verifying = None

    def _on_rest_retry(self, exc: BaseException, delay_s: float) -> None:
        self.rest_retries += 1

    def _marker(self, kind: MarkerKind, **fields: object) -> None:
        self._queue.put_control((MARKER, time.time_ns(), kind, fields))

    # -- progress -----------------------------------------------------------------------------

    async def _progress_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.progress_interval_s)
            progress = self.progress()
            self._rate_mark = (progress.elapsed_s, progress.levels)
            logger.info("capture: %s", _progress_line(progress))
            if self._on_progress is not None:
                self._on_progress(progress)

    def progress(self) -> CaptureProgress:
        """Totals so far; `levels_per_s` since the last progress report."""
        elapsed = asyncio.get_running_loop().time() - self._start_mono
        counters = self._ingest.counters if self._ingest is not None else IngestCounters()
        since, levels_then = self._rate_mark
        gaps, resyncs = self._sync_totals()
        stats = self._disk.stats if self._disk is not None else None
        return CaptureProgress(
            elapsed_s=elapsed,
            frames=self.frames_recorded,
            depth_events=counters.depth_events,
            trades=counters.trades,
            levels=counters.levels,
            levels_per_s=(counters.levels - levels_then) / max(elapsed - since, 1e-9),
            gaps=gaps,
            resyncs=resyncs,
            reconnects=self.reconnects,
            snapshots=counters.snapshots,
            bytes_written=stats.bytes_out if stats else 0,
            last_update_id=self._ingest.live_update_ids() if self._ingest else {},
            files=tuple(str(p) for p in stats.files) if stats else (),
            verify_snapshots=self.verify_snapshots,
        )

    def _sync_totals(self) -> tuple[int, int]:
        syncs = self._ingest.syncs.values() if self._ingest is not None else ()
        counters = [s.counters for s in syncs]
        return (
            sum(c.gaps for c in counters) + self.overflow_gaps,
            sum(c.resyncs for c in counters) + self.overflow_resyncs,
        )

    def _summary(self, start_ns: int, cpu_s: float) -> CaptureSummary:
        progress = self.progress()
        ingest = self._ingest
        return CaptureSummary(
            start_ns=start_ns,
            end_ns=time.time_ns(),
            elapsed_s=progress.elapsed_s,
            url=self.config.url,
            frames=progress.frames,
            depth_events=progress.depth_events,
            trades=progress.trades,
            levels=progress.levels,
            levels_per_s=progress.levels / max(progress.elapsed_s, 1e-9),
            gaps=progress.gaps,
            resyncs=progress.resyncs,
            reconnects=self.reconnects,
            rollovers=self.rollovers,
            snapshots=progress.snapshots,
            rest_retries=self.rest_retries,
            bytes_written=progress.bytes_written,
            overflow_gaps=self.overflow_gaps,
            frames_dropped=self.frames_dropped,
            last_update_id={**self._last_live, **progress.last_update_id},
            per_symbol={s: sync.counters for s, sync in ingest.syncs.items()} if ingest else {},
            files=progress.files,
            cpu_s=cpu_s,
            stopped_reason="stopped" if self._stopped else "duration",
            instruments={s: i.as_marker() for s, i in self._instruments.items()},
            verify_snapshots=self.verify_snapshots,
            verify_snapshots_discarded=self.verify_snapshots_discarded,
        )


def _progress_line(p: CaptureProgress | CaptureSummary) -> str:
    return (
        f"{p.elapsed_s:.0f} s, {p.frames} frames, {p.depth_events} depth, {p.trades} trades, "
        f"{p.levels_per_s:,.0f} levels/s, gaps {p.gaps}, resyncs {p.resyncs}, "
        f"reconnects {p.reconnects}, snapshots {p.snapshots} (+{p.verify_snapshots} verification), "
        f"{p.bytes_written:,} B"
    )


async def capture(
    config: CaptureConfig,
    *,
    on_progress: ProgressHook | None = None,
    backoff: BackoffFactory = backoff,
    limiter: ConnectLimiter | None = None,
    stop: asyncio.Event | None = None,
) -> CaptureSummary:
    """Capture `config.symbols` for `config.duration_s` wall seconds into `config.out_dir`.

    See `CaptureSession` for the arguments and the errors raised.
    """
    session = CaptureSession(
        config, on_progress=on_progress, backoff=backoff, limiter=limiter, stop=stop
    )
    return await session.run()


def run_capture(config: CaptureConfig, on_progress: ProgressHook | None = None) -> CaptureSummary:
    """`capture` for synchronous callers (runs its own event loop)."""
    return asyncio.run(capture(config, on_progress=on_progress))


if __name__ == "__main__":
    from feedcheck.binance.capture_cli import main  # the CLI imports this module

    sys.exit(main())
