"""Market model of the loopback Binance simulator: one deterministic int-tick book per symbol.

Prices are int ticks and quantities int lots; they become Binance's 8-decimal strings only when a
message is rendered (`SymbolSpec.price_str` / `qty_str`), so the book never holds a float. Each
`MarketModel.step` is one spot diff-depth event: trades at the touch first (they take quantity
from the touch level), then a few level changes near the touch, then trimming/refilling so each
side keeps about `levels_per_side` levels. The event's update ids count every book change, visible
or not: `U = previous u + 1`, `u = U + ids - 1`, ids >= levels carried (an intermediate change
overwritten within the same event still consumes an id, as on Binance).

Determinism: the same `MarketConfig.seed`, symbol and sequence of `step(time_ms)` calls give the
same events, byte for byte.
"""

from __future__ import annotations

import bisect
import json
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cached_property

from feedcheck.errors import ConfigError

#: Binance spot renders every price and quantity with 8 decimals ("27000.01000000").
WIRE_DECIMALS = 8
_WIRE_UNIT = 10**WIRE_DECIMALS
#: A level change is drawn this many levels from the touch on average (exponential).
_MEAN_TOUCH_DISTANCE = 4.0
#: Bids and asks are each at least this deep, so trades and deletes never empty a side.
MIN_LEVELS_PER_SIDE = 10


def _units(text: str, what: str) -> int:
    """A positive decimal string as an int number of 1e-8 units (exact, no float)."""
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ConfigError(f"{what} {text!r} is not a decimal number") from exc
    scaled = value * _WIRE_UNIT
    if value <= 0 or scaled != scaled.to_integral_value():
        raise ConfigError(f"{what} {text!r} must be > 0 with at most {WIRE_DECIMALS} decimals")
    return int(scaled)


def _wire_str(units: int) -> str:
    whole, frac = divmod(units, _WIRE_UNIT)
    return f"{whole}.{frac:0{WIRE_DECIMALS}d}"


@dataclass(frozen=True)
class SymbolSpec:
    """One simulated spot symbol: its price grid (`tick_size`) and lot grid (`step_size`).

    `symbol` is upper case as in payloads (`"BTCUSDT"`); stream names use `stream_symbol`.
    """

    symbol: str = "BTCUSDT"
    tick_size: str = "0.01"
    step_size: str = "0.00001"
    start_price: str = "30000.00"

    def __post_init__(self) -> None:
        if not (self.symbol.isascii() and self.symbol.isalnum() and self.symbol.isupper()):
            raise ConfigError(f"symbol {self.symbol!r} must be upper-case ASCII letters/digits")
        if self.start_price_ticks < 2 * MIN_LEVELS_PER_SIDE:
            raise ConfigError(f"start_price {self.start_price} is too few ticks above zero")
        if self.start_price_ticks * self.tick_units != _units(self.start_price, "start_price"):
            raise ConfigError(
                f"start_price {self.start_price} is not a multiple of {self.tick_size}"
            )

    @property
    def stream_symbol(self) -> str:
        return self.symbol.lower()

    @cached_property
    def tick_units(self) -> int:
        """Tick size in 1e-8 units."""
        return _units(self.tick_size, "tick_size")

    @cached_property
    def step_units(self) -> int:
        """Lot (step) size in 1e-8 units."""
        return _units(self.step_size, "step_size")

    @cached_property
    def start_price_ticks(self) -> int:
        return _units(self.start_price, "start_price") // self.tick_units

    def price_str(self, price_ticks: int) -> str:
        """Wire price string of `price_ticks` (8 decimals, exact)."""
        return _wire_str(price_ticks * self.tick_units)

    def qty_str(self, qty_lots: int) -> str:
        """Wire quantity string of `qty_lots`; 0 lots renders "0.00000000" (a delete)."""
        return _wire_str(qty_lots * self.step_units)

    @property
    def tick_size_str(self) -> str:
        return _wire_str(self.tick_units)

    @property
    def step_size_str(self) -> str:
        return _wire_str(self.step_units)


