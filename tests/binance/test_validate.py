"""Capture validation on the real recordings (tests/data/real): chain, carry-over, deleted line.

Expected figures are computed here from the files with plain `json` (never golden numbers).
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from pathlib import Path

import pytest

from feedcheck.binance.validate import group_recordings, validate_recordings
from feedcheck.binance.validate_result import CaptureValidation
from feedcheck.report.criteria import Status

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
SPOT = [REAL / "binance-spot/ethusdt_20240808.gz", REAL / "binance-spot/ethusdt_20240809.gz"]
USDM = [REAL / "binance-usdm/ethusdt_20240718.gz", REAL / "binance-usdm/ethusdt_20240719.gz"]
CRYPTOFEED = REAL / "cryptofeed-raw/BINANCE-ee25be.0"


@functools.cache
def hbt_lines(path: Path) -> tuple[bytes, ...]:
    with gzip.open(path, "rb") as f:
        return tuple(f.read().splitlines())


def depth_and_snapshot(paths: list[Path]) -> tuple[list[dict], int]:
    """Depth payloads of the files in order, and the one snapshot's lastUpdateId."""
    events, last_update_id = [], None
    for path in paths:
        for line in hbt_lines(path):
            obj = json.loads(line.split(b" ", 1)[1])
            if "stream" not in obj:
                last_update_id = obj["lastUpdateId"]
            elif "@depth" in obj["stream"]:
                events.append(obj["data"])
    assert last_update_id is not None
    return events, last_update_id


@functools.cache
def real_validation() -> CaptureValidation:
    return validate_recordings(group_recordings([REAL]))


class TestRealRecordings:
    def test_directory_groups_into_the_three_recordings(self) -> None:
        assert group_recordings([REAL]) == [SPOT, USDM, [CRYPTOFEED]]

    def test_every_recording_has_no_gap_and_passes(self) -> None:
        v = real_validation()
        got = [(r.label, r.gaps, r.resyncs, r.crossed, r.verdict) for r in v.recordings]
        assert got == [
            ("ethusdt_20240808.gz", 0, 0, 0, Status.PASS),
            ("ethusdt_20240718.gz", 0, 0, 0, Status.PASS),
            ("BINANCE-ee25be.0", 0, 0, 0, Status.PASS),
        ]
        assert v.to_json()["total"]["gaps"] == 0

    def test_spot_pair_is_one_stream_with_state_carried_into_0809(self) -> None:
        events, last_update_id = depth_and_snapshot(SPOT)
        (spot,) = real_validation().recordings[0].symbols
        applied = [e for e in events if e["u"] > last_update_id]  # spot: drop u <= lastUpdateId
        assert (spot.variant, spot.syncs, spot.depth_events) == ("spot", 1, len(events))
        assert spot.events_applied == len(applied) == len(events) - 2
        assert (spot.final_state, spot.last_update_id) == ("live", events[-1]["u"])
        # The scale inferred from the data: ETHUSDT spot needs 5 quantity decimals.
        assert (spot.price_decimals, spot.qty_decimals, spot.scale_source) == (2, 5, "inferred")

    def test_usdm_pair_validates_with_the_pu_rule(self) -> None:
        events, last_update_id = depth_and_snapshot(USDM)
        (usdm,) = real_validation().recordings[1].symbols
        applied = [e for e in events if e["u"] >= last_update_id]  # futures: drop u < id
        assert all(b["pu"] == a["u"] for a, b in zip(applied, applied[1:], strict=False))
        assert (usdm.variant, usdm.syncs, usdm.gaps) == ("usdm", 1, 0)
        assert usdm.events_applied == len(applied)

    def test_cryptofeed_snapshots_one_per_symbol_so_nothing_to_compare(self) -> None:
        text = CRYPTOFEED.read_text()
        per_symbol: dict[str, int] = {}
        for sym in re.findall(r"^https://\S+symbol=([A-Z]+)\S* -> ", text, flags=re.M):
            per_symbol[sym] = per_symbol.get(sym, 0) + 1
        rec = real_validation().recordings[2]
        got = {s.symbol: (s.snapshots, s.snapshots_used, s.snapshot_checks) for s in rec.symbols}
        # Every later snapshot of a symbol would be a check: n - 1 per symbol.
        assert got == {sym: (n, 1, n - 1) for sym, n in per_symbol.items()}
        assert (rec.snapshot_checks, rec.snapshot_mismatches) == (0, 0)
        assert rec.messages["snapshot"] == sum(per_symbol.values()) == 3
        assert rec.messages["connect"] == 1

    def test_deleting_one_depth_line_gives_exactly_that_gap(self, tmp_path: Path) -> None:
        lines = list(hbt_lines(SPOT[0]))
        depth_at = [n for n, line in enumerate(lines) if b"@depth" in line]
        cut = depth_at[1000]  # well after the snapshot at line 6
        deleted = json.loads(lines[cut].split(b" ", 1)[1])["data"]
        following = json.loads(lines[depth_at[1001]].split(b" ", 1)[1])["data"]
        modified = tmp_path / SPOT[0].name
        modified.write_bytes(gzip.compress(b"\n".join(lines[:cut] + lines[cut + 1 :]) + b"\n"))

        rec = validate_recordings([[modified, SPOT[1]]]).recordings[0]
        assert (rec.gaps, rec.resyncs, rec.verdict) == (1, 1, Status.FAIL)
        (gap,) = rec.gap_positions
        # The next depth line reveals it; it sits where the deleted line was (1-based).
        assert (gap.path, gap.line_no, gap.rule) == (str(modified), depth_at[1001], "continuity")
        assert (gap.first_update_id, gap.final_update_id) == (following["U"], following["u"])
        assert (gap.local_update_id, gap.expected) == (deleted["U"] - 1, deleted["U"])

    def test_json_round_trip_and_contract(self) -> None:
        v = real_validation()
        raw = json.loads(json.dumps(v.to_json()))
        assert CaptureValidation.from_json(raw) == v
        for key in ("gaps", "resyncs", "snapshot_mismatches", "crossed"):
            assert key in raw["total"]
            assert all(key in r for r in raw["recordings"])
        assert raw["total"]["recordings"] == 3
        assert raw["verdict"] == "PASS"


@pytest.mark.parametrize("bad", ["README.md", "notes.txt"])
def test_group_leaves_out_files_of_no_format(tmp_path: Path, bad: str) -> None:
    (tmp_path / bad).write_text("# not a recording\n")
    assert group_recordings([tmp_path]) == []
