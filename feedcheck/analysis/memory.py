"""Memory profile of reconstruction + analyses over a Lake tree, measured in a child process.

The job (`memory_child.py`) runs in a fresh interpreter so the figures are its own: the parent
samples the child's RSS with memory_profiler every `interval_s` (children included) and the child
marks its phases (startup, reconstruct, origin_time, duckdb) with wall-clock start/end lines and
its own VmHWM per phase, read from /proc rather than `ru_maxrss` (which an exec'd child inherits
from its parent). Peak and P95 come from the samples, cross-checked by the child's VmHWM.

Memory pressure: with `cap_bytes` the child runs under RLIMIT_AS (set in its preexec) and DuckDB
gets `memory_limit` = half the cap; reconstruction streams row groups regardless. Whether the run
completed, and otherwise the child's own error (last traceback line or the killing signal), is
part of the result: a failed capped run is a finding, never an exception here.
"""

from __future__ import annotations

import json
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from memory_profiler import memory_usage

from feedcheck.errors import ConfigError, DataError
from feedcheck.report.criteria import CriterionResult, Status

GIB = 1 << 30
MIB = 1 << 20
#: Default memory budget of a reconstruction host, bytes (24 GiB).
BUDGET_BYTES = 24 * GIB
#: The small-host profile's budget, bytes (16 GiB).
SMALL_HOST_BUDGET_BYTES = 16 * GIB
#: Longest allowed RSS sampling interval, s.
MAX_INTERVAL_S = 0.1
#: Lake default instrument grid (BTC-USDT spot): price tick and size lot.
DEFAULT_TICK = 0.01
DEFAULT_LOT = 0.00001
CRITERION_NAME = "memory P95 < budget"
CHILD_MODULE = "feedcheck.analysis.memory_child"


@dataclass(frozen=True)
class PhaseMemory:
    """One phase of the child. Times are s from the child's start; RSS figures in bytes.

    `sampled_peak_bytes` is the largest sample inside the phase (None when the phase was shorter
    than one interval); `hwm_bytes` is the child's VmHWM read at the phase's end.
    """

    name: str
    start_s: float
    end_s: float
    sampled_peak_bytes: int | None
    hwm_bytes: int


@dataclass(frozen=True)
class MemoryProfile:
    """Result of one child run. Bytes throughout; `peak_bytes >= p95_bytes` when both are set.

    `completed` is False when the child exited non-zero (e.g. under `cap_bytes`); `error` then holds
    its last stderr line or the signal that killed it, and the phases it did finish are kept.
    """

    data_root: str
    budget_bytes: int
    cap_bytes: int | None
    interval_s: float
    completed: bool
    error: str | None
    samples: int
    peak_bytes: int | None
    p95_bytes: int | None
    child_hwm_bytes: int | None
    seconds: float
    phases: tuple[PhaseMemory, ...]
    rows: int | None
    criterion: CriterionResult


def memory_criterion(p95_bytes: int | None, budget_bytes: int, what: str) -> CriterionResult:
    """PASS when P95 RSS < budget (strictly), FAIL at or above it, UNKNOWN without a measurement."""
    if p95_bytes is None:
        return CriterionResult(
            CRITERION_NAME, Status.UNKNOWN, None, budget_bytes,
            f"no completed measurement of {what}", "bytes",
        )  # fmt: skip
    ok = p95_bytes < budget_bytes
    return CriterionResult(
        CRITERION_NAME, Status.PASS if ok else Status.FAIL, p95_bytes, budget_bytes,
        f"P95 RSS {p95_bytes / MIB:.0f} MiB {'<' if ok else '>='} budget "
        f"{budget_bytes / GIB:.1f} GiB over {what}",
        "bytes",
    )  # fmt: skip


def _cap_preexec(cap_bytes: int | None):  # noqa: ANN202 (a preexec callable)
    if cap_bytes is None:
        return None

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))

    return apply


#: A traceback's exception line, e.g. "duckdb.duckdb.OutOfMemoryException: ...".
_EXC_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")


def _child_error(returncode: int, stderr: str) -> str:
    """The child's exception line (the last one: DuckDB appends advice after it), else its last
    stderr line, else the signal that killed it."""
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in reversed(lines):
        if _EXC_LINE.match(line):
            return line
    return lines[-1] if lines else f"exit status {returncode}, no stderr"


