"""The loopback Binance simulator over real sockets: streams, REST, venue limits, frame log.

Each test starts a `Simulator` on 127.0.0.1 port 0 and talks to it with websockets and aiohttp
clients. Most run the exchange clock by hand (`manual_clock`, `advance`) so counts are exact;
the real-time ones compress exchange time (`time_scale`). Faults: test_simulator_faults.py.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from feedcheck.binance.market import MarketConfig
from feedcheck.binance.sim_conn import ConnectionLimits
from feedcheck.binance.sim_framelog import CloseCause, FrameKind
from feedcheck.binance.simulator import (
    CLI_FRAME_LOG_MAX,
    Simulator,
    SimulatorConfig,
    config_for_cli,
    run_simulator,
)
from feedcheck.errors import ConfigError
from tests.binance.conftest import SIM_START_MS, SIM_WAIT_S

pytestmark = pytest.mark.asyncio

DEPTH = "btcusdt@depth@100ms"
TRADE = "btcusdt@trade"


async def _get(url: str) -> tuple[int, dict, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, json.loads(await resp.text()), dict(resp.headers)


def _apply(book: dict[str, dict[str, str]], data: dict) -> None:
    for side, key in (("bids", "b"), ("asks", "a")):
        for price, qty in data[key]:
            if Decimal(qty) == 0:
                book[side].pop(price, None)
            else:
                book[side][price] = qty


def _as_book(snapshot: dict) -> dict[str, dict[str, str]]:
    return {side: dict(map(tuple, snapshot[side])) for side in ("bids", "asks")}


class TestStreams:
    """Combined envelope and raw payload (data-formats.md §2.1), spot depth and trade fields."""

    async def test_combined_and_raw_carry_the_same_chain(self, simulator_config, simulator_reader):
        async with Simulator(simulator_config()) as sim:
            async with (
                connect(sim.stream_url(DEPTH, TRADE)) as both,
                connect(sim.raw_url(DEPTH)) as raw,
            ):
                await sim.wait_connections(2)
                await sim.advance(10)
                combined_msgs = await simulator_reader.recv_logged(sim, both, 1)
                raw_msgs = await simulator_reader.recv_logged(sim, raw, 2)
        envelopes = [json.loads(m) for m in combined_msgs]
        depth = [e["data"] for e in envelopes if e["stream"] == DEPTH]
        trades = [e["data"] for e in envelopes if e["stream"] == TRADE]
        assert {e["stream"] for e in envelopes} == {DEPTH, TRADE}
        assert [json.loads(m) for m in raw_msgs] == depth
        assert len(depth) == 10
        assert depth[0]["U"] == MarketConfig().first_update_id
        assert [d["U"] for d in depth[1:]] == [d["u"] + 1 for d in depth[:-1]]
        assert [d["E"] for d in depth] == [SIM_START_MS + 100 * (i + 1) for i in range(10)]
        assert {d["s"] for d in depth} == {"BTCUSDT"}
        assert len(trades) == sim.model("BTCUSDT").next_trade_id - 5_000_000_000
        assert [t["t"] for t in trades] == [5_000_000_000 + i for i in range(len(trades))]
        assert all(set(t) == set("eEstpqTmM") and t["E"] == t["T"] for t in trades)

    async def test_slow_depth_stream_merges_ten_ticks(self, simulator_config, simulator_reader):
        async with Simulator(simulator_config()) as sim:
            async with connect(sim.stream_url(DEPTH, "btcusdt@depth")) as ws:
                await sim.wait_connections(1)
                await sim.advance(30)
                msgs = await simulator_reader.recv_logged(sim, ws, 1)
        fast = [json.loads(m)["data"] for m in msgs if json.loads(m)["stream"] == DEPTH]
        slow = [json.loads(m)["data"] for m in msgs if json.loads(m)["stream"] == "btcusdt@depth"]
        assert [(d["U"], d["u"]) for d in slow] == [
            (fast[i]["U"], fast[i + 9]["u"]) for i in (0, 10, 20)
        ]
        assert [d["E"] for d in slow] == [SIM_START_MS + 1000 * k for k in (1, 2, 3)]

    async def test_chain_is_continuous_in_real_time(self, simulator_config, simulator_reader):
        async with Simulator(simulator_config(manual_clock=False, time_scale=200)) as sim:
            async with connect(sim.stream_url(DEPTH)) as ws:
                msgs = await simulator_reader.recv_n(ws, 300)
                ids = simulator_reader.depth_ids(msgs)
                logged = sim.log.depth_ids(1, DEPTH)[:300]
        assert [u for _, u in ids[:-1]] == [u_next - 1 for u_next, _ in ids[1:]]
        assert ids == logged

    @pytest.mark.parametrize(
        "path",
        [
            "/stream?streams=btcusdt@depth@250ms",
            "/stream?streams=BTCUSDT@trade",
            "/stream?streams=ethusdt@trade",
            "/stream?streams=btcusdt@trade/btcusdt@aggTrade",
            "/ws/btcusdt",
        ],
    )
    async def test_unknown_streams_are_rejected(self, simulator_config, path: str):
        async with Simulator(simulator_config()) as sim:
            with pytest.raises(InvalidStatus) as err:
                async with connect(sim.ws_url + path):
                    pass
            with pytest.raises(InvalidStatus) as not_found:
                async with connect(sim.ws_url + "/api/stream"):
                    pass
        assert err.value.response.status_code == 400
        assert not_found.value.response.status_code == 404
        assert sim.log.connections == []

    async def test_control_messages(self, simulator_config, simulator_reader):
        async with Simulator(simulator_config()) as sim:
            async with connect(sim.raw_url()) as ws:
                await ws.send(
                    '{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@depth@100ms"],"id":1}'
                )
                assert await ws.recv() == '{"result":null,"id":1}'
                await ws.send('{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":"two"}')
                assert await ws.recv() == '{"result":null,"id":"two"}'
                await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":3}')
                assert await ws.recv() == '{"result":["btcusdt@depth@100ms"],"id":3}'
                await ws.send('{"method":"SUBSCRIBE","params":["btcusdt@kline_1m"],"id":4}')
                assert json.loads(await ws.recv())["error"]["code"] == 2
                await sim.advance(3)
                await sim.drain()
                msgs = await simulator_reader.recv_n(ws, 3)
        assert [json.loads(m)["e"] for m in msgs] == ["depthUpdate"] * 3  # raw, no trades
        assert [f.kind for f in sim.log.data_frames(1)] == [FrameKind.RESPONSE] * 4 + [
            FrameKind.DEPTH
        ] * 3


class TestRest:
    """GET /api/v3/depth and /api/v3/exchangeInfo (data-formats.md §2.5)."""

    async def test_snapshot_plus_stream_equals_later_snapshot(
        self, simulator_config, simulator_reader
    ):
        async with Simulator(simulator_config()) as sim:
            async with connect(sim.stream_url(DEPTH)) as ws:
                await sim.wait_connections(1)
                await sim.advance(5)
                _, first, _ = await _get(f"{sim.rest_url}/api/v3/depth?symbol=BTCUSDT&limit=5000")
                await sim.advance(40)
                _, later, _ = await _get(f"{sim.rest_url}/api/v3/depth?symbol=BTCUSDT&limit=5000")
                msgs = await simulator_reader.recv_logged(sim, ws, 1)
        events = [json.loads(m)["data"] for m in msgs]
        book = _as_book(first)
        live = [e for e in events if e["u"] > first["lastUpdateId"]]
        assert live[0]["U"] == first["lastUpdateId"] + 1
        for event in live:
            _apply(book, event)
        assert live[-1]["u"] == later["lastUpdateId"]
        assert book == _as_book(later)
        assert [r.last_update_id for r in sim.log.rest_responses("BTCUSDT", 200)] == [
            first["lastUpdateId"],
            later["lastUpdateId"],
        ]

    async def test_snapshot_consistent_while_the_clock_runs(
        self, simulator_config, simulator_reader
    ):
        url_tail = "/api/v3/depth?symbol=BTCUSDT&limit=5000"
        async with Simulator(simulator_config(manual_clock=False, time_scale=50)) as sim:
            async with connect(sim.stream_url(DEPTH)) as ws:
                buffered = [simulator_reader.data(m) for m in await simulator_reader.recv_n(ws, 1)]
                _, first, _ = await _get(sim.rest_url + url_tail)
                buffered += [
                    simulator_reader.data(m) for m in await simulator_reader.recv_n(ws, 20)
                ]
                _, later, _ = await _get(sim.rest_url + url_tail)
                while buffered[-1]["u"] < later["lastUpdateId"]:
                    buffered += [
                        simulator_reader.data(m) for m in await simulator_reader.recv_n(ws, 1)
                    ]
        assert buffered[0]["U"] <= first["lastUpdateId"]
        book = _as_book(first)
        live = [e for e in buffered if first["lastUpdateId"] < e["u"] <= later["lastUpdateId"]]
        assert live[0]["U"] <= first["lastUpdateId"] + 1 <= live[0]["u"]
        for event in live:
            _apply(book, event)
        assert book == _as_book(later)

    async def test_limit_default_cap_and_errors(self, simulator_config):
        config = simulator_config(market=MarketConfig(levels_per_side=6000))
        base = "/api/v3/depth?symbol="
        async with Simulator(config) as sim:
            results = {
                q: await _get(sim.rest_url + base + q)
                for q in ("BTCUSDT", "BTCUSDT&limit=7", "BTCUSDT&limit=10000", "BTCUSDT&limit=abc", "BTCUSDT&limit=0", "ETHUSDT", "btcusdt", "")
            }  # fmt: skip
        sizes = {
            q: (len(r[1]["bids"]), len(r[1]["asks"])) for q, r in results.items() if r[0] == 200
        }
        assert sizes == {
            "BTCUSDT": (100, 100),
            "BTCUSDT&limit=7": (7, 7),
            "BTCUSDT&limit=10000": (5000, 5000),
        }
        errors = {q: (r[0], r[1]["code"]) for q, r in results.items() if r[0] != 200}
        assert errors == {
            "BTCUSDT&limit=abc": (400, -1100),
            "BTCUSDT&limit=0": (400, -1100),
            "ETHUSDT": (400, -1121),
            "btcusdt": (400, -1121),
            "": (400, -1102),
        }
        assert results["ETHUSDT"][1] == {"code": -1121, "msg": "Invalid symbol."}
        assert results["BTCUSDT&limit=10000"][2]["X-MBX-USED-WEIGHT-1M"] == "260"  # 5 + 5 + 250
        best_bid = Decimal(results["BTCUSDT"][1]["bids"][0][0])
        bids = [Decimal(p) for p, _ in results["BTCUSDT&limit=10000"][1]["bids"]]
        assert bids == sorted(bids, reverse=True) and bids[0] == best_bid
        assert [r.status for r in sim.log.rest] == [200, 200, 200, 400, 400, 400, 400, 400]

    async def test_exchange_info_tick_and_lot(self, simulator_config):
        config = simulator_config(symbols=("BTCUSDT", "ETHUSDT"))
        async with Simulator(config) as sim:
            status, info, _ = await _get(sim.rest_url + "/api/v3/exchangeInfo")
            bad, error, _ = await _get(sim.rest_url + "/api/v3/exchangeInfo?symbol=XRPUSDT")
        filters = {s["symbol"]: {f["filterType"]: f for f in s["filters"]} for s in info["symbols"]}
        assert status == 200 and bad == 400 and error["code"] == -1121
        assert sorted(filters) == ["BTCUSDT", "ETHUSDT"]
        assert filters["BTCUSDT"]["PRICE_FILTER"]["tickSize"] == "0.01000000"
        assert filters["BTCUSDT"]["LOT_SIZE"]["stepSize"] == "0.00001000"


class TestVenueLimits:
    """Ping 20 s / pong 60 s, 5 inbound msgs/s, 24 h lifetime (data-formats.md §2.2), shortened."""

    async def test_ponging_client_stays_connected(self, simulator_config):
        limits = ConnectionLimits(ping_interval_s=0.03, pong_timeout_s=0.1, max_inbound_per_s=100)
        async with Simulator(simulator_config(limits=limits)) as sim:
            async with connect(sim.raw_url(DEPTH)) as ws:
                async with asyncio.timeout(SIM_WAIT_S):
                    # 8 pings span > 2 pong timeouts: only the pongs can have kept it open.
                    while len(sim.log.frames(1, FrameKind.PING)) < 8:
                        await asyncio.sleep(0.01)
                assert sim.log.closes == []
                async with asyncio.timeout(SIM_WAIT_S):
                    await (await ws.ping())  # and the link still answers
        assert [c.cause for c in sim.log.closes] == [CloseCause.CLIENT]

    async def test_silent_client_is_dropped(self, simulator_config, simulator_silent_client):
        limits = ConnectionLimits(ping_interval_s=0.03, pong_timeout_s=0.1)
        async with Simulator(simulator_config(limits=limits)) as sim:
            client = simulator_silent_client(sim.raw_url(DEPTH))
            await client.run()
        assert client.close_code == 1011
        assert client.pings == len(sim.log.frames(1, FrameKind.PING)) >= 1
        [close] = sim.log.closes
        assert (close.cause, close.code, close.reason) == (
            CloseCause.KEEPALIVE,
            1011,
            "pong timeout",
        )

    async def test_five_messages_a_second_pass_six_close(self, simulator_config, simulator_reader):
        listing = '{"method":"LIST_SUBSCRIPTIONS","id":1}'
        async with Simulator(simulator_config()) as sim:
            async with connect(sim.raw_url(TRADE)) as calm:
                for _ in range(5):
                    await calm.send(listing)
                replies = await simulator_reader.recv_n(calm, 5)
                assert sim.log.closes == []
            async with connect(sim.raw_url(TRADE)) as noisy:
                for _ in range(6):
                    await noisy.send(listing)
                received = await simulator_reader.recv_until_closed(noisy)
        assert replies == ['{"result":["btcusdt@trade"],"id":1}'] * 5
        assert noisy.close_code == 1008
        assert received == [f.text for f in sim.log.data_frames(2)]
        assert [c.cause for c in sim.log.closes] == [CloseCause.CLIENT, CloseCause.RATE_LIMIT]

    async def test_lifetime_closes_at_the_mark(self, simulator_config, simulator_reader):
        limits = ConnectionLimits(lifetime_s=0.2)
        async with Simulator(simulator_config(limits=limits)) as sim:
            async with connect(sim.stream_url(DEPTH)) as ws:
                await sim.wait_connections(1)
                await sim.advance(4)
                received = await simulator_reader.recv_until_closed(ws)
        assert (ws.close_code, ws.close_reason) == (1001, "connection lifetime reached")
        assert len(received) == 4
        assert received == [f.text for f in sim.log.data_frames(1)]
        assert [c.cause for c in sim.log.closes] == [CloseCause.LIFETIME]


class TestFrameLogAndLifecycle:
    """The log is the ground truth: it equals what clients read; closing leaves no task behind."""

    async def test_log_equals_what_each_client_received(self, simulator_config, simulator_reader):
        tasks_before = asyncio.all_tasks()
        config = simulator_config(manual_clock=False, time_scale=100)
        sim = Simulator(config)
        async with sim:
            async with (
                connect(sim.stream_url(DEPTH, TRADE)) as both,
                connect(sim.raw_url(DEPTH)) as raw,
            ):
                first = await simulator_reader.recv_n(both, 50)
                readers = [
                    asyncio.create_task(simulator_reader.recv_until_closed(ws))
                    for ws in (both, raw)
                ]
                await sim.close()  # closes both connections (1001) after the frames already sent
                rest_both, all_raw = await asyncio.gather(*readers)
        assert first + rest_both == [f.text for f in sim.log.data_frames(1)]
        assert all_raw == [f.text for f in sim.log.data_frames(2)]
        assert len(sim.log.frames(1, FrameKind.DEPTH)) == len(
            simulator_reader.depth_ids(first + rest_both)
        )
        assert [(c.cause, c.code) for c in sim.log.closes] == [
            (CloseCause.SIMULATOR_CLOSED, 1001)
        ] * 2
        assert asyncio.all_tasks() == tasks_before

    async def test_run_simulator_until_cancelled(self, simulator_config, simulator_reader):
        tasks_before = asyncio.all_tasks()
        ready: asyncio.Queue[Simulator] = asyncio.Queue()
        config = simulator_config(manual_clock=False, time_scale=100)
        runner = asyncio.create_task(run_simulator(config, ready.put_nowait))
        async with asyncio.timeout(SIM_WAIT_S):
            sim = await ready.get()
        async with connect(sim.raw_url(TRADE)) as ws:
            assert json.loads((await simulator_reader.recv_n(ws, 1))[0])["e"] == "trade"
            runner.cancel()
            with pytest.raises(asyncio.CancelledError):
                await runner
            await simulator_reader.recv_until_closed(ws)
        assert ws.close_code == 1001
        assert asyncio.all_tasks() == tasks_before

    async def test_port_in_use_fails_and_closes_what_started(self, simulator_config):
        tasks_before = asyncio.all_tasks()
        async with Simulator(simulator_config()) as first:
            rest_port = int(first.rest_url.rsplit(":", 1)[1])
            second = Simulator(simulator_config(rest_port=rest_port))
            with pytest.raises(OSError):
                await second.start()
        assert asyncio.all_tasks() == tasks_before

    async def test_cli_config(self, tmp_path):
        path = tmp_path / "gaps.yaml"
        path.write_text("name: gaps\nfaults:\n  - {kind: drop, at_event: 3}\n")
        config = config_for_cli(["btcusdt", "ethusdt"], ws_port=9443, scenario=path)
        assert [s.symbol for s in config.symbols] == ["BTCUSDT", "ETHUSDT"]
        assert (config.ws_port, config.rest_port, config.scenario.name) == (9443, 0, "gaps")
        assert (config.frame_log_max, config.keep_payloads) == (CLI_FRAME_LOG_MAX, False)
        with pytest.raises(ConfigError):
            config_for_cli(["BTC-USDT"])

    async def test_config_rejects_bad_values(self):
        for kwargs in ({"symbols": ()}, {"symbols": ("BTCUSDT", "btcusdt")}, {"time_scale": 0}):
            with pytest.raises(ConfigError):
                SimulatorConfig(**kwargs)
        with pytest.raises(ConfigError):
            ConnectionLimits(ping_interval_s=0)
