"""`validation-spike` flow (Story 1.2.5): is the stack fast and lean enough?

The story: take the data (a staged Lake tree, or one synthetic hour at 8 M events/hour) → run each
check as its own task (Decimal128 vs int64, Parquet I/O and the 220 GB/month rate, ...) → write the
JSON the go/no-go reads → publish one table per check and a markdown summary. A check that cannot
run leaves its criteria UNKNOWN, never PASS.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run as runtime_flow_run

from feedcheck.flows.runners import DEFAULT_TASK_RUNNER
from feedcheck.lake.synthetic import Rates, Scenario, generate_dataset
from feedcheck.report.spike import SpikeResult, spike_markdown
from feedcheck.tasks.spike import (
    decimals_check,
    gaps_check,
    io_check,
    memory_check,
    throughput_check,
)

RESULT_FILE = "spike.json"
#: The plan's sizing: one hour of data is 8 M events.
EVENTS_PER_HOUR = 8_000_000


@task(name="spike-data", cache_policy=NO_CACHE)
def synthetic_hour(out: Path, hours: float) -> Path:
    """`hours` of book_delta_v2 + trades at 8 M delta rows/hour (10 messages/s × 222 levels)."""
    scenario = Scenario(
        seed=5,
        symbols=("BTC-USDT",),
        tables=("book_delta_v2", "trades"),
        hours_per_day=hours,
        rates=Rates(delta_messages_per_second=10.0, levels_per_message=222.0),
    )
    generate_dataset(scenario, out)
    return out


@flow(name="validation-spike", log_prints=False)
def validation_spike(
    data_dir: str | None = None,
    hours: float = 1.0,
    report_dir: str | None = None,
    decimal_speed_rows: int = 1_000_000,
    io_repeats: int = 3,
    tick: float = 0.01,
    lot: float = 0.00001,
    memory_budget_gib: float = 24.0,
    memory_cap_gib: float | None = 4.0,
    task_runner: str = DEFAULT_TASK_RUNNER,
    dask_address: str | None = None,
) -> SpikeResult:
    """Run the spike's checks on `data_dir` (a Lake tree), or on `hours` of generated data at the
    plan's 8 M events/hour when none is given; results in `report_dir` (default
    `reports/spike-<flow run name>`). `tick`/`lot` are the instrument's (BTC-USDT spot defaults).
    Memory is judged against `memory_budget_gib` (the plan's 24 GB; 16 for a small host) and rerun
    under a hard `memory_cap_gib` address-space cap (None skips it).

    The checks run on `task_runner` ("threads", default, or "dask": the cluster at `dask_address`
    or a local one), one after the other: each measures the machine it runs on (memory, events/s,
    GB/s), and two at once would measure each other. On a cluster the figures are a worker's, and
    `data_dir` / `report_dir` must be paths the workers share."""
    report = Path(report_dir or f"reports/spike-{runtime_flow_run.name or 'local'}")
    report.mkdir(parents=True, exist_ok=True)
    if data_dir is None:
        data = synthetic_hour(report / "lake", hours)
        described = f"synthetic data, {hours:g} h at {EVENTS_PER_HOUR:,} events/h"
    else:
        data = Path(data_dir)
        described = f"Lake tree {data}"

    checks = (
        gaps_check(data, tick, lot),
        memory_check(data, memory_budget_gib, memory_cap_gib, tick, lot),
        throughput_check(data, tick, lot),
        decimals_check(report / "decimals", decimal_speed_rows),
        io_check(data, report / "io", io_repeats),
    )
    result = SpikeResult(described, checks)
    (report / RESULT_FILE).write_text(json.dumps(result.to_json(), indent=1, default=str))
    create_markdown_artifact(
        spike_markdown(result),
        key="validation-spike",
        description="Story 1.2.5: technical validation spike",
    )
    get_run_logger().info("validation spike: %s (%s)", result.verdict.value, report / RESULT_FILE)
    return result
