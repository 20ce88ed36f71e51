"""Verification snapshots: the capture records extra REST snapshots while a book is live, and
`validate-capture` proves the rebuilt book against them (the go/no-go's "order-book state
validated").

Real sockets against the simulator, manual exchange clock (see test_capture.py): between two
ticks the test waits until every frame is recorded and no fetch (sync or verification) is in
flight, so a verification snapshot is always served at a `lastUpdateId` whose events reach the
recording before the next tick: every one of them can be compared exactly, none is skipped.
Ground truth: the simulator's REST log and its injected faults.
"""

from __future__ import annotations

import inspect
import json
from decimal import Decimal
from pathlib import Path

import pytest

from feedcheck import cli
from feedcheck.binance.capture import CaptureConfig, CaptureSummary
from feedcheck.binance.capture_config import (
    DEFAULT_VERIFY_SNAPSHOT_INTERVAL_S,
    VERIFY_WEIGHT_SHARE,
)
from feedcheck.binance.sim_faults import FaultSpec
from feedcheck.binance.simulator import Simulator
from feedcheck.binance.validate import validate_recordings
from feedcheck.binance.validate_result import CaptureValidation
from feedcheck.binance.venue import REQUEST_WEIGHT_PER_MIN
from feedcheck.errors import ConfigError
from feedcheck.report.criteria import Status
from feedcheck.report.go_no_go import Evidence, capture_criteria
from feedcheck.report.thresholds import GoNoGoThresholds
from tests.binance.test_capture import SYMBOL, Run, kinds, records, scenario, wait_until

#: Verification every 0.1 s at limit 100 (weight 5): 3000 weight/min, exactly the share allowed.
INTERVAL_S = 0.1
LIMIT = 100
#: Rounds of "move the exchange, then wait for a verification at the new id".
ROUNDS = 4
TICKS_PER_ROUND = 5


async def verified_rounds(run: Run, rounds: int = ROUNDS) -> None:
    """Each round moves the exchange, then waits for one more verification recorded at rest."""
    session = run.session
    for _ in range(rounds):
        await run.tick(TICKS_PER_ROUND)
        wanted = session.verify_snapshots + 1
        await wait_until(lambda n=wanted: session.verify_snapshots >= n and not session.fetching,
                         "a verification snapshot recorded")  # fmt: skip


def served_ids(sim: Simulator) -> list[int]:
    """lastUpdateId of every 200 depth response, in the order served."""
    return [r.last_update_id for r in sim.log.rest_responses(SYMBOL, 200)]


def recorded_snapshot_ids(out_dir: Path) -> list[int]:
    recs, issues = records(out_dir)
    assert issues == []
    return [r.json()["lastUpdateId"] for r in recs if r.kind == "snapshot"]


def assert_recorded_as_served(sim: Simulator, out_dir: Path, discarded: int = 0) -> list[int]:
    """The recording holds the served bodies' ids in order; at most one more was served than
    recorded (and discarded): a verification cut off by the stop. Returns the recorded ids."""
    recorded = recorded_snapshot_ids(out_dir)
    served = served_ids(sim)
    assert len(recorded) + discarded <= len(served) <= len(recorded) + discarded + 1
    return recorded


def book_state(validation: CaptureValidation, root: Path) -> Status:
    evidence = Evidence(captures=validation, capture_root=str(root))
    [book] = [c for c in capture_criteria(evidence, GoNoGoThresholds()) if c.key == "book_state"]
    return book.result.status


