"""Raw capture recording (DESIGN.md): every received frame exactly as received, with its ns stamp.

Line grammar: UTF-8 text, one `\\n`-terminated line per record, one compressed stream per file::

    <recv_ns> <frame>                              a WebSocket frame, bytes untouched
    <recv_ns> {"stream":"<sym>@depthSnapshot","data":<REST body, bytes untouched>}
    <recv_ns> #{"marker":"<kind>", ...}            header | connect | disconnect | gap
    <recv_ns> ~<escaped body>                      a frame / snapshot body that needs escaping

- `recv_ns` is `time.time_ns()` when the frame arrived (for a snapshot: when its body was read;
  for a marker: when the event happened), as a decimal integer.
- A REST depth snapshot is in-band, wrapped like Tardis does in a combined-stream envelope named
  `<symbol>@depthSnapshot`, so a recording alone rebuilds the book.
- Markers start with `#`, which no JSON text can: a reader never mistakes one for a frame, and a
  naive JSON reader fails on it loudly. Kinds: `header` (first line of every file: format,
  version, `session` (random per writer), `file_index` (0, 1, … per session: a jump means a
  missing file), symbols, url), `connect` / `disconnect` (a socket opened / broke), `gap` (frames
  dropped on our side, e.g. a full queue). `connect`, `disconnect` and `gap` break the book
  (`RawRecord.breaks_book`): book state is never carried across one. A `header` alone (rotation)
  does not: one session's files are one stream.
- Escaping: Binance frames are compact JSON without raw line breaks, but a frame is recorded
  whatever it holds. A body holding a LF, or starting with `#` or `~`, is written as `~` + the
  body with `\\` → `\\\\` and LF → `\\n`; the reader restores the exact bytes.

Files: `{prefix}-{symbols}-{YYYYmmddTHHMMSSZ}.ndjson.zst` (`.gz`, or none; `.N` before `.ndjson`
when the name is taken), the UTC time of the file's first record. A file is written as
`<name>.part` and renamed when closed. Rotation happens at multiples of `rotate_interval_ns`
since the epoch (hourly: the top of each UTC hour). Flushing (see `RecordingWriter`) is driven by
the caller's clock, so it is tested without sleeping; each flush ends a zstd frame / gzip member
with its own checksum (`compressed.py`), so a reader gets every flushed record back from a
crashed writer's `.part` and never the garbage of a damaged frame. Writing: `recording_writer.RecordingWriter`;
reading: `read_feedcheck`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

import orjson

from feedcheck.binance.compressed import SUFFIXES, Compression, LineSource
from feedcheck.binance.rawrecord import (
    SNAPSHOT_SUFFIX,
    IssueHandler,
    RawRecord,
    ReadIssue,
    RecordKind,
    envelope_stream,
    expand_paths,
    log_issue,
    report_end,
)
from feedcheck.errors import ConfigError

MarkerKind = Literal["header", "connect", "disconnect", "gap"]

FORMAT_NAME = "feedcheck-raw"
FORMAT_VERSION = 1
MARKER_KINDS: frozenset[str] = frozenset(get_args(MarkerKind))
NS_PER_S = 1_000_000_000
#: How every Binance combined-stream frame, and our snapshot lines, begin.
ENVELOPE_PREFIX = b'{"stream":"'

_MARKER = b"#"
_ESCAPED = b"~"
_RESERVED_FIRST = (_MARKER, _ESCAPED)
_NAME_RE = re.compile(
    r"^(?P<stem>.+)-(?P<ts>\d{8}T\d{6}Z)(?:\.(?P<seq>\d+))?\.ndjson(?:\.zst|\.gz)?(?:\.part)?$"
)
#: Names list at most this many symbols; the header always lists them all.
_MAX_NAMED_SYMBOLS = 4


def encode_body(body: bytes) -> bytes:
    """A frame / snapshot line body as written: itself, or escaped when it holds a LF or starts
    with `#` / `~` (then `~` + body with `\\` → `\\\\` and LF → `\\n`)."""
    if b"\n" in body or body[:1] in _RESERVED_FIRST:
        return _ESCAPED + body.replace(b"\\", b"\\\\").replace(b"\n", b"\\n")
    return body


def _unescape(text: bytes) -> bytes | None:
    """Inverse of `encode_body`'s escape (without its `~`); None for an invalid escape."""
    parts = text.split(b"\\\\")
    for i, part in enumerate(parts):
        part = part.replace(b"\\n", b"\n")
        if b"\\" in part:
            return None
        parts[i] = part
    return b"\\".join(parts)


