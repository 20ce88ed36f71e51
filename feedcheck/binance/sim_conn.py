"""WebSocket connections of the loopback Binance simulator: handshake, fan-out, venue limits.

`ConnectionHub` accepts `/stream?streams=a/b` (combined envelope) and `/ws/<stream>` (raw) and
owns, per connection, a bounded send queue drained by one sender task, a keepalive task and a
lifetime task; the websockets handler reads control messages and, when the connection ends,
cancels and awaits the three. Frames, replies and closes go through the queue, so a fault's close
comes after the frames published before it. Venue rules (`ConnectionLimits`): a ping every
`ping_interval_s`; a ping left unanswered `pong_timeout_s` closes with 1011; more than
`max_inbound_per_s` inbound frames (data, ping, pong) within one second closes with 1008; the
connection closes with 1001 at `lifetime_s`. All durations are wall-clock (monotonic) seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode
from websockets.http11 import Request, Response
from websockets.protocol import Event, State

from feedcheck.binance import sim_control, venue
from feedcheck.binance.sim_framelog import (
    CloseCause,
    CloseRecord,
    ConnectionRecord,
    FrameKind,
    FrameLog,
    FrameRecord,
)
from feedcheck.errors import ConfigError

#: Close codes: 1001 going away (lifetime, shutdown, disconnect), 1008 policy violation (rate,
#: slow consumer), 1011 as websockets' own keepalive timeout.
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_KEEPALIVE = 1011
#: Inbound frames that count against the message rate (Binance: ping, pong and JSON all count).
_COUNTED_OPCODES = frozenset({Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG})


@dataclass(frozen=True)
class ConnectionLimits:
    """Per-connection venue rules; defaults are Binance's (`venue`), tests shorten them."""

    ping_interval_s: float = venue.PING_INTERVAL_S
    pong_timeout_s: float = venue.PONG_TIMEOUT_S
    max_inbound_per_s: int = venue.MAX_INBOUND_MSGS_PER_S
    lifetime_s: float = venue.CONNECTION_LIFETIME_S
    #: Frames queued per connection before it is closed as a slow consumer (1008).
    send_queue_max: int = 100_000

    def __post_init__(self) -> None:
        if min(self.ping_interval_s, self.pong_timeout_s, self.lifetime_s) <= 0:
            raise ConfigError("ping_interval_s, pong_timeout_s and lifetime_s must be > 0")
        if self.max_inbound_per_s < 1 or self.send_queue_max < 1:
            raise ConfigError("max_inbound_per_s and send_queue_max must be >= 1")


class StreamKeyLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def symbol(self) -> str: ...


@dataclass(slots=True)
class OutFrame:
    """A frame to send: its text and what the log records about it."""

    text: str
    kind: FrameKind
    stream: str | None
    first_id: int | None = None
    last_id: int | None = None
    trade_id: int | None = None
    #: Wall seconds the sender waits before sending it (slow-frame fault).
    delay_s: float = 0.0


@dataclass(slots=True)
class CloseCmd:
    """Close after the frames queued before it; `code` None cuts TCP without a close frame."""

    cause: CloseCause
    code: int | None
    reason: str
    delay_s: float = 0.0


class Conn:
    """Simulator-side state of one WebSocket connection."""

    def __init__(
        self,
        conn_id: int,
        ws: SimServerConnection,
        path: str,
        is_combined: bool,
        streams: Iterable[StreamKeyLike],
        queue_max: int,
    ) -> None:
        self.id = conn_id
        self.path = path
        self.combined = is_combined
        self.streams: dict[str, StreamKeyLike] = {k.name: k for k in streams}
        self.queue: asyncio.Queue[OutFrame | CloseCmd] = asyncio.Queue(queue_max)
        self.ws = ws
        self.inbound_times: deque[float] = deque()
        self.pending_pings: dict[asyncio.Future[float], float] = {}
        self.close: CloseRecord | None = None
        self.tasks: list[asyncio.Task[None]] = []

    def on_pong(self, waiter: asyncio.Future[float]) -> None:
        # Also runs when the connection closes (exception set, then cancelled): just forget it.
        self.pending_pings.pop(waiter, None)

    def symbols(self) -> set[str]:
        return {k.symbol for k in self.streams.values()}


class SimServerConnection(ServerConnection):
    """A ServerConnection that reports every inbound data/ping/pong frame to its hub."""

    sim_conn: Conn | None = None
    on_inbound: Callable[[Conn], None] | None = None

    def process_event(self, event: Event) -> None:
        super().process_event(event)
        opcode = getattr(event, "opcode", None)
        if opcode in _COUNTED_OPCODES and self.sim_conn is not None and self.on_inbound is not None:
            self.on_inbound(self.sim_conn)


