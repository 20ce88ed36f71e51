"""REST side of the loopback Binance simulator: `GET /api/v3/depth` and `GET /api/v3/exchangeInfo`.

Depth bodies are exact: the symbol's book after every event with `u <= lastUpdateId`, best level
first, `limit` levels per side (default 100, larger than 5000 capped to 5000). Errors are
Binance-shaped (`{"code": -1121, "msg": "Invalid symbol."}`). Faults from the scenario (slow
response, 429 with `Retry-After` seconds, 5xx, stale snapshot, corrupted snapshot) apply per
request.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import TYPE_CHECKING

from aiohttp import web

from feedcheck.binance import venue
from feedcheck.binance.market import BookSnapshot, snapshot_body
from feedcheck.binance.sim_framelog import FaultRecord, RestRecord
from feedcheck.errors import ConfigError

if TYPE_CHECKING:
    from feedcheck.binance.simulator import Simulator

DEPTH_PATH = venue.SPOT.depth_path
EXCHANGE_INFO_PATH = venue.SPOT.exchange_info_path
DEPTH_DEFAULT_LIMIT = 100
EXCHANGE_INFO_WEIGHT = 20
WEIGHT_WINDOW_S = 60.0
#: Binance error codes used here.
ERR_INVALID_SYMBOL = -1121
ERR_MANDATORY_PARAM = -1102
ERR_ILLEGAL_CHARS = -1100
ERR_TOO_MANY_REQUESTS = -1003
ERR_INTERNAL = -1001


def corrupt_best_bid(snap: BookSnapshot, lots: int) -> BookSnapshot:
    """`snap` with its best bid's quantity `lots` lots higher: one wrong level, all else exact.

    Raises:
        ConfigError: a snapshot without bids (nothing to corrupt).
    """
    if not snap.bids:
        raise ConfigError(f"corrupt_snapshot: snapshot {snap.last_update_id} has no bid")
    (price, qty), *rest = snap.bids
    return BookSnapshot(snap.last_update_id, ((price, qty + lots), *rest), snap.asks)


def _error(status: int, code: int, msg: str, headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps({"code": code, "msg": msg}, separators=(",", ":"))
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


class RestApi:
    """The aiohttp application of one `Simulator` (reads its models, fault plan and log)."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self._weights: deque[tuple[float, int]] = deque()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(DEPTH_PATH, self.depth)
        app.router.add_get(EXCHANGE_INFO_PATH, self.exchange_info)
        return app

    def _used_weight(self, weight: int) -> str:
        now = time.monotonic()
        self._weights.append((now, weight))
        while self._weights and self._weights[0][0] <= now - WEIGHT_WINDOW_S:
            self._weights.popleft()
        return str(sum(w for _, w in self._weights))

    def _record(
        self, symbol: str | None, status: int, limit: int | None, last_id: int | None
    ) -> None:
        self._sim.log.rest.append(
            RestRecord(DEPTH_PATH, symbol, status, limit, last_id, time.time_ns())
        )

    async def depth(self, request: web.Request) -> web.Response:
        """`GET /api/v3/depth?symbol=BTCUSDT&limit=N` → `{"lastUpdateId", "bids", "asks"}`."""
        sim = self._sim
        symbol = request.query.get("symbol", "")
        if not symbol:
            self._record(None, 400, None, None)
            return _error(
                400,
                ERR_MANDATORY_PARAM,
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            )
        if symbol not in {s.symbol for s in sim.config.symbols}:
            self._record(symbol, 400, None, None)
            return _error(400, ERR_INVALID_SYMBOL, "Invalid symbol.")
        raw_limit = request.query.get("limit", str(DEPTH_DEFAULT_LIMIT))
        if not raw_limit.isdigit() or int(raw_limit) < 1:
            self._record(symbol, 400, None, None)
            return _error(
                400,
                ERR_ILLEGAL_CHARS,
                f"Illegal characters found in parameter 'limit'; legal range is '1..{venue.SPOT.max_depth_limit}'.",
            )
        limit = min(int(raw_limit), venue.SPOT.max_depth_limit)
        headers = {"X-MBX-USED-WEIGHT-1M": self._used_weight(venue.depth_weight(limit))}
        model = sim.model(symbol)
        effect = sim.plan.on_rest(
            symbol, model.events_made, sim.ticks * sim.config.update_interval_ms
        )
        if effect.delay_s:
            self._fault("slow_rest", symbol, None)
            await asyncio.sleep(effect.delay_s)
        if effect.status == 429:
            self._record(symbol, 429, limit, None)
            self._fault("http_429", symbol, None)
            headers["Retry-After"] = str(effect.retry_after_s)
            return _error(
                429,
                ERR_TOO_MANY_REQUESTS,
                f"Too much request weight used; current limit is {venue.REQUEST_WEIGHT_PER_MIN} request weight per 1 MINUTE.",
                headers,
            )
        if effect.status is not None:
            self._record(symbol, effect.status, limit, None)
            self._fault("http_5xx", symbol, None)
            return _error(
                effect.status,
                ERR_INTERNAL,
                "Internal error; unable to process your request. Please try again.",
                headers,
            )
        if effect.stale_by_events:
            snap = model.stale_snapshot(effect.stale_by_events, limit)
            self._fault("stale_snapshot", symbol, snap.last_update_id)
        else:
            snap = model.snapshot(limit)
        if effect.corrupt_lots:
            snap = corrupt_best_bid(snap, effect.corrupt_lots)
            self._fault("corrupt_snapshot", symbol, snap.last_update_id)
        self._record(symbol, 200, limit, snap.last_update_id)
        return web.Response(
            text=snapshot_body(model.spec, snap), content_type="application/json", headers=headers
        )

    def _fault(self, kind: str, symbol: str, last_update_id: int | None) -> None:
        record = FaultRecord(kind, symbol, None, None, last_update_id, None, time.time_ns())
        self._sim.log.faults.append(record)

    async def exchange_info(self, request: web.Request) -> web.Response:
        """Minimal `exchangeInfo`: per symbol `PRICE_FILTER.tickSize` and `LOT_SIZE.stepSize`."""
        specs = self._sim.config.symbols
        wanted = request.query.get("symbol")
        if wanted is not None:
            specs = tuple(s for s in specs if s.symbol == wanted)
            if not specs:
                return _error(400, ERR_INVALID_SYMBOL, "Invalid symbol.")
        body = {
            "timezone": "UTC",
            "serverTime": time.time_ns() // 1_000_000,
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                }
            ],
            "exchangeFilters": [],
            "symbols": [
                {
                    "symbol": s.symbol,
                    "status": "TRADING",
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": s.tick_size_str,
                            "maxPrice": "1000000.00000000",
                            "tickSize": s.tick_size_str,
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": s.step_size_str,
                            "maxQty": "9000.00000000",
                            "stepSize": s.step_size_str,
                        },
                    ],
                }
                for s in specs
            ],
        }
        headers = {"X-MBX-USED-WEIGHT-1M": self._used_weight(EXCHANGE_INFO_WEIGHT)}
        return web.Response(
            text=json.dumps(body, separators=(",", ":")),
            content_type="application/json",
            headers=headers,
        )
