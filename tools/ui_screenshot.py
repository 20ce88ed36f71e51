"""Screenshot a feedcheck artifact as the Prefect UI shows it (headless Chromium, offline).

    python tools/ui_screenshot.py --key go-no-go --out docs/ui-go-no-go.png -- \
        .venv/bin/feedcheck demo --out out/ui-demo

Starts a real `prefect server` on a free loopback port with a throwaway PREFECT_HOME, runs the
command after `--` against it, finds the newest artifact with `--key` through the API and saves a
full-page screenshot of its page in the default (v2) UI. Needs Debian's `chromium`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from feedcheck.testing.prefect_server import prefect_server

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=15000",
]


def screenshot(url: str, out: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                "chromium",
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={out.resolve()}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main(argv: list[str]) -> int:
    if "--" not in argv:
        sys.exit("usage: ui_screenshot.py --key KEY --out PNG [--height H] -- COMMAND ...")
    split = argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("--key", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args(argv[:split])
    command = argv[split + 1 :]

    with tempfile.TemporaryDirectory() as home, prefect_server(home) as server:
        subprocess.run(command, env=server.env, check=True)
        page = server.artifact_page(server.latest_artifact(args.key)["id"])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        screenshot(page, args.out, args.width, args.height)
        print(f"{page} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
