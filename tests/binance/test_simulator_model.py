"""The simulator's pure parts: market model, wire rendering, fault plan, control messages.

No sockets here; `test_simulator.py` drives the same parts over loopback.
"""

from __future__ import annotations

import json

import pytest

from feedcheck.binance import sim_control
from feedcheck.binance.market import (
    MIN_LEVELS_PER_SIDE,
    BookSnapshot,
    DepthEvent,
    MarketConfig,
    MarketModel,
    SymbolSpec,
    combined,
    depth_payload,
    merge_depth,
    shutdown_payload,
    snapshot_body,
    trade_payload,
)
from feedcheck.binance.sim_faults import FaultPlan, FaultSpec, Scenario
from feedcheck.errors import ConfigError

START_MS = 1_700_000_000_000


def _run(model: MarketModel, n: int) -> list[tuple[DepthEvent, tuple]]:
    return [model.step(START_MS + 100 * (i + 1)) for i in range(n)]


def _apply(book: dict[int, int], levels: tuple[tuple[int, int], ...]) -> None:
    for price, lots in levels:
        if lots == 0:
            book.pop(price, None)
        else:
            book[price] = lots


class TestMarketModel:
    """Spot diff-depth invariants: U = prev u + 1, absolute quantities, never crossed."""

    def test_update_ids_chain_and_count_every_change(self) -> None:
        model = MarketModel(SymbolSpec(), MarketConfig(levels_per_side=30))
        events = [ev for ev, _ in _run(model, 500)]
        assert events[0].first_id == MarketConfig().first_update_id
        for prev, ev in zip(events, events[1:], strict=False):
            assert ev.first_id == prev.last_id + 1
        for ev in events:
            # One id per book change: at least one per level carried.
            assert ev.last_id - ev.first_id + 1 >= len(ev.bids) + len(ev.asks) >= 1
        assert [ev.index for ev in events] == list(range(500))
        assert model.last_update_id == events[-1].last_id

    def test_applying_events_to_a_snapshot_gives_the_later_snapshot(self) -> None:
        model = MarketModel(SymbolSpec(), MarketConfig(levels_per_side=30))
        first = model.snapshot(5000)
        bids, asks = dict(first.bids), dict(first.asks)
        for ev, _ in _run(model, 400):
            _apply(bids, ev.bids)
            _apply(asks, ev.asks)
            assert max(bids) < min(asks)
            assert len(bids) >= MIN_LEVELS_PER_SIDE and len(asks) >= MIN_LEVELS_PER_SIDE
        later = model.snapshot(5000)
        assert later.bids == tuple(sorted(bids.items(), reverse=True))
        assert later.asks == tuple(sorted(asks.items()))

    def test_trades_take_quantity_from_the_touch(self) -> None:
        model = MarketModel(SymbolSpec(), MarketConfig(levels_per_side=30, trades_per_event_max=3))
        trade_ids = []
        for _ in range(200):
            before = model.snapshot(1)
            ev, trades = model.step(START_MS)
            for i, tr in enumerate(trades):
                trade_ids.append(tr.trade_id)
                if i == 0:
                    side = before.asks if not tr.buyer_is_maker else before.bids
                    assert tr.price_ticks == side[0][0]
                    assert 1 <= tr.qty_lots <= side[0][1]
        assert trade_ids == list(range(5_000_000_000, 5_000_000_000 + len(trade_ids)))
        assert model.next_trade_id == 5_000_000_000 + len(trade_ids)

    def test_same_seed_same_bytes_other_seed_other_bytes(self) -> None:
        spec = SymbolSpec()

        def payloads(seed: int) -> list[str]:
            model = MarketModel(spec, MarketConfig(seed=seed, levels_per_side=20))
            return [depth_payload(spec, ev) for ev, _ in _run(model, 50)]

        assert payloads(3) == payloads(3)
        assert payloads(3) != payloads(4)

    def test_stale_snapshot_is_the_book_n_events_ago(self) -> None:
        model = MarketModel(SymbolSpec(), MarketConfig(levels_per_side=20), history=5)
        _run(model, 7)
        expected = model.snapshot(5000)
        _run(model, 5)
        assert model.stale_snapshot(5, 5000) == expected
        assert model.stale_snapshot(5, 3) == BookSnapshot(
            expected.last_update_id, expected.bids[:3], expected.asks[:3]
        )
        with pytest.raises(ConfigError):
            MarketModel(SymbolSpec(), MarketConfig(levels_per_side=20)).stale_snapshot(1, 10)

    def test_merge_keeps_first_U_last_u_and_last_quantities(self) -> None:
        a = DepthEvent(0, 100, 10, 12, ((5, 1), (4, 2)), ((7, 3),))
        b = DepthEvent(1, 200, 13, 15, ((5, 0),), ((8, 1), (7, 9)))
        assert merge_depth([a, b]) == DepthEvent(1, 200, 10, 15, ((5, 0), (4, 2)), ((7, 9), (8, 1)))
        with pytest.raises(ConfigError):
            merge_depth([])


