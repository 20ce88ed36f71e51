"""Binance venue facts: stream names, limits and REST weights as declared data."""

from __future__ import annotations

import pytest

from feedcheck.binance import venue
from feedcheck.binance.venue import SPOT, USDM, StreamKind
from feedcheck.errors import ConfigError


def test_connection_limits_match_the_binance_docs() -> None:
    assert (venue.PING_INTERVAL_S, venue.PONG_TIMEOUT_S) == (20.0, 60.0)
    assert venue.MAX_INBOUND_MSGS_PER_S == 5
    assert (venue.MAX_CONNECTS_PER_WINDOW, venue.CONNECT_WINDOW_S) == (300, 300.0)
    assert venue.CONNECTION_LIFETIME_S == 86_400.0
    assert (SPOT.max_depth_limit, USDM.max_depth_limit) == (5000, 1000)


def test_stream_names() -> None:
    assert venue.depth_stream("BTCUSDT", 100) == "btcusdt@depth@100ms"
    assert venue.depth_stream("BTCUSDT", 1000) == "btcusdt@depth"
    assert venue.depth_stream("ETHUSDT", 0, USDM) == "ethusdt@depth@0ms"
    assert venue.depth_stream("ETHUSDT", 250, USDM) == "ethusdt@depth"
    assert venue.trade_stream("BTCUSDT") == "btcusdt@trade"
    assert venue.snapshot_stream("BTCUSDT") == "btcusdt@depthSnapshot"
    assert (
        venue.combined_stream_path(["btcusdt@trade", "btcusdt@depth@100ms"])
        == "/stream?streams=btcusdt@trade/btcusdt@depth@100ms"
    )
    assert venue.raw_stream_path("btcusdt@trade") == "/ws/btcusdt@trade"


@pytest.mark.parametrize("bad", ["btcusdt", "BTC-USDT", "../x", "", "B" * 31])
def test_symbols_are_checked(bad: str) -> None:
    with pytest.raises(ConfigError):
        venue.trade_stream(bad)


def test_bad_depth_speed_and_stream_count() -> None:
    with pytest.raises(ConfigError):
        venue.depth_stream("BTCUSDT", 250)
    with pytest.raises(ConfigError):
        venue.combined_stream_path([])
    with pytest.raises(ConfigError):
        venue.combined_stream_path(["a@trade"] * (venue.MAX_STREAMS_PER_CONNECTION + 1))


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        ("ethusdt@depth@100ms", ("ETHUSDT", StreamKind.DEPTH)),
        ("ethusdt@depth", ("ETHUSDT", StreamKind.DEPTH)),
        ("ethusdt@depth@0ms", ("ETHUSDT", StreamKind.DEPTH)),
        ("ethusdt@trade", ("ETHUSDT", StreamKind.TRADE)),
        ("ethusdt@depthSnapshot", ("ETHUSDT", StreamKind.SNAPSHOT)),
        ("!serverShutdown", (None, StreamKind.SERVER_SHUTDOWN)),
        ("ethusdt@bookTicker", ("ETHUSDT", StreamKind.OTHER)),
        ("ethusdt@depth20@100ms", ("ETHUSDT", StreamKind.OTHER)),
        ("!miniTicker@arr", (None, StreamKind.OTHER)),
    ],
)
def test_classify_stream(stream: str, expected: tuple[str | None, StreamKind]) -> None:
    assert venue.classify_stream(stream) == expected


@pytest.mark.parametrize(
    ("limit", "weight"),
    [(1, 5), (100, 5), (101, 25), (500, 25), (501, 50), (1000, 50), (1001, 250), (5000, 250)],
)
def test_spot_depth_weights(limit: int, weight: int) -> None:
    assert venue.depth_weight(limit) == weight


def test_depth_limits_out_of_range() -> None:
    for limit in (0, 5001):
        with pytest.raises(ConfigError):
            venue.depth_weight(limit)
    assert venue.depth_weight(1000, USDM) == 20
    with pytest.raises(ConfigError):
        venue.depth_weight(7, USDM)
