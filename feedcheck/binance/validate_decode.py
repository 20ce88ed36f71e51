"""Decoding shared by capture validation and export: stream classes, scales, finest decimals.

Scale: a recording is parsed at `WORK_SCALE` (8 decimals for prices and quantities: Binance
formats every price and quantity string with at most 8) unless the caller gives a `Scale` for
the symbol. Int comparisons are exact at any scale that holds every value, so 8 loses nothing;
the scale *reported* (and written to Parquet metadata) is, in order: the caller's, the one a
marker of the recording declares (`scales_from_marker`), or the finest decimals seen in the data
(`DecimalsSeen`: real ETHUSDT spot 2024-08 gives 2 / 5, although its lot step is 0.0001).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from feedcheck.binance.rawrecord import RawRecord
from feedcheck.binance.venue import NS_PER_MS, StreamKind, classify_stream
from feedcheck.binance.wire import (
    MAX_DECIMALS,
    DepthUpdate,
    Scale,
    Trade,
    parse_depth_update,
    parse_envelope,
    parse_fixed,
    parse_trade,
)
from feedcheck.binance.wire_fast import parse_depth_frame
from feedcheck.errors import ConfigError, DataError

#: Decimals of every Binance price and quantity string (spot `"2683.80000000"`).
WIRE_DECIMALS = 8
WORK_SCALE = Scale(WIRE_DECIMALS, WIRE_DECIMALS)

#: Marker fields (header or connect) naming each symbol's tick and lot. The capture writes
#: `{"instruments": {"BTCUSDT": {"tick_size": "0.01", "step_size": "0.00001", "price_decimals":
#: 8, "qty_decimals": 8}}}` (decimals: its parse scale); `scales` is read the same way. The
#: exchangeInfo steps (`tick_size` / `tickSize`, `step_size` / `stepSize`) win over decimals.
SCALES_FIELDS = ("instruments", "scales")

_POW10 = tuple(10**i for i in range(MAX_DECIMALS + 1))


def stream_class(stream: str | None) -> str:
    """`depth`, `trade`, `agg_trade`, `snapshot`, `server_shutdown` or `other` (also: None)."""
    if stream is None:
        return "other"
    _, kind = classify_stream(stream)
    if kind is StreamKind.OTHER:
        return "agg_trade" if stream.endswith("@aggTrade") else "other"
    return kind.value


def _scale_entry(symbol: str, entry: Any) -> Scale:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"scale of {symbol} in a marker is not an object: {entry!r}")
    tick = entry.get("tick_size", entry.get("tickSize"))
    step = entry.get("step_size", entry.get("stepSize"))
    if isinstance(tick, str) and isinstance(step, str):
        return Scale.from_steps(tick, step)
    price, qty = entry.get("price_decimals"), entry.get("qty_decimals")
    if type(price) is int and type(qty) is int:
        return Scale(price, qty)
    raise ConfigError(
        f"scale of {symbol} in a marker has neither tick/step nor decimals: {entry!r}"
    )


def scales_from_marker(marker: Mapping[str, Any]) -> dict[str, Scale]:
    """Per upper-case symbol, the scale a marker declares (`SCALES_FIELDS`); {} when none.

    Raises:
        ConfigError: the field is there but malformed.
    """
    out: dict[str, Scale] = {}
    for name in SCALES_FIELDS:
        declared = marker.get(name)
        if declared is None:
            continue
        if not isinstance(declared, Mapping):
            raise ConfigError(f"marker field {name!r} is not an object: {declared!r}")
        out.update({str(sym).upper(): _scale_entry(str(sym), e) for sym, e in declared.items()})
    return out


def trailing_decimals(gcd_value: int, decimals: int) -> int:
    """Decimals needed for values whose gcd at `decimals` places is `gcd_value` (0 → 0)."""
    if gcd_value == 0:
        return 0
    zeros = 0
    while zeros < decimals and gcd_value % _POW10[zeros + 1] == 0:
        zeros += 1
    return decimals - zeros


class DecimalsSeen:
    """Finest decimals of the prices and quantities fed, values in ints at `decimals` places.

    Keeps the gcd of every value (a C loop per call through `math.gcd(*values)`): the values
    need `decimals − (trailing zeros of the gcd)` places.
    """

    __slots__ = ("price_decimals", "qty_decimals", "_price_gcd", "_qty_gcd")

    def __init__(self, scale: Scale) -> None:
        self.price_decimals = scale.price_decimals
        self.qty_decimals = scale.qty_decimals
        self._price_gcd = 0
        self._qty_gcd = 0

    def add_levels(self, *sides: Iterable[tuple[int, int]]) -> None:
        for levels in sides:
            if levels:
                prices, qtys = zip(*levels, strict=True)
                self._price_gcd = math.gcd(self._price_gcd, *prices)
                self._qty_gcd = math.gcd(self._qty_gcd, *qtys)

    def add(self, price: int, qty: int) -> None:
        self._price_gcd = math.gcd(self._price_gcd, price)
        self._qty_gcd = math.gcd(self._qty_gcd, qty)

    def scale(self) -> Scale:
        """The coarsest scale that holds every value fed (Scale(0, 0) before any)."""
        return Scale(
            trailing_decimals(self._price_gcd, self.price_decimals),
            trailing_decimals(self._qty_gcd, self.qty_decimals),
        )


def _int_field(data: Mapping[str, Any], key: str, source: str) -> int:
    value = data.get(key)
    if type(value) is not int:
        raise DataError(source, "field missing or not an int", key, "int", repr(value))
    return value


def parse_agg_trade(data: Mapping[str, Any], scale: Scale, *, source: str) -> Trade:
    """An `aggTrade` payload as a `Trade` (trade_id = the aggregate id `a`, Lake's trade id).

    `{"e":"aggTrade","E":1617566591315,"s":"BTCUSDT","a":665076760,"p":"58001.03000000",
    "q":"0.08620000","f":..,"l":..,"T":1617566591314,"m":true,"M":true}` (cryptofeed sample).

    Raises:
        DataError: wrong event, a missing/mistyped field, an inexact price or quantity.
    """
    if data.get("e") != "aggTrade":
        raise DataError(source, "not an aggTrade event", "e", "aggTrade", repr(data.get("e")))
    maker = data.get("m")
    symbol = data.get("s")
    if type(maker) is not bool or not isinstance(symbol, str):
        raise DataError(source, "aggTrade lacks m (bool) or s (str)", "m", "bool", repr(maker))
    return Trade(
        symbol=symbol,
        trade_id=_int_field(data, "a", source),
        price_ticks=parse_fixed(data.get("p"), scale.price_decimals, field="p", source=source),
        qty_lots=parse_fixed(data.get("q"), scale.qty_decimals, field="q", source=source),
        trade_time_ns=_int_field(data, "T", source) * NS_PER_MS,
        event_time_ns=_int_field(data, "E", source) * NS_PER_MS,
        buyer_is_maker=maker,
    )


def decimal_text(value: int, decimals: int) -> str:
    """An int at `decimals` places as the shortest decimal text (`268380000000`, 8 → `2683.8`)."""
    whole, frac = divmod(value, _POW10[decimals])
    if not frac:
        return str(whole)
    return f"{whole}.{frac:0{decimals}d}".rstrip("0")


def _enveloped(record: RawRecord) -> bool:
    # Frames of a `/ws/<stream>` connection have no envelope (the reader names their stream).
    return b'"stream"' in record.payload


def where(record: RawRecord) -> str:
    """`<file> line <n>`: the source named in parse errors."""
    return f"{record.path} line {record.line_no}"


def depth_event(record: RawRecord, scale: Scale) -> DepthUpdate:
    """The depth event of a frame (enveloped or bare), parsed exactly at `scale`.

    Raises:
        DataError: not a depth event, or its symbol differs from the stream's.
    """
    source = where(record)
    if _enveloped(record):
        _, event = parse_depth_frame(record.payload, scale, source=source)
    else:
        event = parse_depth_update(record.json(), scale, source=source)
    symbol = record.symbol
    if symbol is not None and event.symbol != symbol:
        raise DataError(source, "payload symbol differs from its stream", "s", symbol, event.symbol)
    return event


def trade_event(record: RawRecord, kind: str, scales: Mapping[str, Scale]) -> Trade:
    """The `trade` or `agg_trade` (`kind`) of a frame, at its symbol's scale (default
    `WORK_SCALE`).

    Raises:
        DataError: not that event, or a field missing, mistyped or inexact.
    """
    source = where(record)
    data = (
        parse_envelope(record.payload, source=source).data if _enveloped(record) else record.json()
    )
    symbol = data.get("s") if isinstance(data, dict) else None
    scale = scales.get(symbol, WORK_SCALE) if isinstance(symbol, str) else WORK_SCALE
    parse = parse_trade if kind == "trade" else parse_agg_trade
    return parse(data, scale, source=source)
