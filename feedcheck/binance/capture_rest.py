"""REST side of the live capture (aiohttp): instrument scales from exchangeInfo, depth snapshots.

Every call is bounded by `asyncio.timeout()`; transient failures (`capture_limits.is_transient`:
5xx, 429/418, resets, timeouts) are retried after the server's `Retry-After` when it sent one,
else after the next delay of the caller's backoff; anything else (400 invalid symbol, a body
that is not JSON) is raised.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from feedcheck.binance.capture_limits import is_transient, parse_retry_after, retry_after_s
from feedcheck.binance.venue import Market, VenueSpec
from feedcheck.binance.wire import Scale
from feedcheck.errors import ConfigError, VenueError

logger = logging.getLogger(__name__)

#: Binance spot renders every price and quantity with 8 decimals. Parsing spot at 8 decimals can
#: never meet an off-scale digit, even for levels left from an older, finer lot step (the 2024-08
#: ETHUSDT book holds 5-decimal sizes under a 0.0001 step). USD-M renders at the instrument's
#: own precision, so its steps are used as they are.
SPOT_WIRE_DECIMALS = 8

#: Called before each retry with the error and the delay about to be slept (s).
RetryHook = Callable[[BaseException, float], None]


@dataclass(frozen=True, slots=True)
class Instrument:
    """One symbol's grids as exchangeInfo states them, and the Scale the capture parses at.

    Attributes:
        symbol: upper case.
        tick_size, step_size: PRICE_FILTER `tickSize`, LOT_SIZE `stepSize`, as sent.
        scale: price/quantity decimals of the capture's fixed point (`instrument_scale`).
    """

    symbol: str
    tick_size: str
    step_size: str
    scale: Scale

    def as_marker(self) -> dict[str, Any]:
        """The fields recorded in `connect` markers, so a recording alone gives the scales."""
        return {
            "tick_size": self.tick_size,
            "step_size": self.step_size,
            "price_decimals": self.scale.price_decimals,
            "qty_decimals": self.scale.qty_decimals,
        }


def instrument_scale(tick_size: str, step_size: str, market: Market) -> Scale:
    """The Scale to parse a symbol's wire values at: spot `SPOT_WIRE_DECIMALS` for both (never
    coarser than the steps), USD-M the steps' own decimals (`Scale.from_steps`)."""
    steps = Scale.from_steps(tick_size, step_size)
    if market is not Market.SPOT:
        return steps
    return Scale(
        max(steps.price_decimals, SPOT_WIRE_DECIMALS), max(steps.qty_decimals, SPOT_WIRE_DECIMALS)
    )


async def get_body(
    session: aiohttp.ClientSession,
    url: str,
    params: Mapping[str, str],
    what: str,
    timeout_s: float,
) -> tuple[int, bytes]:
    """One GET → (recv_ns, body bytes as received) for HTTP 200.

    Raises:
        VenueError: any other status, with Binance's code/msg and `Retry-After` when present.
        TimeoutError: no complete response within `timeout_s`. aiohttp.ClientError / OSError.
    """
    async with asyncio.timeout(timeout_s):
        async with session.get(url, params=params) as response:
            body = await response.read()
    # Stamped after the response is released, right before the caller queues it: the snapshot's
    # line then never carries a stamp older than frames recorded before it.
    recv_ns = time.time_ns()
    if response.status == 200:
        return recv_ns, body
    code: int | None = None
    reason = body[:200].decode("utf-8", "replace")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        code = payload.get("code") if isinstance(payload.get("code"), int) else None
        reason = str(payload.get("msg", reason))
    raise VenueError(
        what=what,
        reason=reason,
        status=response.status,
        code=code,
        retry_after_s=parse_retry_after(response.headers.get("Retry-After")),
    )


async def get_with_retries(
    session: aiohttp.ClientSession,
    url: str,
    params: Mapping[str, str],
    what: str,
    delays: Iterator[float],
    timeout_s: float,
    on_retry: RetryHook | None = None,
) -> tuple[int, bytes]:
    """`get_body` until it succeeds: a transient failure sleeps `Retry-After` (when the server
    sent one, honoured exactly) or `next(delays)`, then tries again.

    Raises:
        whatever `get_body` raises that is not transient (`is_transient`).
    """
    while True:
        try:
            return await get_body(session, url, params, what, timeout_s)
        except (OSError, TimeoutError, aiohttp.ClientError, VenueError) as exc:
            if not is_transient(exc):
                raise
            wait = retry_after_s(exc)
            delay = next(delays) if wait is None else wait
            logger.warning("%s failed (%s); retry in %.3f s", what, exc, delay)
            if on_retry is not None:
                on_retry(exc, delay)
            await asyncio.sleep(delay)


def _filter_value(filters: Any, kind: str, key: str, symbol: str) -> str:
    for item in filters if isinstance(filters, list) else ():
        if isinstance(item, dict) and item.get("filterType") == kind:
            value = item.get(key)
            if isinstance(value, str):
                return value
    raise ConfigError(f"exchangeInfo for {symbol} has no {kind}.{key}")


async def fetch_instruments(
    session: aiohttp.ClientSession,
    rest_url: str,
    symbols: tuple[str, ...],
    spec: VenueSpec,
    delays: Iterator[float],
    timeout_s: float,
) -> dict[str, Instrument]:
    """exchangeInfo once per symbol (`?symbol=`: a few KB, weight 20, instead of the full list).

    Raises:
        VenueError: the venue refused (e.g. 400 `Invalid symbol.`).
        ConfigError: a symbol without a PRICE_FILTER / LOT_SIZE, or absent from the answer.
    """
    found: dict[str, Instrument] = {}
    for symbol in symbols:
        _, body = await get_with_retries(
            session,
            rest_url + spec.exchange_info_path,
            {"symbol": symbol},
            f"exchangeInfo {symbol}",
            delays,
            timeout_s,
        )
        info = orjson.loads(body)
        for entry in info.get("symbols", ()) if isinstance(info, dict) else ():
            if isinstance(entry, dict) and entry.get("symbol") == symbol:
                filters = entry.get("filters")
                tick = _filter_value(filters, "PRICE_FILTER", "tickSize", symbol)
                step = _filter_value(filters, "LOT_SIZE", "stepSize", symbol)
                found[symbol] = Instrument(
                    symbol, tick, step, instrument_scale(tick, step, spec.market)
                )
        if symbol not in found:
            raise ConfigError(f"exchangeInfo at {rest_url} does not list {symbol}")
    return found
