"""Per-stream rollups (table × exchange × symbol across days) and the whole run's result.

A stream's counts are the sums of its partitions', its holes the union of theirs (a gap across
midnight between two partitions is not looked for: each day is checked on its own), its skew
percentiles come from the merged skew sketches, so they are percentiles of all its rows, not an
average of daily figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from feedcheck.analysis.origin_time_result import (
    HoleSummary,
    OriginCounts,
    OriginTimeConfig,
    PartitionOriginTime,
    PartitionStatus,
    Recommendation,
)
from feedcheck.analysis.skew_sketch import SkewSketch, SkewStats
from feedcheck.errors import ConfigError
from feedcheck.report.criteria import CriterionResult


@dataclass(frozen=True)
class StreamOriginTime:
    """origin_time findings for one table × exchange × symbol over the analysed days.

    `days` were analysed with rows, `empty_days` hold files with no rows, `missing_days` have no
    partition at all within the run's date range, `unreadable_days` could not be read (see the
    partition's `error`). `recommendation` is set by `analyse_staging` (see `recommend`).
    """

    table: str
    exchange: str
    symbol: str
    days: tuple[date, ...]
    empty_days: tuple[date, ...]
    missing_days: tuple[date, ...]
    unreadable_days: tuple[date, ...]
    counts: OriginCounts
    holes: HoleSummary
    skew: SkewStats
    recommendation: Recommendation | None = None

    @property
    def key(self) -> str:
        """`table/EXCHANGE/SYMBOL`."""
        return f"{self.table}/{self.exchange}/{self.symbol}"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "table": self.table,
            "exchange": self.exchange,
            "symbol": self.symbol,
            "days": [d.isoformat() for d in self.days],
            "empty_days": [d.isoformat() for d in self.empty_days],
            "missing_days": [d.isoformat() for d in self.missing_days],
            "unreadable_days": [d.isoformat() for d in self.unreadable_days],
            "counts": self.counts.to_json(),
            "holes": self.holes.to_json(),
            "skew": self.skew.to_json(),
            "recommendation": self.recommendation.to_json() if self.recommendation else None,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> StreamOriginTime:
        def days(name: str) -> tuple[date, ...]:
            return tuple(date.fromisoformat(d) for d in raw[name])

        rec = raw["recommendation"]
        return cls(
            table=raw["table"],
            exchange=raw["exchange"],
            symbol=raw["symbol"],
            days=days("days"),
            empty_days=days("empty_days"),
            missing_days=days("missing_days"),
            unreadable_days=days("unreadable_days"),
            counts=OriginCounts.from_json(raw["counts"]),
            holes=HoleSummary.from_json(raw["holes"]),
            skew=SkewStats.from_json(raw["skew"]),
            recommendation=Recommendation.from_json(rec) if rec else None,
        )


def rollup_stream(
    table: str,
    exchange: str,
    symbol: str,
    partitions: Sequence[PartitionOriginTime],
    missing_days: Sequence[date],
    config: OriginTimeConfig,
) -> StreamOriginTime:
    """Fold one stream's partitions (any order) into its `StreamOriginTime` (no recommendation).

    Partitions need their `skew_sketch` (as `analyse_partition` returns them); a partition
    without one (read back from JSON) cannot be merged.

    Raises:
        ConfigError: a partition has no skew sketch.
    """
    sketches = []
    for p in sorted(partitions, key=lambda p: p.dt):
        if p.skew_sketch is None:
            raise ConfigError(f"{p.key}: no skew sketch to merge (read back from JSON?)")
        sketches.append(p.skew_sketch)
    merged = SkewSketch.merge(sketches, config.exact_skew_max_values)
    return rollup_merged(table, exchange, symbol, partitions, merged, missing_days, config)


def rollup_merged(
    table: str,
    exchange: str,
    symbol: str,
    partitions: Sequence[PartitionOriginTime],
    merged: SkewSketch,
    missing_days: Sequence[date],
    config: OriginTimeConfig,
) -> StreamOriginTime:
    """`rollup_stream` with the partitions' skew sketches already merged into `merged` (in any
    order or grouping: `SkewSketch.merge` is associative and commutative), so `partitions` need
    not carry theirs (see `OriginTimeFold`). The figures equal `rollup_stream`'s."""
    parts = sorted(partitions, key=lambda p: p.dt)
    counts = OriginCounts.total([p.counts for p in parts])
    if len(parts) == 1:  # merging one sketch gives back the same distribution
        skew = parts[0].skew
    else:
        skew = merged.stats(
            negative=sum(p.skew.negative for p in parts),
            spike=sum(p.skew.spike for p in parts),
            min_ns=min((p.skew.min_ns for p in parts if p.skew.min_ns is not None), default=None),
            max_ns=max((p.skew.max_ns for p in parts if p.skew.max_ns is not None), default=None),
        )

    def days_with(status: PartitionStatus) -> tuple[date, ...]:
        return tuple(p.dt for p in parts if p.status is status)

    return StreamOriginTime(
        table=table,
        exchange=exchange,
        symbol=symbol,
        days=days_with(PartitionStatus.OK),
        empty_days=days_with(PartitionStatus.EMPTY),
        missing_days=tuple(sorted(missing_days)),
        unreadable_days=days_with(PartitionStatus.UNREADABLE),
        counts=counts,
        holes=HoleSummary.total([p.holes for p in parts], config.max_listed_holes),
        skew=skew,
    )


