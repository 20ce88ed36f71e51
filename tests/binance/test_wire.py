"""Wire parsing: exact decimal → int fixed point, and every message kind, on real Binance frames."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedcheck.binance.wire import (
    DepthSnapshot,
    DepthUpdate,
    Envelope,
    Scale,
    ServerShutdown,
    Trade,
    format_fixed,
    parse_depth_snapshot,
    parse_depth_update,
    parse_envelope,
    parse_fixed,
    parse_message,
    parse_server_shutdown,
    parse_trade,
)
from feedcheck.errors import ConfigError, DataError, VenueError

SPOT = Scale(price_decimals=2, qty_decimals=5)
USDM = Scale(price_decimals=2, qty_decimals=3)

# Real frames, byte for byte from tests/data/real (hftbacktest recordings, MIT).
SPOT_DEPTH_FRAME = (
    '{"stream":"ethusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255408,"s":"ETHUSDT",'
    '"U":35346513506,"u":35346513512,"b":[["2683.80000000","3.02920000"],'
    '["2683.48000000","0.00000000"],["2683.44000000","0.00000000"],["2683.42000000","0.00000000"]],'
    '"a":[["2687.31000000","81.35720000"]]}}'
)
USDM_DEPTH_FRAME = (
    '{"stream":"ethusdt@depth@0ms","data":{"e":"depthUpdate","E":1721347201915,"T":1721347201863,'
    '"s":"ETHUSDT","U":4984034996797,"u":4984034996803,"pu":4984033953043,'
    '"b":[["3422.55","1.428"],["3423.19","19.276"]],"a":[["3427.38","39.651"],["3428.02","1.421"]]}}'
)
SPOT_TRADE_FRAME = (
    '{"stream":"ethusdt@trade","data":{"e":"trade","E":1723161255612,"s":"ETHUSDT","t":1520538925,'
    '"p":"2683.80000000","q":"0.00200000","T":1723161255611,"m":true,"M":true}}'
)
USDM_TRADE_FRAME = (
    '{"stream":"ethusdt@trade","data":{"e":"trade","E":1721347202808,"T":1721347202808,'
    '"s":"ETHUSDT","t":4217898224,"p":"3424.99","q":"0.022","X":"MARKET","m":false}}'
)
BOOK_TICKER_FRAME = (
    '{"stream":"ethusdt@bookTicker","data":{"u":35346513501,"s":"ETHUSDT","b":"2683.80000000",'
    '"B":"3.02920000","a":"2683.81000000","A":"31.43950000"}}'
)


class TestParseFixed:
    @pytest.mark.parametrize(
        ("text", "decimals", "expected"),
        [
            ("2683.80000000", 2, 268_380),
            ("3.02920000", 5, 302_920),
            ("0.00000000", 5, 0),
            ("0", 2, 0),
            ("100", 2, 10_000),
            ("3422.50", 2, 342_250),
            ("0.00001", 5, 1),
            ("7.", 1, 70),
            ("92233720368.54775807", 8, 2**63 - 1),
        ],
    )
    def test_exact_value(self, text: str, decimals: int, expected: int) -> None:
        assert parse_fixed(text, decimals) == expected

    def test_digit_finer_than_the_scale_is_an_error_never_rounded(self) -> None:
        with pytest.raises(DataError) as info:
            parse_fixed("2683.805", 2, field="b[3].price", source="rec.gz")
        err = info.value
        assert (err.path, err.column, err.expected, err.found) == (
            "rec.gz",
            "b[3].price",
            "at most 2 decimals",
            "'2683.805'",
        )
        assert err.reason == "value has digits finer than the instrument scale"

    @pytest.mark.parametrize(
        "text", ["-1.0", "+1", "1e5", " 1", "1_0", "", ".", "1.2.3", "²", "0x10", "nan", "1,5"]
    )
    def test_malformed_text(self, text: str) -> None:
        with pytest.raises(DataError) as info:
            parse_fixed(text, 2, field="p")
        assert info.value.reason == "not an unsigned decimal"
        assert info.value.column == "p"

    def test_non_string_and_int64_overflow(self) -> None:
        with pytest.raises(DataError) as info:
            parse_fixed(2683.8, 2)  # type: ignore[arg-type]
        assert (info.value.reason, info.value.found) == ("not a decimal string", "2683.8")
        with pytest.raises(DataError) as info:
            parse_fixed("92233720368.54775808", 8)
        assert info.value.reason == "value exceeds int64 at this scale"

    @given(
        value=st.integers(min_value=0, max_value=2**63 - 1),
        decimals=st.integers(min_value=0, max_value=8),
        pad=st.integers(min_value=0, max_value=6),
    )
    def test_round_trip_with_any_trailing_zero_padding(
        self, value: int, decimals: int, pad: int
    ) -> None:
        text = format_fixed(value, decimals)
        padded = text + "0" * pad if "." in text else text + ("." + "0" * pad if pad else "")
        assert parse_fixed(padded, decimals) == value

    def test_format_fixed(self) -> None:
        assert format_fixed(268_380, 2) == "2683.80"
        assert format_fixed(1, 5) == "0.00001"
        assert format_fixed(42, 0) == "42"
        with pytest.raises(ConfigError):
            format_fixed(-1, 2)


class TestScale:
    def test_from_exchange_info_steps(self) -> None:
        assert Scale.from_steps("0.01000000", "0.00001000") == Scale(2, 5)
        assert Scale.from_steps("1.00000000", "1.00000000") == Scale(0, 0)
        assert Scale.from_steps("0.05", "0.001") == Scale(2, 3)

    def test_out_of_range(self) -> None:
        with pytest.raises(ConfigError):
            Scale(19, 2)
        with pytest.raises(ConfigError):
            Scale(2, -1)


class TestEnvelope:
    def test_combined_stream_frame(self) -> None:
        env = parse_envelope(SPOT_DEPTH_FRAME.encode())
        assert env.stream == "ethusdt@depth@100ms"
        assert env.data["u"] == 35346513512

    def test_not_json(self) -> None:
        with pytest.raises(DataError) as info:
            parse_envelope(b'{"stream":', source="x.gz")
        assert info.value.path == "x.gz"
        assert info.value.expected == "JSON"

    def test_missing_stream(self) -> None:
        with pytest.raises(DataError) as info:
            parse_envelope('{"data":{}}')
        assert (info.value.column, info.value.reason) == ("stream", "field missing")

    def test_data_must_be_an_object(self) -> None:
        with pytest.raises(DataError) as info:
            parse_envelope('{"stream":"a@trade","data":[1]}')
        assert (info.value.column, info.value.reason) == ("data", "field has the wrong type")


class TestDepthUpdate:
    def test_spot_real_message(self) -> None:
        event = parse_depth_update(parse_envelope(SPOT_DEPTH_FRAME).data, SPOT)
        assert event == DepthUpdate(
            symbol="ETHUSDT",
            first_update_id=35346513506,
            final_update_id=35346513512,
            prev_final_update_id=None,
            event_time_ns=1723161255408_000_000,
            transaction_time_ns=None,
            bids=((268_380, 302_920), (268_348, 0), (268_344, 0), (268_342, 0)),
            asks=((268_731, 8_135_720),),
        )
        assert event.level_count == 5

    def test_usdm_real_message(self) -> None:
        event = parse_depth_update(parse_envelope(USDM_DEPTH_FRAME).data, USDM)
        assert event.prev_final_update_id == 4984033953043
        assert event.transaction_time_ns == 1721347201863_000_000
        assert event.event_time_ns == 1721347201915_000_000
        assert event.bids == ((342_255, 1_428), (342_319, 19_276))
        assert event.asks == ((342_738, 39_651), (342_802, 1_421))

    def test_real_5_decimal_size_needs_qty_scale_5(self) -> None:
        # 2024-08 ETHUSDT books hold a few 5-decimal sizes although the lot step is 0.0001.
        data = parse_envelope(SPOT_DEPTH_FRAME).data | {"a": [["2687.31000000", "0.00015000"]]}
        assert parse_depth_update(data, SPOT).asks == ((268_731, 15),)
        with pytest.raises(DataError) as info:
            parse_depth_update(data, Scale(2, 4), source="ethusdt_20240808.gz")
        assert (info.value.path, info.value.column, info.value.found) == (
            "ethusdt_20240808.gz",
            "a[0].qty",
            "'0.00015000'",
        )

    @pytest.mark.parametrize("key", ["e", "E", "s", "U", "u"])
    def test_missing_field_is_named(self, key: str) -> None:
        data = dict(parse_envelope(SPOT_DEPTH_FRAME).data)
        del data[key]
        with pytest.raises(DataError) as info:
            parse_depth_update(data, SPOT)
        assert (info.value.column, info.value.reason) == (key, "field missing")

    def test_bool_is_not_an_id(self) -> None:
        data = parse_envelope(SPOT_DEPTH_FRAME).data | {"U": True}
        with pytest.raises(DataError) as info:
            parse_depth_update(data, SPOT)
        assert (info.value.column, info.value.found) == ("U", "True")

    @pytest.mark.parametrize(
        ("ids", "found"),
        [
            ({"U": 10, "u": 9}, "pu=None U=10 u=9"),
            ({"U": 10, "u": 12, "pu": 10}, "pu=10 U=10 u=12"),
        ],
    )
    def test_update_ids_out_of_order(self, ids: dict[str, int], found: str) -> None:
        data = parse_envelope(SPOT_DEPTH_FRAME).data | ids
        with pytest.raises(DataError) as info:
            parse_depth_update(data, SPOT)
        assert (info.value.column, info.value.found) == ("U/u/pu", found)

    def test_bad_level_is_named_by_index(self) -> None:
        data = parse_envelope(SPOT_DEPTH_FRAME).data | {"b": [["1.00", "2"], ["1.00"]]}
        with pytest.raises(DataError) as info:
            parse_depth_update(data, SPOT)
        assert (info.value.column, info.value.found) == ("b[1]", "['1.00']")
        data = parse_envelope(SPOT_DEPTH_FRAME).data | {"a": [["1.00", "2"], ["1.00", "x"]]}
        with pytest.raises(DataError) as info:
            parse_depth_update(data, SPOT)
        assert info.value.column == "a[1].qty"

    def test_not_a_depth_update(self) -> None:
        with pytest.raises(DataError) as info:
            parse_depth_update(parse_envelope(SPOT_TRADE_FRAME).data, SPOT)
        assert (info.value.expected, info.value.found) == ("depthUpdate", "trade")


class TestDepthSnapshot:
    def test_spot_snapshot(self) -> None:
        body = {
            "lastUpdateId": 35346513512,
            "bids": [["2683.80000000", "3.02920000"], ["2683.78000000", "0.00200000"]],
            "asks": [["2683.81000000", "31.43950000"]],
        }
        assert parse_depth_snapshot(body, "ETHUSDT", SPOT) == DepthSnapshot(
            symbol="ETHUSDT",
            last_update_id=35346513512,
            bids=((268_380, 302_920), (268_378, 200)),
            asks=((268_381, 3_143_950),),
        )

    def test_usdm_snapshot_carries_times(self) -> None:
        body = {"lastUpdateId": 7, "E": 1721347023000, "T": 1721347022999, "bids": [], "asks": []}
        snap = parse_depth_snapshot(body, "ETHUSDT", USDM)
        assert (snap.event_time_ns, snap.transaction_time_ns) == (
            1721347023000_000_000,
            1721347022999_000_000,
        )

    def test_binance_error_body_is_a_venue_error(self) -> None:
        with pytest.raises(VenueError) as info:
            parse_depth_snapshot({"code": -1121, "msg": "Invalid symbol."}, "ETHUSDX", SPOT)
        assert (info.value.code, info.value.reason, info.value.what) == (
            -1121,
            "Invalid symbol.",
            "depth snapshot ETHUSDX",
        )

    def test_missing_last_update_id(self) -> None:
        with pytest.raises(DataError) as info:
            parse_depth_snapshot({"bids": [], "asks": []}, "ETHUSDT", SPOT)
        assert info.value.column == "lastUpdateId"


class TestTradeAndShutdown:
    def test_spot_trade(self) -> None:
        assert parse_trade(parse_envelope(SPOT_TRADE_FRAME).data, SPOT) == Trade(
            symbol="ETHUSDT",
            trade_id=1520538925,
            price_ticks=268_380,
            qty_lots=200,
            trade_time_ns=1723161255611_000_000,
            event_time_ns=1723161255612_000_000,
            buyer_is_maker=True,
        )

    def test_usdm_trade(self) -> None:
        trade = parse_trade(parse_envelope(USDM_TRADE_FRAME).data, USDM)
        assert (trade.trade_id, trade.price_ticks, trade.qty_lots, trade.buyer_is_maker) == (
            4217898224,
            342_499,
            22,
            False,
        )

    def test_trade_price_off_scale(self) -> None:
        data = parse_envelope(SPOT_TRADE_FRAME).data | {"p": "2683.805"}
        with pytest.raises(DataError) as info:
            parse_trade(data, SPOT)
        assert info.value.column == "p"

    def test_server_shutdown(self) -> None:
        data = {"e": "serverShutdown", "E": 1746606000000}
        assert parse_server_shutdown(data) == ServerShutdown(event_time_ns=1746606000000_000_000)
        with pytest.raises(DataError):
            parse_server_shutdown({"e": "trade", "E": 1})


class TestParseMessage:
    SCALES = {"ETHUSDT": SPOT}

    def test_dispatch_on_stream_name(self) -> None:
        depth = parse_message(parse_envelope(SPOT_DEPTH_FRAME), self.SCALES)
        trade = parse_message(parse_envelope(SPOT_TRADE_FRAME), self.SCALES)
        shutdown = parse_message(
            Envelope("!serverShutdown", {"e": "serverShutdown", "E": 5}), self.SCALES
        )
        snapshot = parse_message(
            Envelope("ethusdt@depthSnapshot", {"lastUpdateId": 3, "bids": [], "asks": []}),
            self.SCALES,
        )
        assert isinstance(depth, DepthUpdate) and depth.final_update_id == 35346513512
        assert isinstance(trade, Trade) and trade.trade_id == 1520538925
        assert shutdown == ServerShutdown(5_000_000)
        assert snapshot == DepthSnapshot("ETHUSDT", 3, (), ())

    def test_unmodelled_stream_is_none(self) -> None:
        assert parse_message(parse_envelope(BOOK_TICKER_FRAME), self.SCALES) is None

    def test_symbol_without_scale(self) -> None:
        with pytest.raises(ConfigError):
            parse_message(parse_envelope(SPOT_DEPTH_FRAME), {"BTCUSDT": SPOT})

    def test_payload_symbol_must_match_stream(self) -> None:
        env = parse_envelope(SPOT_DEPTH_FRAME.replace("ethusdt@", "btcusdt@"))
        with pytest.raises(DataError) as info:
            parse_message(env, {"BTCUSDT": SPOT}, source="f.gz")
        assert (info.value.path, info.value.expected, info.value.found) == (
            "f.gz",
            "BTCUSDT",
            "ETHUSDT",
        )
