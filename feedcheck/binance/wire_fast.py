"""Fast path for depth frames: the level lists go from frame bytes to int64 in a numba kernel.

Decoding `[["2683.80000000","3.02920000"],...]` through JSON makes three Python objects per level
and then parses two strings; this kernel reads the digits in place. It is deliberately strict: it
accepts only the exact shape Binance sends (no whitespace, no escapes, `digits[.digits]` numbers
with at most `MAX_DIGITS` digits at the instrument scale) and reports anything else as "not handled", so the
caller falls back to the general parser (`wire`), which gives the same values or a precise
error. `parse_depth_frame` is the wrapper the capture loop calls.

The two entry kernels (`depth_levels_nb`, `depth_frame_nb`) keep the GIL (`nogil=False`): one
call lasts about 2 µs, far too short for another thread to use the GIL meanwhile, while the
capture's disk thread is always waiting for it. Releasing it on every frame handed the GIL to
that thread and made the reader wait for it back (up to the 5 ms switch interval): measured in
`python -m bench capture`, this convoy cost a third of the ingest time.
"""

from __future__ import annotations

from itertools import islice

import numba
import numpy as np
import orjson

from feedcheck.binance.venue import NS_PER_MS
from feedcheck.binance.wire import (
    WIRE_SOURCE,
    DepthUpdate,
    Level,
    Scale,
    depth_update_from,
    parse_depth_update,
    parse_envelope,
)

#: Integer digits + scale decimals allowed per number, so the value stays below 10**18 < 2**63.
MAX_DIGITS = 18
#: Returned as the bid count when the bytes are not in the exact expected shape.
NOT_HANDLED = -1

_QUOTE, _COMMA, _DOT, _OPEN, _CLOSE = 34, 44, 46, 91, 93
_ZERO, _NINE = 48, 57
# `,"a":[` between the bid and the ask lists.
_ASKS_KEY = np.frombuffer(b',"a":[', np.uint8)


@numba.njit(cache=True, nogil=True)
def _number_nb(buf: np.ndarray, pos: int, decimals: int) -> tuple[int, int]:
    """`"digits[.digits]"` at `pos` → (value × 10**decimals, position after the closing quote).

    (-1, pos) when not a plain quoted decimal, when a non-zero digit lies beyond `decimals`
    (off-scale: the general parser names it), or when integer digits plus `decimals` exceed
    MAX_DIGITS (the general parser handles those up to 2**63).
    """
    n = buf.shape[0]
    if pos >= n or buf[pos] != _QUOTE:
        return -1, pos
    pos += 1
    value = 0
    int_digits = 0
    frac = -1  # fraction digits kept so far; -1 before the dot
    seen_digit = False
    while pos < n:
        c = buf[pos]
        if _ZERO <= c <= _NINE:
            seen_digit = True
            if frac < 0:
                int_digits += 1
                if int_digits + decimals > MAX_DIGITS:
                    return -1, pos
                value = value * 10 + (c - _ZERO)
            elif frac < decimals:
                value = value * 10 + (c - _ZERO)
                frac += 1
            elif c != _ZERO:
                return -1, pos
        elif c == _DOT and frac < 0:
            frac = 0
        elif c == _QUOTE:
            break
        else:
            return -1, pos
        pos += 1
    if pos >= n or not seen_digit:
        return -1, pos
    # int_digits + decimals <= MAX_DIGITS, so the scaled value is below 10**18 < 2**63.
    for _ in range(decimals - max(frac, 0)):
        value *= 10
    return value, pos + 1


@numba.njit(cache=True, nogil=True)
def _levels_nb(
    buf: np.ndarray,
    pos: int,
    price_decimals: int,
    qty_decimals: int,
    prices: np.ndarray,
    qtys: np.ndarray,
    count: int,
) -> tuple[int, int]:
    """One `[[p,q],...]` list at `pos`, appended to prices/qtys from `count`.

    Returns (new count, position after the list's `]`), or (-1, pos) when not handled.
    """
    n = buf.shape[0]
    if pos >= n or buf[pos] != _OPEN:
        return -1, pos
    pos += 1
    if pos < n and buf[pos] == _CLOSE:
        return count, pos + 1
    while True:
        if pos >= n or buf[pos] != _OPEN or count >= prices.shape[0]:
            return -1, pos
        price, pos = _number_nb(buf, pos + 1, price_decimals)
        if price < 0 or pos >= n or buf[pos] != _COMMA:
            return -1, pos
        qty, pos = _number_nb(buf, pos + 1, qty_decimals)
        if qty < 0 or pos >= n or buf[pos] != _CLOSE:
            return -1, pos
        prices[count] = price
        qtys[count] = qty
        count += 1
        pos += 1
        if pos < n and buf[pos] == _COMMA:
            pos += 1
            continue
        if pos < n and buf[pos] == _CLOSE:
            return count, pos + 1
        return -1, pos