@pytest.mark.asyncio
class TestVerificationSnapshots:
    async def test_recorded_in_band_and_each_one_checked(self, simulator_config, tmp_path):
        async with Simulator(simulator_config()) as sim:
            run = await Run(sim, tmp_path, snapshot_limit=LIMIT,
                            verify_snapshot_interval_s=INTERVAL_S).start()  # fmt: skip
            await verified_rounds(run)
            assert run.book_matches_exchange()  # the sync never saw them
            summary: CaptureSummary = await run.finish()
        verified = summary.verify_snapshots
        assert verified >= ROUNDS and summary.verify_snapshots_discarded == 0
        assert (summary.snapshots, summary.per_symbol[SYMBOL].syncs, summary.resyncs) == (1, 1, 0)
        assert run.progress[-1].verify_snapshots <= verified
        # In-band, exactly like the sync snapshot: one line each, between connect and the stop.
        recs, _ = records(tmp_path)
        assert kinds(recs) == ["header", "connect", *["snapshot"] * (1 + verified), "disconnect"]
        recorded = assert_recorded_as_served(sim, tmp_path)
        assert len(recorded) == 1 + verified and all(r.limit == LIMIT for r in sim.log.rest)

        validation = validate_recordings(tmp_path)
        [sym] = validation.recordings[0].symbols
        assert (sym.snapshots, sym.snapshots_used, sym.snapshots_unused) == (1 + verified, 1, 0)
        assert (sym.snapshot_checks, sym.snapshot_checks_skipped) == (verified, 0)
        assert sym.snapshot_mismatches == 0 and sym.crossed == 0
        checks = validation.recordings[0].checks
        assert [(c.last_update_id, c.mode) for c in checks] == [(i, "exact") for i in recorded[1:]]
        assert all(c.levels_compared > 0 for c in checks)
        assert book_state(validation, tmp_path) is Status.PASS

    async def test_a_corrupted_verification_is_exactly_one_mismatch(
        self, simulator_config, tmp_path
    ):
        # Armed at event 12: the sync snapshot (event 0) is exact, the first verification
        # served from then on is 3 lots wrong at the best bid, later ones exact again.
        corrupt = FaultSpec("corrupt_snapshot", symbol=SYMBOL, at_event=12, count=3)
        async with Simulator(simulator_config(scenario=scenario(corrupt))) as sim:
            run = await Run(sim, tmp_path, snapshot_limit=LIMIT,
                            verify_snapshot_interval_s=INTERVAL_S).start()  # fmt: skip
            await verified_rounds(run)
            assert run.book_matches_exchange()  # the wrong body never reached the book
            summary = await run.finish()
        [fault] = sim.log.faults_of("corrupt_snapshot")
        recorded = assert_recorded_as_served(sim, tmp_path)
        assert fault.last_id in recorded[1:]

        validation = validate_recordings(tmp_path)
        [sym] = validation.recordings[0].symbols
        assert (sym.snapshot_checks, sym.snapshot_checks_skipped) == (summary.verify_snapshots, 0)
        assert sym.snapshot_mismatches == 1
        [bad] = [c for c in validation.recordings[0].checks if c.mismatches]
        [diff] = bad.first_diffs
        assert (bad.last_update_id, bad.mismatches, diff.side) == (fault.last_id, 1, "bid")
        step = Decimal(sim.config.symbols[0].step_size_str)
        assert (Decimal(diff.snapshot_qty) - Decimal(diff.book_qty)) / step == 3
        assert validation.recordings[0].verdict is Status.FAIL
        assert book_state(validation, tmp_path) is Status.FAIL

    async def test_one_answered_after_the_stream_went_on_is_checked_rolled_back(
        self, simulator_config, tmp_path
    ):
        # As on real Binance, a REST answer can reach the recording after depth events past its
        # lastUpdateId: here the first verification from event 12 on is 3 events old (exact at
        # its own id). The replay rolls the book back to that id and compares.
        late = FaultSpec("stale_snapshot", symbol=SYMBOL, at_event=12, stale_by_events=3)
        async with Simulator(simulator_config(scenario=scenario(late))) as sim:
            run = await Run(sim, tmp_path, snapshot_limit=LIMIT,
                            verify_snapshot_interval_s=INTERVAL_S).start()  # fmt: skip
            await verified_rounds(run)
            summary = await run.finish()
        assert summary.verify_snapshots_discarded == 0 and summary.gaps == 0

        # In the recording the held answer comes after depth events beyond its id.
        recs, _ = records(tmp_path)
        first_ids: list[int] = []
        passed = []
        for r in recs:
            if r.kind == "frame" and b"depthUpdate" in r.payload:
                first_ids.append(json.loads(r.payload)["data"]["U"])
            elif r.kind == "snapshot":
                last_id = r.json()["lastUpdateId"]
                if any(u > last_id for u in first_ids):
                    passed.append(last_id)
        [fault] = sim.log.faults_of("stale_snapshot")
        assert passed == [fault.last_id]

        validation = validate_recordings(tmp_path)
        [sym] = validation.recordings[0].symbols
        assert (sym.snapshot_checks, sym.snapshot_checks_skipped) == (summary.verify_snapshots, 0)
        assert sym.snapshot_mismatches == 0
        checked = {c.last_update_id for c in validation.recordings[0].checks}
        assert fault.last_id in checked
        assert book_state(validation, tmp_path) is Status.PASS

    async def test_one_back_after_its_book_broke_is_discarded(self, simulator_config, tmp_path):
        # The verification asked for at event 10 is held 0.3 s; meanwhile event 12 is dropped,
        # the book resyncs, and its sync snapshot is held 0.6 s: the verification comes back
        # while the book is not live. Recorded, a replay would take it for a sync snapshot.
        faults = (
            FaultSpec("slow_rest", symbol=SYMBOL, at_event=10, delay_s=0.3),
            FaultSpec("drop", symbol=SYMBOL, at_event=12),
            FaultSpec("slow_rest", symbol=SYMBOL, at_event=11, delay_s=0.6),
        )
        async with Simulator(simulator_config(scenario=scenario(*faults))) as sim:
            run = await Run(sim, tmp_path, snapshot_limit=LIMIT,
                            verify_snapshot_interval_s=INTERVAL_S).start()  # fmt: skip
            session = run.session
            await run.tick(9)
            await sim.advance(1)  # event 9: the next REST request is held
            await wait_until(lambda: len(sim.log.faults_of("slow_rest")) == 1, "held")
            await sim.advance(4)  # events 10, 11, (12 dropped), 13: a gap
            await wait_until(lambda: session.verify_snapshots_discarded == 1, "discarded")
            await run.settle()
            await verified_rounds(run, 2)
            assert run.book_matches_exchange()
            summary = await run.finish()
        assert summary.verify_snapshots_discarded == 1
        assert (summary.snapshots, summary.gaps, summary.resyncs) == (2, 1, 1)
        recorded = assert_recorded_as_served(sim, tmp_path, discarded=1)
        assert len(recorded) == 2 + summary.verify_snapshots
        # The discarded body is the first served after the verification was held; every other
        # one is recorded, in order.
        held = sim.log.faults_of("slow_rest")[0]
        served = sim.log.rest_responses(SYMBOL, 200)
        k = next(i for i, r in enumerate(served) if r.send_ns > held.time_ns)
        kept = [r.last_update_id for r in served[:k] + served[k + 1 :]]
        assert recorded == kept[: len(recorded)]

        [sym] = validate_recordings(tmp_path).recordings[0].symbols
        assert (sym.gaps, sym.resyncs, sym.snapshots_used, sym.snapshots_too_old) == (1, 1, 2, 0)
        assert (sym.snapshot_checks, sym.snapshot_mismatches) == (summary.verify_snapshots, 0)


