"""Which clock to trust per stream, and Story 1.1's three success criteria.

Per stream (`recommend`), in this order:
1. no rows → "insufficient data";
2. origin missing/invalid (null, NaT, zero, negative, future) not below
   `missing_invalid_max_pct` (5 %) of rows → "fall back to received_time": the exchange clock is
   absent too often to order events by it;
3. no row with both clocks valid → "insufficient data" (the skew is unknown);
4. p95 skew >= `skew_p95_max_ns` (100 ms), or negative skew (receipt before the exchange's stamp)
   on more than `negative_skew_max_pct` (0.1 %) of rows → "vendor clock sync needed": one of the
   clocks is off, so latency figures and cross-source joins on either clock are wrong;
5. otherwise → "use origin_time".

Criteria (`evaluate_criteria`), each over every stream of the run: FAIL if any stream fails it,
else UNKNOWN if any stream lacks the data (no rows, no valid skew) or there is no stream, else PASS.
The skew criterion fails on a negative skew share above the tolerance as well as on p95: a
receive clock behind the exchange's makes a small p95 meaningless.
"""

from __future__ import annotations

from collections import Counter

from feedcheck.analysis.origin_time_result import (
    OriginTimeThresholds,
    Recommendation,
    RecommendationKind,
)
from feedcheck.analysis.origin_time_streams import OriginTimeResult, StreamOriginTime
from feedcheck.report.criteria import CriterionResult, Scalar, Status

MISSING_CRITERION = "origin_time missing/invalid < {limit:g} %"
SKEW_CRITERION = "received − origin skew p95 < {limit:g} ms"
STRATEGY_CRITERION = "timestamp strategy stated"


def _ms(ns: int | None) -> str:
    return "n/a" if ns is None else f"{ns / 1e6:,.1f} ms"


def _numbers(stream: StreamOriginTime) -> dict[str, Scalar]:
    c, s = stream.counts, stream.skew
    return {
        "rows": c.rows,
        "origin_invalid": c.origin_invalid,
        "origin_invalid_pct": c.pct("origin_invalid"),
        "skew_rows": s.rows,
        "skew_p50_ns": s.p50_ns,
        "skew_p95_ns": s.p95_ns,
        "skew_negative_pct": s.negative_pct,
    }


def _skew_problems(stream: StreamOriginTime, t: OriginTimeThresholds) -> list[str]:
    s = stream.skew
    out = []
    if s.p95_ns is not None and s.p95_ns >= t.skew_p95_max_ns:
        out.append(f"p95 skew {_ms(s.p95_ns)} is at or above {_ms(t.skew_p95_max_ns)}")
    neg = s.negative_pct
    if neg is not None and neg > t.negative_skew_max_pct:
        out.append(
            f"received_time is before origin_time on {neg:.3g} % of rows ({s.negative:,}; "
            f"tolerance {t.negative_skew_max_pct:g} %), median skew {_ms(s.p50_ns)}"
        )
    return out


def recommend(
    stream: StreamOriginTime, thresholds: OriginTimeThresholds | None = None
) -> Recommendation:
    """The clock to use for one stream, with its reasons and the figures behind them."""
    t = thresholds or OriginTimeThresholds()
    c, s = stream.counts, stream.skew
    numbers = _numbers(stream)

    def result(kind: RecommendationKind, reasons: list[str]) -> Recommendation:
        return Recommendation(stream.key, kind, tuple(reasons), numbers)

    if c.rows == 0:
        return result(
            RecommendationKind.INSUFFICIENT,
            [
                f"no rows: {len(stream.empty_days)} empty, {len(stream.missing_days)} missing, "
                f"{len(stream.unreadable_days)} unreadable day(s)"
            ],
        )
    invalid_pct = c.pct("origin_invalid") or 0.0
    invalid = (
        f"origin_time is missing or invalid on {invalid_pct:.3g} % of {c.rows:,} rows (null "
        f"{c.origin_null:,}, NaT {c.origin_nat:,}, zero {c.origin_zero:,}, negative "
        f"{c.origin_negative:,}, future {c.future:,})"
    )
    if invalid_pct >= t.missing_invalid_max_pct:
        reasons = [f"{invalid}, not below {t.missing_invalid_max_pct:g} %"]
        reasons += [f"also: {p}" for p in _skew_problems(stream, t)]
        return result(RecommendationKind.FALL_BACK, reasons)
    if s.rows == 0:
        return result(
            RecommendationKind.INSUFFICIENT,
            ["no row has both a valid origin_time and a valid received_time: skew unknown"],
        )
    problems = _skew_problems(stream, t)
    if problems:
        return result(RecommendationKind.CLOCK_SYNC, problems)
    neg = s.negative_pct or 0.0
    return result(
        RecommendationKind.USE_ORIGIN,
        [
            f"{invalid}, below {t.missing_invalid_max_pct:g} %",
            f"p95 skew {_ms(s.p95_ns)} is below {_ms(t.skew_p95_max_ns)}",
            f"negative skew on {neg:.3g} % of rows, within {t.negative_skew_max_pct:g} %",
        ],
    )


