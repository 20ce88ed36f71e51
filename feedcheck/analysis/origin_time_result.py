"""Results of the origin_time analysis (Story 1.1): per partition, per stream, per run; JSON round trip.

Times are int64 ns since the epoch, UTC; durations are ns. Percentages are 0–100 floats, None when
their denominator is 0. `OriginTimeResult.to_json()` is what the CLI writes with `--json` and the
go/no-go reads; `from_json` gives back an equal result (minus the in-memory skew sketches).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from datetime import date
from enum import Enum
from typing import Any, Protocol

from feedcheck.analysis.skew_sketch import SkewSketch, SkewStats
from feedcheck.errors import ConfigError
from feedcheck.report.criteria import Scalar

#: Book and delta holes: gaps of at least this many median steps between messages.
HOLE_MULTIPLE = 10
#: Trades holes: gaps of at least 60 min without a trade, as data vendors count them.
TRADES_HOLE_NS = 60 * 60 * 1_000_000_000
#: Tables whose holes use `trades_hole_ns`: Lake `trades` and a capture's `trade` stream.
FIXED_HOLE_TABLES = ("trades", "trade")
#: A skew at or above this is a spike (2 s: 20× the 100 ms criterion).
SKEW_SPIKE_NS = 2_000_000_000
#: Exact skew values kept per partition (and per stream) before falling back to the histogram.
EXACT_SKEW_MAX_VALUES = 4_000_000
#: Holes listed with their start and end per partition; counts and durations stay exact beyond.
MAX_LISTED_HOLES = 10_000
#: Story 1.1 thresholds (seed plan): origin missing/invalid < 5 %, p95 skew < 100 ms.
MISSING_INVALID_MAX_PCT = 5.0
SKEW_P95_MAX_NS = 100_000_000
#: Negative skew (receipt before the exchange stamped the event) above this share of rows means the
#: clocks disagree. A handful of rows (clock steps, re-sent frames) is tolerated: 0.1 %.
NEGATIVE_SKEW_MAX_PCT = 0.1


def pct(part: int, whole: int) -> float | None:
    """`part` as a percentage of `whole`; None when `whole` is 0."""
    return 100.0 * part / whole if whole else None


@dataclass(frozen=True)
class OriginTimeThresholds:
    """Limits of the recommendation and of Story 1.1's criteria (defaults from the plan)."""

    missing_invalid_max_pct: float = MISSING_INVALID_MAX_PCT
    skew_p95_max_ns: int = SKEW_P95_MAX_NS
    negative_skew_max_pct: float = NEGATIVE_SKEW_MAX_PCT


@dataclass(frozen=True)
class OriginTimeConfig:
    """Knobs of the analysis.

    Attributes:
        hole_multiple: book/book_delta_v2 hole = gap >= this × the partition's median step.
        trades_hole_ns: hole threshold of the tables in `fixed_hole_tables` (ns).
        fixed_hole_tables: tables whose hole threshold is fixed rather than cadence-aware.
        skew_spike_ns: skews >= this are counted as spikes (ns).
        now_ns: valid origins after this are "in the future" (ns; pass it for reproducible runs).
        exact_skew_max_values: exact (hour, skew) pairs kept before the log histogram takes over.
        max_listed_holes: holes listed per partition (counts stay exact).
        thresholds: recommendation and criteria limits.
    """

    hole_multiple: int = HOLE_MULTIPLE
    trades_hole_ns: int = TRADES_HOLE_NS
    fixed_hole_tables: tuple[str, ...] = FIXED_HOLE_TABLES
    skew_spike_ns: int = SKEW_SPIKE_NS
    now_ns: int = field(default_factory=time.time_ns)
    exact_skew_max_values: int = EXACT_SKEW_MAX_VALUES
    max_listed_holes: int = MAX_LISTED_HOLES
    thresholds: OriginTimeThresholds = field(default_factory=OriginTimeThresholds)

    def __post_init__(self) -> None:
        for name in ("hole_multiple", "trades_hole_ns", "skew_spike_ns", "exact_skew_max_values"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"origin-time {name} must be > 0, got {getattr(self, name)}")
        if self.max_listed_holes < 0:
            raise ConfigError(f"max_listed_holes must be >= 0, got {self.max_listed_holes}")

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["fixed_hole_tables"] = list(self.fixed_hole_tables)
        out["thresholds"] = dict(vars(self.thresholds))
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> OriginTimeConfig:
        kw = dict(raw)
        kw["fixed_hole_tables"] = tuple(kw["fixed_hole_tables"])
        kw["thresholds"] = OriginTimeThresholds(**kw["thresholds"])
        return cls(**kw)


