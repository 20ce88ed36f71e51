"""The capture's hot path without I/O: route a frame by stream, parse depth, feed the symbol's sync.

`Ingest` is what the socket reader calls for every frame it recorded (and what the benchmark
drives with recorded frames). It never awaits and never reads a clock: it returns what the caller
must do (fetch a snapshot for a symbol, reconnect after `serverShutdown`) and keeps counters.
Trades are counted, not parsed (the recording keeps them; replay parses them).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from feedcheck.binance.capture_rest import Instrument
from feedcheck.binance.recording import ENVELOPE_PREFIX
from feedcheck.binance.sync import BookSync, SyncOutcome, SyncState, Variant
from feedcheck.binance.venue import SERVER_SHUTDOWN_STREAM, StreamKind, classify_stream
from feedcheck.binance.wire import parse_depth_snapshot, parse_envelope
from feedcheck.binance.wire_fast import DepthFrameParser
from feedcheck.errors import DataError

#: `Ingest.on_frame` result for a `serverShutdown` notice (never a symbol: starts with `!`).
SHUTDOWN = SERVER_SHUTDOWN_STREAM
_NAME_START = len(ENVELOPE_PREFIX)
_SOURCE = "binance capture"


@dataclass(slots=True)
class IngestCounters:
    """Totals over the whole capture (never reset by a disconnect)."""

    frames: int = 0  #: frames handed to `on_frame`
    depth_events: int = 0
    trades: int = 0
    levels: int = 0  #: bid + ask levels of every depth event parsed
    snapshots: int = 0
    other: int = 0  #: frames of streams not modelled (bookTicker, ...) and control replies


class Ingest:
    """Parse + book sync for a set of symbols, one `BookSync` each.

    Args:
        instruments: per upper-case symbol, its Scale (`Instrument.scale`).
        variant: the sync rules.
    """

    def __init__(self, instruments: dict[str, Instrument], variant: Variant = Variant.SPOT) -> None:
        self.instruments = instruments
        self.syncs = {symbol: BookSync(symbol, variant) for symbol in instruments}
        self.counters = IngestCounters()
        # Stream name bytes → (symbol, kind), filled on first sight of each stream.
        self._routes: dict[bytes, tuple[str | None, StreamKind]] = {}
        self._parser = DepthFrameParser()

    def on_frame(self, frame: bytes, recv_ns: int) -> str | None:
        """Take one combined-stream frame received at `recv_ns` (epoch ns).

        Returns:
            The symbol whose sync now wants a REST snapshot (`SyncOutcome.needs_snapshot`),
            `SHUTDOWN` for a `serverShutdown` notice, else None.

        Raises:
            DataError: a frame that is not a combined-stream envelope, or a depth payload the
                parser rejects (a wire change or a bug: never retried).
            SyncError: a depth event for a symbol of another stream (a routing bug).
        """
        counters = self.counters
        counters.frames += 1
        route = None
        if frame.startswith(ENVELOPE_PREFIX):
            end = frame.find(b'"', _NAME_START)
            name = frame[_NAME_START:end]
            route = self._routes.get(name)
            if route is None:
                route = self._routes[name] = classify_stream(name.decode())
        if route is None:
            envelope = parse_envelope(frame, source=_SOURCE)  # raises DataError when not one
            route = classify_stream(envelope.stream)
        symbol, kind = route
        if kind is StreamKind.DEPTH:
            sync = self.syncs.get(symbol) if symbol is not None else None
            if sync is None:
                raise DataError(_SOURCE, "depth frame for a symbol not captured", "stream",
                                ", ".join(self.syncs), symbol)  # fmt: skip
            _, event = self._parser.parse(
                frame, self.instruments[sync.symbol].scale, source=_SOURCE
            )
            counters.depth_events += 1
            counters.levels += len(event.bids) + len(event.asks)
            if sync.on_depth(event, recv_ns).needs_snapshot:
                return sync.symbol
            return None
        if kind is StreamKind.TRADE:
            counters.trades += 1
        elif kind is StreamKind.SERVER_SHUTDOWN:
            return SHUTDOWN
        else:
            counters.other += 1
        return None

    def on_snapshot(self, symbol: str, body: bytes, recv_ns: int) -> SyncOutcome:
        """Feed a REST depth body (bytes as received at `recv_ns`) to `symbol`'s sync.

        Returns:
            SYNCED, SNAPSHOT_TOO_OLD or GAP (`BookSync.on_snapshot`): fetch again unless SYNCED.

        Raises:
            DataError / VenueError: the body is not a depth snapshot.
            SyncError: the sync is not BUFFERING (the caller must cancel a fetch on reset).
        """
        self.counters.snapshots += 1
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise DataError(_SOURCE, f"snapshot is not JSON: {exc}", symbol, "JSON",
                            repr(body[:80])) from None  # fmt: skip
        snapshot = parse_depth_snapshot(
            data, symbol, self.instruments[symbol].scale, source=_SOURCE
        )
        return self.syncs[symbol].on_snapshot(snapshot, recv_ns)

    def reset(self) -> None:
        """Every symbol's book and buffer are dropped (a socket opened or broke, or frames were
        lost): book state is never carried across."""
        for sync in self.syncs.values():
            if sync.state is not SyncState.IDLE:
                sync.on_disconnect()

    def live_update_ids(self) -> dict[str, int]:
        """`last_update_id` of every symbol whose book is live."""
        return {
            s: sync.last_update_id
            for s, sync in self.syncs.items()
            if sync.state is SyncState.LIVE and sync.last_update_id is not None
        }
