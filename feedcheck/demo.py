"""The embedded default run (`make run`): nothing to configure, no network.

1. generate a synthetic Crypto Lake dataset (builtin scenario, with injected faults);
2. publish it on a loopback S3 server (moto) exactly as the vendor bucket is laid out, index included;
3. run the real `download` flow against that endpoint (same code path as the real Lake);
4. print the manifest and validation summary;
5. run the `origin-time` flow (Story 1.1) on the staged data and print its verdicts.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rich.console import Console

from feedcheck.lake.source import (
    ENV_ACCESS_KEY_ID,
    ENV_SECRET_ACCESS_KEY,
    VENDOR_BUCKET,
    VENDOR_PREFIX,
)


def run_demo(out: Path, scenario: str = "demo", console: Console | None = None):
    """Run the demo under `out` (replaced each run); returns the download and origin-time results."""
    from feedcheck.cli_progress import rich_progress
    from feedcheck.flows.download import download
    from feedcheck.flows.origin_time import origin_time
    from feedcheck.lake.synthetic import generate_dataset, scenario_with_overrides
    from feedcheck.progress import partition_rows_progress
    from feedcheck.report.download import print_summary
    from feedcheck.report.origin_time_terminal import print_origin_time
    from feedcheck.testing.s3_server import (
        MOTO_ACCESS_KEY_ID,
        MOTO_SECRET_ACCESS_KEY,
        moto_s3_server,
        publish_tree,
    )

    console = console or Console(stderr=True)
    out = Path(out)
    lake_dir, staging_dir = out / "lake", out / "staging"
    for d in (lake_dir, staging_dir, out / "reports"):
        if d.exists():
            shutil.rmtree(d)

    sc = scenario_with_overrides(scenario)
    console.print(f"[bold]1/4[/bold] generating synthetic Lake data ({scenario}) → {lake_dir}")
    with rich_progress(console):
        truth = generate_dataset(
            sc, lake_dir, progress=partition_rows_progress("generate", len(sc.written_partitions()))
        )

    with moto_s3_server() as endpoint:
        # The flow reads keys like a real run does (env); moto accepts its placeholder pair.
        os.environ[ENV_ACCESS_KEY_ID] = MOTO_ACCESS_KEY_ID
        os.environ[ENV_SECRET_ACCESS_KEY] = MOTO_SECRET_ACCESS_KEY
        published = publish_tree(endpoint, lake_dir, VENDOR_BUCKET, VENDOR_PREFIX)
        console.print(
            f"[bold]2/4[/bold] serving {len(published)} objects at "
            f"{endpoint}/{VENDOR_BUCKET}/{VENDOR_PREFIX}"
        )
        console.print("[bold]3/4[/bold] running the download flow against it")
        with rich_progress(console):
            outcome = download(
                start=sc.start,
                end=sc.end,
                tables=list(sc.tables),
                exchange=sc.exchange,
                symbols=list(sc.symbols),
                staging_dir=str(staging_dir),
                endpoint_url=endpoint,
            )
    print_summary(Console(), outcome)
    console.print(
        f"ground truth of injected faults: {lake_dir / 'ground_truth.json'} "
        f"({len(truth.faults)} records)"
    )

    console.print("[bold]4/4[/bold] Story 1.1: origin_time completeness and clock skew")
    with rich_progress(console):
        timing = origin_time(staging_dir=str(staging_dir), report_dir=str(out / "reports"))
    print_origin_time(Console(), timing)
    console.print(f"origin-time report and plots: {out / 'reports'}")
    return outcome, timing
