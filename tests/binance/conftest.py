"""Fixtures for the loopback Binance simulator tests (tests/binance/test_simulator*.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosedError
from websockets.frames import Close, Frame, Opcode
from websockets.uri import parse_uri

from feedcheck.binance.market import MarketConfig
from feedcheck.binance.sim_conn import ConnectionLimits
from feedcheck.binance.simulator import Simulator, SimulatorConfig

#: Exchange time of tick 0 in every simulator test (epoch ms), so E/T values are exact.
SIM_START_MS = 1_700_000_000_000
#: Bound on any single wait in these tests; a hang fails fast instead of hitting pytest-timeout.
SIM_WAIT_S = 10.0


def _config(**overrides: Any) -> SimulatorConfig:
    base: dict[str, Any] = {
        "manual_clock": True,
        "start_time_ms": SIM_START_MS,
        "market": MarketConfig(levels_per_side=40),
        "close_timeout_s": 0.5,
        "limits": ConnectionLimits(),
    }
    base.update(overrides)
    return SimulatorConfig(**base)


@pytest.fixture
def simulator_config() -> Callable[..., SimulatorConfig]:
    """Factory of test configs: manual clock, fixed start time, a 40-level book, fast closes."""
    return _config


class SimulatorReader:
    """Client-side reading helpers, bounded by `SIM_WAIT_S`."""

    @staticmethod
    async def recv_n(ws: ClientConnection, n: int) -> list[str]:
        async with asyncio.timeout(SIM_WAIT_S):
            return [str(await ws.recv()) for _ in range(n)]

    @staticmethod
    async def recv_logged(sim: Simulator, ws: ClientConnection, conn_id: int) -> list[str]:
        """Everything the simulator has published to `conn_id` so far, read by the client."""
        await sim.drain()
        return await SimulatorReader.recv_n(ws, len(sim.log.data_frames(conn_id)))

    @staticmethod
    async def recv_until_closed(ws: ClientConnection) -> list[str]:
        """Every message until the server ends the connection (its close code is then set)."""
        messages = []
        async with asyncio.timeout(SIM_WAIT_S):
            # ConnectionClosedError is how an abrupt server-side close ends the iteration.
            with contextlib.suppress(ConnectionClosedError):
                async for message in ws:
                    messages.append(str(message))
        return messages

    @staticmethod
    def data(message: str) -> dict[str, Any]:
        """The payload of a combined-envelope or raw message."""
        obj = json.loads(message)
        return obj["data"] if "stream" in obj and "data" in obj else obj

    @staticmethod
    def depth_ids(messages: list[str]) -> list[tuple[int, int]]:
        datas = [SimulatorReader.data(m) for m in messages]
        return [(d["U"], d["u"]) for d in datas if d.get("e") == "depthUpdate"]


@pytest.fixture
def simulator_reader() -> type[SimulatorReader]:
    return SimulatorReader


class SilentClient:
    """A WebSocket client that reads everything and never answers a ping.

    websockets' own client always pongs, so this one drives the sans-I/O `ClientProtocol` over a
    plain asyncio stream and discards the pongs it queues; it writes only after the server's
    close frame (to answer it). `frames` are every frame received, in order.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.frames: list[Frame] = []

    @property
    def pings(self) -> int:
        return sum(1 for f in self.frames if f.opcode is Opcode.PING)

    @property
    def close_code(self) -> int | None:
        closes = [Close.parse(f.data) for f in self.frames if f.opcode is Opcode.CLOSE]
        return closes[0].code if closes else None

    async def run(self) -> None:
        uri = parse_uri(self.url)
        reader, writer = await asyncio.open_connection(uri.host, uri.port)
        protocol = ClientProtocol(uri)
        protocol.send_request(protocol.connect())
        writer.write(b"".join(protocol.data_to_send()))
        closing = False
        try:
            async with asyncio.timeout(SIM_WAIT_S):
                while True:
                    data = await reader.read(65536)
                    if data:
                        protocol.receive_data(data)
                    else:
                        protocol.receive_eof()
                    for event in protocol.events_received():
                        if isinstance(event, Frame):
                            self.frames.append(event)
                            closing = closing or event.opcode is Opcode.CLOSE
                    pending = b"".join(protocol.data_to_send())
                    if closing and not writer.is_closing():
                        writer.write(pending)
                    if not data:
                        return
        finally:
            writer.close()
            await writer.wait_closed()


@pytest.fixture
def simulator_silent_client() -> type[SilentClient]:
    return SilentClient