@dataclass(frozen=True)
class MarketConfig:
    """Shape of the simulated markets. Every field is exchange-side; wall time lives elsewhere."""

    seed: int = 7
    #: Target book depth per side (levels); the snapshot limit cap is 5000, so > 5000 tests capping.
    levels_per_side: int = 200
    #: Mean visible level changes per event (uniform in 1 .. 2*mean-1), besides trades.
    changes_per_event: int = 6
    #: Extra update ids per event for changes overwritten within the event (uniform 0 .. max).
    hidden_ids_max: int = 2
    #: Trades per event, uniform in 0 .. max.
    trades_per_event_max: int = 2
    #: Largest level quantity, in lots.
    max_level_lots: int = 5_000
    #: `U` of the very first event (ids exceed 2**31 on Binance, so do ours).
    first_update_id: int = 90_000_000_000
    first_trade_id: int = 5_000_000_000

    def __post_init__(self) -> None:
        if self.levels_per_side < MIN_LEVELS_PER_SIDE:
            raise ConfigError(f"levels_per_side must be >= {MIN_LEVELS_PER_SIDE}")
        if self.changes_per_event < 1 or self.hidden_ids_max < 0 or self.trades_per_event_max < 0:
            raise ConfigError("changes_per_event >= 1, hidden_ids_max >= 0, trades >= 0 required")
        if self.max_level_lots < 2 or self.first_update_id < 1 or self.first_trade_id < 1:
            raise ConfigError("max_level_lots >= 2 and first ids >= 1 required")


@dataclass(frozen=True, slots=True)
class Trade:
    trade_id: int
    price_ticks: int
    qty_lots: int
    time_ms: int
    #: True when the taker sold (hit the bid), as Binance's `m`.
    buyer_is_maker: bool


@dataclass(frozen=True, slots=True)
class DepthEvent:
    """One diff-depth event: update ids `[first_id, last_id]` (`U`, `u`) and absolute quantities.

    `index` is the 0-based count of events the model made before this one (for a merged event, the
    index of its last part). Levels are `(price_ticks, qty_lots)`, 0 lots = delete.
    """

    index: int
    time_ms: int
    first_id: int
    last_id: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]


def merge_depth(events: Iterable[DepthEvent]) -> DepthEvent:
    """One event covering consecutive `events` (as the 1000 ms stream does): ids from the first
    `U` to the last `u`, each level at its last quantity. Raises ConfigError on an empty input."""
    parts = list(events)
    if not parts:
        raise ConfigError("merge_depth needs at least one event")
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    for ev in parts:
        bids.update(ev.bids)
        asks.update(ev.asks)
    last = parts[-1]
    return DepthEvent(
        last.index,
        last.time_ms,
        parts[0].first_id,
        last.last_id,
        tuple(bids.items()),
        tuple(asks.items()),
    )


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """The book after every event with `u <= last_update_id`; bids best (highest) first, asks
    best (lowest) first, at most `limit` levels per side."""

    last_update_id: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]


class _Side:
    """One side of the book: a price → lots dict plus the prices sorted ascending."""

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.qty: dict[int, int] = {}
        self.prices: list[int] = []

    def __len__(self) -> int:
        return len(self.prices)

    def from_touch(self, k: int) -> int:
        """Price `k` levels away from the best (0 = best)."""
        return self.prices[-1 - k] if self.is_bid else self.prices[k]

    def set(self, price: int, lots: int) -> None:
        if lots == 0:
            if price in self.qty:
                del self.qty[price]
                del self.prices[bisect.bisect_left(self.prices, price)]
            return
        if price not in self.qty:
            bisect.insort(self.prices, price)
        self.qty[price] = lots

    def top(self, limit: int) -> tuple[tuple[int, int], ...]:
        prices = self.prices[::-1][:limit] if self.is_bid else self.prices[:limit]
        return tuple((p, self.qty[p]) for p in prices)


