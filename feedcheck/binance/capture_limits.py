"""Retry policy of the live capture: backoff delays, the connect-rate limiter, the error classifier.

All pure or clock-injected, so the policy is tested without sleeping:

- `backoff()`: a random first delay, then exponential up to a cap (the delays the capture sleeps
  between reconnects and REST retries; injectable, tests pass a millisecond one);
- `ConnectLimiter`: Binance's 300 connection attempts per 5 minutes, as a sliding window over
  the monotonic clock; it says how long to wait, the caller sleeps;
- `is_transient()` / `retry_after_s()`: which failures are worth retrying (OSError, TimeoutError,
  a dropped WebSocket, HTTP 5xx, 429/418) and the server's `Retry-After`. Everything else is a bug
  or a refusal and is raised: a parser error must never become an endless reconnect loop.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterator

import aiohttp
from websockets.exceptions import ConnectionClosed, InvalidStatus

from feedcheck.binance import venue
from feedcheck.errors import ConfigError, TransientRemoteError, VenueError

#: First delay is uniform in [0, BACKOFF_INITIAL_S), then BACKOFF_INITIAL_S × BACKOFF_FACTOR**n.
BACKOFF_INITIAL_S = 1.0
BACKOFF_FACTOR = 2.0
#: Delays never exceed this (with 300 connects / 5 min, one attempt per second is sustainable).
BACKOFF_MAX_S = 30.0
#: HTTP statuses that ask us to slow down: 429 too many requests, 418 IP auto-banned.
THROTTLE_STATUSES = frozenset({418, 429})

#: A factory of delay sequences: each retry series (a socket's reconnects, one snapshot fetch)
#: takes a fresh iterator, so a success resets it.
BackoffFactory = Callable[[], Iterator[float]]


def backoff(
    initial_s: float = BACKOFF_INITIAL_S,
    factor: float = BACKOFF_FACTOR,
    max_s: float = BACKOFF_MAX_S,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Delays in seconds: uniform in [0, `initial_s`) first (clients that lost the same server
    spread out), then `initial_s`, `initial_s × factor`, ... capped at `max_s`. Infinite.

    Raises:
        ConfigError: a non-positive delay or cap, or a factor below 1.
    """
    if initial_s <= 0 or max_s <= 0 or factor < 1:
        raise ConfigError(
            f"backoff needs initial_s > 0, max_s > 0, factor >= 1: {initial_s}, {max_s}, {factor}"
        )
    draw = (rng or random).random
    yield draw() * min(initial_s, max_s)
    delay = initial_s
    while True:
        yield min(delay, max_s)
        delay = min(delay * factor, max_s)


class ConnectLimiter:
    """At most `max_connects` connection attempts within any `window_s` (monotonic seconds).

    Defaults are Binance's `venue.MAX_CONNECTS_PER_WINDOW` per `venue.CONNECT_WINDOW_S`. The
    caller asks `wait_s(now)`, sleeps that long, then calls `record(now)` at the attempt.
    """

    def __init__(
        self,
        max_connects: int = venue.MAX_CONNECTS_PER_WINDOW,
        window_s: float = venue.CONNECT_WINDOW_S,
    ) -> None:
        if max_connects < 1 or window_s <= 0:
            raise ConfigError(f"connect limit must be >= 1 per > 0 s: {max_connects}/{window_s}")
        self.max_connects = max_connects
        self.window_s = window_s
        self._attempts: deque[float] = deque()

    def wait_s(self, now: float) -> float:
        """Seconds to wait from `now` before the next attempt stays within the limit (0: go)."""
        attempts = self._attempts
        while attempts and attempts[0] <= now - self.window_s:
            attempts.popleft()
        if len(attempts) < self.max_connects:
            return 0.0
        return attempts[0] + self.window_s - now

    def record(self, now: float) -> None:
        """Count an attempt made at `now`."""
        self._attempts.append(now)

    @property
    def attempts(self) -> int:
        """Attempts recorded inside the last window (as of the last `wait_s`)."""
        return len(self._attempts)


def _status_of(exc: BaseException) -> int | None:
    if isinstance(exc, VenueError | TransientRemoteError):
        return exc.status
    if isinstance(exc, aiohttp.ClientResponseError):
        return exc.status
    if isinstance(exc, InvalidStatus):
        return exc.response.status_code
    return None


def is_transient(exc: BaseException) -> bool:
    """True when retrying `exc` can succeed: OSError (refused, reset, DNS), TimeoutError, a
    closed WebSocket, aiohttp's connection and payload errors, or an HTTP 5xx / 429 / 418 (from
    a REST call or the WebSocket handshake). False for everything else, which the caller raises.
    """
    if isinstance(exc, OSError | TimeoutError | ConnectionClosed):
        return True
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        return True
    status = _status_of(exc)
    return status is not None and (status >= 500 or status in THROTTLE_STATUSES)


def retry_after_s(exc: BaseException) -> float | None:
    """The server's `Retry-After` (seconds) carried by a throttling error, else None."""
    if isinstance(exc, VenueError):
        return exc.retry_after_s
    if isinstance(exc, InvalidStatus):
        value = exc.response.headers.get("Retry-After")
        return parse_retry_after(value)
    return None


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` in whole seconds (`"3"` → 3.0) as Binance sends it; None when absent or
    not a number (an HTTP date is not what Binance sends: then the backoff decides)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())
