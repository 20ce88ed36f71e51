"""Capture validation (Story 1.2): replay recordings, check the update-id chain and the book.

A recording is one file or several read in order as one stream (our rotated files of one
session, hftbacktest's consecutive day files): book state continues across files, so the
2024-08-09 file, which has no snapshot, continues the 2024-08-08 book. Per symbol
(`validate_symbol.SymbolReplay`): Binance's sync rules over the depth events (spot `U == prev u
+ 1`, USD-M `pu == prev u`) with the position of every gap; resyncs; the book rebuilt from each
in-band snapshot and compared exactly with every later one; crossed-book moments. A break marker
(connect, disconnect, our `gap`, or a header starting another session / skipping a file)
discards every book: it must resync from a new snapshot.

Bad content is a finding, not a failure: reader issues (a truncated tail) and payloads that do
not parse are listed per recording and the replay goes on (a skipped depth event then shows as
a gap). Results: `validate_result`.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from feedcheck.binance.formats import detect_format, read_recording
from feedcheck.binance.rawrecord import RawRecord, ReadIssue
from feedcheck.binance.recording import read_feedcheck, recording_files
from feedcheck.binance.sync import Variant
from feedcheck.binance.validate_decode import (
    WORK_SCALE,
    depth_event,
    scales_from_marker,
    stream_class,
    trade_event,
    where,
)
from feedcheck.binance.validate_result import (
    CaptureValidation,
    RecordingIssue,
    RecordingValidation,
    ScaleSource,
)
from feedcheck.binance.validate_symbol import SymbolReplay
from feedcheck.binance.wire import Scale, parse_depth_snapshot
from feedcheck.errors import ConfigError, DataError, SyncError, VenueError

log = logging.getLogger(__name__)

#: One recording: a file, a directory (its files), or files read together as one stream.
Recording = Path | str | Sequence[Path | str]

_MARKERS = frozenset({"header", "connect", "disconnect", "gap"})
_HBT_NAME_RE = re.compile(r"^([a-z0-9]+)_(\d{8})(\..+)$")
_CF_NAME_RE = re.compile(r"^(.+)\.(\d+)$")


class _RecordingReplay:
    """One recording's replay: routes records to per-symbol state, counts the rest."""

    def __init__(self, variant: Variant | None, scales: Mapping[str, Scale] | None) -> None:
        self.variant = variant
        self.given = dict(scales or {})
        self.declared: dict[str, Scale] = {}
        self.symbols: dict[str, SymbolReplay] = {}
        self.messages: Counter[str] = Counter()
        self.by_stream: Counter[str] = Counter()
        self.issues: list[RecordingIssue] = []
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self._session: tuple[Any, Any] | None = None

    def symbol(self, symbol: str) -> SymbolReplay:
        replay = self.symbols.get(symbol)
        if replay is None:
            scale = self.given.get(symbol, WORK_SCALE)
            replay = self.symbols[symbol] = SymbolReplay(symbol, self.variant, scale)
        return replay

    def on_issue(self, issue: ReadIssue) -> None:
        self.issues.append(RecordingIssue(issue.path, issue.line_no, issue.kind, issue.detail))

    def feed(self, record: RawRecord) -> None:
        if self.first_ns is None:
            self.first_ns = record.recv_ns
        self.last_ns = record.recv_ns
        if record.kind in _MARKERS:
            self.messages[record.kind] += 1
            self._marker(record)
            return
        kind = "snapshot" if record.kind == "snapshot" else stream_class(record.stream)
        self.messages[kind] += 1
        self.by_stream[record.stream or "<none>"] += 1
        try:
            if kind == "depth":
                self._depth(record)
            elif kind == "snapshot":
                symbol = record.symbol
                assert symbol is not None  # readers name every snapshot's stream
                replay = self.symbol(symbol)
                snapshot = parse_depth_snapshot(
                    record.json(), symbol, replay.parse_scale, source=where(record)
                )
                replay.on_snapshot(snapshot, record)
            elif kind in ("trade", "agg_trade"):
                self._trade(record, kind)
        except (DataError, SyncError, VenueError, ConfigError) as exc:
            self.issues.append(RecordingIssue(record.path, record.line_no, "bad_payload", str(exc)))

    def _depth(self, record: RawRecord) -> None:
        event = depth_event(record, self.given.get(record.symbol or "", WORK_SCALE))
        self.symbol(event.symbol).on_depth(event, record)

    def _trade(self, record: RawRecord, kind: str) -> None:
        trade = trade_event(record, kind, self.given)
        self.symbol(trade.symbol).on_trade(trade.price_ticks, trade.qty_lots)

    def _marker(self, record: RawRecord) -> None:
        marker = record.json()
        try:
            self.declared.update(scales_from_marker(marker))
        except ConfigError as exc:
            self.issues.append(RecordingIssue(record.path, record.line_no, "bad_payload", str(exc)))
        breaks = record.breaks_book
        if record.kind == "header":
            session = (marker.get("session"), marker.get("file_index"))
            previous, self._session = self._session, session
            # A rotated file continues the stream; another session or a skipped file does not.
            breaks = previous is not None and (
                session[0] != previous[0]
                or not isinstance(session[1], int)
                or not isinstance(previous[1], int)
                or session[1] != previous[1] + 1
            )
        if breaks:
            for replay in self.symbols.values():
                replay.on_break()

    def result(self, files: list[Path], fmt: str) -> RecordingValidation:
        symbols = []
        for name in sorted(self.symbols):
            replay = self.symbols[name]
            seen = replay.decimals.scale()
            scale, source = self._reported_scale(name, seen)
            symbols.append(replay.result(scale, source))
            if source == "marker" and (
                seen.price_decimals > scale.price_decimals or seen.qty_decimals > scale.qty_decimals
            ):
                self.issues.append(
                    RecordingIssue(
                        str(files[0]),
                        0,
                        "off_scale",
                        f"{name}: values with {seen.price_decimals} price / {seen.qty_decimals} "
                        f"quantity decimals, finer than the declared {scale.price_decimals} / "
                        f"{scale.qty_decimals}",
                    )
                )
        replays = [self.symbols[n] for n in sorted(self.symbols)]
        return RecordingValidation(
            label=files[0].name,
            files=tuple(str(f) for f in files),
            format=fmt,
            first_recv_ns=self.first_ns,
            last_recv_ns=self.last_ns,
            messages=dict(sorted(self.messages.items())),
            messages_by_stream=dict(sorted(self.by_stream.items())),
            symbols=tuple(symbols),
            gap_positions=tuple(g for r in replays for g in r.gaps),
            checks=tuple(c for r in replays for c in r.checks),
            crossed_positions=tuple(c for r in replays for c in r.crossed_at),
            issues=tuple(self.issues),
        )

    def _reported_scale(self, symbol: str, seen: Scale) -> tuple[Scale, ScaleSource]:
        if symbol in self.given:
            return self.given[symbol], "given"
        if symbol in self.declared:
            return self.declared[symbol], "marker"
        return seen, "inferred"