class MarketModel:
    """The book and trade tape of one symbol, advanced one depth event per `step`.

    Invariants: the book is never crossed (best bid < best ask) and each side keeps at least
    `MIN_LEVELS_PER_SIDE` levels; `U` of each event is the previous `u` + 1; trade ids are
    consecutive. `history` past snapshots are kept for stale-snapshot faults.
    """

    def __init__(self, spec: SymbolSpec, config: MarketConfig, history: int = 0) -> None:
        self.spec = spec
        self.config = config
        # A str seed is hashed with SHA-512 by `random`, so it is stable across processes.
        self._rng = random.Random(f"{config.seed}:{spec.symbol}")
        self._bids = _Side(is_bid=True)
        self._asks = _Side(is_bid=False)
        self._history: deque[BookSnapshot] = deque(maxlen=history + 1 if history else 0)
        self.last_update_id = config.first_update_id - 1
        self.next_trade_id = config.first_trade_id
        self.events_made = 0
        mid = spec.start_price_ticks
        if mid <= 2 * config.levels_per_side:
            raise ConfigError(
                f"{spec.symbol}: start_price too low for {config.levels_per_side} levels"
            )
        for i in range(config.levels_per_side):
            self._bids.set(mid - 1 - i, self._lots())
            self._asks.set(mid + 1 + i, self._lots())
        self._remember()

    def _lots(self) -> int:
        return self._rng.randint(1, self.config.max_level_lots)

    def _distance(self, side: _Side) -> int:
        return min(int(self._rng.expovariate(1.0 / _MEAN_TOUCH_DISTANCE)), len(side) - 1)

    def step(self, time_ms: int) -> tuple[DepthEvent, tuple[Trade, ...]]:
        """Advance the book by one event at exchange time `time_ms` (ms); returns the depth event
        and the trades it contains (trade time = `time_ms`)."""
        rng, cfg = self._rng, self.config
        changed: dict[tuple[bool, int], int] = {}
        ids = 0

        def change(side: _Side, price: int, lots: int) -> None:
            nonlocal ids
            side.set(price, lots)
            changed[(side.is_bid, price)] = lots
            ids += 1

        trades = []
        for _ in range(rng.randint(0, cfg.trades_per_event_max)):
            taker_buys = rng.random() < 0.5
            side = self._asks if taker_buys else self._bids
            if len(side) == 1:
                continue  # a trade may empty the touch level, never the side
            price = side.from_touch(0)
            level = side.qty[price]
            lots = rng.randint(1, level)
            change(side, price, level - lots)
            trades.append(Trade(self.next_trade_id, price, lots, time_ms, not taker_buys))
            self.next_trade_id += 1

        for _ in range(rng.randint(1, 2 * cfg.changes_per_event - 1)):
            side = self._bids if rng.random() < 0.5 else self._asks
            roll = rng.random()
            if 0.45 <= roll < 0.75:
                change(side, self._new_price(side), self._lots())
            else:
                # A delete unless the side is thin; then a quantity change at the same place.
                delete = roll >= 0.75 and len(side) > cfg.levels_per_side // 2
                lots = 0 if delete else self._lots()
                change(side, side.from_touch(self._distance(side)), lots)

        for side in (self._bids, self._asks):
            while len(side) > cfg.levels_per_side:
                change(side, side.from_touch(len(side) - 1), 0)
            while len(side) < max(cfg.levels_per_side // 2, MIN_LEVELS_PER_SIDE):
                far = side.from_touch(len(side) - 1)
                change(side, far - 1 if side.is_bid else far + 1, self._lots())

        ids += rng.randint(0, cfg.hidden_ids_max)
        first_id = self.last_update_id + 1
        self.last_update_id += ids
        bids = tuple((p, q) for (is_bid, p), q in changed.items() if is_bid)
        asks = tuple((p, q) for (is_bid, p), q in changed.items() if not is_bid)
        event = DepthEvent(self.events_made, time_ms, first_id, self.last_update_id, bids, asks)
        self.events_made += 1
        self._remember()
        return event, tuple(trades)

    def _new_price(self, side: _Side) -> int:
        """A price for a new level near the touch, possibly inside the spread, never crossing."""
        best_bid, best_ask = self._bids.from_touch(0), self._asks.from_touch(0)
        offset = int(self._rng.expovariate(1.0 / _MEAN_TOUCH_DISTANCE)) - 1
        if side.is_bid:
            return min(best_bid - offset, best_ask - 1)
        return max(best_ask + offset, best_bid + 1)

    def _remember(self) -> None:
        if self._history.maxlen:
            self._history.append(self.snapshot(len(self._bids) + len(self._asks)))

    def snapshot(self, limit: int) -> BookSnapshot:
        """The current book, at most `limit` levels per side (the caller caps `limit`)."""
        return BookSnapshot(self.last_update_id, self._bids.top(limit), self._asks.top(limit))

    def stale_snapshot(self, events_back: int, limit: int) -> BookSnapshot:
        """The book as it was `events_back` events ago (or the oldest kept), at most `limit` levels
        per side; still exact at its own `last_update_id`."""
        if not self._history:
            raise ConfigError(f"{self.spec.symbol}: no snapshot history kept for stale snapshots")
        old = self._history[max(0, len(self._history) - 1 - events_back)]
        return BookSnapshot(old.last_update_id, old.bids[:limit], old.asks[:limit])

    @property
    def best_bid_ask_ticks(self) -> tuple[int, int]:
        return self._bids.from_touch(0), self._asks.from_touch(0)


# Wire rendering (Binance spot JSON, no spaces, as the exchange sends it).


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _levels(spec: SymbolSpec, levels: Iterable[tuple[int, int]]) -> list[list[str]]:
    return [[spec.price_str(p), spec.qty_str(q)] for p, q in levels]


def depth_payload(spec: SymbolSpec, ev: DepthEvent) -> str:
    """`{"e":"depthUpdate","E":…,"s":"BTCUSDT","U":…,"u":…,"b":[[p,q],…],"a":[…]}` (E in ms)."""
    return _dumps(
        {
            "e": "depthUpdate",
            "E": ev.time_ms,
            "s": spec.symbol,
            "U": ev.first_id,
            "u": ev.last_id,
            "b": _levels(spec, ev.bids),
            "a": _levels(spec, ev.asks),
        }
    )


def trade_payload(spec: SymbolSpec, tr: Trade) -> str:
    """`{"e":"trade","E":…,"s":…,"t":…,"p":…,"q":…,"T":…,"m":…,"M":true}` (E, T in ms)."""
    return _dumps(
        {
            "e": "trade",
            "E": tr.time_ms,
            "s": spec.symbol,
            "t": tr.trade_id,
            "p": spec.price_str(tr.price_ticks),
            "q": spec.qty_str(tr.qty_lots),
            "T": tr.time_ms,
            "m": tr.buyer_is_maker,
            "M": True,
        }
    )


def snapshot_body(spec: SymbolSpec, snap: BookSnapshot) -> str:
    """REST `/api/v3/depth` body: `{"lastUpdateId":…,"bids":[[p,q],…],"asks":[…]}`."""
    return _dumps(
        {
            "lastUpdateId": snap.last_update_id,
            "bids": _levels(spec, snap.bids),
            "asks": _levels(spec, snap.asks),
        }
    )


def shutdown_payload(time_ms: int) -> str:
    """`{"e":"serverShutdown","E":…}` (E in ms)."""
    return _dumps({"e": "serverShutdown", "E": time_ms})


def combined(stream: str, payload: str) -> str:
    """The combined-stream envelope `{"stream":…,"data":<payload>}` around rendered JSON."""
    return f'{{"stream":{_dumps(stream)},"data":{payload}}}'