@numba.njit(cache=True, nogil=False)  # see the module docstring
def depth_levels_nb(
    buf: np.ndarray,
    bids_pos: int,
    price_decimals: int,
    qty_decimals: int,
    prices: np.ndarray,
    qtys: np.ndarray,
) -> tuple[int, int, int]:
    """Parse `[bids],"a":[asks]` starting at the `[` of the bid list (`bids_pos`).

    Args:
        buf: the frame's bytes as uint8.
        bids_pos: index of the `[` opening the bid list (just after `"b":`).
        price_decimals, qty_decimals: the instrument Scale.
        prices, qtys: preallocated int64 outputs; bids fill [0, n_bids), asks follow.

    Returns:
        (n_bids, n_asks, end) with `end` the index after the ask list's `]`; n_bids is
        NOT_HANDLED when the bytes are not exactly in Binance's shape (or the outputs are full).
    """
    n_bids, pos = _levels_nb(buf, bids_pos, price_decimals, qty_decimals, prices, qtys, 0)
    if n_bids < 0 or pos + _ASKS_KEY.shape[0] > buf.shape[0]:
        return NOT_HANDLED, 0, pos
    for i in range(_ASKS_KEY.shape[0] - 1):
        if buf[pos + i] != _ASKS_KEY[i]:
            return NOT_HANDLED, 0, pos
    total, pos = _levels_nb(
        buf, pos + _ASKS_KEY.shape[0] - 1, price_decimals, qty_decimals, prices, qtys, n_bids
    )
    if total < 0:
        return NOT_HANDLED, 0, pos
    return n_bids, total - n_bids, pos


# The level lists close every Binance depth frame: `...,"b":[[..]..],"a":[[..]..]}}`.
_BIDS_KEY = b',"b":['
_ENVELOPE_END = b"}}"
# A level needs at least 10 bytes (`["0","0"],`), which bounds the output arrays.
_MIN_LEVEL_BYTES = 10

# The exact head Binance sends, piece by piece (spot; USD-M adds `T` and `pu`):
# `{"stream":"<name>","data":{"e":"depthUpdate","E":<int>[,"T":<int>],"s":"<SYM>","U":<int>,
# "u":<int>[,"pu":<int>],"b":[`.
_H_STREAM = np.frombuffer(b'{"stream":"', np.uint8)
_H_DATA = np.frombuffer(b'","data":{"e":"depthUpdate","E":', np.uint8)
_H_T = np.frombuffer(b',"T":', np.uint8)
_H_S = np.frombuffer(b',"s":"', np.uint8)
_H_U = np.frombuffer(b'","U":', np.uint8)
_H_LOWER_U = np.frombuffer(b',"u":', np.uint8)
_H_PU = np.frombuffer(b',"pu":', np.uint8)
_H_B = np.frombuffer(b',"b":', np.uint8)
_H_END = np.frombuffer(b"}}", np.uint8)
#: Digits allowed in a head integer: below 10**18 < 2**63 (ids and ms times have 11 to 13).
_MAX_INT_DIGITS = 18
_BACKSLASH = 92
_SPACE = 32
_DEL = 127
# Result slots of `depth_frame_nb`.
_R_STATUS, _R_NAME_END, _R_E, _R_T, _R_SYM_START, _R_SYM_END = 0, 1, 2, 3, 4, 5
_R_U, _R_LOWER_U, _R_PU, _R_BIDS, _R_ASKS, _R_SIZE = 6, 7, 8, 9, 10, 11


@numba.njit(cache=True, nogil=True)
def _literal_nb(buf: np.ndarray, pos: int, literal: np.ndarray) -> int:
    """Position after `literal` when it sits at `pos`, else -1."""
    m = literal.shape[0]
    if pos + m > buf.shape[0]:
        return -1
    for i in range(m):
        if buf[pos + i] != literal[i]:
            return -1
    return pos + m


