"""Capture validation on small recordings written with `RecordingWriter`: snapshot checks,
crossed books, break markers, rotation, declared scales, and the report rendering.

A `Market` keeps the true book of the test (a dict per side) so every snapshot written is the
exchange's state at its `lastUpdateId`, unless a test corrupts it on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from feedcheck.binance.book import Book
from feedcheck.binance.recording_writer import RecordingOptions, RecordingWriter
from feedcheck.binance.validate import group_recordings, validate_recordings
from feedcheck.binance.validate_result import CaptureValidation, LevelDiff, RecordingValidation
from feedcheck.binance.validate_symbol import side_diffs
from feedcheck.report.capture import capture_validation_markdown, capture_validation_rows
from feedcheck.report.criteria import Status

T0 = 1_700_000_000_000_000_000  # recv ns of the first record
MS = 1_000_000
SYMBOL = "BTCUSDT"


class Market:
    """One symbol's exchange side: emits depth frames with a continuous U/u chain."""

    def __init__(self, writer: RecordingWriter) -> None:
        self.w = writer
        self.bids: dict[str, str] = {"100.00": "1.000", "99.50": "2.000", "99.00": "3.000"}
        self.asks: dict[str, str] = {"100.50": "1.500", "101.00": "2.500", "102.00": "0.100"}
        self.u = 10
        self.t = T0

    def tick(self) -> int:
        self.t += 100 * MS
        return self.t

    def depth(
        self, bids: list[list[str]], asks: list[list[str]], ids: int = 2, skip: int = 0
    ) -> dict[str, Any]:
        """Apply levels and record one event covering `ids` update ids (`skip` ids missed)."""
        first = self.u + 1 + skip
        self.u = first + ids - 1
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, qty in levels:
                if float(qty) == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        data = {
            "e": "depthUpdate",
            "E": self.t // MS,
            "s": SYMBOL,
            "U": first,
            "u": self.u,
            "b": bids,
            "a": asks,
        }
        self.w.write_frame(self.tick(), json.dumps({"stream": "btcusdt@depth@100ms", "data": data}))
        return data

    def state(self) -> tuple[dict[str, str], dict[str, str], int]:
        """The exchange's book now, to answer a REST request that arrives later."""
        return dict(self.bids), dict(self.asks), self.u

    def snapshot(
        self,
        last_update_id: int | None = None,
        corrupt: bool = False,
        state: tuple[dict[str, str], dict[str, str], int] | None = None,
    ) -> None:
        book_bids, book_asks, u = state if state is not None else (self.bids, self.asks, self.u)
        bids = sorted(book_bids.items(), key=lambda kv: -float(kv[0]))
        asks = sorted(book_asks.items(), key=lambda kv: float(kv[0]))
        body = {
            "lastUpdateId": u if last_update_id is None else last_update_id,
            "bids": [list(x) for x in bids],
            "asks": [list(x) for x in asks],
        }
        if corrupt:
            body["bids"][1] = [body["bids"][1][0], "7.000"]
        self.w.write_snapshot(self.tick(), SYMBOL, json.dumps(body))

    def marker(self, kind: str, **fields: Any) -> None:
        self.w.write_marker(self.tick(), kind, **fields)  # type: ignore[arg-type]


def record(tmp_path: Path, script: Any, **options: Any) -> list[Path]:
    opts = RecordingOptions(tmp_path, prefix="test", symbols=(SYMBOL,), compression="gz", **options)
    with RecordingWriter(opts, session="s1") as writer:
        script(Market(writer))
    return sorted(tmp_path.glob("*.ndjson.gz"))


def synced(m: Market) -> None:
    """First event buffered, snapshot at its u (so it is dropped), next event brackets it."""
    m.depth([["100.00", "1.100"]], [])
    m.snapshot()
    m.depth([["99.50", "2.200"]], [["101.00", "2.600"]])


def validate_one(files: list[Path]) -> RecordingValidation:
    (rec,) = validate_recordings([files]).recordings
    return rec


