"""Binance facts as declared data: endpoints, stream names, connection limits, REST weights.

Everything the rest of `feedcheck.binance` knows about the venue lives here, so the transport
(capture, simulator) never branches on a venue and a changed limit is one edit. Sources:
Binance spot `web-socket-streams.md`, `rest-api.md` and `CHANGELOG.md`, and the USD-M futures
market-stream docs (summarised in `reference/data-formats.md` §2 and `anchors.md` §0).

Times on the Binance wire are milliseconds; inside feedcheck they are ns (`NS_PER_MS`). Limits that
are durations are stated in seconds (`*_s`) because that is how Binance states them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from feedcheck.errors import ConfigError

#: Binance wire times (`E`, `T`) are epoch milliseconds; feedcheck keeps epoch ns.
NS_PER_MS = 1_000_000

#: The server pings every 20 s (since Feb 2025; 3 min before).
PING_INTERVAL_S = 20.0
#: A client that has not answered a ping within 60 s is disconnected (10 min before Feb 2025).
PONG_TIMEOUT_S = 60.0
#: Incoming messages (ping, pong, JSON control) per second per connection; more disconnects.
MAX_INBOUND_MSGS_PER_S = 5
#: Connection attempts allowed per IP within `CONNECT_WINDOW_S`.
MAX_CONNECTS_PER_WINDOW = 300
#: The window of `MAX_CONNECTS_PER_WINDOW`: 5 minutes.
CONNECT_WINDOW_S = 300.0
#: A connection is closed by the server at the latest after 24 h.
CONNECTION_LIFETIME_S = 24 * 3600.0
#: Streams one connection may carry.
MAX_STREAMS_PER_CONNECTION = 1024
#: REST request weight allowed per minute per IP (`REQUEST_WEIGHT`, since 2023-08-25).
REQUEST_WEIGHT_PER_MIN = 6000

#: Stream name of the shutdown notice inside the combined-stream envelope.
SERVER_SHUTDOWN_STREAM = "!serverShutdown"
#: Our own stream name for REST snapshots written in-band into raw recordings (as Tardis does).
SNAPSHOT_STREAM_SUFFIX = "depthSnapshot"


class Market(enum.Enum):
    """Which Binance market a connection talks to; the sync rules differ (see `sync.Variant`)."""

    SPOT = "spot"
    USDM = "usdm"


@dataclass(frozen=True)
class DepthWeightBand:
    """REST depth requests with `limit <= max_limit` (and above the previous band) cost `weight`."""

    max_limit: int
    weight: int


@dataclass(frozen=True)
class VenueSpec:
    """Endpoints and market-data limits of one Binance market.

    Attributes:
        market: spot or USD-M futures.
        ws_base: WebSocket base URL (no path).
        rest_base: REST base URL (no path).
        depth_path: REST path of the order-book snapshot.
        exchange_info_path: REST path of the instrument list (tick and lot size filters).
        depth_speeds_ms: valid diff-depth cadences in ms.
        plain_depth_speed_ms: the cadence of the bare `<sym>@depth` stream (no `@<n>ms` suffix).
        max_depth_limit: largest REST depth `limit`; Binance caps larger values.
        valid_depth_limits: the `limit` values the endpoint accepts, or None for any in 1..max.
        depth_weights: request weight per `limit` band, in increasing `max_limit` order.
    """

    market: Market
    ws_base: str
    rest_base: str
    depth_path: str
    exchange_info_path: str
    depth_speeds_ms: tuple[int, ...]
    plain_depth_speed_ms: int
    max_depth_limit: int
    valid_depth_limits: tuple[int, ...] | None
    depth_weights: tuple[DepthWeightBand, ...]


SPOT = VenueSpec(
    market=Market.SPOT,
    ws_base="wss://stream.binance.com:9443",
    rest_base="https://api.binance.com",
    depth_path="/api/v3/depth",
    exchange_info_path="/api/v3/exchangeInfo",
    depth_speeds_ms=(100, 1000),
    plain_depth_speed_ms=1000,
    max_depth_limit=5000,
    valid_depth_limits=None,
    # Weights since 2023-10-19: 1-100 → 5, 101-500 → 25, 501-1000 → 50, 1001-5000 → 250.
    depth_weights=(
        DepthWeightBand(100, 5),
        DepthWeightBand(500, 25),
        DepthWeightBand(1000, 50),
        DepthWeightBand(5000, 250),
    ),
)

#: Market-data-only spot endpoints (no user data, same payloads).
SPOT_DATA_ONLY_WS_BASE = "wss://data-stream.binance.vision"
SPOT_DATA_ONLY_REST_BASE = "https://data-api.binance.vision"

USDM = VenueSpec(
    market=Market.USDM,
    ws_base="wss://fstream.binance.com",
    rest_base="https://fapi.binance.com",
    depth_path="/fapi/v1/depth",
    exchange_info_path="/fapi/v1/exchangeInfo",
    # `@depth@0ms` is undocumented but served (hftbacktest records it; "real-time" since 2020).
    depth_speeds_ms=(0, 100, 250, 500),
    plain_depth_speed_ms=250,
    max_depth_limit=1000,
    valid_depth_limits=(5, 10, 20, 50, 100, 500, 1000),
    depth_weights=(
        DepthWeightBand(50, 2),
        DepthWeightBand(100, 5),
        DepthWeightBand(500, 10),
        DepthWeightBand(1000, 20),
    ),
)

VENUES: dict[Market, VenueSpec] = {SPOT.market: SPOT, USDM.market: USDM}

# Binance symbols are upper-case alphanumerics; stream names use them lower-cased.
_SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,30}$")


def check_symbol(symbol: str) -> str:
    """Return `symbol` if it is a Binance symbol (upper case, e.g. `BTCUSDT`); else ConfigError."""
    if not _SYMBOL_RE.match(symbol):
        raise ConfigError(f"symbol {symbol!r} must be upper-case letters and digits, e.g. BTCUSDT")
    return symbol


def depth_stream(symbol: str, speed_ms: int, venue: VenueSpec = SPOT) -> str:
    """Diff-depth stream name, e.g. `btcusdt@depth@100ms`; the plain cadence is bare `btcusdt@depth`.

    Raises:
        ConfigError: unknown symbol form or a cadence the venue does not offer.
    """
    if speed_ms not in venue.depth_speeds_ms:
        raise ConfigError(
            f"depth speed {speed_ms} ms is not one of {venue.depth_speeds_ms} on {venue.market.value}"
        )
    name = f"{check_symbol(symbol).lower()}@depth"
    if speed_ms == venue.plain_depth_speed_ms:
        return name
    return f"{name}@{speed_ms}ms"


def trade_stream(symbol: str) -> str:
    """Trade stream name, e.g. `btcusdt@trade`."""
    return f"{check_symbol(symbol).lower()}@trade"


def snapshot_stream(symbol: str) -> str:
    """Stream name under which a REST snapshot is recorded in-band, e.g. `btcusdt@depthSnapshot`."""
    return f"{check_symbol(symbol).lower()}@{SNAPSHOT_STREAM_SUFFIX}"


def combined_stream_path(streams: list[str] | tuple[str, ...]) -> str:
    """Path and query of a combined-stream connection: `/stream?streams=a@trade/b@depth@100ms`.

    Raises:
        ConfigError: no stream, or more than `MAX_STREAMS_PER_CONNECTION`.
    """
    if not streams or len(streams) > MAX_STREAMS_PER_CONNECTION:
        raise ConfigError(
            f"a connection carries 1..{MAX_STREAMS_PER_CONNECTION} streams, got {len(streams)}"
        )
    return "/stream?streams=" + "/".join(streams)


def raw_stream_path(stream: str) -> str:
    """Path of a single raw-stream connection (no envelope): `/ws/<stream>`."""
    return f"/ws/{stream}"


class StreamKind(enum.Enum):
    """What a combined-stream name carries."""

    DEPTH = "depth"  #: `<sym>@depth`, `<sym>@depth@100ms`, USD-M `@depth@0ms`/`@250ms`/`@500ms`
    TRADE = "trade"  #: `<sym>@trade`
    SNAPSHOT = "snapshot"  #: our in-band `<sym>@depthSnapshot`
    SERVER_SHUTDOWN = "server_shutdown"  #: `!serverShutdown`
    OTHER = "other"  #: streams feedcheck records but does not model (bookTicker, aggTrade, ...)


_DEPTH_SUFFIX_RE = re.compile(r"^depth(@\d+ms)?$")


def classify_stream(stream: str) -> tuple[str | None, StreamKind]:
    """Split a stream name into (upper-case symbol, kind); the symbol is None for `!` streams.

    Examples: `ethusdt@depth@100ms` → (`ETHUSDT`, DEPTH); `!serverShutdown` → (None,
    SERVER_SHUTDOWN); `ethusdt@bookTicker` → (`ETHUSDT`, OTHER).
    """
    if stream == SERVER_SHUTDOWN_STREAM:
        return None, StreamKind.SERVER_SHUTDOWN
    symbol, sep, rest = stream.partition("@")
    if not sep or stream.startswith("!"):
        return None, StreamKind.OTHER
    if rest == "trade":
        kind = StreamKind.TRADE
    elif rest == SNAPSHOT_STREAM_SUFFIX:
        kind = StreamKind.SNAPSHOT
    elif _DEPTH_SUFFIX_RE.match(rest):
        kind = StreamKind.DEPTH
    else:
        kind = StreamKind.OTHER
    return symbol.upper(), kind


def depth_weight(limit: int, venue: VenueSpec = SPOT) -> int:
    """REST request weight of one depth snapshot with this `limit` (spot: 5/25/50/250).

    Raises:
        ConfigError: `limit` outside 1..`max_depth_limit` or not a value the venue accepts.
    """
    if not 1 <= limit <= venue.max_depth_limit or (
        venue.valid_depth_limits is not None and limit not in venue.valid_depth_limits
    ):
        raise ConfigError(
            f"depth limit {limit} is not valid on {venue.market.value} "
            f"(1..{venue.max_depth_limit}"
            + (f", one of {venue.valid_depth_limits})" if venue.valid_depth_limits else ")")
        )
    for band in venue.depth_weights:
        if limit <= band.max_limit:
            return band.weight
    raise AssertionError("depth_weights must end at max_depth_limit")  # pragma: no cover