@numba.njit(cache=True, nogil=True)
def _plain_text_nb(buf: np.ndarray, pos: int) -> int:
    """Index of the `"` closing a JSON string body at `pos` made only of printable ASCII without
    escapes (so the bytes decode to exactly what a JSON parser gives), else -1."""
    n = buf.shape[0]
    while pos < n:
        c = buf[pos]
        if c == _QUOTE:
            return pos
        if c < _SPACE or c >= _DEL or c == _BACKSLASH:
            return -1
        pos += 1
    return -1


@numba.njit(cache=True, nogil=True)
def _int_nb(buf: np.ndarray, pos: int) -> tuple[int, int]:
    """A JSON non-negative integer at `pos` (no leading zero, at most _MAX_INT_DIGITS digits)
    → (value, position after it); (-1, pos) otherwise (a float, a sign, a long number)."""
    n = buf.shape[0]
    start = pos
    value = 0
    while pos < n and _ZERO <= buf[pos] <= _NINE:
        value = value * 10 + (buf[pos] - _ZERO)
        pos += 1
    digits = pos - start
    if digits == 0 or digits > _MAX_INT_DIGITS or (digits > 1 and buf[start] == _ZERO):
        return -1, start
    if pos < n and (buf[pos] == _DOT or buf[pos] == 101 or buf[pos] == 69):  # `.`, `e`, `E`
        return -1, start
    return value, pos


@numba.njit(cache=True, nogil=False)  # see the module docstring
def depth_frame_nb(
    buf: np.ndarray, price_decimals: int, qty_decimals: int, prices: np.ndarray, qtys: np.ndarray
) -> tuple[int, int, int, int, int, int, int, int, int, int, int]:
    """A whole depth frame in Binance's exact byte shape, head and levels, in one pass.

    Returns `(status, name_end, E_ms, T_ms, sym_start, sym_end, U, u, pu, n_bids, n_asks)`:
    status 0 when handled (the stream name is `buf[11:name_end]`, the symbol
    `buf[sym_start:sym_end]`, both printable ASCII without escapes; T_ms and pu are -1 when
    absent, as on spot; levels as `depth_levels_nb`), NOT_HANDLED otherwise (any other shape:
    the caller takes the general path, which decides).
    """
    no = (NOT_HANDLED, 0, 0, -1, 0, 0, 0, 0, -1, 0, 0)
    pos = _literal_nb(buf, 0, _H_STREAM)
    if pos < 0:
        return no
    name_end = _plain_text_nb(buf, pos)
    if name_end < 0:
        return no
    pos = _literal_nb(buf, name_end, _H_DATA)
    if pos < 0:
        return no
    event_ms, pos = _int_nb(buf, pos)
    if event_ms < 0:
        return no
    transaction_ms = -1
    after = _literal_nb(buf, pos, _H_T)
    if after >= 0:
        transaction_ms, pos = _int_nb(buf, after)
        if transaction_ms < 0:
            return no
    sym_start = _literal_nb(buf, pos, _H_S)
    if sym_start < 0:
        return no
    sym_end = _plain_text_nb(buf, sym_start)
    if sym_end < 0:
        return no
    pos = _literal_nb(buf, sym_end, _H_U)
    if pos < 0:
        return no
    first_id, pos = _int_nb(buf, pos)
    if first_id < 0:
        return no
    pos = _literal_nb(buf, pos, _H_LOWER_U)
    if pos < 0:
        return no
    final_id, pos = _int_nb(buf, pos)
    if final_id < 0:
        return no
    prev_id = -1
    after = _literal_nb(buf, pos, _H_PU)
    if after >= 0:
        prev_id, pos = _int_nb(buf, after)
        if prev_id < 0:
            return no
    pos = _literal_nb(buf, pos, _H_B)
    if pos < 0:
        return no
    n_bids, n_asks, end = depth_levels_nb(buf, pos, price_decimals, qty_decimals, prices, qtys)
    if n_bids == NOT_HANDLED or _literal_nb(buf, end, _H_END) != buf.shape[0]:
        return no
    return (0, name_end, event_ms, transaction_ms, sym_start, sym_end, first_id, final_id,
            prev_id, n_bids, n_asks)  # fmt: skip


def parse_depth_frame(
    frame: bytes, scale: Scale, *, source: str = WIRE_SOURCE
) -> tuple[str, DepthUpdate]:
    """A whole combined-stream depth frame → (stream, DepthUpdate).

    Same result and same errors as `parse_message(parse_envelope(frame), ...)` for a depth
    stream, about 8× faster on real frames: a frame in Binance's exact byte shape is read whole
    (head and level lists) by one numba kernel (`depth_frame_nb`); one whose head differs (other
    key order, extra keys) has its level lists read by `depth_levels_nb` and its short head by
    JSON. Any frame not in Binance's exact level shape (whitespace, escapes, very long numbers,
    an off-scale digit) or with inconsistent ids takes the general path, which decides.
    `DepthFrameParser` does the same with its output buffer kept between frames (the capture's
    hot path).

    Raises:
        DataError: as `parse_envelope` / `parse_depth_update`.
    """
    out = np.empty((2, _capacity(frame)), np.int64)
    return _parse(frame, scale, source, out, out[0], out[1])


