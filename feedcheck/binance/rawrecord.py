"""The record every recording reader yields, and how readers report what they skip.

Readers of our format (`recording.read_feedcheck`) and of hftbacktest's and cryptofeed's
(`formats`) all yield `RawRecord`s, so replay, validation and export read any of them alike.
Readers never raise on damaged content: they hand a `ReadIssue` to an `IssueHandler` (default:
a log warning) and go on; a truncated file yields every complete record first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from feedcheck.binance.compressed import LineSource
from feedcheck.binance.venue import SNAPSHOT_STREAM_SUFFIX
from feedcheck.errors import DataError

log = logging.getLogger(__name__)

RecordKind = Literal["frame", "snapshot", "header", "connect", "disconnect", "gap"]
IssueKind = Literal["truncated", "corrupt", "bad_line", "unknown_symbol"]

#: Stream-name suffix of an in-band REST depth snapshot (`btcusdt@depthSnapshot`, as Tardis).
SNAPSHOT_SUFFIX = "@" + SNAPSHOT_STREAM_SUFFIX
#: Records after which no book state may be carried over: a socket opened or broke, or frames
#: were dropped on our side.
BOOK_BREAK_KINDS: frozenset[str] = frozenset({"connect", "disconnect", "gap"})

_ENVELOPE = b'{"stream":"'


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One recorded line, whatever the source format.

    Attributes:
        recv_ns: local receive time, epoch ns.
        kind: `frame` (WebSocket frame), `snapshot` (REST depth body), or a marker: `header`
            (file start), `connect`, `disconnect`, `gap` (see `BOOK_BREAK_KINDS`).
        stream: combined-stream name (`btcusdt@depth@100ms`, `btcusdt@depthSnapshot`); None for
            markers and for frames without an envelope.
        payload: bytes exactly as received: the whole frame (envelope included) for a frame, the
            REST body for a snapshot, the marker's JSON object for a marker.
        path, line_no: where it was read (1-based line); not part of equality.
    """

    recv_ns: int
    kind: RecordKind
    stream: str | None
    payload: bytes
    path: str = field(default="", compare=False)
    line_no: int = field(default=0, compare=False)

    @property
    def breaks_book(self) -> bool:
        """True for connect / disconnect / gap: drop every book before the next record."""
        return self.kind in BOOK_BREAK_KINDS

    @property
    def symbol(self) -> str | None:
        """Upper-case symbol of the stream (`BTCUSDT`, as `venue.classify_stream`); None
        without a stream."""
        return None if self.stream is None else self.stream.partition("@")[0].upper()

    def json(self) -> Any:
        """The payload parsed with orjson (on each call: callers keep what they need).

        Raises:
            DataError: the payload is not JSON (names the file and line).
        """
        try:
            return orjson.loads(self.payload)
        except orjson.JSONDecodeError as exc:
            raise DataError(
                self.path or "<record>",
                f"line {self.line_no}: {self.kind} payload is not JSON ({exc})",
                expected="JSON",
                found=repr(self.payload[:80]),
            ) from exc


@dataclass(frozen=True, slots=True)
class ReadIssue:
    """Something a reader skipped or could not read, reported instead of raised.

    `line_no` is the 1-based line at fault (for `truncated` / `corrupt`: the first line missing
    or cut); 0 means the whole file.
    """

    path: str
    line_no: int
    kind: IssueKind
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line_no}: {self.kind}: {self.detail}"


IssueHandler = Callable[[ReadIssue], None]


def log_issue(issue: ReadIssue) -> None:
    """The default issue handler: a warning in the log."""
    log.warning("recording read issue: %s", issue)


def envelope_stream(body: bytes) -> str | None:
    """The `stream` of a combined-stream envelope; None when the body has none.

    Binance envelopes start with `{"stream":"` and are read straight from the bytes; anything
    else that mentions `"stream"` is parsed as JSON (rare: a hand-made or re-serialised line).
    """
    if body.startswith(_ENVELOPE):
        end = body.find(b'"', len(_ENVELOPE))
        if end > 0:
            return body[len(_ENVELOPE) : end].decode("utf-8", "replace")
        return None
    if b'"stream"' not in body:
        return None
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    stream = obj.get("stream") if isinstance(obj, dict) else None
    return stream if isinstance(stream, str) else None


def expand_paths(paths: Path | str | Iterable[Path | str]) -> list[Path]:
    """Files named by `paths` (directories expand to their non-hidden files), deduplicated,
    sorted by path.

    Raises:
        DataError: a path does not exist.
    """
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    files: set[Path] = set()
    for item in map(Path, items):
        if item.is_dir():
            files.update(c for c in item.iterdir() if c.is_file() and not c.name.startswith("."))
        elif item.is_file():
            files.add(item)
        else:
            raise DataError(item, "recording path does not exist")
    return sorted(files)


def report_end(source: LineSource, report: IssueHandler) -> None:
    """Report a file that did not end cleanly (cut, or undecodable from some point on)."""
    if source.end in ("truncated", "corrupt"):
        line_no = source.line_count + 1
        report(ReadIssue(str(source.path), line_no, source.end, source.detail))