def marker_body(kind: MarkerKind, fields: dict[str, Any]) -> bytes:
    """`#{"marker":"<kind>", ...fields}`.

    Raises:
        ConfigError: a field is not JSON-serialisable.
    """
    try:
        return _MARKER + orjson.dumps({"marker": kind, **fields})
    except TypeError as exc:
        raise ConfigError(f"marker {kind!r} fields are not JSON: {exc}") from exc


def recording_file_name(
    prefix: str, symbols: Iterable[str], start_ns: int, compression: Compression, seq: int = 0
) -> str:
    """`{prefix}-{symbols}-{YYYYmmddTHHMMSSZ}[.seq].ndjson{.zst|.gz}` for a file whose first
    record is at `start_ns` (UTC, whole seconds). Symbols are lowercased, sorted, `_`-joined;
    beyond 4 the name says `..._plusN` (the header lists them all)."""
    names = sorted({s.lower() for s in symbols})
    if len(names) > _MAX_NAMED_SYMBOLS:
        kept = _MAX_NAMED_SYMBOLS - 1
        names = [*names[:kept], f"plus{len(names) - kept}"]
    stamp = datetime.fromtimestamp(start_ns // NS_PER_S, UTC).strftime("%Y%m%dT%H%M%SZ")
    stem = "-".join(x for x in (prefix, "_".join(names)) if x)
    dup = f".{seq}" if seq else ""
    return f"{stem}-{stamp}{dup}.ndjson{SUFFIXES[compression]}"


def _order_key(path: Path) -> tuple[int, str, int, tuple[str | int, ...], str]:
    m = _NAME_RE.match(path.name)
    if m is None:
        # By name, not by full path: the files of one stream may sit in different folders.
        return (1, "", 0, _natural_key(path.name), str(path))
    return (0, m["ts"], int(m["seq"] or 0), (), str(path))


def _natural_key(name: str) -> tuple[str | int, ...]:
    """`NAME.2` before `NAME.10`: digit runs compare as numbers (str and int alternate, so
    positions always hold the same type)."""
    return tuple(int(part) if n % 2 else part for n, part in enumerate(re.split(r"(\d+)", name)))


def recording_files(paths: Path | str | Iterable[Path | str]) -> list[Path]:
    """The files to read as one stream, in order (`rawrecord.expand_paths`): our files (and
    their `.part`) by the UTC start time in their names, then the others by file name with
    numbers compared as numbers (which orders hftbacktest's `sym_YYYYmmdd.gz` and cryptofeed's
    `NAME.0`, `.1`, ..., `.10`), whatever folder each file is in.

    Raises:
        DataError: a path does not exist.
    """
    return sorted(expand_paths(paths), key=_order_key)


def is_feedcheck_name(path: Path) -> bool:
    """True when the name follows `recording_file_name` (with or without `.part`)."""
    return _NAME_RE.match(path.name) is not None


def _parse_marker(body: bytes) -> tuple[MarkerKind, bytes] | str:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return f"marker is not JSON ({exc})"
    kind = obj.get("marker") if isinstance(obj, dict) else None
    if not isinstance(kind, str) or kind not in MARKER_KINDS:
        return f"unknown marker {kind!r}"
    return kind, body


def _snapshot_payload(body: bytes, stream: str) -> bytes | None:
    """The REST body inside our snapshot envelope: sliced (exact bytes) when the envelope is
    ours, else re-serialised from the parsed JSON; None when there is no `data` object."""
    head = b'%b%b","data":' % (ENVELOPE_PREFIX, stream.encode())
    if body.startswith(head) and body.endswith(b"}"):
        return body[len(head) : -1]
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    data = obj.get("data") if isinstance(obj, dict) else None
    return orjson.dumps(data) if isinstance(data, dict) else None


def _single_stream(url: object) -> str | None:
    """`wss://host/ws/btcusdt@depth` → `btcusdt@depth`: frames of a raw stream have no envelope."""
    if not isinstance(url, str):
        return None
    path = urlsplit(url).path
    name = path.removeprefix("/ws/")
    return name if name != path and name and "/" not in name else None


def parse_feedcheck_line(
    line: bytes, default_stream: str | None = None
) -> tuple[int, RecordKind, str | None, bytes] | str:
    """One line of our format → (recv_ns, kind, stream, payload), or the reason it is bad.

    `default_stream` is the stream of frames without an envelope (a `/ws/<stream>` connection).
    """
    sep = line.find(b" ")
    stamp = line[:sep]
    if sep <= 0 or not stamp.isdigit():
        return "expected '<recv_ns> <body>'"
    body = line[sep + 1 :]
    first = body[:1]
    if first == _MARKER:
        marker = _parse_marker(body[1:])
        if isinstance(marker, str):
            return marker
        return int(stamp), marker[0], None, marker[1]
    if first == _ESCAPED:
        unescaped = _unescape(body[1:])
        if unescaped is None:
            return "invalid escape in a '~' line"
        body = unescaped
    stream = envelope_stream(body)
    if stream is not None and stream.endswith(SNAPSHOT_SUFFIX):
        payload = _snapshot_payload(body, stream)
        if payload is None:
            return f"{stream} line without a data object"
        return int(stamp), "snapshot", stream, payload
    return int(stamp), "frame", stream or default_stream, body


def read_feedcheck(
    paths: Path | str | Iterable[Path | str], *, on_issue: IssueHandler | None = None
) -> Iterator[RawRecord]:
    """Records of our recordings, in file order (`recording_files`) as one stream.

    Never raises for damaged content: a bad line (no `<recv_ns> `, bad marker or escape) is
    reported as `bad_line` and skipped; a cut file (`.part` after a crash, a copy taken
    mid-write) yields every complete record then reports `truncated`; an undecodable one reports
    `corrupt`; reading goes on with the next file. Frames are not parsed (use
    `RawRecord.json()`, which raises `DataError` naming file and line).

    Args:
        paths: files and/or directories.
        on_issue: receives each `ReadIssue` (default: `log_issue`).

    Raises:
        DataError: a path does not exist. OSError: a file cannot be opened.
    """
    report = on_issue or log_issue
    for path in recording_files(paths):
        source = LineSource(path)
        name = str(path)
        default_stream: str | None = None
        for line_no, line in source:
            parsed = parse_feedcheck_line(line, default_stream)
            if isinstance(parsed, str):
                report(ReadIssue(name, line_no, "bad_line", parsed))
                continue
            recv_ns, kind, stream, payload = parsed
            if kind == "header":
                default_stream = _single_stream(orjson.loads(payload).get("url"))
            yield RawRecord(recv_ns, kind, stream, payload, name, line_no)
        report_end(source, report)
        if source.end != "complete":
            continue
        # A clean end is still a cut when the writer could not have left it so: it ends every
        # line, never closes an empty file, and renames the `.part` once finished.
        what = (
            "last line has no newline"
            if source.tail
            else "empty file"
            if source.line_count == 0
            else "unfinished .part file"
            if path.name.endswith(".part")
            else None
        )
        if what is not None:
            report(ReadIssue(name, source.line_count + 1, "truncated", what))
