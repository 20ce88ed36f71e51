"""Analyses over Lake and capture data: pure functions returning frozen result dataclasses.

Story 1.1 (origin_time completeness and clock skew): `analyse_partition` on any frame with the two
raw int64 ns clocks, `analyse_staging` over a Lake tree, `OriginTimeFold` to fold partition
summaries into per-stream rollups as they arrive (a Dask fan-out), `recommend`, `evaluate_criteria`.
"""

from feedcheck.analysis.origin_time import (
    analyse_lake_partition,
    analyse_partition,
    analyse_staging,
)
from feedcheck.analysis.origin_time_fold import OriginTimeFold
from feedcheck.analysis.origin_time_result import (
    Hole,
    HoleSummary,
    OriginCounts,
    OriginTimeConfig,
    OriginTimeThresholds,
    PartitionOriginTime,
    PartitionStatus,
    Recommendation,
    RecommendationKind,
)
from feedcheck.analysis.origin_time_streams import (
    OriginTimeResult,
    StreamOriginTime,
    rollup_merged,
    rollup_stream,
)
from feedcheck.analysis.origin_time_verdict import evaluate_criteria, recommend
from feedcheck.analysis.skew_sketch import SkewSketch, SkewStats

__all__ = [
    "Hole",
    "HoleSummary",
    "OriginCounts",
    "OriginTimeConfig",
    "OriginTimeFold",
    "OriginTimeResult",
    "OriginTimeThresholds",
    "PartitionOriginTime",
    "PartitionStatus",
    "Recommendation",
    "RecommendationKind",
    "SkewSketch",
    "SkewStats",
    "StreamOriginTime",
    "analyse_lake_partition",
    "analyse_partition",
    "analyse_staging",
    "evaluate_criteria",
    "recommend",
    "rollup_merged",
    "rollup_stream",
]
