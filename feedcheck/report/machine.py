"""What a run measured on: CPU, cores, memory, OS, Python and the stack's versions.

Reports and benchmarks print this next to their figures, since every figure depends on it.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata

#: The packages whose versions decide the figures (the stack pins of pyproject.toml).
STACK = ("prefect", "polars", "pyarrow", "duckdb", "numba", "numpy", "pandera", "websockets")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(
                line.split(":", 1)[1].strip() for line in f if line.startswith("model name")
            )
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def memory_bytes() -> int | None:
    """Physical memory in bytes (Linux), None where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def describe() -> str:
    """One line: CPU, cores, Python."""
    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def machine_info() -> dict[str, object]:
    """JSON-safe facts about this machine and the stack's versions."""
    versions = {}
    for name in STACK:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    memory = memory_bytes()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": None if memory is None else round(memory / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
    }
