"""What `validate_recordings` finds, as frozen data with a JSON form (DESIGN.md's contract).

`CaptureValidation.to_json()` carries `gaps`, `resyncs`, `snapshot_mismatches` and `crossed` per
recording and in `total`, plus everything behind them (gap positions, snapshot checks with their
first differing levels, crossed moments, read issues, per-symbol counters); `from_json` reads it
back to an equal object. Derived figures (totals, verdicts) are recomputed, never read.

Verdict of a recording: FAIL when it has a gap, a snapshot mismatch or a crossed book; else
UNKNOWN when a symbol with depth events never synced (or there was no depth at all: nothing was
validated); else PASS.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from feedcheck.report.criteria import Status

GapRule = Literal["continuity", "bracket"]
CheckMode = Literal["exact", "bracketed"]
ScaleSource = Literal["given", "marker", "inferred"]


def _plain(cls: type, raw: dict[str, Any]) -> Any:
    """A flat dataclass from its JSON dict (lists back to tuples, unknown keys ignored)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in names})


@dataclass(frozen=True, slots=True)
class GapAt:
    """One break of the update-id chain, where it was read.

    Attributes:
        rule: `continuity` (live: spot `U > local + 1`, USD-M `pu != local`) or `bracket` (the
            first event after a snapshot does not contain it).
        first_update_id, final_update_id, prev_update_id: the event's `U`, `u`, `pu` (None: spot).
        local_update_id: the book's id before the event (the snapshot's for `bracket`).
        expected: spot: the `U` that should have come (`local + 1`; for `bracket`, at most that);
            USD-M: the `pu` that should have come (`local`; for `bracket`, `U` at most that).
        recv_ns: receive time of the event, epoch ns.
    """

    path: str
    line_no: int
    symbol: str
    rule: GapRule
    first_update_id: int
    final_update_id: int
    prev_update_id: int | None
    local_update_id: int
    expected: int
    recv_ns: int


@dataclass(frozen=True, slots=True)
class LevelDiff:
    """A level where the rebuilt book and a snapshot differ; quantities as decimal text, None
    where that side holds no level at the price."""

    side: Literal["bid", "ask"]
    price: str
    book_qty: str | None
    snapshot_qty: str | None


@dataclass(frozen=True, slots=True)
class SnapshotCheck:
    """The rebuilt book compared with one later in-band snapshot (int ticks and lots).

    Attributes:
        last_update_id: the snapshot's `lastUpdateId`.
        book_update_id: the id of the book state compared: the live book's, or, for a snapshot
            the stream had gone past when it arrived, the book's rolled back to it.
        mode: `exact` (book id == lastUpdateId) or `bracketed` (the snapshot fell inside one
            event: compared after it, the `excluded_levels` that event touched left out).
        levels_compared: distinct prices compared, both sides.
        mismatches: differing levels (missing, extra or another size) within the snapshot's
            window, clipped to the prices the book knows (the synced snapshot's depth).
        first_diffs: the first differing levels, best price first, bids then asks.
    """

    path: str
    line_no: int
    symbol: str
    last_update_id: int
    book_update_id: int
    mode: CheckMode
    levels_compared: int
    excluded_levels: int
    mismatches: int
    first_diffs: tuple[LevelDiff, ...]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SnapshotCheck:
        diffs = tuple(LevelDiff(**d) for d in raw["first_diffs"])
        return _plain(cls, {**raw, "first_diffs": diffs})


@dataclass(frozen=True, slots=True)
class CrossedAt:
    """An applied event after which best bid >= best ask (prices as decimal text)."""

    path: str
    line_no: int
    symbol: str
    final_update_id: int
    best_bid: str
    best_ask: str


@dataclass(frozen=True, slots=True)
class RecordingIssue:
    """A line the validation could not use: a reader issue (`truncated`, `corrupt`,
    `bad_line`, `unknown_symbol`), a payload that does not parse (`bad_payload`), or a value
    finer than the recording's declared scale (`off_scale`). `line_no` 0: the whole file."""

    path: str
    line_no: int
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class SymbolValidation:
    """Per-symbol counters of one recording (decimals: places of the int ticks/lots).

    `scale_source` says where `price_decimals`/`qty_decimals` came from (argument, the
    recording's marker, or inferred = the finest decimals seen, `decimals_seen_*`).
    `snapshots` = used (synced from) + too_old + unused (arrived with no event buffered) +
    compared + skipped (could not be compared: the book was already past it, or was discarded
    before reaching it). `resyncs` = gap restarts + books discarded by a break marker.
    """

    symbol: str
    variant: str
    price_decimals: int
    qty_decimals: int
    scale_source: ScaleSource
    decimals_seen_price: int
    decimals_seen_qty: int
    depth_events: int
    levels: int
    trades: int
    events_applied: int
    syncs: int
    gaps: int
    resyncs: int
    snapshots: int
    snapshots_used: int
    snapshots_too_old: int
    snapshots_unused: int
    snapshot_checks: int
    snapshot_checks_skipped: int
    snapshot_mismatches: int
    crossed: int
    final_state: str
    last_update_id: int | None


_SUMMED = ("depth_events", "trades", "gaps", "resyncs", "snapshot_checks", "crossed")


