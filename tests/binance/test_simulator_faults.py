"""Each simulator fault over real sockets produces exactly the injected effect, and the log says so.

The exchange clock is advanced by hand, so every count below follows from the scenario alone.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
import pytest
from websockets.asyncio.client import connect

from feedcheck.binance.market import snapshot_body
from feedcheck.binance.sim_faults import FaultSpec, Scenario
from feedcheck.binance.sim_framelog import CloseCause, FrameKind
from feedcheck.binance.simulator import Simulator
from tests.binance.conftest import SIM_START_MS

pytestmark = pytest.mark.asyncio

DEPTH = "btcusdt@depth@100ms"
SLOW_DEPTH = "btcusdt@depth"
DEPTH_URL_TAIL = "/api/v3/depth?symbol=BTCUSDT&limit=5000"


def _scenario(*faults: FaultSpec) -> Scenario:
    return Scenario("test", faults)


def _gaps(ids: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`(prev u, next U)` wherever `U` > previous `u` + 1."""
    return [(a[1], b[0]) for a, b in zip(ids, ids[1:], strict=False) if b[0] > a[1] + 1]


async def _streamed(sim: Simulator, url: str, ticks: int, reader) -> tuple[list[str], int]:
    """Connect to `url`, make `ticks` ticks, and read everything the simulator sent."""
    async with connect(url) as ws:
        [conn_id] = await sim.wait_connections(1)
        await sim.advance(ticks)
        return await reader.recv_logged(sim, ws, conn_id), conn_id


class TestDepthFaults:
    async def test_drop_makes_exactly_the_injected_gaps(self, simulator_config, simulator_reader):
        drop = FaultSpec("drop", at_event=5, count=2, times=2, every_events=10)
        async with Simulator(simulator_config(scenario=_scenario(drop))) as sim:
            msgs, conn = await _streamed(
                sim, sim.stream_url(DEPTH, SLOW_DEPTH), 30, simulator_reader
            )
        by_stream = {
            s: [m for m in msgs if json.loads(m)["stream"] == s] for s in (DEPTH, SLOW_DEPTH)
        }
        fast = simulator_reader.depth_ids(by_stream[DEPTH])
        slow = simulator_reader.depth_ids(by_stream[SLOW_DEPTH])
        dropped = sim.log.faults_of("drop")
        assert [f.event_index for f in dropped] == [5, 6, 15, 16]
        assert len(fast) == 30 - 4
        assert _gaps(fast) == [
            (dropped[0].first_id - 1, dropped[1].last_id + 1),
            (dropped[2].first_id - 1, dropped[3].last_id + 1),
        ]
        # The 1000 ms stream merges runs of sent events, so the same two holes show there.
        assert len(slow) == 5 and _gaps(slow) == _gaps(fast)
        assert fast == sim.log.depth_ids(conn, DEPTH)

    async def test_duplicates(self, simulator_config, simulator_reader):
        dup = FaultSpec("duplicate", at_event=3, times=3, every_events=5)
        async with Simulator(simulator_config(scenario=_scenario(dup))) as sim:
            msgs, _ = await _streamed(sim, sim.raw_url(DEPTH), 20, simulator_reader)
        repeats = [i for i in range(1, len(msgs)) if msgs[i] == msgs[i - 1]]
        assert len(msgs) == 20 + 3
        assert [json.loads(msgs[i])["u"] for i in repeats] == [
            f.last_id for f in sim.log.faults_of("duplicate")
        ]
        assert len(repeats) == 3

    async def test_overlaps(self, simulator_config, simulator_reader):
        overlap = FaultSpec("overlap", at_event=4, times=2, every_events=6)
        async with Simulator(simulator_config(scenario=_scenario(overlap))) as sim:
            msgs, _ = await _streamed(sim, sim.raw_url(DEPTH), 20, simulator_reader)
        ids = simulator_reader.depth_ids(msgs)
        overlapping = [i for i in range(1, len(ids)) if ids[i][0] <= ids[i - 1][1]]
        assert len(ids) == 20 and _gaps(ids) == []
        assert overlapping == [4, 10]
        assert [ids[i][0] for i in overlapping] == [ids[i - 1][0] for i in overlapping]
        assert [(f.first_id, f.last_id) for f in sim.log.faults_of("overlap")] == [ids[4], ids[10]]

    async def test_burst_at_10x_keeps_the_chain(self, simulator_config, simulator_reader):
        burst = FaultSpec("burst", at_event=10, factor=10, duration_s=0.5)
        async with Simulator(simulator_config(scenario=_scenario(burst))) as sim:
            msgs, _ = await _streamed(sim, sim.raw_url(DEPTH), 20, simulator_reader)
        events = [json.loads(m) for m in msgs]
        assert len(events) == 10 + 5 * 10 + 5
        assert [e["U"] for e in events[1:]] == [e["u"] + 1 for e in events[:-1]]
        assert [e["E"] - SIM_START_MS for e in events[10:21]] == list(range(1010, 1120, 10))

    async def test_slow_frames_arrive_late_and_in_order(self, simulator_config, simulator_reader):
        slow = FaultSpec("slow_frame", at_event=2, delay_s=0.2)
        async with Simulator(simulator_config(scenario=_scenario(slow))) as sim:
            msgs, conn = await _streamed(sim, sim.raw_url(DEPTH), 5, simulator_reader)
        ids = simulator_reader.depth_ids(msgs)
        frames = sim.log.frames(conn, FrameKind.DEPTH)
        [fault] = sim.log.faults_of("slow_frame")
        assert len(ids) == 5 and _gaps(ids) == []
        assert (fault.first_id, fault.last_id) == ids[2]
        # The sender slept delay_s before the delayed frame (a lower bound, never flaky).
        assert frames[2].send_ns - frames[1].send_ns >= 190_000_000


