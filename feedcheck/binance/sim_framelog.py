"""What the loopback Binance simulator did, as queryable records: the ground truth of its tests.

Every WebSocket frame is logged when it is handed to the socket (the connection was open, so
the bytes reach the client unless the client drops them), every ping, every REST response,
every connection opened and closed, and every injected fault with the update ids it touched. A
test counts what a client should have seen from these records and compares exactly.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass


class FrameKind(enum.StrEnum):
    DEPTH = "depth"
    TRADE = "trade"
    SHUTDOWN = "shutdown"
    #: A reply to a control message (SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, errors).
    RESPONSE = "response"
    PING = "ping"


class CloseCause(enum.StrEnum):
    CLIENT = "client"
    LIFETIME = "lifetime"
    KEEPALIVE = "keepalive"
    RATE_LIMIT = "rate_limit"
    DISCONNECT = "disconnect"
    SERVER_SHUTDOWN = "server_shutdown"
    SLOW_CONSUMER = "slow_consumer"
    SIMULATOR_CLOSED = "simulator_closed"


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One frame handed to connection `conn_id`'s socket at `send_ns` (epoch ns, wall clock).

    `first_id`/`last_id` are the depth event's `U`/`u`; `trade_id` the trade's `t`; `text` the
    exact frame (None when the log keeps no payloads)."""

    conn_id: int
    kind: FrameKind
    stream: str | None
    first_id: int | None
    last_id: int | None
    trade_id: int | None
    send_ns: int
    text: str | None


@dataclass(frozen=True, slots=True)
class RestRecord:
    """One REST response; `last_update_id` is set for a 200 depth response only."""

    path: str
    symbol: str | None
    status: int
    limit: int | None
    last_update_id: int | None
    send_ns: int


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    conn_id: int
    path: str
    combined: bool
    streams: tuple[str, ...]
    opened_ns: int


@dataclass(frozen=True, slots=True)
class CloseRecord:
    """Why and how the simulator ended (or saw the end of) a connection. `code` is None for a
    TCP close without a close frame (an abrupt disconnect)."""

    conn_id: int
    cause: CloseCause
    code: int | None
    reason: str
    closed_ns: int


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """One injected fault as it happened. For depth faults, `first_id`/`last_id` are the affected
    event's `U`/`u`; for REST, `last_update_id` of the served body; `conn_id` for connections."""

    kind: str
    symbol: str | None
    event_index: int | None
    first_id: int | None
    last_id: int | None
    conn_id: int | None
    time_ns: int


class FrameLog:
    """Append-only records of one simulator run, with the queries tests need.

    `max_frames` bounds memory for long runs (oldest frames dropped; None keeps all);
    `keep_payloads=False` stores frames without their text.
    """

    def __init__(self, max_frames: int | None = None, keep_payloads: bool = True) -> None:
        self._frames: deque[FrameRecord] = deque(maxlen=max_frames)
        self.keep_payloads = keep_payloads
        self.rest: list[RestRecord] = []
        self.connections: list[ConnectionRecord] = []
        self.closes: list[CloseRecord] = []
        self.faults: list[FaultRecord] = []

    def add_frame(self, record: FrameRecord) -> None:
        self._frames.append(record)

    def frames(
        self,
        conn_id: int | None = None,
        kind: FrameKind | None = None,
        stream: str | None = None,
    ) -> list[FrameRecord]:
        """Frames in send order, filtered by connection, kind and stream name."""
        return [
            f
            for f in self._frames
            if (conn_id is None or f.conn_id == conn_id)
            and (kind is None or f.kind == kind)
            and (stream is None or f.stream == stream)
        ]

    def data_frames(self, conn_id: int) -> list[FrameRecord]:
        """Every data frame (not pings) sent on `conn_id`: what its client reads, in order."""
        return [f for f in self._frames if f.conn_id == conn_id and f.kind != FrameKind.PING]

    def depth_ids(self, conn_id: int, stream: str) -> list[tuple[int, int]]:
        """`(U, u)` of every depth frame sent on `conn_id` for `stream`, in send order."""
        return [
            (f.first_id, f.last_id)
            for f in self.frames(conn_id, FrameKind.DEPTH, stream)
            if f.first_id is not None and f.last_id is not None
        ]

    def rest_responses(
        self, symbol: str | None = None, status: int | None = None
    ) -> list[RestRecord]:
        return [
            r
            for r in self.rest
            if (symbol is None or r.symbol == symbol) and (status is None or r.status == status)
        ]

    def faults_of(self, kind: str, symbol: str | None = None) -> list[FaultRecord]:
        return [f for f in self.faults if f.kind == kind and (symbol is None or f.symbol == symbol)]

    def closes_of(self, conn_id: int) -> list[CloseRecord]:
        return [c for c in self.closes if c.conn_id == conn_id]

    def conn_ids(self) -> list[int]:
        return [c.conn_id for c in self.connections]