class TestSnapshotChecks:
    def test_matching_later_snapshot_passes_and_a_corrupted_level_is_one_mismatch(
        self, tmp_path: Path
    ) -> None:
        def script(m: Market) -> None:
            synced(m)
            m.depth([["100.00", "0.000"]], [["100.50", "1.400"]])
            m.snapshot()  # the true book at the last u: must match
            m.depth([["99.80", "0.500"]], [])
            m.snapshot(corrupt=True)  # bid level 2 (99.50) says 7.000, the book holds 2.200

        rec = validate_one(record(tmp_path, script))
        exact = [(c.mode, c.mismatches, c.levels_compared) for c in rec.checks]
        assert exact == [("exact", 0, 5), ("exact", 1, 6)]
        assert rec.checks[1].first_diffs == (LevelDiff("bid", "99.5", "2.2", "7"),)
        assert (rec.snapshot_checks, rec.snapshot_mismatches, rec.gaps) == (2, 1, 0)
        assert rec.verdict is Status.FAIL

    def test_snapshot_inside_an_event_is_compared_after_it_without_its_levels(
        self, tmp_path: Path
    ) -> None:
        def script(m: Market) -> None:
            synced(m)
            m.snapshot(last_update_id=m.u + 2)  # falls inside the next event (4 ids)
            m.depth([["99.00", "3.300"]], [["102.00", "0.200"]], ids=4)

        rec = validate_one(record(tmp_path, script))
        ((mode, excluded, mismatches),) = [
            (c.mode, c.excluded_levels, c.mismatches) for c in rec.checks
        ]
        assert (mode, excluded, mismatches) == ("bracketed", 2, 0)
        assert rec.verdict is Status.PASS

    def test_snapshot_the_book_has_passed_is_compared_as_the_book_was(self, tmp_path: Path) -> None:
        """A REST answer that arrives after three more events (and one that arrives after six,
        corrupted) is compared with the book rolled back to its lastUpdateId."""

        def script(m: Market) -> None:
            synced(m)
            m.depth([["99.80", "0.500"]], [])
            asked = m.state()
            m.depth([["99.80", "0.000"], ["100.00", "4.000"]], [["100.70", "1.000"]])
            m.depth([["99.50", "2.900"]], [["101.00", "0.000"]])
            m.depth([["100.00", "0.000"]], [["100.50", "0.300"]])
            m.snapshot(state=asked)  # exact at an earlier event's end
            again = m.state()
            m.depth([["99.50", "0.000"]], [["100.70", "0.000"]])
            m.depth([["99.40", "1.000"]], [], ids=3)
            m.snapshot(last_update_id=again[2] - 1, state=again)  # inside an event, 2 back
            m.snapshot(state=again, corrupt=True)  # bid level 2 says 7.000

        rec = validate_one(record(tmp_path, script))
        assert [(c.mode, c.mismatches, c.excluded_levels) for c in rec.checks] == [
            ("exact", 0, 0),
            ("bracketed", 0, 2),
            ("exact", 1, 0),
        ]
        assert [c.book_update_id for c in rec.checks] == [
            c.last_update_id if c.mode == "exact" else c.last_update_id + 1 for c in rec.checks
        ]
        assert rec.checks[2].first_diffs[0].snapshot_qty == "7"
        (sym,) = rec.symbols
        assert (sym.snapshot_checks, sym.snapshot_checks_skipped) == (3, 0)

    def test_snapshot_before_the_sync_or_the_window_is_skipped(
        self, tmp_path: Path, monkeypatch
    ) -> None:
        def script(m: Market) -> None:
            synced(m)
            first = m.state()
            for i in range(4):
                m.depth([["99.80", f"0.{i + 1}00"]], [])
            m.snapshot(state=first)  # 4 events back: inside a window of 4, outside one of 3
            m.snapshot(last_update_id=first[2] - 3, state=first)  # before the synced snapshot

        (tmp_path / "4").mkdir()
        (tmp_path / "3").mkdir()
        monkeypatch.setattr("feedcheck.binance.validate_symbol.ROLLBACK_EVENTS", 4)
        (sym,) = validate_one(record(tmp_path / "4", script)).symbols
        assert (sym.snapshot_checks, sym.snapshot_mismatches, sym.snapshot_checks_skipped) == (
            1,
            0,
            1,
        )
        monkeypatch.setattr("feedcheck.binance.validate_symbol.ROLLBACK_EVENTS", 3)
        (sym,) = validate_one(record(tmp_path / "3", script)).symbols
        assert (sym.snapshot_checks, sym.snapshot_checks_skipped) == (0, 2)

    def test_side_diffs_agrees_with_book_snapshot_mismatches(self) -> None:
        book = Book()
        book.load([(100, 1), (99, 2), (98, 3), (90, 4)], [(101, 1), (103, 2)])
        bids, asks = ((100, 1), (99, 5), (97, 1)), ((101, 1), (102, 1))
        n_bid = len(side_diffs(book.bids, bids, None, set())[1])
        n_ask = len(side_diffs(book.asks, asks, None, set())[1])
        assert n_bid + n_ask == book.snapshot_mismatches(bids, asks) == 4