class TestConnectionFaults:
    @pytest.mark.parametrize(("abrupt", "code"), [(True, 1006), (False, 1001)])
    async def test_disconnect(self, simulator_config, simulator_reader, abrupt: bool, code: int):
        cut = FaultSpec("disconnect", symbol="BTCUSDT", at_s=0.5, abrupt=abrupt)
        async with Simulator(simulator_config(scenario=_scenario(cut))) as sim:
            async with connect(sim.stream_url(DEPTH)) as ws:
                await sim.wait_connections(1)
                await sim.advance(10)
                received = await simulator_reader.recv_until_closed(ws)
        # Fires with the event at 500 ms (index 4): events 0..4 were queued before the cut.
        assert len(received) == 5
        assert received == [f.text for f in sim.log.data_frames(1)]
        assert ws.close_code == code
        [close] = sim.log.closes
        assert (close.cause, close.code) == (CloseCause.DISCONNECT, None if abrupt else 1001)

    @pytest.mark.parametrize("raw", [False, True])
    async def test_server_shutdown_then_close(self, simulator_config, simulator_reader, raw: bool):
        shutdown = FaultSpec("server_shutdown", at_event=3)  # no symbol: clock tick 3
        async with Simulator(simulator_config(scenario=_scenario(shutdown))) as sim:
            url = sim.raw_url(DEPTH) if raw else sim.stream_url(DEPTH)
            async with connect(url) as ws:
                await sim.wait_connections(1)
                await sim.advance(6)
                received = await simulator_reader.recv_until_closed(ws)
        notice = {"e": "serverShutdown", "E": SIM_START_MS + 300}
        last = notice if raw else {"stream": "!serverShutdown", "data": notice}
        assert json.loads(received[-1]) == last
        assert len(simulator_reader.depth_ids(received)) == 3
        assert (ws.close_code, ws.close_reason) == (1001, "server shutdown")
        assert received == [f.text for f in sim.log.data_frames(1)]
        assert [c.cause for c in sim.log.closes] == [CloseCause.SERVER_SHUTDOWN]


