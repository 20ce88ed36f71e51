"""Parquet I/O results: per engine × codec rates, streaming vs batch loads, the 220 GB/month check.

Units: byte counts are int bytes, durations float seconds, rates bytes/s; the `*_gb_per_s`
properties use decimal GB (1e9 bytes) and `*_mb_per_s` decimal MB (1e6). Two byte counts are kept
apart everywhere: `file_bytes` (compressed Parquet on disk) and `decoded_bytes` (the Arrow table's
`nbytes` in memory, i.e. what the decoder produced).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from feedcheck.errors import ConfigError
from feedcheck.report.criteria import CriterionResult, Status

Engine = Literal["polars", "pyarrow", "duckdb"]
Codec = Literal["uncompressed", "snappy", "zstd"]
Op = Literal["write", "read"]
#: Loading approaches, each run in its own child process.
Approach = Literal["polars-eager", "polars-streaming", "duckdb-copy"]

ENGINES: tuple[Engine, ...] = ("polars", "pyarrow", "duckdb")
CODECS: tuple[Codec, ...] = ("uncompressed", "snappy", "zstd")
APPROACHES: tuple[Approach, ...] = ("polars-eager", "polars-streaming", "duckdb-copy")

#: The data volume the pipeline must keep up with: 220 GB (1e9 bytes) of Lake Parquet per month.
MONTH_BYTES = 220_000_000_000
#: A month, for the sustained-rate sum.
MONTH_DAYS = 30
SECONDS_PER_DAY = 86_400
MONTH_CRITERION = "I/O supports 220 GB/month"


def _gb(n: float) -> float:
    return n / 1e9


@dataclass(frozen=True)
class IoRate:
    """One timed Parquet write or read of the whole dataset by one engine with one codec.

    Attributes:
        engine, codec, op: what was timed.
        seconds: best (smallest) wall time over the repeats, s.
        rows: rows written or read.
        file_bytes: size of the Parquet file on disk (compressed), bytes.
        decoded_bytes: Arrow `nbytes` of the same rows in memory, bytes.
        file: path of the Parquet file written or read.
    """

    engine: Engine
    codec: Codec
    op: Op
    seconds: float
    rows: int
    file_bytes: int
    decoded_bytes: int
    file: str

    @property
    def file_gb_per_s(self) -> float:
        """On-disk (compressed) bytes per second, GB/s."""
        return _gb(self.file_bytes / self.seconds)

    @property
    def decoded_gb_per_s(self) -> float:
        """In-memory (decoded Arrow) bytes per second, GB/s."""
        return _gb(self.decoded_bytes / self.seconds)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "codec": self.codec,
            "op": self.op,
            "seconds": self.seconds,
            "rows": self.rows,
            "file_bytes": self.file_bytes,
            "decoded_bytes": self.decoded_bytes,
            "file": self.file,
            "file_gb_per_s": self.file_gb_per_s,
            "decoded_gb_per_s": self.decoded_gb_per_s,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> IoRate:
        return cls(
            engine=raw["engine"],
            codec=raw["codec"],
            op=raw["op"],
            seconds=raw["seconds"],
            rows=raw["rows"],
            file_bytes=raw["file_bytes"],
            decoded_bytes=raw["decoded_bytes"],
            file=raw["file"],
        )


@dataclass(frozen=True)
class LoadRun:
    """One loading approach (source files → zstd Parquet copy) run alone in a fresh child process.

    Attributes:
        approach: "polars-eager" (read_parquet → write_parquet), "polars-streaming"
            (scan_parquet → sink_parquet), "duckdb-copy" (COPY ... TO under `memory_limit`).
        seconds: wall time of the load inside the child (imports excluded), s.
        rows: rows written by the child.
        input_file_bytes: on-disk size of the source files read, bytes.
        input_decoded_bytes: Arrow `nbytes` of the source rows, bytes.
        output_file_bytes: size of the Parquet the child wrote, bytes.
        peak_rss_bytes: the child's lifetime RSS high-water mark (its own VmHWM; `ru_maxrss`
            where /proc is absent), bytes.
        baseline_rss_bytes: the child's high-water mark after imports, before the load, bytes; the
            interpreter and libraries, paid by every approach.
        sampled_peak_rss_bytes: the parent's psutil samples of the child (memory_profiler, 0.05 s);
            a cross-check that can miss short spikes, so it is <= `peak_rss_bytes` up to noise.
        memory_limit: DuckDB's `memory_limit` for "duckdb-copy", else "".
    """

    approach: Approach
    seconds: float
    rows: int
    input_file_bytes: int
    input_decoded_bytes: int
    output_file_bytes: int
    peak_rss_bytes: int
    baseline_rss_bytes: int
    sampled_peak_rss_bytes: int
    memory_limit: str = ""

    @property
    def file_gb_per_s(self) -> float:
        """Source on-disk bytes loaded per second, GB/s."""
        return _gb(self.input_file_bytes / self.seconds)

    @property
    def decoded_gb_per_s(self) -> float:
        """Source decoded bytes loaded per second, GB/s."""
        return _gb(self.input_decoded_bytes / self.seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "approach": self.approach,
            "seconds": self.seconds,
            "rows": self.rows,
            "input_file_bytes": self.input_file_bytes,
            "input_decoded_bytes": self.input_decoded_bytes,
            "output_file_bytes": self.output_file_bytes,
            "peak_rss_bytes": self.peak_rss_bytes,
            "baseline_rss_bytes": self.baseline_rss_bytes,
            "sampled_peak_rss_bytes": self.sampled_peak_rss_bytes,
            "memory_limit": self.memory_limit,
            "file_gb_per_s": self.file_gb_per_s,
            "decoded_gb_per_s": self.decoded_gb_per_s,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> LoadRun:
        keys = (
            "approach seconds rows input_file_bytes input_decoded_bytes output_file_bytes "
            "peak_rss_bytes baseline_rss_bytes sampled_peak_rss_bytes memory_limit"
        ).split()
        return cls(**{k: raw[k] for k in keys})


@dataclass(frozen=True)
class MonthCheck:
    """Can this machine process a month of Lake data in a month?

    Attributes:
        month_bytes: on-disk (compressed Parquet) bytes per month, bytes.
        month_days: days the month's data arrive over.
        required_bytes_per_s: month_bytes / (month_days · 86 400 s), bytes/s.
        measured_bytes_per_s: the slowest measured loading path, on-disk bytes/s; None if none ran.
        basis: which measurement `measured_bytes_per_s` is ("" when none).
        month_processing_s: month_bytes / measured rate, s; None when nothing was measured.
        headroom: measured / required (≥ 1 means it keeps up); None when nothing was measured.
        criterion: "I/O supports 220 GB/month", PASS iff headroom ≥ 1, UNKNOWN without a rate.
    """

    month_bytes: int
    month_days: int
    required_bytes_per_s: float
    measured_bytes_per_s: float | None
    basis: str
    month_processing_s: float | None
    headroom: float | None
    criterion: CriterionResult

    @property
    def required_mb_per_s(self) -> float:
        return self.required_bytes_per_s / 1e6

    @property
    def measured_mb_per_s(self) -> float | None:
        m = self.measured_bytes_per_s
        return None if m is None else m / 1e6

    def to_json(self) -> dict[str, Any]:
        return {
            "month_bytes": self.month_bytes,
            "month_days": self.month_days,
            "required_bytes_per_s": self.required_bytes_per_s,
            "measured_bytes_per_s": self.measured_bytes_per_s,
            "basis": self.basis,
            "month_processing_s": self.month_processing_s,
            "headroom": self.headroom,
            "criterion": self.criterion.to_json(),
            "required_mb_per_s": self.required_mb_per_s,
            "measured_mb_per_s": self.measured_mb_per_s,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> MonthCheck:
        return cls(
            month_bytes=raw["month_bytes"],
            month_days=raw["month_days"],
            required_bytes_per_s=raw["required_bytes_per_s"],
            measured_bytes_per_s=raw["measured_bytes_per_s"],
            basis=raw["basis"],
            month_processing_s=raw["month_processing_s"],
            headroom=raw["headroom"],
            criterion=CriterionResult.from_json(raw["criterion"]),
        )


def check_month(
    measured_bytes_per_s: float | None,
    basis: str = "",
    *,
    month_bytes: int = MONTH_BYTES,
    month_days: int = MONTH_DAYS,
) -> MonthCheck:
    """The 220 GB/month check from one measured on-disk rate (pure; no I/O).

    Args:
        measured_bytes_per_s: on-disk (compressed) bytes/s of the slowest loading path, or None
            when nothing was measured (→ UNKNOWN).
        basis: names the measurement, quoted in the evidence.
        month_bytes: bytes per month on disk (default `MONTH_BYTES`, 220 GB).
        month_days: days per month (default `MONTH_DAYS`).

    Returns:
        `MonthCheck`; PASS iff measured ≥ required (headroom ≥ 1, equality passes), FAIL below;
        a zero rate FAILs with no processing time or headroom.

    Raises:
        ConfigError: month_bytes or month_days not positive, or a negative / non-finite rate.
    """
    if month_bytes <= 0 or month_days <= 0:
        raise ConfigError(
            f"month_bytes and month_days must be > 0, got {month_bytes} and {month_days}"
        )
    required = month_bytes / (month_days * SECONDS_PER_DAY)
    threshold_mb = required / 1e6
    name = MONTH_CRITERION
    if measured_bytes_per_s is None:
        crit = CriterionResult(
            name, Status.UNKNOWN, None, threshold_mb, "no Parquet I/O was measured", "MB/s"
        )
        return MonthCheck(month_bytes, month_days, required, None, "", None, None, crit)
    if not math.isfinite(measured_bytes_per_s) or measured_bytes_per_s < 0:
        raise ConfigError(f"measured rate must be finite and >= 0, got {measured_bytes_per_s}")
    if measured_bytes_per_s == 0:
        processing_s = headroom = None
    else:
        processing_s = month_bytes / measured_bytes_per_s
        headroom = measured_bytes_per_s / required
    ok = measured_bytes_per_s >= required
    took = "never" if processing_s is None else f"{processing_s / 3600:.2f} h"
    evidence = (
        f"{month_bytes / 1e9:g} GB over {month_days} days needs {threshold_mb:.4f} MB/s sustained; "
        f"the slowest measured path ({basis or 'unnamed'}) loads {measured_bytes_per_s / 1e6:.1f} "
        f"MB/s of on-disk Parquet, so a month takes {took} here"
        + ("" if headroom is None else f" ({headroom:,.0f}x headroom)")
    )
    crit = CriterionResult(
        name,
        Status.PASS if ok else Status.FAIL,
        measured_bytes_per_s / 1e6,
        threshold_mb,
        evidence,
        "MB/s",
    )
    return MonthCheck(
        month_bytes,
        month_days,
        required,
        measured_bytes_per_s,
        basis,
        processing_s,
        headroom,
        crit,
    )


@dataclass(frozen=True)
class IoPerfResult:
    """Everything `measure_io` measured on one dataset.

    Attributes:
        source: the dataset read (directory and glob, or the generated scenario's directory).
        files: number of source Parquet files.
        rows: source rows.
        source_file_bytes: on-disk size of the source files, bytes.
        decoded_bytes: Arrow `nbytes` of the source rows, bytes (the decoded size of every
            write and read below, which all carry the same rows).
        cpu_count: cores visible to the process; engines ran with their default thread pools.
        rates: writes then reads, per engine × codec. Reads of codec c all read the file pyarrow
            wrote with c, so every engine decodes the same bytes; reads are warm (page cache).
        loads: the loading approaches, one child process each.
        month: the 220 GB/month check on the slowest of `rates` reads and `loads`.
    """

    source: str
    files: int
    rows: int
    source_file_bytes: int
    decoded_bytes: int
    cpu_count: int
    rates: tuple[IoRate, ...]
    loads: tuple[LoadRun, ...]
    month: MonthCheck

    def rate(self, engine: Engine, codec: Codec, op: Op) -> IoRate:
        """The measurement of `engine` × `codec` × `op` (KeyError when it was not measured)."""
        for r in self.rates:
            if (r.engine, r.codec, r.op) == (engine, codec, op):
                return r
        raise KeyError((engine, codec, op))

    def load(self, approach: Approach) -> LoadRun:
        for run in self.loads:
            if run.approach == approach:
                return run
        raise KeyError(approach)

    def criteria(self) -> tuple[CriterionResult, ...]:
        return (self.month.criterion,)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "files": self.files,
            "rows": self.rows,
            "source_file_bytes": self.source_file_bytes,
            "decoded_bytes": self.decoded_bytes,
            "cpu_count": self.cpu_count,
            "rates": [r.to_json() for r in self.rates],
            "loads": [run.to_json() for run in self.loads],
            "month": self.month.to_json(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> IoPerfResult:
        return cls(
            source=raw["source"],
            files=raw["files"],
            rows=raw["rows"],
            source_file_bytes=raw["source_file_bytes"],
            decoded_bytes=raw["decoded_bytes"],
            cpu_count=raw["cpu_count"],
            rates=tuple(IoRate.from_json(r) for r in raw["rates"]),
            loads=tuple(LoadRun.from_json(r) for r in raw["loads"]),
            month=MonthCheck.from_json(raw["month"]),
        )