class PartitionLike(Protocol):
    """What the analysis needs to know about a partition: `feedcheck.lake.layout.Partition` or a
    capture day (any table name)."""

    @property
    def table(self) -> str: ...
    @property
    def exchange(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def dt(self) -> date: ...


_COUNT_FIELDS = (
    "rows",
    "origin_null",
    "origin_nat",
    "origin_zero",
    "origin_negative",
    "origin_valid",
    "outside_day",
    "future",
    "float_noise",
    "received_null",
    "received_nat",
    "received_nonpositive",
    "received_valid",
    "origin_out_of_order",
    "received_out_of_order",
)
#: Counts whose percentage is of all rows; the rest are of the valid rows of their clock.
_PCT_OF_ROWS = ("origin_null", "origin_nat", "origin_zero", "origin_negative", "outside_day")
_PCT_OF_ROWS += ("future", "received_null", "received_nat", "received_nonpositive")


@dataclass(frozen=True)
class OriginCounts:
    """Row counts of both clocks (see `origin_time_kernel` for each definition) and their ranges.

    Percentages: `*_pct` of `origin_null` .. `received_nonpositive` and of `origin_invalid` are of
    `rows`; `float_noise_pct` and `origin_out_of_order_pct` of `origin_valid`;
    `received_out_of_order_pct` of `received_valid`. Min/max are raw valid values, None if none.
    """

    rows: int = 0
    origin_null: int = 0
    origin_nat: int = 0
    origin_zero: int = 0
    origin_negative: int = 0
    origin_valid: int = 0
    outside_day: int = 0
    future: int = 0
    float_noise: int = 0
    received_null: int = 0
    received_nat: int = 0
    received_nonpositive: int = 0
    received_valid: int = 0
    origin_out_of_order: int = 0
    received_out_of_order: int = 0
    origin_min_ns: int | None = None
    origin_max_ns: int | None = None
    received_min_ns: int | None = None
    received_max_ns: int | None = None

    @property
    def origin_missing(self) -> int:
        """Null or NaT origins."""
        return self.origin_null + self.origin_nat

    @property
    def origin_invalid(self) -> int:
        """Origins unusable as a time: null, NaT, zero, negative or in the future. Rows outside
        the partition day are not counted: their time is valid, only filed under another day."""
        return self.origin_missing + self.origin_zero + self.origin_negative + self.future

    def pct(self, name: str) -> float | None:
        """Percentage of the count `name` (see the class docstring for its denominator)."""
        if name in _PCT_OF_ROWS or name == "origin_invalid":
            return pct(getattr(self, name), self.rows)
        if name in ("float_noise", "origin_out_of_order"):
            return pct(getattr(self, name), self.origin_valid)
        if name == "received_out_of_order":
            return pct(self.received_out_of_order, self.received_valid)
        raise KeyError(name)

    @classmethod
    def total(cls, parts: list[OriginCounts]) -> OriginCounts:
        """Sums of the counts, min of the mins, max of the maxes."""
        kw: dict[str, Any] = {f: sum(getattr(p, f) for p in parts) for f in _COUNT_FIELDS}
        for name, pick in (("min", min), ("max", max)):
            for clock in ("origin", "received"):
                vals = [getattr(p, f"{clock}_{name}_ns") for p in parts]
                vals = [v for v in vals if v is not None]
                kw[f"{clock}_{name}_ns"] = pick(vals) if vals else None
        return cls(**kw)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["origin_invalid"] = self.origin_invalid
        for name in (*_PCT_OF_ROWS, "origin_invalid", "float_noise"):
            out[f"{name}_pct"] = self.pct(name)
        for name in ("origin_out_of_order", "received_out_of_order"):
            out[f"{name}_pct"] = self.pct(name)
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> OriginCounts:
        return cls(**{f.name: raw[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class Hole:
    """No valid origin between `start_ns` and `end_ns` (the rows on either side, raw ns)."""

    start_ns: int
    end_ns: int

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(frozen=True)
class HoleSummary:
    """Holes: gaps >= `threshold_ns` between consecutive valid origins in file order.

    `count`, `total_ns` and `longest_ns` cover every hole; `listed` holds the first holes in file
    order, `truncated` says whether some were left out. `threshold_ns` is None when it could not
    be set (a depth partition with fewer than two distinct origins) or for a stream rollup.
    """

    threshold_ns: int | None = None
    count: int = 0
    total_ns: int = 0
    longest_ns: int | None = None
    listed: tuple[Hole, ...] = ()
    truncated: bool = False

    @classmethod
    def total(cls, parts: list[HoleSummary], max_listed: int) -> HoleSummary:
        holes = [h for p in parts for h in p.listed]
        longest = [p.longest_ns for p in parts if p.longest_ns is not None]
        return cls(
            threshold_ns=None,
            count=sum(p.count for p in parts),
            total_ns=sum(p.total_ns for p in parts),
            longest_ns=max(longest) if longest else None,
            listed=tuple(holes[:max_listed]),
            truncated=any(p.truncated for p in parts) or len(holes) > max_listed,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold_ns": self.threshold_ns,
            "count": self.count,
            "total_ns": self.total_ns,
            "longest_ns": self.longest_ns,
            "listed": [[h.start_ns, h.end_ns] for h in self.listed],
            "truncated": self.truncated,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> HoleSummary:
        kw = dict(raw)
        kw["listed"] = tuple(Hole(a, b) for a, b in raw["listed"])
        return cls(**kw)


class PartitionStatus(str, Enum):
    OK = "ok"
    EMPTY = "empty"  # files present, zero rows
    UNREADABLE = "unreadable"  # corrupt file or wrong schema: `error` says which and why


@dataclass(frozen=True)
class PartitionOriginTime:
    """origin_time findings for one table × exchange × symbol × day.

    `median_step_ns` is the median (nearest rank) of the positive steps between consecutive valid,
    ms-rounded origins, i.e. between distinct messages; None with fewer than two. `skew_sketch` is
    the in-memory distribution used for stream rollups; it is not part of the JSON.
    """

    table: str
    exchange: str
    symbol: str
    dt: date
    status: PartitionStatus
    counts: OriginCounts
    median_step_ns: int | None
    holes: HoleSummary
    skew: SkewStats
    error: str | None = None
    skew_sketch: SkewSketch | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        """`table/EXCHANGE/SYMBOL/YYYY-MM-DD`, as `Partition.key` and ground_truth.json."""
        return f"{self.table}/{self.exchange}/{self.symbol}/{self.dt.isoformat()}"

    @property
    def stream(self) -> str:
        return f"{self.table}/{self.exchange}/{self.symbol}"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "table": self.table,
            "exchange": self.exchange,
            "symbol": self.symbol,
            "dt": self.dt.isoformat(),
            "status": self.status.value,
            "error": self.error,
            "counts": self.counts.to_json(),
            "median_step_ns": self.median_step_ns,
            "holes": self.holes.to_json(),
            "skew": self.skew.to_json(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> PartitionOriginTime:
        return cls(
            table=raw["table"],
            exchange=raw["exchange"],
            symbol=raw["symbol"],
            dt=date.fromisoformat(raw["dt"]),
            status=PartitionStatus(raw["status"]),
            counts=OriginCounts.from_json(raw["counts"]),
            median_step_ns=raw["median_step_ns"],
            holes=HoleSummary.from_json(raw["holes"]),
            skew=SkewStats.from_json(raw["skew"]),
            error=raw["error"],
        )


class RecommendationKind(str, Enum):
    USE_ORIGIN = "use origin_time"
    FALL_BACK = "fall back to received_time"
    CLOCK_SYNC = "vendor clock sync needed"
    INSUFFICIENT = "insufficient data"


@dataclass(frozen=True)
class Recommendation:
    """Which clock to trust for one stream, why (`reasons`, one sentence each) and on what figures
    (`numbers`: name → value, JSON scalars)."""

    stream: str
    kind: RecommendationKind
    reasons: tuple[str, ...]
    numbers: dict[str, Scalar]

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "kind": self.kind.value,
            "reasons": list(self.reasons),
            "numbers": dict(self.numbers),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Recommendation:
        return cls(
            raw["stream"], RecommendationKind(raw["kind"]), tuple(raw["reasons"]), raw["numbers"]
        )
