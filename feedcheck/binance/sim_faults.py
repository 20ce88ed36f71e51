"""Fault scenarios for the loopback Binance simulator: what to break, where and how often.

A `Scenario` is plain data (a tuple of `FaultSpec`), built in code or loaded from a dict / YAML /
JSON file. `FaultPlan` is its runtime: the simulator asks it, per depth event, per clock tick and
per REST request, which faults fire now. Each spec fires per symbol (`symbol=None`: every symbol
independently), from its trigger point, `times` times.

Trigger point: `at_event` is the 0-based index of the symbol's base depth event (one per
`update_interval_ms` of exchange time, `factor` per tick during a burst); `at_s` is exchange
seconds since the simulator started. Connection faults without a symbol count clock ticks
instead of events. Kinds, and what one firing does:

- `drop`: the next `count` depth events are not sent (a gap: the next `U` > previous `u` + 1);
  their trades still are.
- `duplicate`: the depth event is sent `1 + count` times.
- `overlap`: the depth event is sent merged with the previous one (`U` <= previous `u`).
- `slow_frame`: the frames of the next `count` events wait `delay_s` (wall) before being sent.
- `disconnect`: connections on the symbol's streams are cut (TCP close without a close frame
  when `abrupt`, else a 1001 close).
- `server_shutdown`: those connections get a `serverShutdown` event, then a 1001 close.
- `burst`: for `duration_s` exchange seconds the symbol makes `factor` events per tick.
- `http_429` / `http_5xx` / `slow_rest` / `stale_snapshot`: the next `times` REST depth requests
  for the symbol get 429 with `Retry-After: retry_after_s`, `status` (5xx), a `delay_s` wait, or a
  snapshot `stale_by_events` events old (exact at its own, too low, lastUpdateId).
- `corrupt_snapshot`: the next `times` successful REST depth bodies for the symbol are wrong in
  exactly one level: the best bid's quantity is `count` lots more than the book's (a body a
  validation must catch; its lastUpdateId and every other level stay exact).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from feedcheck.errors import ConfigError

FaultKind = Literal[
    "drop",
    "duplicate",
    "overlap",
    "slow_frame",
    "disconnect",
    "server_shutdown",
    "burst",
    "http_429",
    "http_5xx",
    "slow_rest",
    "stale_snapshot",
    "corrupt_snapshot",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
EVENT_KINDS = frozenset({"drop", "duplicate", "overlap", "slow_frame"})
CONNECTION_KINDS = frozenset({"disconnect", "server_shutdown"})
REST_KINDS = frozenset({"http_429", "http_5xx", "slow_rest", "stale_snapshot", "corrupt_snapshot"})


@dataclass(frozen=True)
class FaultSpec:
    """One fault: `kind`, where (`symbol`, `at_event` | `at_s`), how often (`times`, spaced
    `every_events` apart) and its size. Units: `*_s` seconds (`at_s`, `duration_s`: exchange
    clock; `delay_s`: wall clock), `retry_after_s` whole seconds as Binance sends it."""

    kind: FaultKind
    symbol: str | None = None
    at_event: int | None = None
    at_s: float | None = None
    times: int = 1
    every_events: int = 10
    count: int = 1
    delay_s: float = 0.5
    retry_after_s: int = 1
    status: int = 503
    factor: int = 10
    duration_s: float = 1.0
    stale_by_events: int = 50
    abrupt: bool = True

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ConfigError(f"fault kind {self.kind!r} is not one of {', '.join(FAULT_KINDS)}")
        if self.symbol is not None:
            object.__setattr__(self, "symbol", self.symbol.upper())
        if self.at_event is not None and self.at_s is not None:
            raise ConfigError(f"fault {self.kind}: give at_event or at_s, not both")
        if self.at_event is None and self.at_s is None:
            object.__setattr__(self, "at_event", 0)
        if (self.at_event is not None and self.at_event < 0) or (
            self.at_s is not None and self.at_s < 0
        ):
            raise ConfigError(f"fault {self.kind}: trigger must be >= 0")
        if self.times < 1 or self.count < 1 or self.factor < 1 or self.stale_by_events < 1:
            raise ConfigError(
                f"fault {self.kind}: times, count, factor, stale_by_events must be >= 1"
            )
        if self.times > 1 and self.kind in EVENT_KINDS and self.every_events <= self.count:
            raise ConfigError(
                f"fault {self.kind}: every_events must exceed count, or firings merge"
            )
        if (
            self.every_events < 1
            or self.delay_s < 0
            or self.duration_s < 0
            or self.retry_after_s < 0
        ):
            raise ConfigError(f"fault {self.kind}: every_events >= 1 and non-negative durations")
        if self.kind == "http_5xx" and not 500 <= self.status <= 599:
            raise ConfigError(f"fault http_5xx: status {self.status} is not 5xx")


@dataclass(frozen=True)
class Scenario:
    """A named list of faults; the empty scenario is a healthy exchange."""

    name: str = "healthy"
    faults: tuple[FaultSpec, ...] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Scenario:
        """`{"name": …, "faults": [{"kind": "drop", "symbol": "BTCUSDT", "at_event": 20}, …]}`."""
        unknown = set(raw) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown scenario keys: {', '.join(sorted(unknown))}")
        known = {f.name for f in fields(FaultSpec)}
        specs = []
        for item in raw.get("faults", ()):
            extra = set(item) - known
            if extra:
                raise ConfigError(f"unknown fault keys: {', '.join(sorted(extra))}")
            try:
                specs.append(FaultSpec(**item))
            except TypeError as exc:
                raise ConfigError(f"bad fault {item!r}: {exc}") from exc
        return cls(name=str(raw.get("name", "custom")), faults=tuple(specs))

    @classmethod
    def from_file(cls, path: Path | str) -> Scenario:
        """Load a YAML or JSON file holding the `from_dict` mapping."""
        try:
            raw = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read scenario {path}: {exc}") from exc
        if not isinstance(raw, Mapping):
            raise ConfigError(f"scenario {path} must be a mapping with a 'faults' list")
        return cls.from_dict(raw)


@dataclass(frozen=True, slots=True)
class EventEffect:
    """What happens to one depth event on the wire."""

    dropped: bool = False
    extra_copies: int = 0
    overlap: bool = False
    delay_s: float = 0.0
    connection_faults: tuple[FaultSpec, ...] = ()


NO_EFFECT = EventEffect()


@dataclass(frozen=True, slots=True)
class RestEffect:
    """What happens to one REST depth request; `status` None means 200."""

    delay_s: float = 0.0
    status: int | None = None
    retry_after_s: int = 0
    stale_by_events: int = 0
    #: Lots added to the served body's best bid quantity (0: the body is exact).
    corrupt_lots: int = 0


@dataclass
class _Firing:
    """Runtime state of one spec on one symbol: how often it fired and where it fires next."""

    spec: FaultSpec
    fired: int = 0
    next_index: int | None = None
    #: Events (or REST requests) still affected by the current firing.
    active_left: int = 0

    def __post_init__(self) -> None:
        self.next_index = self.spec.at_event

    def due(self, index: int, elapsed_ms: int) -> bool:
        """True when a firing starts at `index` (0-based event or tick) at `elapsed_ms`."""
        if self.fired >= self.spec.times:
            return False
        if self.next_index is None:
            assert self.spec.at_s is not None
            if elapsed_ms < self.spec.at_s * 1000:
                return False
            self.next_index = index
        if index < self.next_index:
            return False
        self.fired += 1
        self.next_index = index + self.spec.every_events
        return True

    def armed(self, index: int, elapsed_ms: int) -> bool:
        """REST kinds: the trigger point was reached (the spec then serves `times` requests)."""
        if self.spec.at_s is not None:
            return elapsed_ms >= self.spec.at_s * 1000
        assert self.spec.at_event is not None
        return index >= self.spec.at_event


@dataclass
class FaultPlan:
    """The scenario's runtime for a set of symbols (upper case). Not thread-safe: one event loop."""

    scenario: Scenario
    symbols: tuple[str, ...]
    _per_symbol: dict[str, list[_Firing]] = field(default_factory=dict)
    _global: list[_Firing] = field(default_factory=list)
    _burst_until_ms: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for spec in self.scenario.faults:
            if spec.symbol is not None and spec.symbol not in self.symbols:
                raise ConfigError(
                    f"fault {spec.kind} names {spec.symbol}, not one of {self.symbols}"
                )
            if spec.symbol is None and spec.kind in CONNECTION_KINDS:
                self._global.append(_Firing(spec))
        for sym in self.symbols:
            self._per_symbol[sym] = [
                _Firing(s)
                for s in self.scenario.faults
                if s.symbol == sym or (s.symbol is None and s.kind not in CONNECTION_KINDS)
            ]

    def history_needed(self, symbol: str) -> int:
        """How many past snapshots the symbol's model must keep for stale-snapshot faults."""
        return max(
            (
                f.spec.stale_by_events
                for f in self._per_symbol[symbol]
                if f.spec.kind == "stale_snapshot"
            ),
            default=0,
        )

    def on_tick(self, tick: int, elapsed_ms: int) -> tuple[FaultSpec, ...]:
        """Connection faults without a symbol that fire at clock tick `tick` (0-based)."""
        return tuple(f.spec for f in self._global if f.due(tick, elapsed_ms))

    def burst_factor(self, symbol: str, index: int, elapsed_ms: int) -> int:
        """Events the symbol makes this tick: `factor` while a burst runs, else 1. `index` is the
        symbol's next event index, `elapsed_ms` the tick's start on the exchange clock."""
        for f in self._per_symbol[symbol]:
            if f.spec.kind == "burst" and f.due(index, elapsed_ms):
                self._burst_until_ms[symbol] = (
                    elapsed_ms + round(f.spec.duration_s * 1000),
                    f.spec.factor,
                )
        until_ms, factor = self._burst_until_ms.get(symbol, (0, 1))
        return factor if elapsed_ms < until_ms else 1

    def on_event(self, symbol: str, index: int, elapsed_ms: int) -> EventEffect:
        """Effect on the symbol's depth event `index` made at `elapsed_ms` (exchange clock)."""
        dropped = overlap = False
        copies = 0
        delay_s = 0.0
        conn: list[FaultSpec] = []
        for f in self._per_symbol[symbol]:
            kind = f.spec.kind
            if kind in REST_KINDS or kind == "burst":
                continue
            if f.due(index, elapsed_ms):
                if kind in CONNECTION_KINDS:
                    conn.append(f.spec)
                elif kind in ("drop", "slow_frame"):
                    f.active_left = f.spec.count
                elif kind == "duplicate":
                    copies += f.spec.count
                else:
                    overlap = True
            if f.active_left > 0:
                f.active_left -= 1
                if kind == "drop":
                    dropped = True
                else:
                    delay_s += f.spec.delay_s
        if not (dropped or overlap or copies or delay_s or conn):
            return NO_EFFECT
        return EventEffect(dropped, copies, overlap, delay_s, tuple(conn))

    def on_rest(self, symbol: str, index: int, elapsed_ms: int) -> RestEffect:
        """Effect on one REST depth request for `symbol`; `index` is the number of events the
        symbol has made, `elapsed_ms` the exchange clock. Each matching spec serves `times`."""
        ready = [
            f
            for f in self._per_symbol[symbol]
            if f.spec.kind in REST_KINDS and f.fired < f.spec.times and f.armed(index, elapsed_ms)
        ]
        slow = [f for f in ready if f.spec.kind == "slow_rest"]
        # One error or stale body per response; later specs wait for the next request.
        errors = [f for f in ready if f.spec.kind in ("http_429", "http_5xx")][:1]
        stale = [f for f in ready if f.spec.kind == "stale_snapshot"][: 0 if errors else 1]
        corrupt = [f for f in ready if f.spec.kind == "corrupt_snapshot"][: 0 if errors else 1]
        for f in (*slow, *errors, *stale, *corrupt):
            f.fired += 1
        status = errors[0].spec.status if errors else None
        if errors and errors[0].spec.kind == "http_429":
            status = 429
        return RestEffect(
            delay_s=sum(f.spec.delay_s for f in slow),
            status=status,
            retry_after_s=errors[0].spec.retry_after_s if status == 429 else 0,
            stale_by_events=stale[0].spec.stale_by_events if stale else 0,
            corrupt_lots=corrupt[0].spec.count if corrupt else 0,
        )
