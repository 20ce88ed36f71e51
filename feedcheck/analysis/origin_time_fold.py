"""Running per-stream rollups of an origin-time run: each partition folded in as it arrives.

A fanned-out run gets its partition summaries back one by one, in whatever order they finish.
Holding them all until the end would keep one skew sketch per partition in the flow's process
(up to `exact_skew_max_values` exact runs each: ~15 MB for a real BTC delta day, so several GB
for a month of many symbols). `OriginTimeFold.add` merges a partition's sketch into its stream's
running sketch at once and keeps the partition's row without it, so the fold holds at most one
sketch per stream, whatever the number of days.

The result equals `combine_partitions` over the same summaries (which is this fold run in plan
order): histograms add exactly; a stream's running sketch keeps its exact runs while every
partition so far was exact and their runs number at most `exact_skew_max_values`, the same test
`SkewSketch.merge` applies to all partitions at once (run counts only grow, so a prefix never
crosses the limit when the total does not). Quantiles do not depend on the order of the runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING

from feedcheck.analysis.origin_time_result import OriginTimeConfig, PartitionOriginTime
from feedcheck.analysis.origin_time_streams import OriginTimeResult, rollup_merged
from feedcheck.analysis.origin_time_verdict import evaluate_criteria, recommend
from feedcheck.analysis.skew_sketch import SkewSketch
from feedcheck.errors import ConfigError
from feedcheck.lake.layout import Partition, check_table

if TYPE_CHECKING:
    from feedcheck.analysis.origin_time import StagingPlan

Stream = tuple[str, str, str]


@dataclass
class _StreamFold:
    """One stream so far: its partitions' rows (no sketch) and the merge of their sketches."""

    rows: dict[date, PartitionOriginTime] = field(default_factory=dict)
    sketch: SkewSketch | None = None


class OriginTimeFold:
    """An origin-time run's result, built one partition summary at a time (any order).

    Args:
        plan: the run's plan (streams, days, partitions found).
        config: the analysis configuration the partitions were analysed with.

    Invariants: after any number of `add`s, `held_sketches()` has at most one sketch per
    stream of the plan, and no kept partition row carries a sketch.
    """

    def __init__(self, plan: StagingPlan, config: OriginTimeConfig) -> None:
        self._plan = plan
        self._config = config
        self._streams: dict[Stream, _StreamFold] = {s: _StreamFold() for s in plan.streams}
        self._days = frozenset(plan.days)

    @property
    def folded(self) -> int:
        """Partitions folded in so far."""
        return sum(len(s.rows) for s in self._streams.values())

    def held_sketches(self) -> dict[Stream, SkewSketch]:
        """The running sketch of each stream that has one (what the fold keeps of the skews)."""
        return {k: s.sketch for k, s in self._streams.items() if s.sketch is not None}

    def add(self, partition: Partition, summary: PartitionOriginTime) -> None:
        """Fold `summary` (from `analyse_found_partition`, with its sketch) into its stream.

        The caller's `summary` is not changed; the fold keeps a copy without the sketch, so once
        the caller drops `summary`, the partition's sketch is freed. A planned partition outside
        the plan's days is not part of the result (as in `combine_partitions`) and is not kept.

        Raises:
            ConfigError: `partition` is not in the plan, was already folded, or `summary` has no
                skew sketch (read back from JSON).
        """
        if partition not in self._plan.found:
            raise ConfigError(f"{partition.key}: not in the plan, cannot fold it")
        stream = self._streams[(partition.table, partition.exchange, partition.symbol)]
        if partition.dt in stream.rows:
            raise ConfigError(f"{partition.key}: already folded")
        if summary.skew_sketch is None:
            raise ConfigError(f"{partition.key}: no skew sketch to merge (read back from JSON?)")
        if partition.dt not in self._days:
            return
        if stream.sketch is None:
            stream.sketch = summary.skew_sketch
        else:
            stream.sketch = SkewSketch.merge(
                [stream.sketch, summary.skew_sketch], self._config.exact_skew_max_values
            )
        stream.rows[partition.dt] = replace(summary, skew_sketch=None)

    def result(self) -> OriginTimeResult:
        """The run's result: per-stream rollups with recommendations, missing partitions,
        criteria, and every partition's row (without sketch), as `combine_partitions` returns.

        Raises:
            ConfigError: a planned partition within the run's days has not been folded.
        """
        plan, config = self._plan, self._config
        partitions, rollups, missing = [], [], []
        for table, ex, sym in plan.streams:
            stream = self._streams[(table, ex, sym)]
            mine, gaps = [], []
            for dt in plan.days:
                part = Partition(check_table(table), ex, sym, dt)
                if part not in plan.found:
                    gaps.append(dt)
                    missing.append(part.key)
                    continue
                if dt not in stream.rows:
                    raise ConfigError(f"{part.key}: planned but no result to combine")
                mine.append(stream.rows[dt])
            merged = stream.sketch
            if merged is None:  # no partition at all: an empty, exact sketch
                merged = SkewSketch.merge([], config.exact_skew_max_values)
            rollup = rollup_merged(table, ex, sym, mine, merged, gaps, config)
            rollups.append(replace(rollup, recommendation=recommend(rollup, config.thresholds)))
            partitions += mine
        days = plan.days
        result = OriginTimeResult(
            source=plan.source,
            data_kind=plan.data_kind,
            tables=plan.tables,
            start=days[0] if days else None,
            end=days[-1] + timedelta(days=1) if days else None,
            config=config,
            partitions=tuple(sorted(partitions, key=lambda p: p.key)),
            streams=tuple(rollups),
            missing_partitions=tuple(sorted(missing)),
            criteria=(),
        )
        return replace(result, criteria=tuple(evaluate_criteria(result)))
