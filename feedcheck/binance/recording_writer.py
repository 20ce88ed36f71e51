"""Write raw capture recordings: the format of `recording.py`, compressed, rotated, flushed.

`RecordingWriter` is sync and single-threaded (plain file I/O): the capture calls it from one
dedicated thread, or between awaits. Time never comes from a clock read here: every call passes
ns stamps of the caller's clock (`recv_ns`, `now_ns`), which drive rotation and flushing, so both
are tested without sleeping.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feedcheck.binance.compressed import SUFFIXES, CompressedSink, Compression
from feedcheck.binance.recording import (
    ENVELOPE_PREFIX,
    FORMAT_NAME,
    FORMAT_VERSION,
    MARKER_KINDS,
    NS_PER_S,
    MarkerKind,
    encode_body,
    marker_body,
    recording_file_name,
)
from feedcheck.binance.venue import check_symbol, snapshot_stream
from feedcheck.errors import ConfigError, FeedcheckError

DEFAULT_ROTATE_INTERVAL_NS = 3600 * NS_PER_S
#: Half the 1 s loss budget: with `maybe_flush` called at least every 0.5 s, a crash loses at
#: most the last second.
DEFAULT_FLUSH_INTERVAL_NS = NS_PER_S // 2
#: Lines are compressed in batches of this many bytes (fewer codec calls); a flush drains them.
DEFAULT_BATCH_BYTES = 256 * 1024
#: Tries at a free file name (`.1`, `.2`, ...) when another writer took the same second.
_MAX_NAME_TRIES = 1000
_PREFIX_RE = re.compile(r"[A-Za-z0-9_.+-]+")


@dataclass(frozen=True, slots=True)
class RecordingOptions:
    """Where and how to record.

    Args:
        directory: existing directory for the files.
        prefix: first part of every file name (`binance-spot`).
        symbols: the symbol set, for names and headers.
        url: the connection URL, recorded in every header.
        compression: `zst` (default), `gz` or `none`.
        rotate_interval_ns: file length, ≥ 1 s; files start at its multiples since the epoch.
        flush_interval_ns: most time between flushes, in ns of the caller's clock (> 0).
        level: codec level (None: `DEFAULT_ZSTD_LEVEL` / `DEFAULT_GZIP_LEVEL`).
        batch_bytes: uncompressed bytes gathered before one codec call.
    """

    directory: Path
    prefix: str = "binance"
    symbols: tuple[str, ...] = ()
    url: str | None = None
    compression: Compression = "zst"
    rotate_interval_ns: int = DEFAULT_ROTATE_INTERVAL_NS
    flush_interval_ns: int = DEFAULT_FLUSH_INTERVAL_NS
    level: int | None = None
    batch_bytes: int = DEFAULT_BATCH_BYTES

    def __post_init__(self) -> None:
        if not Path(self.directory).is_dir():
            raise ConfigError(f"recording directory does not exist: {self.directory}")
        if not _PREFIX_RE.fullmatch(self.prefix):
            raise ConfigError(f"prefix must match {_PREFIX_RE.pattern}: {self.prefix!r}")
        if self.compression not in SUFFIXES:
            raise ConfigError(f"compression must be zst, gz or none: {self.compression!r}")
        if self.rotate_interval_ns < NS_PER_S:
            raise ConfigError(f"rotate_interval_ns must be >= 1 s: {self.rotate_interval_ns}")
        if self.flush_interval_ns <= 0:
            raise ConfigError(f"flush_interval_ns must be > 0: {self.flush_interval_ns}")
        for symbol in self.symbols:
            check_symbol(symbol.upper())


@dataclass(frozen=True, slots=True)
class RecordingStats:
    """Counters since the writer was created. Bytes: `bytes_in` uncompressed, `bytes_out` on
    disk (both including headers); `files`: closed (renamed) files, in order."""

    frames: int
    snapshots: int
    markers: int
    flushes: int
    bytes_in: int
    bytes_out: int
    files: tuple[Path, ...]
    current: Path | None


class RecordingWriter:
    """Sync recorder, not thread-safe: every call (`maybe_flush` too) from one thread, e.g. a
    writer thread that calls `maybe_flush` whenever its queue `get` times out, or between awaits.

    Flush contract: each `write_*` and `maybe_flush(now_ns)` flushes (ends the zstd frame / gzip
    member, then one OS write) when `now_ns` − last flush ≥ `flush_interval_ns`, stamps of the
    caller's clock. A process crash loses only the records written since the last flush: with
    `maybe_flush` called at least every `DEFAULT_FLUSH_INTERVAL_NS`, under one second. The file
    is then a `.part` that `read_feedcheck` reads up to its last flush. Data reach the OS, not
    the disk (a power loss can lose more; closed files are fsynced before the rename). A recv_ns
    that goes back (clock step) is written as it is and never rotates.

    Raises (any method): OSError from the file system; `FeedcheckError` once closed.
    """

    def __init__(self, options: RecordingOptions, session: str | None = None) -> None:
        self.options = options
        self.session = session or uuid.uuid4().hex[:16]
        self._sink: CompressedSink | None = None
        self._part: Path | None = None
        self._final: Path | None = None
        self._rotate_at_ns = 0
        self._last_flush_ns = 0
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._dirty = False
        self._closed = False
        self._file_index = 0
        self._files: list[Path] = []
        self._frames = self._snapshots = self._markers = self._flushes = 0
        self._bytes_in_closed = self._bytes_out_closed = 0

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_frame(self, recv_ns: int, frame: bytes | str) -> None:
        """Record one WebSocket frame exactly as received (str is stored UTF-8 encoded)."""
        self._line(recv_ns, frame.encode() if isinstance(frame, str) else frame)
        self._frames += 1

    def write_frames(self, records: Iterable[Sequence[Any]]) -> None:
        """Record `(tag, recv_ns, frame)` records in order (the tag, the capture queue's, is not
        read): the same files, bytes and counters as `write_frame` called for each, with the
        common case (a bytes frame that starts with `{`, has no LF, and neither rotates nor
        flushes) kept to one formatted line per frame."""
        pending = self._pending
        interval = self.options.flush_interval_ns
        batch_bytes = self.options.batch_bytes
        rotate_at = self._rotate_at_ns
        flush_due = self._last_flush_ns + interval
        for _, recv_ns, frame in records:
            if (
                recv_ns >= rotate_at
                or recv_ns >= flush_due
                or frame.__class__ is not bytes
                or frame[:1] != b"{"
                or b"\n" in frame
            ):
                self.write_frame(recv_ns, frame)
                rotate_at = self._rotate_at_ns
                flush_due = self._last_flush_ns + interval
                continue
            line = b"%d %b\n" % (recv_ns, frame)
            pending.append(line)
            self._pending_bytes += len(line)
            self._frames += 1
            self._dirty = True
            if self._pending_bytes >= batch_bytes:
                self._drain()

    def write_snapshot(self, recv_ns: int, symbol: str, body: bytes | str) -> None:
        """Record a REST depth snapshot body exactly as received, as `<symbol>@depthSnapshot`.

        Raises:
            ConfigError: `symbol` is not a Binance symbol.
        """
        stream = snapshot_stream(check_symbol(symbol.upper()))
        data = body.encode() if isinstance(body, str) else body
        head = b'%b%b","data":' % (ENVELOPE_PREFIX, stream.encode())
        self._line(recv_ns, head + data + b"}")
        self._snapshots += 1

    def write_marker(self, recv_ns: int, kind: MarkerKind, **fields: Any) -> None:
        """Record an event: `connect` (url, conn_id), `disconnect` (conn_id, reason), `gap`
        (reason, e.g. "overflow"; dropped: frames lost; first_recv_ns / last_recv_ns). Fields
        are free JSON values; the file's `header` is written by the writer itself.

        Raises:
            ConfigError: unknown kind, a `marker` field, or a field that is not JSON-serialisable.
        """
        if kind not in MARKER_KINDS or kind == "header" or "marker" in fields:
            raise ConfigError(f"bad marker {kind!r} with fields {sorted(fields)}")
        self._line(recv_ns, marker_body(kind, fields), escape=False)
        self._markers += 1

    def maybe_flush(self, now_ns: int) -> bool:
        """Flush if `flush_interval_ns` has passed since the last flush; close the file if its
        rotation boundary has passed (the next record opens the next file). Returns True if it
        flushed or closed. Call it from a timer so an idle feed is flushed too."""
        self._check_open()
        if self._sink is None:
            return False
        if now_ns >= self._rotate_at_ns:
            self._close_file()
            return True
        if self._dirty and now_ns - self._last_flush_ns >= self.options.flush_interval_ns:
            self._flush(now_ns)
            return True
        return False

    def flush(self, now_ns: int | None = None) -> None:
        """Flush now (`now_ns` restarts the flush interval; default: the last flush time)."""
        self._check_open()
        if self._sink is not None:
            self._flush(self._last_flush_ns if now_ns is None else now_ns)

    def close(self) -> tuple[Path, ...]:
        """Finish and rename the open file; idempotent. Returns every file closed so far."""
        if not self._closed:
            self._closed = True
            self._close_file()
        return tuple(self._files)

    def stats(self) -> RecordingStats:
        sink = self._sink
        return RecordingStats(
            frames=self._frames,
            snapshots=self._snapshots,
            markers=self._markers,
            flushes=self._flushes,
            bytes_in=self._bytes_in_closed + self._pending_bytes + (sink.bytes_in if sink else 0),
            bytes_out=self._bytes_out_closed + (sink.bytes_out if sink else 0),
            files=tuple(self._files),
            current=self._part,
        )

    # -- internals ---------------------------------------------------------------------------

    def _line(self, recv_ns: int, body: bytes, escape: bool = True) -> None:
        if recv_ns >= self._rotate_at_ns:
            self._check_open()
            self._open_file(recv_ns)
        line = b"%d %b\n" % (recv_ns, encode_body(body) if escape else body)
        self._pending.append(line)
        self._pending_bytes += len(line)
        self._dirty = True
        if self._pending_bytes >= self.options.batch_bytes:
            self._drain()
        if recv_ns - self._last_flush_ns >= self.options.flush_interval_ns:
            self._flush(recv_ns)

    def _check_open(self) -> None:
        if self._closed:
            raise FeedcheckError(f"recording writer is closed ({self.options.directory})")

    def _open_file(self, recv_ns: int) -> None:
        self._close_file()
        opts = self.options
        for seq in range(_MAX_NAME_TRIES):
            name = recording_file_name(opts.prefix, opts.symbols, recv_ns, opts.compression, seq)
            final = Path(opts.directory) / name
            part = final.with_name(name + ".part")
            if final.exists():
                continue
            try:
                self._sink = CompressedSink(part, opts.compression, opts.level)
            except FileExistsError:
                continue
            break
        else:
            raise FeedcheckError(f"no free recording file name for {name} in {opts.directory}")
        self._part, self._final = part, final
        interval = opts.rotate_interval_ns
        self._rotate_at_ns = (recv_ns // interval + 1) * interval
        self._last_flush_ns = recv_ns
        header = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "session": self.session,
            "file_index": self._file_index,
            "prefix": opts.prefix,
            "symbols": [s.lower() for s in opts.symbols],
            "url": opts.url,
            "rotate_interval_ns": interval,
        }
        self._file_index += 1
        line = b"%d %b\n" % (recv_ns, marker_body("header", header))
        self._pending.append(line)
        self._pending_bytes += len(line)
        self._dirty = True

    def _drain(self) -> None:
        if self._pending and self._sink is not None:
            self._sink.write(b"".join(self._pending))
            self._pending.clear()
            self._pending_bytes = 0

    def _flush(self, now_ns: int) -> None:
        self._drain()
        if self._sink is not None and self._dirty:
            self._sink.flush()
            self._flushes += 1
            self._dirty = False
        self._last_flush_ns = now_ns

    def _close_file(self) -> None:
        sink, part, final = self._sink, self._part, self._final
        if sink is None or part is None or final is None:
            return
        self._drain()
        self._sink = self._part = self._final = None
        self._rotate_at_ns = 0
        sink.close()
        os.replace(part, final)
        self._files.append(final)
        self._bytes_in_closed += sink.bytes_in
        self._bytes_out_closed += sink.bytes_out
