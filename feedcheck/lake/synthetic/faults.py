"""Where each injected fault goes, so that every ground-truth count is exact by construction.

Each partition's day is a grid of events: depth messages (`book`, `book_delta_v2`: one every
1/`delta_messages_per_second` s) or, for `trades`, buckets of that same grid. Every fault instance
gets its own window of events; windows are spread over the day in a seeded order, separated by
at least `GUARD_S` of untouched events and kept `EDGE_S` away from the day's ends, so no two
faults touch the same or neighbouring rows. `day_boundary_leak` takes the day's first events.
Empty and missing partitions get no faults.

What an analysis must do to find exactly the recorded counts (also in each Fault's `details.rule`):
- A row's origin is valid when `timestamp` is not null and > 0 (NaT is int64 min). Origin checks
  round ns to the nearest ms first (the ns come from float seconds).
- `origin_null` / `origin_nat` / `origin_zero` / `origin_negative`: rows with that origin.
- `negative_skew`: valid-origin rows with `receipt_timestamp < timestamp`; `skew_spike`: valid
  rows with `receipt_timestamp - timestamp >= SKEW_SPIKE_MIN_NS` (natural lag < MAX_NATURAL_LAG_NS).
- `time_hole`: gaps between consecutive valid origins (file order) of at least `HOLE_MIN_GAP_NS`;
  natural gaps stay below it (trades: `trades.TRADE_MAX_GAP_S`, twice that around a fault row).
- `day_boundary_leak`: valid-origin rows whose ms-rounded origin is before the partition day.
- `unsorted_rows`: i with origin[i] < origin[i-1] over valid-origin rows in file order. A swap
  exchanges every column except the stream's order key (`id` / `sequence_number`).
- `sequence_regression`: rows i with sequence_number[i] < sequence_number[i-1]; the regressed
  value is unique (no other message carries it).
- `sequence_duplicate`: a message is re-sent right after itself with a later receipt. Messages are
  runs of rows with equal (receipt_timestamp, sequence_number); count = runs whose sequence_number
  equals the previous run's. `duplicate_trade_id`: rows whose id appeared earlier (re-sent trade).
- `dropped_message`: messages missing from the file (not visible from Lake's columns).
- `stranded_level` (book_delta_v2): the delete of a best level is not written and the other side
  takes its price, so a replay of the file is crossed (best bid >= best ask) for
  `details.crossed_messages` messages until a later message deletes the stale level.
- `off_tick_price` / `nonpositive_price` / `negative_size` / `invalid_side`: rows (book: one cell
  per row, named in details).
Messages that a fault removes, reorders or alters in book_delta_v2 only change sizes of existing
levels (or delete a level `book_levels.FAR_TICKS` away that never exists), so skipping or missing
them never crosses a replayed book: only `stranded_level` does. Value faults in book_delta_v2 sit
on such far deletes (a negative size there is a level no best price ever reaches).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from feedcheck.errors import ConfigError
from feedcheck.lake.layout import Partition, Table
from feedcheck.lake.synthetic.book_kernel import STRANDED_HEAL_MESSAGES
from feedcheck.lake.synthetic.scenario import FAULT_KINDS, FaultKind, Scenario
from feedcheck.lake.synthetic.streams import stream

#: A gap between consecutive valid origins this long or longer is a hole.
HOLE_MIN_GAP_NS = 10_000_000_000
#: Injected holes remove this much of the stream.
HOLE_DURATION_S = 20.0
#: Untouched events between fault windows, and between windows and the day's ends.
GUARD_S = 1.0
EDGE_S = 2.0
#: Leaked rows per partition at most (they sit within `MAX_LEAK_ROWS` events of midnight).
MAX_LEAK_ROWS = 50
#: Leaked rows end this many ms before midnight.
LEAK_BEFORE_MIDNIGHT_MS = 3

_CLOCK: tuple[FaultKind, ...] = (
    "origin_null",
    "origin_nat",
    "origin_zero",
    "origin_negative",
    "negative_skew",
    "skew_spike",
    "time_hole",
    "day_boundary_leak",
    "unsorted_rows",
)
_VALUES: tuple[FaultKind, ...] = ("off_tick_price", "nonpositive_price", "negative_size")
_SEQUENCE: tuple[FaultKind, ...] = ("sequence_regression", "sequence_duplicate", "dropped_message")
ALLOWED_KINDS: Mapping[Table, frozenset[FaultKind]] = {
    "trades": frozenset(_CLOCK + _VALUES + ("invalid_side", "duplicate_trade_id")),
    "book": frozenset(_CLOCK + _VALUES + _SEQUENCE),
    "book_delta_v2": frozenset(_CLOCK + _VALUES + _SEQUENCE + ("stranded_level",)),
}
#: Kinds that change one row's origin (they count rows with an invalid origin).
ORIGIN_KINDS: tuple[FaultKind, ...] = (
    "origin_null",
    "origin_nat",
    "origin_zero",
    "origin_negative",
)
#: Kinds whose fault is one row (one single-row message in book_delta_v2).
ROW_KINDS: tuple[FaultKind, ...] = (
    ORIGIN_KINDS + ("negative_skew", "skew_spike") + _VALUES + ("invalid_side",)
)


@dataclass(frozen=True)
class Injection:
    """One fault instance: events `first .. first + span - 1` of the day (messages or buckets)."""

    kind: FaultKind
    ordinal: int  # 0-based instance number within its kind and partition
    first: int
    span: int

    @property
    def last(self) -> int:
        return self.first + self.span - 1


@dataclass(frozen=True)
class PartitionPlan:
    partition: Partition
    n_events: int
    leak: int  # the first `leak` events are day_boundary_leak rows
    injections: tuple[Injection, ...]  # sorted by `first`, windows disjoint

    def of_kind(self, *kinds: FaultKind) -> list[Injection]:
        return [i for i in self.injections if i.kind in kinds]


def check_faults(scenario: Scenario) -> None:
    """Raise ConfigError for a fault the scenario cannot inject as specified."""
    days = set(scenario.days())
    for spec in scenario.faults:
        if spec.table not in scenario.tables:
            raise ConfigError(
                f"fault {spec.kind} targets table {spec.table}, not in tables {scenario.tables}"
            )
        if spec.kind not in ALLOWED_KINDS[spec.table]:
            allowed = ", ".join(sorted(ALLOWED_KINDS[spec.table]))
            raise ConfigError(
                f"fault {spec.kind} does not apply to {spec.table} (allowed: {allowed})"
            )
        if spec.symbol is not None and spec.symbol not in scenario.symbols:
            raise ConfigError(
                f"fault {spec.kind} names symbol {spec.symbol}, not in {scenario.symbols}"
            )
        if spec.dt is not None and spec.dt not in days:
            raise ConfigError(
                f"fault {spec.kind} names day {spec.dt}, outside {scenario.start}..{scenario.end}"
            )


def fault_counts(scenario: Scenario, partition: Partition) -> dict[FaultKind, int]:
    """Instances per kind for one partition: the sum of every matching FaultSpec's count."""
    counts: dict[FaultKind, int] = {}
    for spec in scenario.faults:
        if spec.table != partition.table or spec.count == 0:
            continue
        if spec.symbol not in (None, partition.symbol) or spec.dt not in (None, partition.dt):
            continue
        counts[spec.kind] = counts.get(spec.kind, 0) + spec.count
    return counts