class TestRendering:
    """Binance spot JSON: 8-decimal strings, no spaces, data-formats.md §2.3–2.5."""

    def test_prices_and_quantities_are_exact_8_decimal_strings(self) -> None:
        spec = SymbolSpec("ETHUSDT", tick_size="0.01", step_size="0.0001", start_price="2683.80")
        assert spec.start_price_ticks == 268380
        assert spec.price_str(268380) == "2683.80000000"
        assert spec.qty_str(12345) == "1.23450000"
        assert spec.qty_str(0) == "0.00000000"
        assert (spec.tick_size_str, spec.step_size_str) == ("0.01000000", "0.00010000")
        assert spec.stream_symbol == "ethusdt"

    def test_payload_shapes(self) -> None:
        spec = SymbolSpec()
        ev = DepthEvent(0, START_MS, 157, 160, ((3000000, 1),), ((3000001, 0),))
        assert depth_payload(spec, ev) == (
            '{"e":"depthUpdate","E":1700000000000,"s":"BTCUSDT","U":157,"u":160,'
            '"b":[["30000.00000000","0.00001000"]],"a":[["30000.01000000","0.00000000"]]}'
        )
        model = MarketModel(spec, MarketConfig(levels_per_side=10, trades_per_event_max=5))
        trade = next(tr for _ in range(20) for tr in model.step(START_MS)[1])
        assert set(json.loads(trade_payload(spec, trade))) == set("eEstpqTmM")
        assert shutdown_payload(5) == '{"e":"serverShutdown","E":5}'
        assert combined("!serverShutdown", "{}") == '{"stream":"!serverShutdown","data":{}}'
        snap = BookSnapshot(9, ((2, 3),), ((4, 5),))
        assert json.loads(snapshot_body(spec, snap)) == {
            "lastUpdateId": 9,
            "bids": [["0.02000000", "0.00003000"]],
            "asks": [["0.04000000", "0.00005000"]],
        }

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"symbol": "btcusdt"},
            {"tick_size": "0.000000001"},
            {"tick_size": "-1"},
            {"tick_size": "abc"},
            {"start_price": "30000.005"},
            {"start_price": "0.05"},
        ],
    )
    def test_bad_symbol_specs_raise(self, kwargs: dict[str, str]) -> None:
        with pytest.raises(ConfigError):
            SymbolSpec(**kwargs)


