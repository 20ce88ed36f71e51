"""A real `prefect server` on a free loopback port with a throwaway PREFECT_HOME, for the
deployment end-to-end test and the UI screenshots (tools/ui_screenshot.py).

`prefect server start --background` dies with its parent's pipes in a non-interactive shell, so
the server runs as a child with its output in `server.log` under the home folder.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STARTUP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class PrefectServer:
    """A running server: its API and UI addresses and the environment that points at it."""

    api_url: str
    ui_url: str
    home: Path
    env: dict[str, str]

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST `body` as JSON to `api_url + path`; the decoded reply."""
        req = urllib.request.Request(
            self.api_url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as reply:
            return json.loads(reply.read())

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.api_url + path, timeout=30) as reply:
            return json.loads(reply.read())

    def latest_artifact(self, key: str) -> dict[str, Any]:
        """The newest artifact with `key` (LookupError when there is none)."""
        found = self.post(
            "/artifacts/filter",
            {"artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC", "limit": 1},
        )
        if not found:
            raise LookupError(f"no artifact with key {key!r} at {self.api_url}")
        return found[0]

    def artifact_page(self, artifact_id: str) -> str:
        """The artifact's page in the default (v2) UI."""
        return f"{self.ui_url}/v2/artifacts/artifact/{artifact_id}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(api_url: str, server: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"prefect server exited with {server.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(
        f"prefect server at {api_url} not healthy after {timeout_s:.0f} s; see {log}"
    )


@contextmanager
def prefect_server(
    home: Path | str, timeout_s: float = STARTUP_TIMEOUT_S
) -> Iterator[PrefectServer]:
    """Start `prefect server start` with PREFECT_HOME=`home` (its SQLite DB and log go there) on
    a free loopback port; stop it on exit."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"{base}/api",
        # The UI must call this server's API, not the default port's.
        "PREFECT_UI_API_URL": f"{base}/api",
        "PREFECT_UI_URL": base,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_SERVER_DATABASE_CONNECTION_URL", None)
    log_path = home / "server.log"
    with open(log_path, "w") as log:
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
            env={k: v for k, v in env.items() if k != "PREFECT_API_URL"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_healthy(f"{base}/api", server, log_path, timeout_s)
            yield PrefectServer(f"{base}/api", base, home, env)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
