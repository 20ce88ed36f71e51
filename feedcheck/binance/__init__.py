"""Binance: venue facts, wire messages, the pure book-sync machine, capture, recordings, simulator.

The loopback exchange lives in `feedcheck.binance.simulator` (imported on its own: it pulls in the
websockets and aiohttp servers).
"""

from feedcheck.binance.book import Book, BookSide
from feedcheck.binance.formats import (
    detect_format,
    read_cryptofeed,
    read_hftbacktest,
    read_recording,
)
from feedcheck.binance.rawrecord import BOOK_BREAK_KINDS, RawRecord, ReadIssue
from feedcheck.binance.recording import read_feedcheck, recording_files
from feedcheck.binance.recording_writer import RecordingOptions, RecordingStats, RecordingWriter
from feedcheck.binance.sync import (
    BookSync,
    SyncCounters,
    SyncOptions,
    SyncOutcome,
    SyncState,
    Variant,
)
from feedcheck.binance.venue import SPOT, USDM, Market, StreamKind, VenueSpec
from feedcheck.binance.wire import (
    DepthSnapshot,
    DepthUpdate,
    Envelope,
    Level,
    Scale,
    ServerShutdown,
    Trade,
    WireMessage,
    parse_depth_snapshot,
    parse_depth_update,
    parse_envelope,
    parse_fixed,
    parse_message,
    parse_server_shutdown,
    parse_trade,
)
from feedcheck.binance.wire_fast import DepthFrameParser, parse_depth_frame

__all__ = [
    "BOOK_BREAK_KINDS",
    "RawRecord",
    "ReadIssue",
    "RecordingOptions",
    "RecordingStats",
    "RecordingWriter",
    "detect_format",
    "read_cryptofeed",
    "read_feedcheck",
    "read_hftbacktest",
    "read_recording",
    "recording_files",
    "SPOT",
    "USDM",
    "Book",
    "BookSide",
    "BookSync",
    "DepthFrameParser",
    "DepthSnapshot",
    "DepthUpdate",
    "Envelope",
    "Level",
    "Market",
    "Scale",
    "ServerShutdown",
    "StreamKind",
    "SyncCounters",
    "SyncOptions",
    "SyncOutcome",
    "SyncState",
    "Trade",
    "Variant",
    "VenueSpec",
    "WireMessage",
    "parse_depth_frame",
    "parse_depth_snapshot",
    "parse_depth_update",
    "parse_envelope",
    "parse_fixed",
    "parse_message",
    "parse_server_shutdown",
    "parse_trade",
]