def recording_groups(paths: Recording | Iterable[Recording]) -> list[list[Path]]:
    """The recordings named by `paths`: one item per recording (see `Recording`)."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)  # type: ignore[arg-type]
    groups = []
    for item in items:
        files = recording_files(item)
        if not files:
            raise DataError(str(item), "no recording files")
        groups.append(files)
    return groups


def validate_recording(
    files: Sequence[Path | str],
    *,
    variant: Variant | None = None,
    scales: Mapping[str, Scale] | None = None,
) -> RecordingValidation:
    """Validate one recording: `files` read in order as one stream (see `validate_recordings`).

    Raises:
        DataError: no file, a path missing, a file of unknown format, or files of two formats.
    """
    ordered = recording_files(files)
    if not ordered:
        raise DataError(str(files), "no recording files")
    replay = _RecordingReplay(variant, scales)
    for record in read_recording(ordered, on_issue=replay.on_issue):
        replay.feed(record)
    return replay.result(ordered, detect_format(ordered[0]))


def validate_recordings(
    paths: Recording | Iterable[Recording],
    *,
    variant: Variant | None = None,
    scales: Mapping[str, Scale] | None = None,
) -> CaptureValidation:
    """Replay each recording and check its update-id chain and rebuilt book.

    Args:
        paths: recordings: each item a file, a directory, or a list of files read as one
            stream (`group_recordings` makes such lists from a directory). A lone path is one
            recording.
        variant: sync rules for every symbol; None: USD-M for a symbol whose first depth event
            carries `pu`, spot otherwise.
        scales: per upper-case symbol, the scale to parse at (strict: a finer value is a
            `bad_payload` issue). Default: 8 decimals (exact for every Binance string) and the
            scale reported from the recording's marker, else inferred from the data.

    Returns:
        A `CaptureValidation`: per recording span, messages per kind, depth events, trades,
        gaps with positions, resyncs, snapshot checks and mismatches with evidence, crossed
        moments, read issues, verdict; totals in `to_json()["total"]`.

    Raises:
        DataError: a recording with no file, a missing path, an unknown or mixed format.
    """
    return CaptureValidation(
        tuple(
            validate_recording(files, variant=variant, scales=scales)
            for files in recording_groups(paths)
        )
    )


def _feedcheck_session(path: Path) -> str | None:
    """The `session` of our file's header (its first record), None when it has none."""
    records = read_feedcheck(path, on_issue=lambda issue: None)
    try:
        first = next(records, None)
    finally:
        records.close()  # type: ignore[attr-defined]
    if first is None or first.kind != "header":
        return None
    session = orjson.loads(first.payload).get("session")
    return session if isinstance(session, str) else None


