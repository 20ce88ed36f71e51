"""Read any raw recording as `RawRecord`s: ours, hftbacktest's collector, cryptofeed's raw capture.

Formats (tests/data/real/README.md has the provenance):

- `feedcheck`: ours, `recording.py`.
- `hftbacktest` (nkaz001/hftbacktest collector, `<sym>_<YYYYmmdd>.gz`): gzip text, one line per
  frame, `<local_ns> <json>`; the JSON is the combined-stream envelope. A line whose JSON has no
  `stream` key (but a `lastUpdateId`) is a REST depth snapshot: it becomes a `snapshot` record
  named `<sym>@depthSnapshot`, the symbol taken from the latest depth frame of the same file,
  else from the file name (`ethusdt_20240808.gz`), else from the next depth frame (records are
  then held back so the order is kept).
- `cryptofeed` (bmoscon/cryptofeed raw capture, `BINANCE-<id>.<n>`): text. `<url> <-> <secs>`
  when a socket opened (→ a `connect` record, payload `{"marker":"connect","url":…}`),
  `<secs>: <json>` per frame, `<url> -> <secs>: <json>` per REST snapshot (symbol from the URL's
  `symbol=` query). Times are epoch seconds written by Python as `repr(time.time())`; the
  decimal text is converted to ns exactly (integer arithmetic, never a float; digits beyond the
  9th are truncated). That text is the shortest repr of a double, which at 2021 epochs resolves
  2**-22 s ≈ 238 ns: stamps are exact to the text, and the clock behind them to ±119 ns.

Bad lines are reported (`ReadIssue`, kind `bad_line`) and skipped, never raised: one damaged
line must not hide a day of data. Only what makes reading impossible raises `DataError`: an
unknown format, a missing path, a call that mixes formats.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import parse_qs, urlsplit

import orjson

from feedcheck.binance.compressed import LineSource
from feedcheck.binance.rawrecord import (
    IssueHandler,
    RawRecord,
    ReadIssue,
    RecordKind,
    envelope_stream,
    log_issue,
    report_end,
)
from feedcheck.binance.recording import (
    NS_PER_S,
    is_feedcheck_name,
    marker_body,
    read_feedcheck,
    recording_files,
)
from feedcheck.binance.venue import check_symbol, snapshot_stream
from feedcheck.errors import ConfigError, DataError

RecordingFormat = Literal["feedcheck", "hftbacktest", "cryptofeed"]
FORMATS: tuple[str, ...] = get_args(RecordingFormat)
Paths = Path | str | Iterable[Path | str]

_SECONDS_RE = re.compile(rb"(\d+)(?:\.(\d+))?")
_NS_DIGITS = 9
_OURS_RE = re.compile(rb"^\d+ #")
_HBT_RE = re.compile(rb"^\d+ \{")
_CF_HEADER_RE = re.compile(rb"^(\S+) <-> (\d+(?:\.\d+)?)$")
_CF_FRAME_RE = re.compile(rb"^\d+(?:\.\d+)?: ")
_NAME_SYMBOL_RE = re.compile(r"^([a-z0-9]+)_\d{8}\b")
_SYMBOL_RE = re.compile(r"[a-z0-9]+")


def seconds_text_to_ns(text: bytes) -> int | None:
    """Decimal epoch seconds (`b"1617566592.1065369"`) → epoch ns, exactly, without a float
    (digits beyond the 9th decimal are truncated). None when `text` is not such a number."""
    m = _SECONDS_RE.fullmatch(text)
    if m is None:
        return None
    frac = (m[2] or b"")[:_NS_DIGITS].ljust(_NS_DIGITS, b"0")
    return int(m[1]) * NS_PER_S + int(frac)


def _complete_lines(source: LineSource, report: IssueHandler) -> Iterator[tuple[int, bytes]]:
    """Lines of a foreign-format file. Their writers may leave the last line without a newline
    (cryptofeed's sample does): it counts when the stream ended cleanly and its JSON (from the
    first `{`) parses; otherwise it was cut and is reported as `truncated`."""
    yield from source
    report_end(source, report)
    tail, line_no = source.tail, source.line_count + 1
    if not tail or source.end != "complete":
        return
    start = tail.find(b"{")
    try:
        if start >= 0:
            orjson.loads(tail[start:])
    except orjson.JSONDecodeError as exc:
        report(ReadIssue(str(source.path), line_no, "truncated", f"last line cut ({exc})"))
        return
    yield line_no, tail


def _hbt_line(line: bytes) -> tuple[int, str | None, bytes] | str:
    """`<local_ns> <json>` → (recv_ns, stream or None for a snapshot, json), or why it is bad."""
    sep = line.find(b" ")
    stamp = line[:sep]
    if sep <= 0 or not stamp.isdigit():
        return "expected '<local_ns> <json>'"
    body = line[sep + 1 :]
    stream = envelope_stream(body)
    if stream is not None:
        return int(stamp), stream, body
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return f"not JSON ({exc})"
    if not isinstance(obj, dict) or "lastUpdateId" not in obj:
        return "JSON with neither 'stream' nor 'lastUpdateId'"
    return int(stamp), None, body


def _symbol_from_name(path: Path) -> str | None:
    m = _NAME_SYMBOL_RE.match(path.name)
    return m[1] if m else None


def read_hftbacktest(paths: Paths, *, on_issue: IssueHandler | None = None) -> Iterator[RawRecord]:
    """Records of hftbacktest collector files (`recording_files` order) as one stream.

    Snapshot symbol: see the module docstring; a snapshot whose symbol nothing tells is reported
    (`unknown_symbol`) and skipped. Other damage is reported as in `read_feedcheck`.

    Raises:
        DataError: a path does not exist.
    """
    report = on_issue or log_issue
    for path in recording_files(paths):
        name = str(path)
        symbol = _symbol_from_name(path)
        held: list[RawRecord] = []  # records behind a snapshot whose symbol is not known yet
        source = LineSource(path)
        for line_no, line in _complete_lines(source, report):
            parsed = _hbt_line(line)
            if isinstance(parsed, str):
                report(ReadIssue(name, line_no, "bad_line", parsed))
                continue
            recv_ns, stream, body = parsed
            if stream is None:
                record = RawRecord(recv_ns, "snapshot", None, body, name, line_no)
                if symbol is None or held:
                    held.append(record)
                    continue
                record = _named(record, symbol)
            else:
                record = RawRecord(recv_ns, "frame", stream, body, name, line_no)
                depth_symbol, _, rest = stream.partition("@")
                if rest.startswith("depth") and _SYMBOL_RE.fullmatch(depth_symbol):
                    symbol = depth_symbol
                    if held:
                        yield from (_named(r, symbol) for r in held)
                        held.clear()
                if held:
                    held.append(record)
                    continue
            yield record
        for record in held:
            if record.stream is None and record.kind == "snapshot":
                what = "no depth frame or file name tells the snapshot's symbol"
                report(ReadIssue(name, record.line_no, "unknown_symbol", what))
            else:
                yield record


def _named(record: RawRecord, symbol: str) -> RawRecord:
    if record.kind != "snapshot" or record.stream is not None:
        return record
    stream = snapshot_stream(symbol.upper())
    return RawRecord(
        record.recv_ns, "snapshot", stream, record.payload, record.path, record.line_no
    )


def _cryptofeed_line(line: bytes) -> tuple[int, RecordKind, str | None, bytes] | str:
    """One cryptofeed raw line → (recv_ns, kind, stream, payload), or why it is bad."""
    stamp, sep, body = line.partition(b": ")
    if sep and _SECONDS_RE.fullmatch(stamp):
        return seconds_text_to_ns(stamp) or 0, "frame", envelope_stream(body), body
    header = _CF_HEADER_RE.match(line)
    if header is not None:
        url = header[1].decode("utf-8", "replace")
        payload = marker_body("connect", {"url": url, "source": "cryptofeed"})[1:]
        return seconds_text_to_ns(header[2]) or 0, "connect", None, payload
    url, sep, rest = line.partition(b" -> ")
    stamp, sep2, body = rest.partition(b": ")
    recv_ns = seconds_text_to_ns(stamp)
    if not (sep and sep2) or recv_ns is None:
        return "expected '<secs>: <json>', '<url> -> <secs>: <json>' or '<url> <-> <secs>'"
    symbols = parse_qs(urlsplit(url.decode("utf-8", "replace")).query).get("symbol", [])
    try:
        stream = snapshot_stream(check_symbol(symbols[0].upper())) if symbols else None
    except ConfigError as exc:
        return f"snapshot URL symbol: {exc}"
    if stream is None:
        return "snapshot URL has no symbol= query"
    return recv_ns, "snapshot", stream, body


def read_cryptofeed(paths: Paths, *, on_issue: IssueHandler | None = None) -> Iterator[RawRecord]:
    """Records of cryptofeed raw-capture files (`recording_files` order) as one stream.

    Damage is reported as in `read_feedcheck`; frames are not parsed (`RawRecord.json()`).

    Raises:
        DataError: a path does not exist.
    """
    report = on_issue or log_issue
    for path in recording_files(paths):
        name = str(path)
        source = LineSource(path)
        for line_no, line in _complete_lines(source, report):
            parsed = _cryptofeed_line(line)
            if isinstance(parsed, str):
                report(ReadIssue(name, line_no, "bad_line", parsed))
                continue
            yield RawRecord(*parsed, name, line_no)


def _first_line(path: Path) -> bytes:
    source = LineSource(path)
    lines = iter(source)
    try:
        first = next(lines, None)
    finally:
        lines.close()
    return first[1] if first is not None else source.tail


def detect_format(path: Path | str) -> RecordingFormat:
    """The format of one recording file, from its first line (its name only when the file is
    empty or cut inside its first line: our `….ndjson[.zst|.gz][.part]`).

    Raises:
        DataError: the first line is none of the three formats (names the file, line 1).
    """
    path = Path(path)
    line = _first_line(path)
    if _OURS_RE.match(line):
        return "feedcheck"
    if _HBT_RE.match(line):
        return "feedcheck" if is_feedcheck_name(path) else "hftbacktest"
    if _CF_HEADER_RE.match(line) or _CF_FRAME_RE.match(line):
        return "cryptofeed"
    if not line and is_feedcheck_name(path):
        return "feedcheck"
    raise DataError(
        path,
        "line 1: unknown recording format",
        expected="feedcheck-raw, hftbacktest or cryptofeed line",
        found=repr(line[:60]),
    )


_READERS: dict[str, Callable[..., Iterator[RawRecord]]] = {
    "feedcheck": read_feedcheck,
    "hftbacktest": read_hftbacktest,
    "cryptofeed": read_cryptofeed,
}


def read_recording(
    paths: Paths, *, on_issue: IssueHandler | None = None, fmt: RecordingFormat | None = None
) -> Iterator[RawRecord]:
    """Records of a recording in any supported format, its files in order as one stream.

    The format is detected per file (`detect_format`) at call time, unless `fmt` is given.

    Args:
        paths: files and/or directories (see `recording.recording_files` for the order).
        on_issue: receives each `ReadIssue` (default: `rawrecord.log_issue`).
        fmt: skip detection.

    Raises:
        ConfigError: `fmt` is not one of `FORMATS`.
        DataError: no file, a path missing, a file of unknown format, or files of two formats.
    """
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"format must be one of {FORMATS}: {fmt!r}")
    files = recording_files(paths)
    if not files:
        raise DataError(str(paths), "no recording files")
    found = [fmt or detect_format(f) for f in files]
    for path, this in zip(files, found, strict=True):
        if this != found[0]:
            raise DataError(path, "recording files mix formats", expected=found[0], found=this)
    return _READERS[found[0]](files, on_issue=on_issue)