class TestFaultPlan:
    """Each spec fires per symbol from its trigger, `times` times, `every_events` apart."""

    def _effects(self, plan: FaultPlan, n: int, symbol: str = "BTCUSDT") -> list:
        return [plan.on_event(symbol, i, 100 * (i + 1)) for i in range(n)]

    def test_drop_count_times_every(self) -> None:
        spec = FaultSpec("drop", at_event=5, count=2, times=2, every_events=10)
        plan = FaultPlan(Scenario(faults=(spec,)), ("BTCUSDT", "ETHUSDT"))
        for symbol in ("BTCUSDT", "ETHUSDT"):
            dropped = [i for i, e in enumerate(self._effects(plan, 40, symbol)) if e.dropped]
            assert dropped == [5, 6, 15, 16]

    def test_time_trigger_duplicate_overlap_slow(self) -> None:
        faults = (
            FaultSpec("duplicate", symbol="btcusdt", at_s=0.35, count=2),
            FaultSpec("overlap", at_event=7, times=2, every_events=3),
            FaultSpec("slow_frame", at_event=1, count=2, delay_s=0.25),
        )
        plan = FaultPlan(Scenario(faults=faults), ("BTCUSDT",))
        effects = self._effects(plan, 15)
        assert [e.extra_copies for e in effects].index(2) == 3  # first event at >= 350 ms
        assert sum(e.extra_copies for e in effects) == 2
        assert [i for i, e in enumerate(effects) if e.overlap] == [7, 10]
        assert [i for i, e in enumerate(effects) if e.delay_s] == [1, 2]

    def test_connection_faults_per_symbol_and_per_tick(self) -> None:
        faults = (
            FaultSpec("disconnect", symbol="BTCUSDT", at_event=4, times=2, every_events=3),
            FaultSpec("server_shutdown", at_event=2),
        )
        plan = FaultPlan(Scenario(faults=faults), ("BTCUSDT",))
        fired = [i for i, e in enumerate(self._effects(plan, 12)) if e.connection_faults]
        assert fired == [4, 7]
        assert [t for t in range(6) if plan.on_tick(t, 100 * t)] == [2]

    def test_burst_factor_for_its_duration(self) -> None:
        spec = FaultSpec("burst", at_event=3, factor=4, duration_s=0.2)
        plan = FaultPlan(Scenario(faults=(spec,)), ("BTCUSDT",))
        factors, index = [], 0
        for tick in range(8):
            f = plan.burst_factor("BTCUSDT", index, 100 * tick)
            factors.append(f)
            index += f
        assert factors == [1, 1, 1, 4, 4, 1, 1, 1]

    def test_rest_faults_serve_times_requests_one_error_per_response(self) -> None:
        faults = (
            FaultSpec("stale_snapshot", stale_by_events=7),
            FaultSpec("http_429", times=2, retry_after_s=3),
            FaultSpec("http_5xx", at_event=10, status=502),
            FaultSpec("slow_rest", at_event=10, delay_s=0.1),
        )
        plan = FaultPlan(Scenario(faults=faults), ("BTCUSDT",))
        got = [plan.on_rest("BTCUSDT", 0, 0) for _ in range(4)]
        assert [(e.status, e.retry_after_s, e.stale_by_events) for e in got] == [
            (429, 3, 0),
            (429, 3, 0),
            (None, 0, 7),
            (None, 0, 0),
        ]
        later = [plan.on_rest("BTCUSDT", 10, 1000) for _ in range(2)]
        assert [(e.status, e.delay_s) for e in later] == [(502, 0.1), (None, 0.0)]

    def test_scenario_from_dict_and_file(self, tmp_path) -> None:
        raw = {"name": "gaps", "faults": [{"kind": "drop", "symbol": "btcusdt", "at_event": 3}]}
        scenario = Scenario.from_dict(raw)
        assert scenario == Scenario("gaps", (FaultSpec("drop", symbol="BTCUSDT", at_event=3),))
        path = tmp_path / "s.yaml"
        path.write_text("name: gaps\nfaults:\n  - {kind: drop, symbol: btcusdt, at_event: 3}\n")
        assert Scenario.from_file(path) == scenario
        assert FaultSpec("drop").at_event == 0

    @pytest.mark.parametrize(
        "raw",
        [
            {"faults": [{"kind": "meteor"}]},
            {"faults": [{"kind": "drop", "colour": 1}]},
            {"faults": [{"kind": "drop", "at_event": 1, "at_s": 1.0}]},
            {"faults": [{"kind": "drop", "times": 2, "count": 3, "every_events": 3}]},
            {"faults": [{"kind": "http_5xx", "status": 429}]},
            {"speed": 1},
        ],
    )
    def test_bad_scenarios_raise(self, raw: dict) -> None:
        with pytest.raises(ConfigError):
            Scenario.from_dict(raw)

    def test_unknown_symbol_in_plan_raises(self) -> None:
        with pytest.raises(ConfigError):
            FaultPlan(Scenario(faults=(FaultSpec("drop", symbol="ETHUSDT"),)), ("BTCUSDT",))


class TestControlMessages:
    """Live SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS (data-formats.md §2.1)."""

    @staticmethod
    def _parse(name: str) -> str | None:
        return name if name in ("a@trade", "b@trade") else None

    def test_subscribe_list_unsubscribe(self) -> None:
        class Key(str):
            @property
            def name(self) -> str:
                return str(self)

        def parse(name: str) -> Key | None:
            return Key(name) if self._parse(name) else None

        reply, streams = sim_control.answer(
            '{"method":"SUBSCRIBE","params":["a@trade","b@trade"],"id":1}', {}, parse, 1024
        )
        assert (reply, list(streams)) == ('{"result":null,"id":1}', ["a@trade", "b@trade"])
        reply, streams = sim_control.answer(
            '{"method":"UNSUBSCRIBE","params":["a@trade"],"id":"x-2"}', streams, parse, 1024
        )
        assert (reply, list(streams)) == ('{"result":null,"id":"x-2"}', ["b@trade"])
        reply, _ = sim_control.answer(
            '{"method":"LIST_SUBSCRIPTIONS","id":3}', streams, parse, 1024
        )
        assert reply == '{"result":["b@trade"],"id":3}'
        reply, after = sim_control.answer(
            '{"method":"SUBSCRIBE","params":["a@trade"],"id":4}', streams, parse, 1
        )
        assert json.loads(reply)["error"]["code"] == 2 and list(after) == ["b@trade"]

    @pytest.mark.parametrize(
        ("text", "code"),
        [
            ("{not json", 3),
            ("[1]", 2),
            ('{"method":"SUBSCRIBE","params":["c@trade"],"id":1}', 2),
            ('{"method":"SUBSCRIBE","params":"a@trade","id":1}', 2),
            ('{"method":"SET_PROPERTY","params":["combined",true],"id":1}', 2),
            ('{"method":"LIST_SUBSCRIPTIONS","id":true}', 2),
            ('{"method":"LIST_SUBSCRIPTIONS","id":"has space"}', 2),
        ],
    )
    def test_errors_leave_subscriptions_unchanged(self, text: str, code: int) -> None:
        reply, streams = sim_control.answer(text, {}, self._parse, 1024)  # type: ignore[arg-type]
        assert json.loads(reply)["error"]["code"] == code
        assert streams == {}