def _span(kind: FaultKind, events_per_second: float) -> int:
    if kind == "time_hole":
        return math.ceil(HOLE_DURATION_S * events_per_second)
    if kind == "stranded_level":
        return STRANDED_HEAL_MESSAGES + 1
    if kind == "unsorted_rows":
        return 2
    return 1


def plan_partition(
    scenario: Scenario, partition: Partition, n_events: int, events_per_second: float
) -> PartitionPlan:
    """Lay out every fault instance of `partition` over its `n_events` events.

    Raises:
        ConfigError: the day holds too few events for the requested faults, or too many leaks.
    """
    counts = fault_counts(scenario, partition)
    leak = counts.pop("day_boundary_leak", 0)
    if leak > MAX_LEAK_ROWS:
        raise ConfigError(f"{partition.label}: day_boundary_leak count {leak} > {MAX_LEAK_ROWS}")
    todo = [(kind, j) for kind in FAULT_KINDS for j in range(counts.get(kind, 0))]
    guard = max(2, math.ceil(GUARD_S * events_per_second))
    lo = leak + max(guard, math.ceil(EDGE_S * events_per_second))
    hi = n_events - max(guard, math.ceil(EDGE_S * events_per_second))
    spans = [_span(kind, events_per_second) for kind, _ in todo]
    free = (hi - lo) - sum(spans)
    if todo and free < guard * (len(todo) + 1):
        raise ConfigError(
            f"{partition.label}: {len(todo)} faults need "
            f"{sum(spans) + guard * (len(todo) + 1)} events "
            f"but the day has {max(hi - lo, 0)} usable; raise hours_per_day or lower the counts"
        )
    gap = free // (len(todo) + 1) if todo else 0
    order = stream(scenario.seed, "plan", partition.key).permutation(len(todo))
    placed: list[Injection] = []
    pos = lo + gap
    for idx in order:
        kind, ordinal = todo[idx]
        placed.append(Injection(kind, ordinal, pos, spans[idx]))
        pos += spans[idx] + gap
    return PartitionPlan(partition, n_events, leak, tuple(sorted(placed, key=lambda i: i.first)))
