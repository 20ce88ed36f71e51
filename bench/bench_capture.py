"""Live capture: ingest levels/s of parse + book sync + record, end to end over sockets, CPU share.

1. Ingest (in process, no sockets): the frames of tests/data/real/binance-spot (hftbacktest's
   recording of spot ETHUSDT, 2024-08-08/09: its `depth@100ms` and trade frames) go through the
   capture's own hot path: `FrameQueue.offer` → `Ingest.on_frame` (numba depth parser + BookSync)
   while the `DiskWriter` thread writes the zstd recording; timed until the files are closed.
   Reported as wall-clock levels/s and as levels per CPU-second of the process (reader and disk
   thread together: what one core does, and steadier than wall time on a shared machine).
   Peer, same frames, same process: the general parser (orjson envelope + `parse_depth_update`)
   feeding the same BookSync, without recording. Target: >= 1.5 M levels/s on one core.
2. End to end: the loopback simulator in this process (tick every 0.5 ms), the capture in a
   child process (`python -m feedcheck.binance.capture`) over real sockets; levels/s recorded.
3. CPU share at the real BTCUSDT rate: simulator at real time (10 depth events/s, ~40 levels
   each, ~10 trades/s), the capture child's CPU seconds over its wall seconds.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

from bench.machine import describe
from feedcheck.binance.capture_ingest import Ingest
from feedcheck.binance.capture_rest import Instrument, instrument_scale
from feedcheck.binance.capture_writer import SNAPSHOT, DiskWriter, FrameQueue
from feedcheck.binance.formats import read_hftbacktest
from feedcheck.binance.market import MarketConfig
from feedcheck.binance.recording import read_feedcheck
from feedcheck.binance.recording_writer import RecordingOptions
from feedcheck.binance.simulator import Simulator, SimulatorConfig
from feedcheck.binance.sync import BookSync, SyncState
from feedcheck.binance.venue import Market
from feedcheck.binance.wire import parse_depth_snapshot, parse_depth_update, parse_envelope
from feedcheck.binance.wire_fast import DepthFrameParser

REAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "real" / "binance-spot"
SYMBOL = "ETHUSDT"
PASSES = 3
E2E_SECONDS = 6.0
CPU_SECONDS = 10.0


def _load() -> list[tuple[int, str, bytes]]:
    """Snapshots and the frames of the capture's default streams (trade, depth@100ms); the
    recording's bookTicker frames are left out, as a default capture does not subscribe them."""
    return [
        (r.recv_ns, r.kind, r.payload)
        for r in read_hftbacktest(sorted(REAL.glob("*.gz")))
        if r.kind == "snapshot" or (r.stream or "").endswith(("@trade", "@depth@100ms"))
    ]


def _instrument() -> Instrument:
    return Instrument(
        SYMBOL, "0.01000000", "0.00010000", instrument_scale("0.01", "0.0001", Market.SPOT)
    )


def _capture_path(records: list[tuple[int, str, bytes]], out: Path) -> tuple[float, float, int]:
    """The capture's hot path with the recording thread; (wall s, process CPU s, levels)."""
    queue = FrameQueue(1_000_000)
    disk = DiskWriter(RecordingOptions(directory=out, prefix="bench", symbols=(SYMBOL,)), queue)
    thread = threading.Thread(target=disk.run)
    ingest = Ingest({SYMBOL: _instrument()})
    sync = ingest.syncs[SYMBOL]
    t0, cpu0 = time.perf_counter(), time.process_time()
    thread.start()
    for recv_ns, kind, payload in records:
        if kind == "frame":
            queue.offer(recv_ns, payload)
            ingest.on_frame(payload, recv_ns)
        elif kind == "snapshot" and sync.state is SyncState.BUFFERING:
            queue.put_control((SNAPSHOT, recv_ns, SYMBOL, payload))
            ingest.on_snapshot(SYMBOL, payload, recv_ns)
    queue.close()
    thread.join()
    seconds, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    assert sync.counters.gaps == 0 and disk.error is None
    assert disk.stats.frames == sum(1 for _, kind, _ in records if kind == "frame")
    return seconds, cpu_s, ingest.counters.levels


def _general_path(records: list[tuple[int, str, bytes]]) -> tuple[float, float, int]:
    """Peer: orjson envelope + the general depth parser into BookSync, no recording;
    (wall s, CPU s, levels)."""
    scale = _instrument().scale
    sync = BookSync(SYMBOL)
    levels = 0
    t0, cpu0 = time.perf_counter(), time.process_time()
    for recv_ns, kind, payload in records:
        if kind == "frame":
            envelope = parse_envelope(payload)
            if "@depth" in envelope.stream:
                event = parse_depth_update(envelope.data, scale)
                levels += event.level_count
                sync.on_depth(event, recv_ns)
        elif kind == "snapshot" and sync.state is SyncState.BUFFERING:
            sync.on_snapshot(parse_depth_snapshot(orjson.loads(payload), SYMBOL, scale), recv_ns)
    return time.perf_counter() - t0, time.process_time() - cpu0, levels


