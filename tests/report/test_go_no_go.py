"""The go/no-go judgement without Prefect: thresholds, every criterion from real results, the
verdict fold, recommendations, the report files.

Origin-time evidence is `small_result` (tests/report/conftest.py: trades with one null origin per
day and a negative skew every 97th row); capture evidence is the validation of the real
recordings in tests/data/real (three folders, so three "regimes"); the spike's is built from
criteria with known values, since the spike's own tests cover how those are measured.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from feedcheck.binance.validate import group_recordings, validate_recordings
from feedcheck.errors import ConfigError, DataError
from feedcheck.report.criteria import CriterionResult, Status
from feedcheck.report.go_no_go import (
    GO,
    NO_GO,
    EpicCriterion,
    Evidence,
    GoNoGoReport,
    Step,
    StepRun,
    StepStatus,
    evaluate,
    regime_of,
)
from feedcheck.report.go_no_go_files import (
    RESULT_FILES,
    latest_result,
    read_result,
    report_images,
    write_report,
)
from feedcheck.report.go_no_go_render import go_no_go_markdown, go_no_go_table_rows, headroom
from feedcheck.report.plots import PNG_SIGNATURE
from feedcheck.report.spike import SpikeCheck, SpikeResult
from feedcheck.report.thresholds import GoNoGoThresholds, load_thresholds

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
PLAN = GoNoGoThresholds()
KEYS = [
    "origin_missing",
    "skew_p95",
    "timestamp_strategy",
    "captures_complete",
    "capture_gaps",
    "book_state",
    "delta_gap_ratio",
    "memory_p95",
    "throughput",
    "decimals",
    "io_month",
]


def by_key(report: GoNoGoReport) -> dict[str, CriterionResult]:
    return {c.key: c.result for c in report.criteria}


@pytest.fixture(scope="module")
def real_captures():
    return validate_recordings(group_recordings([REAL]))


def spike(
    gap_pct: float = 0.0,
    p95_bytes: int = 300 * 2**20,
    events_per_s: float = 2e7,
    decimals: Status = Status.PASS,
    io_mb_s: float = 15.0,
) -> SpikeResult:
    def check(name: str, value, unit: str = "") -> SpikeCheck:
        return SpikeCheck(name, (CriterionResult(name, Status.PASS, value, None, "m", unit),))

    return SpikeResult(
        "synthetic",
        (
            check("gaps", gap_pct, "%"),
            check("memory", p95_bytes, "bytes"),
            check("throughput", events_per_s, "events/s"),
            SpikeCheck("decimals", (CriterionResult("d", decimals, None, None, "both"),)),
            check("io", io_mb_s, "MB/s"),
        ),
    )


class TestThresholds:
    def test_defaults_are_the_plans(self):
        assert (PLAN.origin_missing_invalid_max_pct, PLAN.skew_p95_max_ms) == (5.0, 100.0)
        assert (PLAN.capture_regimes, PLAN.capture_min_hours, PLAN.capture_max_gaps) == (3, 24, 0)
        assert (PLAN.delta_gap_ratio_max_pct, PLAN.memory_p95_max_gib) == (0.1, 24.0)
        assert (PLAN.throughput_min_events_per_s, PLAN.io_month_gb) == (100_000, 220)

    def test_file_then_overrides(self, tmp_path):
        path = tmp_path / "t.yaml"
        path.write_text("memory_p95_max_gib: 16\ncapture_regimes: 2.0\n")
        t = load_thresholds(path, {"memory_p95_max_gib": 12, "skew_p95_max_ms": None})
        assert (t.memory_p95_max_gib, t.capture_regimes, t.skew_p95_max_ms) == (12, 2, 100.0)
        assert isinstance(t.capture_regimes, int)

    @pytest.mark.parametrize(
        "text, message",
        [
            ("memory_gb: 16\n", "unknown go/no-go threshold memory_gb"),
            ("- 1\n", "must hold a mapping"),
            ("skew_p95_max_ms: fast\n", "must be a number"),
            ("skew_p95_max_ms: -1\n", "must be finite and >= 0"),
            ("capture_regimes: 2.5\n", "must be a whole number"),
            ("a: [\n", "is not YAML"),
        ],
    )
    def test_bad_file_names_the_file_and_the_key(self, tmp_path, text, message):
        path = tmp_path / "t.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=message) as err:
            load_thresholds(path)
        assert str(path) in str(err.value)

    def test_missing_file(self, tmp_path):
        with pytest.raises(ConfigError, match="thresholds file .*nope.yaml"):
            load_thresholds(tmp_path / "nope.yaml")


class TestVerdict:
    def _report(self, *statuses: Status) -> GoNoGoReport:
        criteria = tuple(
            EpicCriterion(f"k{i}", "1.1", Step.ORIGIN_TIME, CriterionResult("c", s, 1, 2, "e"))
            for i, s in enumerate(statuses)
        )
        return GoNoGoReport(criteria, PLAN, ())

    def test_all_pass_is_go(self):
        assert self._report(Status.PASS, Status.PASS).verdict == GO

    def test_any_fail_is_no_go(self):
        assert self._report(Status.PASS, Status.FAIL).verdict == NO_GO

    def test_unknown_is_no_go(self):
        assert self._report(Status.PASS, Status.UNKNOWN).verdict == NO_GO

    def test_nothing_judged_is_no_go(self):
        assert self._report().verdict == NO_GO

    def test_no_evidence_at_all_leaves_every_criterion_unknown(self):
        report = evaluate(Evidence(), PLAN)
        assert [c.key for c in report.criteria] == KEYS
        assert {c.result.status for c in report.criteria} == {Status.UNKNOWN}
        assert report.verdict == NO_GO
        assert by_key(report)["skew_p95"].evidence == "origin-time did not run"

    def test_a_failed_child_names_its_error(self):
        failed = StepRun(Step.SPIKE, StepStatus.FAILED, "ConfigError: hours must be > 0")
        report = evaluate(Evidence(steps=(failed,)), PLAN)
        throughput = by_key(report)["throughput"]
        assert throughput.status is Status.UNKNOWN
        assert throughput.evidence == "validation-spike failed: ConfigError: hours must be > 0"


class TestOriginTime:
    def test_worst_stream_against_the_threshold(self, small_result):
        missing = by_key(evaluate(Evidence(origin_time=small_result), PLAN))["origin_missing"]
        # trades: one null origin_time on each of 2 days of 3,000 rows; book_delta_v2: none
        assert missing.value == pytest.approx(100 * 2 / 6_000)
        assert missing.status is Status.PASS
        strict = PLAN.with_overrides({"origin_missing_invalid_max_pct": 0.01})
        again = by_key(evaluate(Evidence(origin_time=small_result), strict))["origin_missing"]
        assert (again.status, again.threshold) == (Status.FAIL, 0.01)

    def test_negative_skew_fails_whatever_the_p95_limit(self, small_result):
        # A negative skew on every 97th row is ~1 % of rows, above the analysis' 0.1 % tolerance.
        loose = PLAN.with_overrides({"skew_p95_max_ms": 10_000})
        skew = by_key(evaluate(Evidence(origin_time=small_result), loose))["skew_p95"]
        assert skew.status is Status.FAIL
        assert skew.unit == "ms" and skew.threshold == 10_000
        expected_ms = max(s.skew.p95_ns for s in small_result.streams) / 1e6
        assert skew.value == pytest.approx(expected_ms, abs=1e-3)
        assert "received_time is before origin_time on 1.03 % of rows" in skew.evidence

    def test_strategy_is_stated_per_stream(self, small_result):
        strategy = by_key(evaluate(Evidence(origin_time=small_result), PLAN))["timestamp_strategy"]
        assert strategy.status is Status.PASS
        assert all(s.key in strategy.evidence for s in small_result.streams)


class TestCaptures:
    def test_folders_are_regimes_and_spans_decide_completeness(self, real_captures):
        evidence = Evidence(captures=real_captures, capture_root=str(REAL))
        regimes = {regime_of(r, str(REAL)) for r in real_captures.recordings}
        assert regimes == {"binance-spot", "binance-usdm", "cryptofeed-raw"}
        shortest_h = min(r.duration_ns for r in real_captures.recordings) / 3.6e12
        complete = by_key(evaluate(evidence, PLAN))["captures_complete"]
        assert (complete.status, complete.value, complete.threshold) == (Status.FAIL, 0, 3)
        enough = PLAN.with_overrides({"capture_min_hours": shortest_h})
        complete = by_key(evaluate(evidence, enough))["captures_complete"]
        assert (complete.status, complete.value) == (Status.PASS, 3)
        fewer = enough.with_overrides({"capture_regimes": 4})
        assert by_key(evaluate(evidence, fewer))["captures_complete"].status is Status.FAIL

    def test_gap_free_recordings_pass_and_one_deleted_line_fails(self, real_captures, tmp_path):
        report = evaluate(Evidence(captures=real_captures, capture_root=str(REAL)), PLAN)
        assert by_key(report)["capture_gaps"].status is Status.PASS
        spot = REAL / "binance-spot/ethusdt_20240808.gz"
        with gzip.open(spot, "rb") as f:
            lines = f.read().splitlines()
        cut = [n for n, line in enumerate(lines) if b"@depth" in line][500]
        (tmp_path / "spot").mkdir()
        damaged = tmp_path / "spot" / spot.name
        damaged.write_bytes(gzip.compress(b"\n".join(lines[:cut] + lines[cut + 1 :]) + b"\n"))
        validation = validate_recordings(group_recordings([tmp_path]))
        gaps = by_key(evaluate(Evidence(captures=validation, capture_root=str(tmp_path)), PLAN))
        assert (gaps["capture_gaps"].status, gaps["capture_gaps"].value) == (Status.FAIL, 1)
        assert "ethusdt_20240808.gz 1" in gaps["capture_gaps"].evidence
        assert gaps["book_state"].status is Status.UNKNOWN  # one snapshot: nothing to compare

    def test_book_state_needs_a_later_snapshot(self, real_captures):
        book = by_key(evaluate(Evidence(captures=real_captures), PLAN))["book_state"]
        assert sum(r.snapshot_checks for r in real_captures.recordings) == 0
        assert book.status is Status.UNKNOWN
        assert "no later snapshot" in book.evidence

    def test_no_recording_is_unknown(self, tmp_path):
        empty = validate_recordings([])
        report = evaluate(Evidence(captures=empty, capture_root=str(tmp_path)), PLAN)
        for key in ("captures_complete", "capture_gaps", "book_state"):
            assert by_key(report)[key].status is Status.UNKNOWN
            assert str(tmp_path) in by_key(report)[key].evidence


class TestSpike:
    def test_measured_values_are_judged_with_these_thresholds(self):
        got = by_key(evaluate(Evidence(spike=spike()), PLAN))
        assert all(got[k].status is Status.PASS for k in KEYS[6:])
        assert got["memory_p95"].value == pytest.approx(300 / 1024, abs=1e-3)
        assert got["io_month"].threshold == pytest.approx(220e9 / (30 * 86_400) / 1e6, abs=1e-4)
        strict = PLAN.with_overrides(
            {"memory_p95_max_gib": 0.25, "throughput_min_events_per_s": 3e7, "io_month_gb": 1e5}
        )
        got = by_key(evaluate(Evidence(spike=spike()), strict))
        assert [got[k].status for k in ("memory_p95", "throughput", "io_month")] == [
            Status.FAIL
        ] * 3

    def test_gap_ratio_at_the_limit_fails(self):
        got = by_key(evaluate(Evidence(spike=spike(gap_pct=0.1)), PLAN))
        assert got["delta_gap_ratio"].status is Status.FAIL

    def test_decimals_pass_or_fail_as_measured(self):
        got = by_key(evaluate(Evidence(spike=spike(decimals=Status.FAIL)), PLAN))
        assert (got["decimals"].status, got["decimals"].value) == (Status.FAIL, "no")

    def test_a_check_that_could_not_run_is_unknown_with_its_error(self):
        broken = SpikeResult(
            "x",
            (
                SpikeCheck(
                    "memory",
                    (CriterionResult("m", Status.UNKNOWN, None, None, "could not run: boom"),),
                    error="boom",
                ),
            ),
        )
        got = by_key(evaluate(Evidence(spike=broken), PLAN))
        assert got["memory_p95"].status is Status.UNKNOWN
        assert got["throughput"].evidence == "the spike ran no throughput check"


class TestReport:
    @pytest.fixture
    def report(self, small_result, real_captures):
        lenient = PLAN.with_overrides({"capture_min_hours": 0.001})
        return evaluate(
            Evidence(small_result, spike(), real_captures, str(REAL)),
            lenient,
            provenance={"Lake data": "hand-written tree"},
            machine={"cpu": "test", "versions": {"polars": "2.1.0"}},
        )

    def test_before_epic2_lists_what_did_not_pass(self, report):
        advice = dict(report.recommendations)
        assert set(advice) == {
            "timestamp strategy",
            "decimal strategy",
            "memory approach",
            "before Epic 2",
        }
        failing = [c.result.name for c in report.criteria if c.result.status is not Status.PASS]
        assert failing == ["received − origin skew, p95", "order-book state validated"]
        assert all(name in advice["before Epic 2"] for name in failing)
        assert "vendor clock sync" in advice["timestamp strategy"]

    def test_json_round_trip(self, report):
        raw = json.loads(json.dumps(report.to_json()))
        assert GoNoGoReport.from_json(raw) == report
        assert raw["verdict"] == NO_GO
        assert raw["counts"] == {"PASS": 9, "FAIL": 1, "UNKNOWN": 1}

    def test_markdown_leads_with_the_verdict_and_has_every_criterion(self, report):
        md = go_no_go_markdown(report, {"headroom": "data:image/png;base64,AAAA"})
        assert md.splitlines()[0] == "# Epic 1 go/no-go: **NO-GO (9 PASS · 1 FAIL · 1 UNKNOWN)**"
        assert all(f"| {c.result.name} |" in md for c in report.criteria)
        assert "![headroom](data:image/png;base64,AAAA)" in md
        assert [r["status"] for r in go_no_go_table_rows(report)] == [
            c.result.status.value for c in report.criteria
        ]

    def test_headroom_is_the_factor_to_the_limit(self, report):
        got = {c.key: headroom(c) for c in report.criteria}
        assert got["throughput"] == pytest.approx(2e7 / 1e5)
        assert got["memory_p95"] == pytest.approx(24 / round(300 / 1024, 3))
        assert got["capture_gaps"] is None  # zero on both sides: no ratio

    def test_files_are_written_and_read_back(self, report, tmp_path):
        files = write_report(report, tmp_path, report_images(report, {}))
        assert json.loads(files["json"].read_text()) == report.to_json()
        assert files["markdown"].read_text().startswith("# Epic 1 go/no-go")
        png = tmp_path / "go-no-go-headroom.png"
        assert png.read_bytes().startswith(PNG_SIGNATURE)
        assert not list(tmp_path.glob("*.part"))


class TestResultFiles:
    def test_latest_is_newest_outside_the_excluded_folder(self, tmp_path):
        old, new, mine = (tmp_path / d / "spike.json" for d in ("a", "b", "mine"))
        for i, path in enumerate((old, new, mine)):
            path.parent.mkdir()
            path.write_text(json.dumps(spike().to_json()))
            ns = 1_700_000_000_000_000_000 + i * 10**9
            import os

            os.utime(path, ns=(ns, ns))
        assert latest_result(tmp_path, Step.SPIKE, exclude=tmp_path / "mine") == new
        assert latest_result(tmp_path, Step.SPIKE) == mine
        assert latest_result(tmp_path / "none", Step.SPIKE) is None
        assert read_result(Step.SPIKE, new) == spike()

    def test_a_wrong_file_is_a_data_error_naming_it(self, tmp_path):
        path = tmp_path / RESULT_FILES[Step.ORIGIN_TIME]
        path.write_text('{"verdict": "PASS"}')
        with pytest.raises(DataError, match="not a origin-time result") as err:
            read_result(Step.ORIGIN_TIME, path)
        assert err.value.path == path


def test_shipped_threshold_files_match_the_plan():
    config = Path(__file__).resolve().parents[2] / "config"
    assert load_thresholds(config / "thresholds.yaml") == PLAN
    small = load_thresholds(config / "thresholds-small-host.yaml")
    assert small == PLAN.with_overrides({"memory_p95_max_gib": 16})
