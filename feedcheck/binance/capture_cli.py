"""`python -m feedcheck.binance.capture`: run one capture from a shell, print its summary as JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

from feedcheck.binance.capture import CaptureConfig, run_capture
from feedcheck.binance.sync import Variant


def main(argv: list[str] | None = None) -> int:
    """`python -m feedcheck.binance.capture`: capture, then print the summary as JSON."""
    parser = argparse.ArgumentParser(prog="python -m feedcheck.binance.capture")
    parser.add_argument("--symbols", default="BTCUSDT", help="comma-separated")
    parser.add_argument("--streams", default="trade,depth", help="comma-separated")
    parser.add_argument("--depth-speed-ms", type=int, default=100)
    parser.add_argument("--duration-s", type=float, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--ws-url", default=CaptureConfig.ws_url)
    parser.add_argument("--rest-url", default=CaptureConfig.rest_url)
    parser.add_argument("--variant", choices=[v.value for v in Variant], default="spot")
    parser.add_argument("--progress-interval-s", type=float, default=5.0)
    parser.add_argument(
        "--verify-snapshot-interval-s",
        type=float,
        default=CaptureConfig.verify_snapshot_interval_s,
        help="seconds between verification snapshots per live symbol; 0 disables",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = CaptureConfig(
        symbols=tuple(args.symbols.split(",")),
        streams=tuple(args.streams.split(",")),
        depth_speed_ms=args.depth_speed_ms,
        duration_s=args.duration_s,
        out_dir=args.out_dir,
        ws_url=args.ws_url,
        rest_url=args.rest_url,
        variant=Variant(args.variant),
        progress_interval_s=args.progress_interval_s,
        verify_snapshot_interval_s=args.verify_snapshot_interval_s or None,
    )
    summary = run_capture(config)
    print(json.dumps(dataclasses.asdict(summary), default=str))
    return 0