class DepthFrameParser:
    """`parse_depth_frame` for one thread's stream of frames: the int64 output buffer is kept
    (grown when a frame could hold more levels) instead of allocated per frame. Not thread-safe:
    one parser per thread (the capture's `Ingest` owns one)."""

    __slots__ = ("_out", "_prices", "_qtys")

    def __init__(self) -> None:
        self._set_buffer(_INITIAL_CAPACITY)

    def _set_buffer(self, capacity: int) -> None:
        self._out = np.empty((2, capacity), np.int64)
        self._prices, self._qtys = self._out[0], self._out[1]

    def parse(
        self, frame: bytes, scale: Scale, *, source: str = WIRE_SOURCE
    ) -> tuple[str, DepthUpdate]:
        """As `parse_depth_frame` (same result, same errors)."""
        needed = _capacity(frame)
        if self._out.shape[1] < needed:
            self._set_buffer(2 * needed)
        return _parse(frame, scale, source, self._out, self._prices, self._qtys)


def _capacity(frame: bytes) -> int:
    """Levels a frame of this length can hold at most: the output size that never overflows."""
    return len(frame) // _MIN_LEVEL_BYTES + 1


def _levels(
    out: np.ndarray, n_bids: int, n_asks: int
) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
    """(bids, asks) as tuples of (price, qty) ints from the kernel's output rows."""
    # One tolist() for both rows and one zip: the cheapest way found to the tuples (per frame
    # this is as costly as the kernel itself).
    pairs = zip(*out[:, : n_bids + n_asks].tolist())  # noqa: B905 - equal rows by construction
    return tuple(islice(pairs, n_bids)), tuple(pairs)


def _parse(
    frame: bytes,
    scale: Scale,
    source: str,
    out: np.ndarray,
    prices: np.ndarray,
    qtys: np.ndarray,
) -> tuple[str, DepthUpdate]:
    """`parse_depth_frame` into `out` (rows `prices`, `qtys`; capacity >= `_capacity(frame)`)."""
    buf = np.frombuffer(frame, np.uint8)
    (status, name_end, event_ms, transaction_ms, sym_start, sym_end, first_id, final_id,
     prev_id, n_bids, n_asks) = depth_frame_nb(
        buf, scale.price_decimals, scale.qty_decimals, prices, qtys
    )  # fmt: skip
    # Ids out of order: the general path raises the precise error.
    if status == 0 and first_id <= final_id and prev_id < first_id:
        bids, asks = _levels(out, n_bids, n_asks)
        event = DepthUpdate(
            frame[sym_start:sym_end].decode("ascii"),
            first_id,
            final_id,
            None if prev_id < 0 else prev_id,
            event_ms * NS_PER_MS,
            None if transaction_ms < 0 else transaction_ms * NS_PER_MS,
            bids,
            asks,
        )
        return frame[_NAME_START:name_end].decode("ascii"), event
    start = frame.find(_BIDS_KEY)
    if start > 0 and frame.endswith(_ENVELOPE_END):
        n_bids, n_asks, end = depth_levels_nb(
            buf,
            start + len(_BIDS_KEY) - 1,
            scale.price_decimals,
            scale.qty_decimals,
            prices,
            qtys,
        )
        if n_bids != NOT_HANDLED and end == len(frame) - len(_ENVELOPE_END):
            try:
                head = orjson.loads(frame[:start] + _ENVELOPE_END)
            except orjson.JSONDecodeError:
                head = None
            if (
                isinstance(head, dict)
                and isinstance(head.get("stream"), str)
                and isinstance(head.get("data"), dict)
            ):
                bids, asks = _levels(out, n_bids, n_asks)
                return head["stream"], depth_update_from(head["data"], bids, asks, source)
    envelope = parse_envelope(frame, source=source)
    return envelope.stream, parse_depth_update(envelope.data, scale, source=source)


#: Levels the capture's parser buffer holds at first (a 20,000-byte frame); it grows on demand.
_INITIAL_CAPACITY = 2048
_NAME_START = len(b'{"stream":"')
