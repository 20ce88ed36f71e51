"""The go/no-go thresholds: the plan's defaults, a YAML file, or parameters (DESIGN.md's table).

Precedence: built-in defaults (the plan's numbers) < the YAML file < explicit overrides. Every
key is named after its unit, so a file reads unambiguously:

    origin_missing_invalid_max_pct: 5.0
    skew_p95_max_ms: 100.0
    capture_min_hours: 24.0
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from feedcheck.errors import ConfigError


@dataclass(frozen=True)
class GoNoGoThresholds:
    """Limits of the epic's criteria (defaults: Epic 1's plan).

    Attributes:
        origin_missing_invalid_max_pct: origin_time missing/invalid, worst stream, < this %.
        skew_p95_max_ms: received − origin skew p95, worst stream, < this many ms.
        capture_regimes: complete captures needed, one per distinct regime (US open, weekend,
            event).
        capture_min_hours: a capture is complete when its recording spans at least this long
            (first to last frame, with `CAPTURE_SPAN_SLACK` allowed for connect and stop).
        capture_max_gaps: sequence gaps allowed over every recording (plan: zero).
        delta_gap_ratio_max_pct: Lake book_delta_v2 gap ratio < this %.
        memory_p95_max_gib: P95 RSS of the memory profile < this many GiB (plan: 24; 16 for
            a small host).
        throughput_min_events_per_s: reconstruction events/s ≥ this.
        io_month_gb: the monthly volume the measured Parquet I/O must sustain (GB = 1e9 bytes).
    """

    origin_missing_invalid_max_pct: float = 5.0
    skew_p95_max_ms: float = 100.0
    capture_regimes: int = 3
    capture_min_hours: float = 24.0
    capture_max_gaps: int = 0
    delta_gap_ratio_max_pct: float = 0.1
    memory_p95_max_gib: float = 24.0
    throughput_min_events_per_s: float = 100_000.0
    io_month_gb: float = 220.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"threshold {f.name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"threshold {f.name} must be finite and >= 0, got {value!r}")
            if f.type == "int" and value != int(value):
                raise ConfigError(f"threshold {f.name} must be a whole number, got {value!r}")

    def to_json(self) -> dict[str, float | int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> GoNoGoThresholds:
        return cls().with_overrides(raw)

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> GoNoGoThresholds:
        """A copy with `overrides` applied (None values are ignored).

        Raises:
            ConfigError: an unknown key (names it and lists the known ones) or a bad value.
        """
        if not overrides:
            return self
        known = {f.name: f.type for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown go/no-go threshold {', '.join(unknown)}; known: {', '.join(known)}"
            )
        changes = {}
        for key, value in overrides.items():
            if value is None:
                continue
            if known[key] == "int" and isinstance(value, float) and value.is_integer():
                value = int(value)
            changes[key] = value
        return dataclasses.replace(self, **changes)


def load_thresholds(
    path: Path | str | None = None, overrides: Mapping[str, Any] | None = None
) -> GoNoGoThresholds:
    """The plan's thresholds, then the YAML mapping in `path`, then `overrides`.

    Raises:
        ConfigError: the file is missing, not YAML, not a mapping, or holds an unknown key or a
            bad value (the message names the file).
    """
    thresholds = GoNoGoThresholds()
    if path is not None:
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ConfigError(f"thresholds file {path}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"thresholds file {path} is not YAML: {exc}") from exc
        if raw is not None and not isinstance(raw, dict):
            raise ConfigError(f"thresholds file {path} must hold a mapping of name: number")
        try:
            thresholds = thresholds.with_overrides(raw)
        except ConfigError as exc:
            raise ConfigError(f"thresholds file {path}: {exc}") from exc
    return thresholds.with_overrides(overrides)