def _stages(records: list[tuple[int, str, bytes]]) -> tuple[float, float, int]:
    """Where the time goes: (parse s, sync s, levels) for the depth frames alone."""
    scale = _instrument().scale
    depth = [(t, p) for t, kind, p in records if kind == "frame" and b"@depth" in p[:40]]
    parser = DepthFrameParser()
    t0 = time.perf_counter()
    events = [(t, parser.parse(p, scale)[1]) for t, p in depth]
    parse_s = time.perf_counter() - t0
    sync = BookSync(SYMBOL)
    [snapshot] = [p for _, kind, p in records if kind == "snapshot"]
    t0 = time.perf_counter()
    for recv_ns, event in events:
        if sync.on_depth(event, recv_ns).needs_snapshot:
            sync.on_snapshot(parse_depth_snapshot(orjson.loads(snapshot), SYMBOL, scale), recv_ns)
    sync_s = time.perf_counter() - t0
    return parse_s, sync_s, sum(e.level_count for _, e in events)


async def _child_capture(sim: Simulator, out: Path, seconds: float) -> dict:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "feedcheck.binance.capture", "--symbols", "BTCUSDT",
        "--duration-s", str(seconds), "--out-dir", str(out), "--ws-url", sim.ws_url,
        "--rest-url", sim.rest_url, "--progress-interval-s", "60",
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    stdout, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"capture child failed with {proc.returncode}")
    return json.loads(stdout.decode().strip().splitlines()[-1])


async def _through_sockets(time_scale: float, market: MarketConfig, seconds: float) -> dict:
    config = SimulatorConfig(
        symbols=("BTCUSDT",), time_scale=time_scale, market=market, frame_log_max=10,
        keep_payloads=False,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        async with Simulator(config) as sim:
            return await _child_capture(sim, Path(tmp), seconds)


def main() -> None:
    records = _load()
    frames = sum(1 for _, kind, _ in records if kind == "frame")
    with tempfile.TemporaryDirectory() as tmp:
        _capture_path(records[:2000], Path(tmp))  # numba kernels loaded outside the timing
        runs = []
        for i in range(PASSES):
            out = Path(tmp) / f"pass{i}"
            out.mkdir()
            runs.append(_capture_path(records, out))
        # Outside the timing: the recording holds every frame exactly as fed, in order.
        recorded = [r.payload for r in read_feedcheck(Path(tmp) / "pass0") if r.kind == "frame"]
        assert recorded == [p for _, kind, p in records if kind == "frame"]
    seconds, _, levels = min(runs)
    cpu_s = min(cpu for _, cpu, _ in runs)
    parse_s, sync_s, stage_levels = min(_stages(records) for _ in range(PASSES))
    peers = [_general_path(records) for _ in range(PASSES)]
    peer_s, peer_levels = min(s for s, _, _ in peers), peers[0][2]
    peer_cpu_s = min(cpu for _, cpu, _ in peers)
    assert peer_levels == levels
    e2e = asyncio.run(
        _through_sockets(
            200.0, MarketConfig(changes_per_event=20, levels_per_side=1000), E2E_SECONDS
        )
    )
    real = asyncio.run(
        _through_sockets(
            1.0,
            MarketConfig(changes_per_event=20, trades_per_event_max=2, levels_per_side=1000),
            CPU_SECONDS,
        )
    )
    print(f"machine: {describe()}")
    print(
        f"data: {frames} frames, {levels} depth levels of real spot ETHUSDT (hftbacktest, 2 days; trade + depth@100ms frames)"
    )
    print(f"capture_ingest_throughput: {levels / seconds / 1e6:.2f} M levels/s")
    print(f"capture_ingest_frames: {frames / seconds / 1e3:.0f} k frames/s")
    print(f"capture_ingest_cpu_throughput: {levels / cpu_s / 1e6:.2f} M levels per CPU-second")
    print(f"stage_parse_depth_frame: {stage_levels / parse_s / 1e6:.2f} M levels/s")
    print(f"stage_book_sync: {stage_levels / sync_s / 1e6:.2f} M levels/s")
    print(f"general_parser_sync_throughput: {peer_levels / peer_s / 1e6:.2f} M levels/s")
    print(f"capture_ingest_vs_general_parser: {peer_s / seconds:.2f} x")
    print(f"capture_ingest_vs_general_parser_cpu: {peer_cpu_s / cpu_s:.2f} x (CPU seconds)")
    print(f"e2e_socket_throughput: {e2e['levels'] / e2e['elapsed_s'] / 1e6:.3f} M levels/s")
    print(f"e2e_socket_frames: {e2e['frames'] / e2e['elapsed_s'] / 1e3:.1f} k frames/s")
    print(f"e2e_socket_gaps: {e2e['gaps']} gaps")
    print(f"real_rate_depth_events: {real['depth_events'] / real['elapsed_s']:.1f} events/s")
    print(f"real_rate_levels: {real['levels'] / real['elapsed_s']:.0f} levels/s")
    print(f"real_rate_cpu_share: {100 * real['cpu_s'] / real['elapsed_s']:.2f} % of one core")


if __name__ == "__main__":
    main()
