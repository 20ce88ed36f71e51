"""The capture's one reconnect loop: `async for ws in Reconnector(...)` yields connected sockets.

Each iteration waits its backoff delay (none before the first connection, none after
`reconnect_now()`, e.g. on `serverShutdown`), then connects within the connect-rate limit,
retrying transient handshake failures (`capture_limits.is_transient`; a 429/418 waits its
`Retry-After`) and raising the rest. The delays restart only after `healthy()`: a connection that
stayed up. A roll-over opens its successor with `open()` and hands it to the next iteration with
`hand_over()`, so the loop body stays the only place a connection is served.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake

from feedcheck.binance.capture_limits import (
    BackoffFactory,
    ConnectLimiter,
    is_transient,
    retry_after_s,
)

logger = logging.getLogger(__name__)

#: Largest frame accepted (a REST-sized depth frame is far below; Binance sends < 1 MiB).
MAX_FRAME_BYTES = 1 << 24
#: Frames websockets buffers before it stops reading the socket (its own back-pressure).
WS_MAX_QUEUE = 1024
#: Seconds a close handshake may take when we close.
CLOSE_TIMEOUT_S = 1.0


class Reconnector:
    """Connected sockets to `url`, forever (see the module docstring).

    Args:
        url: the combined-stream URL.
        limiter: the connect-rate limiter (shared by every socket of the process).
        backoff: factory of delay sequences.
        open_timeout_s: handshake deadline.
        ping_interval_s: our keepalive ping interval and pong deadline, None for none.
    """

    def __init__(
        self,
        url: str,
        limiter: ConnectLimiter,
        backoff: BackoffFactory,
        open_timeout_s: float,
        ping_interval_s: float | None,
    ) -> None:
        self.url = url
        self._limiter = limiter
        self._backoff = backoff
        self._delays: Iterator[float] = backoff()
        self._skip_delay = True
        self._handover: ClientConnection | None = None
        self._connect_kwargs: dict[str, Any] = {
            "open_timeout": open_timeout_s,
            "ping_interval": ping_interval_s,
            "ping_timeout": ping_interval_s,
            "close_timeout": CLOSE_TIMEOUT_S,
            "max_size": MAX_FRAME_BYTES,
            "max_queue": WS_MAX_QUEUE,
            "compression": None,
        }
        #: Connection attempts made (successful or not) and connections opened.
        self.attempts = 0
        self.opened = 0

    def __aiter__(self) -> Reconnector:
        return self

    async def __anext__(self) -> ClientConnection:
        if self._handover is not None:
            ws, self._handover = self._handover, None
            return ws
        if not self._skip_delay:
            delay = next(self._delays)
            logger.info("reconnecting to %s in %.3f s", self.url, delay)
            await asyncio.sleep(delay)
        self._skip_delay = False
        return await self.open()

    async def open(self) -> ClientConnection:
        """One connection, retrying transient failures within the connect-rate limit.

        Raises:
            InvalidHandshake (e.g. 404, 400 unknown stream) / InvalidURI: not transient.
        """
        loop = asyncio.get_running_loop()
        while True:
            wait_s = self._limiter.wait_s(loop.time())
            if wait_s > 0:
                logger.warning("connect limit reached; waiting %.1f s", wait_s)
                await asyncio.sleep(wait_s)
            self._limiter.record(loop.time())
            self.attempts += 1
            try:
                ws = await connect(self.url, **self._connect_kwargs)
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                if not is_transient(exc):
                    raise
                wait = retry_after_s(exc)
                delay = next(self._delays) if wait is None else wait
                logger.warning("connect to %s failed (%s); retry in %.3f s", self.url, exc, delay)
                await asyncio.sleep(delay)
                continue
            self.opened += 1
            return ws

    def healthy(self) -> None:
        """The last connection stayed up: restart the delays from the first."""
        self._delays = self._backoff()

    def reconnect_now(self) -> None:
        """The next iteration connects without a delay (the server announced its shutdown)."""
        self._skip_delay = True

    def hand_over(self, ws: ClientConnection) -> None:
        """The next iteration yields `ws` (a roll-over's successor, already open)."""
        self._handover = ws