@dataclass(frozen=True)
class OriginTimeResult:
    """One origin-time run over a Lake tree (or capture data).

    Attributes:
        source: where the data came from (the tree's path).
        data_kind: "synthetic" when the tree holds a generator's ground_truth.json, else "lake".
        tables: tables asked for.
        start, end: the analysed day range `[start, end)`, None when no partition was found.
        config: the analysis configuration (thresholds included).
        partitions: every present partition (ok, empty or unreadable), sorted by key.
        streams: one rollup per table × exchange × symbol, sorted by key, with recommendations.
        missing_partitions: keys of the days in the range with no partition, sorted.
        criteria: Story 1.1's three criteria (see `evaluate_criteria`).
    """

    source: str
    data_kind: str
    tables: tuple[str, ...]
    start: date | None
    end: date | None
    config: OriginTimeConfig
    partitions: tuple[PartitionOriginTime, ...]
    streams: tuple[StreamOriginTime, ...]
    missing_partitions: tuple[str, ...]
    criteria: tuple[CriterionResult, ...]

    @property
    def empty_partitions(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.partitions if p.status is PartitionStatus.EMPTY)

    @property
    def unreadable_partitions(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.partitions if p.status is PartitionStatus.UNREADABLE)

    def partition(self, key: str) -> PartitionOriginTime:
        """The partition with `Partition.key` `key` (KeyError if absent)."""
        for p in self.partitions:
            if p.key == key:
                return p
        raise KeyError(key)

    def stream(self, key: str) -> StreamOriginTime:
        """The stream `table/EXCHANGE/SYMBOL` (KeyError if absent)."""
        for s in self.streams:
            if s.key == key:
                return s
        raise KeyError(key)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict: every metric per partition and per stream, recommendations, criteria."""
        return {
            "kind": "origin-time",
            "source": self.source,
            "data_kind": self.data_kind,
            "tables": list(self.tables),
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "config": self.config.to_json(),
            "partitions": [p.to_json() for p in self.partitions],
            "streams": [s.to_json() for s in self.streams],
            "missing_partitions": list(self.missing_partitions),
            "empty_partitions": list(self.empty_partitions),
            "unreadable_partitions": list(self.unreadable_partitions),
            "recommendations": [
                s.recommendation.to_json() for s in self.streams if s.recommendation is not None
            ],
            "criteria": [c.to_json() for c in self.criteria],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> OriginTimeResult:
        """Inverse of `to_json` (partitions come back without their skew sketches)."""
        return cls(
            source=raw["source"],
            data_kind=raw["data_kind"],
            tables=tuple(raw["tables"]),
            start=date.fromisoformat(raw["start"]) if raw["start"] else None,
            end=date.fromisoformat(raw["end"]) if raw["end"] else None,
            config=OriginTimeConfig.from_json(raw["config"]),
            partitions=tuple(PartitionOriginTime.from_json(p) for p in raw["partitions"]),
            streams=tuple(StreamOriginTime.from_json(s) for s in raw["streams"]),
            missing_partitions=tuple(raw["missing_partitions"]),
            criteria=tuple(CriterionResult.from_json(c) for c in raw["criteria"]),
        )
