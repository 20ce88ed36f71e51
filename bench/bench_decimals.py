"""Decimal128 vs int64 ticks: ns/value of sum, diff, group-by, sort and Parquet write/read.

Peer: the same values as unscaled int64 ticks, timed in the same process on the same data; the
ratio is Decimal time / int64 time (> 1: Decimal slower). Also prints the exact round-trip
mismatches per storage path and the verdicts of `feedcheck.analysis.decimals`.
"""

from __future__ import annotations

import re

from bench.machine import describe, peak_rss_mib
from feedcheck.analysis.decimals import run_decimals_check

ROWS = 5_000_000
ROUND_TRIP_ROWS_PER_SYMBOL = 100_000


def main() -> None:
    report = run_decimals_check(ROUND_TRIP_ROWS_PER_SYMBOL, ROWS, repeats=3)
    print(f"machine: {describe()}")
    print(
        f"data: {ROWS:,} BTC-like prices, Decimal(18, 8) vs int64 ticks; 4 instruments round trip"
    )
    print("peer: the same values as unscaled int64 ticks, same engine, same process")
    for s in report.speed:
        name = f"{s.engine}_{s.operation}"
        print(f"{name}_int64: {1e3 / s.int64_ns_per_value:.1f} M values/s")
        print(f"{name}_decimal: {1e3 / s.decimal_ns_per_value:.1f} M values/s")
        print(f"{name}_decimal_vs_int64: {s.ratio:.2f} x")
    for path, count in report.mismatches_by_path().items():
        print(f"round_trip_mismatches_{path}: {count} values")
    for c in report.criteria:
        # `name: value` per figure (DESIGN.md): the verdict's name becomes the figure's name.
        slug = re.sub(r"[^a-z0-9]+", "_", c.name.lower()).strip("_")
        print(f"verdict_{slug}: {c.status.value}")
    print(f"peak_rss: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