def _consecutive_days(files: list[tuple[date, Path]]) -> list[list[Path]]:
    runs: list[list[Path]] = []
    previous: date | None = None
    for day, path in sorted(files):
        if previous is not None and (day - previous).days == 1:
            runs[-1].append(path)
        else:
            runs.append([path])
        previous = day
    return runs


def _files_below(paths: Path | str | Iterable[Path | str]) -> list[Path]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            files += (
                f
                for f in item.rglob("*")
                if f.is_file() and not any(p.startswith(".") for p in f.relative_to(item).parts)
            )
        else:
            files.append(item)
    return recording_files(files)


def group_recordings(paths: Path | str | Iterable[Path | str]) -> list[list[Path]]:
    """Group files (directories: every file below, hidden ones left out) into recordings, each
    in reading order.

    - ours: files whose header names the same capture `session` (rotation), by start time;
    - hftbacktest (`<sym>_<YYYYmmdd>.gz`): consecutive days of one symbol in one directory;
    - cryptofeed (`NAME.0`, `NAME.1`, ...): one name in one directory, by number;
    - any other file of a known format: alone.
    Files of no known format are left out with a warning (a README beside the data).

    Returns:
        Groups ordered by their first file's path.

    Raises:
        DataError: a path does not exist.
    """
    sessions: dict[tuple[str, str], list[Path]] = {}
    days: dict[tuple[str, str, str], list[tuple[date, Path]]] = {}
    numbered: dict[tuple[str, str], list[tuple[int, Path]]] = {}
    groups: list[list[Path]] = []
    for path in _files_below(paths):
        try:
            fmt = detect_format(path)
        except DataError as exc:
            log.warning("not a recording, left out: %s", exc)
            continue
        parent = str(path.parent)
        if fmt == "feedcheck":
            session = _feedcheck_session(path)
            if session is None:
                groups.append([path])
            else:
                sessions.setdefault((parent, session), []).append(path)
        elif fmt == "hftbacktest" and (m := _HBT_NAME_RE.match(path.name)):
            try:
                day = date(int(m[2][:4]), int(m[2][4:6]), int(m[2][6:]))
            except ValueError:
                groups.append([path])
                continue
            days.setdefault((parent, m[1], m[3]), []).append((day, path))
        elif fmt == "cryptofeed" and (m := _CF_NAME_RE.match(path.name)):
            numbered.setdefault((parent, m[1]), []).append((int(m[2]), path))
        else:
            groups.append([path])
    groups += sessions.values()
    for dated in days.values():
        groups += _consecutive_days(dated)
    groups += [[p for _, p in sorted(items)] for items in numbered.values()]
    return sorted(groups, key=lambda g: str(g[0]))
