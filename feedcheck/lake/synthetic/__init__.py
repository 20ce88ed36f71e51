"""Synthetic Crypto Lake data: Lake's raw Hive tables with injected faults and exact ground truth.

`generate_dataset(scenario, out_dir)` writes trades, book and book_delta_v2 partitions as the vendor
bucket holds them plus `ground_truth.json`; analyses are tested against those known answers. See
`faults.py` for the rules an analysis must follow to find exactly the recorded counts.
"""

from feedcheck.lake.synthetic.builtin import (
    builtin_scenarios,
    load_builtin_scenario,
    scenario_with_overrides,
)
from feedcheck.lake.synthetic.generate import generate_dataset, initial_book, messages_per_day
from feedcheck.lake.synthetic.scenario import FaultSpec, Instrument, Rates, Scenario
from feedcheck.lake.synthetic.truth import Fault, GroundTruth, PartitionTruth

__all__ = [
    "Fault",
    "FaultSpec",
    "GroundTruth",
    "Instrument",
    "PartitionTruth",
    "Rates",
    "Scenario",
    "builtin_scenarios",
    "generate_dataset",
    "initial_book",
    "load_builtin_scenario",
    "messages_per_day",
    "scenario_with_overrides",
]
