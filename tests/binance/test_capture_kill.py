"""SIGKILL of a capture process: the `.part` file it leaves is readable up to <= 1 s before the kill.

The capture runs as `python -m feedcheck.binance.capture` against a simulator in this process at
the real BTCUSDT cadence (one depth event per 100 ms, plus trades). Its writer flushes at least
every 0.75 s, so the recording's last record is at most that old (plus one frame interval).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import pytest

from feedcheck.binance.rawrecord import ReadIssue
from feedcheck.binance.recording import read_feedcheck
from feedcheck.binance.simulator import Simulator

pytestmark = pytest.mark.asyncio

#: Startup of a fresh interpreter (imports, cached numba kernels) on a busy 2-core machine.
STARTUP_WAIT_S = 40.0
NS_PER_S = 1_000_000_000


async def _wait(predicate, timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_sigkill_leaves_a_readable_recording(simulator_config, tmp_path):
    async with Simulator(simulator_config(manual_clock=False, time_scale=1.0)) as sim:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "feedcheck.binance.capture",
            "--symbols", "BTCUSDT", "--duration-s", "120", "--out-dir", str(tmp_path),
            "--ws-url", sim.ws_url, "--rest-url", sim.rest_url,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await _wait(lambda: len(sim.log.connections) == 1, STARTUP_WAIT_S)
            [conn] = sim.log.conn_ids()
            # About two seconds of frames: several flushes have happened.
            await _wait(lambda: len(sim.log.frames(conn)) >= 40, 20.0)
            kill_ns = time.time_ns()
            proc.send_signal(signal.SIGKILL)
            assert await proc.wait() == -signal.SIGKILL
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        sent = [f.text.encode() for f in sim.log.data_frames(conn) if f.text is not None]
    issues: list[ReadIssue] = []
    records = list(read_feedcheck(tmp_path, on_issue=issues.append))
    frames = [r.payload for r in records if r.kind == "frame"]
    [part] = list(tmp_path.iterdir())
    assert part.name.endswith(".ndjson.zst.part")
    assert [i.kind for i in issues] == ["truncated"]
    assert [r.kind for r in records if r.kind != "frame"][:2] == ["header", "connect"]
    assert len(frames) > 0 and frames == sent[: len(frames)]  # byte for byte, nothing skipped
    assert records[-1].recv_ns >= kill_ns - NS_PER_S
