"""The live capture against the loopback simulator over real sockets, one test per fault.

The simulator's clock is advanced by hand and the test waits, after each tick, until the capture
has recorded every frame sent and has no snapshot fetch in flight; so every count below follows
from the scenario alone. Ground truth is the simulator's log: frames sent per connection (byte for
byte), REST responses with their send times, injected faults.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from feedcheck.binance.capture import CaptureConfig, CaptureSession, CaptureSummary
from feedcheck.binance.capture_config import CaptureProgress
from feedcheck.binance.capture_limits import ConnectLimiter, backoff
from feedcheck.binance.market import snapshot_body
from feedcheck.binance.rawrecord import RawRecord, ReadIssue
from feedcheck.binance.recording import read_feedcheck
from feedcheck.binance.sim_conn import ConnectionLimits
from feedcheck.binance.sim_faults import FaultSpec, Scenario
from feedcheck.binance.sim_framelog import CloseCause, FrameKind
from feedcheck.binance.simulator import Simulator
from feedcheck.binance.sync import SyncState
from feedcheck.binance.wire import parse_depth_snapshot
from tests.binance.conftest import SIM_WAIT_S

pytestmark = pytest.mark.asyncio

SYMBOL = "BTCUSDT"


def fast_backoff() -> Iterator[float]:
    """Milliseconds instead of seconds, seeded: the policy is the production one, scaled."""
    return backoff(initial_s=0.002, factor=2.0, max_s=0.02, rng=random.Random(1))


def slow_backoff() -> Iterator[float]:
    """A minute per retry: any test that reaches it times out, so it proves 'no delay taken'."""
    return itertools.repeat(60.0)


async def wait_until(predicate: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(SIM_WAIT_S):
        while not predicate():
            await asyncio.sleep(0.002)
    assert predicate(), what


def sent_frames(sim: Simulator) -> list[bytes]:
    """Every data frame the simulator handed to a socket, connection by connection."""
    return [
        f.text.encode()
        for conn in sim.log.conn_ids()
        for f in sim.log.data_frames(conn)
        if f.text is not None
    ]


def records(out_dir: Path) -> tuple[list[RawRecord], list[ReadIssue]]:
    issues: list[ReadIssue] = []
    return list(read_feedcheck(out_dir, on_issue=issues.append)), issues


def frames_of(recs: list[RawRecord]) -> list[bytes]:
    return [r.payload for r in recs if r.kind == "frame"]


def kinds(recs: list[RawRecord]) -> list[str]:
    return [r.kind for r in recs if r.kind != "frame"]


class Run:
    """A capture running in the background against `sim`, stopped by `finish()`. Every progress
    report it makes is kept in `progress`."""

    def __init__(
        self,
        sim: Simulator,
        out_dir: Path,
        backoff_factory=fast_backoff,
        limiter: ConnectLimiter | None = None,
        **kw,
    ) -> None:
        self.sim = sim
        self.out_dir = out_dir
        self.progress: list[CaptureProgress] = []
        config = CaptureConfig(
            symbols=(SYMBOL,),
            duration_s=60.0,
            out_dir=out_dir,
            ws_url=sim.ws_url,
            rest_url=sim.rest_url,
            progress_interval_s=0.05,
            **kw,
        )
        self.stop = asyncio.Event()
        self.session = CaptureSession(
            config,
            backoff=backoff_factory,
            limiter=limiter,
            stop=self.stop,
            on_progress=self.progress.append,
        )
        self.task: asyncio.Task[CaptureSummary] | None = None

    async def start(self, connections: int = 1) -> Run:
        self.task = asyncio.create_task(self.session.run())
        await wait_until(lambda: len(self.sim.log.connections) >= connections, "connected")
        return self

    def caught_up(self) -> bool:
        s = self.session
        return s.frames_recorded + s.frames_dropped == len(sent_frames(self.sim))

    async def settle(self) -> None:
        """Wait until every frame sent is recorded, the writer thread has taken everything queued
        (so the next tick starts with an empty queue) and no snapshot fetch is in flight."""
        await self.sim.drain()
        await wait_until(
            lambda: self.caught_up() and not self.session.fetching and not self.session._queue,
            "settled",
        )

    async def tick(self, ticks: int) -> None:
        for _ in range(ticks):
            await self.sim.advance(1)
            await self.settle()

    def state(self) -> SyncState:
        assert self.session._ingest is not None
        return self.session._ingest.syncs[SYMBOL].state

    def book_matches_exchange(self) -> bool:
        """The capture's book equals the simulator's whole book (same fixed-point scale)."""
        ingest = self.session._ingest
        assert ingest is not None
        spec = self.sim.model(SYMBOL).spec
        body = snapshot_body(spec, self.sim.model(SYMBOL).snapshot(10_000))
        snap = parse_depth_snapshot(orjson.loads(body), SYMBOL, ingest.instruments[SYMBOL].scale)
        sync = ingest.syncs[SYMBOL]
        return sync.last_update_id == snap.last_update_id and sync.book.matches_snapshot(
            snap.bids, snap.asks
        )

    async def finish(self) -> CaptureSummary:
        assert self.task is not None
        self.stop.set()
        async with asyncio.timeout(SIM_WAIT_S):
            return await self.task


def depth_levels_sent(sim: Simulator) -> int:
    """Bid + ask levels of every depth frame the simulator sent."""
    return sum(
        len(d["b"]) + len(d["a"])
        for d in map(_data, sent_frames(sim))
        if d.get("e") == "depthUpdate"
    )


class RecordingLimiter(ConnectLimiter):
    """The production limiter, keeping the monotonic time of every attempt it recorded."""

    def __init__(self, max_connects: int, window_s: float) -> None:
        super().__init__(max_connects, window_s)
        self.attempt_times: list[float] = []

    def record(self, now: float) -> None:
        self.attempt_times.append(now)
        super().record(now)


def _data(frame: bytes) -> dict:
    return orjson.loads(frame)["data"]


def scenario(*faults: FaultSpec) -> Scenario:
    return Scenario("capture-test", faults)


class TestHealthy:
    async def test_every_frame_recorded_and_book_live(self, simulator_config, tmp_path):
        async with Simulator(simulator_config()) as sim:
            run = await Run(sim, tmp_path).start()
            await run.tick(30)
            assert run.state() is SyncState.LIVE and run.book_matches_exchange()
            summary = await run.finish()
        recs, issues = records(tmp_path)
        sent = sent_frames(sim)
        assert issues == []
        assert frames_of(recs) == sent  # byte for byte, in order
        assert kinds(recs) == ["header", "connect", "snapshot", "disconnect"]
        depth_sent = len(sim.log.frames(kind=FrameKind.DEPTH))
        counters = summary.per_symbol[SYMBOL]
        assert (summary.frames, summary.depth_events) == (len(sent), depth_sent)
        assert summary.trades == len(sim.log.frames(kind=FrameKind.TRADE))
        assert counters.events_applied + counters.events_dropped_stale == depth_sent
        assert (counters.syncs, counters.gaps, summary.reconnects) == (1, 0, 0)
        assert summary.last_update_id == {SYMBOL: sim.model(SYMBOL).last_update_id}
        assert summary.stopped_reason == "stopped" and summary.files == tuple(
            str(p) for p in sorted(tmp_path.iterdir())
        )
        # The connect marker carries the scales; the in-band snapshot is the REST body served.
        connect = next(r for r in recs if r.kind == "connect").json()
        assert connect["instruments"][SYMBOL] == {
            "tick_size": "0.01000000",
            "step_size": "0.00001000",
            "price_decimals": 8,
            "qty_decimals": 8,
        }
        [snapshot] = [r for r in recs if r.kind == "snapshot"]
        [rest] = sim.log.rest_responses(SYMBOL)
        assert snapshot.json()["lastUpdateId"] == rest.last_update_id
        assert (rest.limit, summary.snapshots) == (5000, 1)

    async def test_progress_reports_counts_levels_and_update_id(
        self, simulator_config, tmp_path, caplog
    ):
        caplog.set_level("INFO", logger="feedcheck.binance.capture")
        async with Simulator(simulator_config()) as sim:
            run = await Run(sim, tmp_path).start()
            await run.tick(20)
            sent = sent_frames(sim)
            # The next report after the last frame was recorded carries every count.
            await wait_until(lambda: bool(run.progress) and run.progress[-1].frames == len(sent),
                             "a progress report with every frame")  # fmt: skip
            last = run.progress[-1]
            levels = depth_levels_sent(sim)
            last_id = sim.model(SYMBOL).last_update_id
            summary = await run.finish()
        depth_sent = len(sim.log.frames(kind=FrameKind.DEPTH))
        trades_sent = len(sim.log.frames(kind=FrameKind.TRADE))
        assert (last.depth_events, last.trades, last.levels) == (depth_sent, trades_sent, levels)
        assert (last.gaps, last.resyncs, last.reconnects, last.snapshots) == (0, 0, 0, 1)
        assert last.last_update_id == {SYMBOL: last_id}
        assert last.levels_per_s >= 0 and last.bytes_written >= 0
        # Reports are cumulative, and each one is also a log line.
        assert [p.frames for p in run.progress] == sorted(p.frames for p in run.progress)
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("capture: ")]
        assert len(lines) >= len(run.progress) > 0
        assert f"{len(sent)} frames, {depth_sent} depth, {trades_sent} trades" in lines[-1]
        assert summary.levels == levels and summary.bytes_written > 0


class TestDepthFaults:
    async def test_gap_detected_and_resynced(self, simulator_config, tmp_path):
        drop = FaultSpec("drop", symbol=SYMBOL, at_event=10, count=2, times=2, every_events=15)
        async with Simulator(simulator_config(scenario=scenario(drop))) as sim:
            run = await Run(sim, tmp_path).start()
            await run.tick(45)
            assert run.book_matches_exchange()
            summary = await run.finish()
        counters = summary.per_symbol[SYMBOL]
        assert len(sim.log.faults_of("drop")) == 4
        assert (counters.gaps, counters.resyncs, counters.syncs) == (2, 2, 3)
        assert (summary.gaps, summary.resyncs, summary.snapshots) == (2, 2, 3)
        recs, _ = records(tmp_path)
        assert frames_of(recs) == sent_frames(sim)
        assert kinds(recs) == [
            "header",
            "connect",
            "snapshot",
            "snapshot",
            "snapshot",
            "disconnect",
        ]

    async def test_duplicates_and_overlaps_ignored(self, simulator_config, tmp_path):
        faults = (
            FaultSpec("duplicate", symbol=SYMBOL, at_event=5, times=3, every_events=5),
            FaultSpec("overlap", symbol=SYMBOL, at_event=7, times=2, every_events=6),
        )
        async with Simulator(simulator_config(scenario=scenario(*faults))) as sim:
            run = await Run(sim, tmp_path).start()
            await run.tick(25)
            assert run.book_matches_exchange()
            summary = await run.finish()
        counters = summary.per_symbol[SYMBOL]
        assert len(sim.log.faults_of("duplicate")) == 3 and len(sim.log.faults_of("overlap")) == 2
        assert (counters.gaps, counters.resyncs, counters.events_ignored_old) == (0, 0, 3)
        assert frames_of(records(tmp_path)[0]) == sent_frames(sim)


class TestConnectionFaults:
    async def test_disconnect_recovered_with_a_fresh_book(self, simulator_config, tmp_path):
        cut = FaultSpec("disconnect", symbol=SYMBOL, at_event=10, abrupt=True)
        async with Simulator(simulator_config(scenario=scenario(cut))) as sim:
            run = await Run(sim, tmp_path).start()
            await run.tick(10)
            await sim.advance(1)  # event 10: the cut
            await wait_until(lambda: len(sim.log.connections) == 2, "reconnected")
            await run.tick(10)
            assert run.book_matches_exchange()
            summary = await run.finish()
        recs, _ = records(tmp_path)
        counters = summary.per_symbol[SYMBOL]
        assert frames_of(recs) == sent_frames(sim)
        assert kinds(recs) == [
            "header", "connect", "snapshot", "disconnect", "connect", "snapshot", "disconnect",
        ]  # fmt: skip
        first_close = next(r for r in recs if r.kind == "disconnect").json()
        assert (first_close["conn_id"], first_close["reason"], first_close["code"]) == (
            1, "closed", None,
        )  # fmt: skip
        assert (summary.reconnects, counters.syncs, counters.gaps) == (1, 2, 0)

    async def test_server_shutdown_reconnects_at_once(self, simulator_config, tmp_path):
        notice = FaultSpec("server_shutdown", symbol=SYMBOL, at_event=8)
        async with Simulator(simulator_config(scenario=scenario(notice))) as sim:
            # A minute of backoff: only an immediate reconnect finishes within the test's bound.
            run = await Run(sim, tmp_path, backoff_factory=slow_backoff).start()
            await run.tick(8)
            await sim.advance(1)
            await wait_until(lambda: len(sim.log.connections) == 2, "reconnected at once")
            await run.tick(8)
            assert run.book_matches_exchange()
            summary = await run.finish()
        recs, _ = records(tmp_path)
        assert frames_of(recs) == sent_frames(sim)
        assert [r.json()["reason"] for r in recs if r.kind == "disconnect"] == [
            "server_shutdown", "stop",
        ]  # fmt: skip
        assert sum(b'"!serverShutdown"' in f for f in frames_of(recs)) == 1
        assert (summary.reconnects, summary.per_symbol[SYMBOL].syncs) == (1, 2)

    @pytest.mark.parametrize(
        ("healthy_after_s", "series_used"), [(3600.0, 1), (0.0, 3)], ids=["unhealthy", "healthy"]
    )
    async def test_reconnects_take_the_backoff_within_the_connect_limit(
        self, simulator_config, tmp_path, healthy_after_s: float, series_used: int
    ):
        # Three cuts, each 4 events after the last reconnect; 2 connects per 1 s window.
        cuts = FaultSpec("disconnect", symbol=SYMBOL, at_event=3, times=3, every_events=4)
        draws: list[tuple[int, float]] = []
        series = itertools.count()

        def recorded_backoff() -> Iterator[float]:
            number = next(series)
            for delay in fast_backoff():
                draws.append((number, delay))
                yield delay

        limiter = RecordingLimiter(max_connects=2, window_s=1.0)
        async with Simulator(simulator_config(scenario=scenario(cuts))) as sim:
            run = await Run(sim, tmp_path, backoff_factory=recorded_backoff, limiter=limiter,
                            healthy_after_s=healthy_after_s).start()  # fmt: skip
            for connections in (2, 3, 4):
                await run.tick(3)
                await sim.advance(1)  # the cut
                await wait_until(lambda n=connections: len(sim.log.connections) == n, "reconnected")
            await run.tick(3)
            assert run.book_matches_exchange()
            summary = await run.finish()
        assert len(sim.log.faults_of("disconnect")) == 3
        assert (summary.reconnects, summary.per_symbol[SYMBOL].syncs) == (3, 4)
        assert frames_of(records(tmp_path)[0]) == sent_frames(sim)
        # Only the socket loop drew delays (no REST retry happened): one per reconnect. Without
        # a healthy connection they continue one series (random first, then exponential); a
        # healthy one restarts the series, so each reconnect takes a first, random, delay.
        first_three = list(itertools.islice(fast_backoff(), 3))
        expected = first_three if series_used == 1 else [first_three[0]] * 3
        assert [delay for _, delay in draws] == expected
        assert len({number for number, _ in draws}) == series_used
        # Never more than 2 attempts in any 1 s: the third waited for the first to age out.
        times = limiter.attempt_times
        assert len(times) == 4
        assert all(later - earlier >= 1.0 for earlier, later in zip(times, times[2:], strict=False))

    async def test_pong_keeps_the_connection_past_the_pong_timeout(
        self, simulator_config, tmp_path
    ):
        limits = ConnectionLimits(ping_interval_s=0.05, pong_timeout_s=0.2, max_inbound_per_s=100)
        async with Simulator(simulator_config(limits=limits)) as sim:
            run = await Run(sim, tmp_path).start()
            await wait_until(lambda: len(sim.log.frames(kind=FrameKind.PING)) >= 12, "pings")
            summary = await run.finish()
        # 12 pings span 0.6 s, three pong timeouts: the one connection was closed by us alone.
        assert [c.cause for c in sim.log.closes] == [CloseCause.CLIENT]
        assert (len(sim.log.connections), summary.reconnects) == (1, 0)


class TestRestFaults:
    async def test_stale_snapshot_refetched(self, simulator_config, tmp_path):
        stale = FaultSpec("stale_snapshot", symbol=SYMBOL, at_event=0, stale_by_events=5)
        async with Simulator(simulator_config(scenario=scenario(stale))) as sim:
            await sim.advance(10)  # history before the capture connects
            run = await Run(sim, tmp_path).start()
            await run.tick(5)
            assert run.book_matches_exchange()
            summary = await run.finish()
        counters = summary.per_symbol[SYMBOL]
        [fault] = sim.log.faults_of("stale_snapshot")
        served = [r.last_update_id for r in sim.log.rest_responses(SYMBOL, 200)]
        assert len(served) == 2 and served[0] == fault.last_id
        assert (counters.snapshots_too_old, counters.snapshots_used, summary.snapshots) == (1, 1, 2)
        recs, _ = records(tmp_path)
        assert [r.json()["lastUpdateId"] for r in recs if r.kind == "snapshot"] == served

    async def test_429_waits_retry_after(self, simulator_config, tmp_path):
        throttle = FaultSpec("http_429", symbol=SYMBOL, retry_after_s=1)
        async with Simulator(simulator_config(scenario=scenario(throttle))) as sim:
            run = await Run(sim, tmp_path).start()
            await run.tick(3)
            summary = await run.finish()
        refused, served = sim.log.rest_responses(SYMBOL)
        assert (refused.status, served.status, summary.rest_retries) == (429, 200, 1)
        # The backoff would have retried after milliseconds; Retry-After said one second.
        assert served.send_ns - refused.send_ns >= 1_000_000_000
        assert summary.per_symbol[SYMBOL].syncs == 1

    async def test_5xx_retried_with_backoff(self, simulator_config, tmp_path):
        failing = FaultSpec("http_5xx", symbol=SYMBOL, times=2, status=503)
        async with Simulator(simulator_config(scenario=scenario(failing))) as sim:
            run = await Run(sim, tmp_path).start()
            await run.tick(3)
            summary = await run.finish()
        assert [r.status for r in sim.log.rest_responses(SYMBOL)] == [503, 503, 200]
        assert (summary.rest_retries, summary.snapshots) == (2, 1)


class TestLoadAndShutdown:
    async def test_burst_at_10x_loses_nothing(self, simulator_config, tmp_path):
        burst = FaultSpec("burst", symbol=SYMBOL, at_event=5, factor=10, duration_s=3.0)
        async with Simulator(simulator_config(scenario=scenario(burst))) as sim:
            run = await Run(sim, tmp_path).start()
            await run.tick(5)
            await sim.advance(30)  # 300 events as fast as the simulator sends them
            await run.settle()
            await run.tick(3)
            assert run.book_matches_exchange()
            summary = await run.finish()
        sent = sent_frames(sim)
        assert len(sim.log.frames(kind=FrameKind.DEPTH)) == 5 + 300 + 3
        assert frames_of(records(tmp_path)[0]) == sent
        assert (summary.frames_dropped, summary.gaps, summary.per_symbol[SYMBOL].syncs) == (0, 0, 1)

    async def test_overflow_of_a_tiny_queue_is_a_gap_marker(self, simulator_config, tmp_path):
        burst = FaultSpec("burst", symbol=SYMBOL, at_event=3, factor=50, duration_s=3.0)
        async with Simulator(simulator_config(scenario=scenario(burst))) as sim:
            run = await Run(sim, tmp_path, queue_max_frames=8, queue_full_wait_s=0.0).start()
            await run.tick(3)
            await sim.advance(30)  # 1500 events at once against an 8-frame queue
            await run.settle()
            await run.tick(3)
            synced_after = run.book_matches_exchange()
            summary = await run.finish()
        recs, _ = records(tmp_path)
        gaps = [r.json() for r in recs if r.kind == "gap"]
        sent = sent_frames(sim)
        recorded = frames_of(recs)
        assert summary.overflow_gaps == len(gaps) >= 1
        assert summary.frames_dropped == sum(g["dropped"] for g in gaps)
        assert (
            len(recorded) + summary.frames_dropped
            == len(sent)
            == summary.frames + summary.frames_dropped
        )
        assert not Counter(recorded) - Counter(sent)  # nothing recorded that was not sent
        # A gap marker breaks every book: the next record that is not a gap is a fresh snapshot
        # (or the end), and the book is live and equal to the exchange's again.
        marks = [k for k in kinds(recs) if k != "header"]
        after_gaps = {marks[i + 1] for i in range(len(marks) - 1) if marks[i] == "gap"} - {"gap"}
        assert after_gaps <= {"snapshot", "disconnect"} and "snapshot" in after_gaps
        assert synced_after
        assert summary.gaps == summary.overflow_gaps + summary.per_symbol[SYMBOL].gaps

    async def test_a_full_queue_holds_the_reader_back_and_loses_nothing(
        self, simulator_config, tmp_path
    ):
        burst = FaultSpec("burst", symbol=SYMBOL, at_event=3, factor=50, duration_s=3.0)
        async with Simulator(simulator_config(scenario=scenario(burst))) as sim:
            # The same 8-frame queue as above, but the reader may wait for room (back-pressure).
            run = await Run(sim, tmp_path, queue_max_frames=8, queue_full_wait_s=SIM_WAIT_S).start()
            await run.tick(3)
            await sim.advance(30)  # 1500 events at once
            await run.settle()
            await run.tick(3)
            assert run.book_matches_exchange()
            summary = await run.finish()
        recs, issues = records(tmp_path)
        assert issues == [] and "gap" not in kinds(recs)
        assert frames_of(recs) == sent_frames(sim)  # byte for byte, in order
        assert len(sim.log.frames(kind=FrameKind.DEPTH)) == 3 + 1500 + 3
        assert (summary.frames_dropped, summary.overflow_gaps, summary.gaps) == (0, 0, 0)
        assert run.session._queue.peak_frames == 8  # it was full, and never beyond its bound

    async def test_stop_at_duration_finalises_the_files(self, simulator_config, tmp_path):
        config = simulator_config(manual_clock=False, time_scale=20)
        async with Simulator(config) as sim:
            config = dataclasses.replace(Run(sim, tmp_path).session.config, duration_s=0.5)
            session = CaptureSession(config, backoff=fast_backoff)
            async with asyncio.timeout(SIM_WAIT_S):
                summary = await session.run()
        recs, issues = records(tmp_path)
        assert issues == []
        assert [p.suffix for p in tmp_path.iterdir()] == [".zst"]
        assert summary.stopped_reason == "duration" and summary.frames == len(frames_of(recs)) > 0
        assert kinds(recs)[-1] == "disconnect" and recs[-1].json()["reason"] == "stop"

    async def test_rollover_overlaps_two_sockets(self, simulator_config, tmp_path):
        config = simulator_config(manual_clock=False, time_scale=20)
        async with Simulator(config) as sim:
            run = await Run(
                sim, tmp_path, connection_lifetime_s=0.3, rollover_overlap_s=0.1
            ).start()
            await wait_until(lambda: len(sim.log.connections) >= 3, "two roll-overs")
            summary = await run.finish()
        recs, _ = records(tmp_path)
        connects = [r.json() for r in recs if r.kind == "connect"]
        assert [c.get("rollover_of") for c in connects] == [None] + [
            c["conn_id"] - 1 for c in connects[1:]
        ]
        assert summary.rollovers == summary.reconnects == len(connects) - 1 >= 2
        assert [r.json()["reason"] for r in recs if r.kind == "disconnect"] == ["stop"]
        # Every frame each socket delivered is recorded; overlapping copies included.
        recorded = Counter(frames_of(recs))
        assert not recorded - Counter(sent_frames(sim))
        # ... and together they hold an unbroken U/u chain: no event fell between two sockets.
        ids = sorted(
            {(d["U"], d["u"]) for d in map(_data, recorded) if d.get("e") == "depthUpdate"}
        )
        assert [u + 1 for _, u in ids[:-1]] == [first for first, _ in ids[1:]]
        assert summary.gaps == 0 and summary.per_symbol[SYMBOL].syncs >= len(connects) - 1
