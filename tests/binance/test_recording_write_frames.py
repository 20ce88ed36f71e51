"""`RecordingWriter.write_frames` writes the same bytes and counters as one `write_frame` each."""

from __future__ import annotations

from pathlib import Path

from feedcheck.binance.capture_writer import FRAME
from feedcheck.binance.recording import NS_PER_S
from feedcheck.binance.recording_writer import RecordingOptions, RecordingWriter

FRAMES = [
    (1_000 * NS_PER_S, b'{"stream":"a","data":{}}'),
    (1_000 * NS_PER_S + 1, b'{"x":"line\nbreak"}'),
    (1_000 * NS_PER_S + 2, b"#not json"),
    (1_000 * NS_PER_S + NS_PER_S, b'{"flush":"due"}'),
    (1_000 * NS_PER_S + NS_PER_S + 5, '{"s":"str"}'),
    (1_000 * NS_PER_S + 3 * NS_PER_S, b'{"rotate":1}'),
    (1_000 * NS_PER_S + 3 * NS_PER_S + 1, b'{"last":1}'),
]


def _record(out: Path, batched: bool) -> tuple[list[bytes], tuple[int, ...]]:
    options = RecordingOptions(
        directory=out, prefix="t", symbols=("ETHUSDT",), compression="none",
        rotate_interval_ns=2 * NS_PER_S, batch_bytes=40,
    )  # fmt: skip
    writer = RecordingWriter(options, session="s")
    if batched:
        writer.write_frames([(FRAME, ns, frame) for ns, frame in FRAMES])
    else:
        for ns, frame in FRAMES:
            writer.write_frame(ns, frame)
    files = writer.close()
    stats = writer.stats()
    return [f.read_bytes() for f in files], (stats.frames, stats.flushes, stats.bytes_in)


def test_batched_frames_equal_single_frames(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "many").mkdir()
    single = _record(tmp_path / "one", batched=False)
    batched = _record(tmp_path / "many", batched=True)
    assert batched == single
    assert single[1][0] == 7 and len(single[0]) == 2
