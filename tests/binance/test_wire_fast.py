"""The depth-frame fast path gives exactly what the general parser gives, on real and odd frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedcheck.binance.formats import read_hftbacktest
from feedcheck.binance.venue import StreamKind, classify_stream
from feedcheck.binance.wire import DepthUpdate, Scale, parse_depth_update, parse_envelope
from feedcheck.binance.wire_fast import (
    NOT_HANDLED,
    DepthFrameParser,
    depth_levels_nb,
    parse_depth_frame,
)
from feedcheck.errors import DataError

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
SPOT = Scale(2, 5)
USDM = Scale(2, 3)


def general(frame: bytes, scale: Scale) -> tuple[str, DepthUpdate]:
    envelope = parse_envelope(frame)
    return envelope.stream, parse_depth_update(envelope.data, scale)


def outcome(parse, frame: bytes, scale: Scale) -> object:  # noqa: ANN001 - either parser
    try:
        return parse(frame, scale)
    except DataError as exc:
        return ("DataError", exc.path, exc.column, exc.reason, exc.expected, exc.found)


@pytest.mark.parametrize(
    ("folder", "scale"), [("binance-spot", SPOT), ("binance-usdm", USDM)], ids=["spot", "usdm"]
)
def test_every_real_depth_frame_takes_the_kernel_and_matches(folder: str, scale: Scale) -> None:
    frames = [
        r.payload
        for r in read_hftbacktest(sorted((REAL / folder).glob("*.gz")))
        if classify_stream(r.stream or "")[1] is StreamKind.DEPTH
    ]
    handled = 0
    for frame in frames:
        start = frame.find(b',"b":[')
        size = len(frame) // 10 + 1
        prices, qtys = np.empty(size, np.int64), np.empty(size, np.int64)
        n_bids, n_asks, _ = depth_levels_nb(
            np.frombuffer(frame, np.uint8), start + 5, 2, scale.qty_decimals, prices, qtys
        )
        handled += n_bids != NOT_HANDLED
        assert parse_depth_frame(frame, scale) == general(frame, scale)
    assert handled == len(frames) > 3000
    # One reused parser (the capture's) gives the same events, frame after frame.
    parser = DepthFrameParser()
    assert [parser.parse(f, scale) for f in frames] == [general(f, scale) for f in frames]


def test_reused_parser_takes_frames_beyond_its_first_buffer_and_never_leaks_one() -> None:
    def frame(n_bids: int, n_asks: int, first: int) -> bytes:
        bids = [[f"{1000 + i}.01", f"{i}.5"] for i in range(n_bids)]
        asks = [[f"{5000 + i}.02", f"{i + 1}"] for i in range(n_asks)]
        body = json.dumps({"b": bids, "a": asks}, separators=(",", ":"))[1:]
        return (HEAD.replace('"U":5,"u":9', f'"U":{first},"u":{first + 1}') + body + "}").encode()

    # 3,000 levels overflow the first buffer; the small ones after it reuse the grown one, and
    # the odd (spaced) frame takes the general path through the same parser.
    spaced = frame(2, 1, 40).replace(b'"b":[', b'"b": [')
    frames = [frame(3, 2, 10), frame(1_500, 1_500, 20), frame(2, 0, 30), spaced, frame(0, 1, 50)]
    parser = DepthFrameParser()
    got = [parser.parse(f, SPOT) for f in frames]
    assert got == [general(f, SPOT) for f in frames]
    assert [e.level_count for _, e in got] == [5, 3_000, 2, 3, 1]


HEAD = '{"stream":"ethusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":5,"u":9,'

number_text = st.one_of(
    # what Binance sends: digits, a dot, 8 decimals
    st.builds(
        lambda whole, frac: f"{whole}.{frac:08d}",
        st.integers(0, 10**12),
        st.integers(0, 10**8 - 1),
    ),
    st.from_regex(r"\A[0-9]{0,22}(\.[0-9]{0,22})?\Z"),
    st.text(alphabet='0123456789.-+e _\\"x', max_size=12),
)
levels = st.lists(st.tuples(number_text, number_text), max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    bids=levels,
    asks=levels,
    spaced=st.booleans(),
    decimals=st.tuples(st.integers(0, 8), st.integers(0, 8)),
)
def test_fast_path_equals_general_parser_on_odd_frames(
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    spaced: bool,
    decimals: tuple[int, int],
) -> None:
    separators = (", ", ": ") if spaced else (",", ":")
    body = json.dumps({"b": bids, "a": asks}, separators=separators)[1:]
    frame = (HEAD + body + "}").encode()
    scale = Scale(*decimals)
    assert outcome(parse_depth_frame, frame, scale) == outcome(general, frame, scale)


@pytest.mark.parametrize(
    "frame",
    [
        b'{"stream":"ethusdt@depth@100ms","data":{"e":"trade","E":1,"s":"ETHUSDT","U":5,"u":9,"b":[],"a":[]}}',
        b'{"stream":"ethusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":9,"u":5,"b":[],"a":[]}}',
        b'{"stream":"ethusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":5,"u":9,"b":[["1.005","1"]],"a":[]}}',
        b'{"stream":"ethusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":5,"u":9,"a":[],"b":[["1.00","1"]]}}',
        b'{"data":{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":5,"u":9,"b":[],"a":[]}}',
        b'{"stream":"ethusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":5,"u":9,"b":[],"a":[]}',
        b'not json at all,"b":[]}}',
    ],
    ids=["trade", "ids", "off-scale", "key-order", "no-stream", "cut", "garbage"],
)
def test_odd_frames_give_the_general_parsers_result_or_error(frame: bytes) -> None:
    assert outcome(parse_depth_frame, frame, SPOT) == outcome(general, frame, SPOT)


@pytest.mark.parametrize(
    "text",
    [
        "1.2.3",
        "1..",
        ".5",
        "5.",
        ".",
        "",
        "92233720368.54775807",
        "92233720368.54775808",
        "99999999999999999999",
        "999999999999.00000000",
        "0000000000000000000001",
        "1e5",
        "-1",
        "١",
        "2683.80000001",
    ],
)
@pytest.mark.parametrize("decimals", [0, 2, 8])
def test_edge_numbers_match_the_general_parser(text: str, decimals: int) -> None:
    for bids in ([[text, "1"]], [["1", text]]):
        frame = HEAD + json.dumps({"b": bids, "a": [["2", "3"]]}, separators=(",", ":"))[1:] + "}"
        scale = Scale(decimals, decimals)
        assert outcome(parse_depth_frame, frame.encode(), scale) == outcome(
            general, frame.encode(), scale
        )