@dataclass(frozen=True, slots=True)
class RecordingValidation:
    """One recording (a file, or rotated / consecutive files read as one stream).

    Attributes:
        label: name of the first file.
        files: the files, in reading order.
        format: `feedcheck`, `hftbacktest` or `cryptofeed`.
        first_recv_ns, last_recv_ns: receive-clock span, epoch ns (None: no record).
        messages: records per kind: `depth`, `trade`, `agg_trade`, `snapshot`, `other`,
            `server_shutdown`, and the markers `header`, `connect`, `disconnect`, `gap`.
        messages_by_stream: frames and snapshots per stream name.
        gap_positions: every gap (up to `MAX_LISTED`; `gaps` stays exact).
        checks: every snapshot comparison made.
        crossed_positions: the first crossed moments (`crossed` stays exact).
    """

    label: str
    files: tuple[str, ...]
    format: str
    first_recv_ns: int | None
    last_recv_ns: int | None
    messages: dict[str, int]
    messages_by_stream: dict[str, int]
    symbols: tuple[SymbolValidation, ...]
    gap_positions: tuple[GapAt, ...]
    checks: tuple[SnapshotCheck, ...]
    crossed_positions: tuple[CrossedAt, ...]
    issues: tuple[RecordingIssue, ...]

    @property
    def duration_ns(self) -> int:
        if self.first_recv_ns is None or self.last_recv_ns is None:
            return 0
        return self.last_recv_ns - self.first_recv_ns

    def _sum(self, name: str) -> int:
        return sum(getattr(s, name) for s in self.symbols)

    @property
    def depth_events(self) -> int:
        return self._sum("depth_events")

    @property
    def trades(self) -> int:
        return self._sum("trades")

    @property
    def gaps(self) -> int:
        return self._sum("gaps")

    @property
    def resyncs(self) -> int:
        return self._sum("resyncs")

    @property
    def snapshot_checks(self) -> int:
        return self._sum("snapshot_checks")

    @property
    def snapshot_mismatches(self) -> int:
        """Snapshot checks that found at least one differing level."""
        return sum(1 for c in self.checks if c.mismatches)

    @property
    def crossed(self) -> int:
        return self._sum("crossed")

    @property
    def synced(self) -> bool:
        """Every symbol with depth events went live at least once (and there was one)."""
        depth = [s for s in self.symbols if s.depth_events]
        return bool(depth) and all(s.syncs for s in depth)

    @property
    def verdict(self) -> Status:
        if self.gaps or self.snapshot_mismatches or self.crossed:
            return Status.FAIL
        return Status.PASS if self.synced else Status.UNKNOWN

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": self.label,
            "files": list(self.files),
            "format": self.format,
            "verdict": self.verdict.value,
            "first_recv_ns": self.first_recv_ns,
            "last_recv_ns": self.last_recv_ns,
            "duration_ns": self.duration_ns,
            **{name: getattr(self, name) for name in _SUMMED},
            "snapshot_mismatches": self.snapshot_mismatches,
            "synced": self.synced,
            "messages": dict(self.messages),
            "messages_by_stream": dict(self.messages_by_stream),
        }
        for name in ("symbols", "gap_positions", "checks", "crossed_positions", "issues"):
            out[name] = [asdict(item) for item in getattr(self, name)]
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RecordingValidation:
        return cls(
            label=raw["label"],
            files=tuple(raw["files"]),
            format=raw["format"],
            first_recv_ns=raw["first_recv_ns"],
            last_recv_ns=raw["last_recv_ns"],
            messages=dict(raw["messages"]),
            messages_by_stream=dict(raw["messages_by_stream"]),
            symbols=tuple(_plain(SymbolValidation, s) for s in raw["symbols"]),
            gap_positions=tuple(_plain(GapAt, g) for g in raw["gap_positions"]),
            checks=tuple(SnapshotCheck.from_json(c) for c in raw["checks"]),
            crossed_positions=tuple(_plain(CrossedAt, c) for c in raw["crossed_positions"]),
            issues=tuple(_plain(RecordingIssue, i) for i in raw["issues"]),
        )


@dataclass(frozen=True, slots=True)
class CaptureValidation:
    """Every recording validated in one run; `verdict` folds theirs (FAIL > UNKNOWN > PASS;
    UNKNOWN with no recording)."""

    recordings: tuple[RecordingValidation, ...]

    @classmethod
    def merge(cls, parts: list[CaptureValidation]) -> CaptureValidation:
        """One validation holding the recordings of `parts`, in order."""
        return cls(tuple(r for p in parts for r in p.recordings))

    @property
    def verdict(self) -> Status:
        statuses = {r.verdict for r in self.recordings}
        if Status.FAIL in statuses:
            return Status.FAIL
        if not statuses or Status.UNKNOWN in statuses:
            return Status.UNKNOWN
        return Status.PASS

    def total(self) -> dict[str, Any]:
        """Sums over the recordings: `gaps`, `resyncs`, `snapshot_mismatches`, `crossed`, ..."""
        recs = self.recordings
        out: dict[str, Any] = {"recordings": len(recs), "verdict": self.verdict.value}
        for name in (*_SUMMED, "snapshot_mismatches", "duration_ns"):
            out[name] = sum(getattr(r, name) for r in recs)
        out["issues"] = sum(len(r.issues) for r in recs)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "total": self.total(),
            "recordings": [r.to_json() for r in self.recordings],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> CaptureValidation:
        return cls(tuple(RecordingValidation.from_json(r) for r in raw["recordings"]))