def _status(failed: list[str], unknown: list[str], streams: int) -> Status:
    if failed:
        return Status.FAIL
    if unknown or streams == 0:
        return Status.UNKNOWN
    return Status.PASS


def _missing_criterion(streams: tuple[StreamOriginTime, ...], t: OriginTimeThresholds):
    with_rows = [s for s in streams if s.counts.rows]
    unknown = [s.key for s in streams if not s.counts.rows]
    failed = [
        s.key
        for s in with_rows
        if (s.counts.pct("origin_invalid") or 0.0) >= t.missing_invalid_max_pct
    ]
    worst = max(with_rows, key=lambda s: s.counts.pct("origin_invalid") or 0.0, default=None)
    evidence = (
        f"worst stream {worst.key}: {worst.counts.origin_invalid:,} of {worst.counts.rows:,} rows "
        f"missing/invalid over {len(worst.days)} day(s)"
        if worst
        else "no rows analysed"
    )
    if failed:
        evidence += f"; failing: {', '.join(failed)}"
    if unknown:
        evidence += f"; no rows: {', '.join(unknown)}"
    return CriterionResult(
        MISSING_CRITERION.format(limit=t.missing_invalid_max_pct),
        _status(failed, unknown, len(streams)),
        worst.counts.pct("origin_invalid") if worst else None,
        t.missing_invalid_max_pct,
        evidence,
        "%",
    )


def _skew_criterion(streams: tuple[StreamOriginTime, ...], t: OriginTimeThresholds):
    known = [s for s in streams if s.skew.rows]
    unknown = [s.key for s in streams if not s.skew.rows]
    failed = [f"{s.key} ({'; '.join(_skew_problems(s, t))})" for s in known if _skew_problems(s, t)]
    worst = max(known, key=lambda s: s.skew.p95_ns or 0, default=None)
    evidence = (
        f"highest p95: {worst.key} {_ms(worst.skew.p95_ns)} over {worst.skew.rows:,} rows"
        if worst
        else "no row with both clocks valid"
    )
    if failed:
        evidence += f"; failing: {', '.join(failed)}"
    if unknown:
        evidence += f"; no skew data: {', '.join(unknown)}"
    return CriterionResult(
        SKEW_CRITERION.format(limit=t.skew_p95_max_ns / 1e6),
        _status(failed, unknown, len(streams)),
        worst.skew.p95_ns if worst else None,
        t.skew_p95_max_ns,
        evidence,
        "ns",
    )


def _strategy_criterion(streams: tuple[StreamOriginTime, ...]):
    recs = [s.recommendation for s in streams if s.recommendation is not None]
    unknown = [r.stream for r in recs if r.kind is RecommendationKind.INSUFFICIENT]
    unknown += [s.key for s in streams if s.recommendation is None]
    kinds = Counter(r.kind.value for r in recs if r.kind is not RecommendationKind.INSUFFICIENT)
    value = ", ".join(f"{kind} ×{n}" for kind, n in sorted(kinds.items())) or None
    evidence = "; ".join(f"{r.stream}: {r.kind.value}" for r in recs) or "no stream analysed"
    return CriterionResult(
        STRATEGY_CRITERION,
        _status([], unknown, len(streams)),
        value,
        "a recommendation per stream",
        evidence,
    )


def evaluate_criteria(
    result: OriginTimeResult, thresholds: OriginTimeThresholds | None = None
) -> list[CriterionResult]:
    """Story 1.1's criteria over `result.streams` (thresholds default to the result's config):
    origin missing/invalid below the limit, p95 skew below the limit (and no negative skew beyond
    the tolerance), a recommendation for every stream."""
    t = thresholds or result.config.thresholds
    return [
        _missing_criterion(result.streams, t),
        _skew_criterion(result.streams, t),
        _strategy_criterion(result.streams),
    ]
