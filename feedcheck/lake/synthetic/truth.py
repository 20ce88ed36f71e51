"""`ground_truth.json`: every injected fault with its exact count and location.

Counts are defined on the files exactly as written (after all faults), so an analysis that reads the
files must find them. Row indices are 0-based positions in the partition's file order.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from feedcheck.lake.synthetic.scenario import FaultKind

GROUND_TRUTH_FILE = "ground_truth.json"


@dataclass(frozen=True)
class Fault:
    """One kind of fault in one partition.

    `count` is what an analysis must report for that kind (see the per-kind meaning in
    `scenario.FaultKind`); `rows` are the file row indices involved; `details` carries kind-specific
    facts (e.g. hole start/end ns, dropped sequence ranges).
    """

    partition: str  # Partition.key, e.g. "trades/BINANCE/BTC-USDT/2024-04-01"
    kind: FaultKind
    count: int
    rows: list[int] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionTruth:
    partition: str
    path: str  # file path relative to the dataset root
    rows: int
    messages: int | None = None  # delta/book: distinct messages written


@dataclass
class GroundTruth:
    seed: int
    scenario: dict[str, Any]
    partitions: list[PartitionTruth] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def count(self, partition: str, kind: str) -> int:
        """Total injected `kind` faults in `partition` (0 when none were injected)."""
        return sum(f.count for f in self.faults if f.partition == partition and f.kind == kind)

    def total(self, kind: str, table: str | None = None) -> int:
        return sum(
            f.count
            for f in self.faults
            if f.kind == kind and (table is None or f.partition.split("/", 1)[0] == table)
        )

    def write(self, root: Path) -> Path:
        out = Path(root) / GROUND_TRUTH_FILE
        out.write_text(json.dumps(asdict(self), indent=1, default=str))
        return out

    @classmethod
    def read(cls, root: Path) -> GroundTruth:
        raw = json.loads((Path(root) / GROUND_TRUTH_FILE).read_text())
        return cls(
            seed=raw["seed"],
            scenario=raw["scenario"],
            partitions=[PartitionTruth(**p) for p in raw["partitions"]],
            faults=[Fault(**f) for f in raw["faults"]],
        )