class TestConfig:
    def test_default_every_15_min_and_off_with_none(self, tmp_path) -> None:
        config = CaptureConfig(symbols=(SYMBOL,), duration_s=1, out_dir=tmp_path)
        assert config.verify_snapshot_interval_s == DEFAULT_VERIFY_SNAPSHOT_INTERVAL_S == 900.0
        assert config.verify_weight_per_min == 250 * 60 / 900  # limit 5000 costs 250
        off = CaptureConfig(symbols=(SYMBOL,), duration_s=1, out_dir=tmp_path,
                            verify_snapshot_interval_s=None)  # fmt: skip
        assert off.verify_weight_per_min == 0
        # The `feedcheck capture` option states the same default (it is a literal there).
        option = inspect.signature(cli.capture).parameters["verify_snapshot_interval_s"]
        assert option.default == DEFAULT_VERIFY_SNAPSHOT_INTERVAL_S

    @pytest.mark.parametrize("interval_s", [0.0, -1.0])
    def test_a_non_positive_interval_is_refused(self, tmp_path, interval_s: float) -> None:
        with pytest.raises(ConfigError, match="verify_snapshot_interval_s"):
            CaptureConfig(symbols=(SYMBOL,), duration_s=1, out_dir=tmp_path,
                          verify_snapshot_interval_s=interval_s)  # fmt: skip

    def test_a_schedule_over_its_weight_share_is_refused(self, tmp_path) -> None:
        budget = VERIFY_WEIGHT_SHARE * REQUEST_WEIGHT_PER_MIN
        # Two symbols at limit 5000 (weight 250) every 5 s: 6000/min, all of Binance's budget.
        with pytest.raises(ConfigError, match="request weight/min"):
            CaptureConfig(symbols=(SYMBOL, "ETHUSDT"), duration_s=1, out_dir=tmp_path,
                          verify_snapshot_interval_s=5.0)  # fmt: skip
        # One symbol every 5 s (the demo's rehearsals) is exactly the share.
        one = CaptureConfig(symbols=(SYMBOL,), duration_s=1, out_dir=tmp_path,
                            verify_snapshot_interval_s=5.0)  # fmt: skip
        assert one.verify_weight_per_min == budget == 3000