async def cancel_and_wait(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancel `tasks`, wait for all, and re-raise the first failure that is not a cancellation
    or a closed connection (those are how connection tasks normally end)."""
    pending = list(tasks)
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.wait(pending)
    for t in pending:
        exc = None if t.cancelled() else t.exception()
        if exc is not None and not isinstance(exc, ConnectionClosed):
            raise exc


class ConnectionHub:
    """Every open connection of one simulator, and the frames it fans out to them.

    Invariant: the log holds exactly the frames handed to an open socket, per connection in send
    order; frames queued after a connection started closing are never sent nor logged.
    """

    def __init__(
        self,
        limits: ConnectionLimits,
        log: FrameLog,
        parse_stream: Callable[[str], StreamKeyLike | None],
    ) -> None:
        self.limits = limits
        self.log = log
        self.parse_stream = parse_stream
        self.conns: dict[int, Conn] = {}
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()

    async def wait_connections(self, count: int) -> list[int]:
        """Wait until `count` connections are open and registered; returns their ids."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.conns) >= count)
            return sorted(self.conns)

    async def drain(self) -> None:
        """Wait until every frame queued so far has been handed to its socket, or dropped
        because its connection ended."""
        await asyncio.gather(*(c.queue.join() for c in list(self.conns.values())))

    def subscribers(self, stream: str) -> list[Conn]:
        return [c for c in self.conns.values() if stream in c.streams]

    def on_symbol(self, symbol: str | None) -> list[Conn]:
        """Open connections on any stream of `symbol` (every one for None), not yet closing."""
        return [
            c
            for c in self.conns.values()
            if c.close is None and (symbol is None or symbol in c.symbols())
        ]

    def enqueue(self, conn: Conn, item: OutFrame | CloseCmd) -> None:
        """Queue `item` on `conn`; a full queue closes it as a slow consumer (nothing is logged
        for the frame that did not fit, so the log stays what was sent)."""
        if conn.close is not None:
            return
        try:
            conn.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.request_close(conn, CloseCause.SLOW_CONSUMER, CLOSE_POLICY, "send queue overflow")

    def mark_all_closed(self, cause: CloseCause, code: int, reason: str) -> None:
        """Record `cause` for every connection still open (one the client is already closing
        keeps the client's close)."""
        for conn in self.conns.values():
            if conn.ws.protocol.state is State.OPEN:
                self._mark_closed(conn, cause, code, reason)

    # Handshake and handler (websockets calls these)

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Accept `/stream?streams=…` and `/ws[/<stream>]` with known streams; else 404 / 400."""
        url = urlsplit(request.path)
        if url.path == "/stream":
            is_combined = True
            names = parse_qs(url.query).get("streams", [""])[0].split("/")
        elif url.path == "/ws" or url.path.startswith("/ws/"):
            is_combined = False
            names = [url.path[len("/ws/") :]]
        else:
            return connection.respond(HTTPStatus.NOT_FOUND, f"unknown path {url.path}\n")
        keys = []
        for name in filter(None, names):
            key = self.parse_stream(name)
            if key is None:
                return connection.respond(HTTPStatus.BAD_REQUEST, f"Invalid stream name {name!r}\n")
            keys.append(key)
        if len(keys) > venue.MAX_STREAMS_PER_CONNECTION:
            return connection.respond(HTTPStatus.BAD_REQUEST, "too many streams\n")
        assert isinstance(connection, SimServerConnection)
        conn_id = next(self._ids)
        # Made here, not in `handle`: frames may arrive (and break the rate limit) before it runs.
        conn = Conn(
            conn_id, connection, request.path, is_combined, keys, self.limits.send_queue_max
        )
        connection.sim_conn = conn
        connection.on_inbound = self._on_inbound
        return None

    async def handle(self, ws: ServerConnection) -> None:
        """The connection's life: start its tasks, answer control messages until it closes,
        then log how it ended and cancel and await its tasks."""
        assert isinstance(ws, SimServerConnection) and ws.sim_conn is not None
        conn = ws.sim_conn
        self.log.connections.append(
            ConnectionRecord(conn.id, conn.path, conn.combined, tuple(conn.streams), time.time_ns())
        )
        conn.tasks += [
            asyncio.create_task(self._send_loop(conn), name=f"sim-send-{conn.id}"),
            asyncio.create_task(self._keepalive(conn), name=f"sim-keepalive-{conn.id}"),
            asyncio.create_task(self._lifetime(conn), name=f"sim-lifetime-{conn.id}"),
        ]
        self.conns[conn.id] = conn
        async with self._changed:
            self._changed.notify_all()
        try:
            await self._read_loop(conn)
        finally:
            del self.conns[conn.id]
            self._mark_closed(conn, CloseCause.CLIENT, ws.close_code, ws.close_reason or "")
            assert conn.close is not None
            self.log.closes.append(conn.close)
            await cancel_and_wait(conn.tasks)
            # Frames still queued are never sent (nor logged); release `drain()` waiters.
            while not conn.queue.empty():
                conn.queue.get_nowait()
                conn.queue.task_done()

    async def _read_loop(self, conn: Conn) -> None:
        try:
            async for message in conn.ws:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                reply, conn.streams = sim_control.answer(
                    text, conn.streams, self.parse_stream, venue.MAX_STREAMS_PER_CONNECTION
                )
                self.enqueue(conn, OutFrame(reply, FrameKind.RESPONSE, None))
        except ConnectionClosed:
            return  # how every connection ends; its CloseRecord says how

    async def _send_loop(self, conn: Conn) -> None:
        ws = conn.ws
        keep = self.log.keep_payloads
        while True:
            item = await conn.queue.get()
            try:
                if item.delay_s:
                    await asyncio.sleep(item.delay_s)
                if isinstance(item, CloseCmd):
                    await self.close(conn, item.cause, item.code, item.reason)
                    return
                if ws.protocol.state is not State.OPEN:
                    return
                # Logged before the await: with the state OPEN, send() hands the bytes to the
                # transport before it can suspend, so a logged frame is always a written frame.
                self.log.add_frame(
                    FrameRecord(
                        conn.id, item.kind, item.stream, item.first_id, item.last_id,
                        item.trade_id, time.time_ns(), item.text if keep else None,
                    )
                )  # fmt: skip
                await ws.send(item.text)
            finally:
                conn.queue.task_done()

    # Closing

    def _mark_closed(self, conn: Conn, cause: CloseCause, code: int | None, reason: str) -> bool:
        """Record why `conn` ends (the first cause wins); False if it was already ending."""
        if conn.close is not None:
            return False
        conn.close = CloseRecord(conn.id, cause, code, reason, time.time_ns())
        return True

    async def close(self, conn: Conn, cause: CloseCause, code: int | None, reason: str) -> None:
        """Close with `code` (a close frame), or with code None cut the TCP connection after the
        bytes already written (no close frame: the client sees 1006). The first cause wins."""
        if self._mark_closed(conn, cause, code, reason):
            await self._shut(conn, code, reason)

    def request_close(self, conn: Conn, cause: CloseCause, code: int, reason: str) -> None:
        """`close` from synchronous code: from now on nothing more is queued on `conn`; the
        close itself runs in a task the connection owns."""
        if self._mark_closed(conn, cause, code, reason):
            conn.tasks.append(asyncio.create_task(self._shut(conn, code, reason)))

    async def _shut(self, conn: Conn, code: int | None, reason: str) -> None:
        ws = conn.ws
        if code is None:
            ws.transport.close()  # asyncio flushes its buffer, then FIN: no logged byte is lost
            await ws.wait_closed()
        else:
            await ws.close(code, reason)

    def _on_inbound(self, conn: Conn) -> None:
        now = asyncio.get_running_loop().time()
        times = conn.inbound_times
        times.append(now)
        while times and times[0] <= now - 1.0:
            times.popleft()
        if len(times) > self.limits.max_inbound_per_s:
            self.request_close(conn, CloseCause.RATE_LIMIT, CLOSE_POLICY, "too many messages")

    async def _keepalive(self, conn: Conn) -> None:
        """Ping every `ping_interval_s`; close (1011) once a ping has waited `pong_timeout_s`.
        Only a pong echoing a ping counts (unsolicited pongs do not keep the link up)."""
        ws = conn.ws
        limits = self.limits
        loop = asyncio.get_running_loop()
        next_ping = loop.time() + limits.ping_interval_s
        while True:
            oldest = min(conn.pending_pings.values(), default=None)
            deadline = (
                next_ping if oldest is None else min(next_ping, oldest + limits.pong_timeout_s)
            )
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            now = loop.time()
            oldest = min(conn.pending_pings.values(), default=None)
            if oldest is not None and now >= oldest + limits.pong_timeout_s:
                await self.close(conn, CloseCause.KEEPALIVE, CLOSE_KEEPALIVE, "pong timeout")
                return
            if now >= next_ping:
                if ws.protocol.state is not State.OPEN:
                    return
                record = FrameRecord(
                    conn.id, FrameKind.PING, None, None, None, None, time.time_ns(), None
                )
                self.log.add_frame(record)
                waiter = await ws.ping()
                conn.pending_pings[waiter] = now
                waiter.add_done_callback(conn.on_pong)
                next_ping += limits.ping_interval_s

    async def _lifetime(self, conn: Conn) -> None:
        await asyncio.sleep(self.limits.lifetime_s)
        await self.close(conn, CloseCause.LIFETIME, CLOSE_GOING_AWAY, "connection lifetime reached")
