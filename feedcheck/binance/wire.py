"""Binance wire messages parsed into exact, typed records (no I/O, no float).

Prices and quantities arrive as decimal strings (`"2683.80000000"`). They are parsed straight to
int64 fixed point at a per-instrument `Scale`: `price_ticks = price × 10**price_decimals`,
`qty_lots = qty × 10**qty_decimals`. A value with a non-zero digit finer than the scale is an
error, never rounded; `"0.00000000"` is exactly 0 (a level delete). Wire times (`E`, `T`) are ms
and stop here: records carry `*_ns`.

Malformed payloads raise `DataError` naming the source (default `WIRE_SOURCE`; replayers pass the
file), the field and what was expected; a Binance error payload (`{"code":…,"msg":…}`) in place
of a snapshot raises `VenueError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from feedcheck.binance.venue import NS_PER_MS, StreamKind, classify_stream
from feedcheck.errors import ConfigError, DataError, VenueError

#: Default `path` of a DataError raised on a live frame (replayers pass their file instead).
WIRE_SOURCE = "binance wire"

#: One book level: (price_ticks, qty_lots). qty_lots == 0 deletes the level.
Level = tuple[int, int]

#: Largest supported scale: 10**18 still leaves int64 room for a price of 9.
MAX_DECIMALS = 18
_POW10 = tuple(10**i for i in range(MAX_DECIMALS + 1))
_INT64_LIMIT = 2**63


@dataclass(frozen=True, slots=True)
class Scale:
    """Decimal places of an instrument's fixed-point prices (ticks) and quantities (lots).

    Attributes:
        price_decimals: price_ticks = price × 10**price_decimals (ETHUSDT spot: 2, tick 0.01).
        qty_decimals: qty_lots = qty × 10**qty_decimals. Take it from the finest quantity the
            book can hold, not only today's lot step: the 2024-08 ETHUSDT spot book carries a few
            5-decimal sizes under a 0.0001 step, so ETHUSDT needs 5.
    """

    price_decimals: int
    qty_decimals: int

    def __post_init__(self) -> None:
        for name in ("price_decimals", "qty_decimals"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_DECIMALS:
                raise ConfigError(f"{name} must be in 0..{MAX_DECIMALS}, got {value}")

    @classmethod
    def from_steps(cls, tick_size: str, step_size: str) -> Scale:
        """Scale from exchangeInfo's PRICE_FILTER `tickSize` and LOT_SIZE `stepSize` strings.

        `"0.01000000"` → 2 decimals, `"1.00000000"` → 0. A step that is not a power of ten
        (`"0.05"`) keeps its decimals (2): ticks are then 0.01 units, all multiples of 5.
        """
        return cls(_decimals_of(tick_size, "tickSize"), _decimals_of(step_size, "stepSize"))


def _decimals_of(step: str, name: str) -> int:
    _, _, frac = step.partition(".")
    decimals = len(frac.rstrip("0"))
    if decimals > MAX_DECIMALS:
        raise ConfigError(f"{name} {step!r} is finer than 1e-{MAX_DECIMALS}")
    return decimals


def _fixed(text: str, decimals: int) -> int:
    # The hot path (two calls per book level): no regex, no Decimal. isdigit() rejects signs,
    # spaces, underscores and exponents that int() would accept; isascii() rejects '²' etc.
    dot = text.find(".")
    digits = text if dot < 0 else text.replace(".", "", 1)
    if not (digits.isdigit() and digits.isascii()):
        raise ValueError(text)
    extra = (0 if dot < 0 else len(text) - dot - 1) - decimals
    value = int(digits)
    if extra > 0:
        power = _POW10[extra] if extra <= MAX_DECIMALS else 10**extra
        if value % power:
            raise ValueError(text)
        value //= power
    elif extra < 0:
        value *= _POW10[-extra]
    if value >= _INT64_LIMIT:
        raise ValueError(text)
    return value


def _fixed_error(text: Any, decimals: int, field: str, source: str) -> DataError:
    if not isinstance(text, str):
        return DataError(source, "not a decimal string", field, "a string", repr(text))
    digits = text.replace(".", "", 1)
    if digits.isdigit() and digits.isascii():
        _, _, frac = text.partition(".")
        if len(frac.rstrip("0")) > decimals:
            return DataError(
                source,
                "value has digits finer than the instrument scale",
                field,
                f"at most {decimals} decimals",
                repr(text),
            )
        return DataError(source, "value exceeds int64 at this scale", field, "< 2**63", repr(text))
    return DataError(source, "not an unsigned decimal", field, "digits[.digits]", repr(text))


def parse_fixed(
    text: str, decimals: int, *, field: str = "value", source: str = WIRE_SOURCE
) -> int:
    """Parse an unsigned decimal string exactly to an int at `decimals` places.

    `parse_fixed("2683.80000000", 2) == 268380`; `parse_fixed("0.00000000", 5) == 0`.

    Raises:
        DataError: not `digits[.digits]`, a non-zero digit beyond `decimals` (off-scale), or a
            result ≥ 2**63. Names `field` and `source`.
    """
    try:
        return _fixed(text, decimals)
    except (ValueError, AttributeError, TypeError):
        raise _fixed_error(text, decimals, field, source) from None


def format_fixed(value: int, decimals: int) -> str:
    """Inverse of `parse_fixed`: `format_fixed(268380, 2) == "2683.80"` (no trailing-zero padding)."""
    if value < 0:
        raise ConfigError(f"fixed-point value must be >= 0, got {value}")
    if decimals == 0:
        return str(value)
    whole, frac = divmod(value, _POW10[decimals])
    return f"{whole}.{frac:0{decimals}d}"


def _levels(raw: Any, scale: Scale, field: str, source: str) -> tuple[Level, ...]:
    pd, qd = scale.price_decimals, scale.qty_decimals
    try:
        return tuple([(_fixed(price, pd), _fixed(qty, qd)) for price, qty in raw])
    except (ValueError, AttributeError, TypeError):
        pass
    # Slow path, only to name the offending level precisely.
    if not isinstance(raw, list):
        raise DataError(source, "levels are not a list", field, "[[price, qty], ...]", repr(raw))
    for index, level in enumerate(raw):
        if not isinstance(level, list) or len(level) != 2:
            raise DataError(
                source,
                "level is not a [price, qty] pair",
                f"{field}[{index}]",
                "[str, str]",
                repr(level),
            )
        parse_fixed(level[0], pd, field=f"{field}[{index}].price", source=source)
        parse_fixed(level[1], qd, field=f"{field}[{index}].qty", source=source)
    raise AssertionError("unreachable: a level failed once and then parsed")  # pragma: no cover


def _get(data: Mapping[str, Any], key: str, kind: type, source: str) -> Any:
    try:
        value = data[key]
    except KeyError:
        raise DataError(source, "field missing", key, kind.__name__, "absent") from None
    except TypeError:
        raise DataError(
            source, "payload is not an object", None, "a JSON object", repr(data)
        ) from None
    # bool is an int subclass; a bool where an id or time belongs is corrupt.
    if type(value) is not kind:
        raise DataError(source, "field has the wrong type", key, kind.__name__, repr(value))
    return value


def _get_optional(data: Mapping[str, Any], key: str, kind: type, source: str) -> Any:
    if data.get(key) is None:
        return None
    return _get(data, key, kind, source)


def _check_event(data: Mapping[str, Any], expected: str, source: str) -> None:
    event = _get(data, "e", str, source)
    if event != expected:
        raise DataError(source, f"not a {expected} event", "e", expected, event)


@dataclass(frozen=True, slots=True)
class Envelope:
    """A combined-stream frame: `{"stream": "<name>", "data": <raw payload>}`."""

    stream: str
    data: dict[str, Any]


def parse_envelope(frame: str | bytes, *, source: str = WIRE_SOURCE) -> Envelope:
    """Decode one combined-stream frame (JSON text or bytes) into its stream name and payload.

    Example frame (spot trade, 2024-08-08):
    `{"stream":"ethusdt@trade","data":{"e":"trade","E":1723161255612,"s":"ETHUSDT",
    "t":1520538925,"p":"2683.80000000","q":"0.00200000","T":1723161255611,"m":true,"M":true}}`

    Raises:
        DataError: not JSON, not an object, or `stream`/`data` missing or mistyped.
    """
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise DataError(
            source, f"frame is not JSON: {exc}", None, "JSON", repr(frame[:80])
        ) from None
    stream = _get(message, "stream", str, source)
    data = _get(message, "data", dict, source)
    return Envelope(stream, data)


@dataclass(frozen=True, slots=True)
class DepthUpdate:
    """One diff-depth event. Level sizes are absolute; qty_lots == 0 deletes the level.

    Attributes:
        symbol: upper-case symbol (`s`).
        first_update_id: `U`, the first book update id in the event.
        final_update_id: `u`, the last book update id in the event (≥ `U`).
        prev_final_update_id: `pu`, USD-M only: the previous event's `u`; None on spot.
        event_time_ns: `E` in epoch ns.
        transaction_time_ns: `T` in epoch ns, USD-M only; None on spot.
        bids, asks: (price_ticks, qty_lots) in wire order.
    """

    symbol: str
    first_update_id: int
    final_update_id: int
    prev_final_update_id: int | None
    event_time_ns: int
    transaction_time_ns: int | None
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    @property
    def level_count(self) -> int:
        """Bid plus ask levels carried by the event."""
        return len(self.bids) + len(self.asks)


def parse_depth_update(
    data: Mapping[str, Any], scale: Scale, *, source: str = WIRE_SOURCE
) -> DepthUpdate:
    """Parse a `depthUpdate` payload (the `data` of the envelope), spot or USD-M.

    Spot (`ethusdt@depth@100ms`, 2024-08-08, two of its four bids; no `pu` and no `T` on spot):
    `{"e":"depthUpdate","E":1723161255508,"s":"ETHUSDT","U":35346513513,"u":35346513514,
    "b":[["2676.78000000","4.24540000"],["2672.03000000","0.00000000"]],"a":[]}`

    USD-M (`ethusdt@depth@0ms`, 2024-07-19):
    `{"e":"depthUpdate","E":1721347201915,"T":1721347201863,"s":"ETHUSDT","U":4984034996797,
    "u":4984034996803,"pu":4984033953043,"b":[["3422.55","1.428"]],"a":[["3427.38","39.651"]]}`

    Invariants checked: `U <= u`, and `pu < U` when `pu` is present.

    Raises:
        DataError: wrong event type, a missing/mistyped field, an inexact or malformed level.
    """
    _check_event(data, "depthUpdate", source)  # before the levels, so a trade is named a trade
    return depth_update_from(
        data,
        _levels(data.get("b"), scale, "b", source),
        _levels(data.get("a"), scale, "a", source),
        source,
    )


def depth_update_from(
    data: Mapping[str, Any], bids: tuple[Level, ...], asks: tuple[Level, ...], source: str
) -> DepthUpdate:
    """A DepthUpdate from a payload's scalar fields and levels parsed elsewhere (`wire_fast`).

    Raises:
        DataError: as `parse_depth_update`, for the scalar fields.
    """
    _check_event(data, "depthUpdate", source)
    first_id = _get(data, "U", int, source)
    final_id = _get(data, "u", int, source)
    prev_id = _get_optional(data, "pu", int, source)
    if first_id > final_id or (prev_id is not None and prev_id >= first_id):
        raise DataError(
            source,
            "update ids out of order",
            "U/u/pu",
            "pu < U <= u",
            f"pu={prev_id} U={first_id} u={final_id}",
        )
    transaction_ms = _get_optional(data, "T", int, source)
    return DepthUpdate(
        symbol=_get(data, "s", str, source),
        first_update_id=first_id,
        final_update_id=final_id,
        prev_final_update_id=prev_id,
        event_time_ns=_get(data, "E", int, source) * NS_PER_MS,
        transaction_time_ns=None if transaction_ms is None else transaction_ms * NS_PER_MS,
        bids=bids,
        asks=asks,
    )


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """A REST order-book snapshot (`GET /api/v3/depth` or `/fapi/v1/depth`).

    Attributes:
        symbol: upper-case symbol (the request's; the response does not name it).
        last_update_id: `lastUpdateId`, the id of the last update the snapshot contains.
        bids: (price_ticks, qty_lots), best first, as sent.
        asks: (price_ticks, qty_lots), best first, as sent.
        event_time_ns: USD-M `E` in epoch ns; None on spot (spot snapshots carry no time, so
            stamp them with the receive clock).
        transaction_time_ns: USD-M `T` in epoch ns; None on spot.
    """

    symbol: str
    last_update_id: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    event_time_ns: int | None = None
    transaction_time_ns: int | None = None


def parse_depth_snapshot(
    data: Mapping[str, Any], symbol: str, scale: Scale, *, source: str = WIRE_SOURCE
) -> DepthSnapshot:
    """Parse a REST depth response for `symbol`.

    Spot (2024-08-08, 1000 levels per side, shortened):
    `{"lastUpdateId":35346513512,"bids":[["2683.80000000","3.02920000"],...],
    "asks":[["2683.81000000","31.43950000"],...]}`; USD-M adds `"E"` and `"T"` (ms).

    Raises:
        VenueError: the body is a Binance error (`{"code":-1121,"msg":"Invalid symbol."}`).
        DataError: a missing/mistyped field or an inexact level.
    """
    if isinstance(data, Mapping) and "code" in data and "lastUpdateId" not in data:
        code = data.get("code")
        raise VenueError(
            what=f"depth snapshot {symbol}",
            reason=str(data.get("msg", "error payload")),
            code=code if isinstance(code, int) else None,
        )
    event_ms = _get_optional(data, "E", int, source)
    transaction_ms = _get_optional(data, "T", int, source)
    return DepthSnapshot(
        symbol=symbol,
        last_update_id=_get(data, "lastUpdateId", int, source),
        bids=_levels(data.get("bids"), scale, "bids", source),
        asks=_levels(data.get("asks"), scale, "asks", source),
        event_time_ns=None if event_ms is None else event_ms * NS_PER_MS,
        transaction_time_ns=None if transaction_ms is None else transaction_ms * NS_PER_MS,
    )


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade. `buyer_is_maker` True means the taker sold (Binance `m`)."""

    symbol: str
    trade_id: int
    price_ticks: int
    qty_lots: int
    trade_time_ns: int
    event_time_ns: int
    buyer_is_maker: bool


def parse_trade(data: Mapping[str, Any], scale: Scale, *, source: str = WIRE_SOURCE) -> Trade:
    """Parse a `trade` payload (spot or USD-M).

    Spot (`ethusdt@trade`, 2024-08-08): `{"e":"trade","E":1723161255612,"s":"ETHUSDT",
    "t":1520538925,"p":"2683.80000000","q":"0.00200000","T":1723161255611,"m":true,"M":true}`.
    USD-M (2024-07-19) adds `"X":"MARKET"` and has no `M`: `{"e":"trade","E":1721347202808,
    "T":1721347202808,"s":"ETHUSDT","t":4217898224,"p":"3424.99","q":"0.022","X":"MARKET","m":false}`.

    Raises:
        DataError: wrong event type, a missing/mistyped field, an inexact price or quantity.
    """
    _check_event(data, "trade", source)
    return Trade(
        symbol=_get(data, "s", str, source),
        trade_id=_get(data, "t", int, source),
        price_ticks=parse_fixed(data.get("p"), scale.price_decimals, field="p", source=source),
        qty_lots=parse_fixed(data.get("q"), scale.qty_decimals, field="q", source=source),
        trade_time_ns=_get(data, "T", int, source) * NS_PER_MS,
        event_time_ns=_get(data, "E", int, source) * NS_PER_MS,
        buyer_is_maker=_get(data, "m", bool, source),
    )


@dataclass(frozen=True, slots=True)
class ServerShutdown:
    """The server announced it is going down: reconnect now. `event_time_ns` is its `E`."""

    event_time_ns: int


def parse_server_shutdown(data: Mapping[str, Any], *, source: str = WIRE_SOURCE) -> ServerShutdown:
    """Parse a shutdown notice, `{"stream":"!serverShutdown","data":{"e":"serverShutdown",
    "E":1746606000000}}` in the envelope (format of the Binance docs, rolled out 2026-05-08; no
    recorded sample exists in tests/data/real).

    Raises:
        DataError: wrong event type or `E` missing.
    """
    _check_event(data, "serverShutdown", source)
    return ServerShutdown(event_time_ns=_get(data, "E", int, source) * NS_PER_MS)


WireMessage = DepthUpdate | DepthSnapshot | Trade | ServerShutdown


def parse_message(
    envelope: Envelope, scales: Mapping[str, Scale], *, source: str = WIRE_SOURCE
) -> WireMessage | None:
    """Dispatch a combined-stream envelope on its stream name to the parser of that kind.

    Args:
        envelope: the decoded frame (`parse_envelope`).
        scales: Scale per upper-case symbol.
        source: named in errors (the recording file when replaying).

    Returns:
        The typed record, or None for a stream feedcheck records but does not model
        (`@bookTicker`, `@aggTrade`, partial depth, ...): see `venue.StreamKind.OTHER`.

    Raises:
        ConfigError: no Scale for the symbol of a priced stream.
        DataError: the payload does not match its stream, or a parser rejects it.
        VenueError: an in-band snapshot holds a Binance error body.
    """
    symbol, kind = classify_stream(envelope.stream)
    if kind is StreamKind.OTHER:
        return None
    if kind is StreamKind.SERVER_SHUTDOWN:
        return parse_server_shutdown(envelope.data, source=source)
    assert symbol is not None  # every priced kind is `<symbol>@...`
    try:
        scale = scales[symbol]
    except KeyError:
        raise ConfigError(f"no price/quantity scale configured for symbol {symbol!r}") from None
    if kind is StreamKind.SNAPSHOT:
        return parse_depth_snapshot(envelope.data, symbol, scale, source=source)
    parsed: DepthUpdate | Trade
    if kind is StreamKind.DEPTH:
        parsed = parse_depth_update(envelope.data, scale, source=source)
    else:
        parsed = parse_trade(envelope.data, scale, source=source)
    if parsed.symbol != symbol:
        raise DataError(
            source, "payload symbol differs from its stream", "s", symbol, parsed.symbol
        )
    return parsed
