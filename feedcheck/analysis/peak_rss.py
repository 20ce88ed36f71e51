"""A process's own RSS high-water mark, stdlib only.

Stdlib only on purpose: `io_perf_child.py` is run by file path and imports this module as a
sibling, so measuring does not pull polars or the feedcheck package into the measured baseline.
"""

from __future__ import annotations

import os
import resource


def peak_rss_bytes() -> int:
    """This process's RSS high-water mark, bytes.

    VmHWM first: `ru_maxrss` of an exec'd child starts at its parent's RSS at fork time (Linux
    folds the pre-exec address space into it), so it would report the parent's size, not ours.
    """
    if os.path.exists("/proc/self/status"):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the next reading is one phase's peak.

    Returns False where /proc/self/clear_refs is absent or not writable: the mark then stays the
    lifetime peak and per-phase readings are cumulative.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True