class TestRestFaults:
    async def test_stale_snapshot_is_below_the_first_buffered_U(
        self, simulator_config, simulator_reader
    ):
        stale = FaultSpec("stale_snapshot", symbol="BTCUSDT", stale_by_events=50)
        async with Simulator(simulator_config(scenario=_scenario(stale))) as sim:
            await sim.advance(12)
            then = sim.model("BTCUSDT").snapshot(5000)
            await sim.advance(49)
            async with connect(sim.raw_url(DEPTH)) as ws, aiohttp.ClientSession() as http:
                await sim.wait_connections(1)
                await sim.advance(1)
                first = json.loads((await simulator_reader.recv_n(ws, 1))[0])
                async with http.get(sim.rest_url + DEPTH_URL_TAIL) as resp:
                    old = await resp.json()
                async with http.get(sim.rest_url + DEPTH_URL_TAIL) as resp:
                    fresh = await resp.json()
        assert old["lastUpdateId"] == then.last_update_id < first["U"]
        assert old == json.loads(snapshot_body(sim.config.symbols[0], then))  # exact, just old
        assert fresh["lastUpdateId"] == first["u"]
        assert [f.last_id for f in sim.log.faults_of("stale_snapshot")] == [then.last_update_id]

    async def test_429_with_retry_after_then_503_then_ok(self, simulator_config):
        faults = (
            FaultSpec("http_429", times=2, retry_after_s=3),
            FaultSpec("http_5xx", status=503),
        )
        async with Simulator(simulator_config(scenario=_scenario(*faults))) as sim:
            got = []
            async with aiohttp.ClientSession() as http:
                for _ in range(4):
                    async with http.get(sim.rest_url + DEPTH_URL_TAIL) as resp:
                        got.append(
                            (resp.status, resp.headers.get("Retry-After"), await resp.json())
                        )
        assert [(s, r) for s, r, _ in got] == [(429, "3"), (429, "3"), (503, None), (200, None)]
        assert got[0][2]["code"] == -1003 and got[2][2]["code"] == -1001
        assert [r.status for r in sim.log.rest] == [429, 429, 503, 200]

    async def test_slow_rest_answers_with_the_book_after_the_delay(self, simulator_config):
        slow = FaultSpec("slow_rest", delay_s=0.5)
        async with Simulator(simulator_config(scenario=_scenario(slow))) as sim:
            async with aiohttp.ClientSession() as http:
                request = asyncio.create_task(http.get(sim.rest_url + DEPTH_URL_TAIL))
                while not sim.log.faults_of("slow_rest"):  # the request is being held
                    await asyncio.sleep(0.005)
                await sim.advance(5)  # the exchange moves on meanwhile
                async with await request as resp:
                    body = await resp.json()
        assert body["lastUpdateId"] == sim.model("BTCUSDT").last_update_id
        assert sim.model("BTCUSDT").events_made == 5

    async def test_corrupt_snapshot_changes_one_level_of_one_body(self, simulator_config):
        # Armed from event 5: the first body after it is wrong at the best bid, the next exact.
        corrupt = FaultSpec("corrupt_snapshot", symbol="BTCUSDT", at_event=5, count=3)
        async with Simulator(simulator_config(scenario=_scenario(corrupt))) as sim:
            spec = sim.config.symbols[0]
            bodies, truth = [], []
            async with aiohttp.ClientSession() as http:
                for ticks in (2, 3, 1):  # events made at each request: 2, 5, 6
                    await sim.advance(ticks)
                    truth.append(
                        json.loads(snapshot_body(spec, sim.model("BTCUSDT").snapshot(5000)))
                    )
                    async with http.get(sim.rest_url + DEPTH_URL_TAIL) as resp:
                        bodies.append(await resp.json())
        assert [bodies[0], bodies[2]] == [truth[0], truth[2]]  # before and after: exact
        bad, good = bodies[1], truth[1]
        assert (bad["lastUpdateId"], bad["asks"], bad["bids"][1:]) == (
            good["lastUpdateId"], good["asks"], good["bids"][1:],
        )  # fmt: skip
        (price, qty), (good_price, good_qty) = bad["bids"][0], good["bids"][0]
        lots = (Decimal(qty) - Decimal(good_qty)) / Decimal(spec.step_size_str)
        assert (price, lots) == (good_price, 3)
        [fault] = sim.log.faults_of("corrupt_snapshot")
        assert fault.last_id == good["lastUpdateId"]