class TestBookFindings:
    def test_crossed_book_is_counted_with_its_position(self, tmp_path: Path) -> None:
        def script(m: Market) -> None:
            synced(m)
            m.depth([["100.60", "0.100"]], [])  # bid above the best ask 100.50
            m.depth([["100.60", "0.000"]], [])

        files = record(tmp_path, script)
        rec = validate_one(files)
        assert (rec.crossed, rec.gaps, rec.verdict) == (1, 0, Status.FAIL)
        (at,) = rec.crossed_positions
        assert (at.line_no, at.best_bid, at.best_ask) == (5, "100.6", "100.5")

    def test_disconnect_discards_the_book_resync_counted_no_false_gap(self, tmp_path: Path) -> None:
        def script(m: Market) -> None:
            synced(m)
            m.marker("disconnect", reason="test")
            m.marker("connect", url="ws://test")
            m.depth([["99.00", "3.100"]], [], skip=50)  # ids missed while away: not a gap
            m.snapshot()
            m.depth([["99.00", "3.200"]], [])

        rec = validate_one(record(tmp_path, script))
        (sym,) = rec.symbols
        assert (sym.gaps, sym.resyncs, sym.syncs, sym.snapshots_used) == (0, 1, 2, 2)
        assert rec.messages == {
            "connect": 1,
            "depth": 4,
            "disconnect": 1,
            "header": 1,
            "snapshot": 2,
        }
        assert rec.verdict is Status.PASS

    def test_our_gap_marker_breaks_the_book_too(self, tmp_path: Path) -> None:
        def script(m: Market) -> None:
            synced(m)
            m.marker("gap", reason="overflow", dropped=3)
            m.depth([["99.00", "3.100"]], [], skip=6)

        (sym,) = validate_one(record(tmp_path, script)).symbols
        assert (sym.gaps, sym.resyncs, sym.final_state) == (0, 1, "buffering")

    def test_the_disconnect_marker_of_a_clean_stop_is_not_a_resync(self, tmp_path: Path) -> None:
        def script(m: Market) -> None:
            synced(m)
            m.marker("disconnect", reason="duration")

        (sym,) = validate_one(record(tmp_path, script)).symbols
        assert (sym.gaps, sym.resyncs) == (0, 0)

    def test_a_gap_without_a_marker_is_found_and_resynced_from_the_next_snapshot(
        self, tmp_path: Path
    ) -> None:
        def script(m: Market) -> None:
            synced(m)
            m.depth([["99.00", "3.100"]], [], skip=3)
            m.snapshot()
            m.depth([["99.00", "3.200"]], [])

        rec = validate_one(record(tmp_path, script))
        (gap,) = rec.gap_positions
        assert (gap.line_no, gap.rule, gap.expected, gap.first_update_id) == (
            5,
            "continuity",
            15,
            18,
        )
        (sym,) = rec.symbols
        assert (sym.gaps, sym.resyncs, sym.syncs, sym.final_state) == (1, 1, 2, "live")


class TestFilesAndScales:
    def test_rotated_files_are_one_recording_with_state_carried(self, tmp_path: Path) -> None:
        def script(m: Market) -> None:
            synced(m)
            for _ in range(15):  # 1.5 s at 100 ms per event: crosses a 1 s rotation
                m.depth([["99.00", "3.300"]], [])

        files = record(tmp_path, script, rotate_interval_ns=1_000_000_000)
        assert len(files) == 2
        assert group_recordings([tmp_path]) == [files]
        rec = validate_one(files)
        (sym,) = rec.symbols
        assert (sym.syncs, sym.gaps, sym.events_applied, rec.messages["header"]) == (1, 0, 16, 2)

    def test_scale_declared_by_a_marker_is_reported_and_a_finer_value_flagged(
        self, tmp_path: Path
    ) -> None:
        def script(m: Market) -> None:
            # As the capture writes it: exchangeInfo steps plus its own parse decimals.
            steps = {"tick_size": "0.01000000", "step_size": "0.01000000"}
            declared = {SYMBOL: {**steps, "price_decimals": 8, "qty_decimals": 8}}
            m.marker("connect", url="ws://t", instruments=declared)
            synced(m)
            m.depth([["99.99", "0.125"]], [])  # 3 quantity decimals under a 0.01 step

        rec = validate_one(record(tmp_path, script))
        (sym,) = rec.symbols
        assert (sym.price_decimals, sym.qty_decimals, sym.scale_source) == (2, 2, "marker")
        assert (sym.decimals_seen_price, sym.decimals_seen_qty) == (2, 3)
        assert [i.kind for i in rec.issues] == ["off_scale"]

    def test_report_rows_and_markdown(self, tmp_path: Path) -> None:
        def script(m: Market) -> None:
            synced(m)
            m.depth([["99.00", "3.100"]], [], skip=3)

        v = validate_recordings([record(tmp_path, script)])
        (row,) = capture_validation_rows(v)
        assert {k: row[k] for k in ("verdict", "gaps", "resyncs", "crossed", "depth_events")} == {
            "verdict": "FAIL",
            "gaps": 1,
            "resyncs": 1,
            "crossed": 0,
            "depth_events": 3,
        }
        text = capture_validation_markdown(v)
        assert text.startswith("# Capture validation: FAIL")
        assert "gap (continuity) BTCUSDT at " in text and "expected 15" in text
        assert CaptureValidation.from_json(json.loads(json.dumps(v.to_json()))) == v
