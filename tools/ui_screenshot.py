"""Screenshot a feedcheck artifact as the Prefect UI shows it (headless Chromium, offline).

    python tools/ui_screenshot.py --key origin-time --out docs/origin-time-artifact.png -- \
        .venv/bin/feedcheck origin-time --staging out/demo/staging --json out/ot.json

Starts a real `prefect server` on a free loopback port with a throwaway PREFECT_HOME, runs the
command after `--` against it, finds the newest artifact with `--key` through the API and saves a
full-page screenshot of its page in the default (v2) UI. Needs Debian's `chromium`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> object:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _wait_healthy(api_url: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"Prefect server at {api_url} not healthy after {timeout_s:.0f} s")


def latest_artifact_id(api_url: str, key: str) -> str:
    found = _post(
        f"{api_url}/artifacts/filter",
        {"artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC", "limit": 1},
    )
    if not found:
        raise LookupError(f"no artifact with key {key!r} at {api_url}")
    return found[0]["id"]  # type: ignore[index]


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

    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "PREFECT_HOME": home,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_API_URL": api_url,
        }
        log = open(Path(home) / "server.log", "w")
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_healthy(api_url)
            subprocess.run(command, env={**env, "PREFECT_API_URL": api_url}, check=True)
            artifact = latest_artifact_id(api_url, args.key)
            page = f"http://127.0.0.1:{port}/v2/artifacts/artifact/{artifact}"
            args.out.parent.mkdir(parents=True, exist_ok=True)
            screenshot(page, args.out, args.width, args.height)
            print(f"{page} -> {args.out}")
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
