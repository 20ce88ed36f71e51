"""Live control messages of a simulated Binance stream connection (pure: text in, reply out).

`{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}` → `{"result":null,"id":1}`;
UNSUBSCRIBE likewise; LIST_SUBSCRIPTIONS → `{"result":["btcusdt@trade"],"id":3}`. Errors use
Binance's shape `{"error":{"code":2,"msg":"Invalid request: …"},"id":…}` (code 3: invalid JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

ERR_INVALID_REQUEST = 2
ERR_INVALID_JSON = 3
METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS")
#: A request id is an int64, a string of up to 36 alphanumerics (and - _), or null.
_STRING_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")


class _Named(Protocol):
    @property
    def name(self) -> str: ...


K = TypeVar("K", bound=_Named)


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _error(code: int, msg: str, req_id: Any) -> str:
    return _dumps({"error": {"code": code, "msg": msg}, "id": req_id})


def _valid_id(req_id: Any) -> bool:
    if req_id is None:
        return True
    if isinstance(req_id, bool):
        return False
    if isinstance(req_id, int):
        return -(2**63) <= req_id < 2**63
    return isinstance(req_id, str) and _STRING_ID.match(req_id) is not None


def answer(
    text: str,
    streams: Mapping[str, K],
    parse_stream: Callable[[str], K | None],
    max_streams: int,
) -> tuple[str, dict[str, K]]:
    """The reply to one inbound text frame and the connection's subscriptions after it.

    Args:
        text: the frame as received.
        streams: current subscriptions by stream name (not modified).
        parse_stream: stream name → key, None for an unknown stream.
        max_streams: subscriptions allowed per connection (Binance: 1024).
    Returns:
        `(reply JSON, new subscriptions)`; on any error the subscriptions are unchanged.
    """
    try:
        req = json.loads(text)
    except ValueError as exc:
        return _error(ERR_INVALID_JSON, f"Invalid JSON: {exc}", None), dict(streams)
    if not isinstance(req, dict):
        return _error(ERR_INVALID_REQUEST, "Invalid request: expected an object", None), dict(
            streams
        )
    req_id = req.get("id")
    if not _valid_id(req_id):
        return _error(ERR_INVALID_REQUEST, "Invalid request: bad request id", None), dict(streams)
    method = req.get("method")
    if method not in METHODS:
        msg = f"Invalid request: unknown variant {method!r}, expected one of {', '.join(METHODS)}"
        return _error(ERR_INVALID_REQUEST, msg, req_id), dict(streams)
    if method == "LIST_SUBSCRIPTIONS":
        return _dumps({"result": list(streams), "id": req_id}), dict(streams)
    params = req.get("params")
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        return _error(
            ERR_INVALID_REQUEST, "Invalid request: params must be a list of stream names", req_id
        ), dict(streams)
    new = dict(streams)
    for name in params:
        key = parse_stream(name)
        if key is None:
            return _error(
                ERR_INVALID_REQUEST, f"Invalid request: invalid stream name {name!r}", req_id
            ), dict(streams)
        if method == "SUBSCRIBE":
            new[name] = key
        else:
            new.pop(name, None)
    if len(new) > max_streams:
        return _error(
            ERR_INVALID_REQUEST, f"Invalid request: more than {max_streams} streams", req_id
        ), dict(streams)
    return _dumps({"result": None, "id": req_id}), new