def _phases(phase_file: Path, t0: float, times: np.ndarray, mib: np.ndarray) -> list[PhaseMemory]:
    out = []
    text = phase_file.read_text() if phase_file.exists() else ""
    for line in text.splitlines():
        p = json.loads(line)
        inside = (times >= p["start_s"]) & (times <= p["end_s"])
        peak = int(mib[inside].max() * MIB) if inside.any() else None
        out.append(
            PhaseMemory(p["phase"], p["start_s"] - t0, p["end_s"] - t0, peak, int(p["hwm_bytes"]))
        )
    return out


def profile_memory(
    data_root: Path | str,
    *,
    budget_bytes: int = BUDGET_BYTES,
    interval_s: float = MAX_INTERVAL_S,
    cap_bytes: int | None = None,
    tick: float = DEFAULT_TICK,
    lot: float = DEFAULT_LOT,
) -> MemoryProfile:
    """Run reconstruction + origin-time + DuckDB analyses over `data_root` in a child; profile RSS.

    Args:
        data_root: Lake Hive tree (`book_delta_v2/exchange=../symbol=../dt=../*.parquet`, etc.).
        budget_bytes: the criterion's limit on P95 RSS, bytes (`SMALL_HOST_BUDGET_BYTES` for 16 GiB).
        interval_s: RSS sampling interval, s, in (0, 0.1].
        cap_bytes: if set, the child's address-space limit (RLIMIT_AS), bytes.
        tick, lot: the instrument's price tick and size lot (prices -> ticks, sizes -> lots).

    Raises:
        ConfigError: interval outside (0, 0.1], budget or cap not > 0.
        DataError: `data_root` holds no book_delta_v2 Parquet file.
    """
    if not 0 < interval_s <= MAX_INTERVAL_S:
        raise ConfigError(f"interval_s must be in (0, {MAX_INTERVAL_S}], got {interval_s}")
    if budget_bytes <= 0 or (cap_bytes is not None and cap_bytes <= 0):
        raise ConfigError(f"budget and cap must be > 0, got {budget_bytes} and {cap_bytes}")
    root = Path(data_root)
    if not any(root.glob("book_delta_v2/**/*.parquet")):
        raise DataError(str(root), "no book_delta_v2 Parquet file", "book_delta_v2",
                        "at least one file", "none")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="feedcheck-mem-") as tmp:
        phase_file = Path(tmp) / "phases.jsonl"
        spec = {
            "root": str(root), "tick": tick, "lot": lot, "phase_file": str(phase_file),
            "duckdb_memory_limit": f"{cap_bytes // 2 // MIB}MB" if cap_bytes else None,
            "now_ns": time.time_ns(),
        }  # fmt: skip
        with (
            tempfile.TemporaryFile("w+") as out,
            tempfile.TemporaryFile("w+") as err,
        ):
            t0 = time.time()
            spec["launched_s"] = t0
            proc = subprocess.Popen(
                [sys.executable, "-m", CHILD_MODULE, json.dumps(spec)],
                stdout=out, stderr=err, text=True, preexec_fn=_cap_preexec(cap_bytes),
            )  # fmt: skip
            sampled = memory_usage(proc, interval=interval_s, timestamps=True,
                                   include_children=True)  # fmt: skip
            returncode = proc.wait()
            seconds = time.time() - t0
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        mib = np.array([s[0] for s in sampled], dtype=np.float64)
        times = np.array([s[1] for s in sampled], dtype=np.float64)
        phases = _phases(phase_file, t0, times, mib)
    completed = returncode == 0
    summary = json.loads(stdout.strip().splitlines()[-1]) if completed else {}
    peak = int(mib.max() * MIB) if len(mib) else None
    p95 = int(np.percentile(mib, 95) * MIB) if len(mib) else None
    what = f"reconstruction + analyses of {root}"
    return MemoryProfile(
        data_root=str(root),
        budget_bytes=budget_bytes,
        cap_bytes=cap_bytes,
        interval_s=interval_s,
        completed=completed,
        error=None if completed else _child_error(returncode, stderr),
        samples=len(mib),
        peak_bytes=peak,
        p95_bytes=p95,
        child_hwm_bytes=summary.get("peak_rss_bytes"),
        seconds=seconds,
        phases=tuple(phases),
        rows=summary.get("rows"),
        criterion=memory_criterion(p95 if completed else None, budget_bytes, what),
    )
