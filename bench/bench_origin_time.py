"""origin-time analysis: rows/s and peak RSS on one day of synthetic book_delta_v2 at the real perp
rate (10 messages/s × ~116 levels ≈ 100 M rows, data-formats.md §1.5: 109 M rows/day).

Figures:
- `origin_time_throughput`: the whole `analyse_staging` run (Parquet decode, checks, percentiles,
  rollup, criteria), warm (numba kernel compiled, file in the page cache), median of `RUNS`.
- `origin_time_checks_throughput`: the vectorised checks alone (`scan_clocks_nb` over the same
  rows already in memory, 20 M rows), the figure DESIGN.md's ≥ 300 M rows/s target is about.
- `parquet_decode_floor_throughput`: polars streaming decode of the two clock columns and
  nothing else, the floor any reader of these files pays; `origin_time_vs_decode_floor` is
  floor seconds / our seconds (1.0 = the checks cost nothing on top of decoding).
- `origin_time_peak_rss`: high-water RSS of this process after the analysis (the data is generated
  in a child process, so the figure is the analysis's own; target ≤ 2 GB).
Peer: plain polars, eager, in the same process after ours: read both clock columns whole and
compute the same metrics with whole-column expressions (exact percentiles by sorting). Its answers
are checked against ours; the ratio is peer seconds / our seconds.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from bench.machine import describe, peak_rss_mib
from feedcheck.analysis import OriginTimeConfig, PartitionOriginTime, analyse_staging
from feedcheck.analysis import origin_time_kernel as k
from feedcheck.analysis.origin_time import LAKE_CLOCKS
from feedcheck.lake.readers import lake_files
from feedcheck.lake.synthetic import Rates, Scenario, generate_dataset

SCENARIO = Scenario(
    seed=1,
    symbols=("BTC-USDT",),
    start=date(2024, 4, 1),
    end=date(2024, 4, 2),
    tables=("book_delta_v2",),
    hours_per_day=24.0,
    rates=Rates(delta_messages_per_second=10.0, levels_per_message=116.0),
)
CONFIG = OriginTimeConfig(now_ns=1_767_225_600 * 10**9)  # 2026-01-01: fixed for reproducibility
CHECKS_ROWS = 20_000_000
#: Our analysis and the decode floor run this many times, medians reported (the peer runs once).
RUNS = 3
MS = 1_000_000
NAT = -(2**63)


def _generate(root: str, hours: float) -> None:
    generate_dataset(Scenario(**{**SCENARIO.__dict__, "hours_per_day": hours}), Path(root))


def _generate_in_child(root: Path, hours: float) -> None:
    proc = multiprocessing.get_context("spawn").Process(target=_generate, args=(str(root), hours))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"generator exited with {proc.exitcode}")


def _rank(pct: int, n: int) -> int:
    return max(1, -(-pct * n // 100))


def peer_polars_eager(files: list[Path], dt: date, config: OriginTimeConfig) -> dict[str, object]:
    """The same metrics with eager polars whole-column expressions (exact, sort-based)."""
    df = pl.read_parquet(files, columns=["timestamp", "receipt_timestamp"])
    o, r = pl.col("timestamp"), pl.col("receipt_timestamp")
    o_ok, r_ok = o.is_not_null() & (o > 0), r.is_not_null() & (r > 0)
    o_ms = (o + MS // 2) // MS
    day_ms = (dt - date(1970, 1, 1)).days * 86_400_000
    out = df.select(
        rows=pl.len(),
        origin_null=o.is_null().sum(),
        origin_nat=(o == NAT).sum(),
        origin_zero=(o == 0).sum(),
        origin_negative=((o < 0) & (o != NAT)).sum(),
        outside_day=(o_ok & ((o_ms < day_ms) | (o_ms >= day_ms + 86_400_000))).sum(),
        future=(o_ok & (o > config.now_ns)).sum(),
        float_noise=(o_ok & (o % MS != 0)).sum(),
        received_out_of_order=(r.filter(r_ok).diff() < 0).sum(),
        skew_negative=(o_ok & r_ok & (r < o)).sum(),
    ).row(0, named=True)
    valid = df.filter(o_ok).select(o=o, ms=o_ms, step=o_ms.diff(), gap=o.diff())
    out["origin_out_of_order"] = int((valid["step"] < 0).sum())
    steps = valid["step"].filter(valid["step"] > 0).sort()
    median_ns = int(steps[_rank(50, steps.len()) - 1]) * MS
    holes = valid["gap"].filter(valid["gap"] >= config.hole_multiple * median_ns)
    out["holes"] = holes.len()
    skew = df.filter(o_ok & r_ok).select(s=r - o, h=(o_ms // 3_600_000) % 24)
    ordered = skew["s"].sort()
    for p in (50, 90, 95, 99):
        out[f"p{p}_ns"] = int(ordered[_rank(p, ordered.len()) - 1])
    # nearest-rank p95 of n values = the smallest of the top n - ceil(0.95 n) + 1
    top = pl.len() - (pl.len() * 95 + 99) // 100 + 1
    hourly = skew.group_by("h").agg(p95=pl.col("s").top_k(top).min()).sort("h")
    out["hourly_p95_ns"] = dict(zip(hourly["h"].to_list(), hourly["p95"].to_list(), strict=True))
    return out


def _ours(p: PartitionOriginTime) -> dict[str, object]:
    c, s = p.counts, p.skew
    out: dict[str, object] = {
        name: getattr(c, name)
        for name in (
            "rows",
            "origin_null",
            "origin_nat",
            "origin_zero",
            "origin_negative",
            "outside_day",
            "future",
            "float_noise",
            "received_out_of_order",
            "origin_out_of_order",
        )
    }
    out.update(skew_negative=s.negative, holes=p.holes.count)
    out.update({f"p{q}_ns": getattr(s, f"p{q}_ns") for q in (50, 90, 95, 99)})
    out["hourly_p95_ns"] = {h: v for h, v in enumerate(s.hourly_p95_ns) if v is not None}
    return out


def _checks_only(files: list[Path]) -> tuple[int, float]:
    """Time `scan_clocks_nb` alone over the first CHECKS_ROWS rows, already decoded in memory."""
    lf = pl.scan_parquet(files).select("timestamp", "receipt_timestamp").head(CHECKS_ROWS)
    batches = [(b[:, 0].to_numpy(), b[:, 1].to_numpy()) for b in lf.collect_batches()]
    cap = max(len(b[0]) for b in batches)
    params = np.array([0, 1 << 50, CONFIG.now_ns, 10 * MS, CONFIG.skew_spike_ns], np.int64)
    state, counts = k.new_state(), k.new_counts()
    steps = np.zeros(k.STEP_BINS, np.int64)
    hist = np.zeros((k.HOURS, k.HIST_SLOTS), np.int64)
    out = [np.empty(cap, np.int64) for _ in range(6)]
    fbuf, written = np.zeros(1), np.zeros(3, np.int64)
    no_nulls = np.zeros(0, dtype=bool)
    t0 = time.perf_counter()
    for o, r in batches:
        k.scan_clocks_nb(
            o, r, no_nulls, no_nulls, False, params, state, counts, steps, out[0], out[1],
            out[2], hist, True, out[3], out[4], out[5], fbuf, fbuf.view(np.int64), written,
        )  # fmt: skip
    return int(counts[k.C_ROWS]), time.perf_counter() - t0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, warm = Path(tmp) / "lake", Path(tmp) / "warm"
        _generate_in_child(warm, 0.01)
        analyse_staging(warm, ["book_delta_v2"], CONFIG)  # loads the numba kernel
        t0 = time.perf_counter()
        _generate_in_child(root, 24.0)
        gen_s = time.perf_counter() - t0
        runs = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            result = analyse_staging(root, ["book_delta_v2"], CONFIG)
            runs.append(time.perf_counter() - t0)
        ours_s = sorted(runs)[RUNS // 2]
        ours_rss = peak_rss_mib()
        part = result.partitions[0]
        rows = part.counts.rows
        files = lake_files(root, "book_delta_v2")
        checks_rows, checks_s = _checks_only(files)
        floors = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            for _batch in pl.scan_parquet(files).select(*LAKE_CLOCKS).collect_batches():
                pass
            floors.append(time.perf_counter() - t0)
        floor_s = sorted(floors)[RUNS // 2]
        t0 = time.perf_counter()
        peer = peer_polars_eager(files, part.dt, CONFIG)
        peer_s = time.perf_counter() - t0
        peer_rss = peak_rss_mib()
    agree = peer == _ours(part)
    print(f"machine: {describe()}")
    print(
        f"data: synthetic book_delta_v2, 1 day at {SCENARIO.rates.delta_rows_per_hour:,.0f} rows/h"
    )
    print(f"origin_time_rows: {rows} rows")
    print(f"origin_time_generate_seconds: {gen_s:.1f} s")
    print(f"origin_time_seconds: {ours_s:.2f} s")
    print(f"origin_time_throughput: {rows / ours_s / 1e6:.0f} M rows/s")
    print(f"origin_time_checks_throughput: {checks_rows / checks_s / 1e6:.0f} M rows/s")
    print(f"parquet_decode_floor_throughput: {rows / floor_s / 1e6:.0f} M rows/s")
    print(f"origin_time_vs_decode_floor: {floor_s / ours_s:.2f} x")
    print(f"origin_time_peak_rss: {ours_rss:.0f} MiB")
    print(f"origin_time_skew_exact: {'yes' if part.skew.exact else 'no'}")
    print(f"polars_eager_seconds: {peer_s:.2f} s")
    print(f"polars_eager_throughput: {rows / peer_s / 1e6:.0f} M rows/s")
    print(f"polars_eager_peak_rss: {peer_rss:.0f} MiB")
    print(f"polars_eager_agrees: {'yes' if agree else 'NO'}")
    print(f"origin_time_vs_polars_eager: {peer_s / ours_s:.2f} x")


if __name__ == "__main__":
    main()
