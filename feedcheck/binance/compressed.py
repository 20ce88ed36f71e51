"""Compressed line files: a flushable zstd/gzip/plain sink, and a line source that survives damage.

Both halves serve raw recordings (`recording.py`, `formats.py`): text lines, compressed.

- `CompressedSink` owns an unbuffered file. `write` compresses; `flush` ends the current zstd
  frame / gzip member (each carries its own checksum: xxhash64 / CRC32) and hands the bytes to
  the OS, so everything written before a flush decodes, and verifies, from the file even if the
  process dies right after. A file is a concatenation of such frames, which every zstd / gzip
  tool reads as one stream. A frame per flush costs ~6% of the ratio at 50 depth lines per
  flush and nothing from ~200 (measured on the 2024-08-09 spot sample).
- `LineSource` yields `(line_no, line)` for every complete (newline-terminated) line and never
  raises on a damaged file. Decoded bytes are released once their frame's checksum verified, so
  damage in the middle never leaks garbage: the lines of every frame before it are yielded, the
  damaged frame and what follows are not, and `end` says `"corrupt"`. A file cut mid-frame (a
  `.part` left by a crash, a copy taken mid-write) ends `"truncated"`: its last, unverifiable
  frame is released as far as it decodes (a cut does not garble what precedes it). Foreign files
  holding one huge frame are released every `HOLD_LIMIT` bytes, unverified, to bound memory.

The codec of a file is chosen by its magic bytes, not its name; the name only tells a file too
short to hold its magic (a zstd file cut after 2 bytes) from a plain-text one.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, Protocol

import zstandard

Compression = Literal["zst", "gz", "none"]
StreamEnd = Literal["complete", "truncated", "corrupt"]

#: File-name suffix of each codec (after `.ndjson`).
SUFFIXES: dict[Compression, str] = {"zst": ".zst", "gz": ".gz", "none": ""}
#: zstd level of recordings. On the real spot frames of the capture benchmark, written as the
#: capture writes them (a frame per 0.5 s flush), level 1 beats zstd's default 3 on both counts:
#: ~500 MB/s of lines in vs ~370 MB/s on one core here, and 5.9x smaller vs 5.6x.
DEFAULT_ZSTD_LEVEL = 1
#: zlib's default level: ~30 MB/s of real depth JSON in on one core here, ~5x smaller.
DEFAULT_GZIP_LEVEL = 6
#: Compressed bytes read per step.
READ_SIZE = 256 * 1024
#: Decoded bytes of one unfinished frame held back for its checksum before being released.
HOLD_LIMIT = 64 * 1024 * 1024

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"
#: gzip (RFC 1952) framing for zlib: wbits 16 + 15-bit window.
_GZIP_WBITS = 31


class _Codec(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def end_frame(self) -> bytes: ...


class _ZstdCodec:
    def __init__(self, level: int) -> None:
        self._compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
        self._obj = self._compressor.compressobj()

    def compress(self, data: bytes) -> bytes:
        return self._obj.compress(data)

    def end_frame(self) -> bytes:
        out = self._obj.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)
        self._obj = self._compressor.compressobj()
        return out


class _GzipCodec:
    def __init__(self, level: int) -> None:
        self._level = level
        self._obj = self._new()

    def _new(self) -> Any:
        return zlib.compressobj(self._level, zlib.DEFLATED, _GZIP_WBITS)

    def compress(self, data: bytes) -> bytes:
        return self._obj.compress(data)

    def end_frame(self) -> bytes:
        out = self._obj.flush(zlib.Z_FINISH)
        self._obj = self._new()
        return out


class _PlainCodec:
    def compress(self, data: bytes) -> bytes:
        return data

    def end_frame(self) -> bytes:
        return b""


def _codec(compression: Compression, level: int | None) -> _Codec:
    if compression == "zst":
        return _ZstdCodec(DEFAULT_ZSTD_LEVEL if level is None else level)
    if compression == "gz":
        return _GzipCodec(DEFAULT_GZIP_LEVEL if level is None else level)
    return _PlainCodec()


class CompressedSink:
    """One compressed file, created exclusively (never overwrites). Not thread-safe.

    Counters: `bytes_in` (uncompressed), `bytes_out` (on disk).

    Raises:
        FileExistsError: `path` already exists.
    """

    def __init__(self, path: Path, compression: Compression, level: int | None = None) -> None:
        self.path = path
        self.bytes_in = 0
        self.bytes_out = 0
        self._codec = _codec(compression, level)
        self._open_frame = False
        # Unbuffered: each compressed chunk is one os.write, so a flush reaches the OS at once.
        self._file = open(path, "xb", buffering=0)  # noqa: SIM115 - closed in close()

    def write(self, data: bytes) -> None:
        """Compress `data` (whole lines); output reaches the file when a block completes."""
        if data:
            self.bytes_in += len(data)
            self._open_frame = True
            self._put(self._codec.compress(data))

    def flush(self) -> None:
        """End the current frame and write it: all data so far decodes and verifies."""
        if self._open_frame:
            self._open_frame = False
            self._put(self._codec.end_frame())

    def close(self, fsync: bool = True) -> None:
        """Flush, fsync (so a rename after it survives a power loss) and close the file."""
        try:
            self.flush()
            if fsync:
                os.fsync(self._file.fileno())
        finally:
            self._file.close()

    def _put(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            written = self._file.write(view)
            view = view[written:]
        self.bytes_out += len(chunk)


class _FrameDecoder:
    """Concatenated zstd frames or gzip members as one stream, releasing each frame's output once
    its checksum verified. `feed` never raises: a decoder error sets `error` and stops."""

    def __init__(self, new: Callable[[], Any]) -> None:
        # zlib and zstandard decompress objects share decompress / eof / unused_data.
        self._new = new
        self._obj: Any = None
        self._held: list[bytes] = []
        self._held_bytes = 0
        self.error: str | None = None

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        while data and self.error is None:
            if self._obj is None:
                self._obj = self._new()
            try:
                chunk = self._obj.decompress(data)
            except (zstandard.ZstdError, zlib.error) as exc:
                self.error = str(exc)
                self._held.clear()
                break
            if not self._obj.eof:
                self._hold(chunk, out)
                break
            out.extend(self._held)  # the frame ended and its checksum matched
            out.append(chunk)
            self._held.clear()
            self._held_bytes = 0
            data = self._obj.unused_data
            self._obj = None
        return b"".join(out)

    def _hold(self, chunk: bytes, out: list[bytes]) -> None:
        self._held.append(chunk)
        self._held_bytes += len(chunk)
        if self._held_bytes > HOLD_LIMIT:
            out.extend(self._held)
            self._held.clear()
            self._held_bytes = 0

    def release(self) -> bytes:
        """The decoded bytes of the unfinished last frame (of a cut file)."""
        held = b"".join(self._held)
        self._held.clear()
        return held

    @property
    def at_boundary(self) -> bool:
        return self._obj is None


class _PlainDecoder:
    at_boundary = True
    error: str | None = None

    def feed(self, data: bytes) -> bytes:
        return data

    def release(self) -> bytes:
        return b""


def detect_compression(path: Path, head: bytes) -> Compression | None:
    """The codec of a file from its first bytes (`head`, ≥ 4 bytes unless the file is shorter).

    Returns None when the file is too short to tell but its name says it is compressed (a zstd or
    gzip file cut inside its magic number): such a file holds no data.
    """
    if head.startswith(_ZSTD_MAGIC):
        return "zst"
    if head.startswith(_GZIP_MAGIC):
        return "gz"
    name = path.name.removesuffix(".part")
    if name.endswith(".zst") and _ZSTD_MAGIC.startswith(head):
        return None
    if name.endswith(".gz") and _GZIP_MAGIC.startswith(head):
        return None
    return "none"


def _decoder(compression: Compression) -> _FrameDecoder | _PlainDecoder:
    if compression == "zst":
        return _FrameDecoder(zstandard.ZstdDecompressor().decompressobj)
    if compression == "gz":
        return _FrameDecoder(lambda: zlib.decompressobj(_GZIP_WBITS))
    return _PlainDecoder()


class LineSource:
    """The complete lines of one (possibly compressed, possibly damaged) file.

    Iterating yields `(line_no, line)`: line numbers start at 1, `line` excludes its `\\n`.
    Iteration never raises for damaged content (only for an unreadable path: `OSError`). After it:

    - `end`: `"complete"` when the stream ended cleanly (always, for plain text); `"truncated"`
      when the file stops inside a frame (or inside its magic number); `"corrupt"` when the
      decoder rejected the data or a checksum (`detail` says which);
    - `tail`: the bytes after the last newline (a cut line, or a last line without newline);
    - `line_count`: complete lines yielded (the tail, if any, is line `line_count + 1`);
    - `compression`: the codec found (None for a file cut inside its magic number).
    """

    def __init__(self, path: Path | str, read_size: int = READ_SIZE) -> None:
        self.path = Path(path)
        self.read_size = read_size
        self.end: StreamEnd | None = None
        self.detail = ""
        self.tail = b""
        self.line_count = 0
        self.compression: Compression | None = None

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        with open(self.path, "rb") as fh:
            head = fh.read(len(_ZSTD_MAGIC))
            fh.seek(0)
            self.compression = detect_compression(self.path, head)
            if self.compression is None:
                self.end = "truncated"
                self.detail = f"file cut inside its magic number ({len(head)} bytes)"
                return
            decoder = _decoder(self.compression)
            carry = b""
            line_no = 0
            while True:
                chunk = fh.read(self.read_size)
                data = decoder.feed(chunk) if chunk else decoder.release()
                if data:
                    lines = (carry + data).split(b"\n") if carry else data.split(b"\n")
                    carry = lines.pop()
                    for line in lines:
                        line_no += 1
                        yield line_no, line
                if decoder.error is not None or not chunk:
                    break
            if decoder.error is not None:
                self.end, self.detail = "corrupt", f"{self.compression} decoder: {decoder.error}"
            elif decoder.at_boundary:
                self.end = "complete"
            else:
                self.end = "truncated"
                self.detail = f"{self.compression} stream ends inside a frame"
            self.tail = carry
            self.line_count = line_no
