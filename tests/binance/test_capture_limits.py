"""The capture's retry policy and config, without sockets: backoff, connect limiter, classifier."""

from __future__ import annotations

import itertools
import random

import aiohttp
import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.http11 import Response

from feedcheck.binance.capture import CaptureConfig
from feedcheck.binance.capture_limits import (
    BACKOFF_MAX_S,
    ConnectLimiter,
    backoff,
    is_transient,
    parse_retry_after,
    retry_after_s,
)
from feedcheck.binance.capture_rest import instrument_scale
from feedcheck.binance.capture_writer import FRAME, MARKER, FrameQueue
from feedcheck.binance.sync import Variant
from feedcheck.binance.venue import Market
from feedcheck.binance.wire import Scale
from feedcheck.errors import ConfigError, DataError, VenueError


class TestBackoff:
    def test_random_first_then_exponential_to_the_cap(self):
        rng = random.Random(3)
        first = random.Random(3).random() * 1.0
        delays = list(itertools.islice(backoff(1.0, 2.0, 10.0, rng=rng), 7))
        assert delays == [first, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]

    def test_default_cap(self):
        assert max(itertools.islice(backoff(rng=random.Random(0)), 50)) == BACKOFF_MAX_S

    def test_rejects_bad_parameters(self):
        with pytest.raises(ConfigError):
            next(backoff(0.0))


class TestConnectLimiter:
    def test_sliding_window(self):
        limiter = ConnectLimiter(max_connects=3, window_s=10.0)
        for t in (0.0, 1.0, 2.0):
            assert limiter.wait_s(t) == 0.0
            limiter.record(t)
        assert limiter.wait_s(5.0) == 5.0  # the attempt at 0 leaves the window at 10
        assert limiter.wait_s(10.0) == 0.0 and limiter.attempts == 2

    def test_binance_default(self):
        limiter = ConnectLimiter()
        assert (limiter.max_connects, limiter.window_s) == (300, 300.0)


def _invalid_status(status: int, retry_after: str | None = None) -> InvalidStatus:
    headers = Headers({"Retry-After": retry_after} if retry_after else {})
    return InvalidStatus(Response(status, "x", headers))


class TestClassifier:
    @pytest.mark.parametrize(
        "exc",
        [
            ConnectionResetError(),
            TimeoutError(),
            ConnectionClosedError(None, None),
            aiohttp.ServerDisconnectedError(),
            VenueError("depth", "busy", status=503),
            VenueError("depth", "throttled", status=429, retry_after_s=3.0),
            VenueError("depth", "banned", status=418),
            _invalid_status(502),
        ],
    )
    def test_transient(self, exc):
        assert is_transient(exc)

    @pytest.mark.parametrize(
        "exc",
        [
            VenueError("depth", "Invalid symbol.", status=400, code=-1121),
            _invalid_status(404),
            DataError("wire", "not JSON"),
            ValueError("bug"),
            KeyError("bug"),
        ],
    )
    def test_raised(self, exc):
        assert not is_transient(exc)

    def test_retry_after(self):
        assert retry_after_s(VenueError("d", "t", status=429, retry_after_s=2.0)) == 2.0
        assert retry_after_s(_invalid_status(429, "7")) == 7.0
        assert retry_after_s(TimeoutError()) is None
        assert [parse_retry_after(v) for v in ("3", " 12 ", None, "soon")] == [
            3.0,
            12.0,
            None,
            None,
        ]


class TestInstrumentScale:
    def test_spot_parses_at_the_wire_precision(self):
        assert instrument_scale("0.01000000", "0.00010000", Market.SPOT) == Scale(8, 8)

    def test_usdm_uses_the_steps(self):
        assert instrument_scale("0.01", "0.001", Market.USDM) == Scale(2, 3)


class TestFrameQueue:
    def test_bounded_in_frames_not_in_control_records(self):
        queue = FrameQueue(max_frames=2)
        assert queue.offer(1, b"a") and queue.offer(2, b"b")
        assert not queue.offer(3, b"c") and not queue.has_room()
        queue.put_control((MARKER, 4, "gap", {"dropped": 1}))
        assert queue.take(0.0) == [
            (FRAME, 1, b"a"),
            (FRAME, 2, b"b"),
            (MARKER, 4, "gap", {"dropped": 1}),
        ]
        assert queue.has_room() and queue.take(0.0) == [] and queue.peak_frames == 2
        queue.close()
        assert queue.take(0.0) is None


class TestConfig:
    def test_combined_stream_url(self, tmp_path):
        config = CaptureConfig(symbols=("btcusdt", "ETHUSDT"), duration_s=1, out_dir=tmp_path,
                               ws_url="ws://h:1/")  # fmt: skip
        assert config.symbols == ("BTCUSDT", "ETHUSDT")
        assert config.url == (
            "ws://h:1/stream?streams="
            "btcusdt@trade/btcusdt@depth@100ms/ethusdt@trade/ethusdt@depth@100ms"
        )
        assert config.file_prefix == "binance-spot"

    def test_slow_depth_and_extra_streams(self, tmp_path):
        config = CaptureConfig(symbols=("BTCUSDT",), duration_s=1, out_dir=tmp_path,
                               streams=("depth", "bookTicker"), depth_speed_ms=1000)  # fmt: skip
        assert config.stream_names() == ("btcusdt@depth", "btcusdt@bookTicker")

    @pytest.mark.parametrize(
        "bad",
        [
            {"symbols": ()},
            {"symbols": ("btc/usdt",)},
            {"duration_s": 0},
            {"depth_speed_ms": 250},
            {"snapshot_limit": 5001},
            {"variant": Variant.USDM},  # USD-M snapshots stop at 1000 levels
            {"streams": ("../x",)},
            {"compression": "lz4"},
        ],
    )
    def test_rejects(self, tmp_path, bad):
        kwargs = {"symbols": ("BTCUSDT",), "duration_s": 1.0, "out_dir": tmp_path, **bad}
        with pytest.raises(ConfigError):
            CaptureConfig(**kwargs)
