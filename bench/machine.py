"""What a benchmark ran on, printed with its figures."""

from __future__ import annotations

import resource

from feedcheck.report.machine import describe

__all__ = ["describe", "peak_rss_mib"]


def peak_rss_mib() -> float:
    """Lifetime high-water mark of this process's RSS (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
