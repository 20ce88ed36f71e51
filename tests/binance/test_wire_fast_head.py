"""The whole-frame kernel (`depth_frame_nb`) reads the head exactly as JSON does, or declines."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedcheck.binance.formats import read_hftbacktest
from feedcheck.binance.venue import StreamKind, classify_stream
from feedcheck.binance.wire import Scale
from feedcheck.binance.wire_fast import NOT_HANDLED, depth_frame_nb, parse_depth_frame
from tests.binance.test_wire_fast import REAL, SPOT, USDM, general, outcome


def status(frame: bytes, scale: Scale) -> int:
    size = len(frame) // 10 + 1
    prices, qtys = np.empty(size, np.int64), np.empty(size, np.int64)
    buf = np.frombuffer(frame, np.uint8)
    return depth_frame_nb(buf, scale.price_decimals, scale.qty_decimals, prices, qtys)[0]


@pytest.mark.parametrize(
    ("folder", "scale"), [("binance-spot", SPOT), ("binance-usdm", USDM)], ids=["spot", "usdm"]
)
def test_every_real_depth_frame_is_read_whole_and_matches(folder: str, scale: Scale) -> None:
    frames = [
        r.payload
        for r in read_hftbacktest(sorted((REAL / folder).glob("*.gz")))
        if classify_stream(r.stream or "")[1] is StreamKind.DEPTH
    ][:1500]
    assert len(frames) == 1500
    assert sum(status(f, scale) == 0 for f in frames) == 1500
    for frame in frames:
        assert parse_depth_frame(frame, scale) == general(frame, scale)


integer_text = st.one_of(
    st.integers(0, 10**13).map(str),
    st.sampled_from(["0", "00", "01", "-1", "1.0", "1e3", "99999999999999999999", "", "true"]),
)
name_text = st.one_of(
    st.sampled_from(["ETHUSDT", "BTCUSDT"]),
    st.sampled_from(['ETH\\"USDT', "ETH\\u0055SDT", "ETHUSDT\\n", "ÉTH", "", "a b"]),
)


@settings(max_examples=400, deadline=None)
@given(
    event=st.sampled_from(["depthUpdate", "trade", "depthUpdat"]),
    e_ms=integer_text,
    t_ms=st.none() | integer_text,
    symbol=name_text,
    first=integer_text,
    final=integer_text,
    prev=st.none() | integer_text,
    stream=name_text.map(lambda s: s.lower() + "@depth@100ms"),
)
def test_kernel_head_equals_the_general_parser(
    event: str,
    e_ms: str,
    t_ms: str | None,
    symbol: str,
    first: str,
    final: str,
    prev: str | None,
    stream: str,
) -> None:
    t_part = "" if t_ms is None else f',"T":{t_ms}'
    pu_part = "" if prev is None else f',"pu":{prev}'
    frame = (
        f'{{"stream":"{stream}","data":{{"e":"{event}","E":{e_ms}{t_part},"s":"{symbol}",'
        f'"U":{first},"u":{final}{pu_part},"b":[["1.00","2"]],"a":[["3.5","0"]]}}}}'
    ).encode()
    assert outcome(parse_depth_frame, frame, SPOT) == outcome(general, frame, SPOT)


@pytest.mark.parametrize(
    "frame",
    [
        b'{"stream":"x@depth","data":{"e":"depthUpdate","E":01,"s":"X","U":5,"u":9,"b":[],"a":[]}}',
        b'{"stream":"x@depth","data":{"e":"depthUpdate","E":1,"s":"X","U":5,"u":9,"b":[],"a":[]}} ',
        b'{"stream":"x@depth","data":{"e":"depthUpdate","E":1,"s":"X","U":5,"u":9,"b":[],"a":[]},}',
        b'{"stream":"x@depth","data":{"e":"depthUpdate","E":1,"s":"X","U":5,"u":9,"pu":5,"b":[],"a":[]}}',
    ],
    ids=["leading-zero", "trailing-space", "trailing-comma", "pu-not-below-U"],
)
def test_kernel_declines_what_json_would_not_give_the_same(frame: bytes) -> None:
    assert status(frame, SPOT) == NOT_HANDLED or frame.endswith(b'"pu":5,"b":[],"a":[]}}')
    assert outcome(parse_depth_frame, frame, SPOT) == outcome(general, frame, SPOT)
