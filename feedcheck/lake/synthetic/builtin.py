"""Scenarios shipped with the package (`scenarios/*.yaml`) and the CLI's override helper."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from feedcheck.errors import ConfigError
from feedcheck.lake.synthetic.scenario import Scenario

SCENARIO_DIR = Path(__file__).parent / "scenarios"
_NAME_RE = re.compile(r"^[a-z0-9_-]{1,40}$")


def builtin_scenarios() -> tuple[str, ...]:
    """Names of the shipped scenarios (file stems), sorted."""
    return tuple(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))


def load_builtin_scenario(name: str) -> Scenario:
    """Load a shipped scenario by name (`demo`, `faults`, ...).

    Raises:
        ConfigError: unknown name.
    """
    if not _NAME_RE.match(name) or name not in builtin_scenarios():
        raise ConfigError(
            f"unknown builtin scenario {name!r}; choose one of {', '.join(builtin_scenarios())}"
        )
    return Scenario.from_yaml(SCENARIO_DIR / f"{name}.yaml")


def scenario_with_overrides(
    scenario: str | Path,
    *,
    seed: int | None = None,
    symbols: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    hours_per_day: float | None = None,
) -> Scenario:
    """A builtin scenario name or a YAML path, with the given fields replaced.

    Faults and empty/missing partitions that name a symbol or day the overrides drop are dropped
    with them; the rest is validated again.

    Raises:
        ConfigError: not a builtin name nor a readable YAML file, or an invalid override.
    """
    text = str(scenario)
    if _NAME_RE.match(text) and text in builtin_scenarios():
        base = load_builtin_scenario(text)
    elif Path(text).is_file():
        base = Scenario.from_yaml(Path(text))
    else:
        raise ConfigError(
            f"scenario {text!r} is neither a builtin "
            f"({', '.join(builtin_scenarios())}) nor a YAML file"
        )
    changes: dict[str, object] = {}
    if seed is not None:
        changes["seed"] = seed
    if symbols is not None:
        changes["symbols"] = tuple(symbols)
    if start is not None:
        changes["start"] = start
    if end is not None:
        changes["end"] = end
    if hours_per_day is not None:
        changes["hours_per_day"] = hours_per_day
    if not changes:
        return base
    narrowed = dataclasses.replace(base, **changes)
    days = set(narrowed.days())
    faults = tuple(
        f
        for f in base.faults
        if (f.symbol is None or f.symbol in narrowed.symbols) and (f.dt is None or f.dt in days)
    )

    def keep(key: str) -> bool:
        parts = key.split("/")
        if len(parts) != 4:
            return True  # malformed: left for generate_dataset to reject
        return parts[2] in narrowed.symbols and parts[3] in {d.isoformat() for d in days}

    return dataclasses.replace(
        narrowed,
        faults=faults,
        instruments={k: v for k, v in base.instruments.items() if k in narrowed.symbols},
        empty_partitions=tuple(k for k in base.empty_partitions if keep(k)),
        missing_partitions=tuple(k for k in base.missing_partitions if keep(k)),
    )
