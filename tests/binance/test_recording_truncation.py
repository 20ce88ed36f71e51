"""Damaged recordings: cut at any byte, corrupted, concatenated. The reader never raises, yields a
prefix of the records, and reports what happened."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import pytest

from feedcheck.binance.rawrecord import RawRecord, ReadIssue
from feedcheck.binance.recording import read_feedcheck
from feedcheck.binance.recording_writer import RecordingOptions, RecordingWriter

NS = 1_000_000_000
MS = 1_000_000
T0 = 1_723_075_200 * NS
REAL_SPOT = Path(__file__).parents[1] / "data" / "real" / "binance-spot" / "ethusdt_20240808.gz"
N_LINES = 300


@dataclass(frozen=True)
class Written:
    path: Path
    records: list[RawRecord]
    #: (bytes in the file after a flush, records written before it, header included)
    flush_points: list[tuple[int, int]]


def read_all(path: Path) -> tuple[list[RawRecord], list[ReadIssue]]:
    issues: list[ReadIssue] = []
    return list(read_feedcheck(path, on_issue=issues.append)), issues


def write_recording(directory: Path, compression: str) -> Written:
    """300 real spot lines, one every 10 ms, flushed every 100 ms (~30 compressed blocks)."""
    directory.mkdir()
    opts = RecordingOptions(
        directory, prefix="cut", compression=compression, flush_interval_ns=100 * MS
    )
    writer = RecordingWriter(opts)
    flush_points = []
    with gzip.open(REAL_SPOT, "rb") as fh:
        bodies = [fh.readline().rstrip(b"\n").partition(b" ")[2] for _ in range(N_LINES)]
    for i, body in enumerate(bodies):
        before = writer.stats().flushes
        if body.startswith(b'{"stream"'):
            writer.write_frame(T0 + i * 10 * MS, body)
        else:
            writer.write_snapshot(T0 + i * 10 * MS, "ETHUSDT", body)
        stats = writer.stats()
        if stats.flushes > before:
            flush_points.append((stats.current.stat().st_size, i + 2))
    (path,) = writer.close()
    records, issues = read_all(path)
    assert issues == [] and len(records) == N_LINES + 1
    return Written(path, records, flush_points)


@pytest.fixture(scope="module", params=["zst", "gz"])
def written(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Written:
    return write_recording(tmp_path_factory.mktemp("rec") / "out", request.param)


def cut_copy(written: Written, directory: Path, size: int) -> Path:
    """The first `size` bytes, named like the `.part` a killed writer leaves."""
    path = directory / f"{size}" / (written.path.name + ".part")
    path.parent.mkdir()
    path.write_bytes(written.path.read_bytes()[:size])
    return path


def test_cut_at_many_offsets_yields_a_prefix(written: Written, tmp_path: Path) -> None:
    size = written.path.stat().st_size
    offsets = sorted(
        {*range(0, size, max(1, size // 120)), *range(size - 12, size), 1, 2, 3, 4, 5, 11}
    )
    previous = 0
    for offset in offsets:
        path = cut_copy(written, tmp_path, offset)
        records, issues = read_all(path)
        n = len(records)
        assert records == written.records[:n], offset
        assert n >= previous, offset
        previous = n
        assert [(i.kind, i.path, i.line_no) for i in issues] == [("truncated", str(path), n + 1)]
    assert (
        previous == N_LINES + 1
    )  # the last cut lacks only the stream's end: header + every record read


def test_cut_at_each_flush_keeps_every_flushed_record(written: Written, tmp_path: Path) -> None:
    """What a crash right after a flush leaves holds exactly the records written before it."""
    assert len(written.flush_points) == 29  # 2.99 s of records, a flush every 100 ms
    for size, count in written.flush_points:
        records, issues = read_all(cut_copy(written, tmp_path, size))
        assert records == written.records[:count]
        assert [i.kind for i in issues] == ["truncated"]


def test_corrupt_middle_loses_only_from_the_damaged_frame(written: Written, tmp_path: Path):
    """40 zero bytes just after the 11th flush: the 11 frames before it verify and are read in
    full; nothing of the damaged frame leaks out as garbage; the damage is reported."""
    data = bytearray(written.path.read_bytes())
    size, intact = written.flush_points[10]
    data[size + 20 : size + 60] = bytes(40)
    path = tmp_path / written.path.name
    path.write_bytes(bytes(data))
    records, issues = read_all(path)
    assert records == written.records[:intact]
    assert [(i.path, i.line_no, i.kind) for i in issues] == [(str(path), intact + 1, "corrupt")]


def test_flipped_bit_never_leaks_garbage(written: Written, tmp_path: Path) -> None:
    """One flipped bit anywhere in the 12th frame: often it still decodes, to wrong bytes that
    only the frame checksum catches. Those bytes are never yielded."""
    (start, intact), (end, _) = written.flush_points[10:12]
    clean = written.path.read_bytes()
    for offset in range(start + 30, end - 10, 37):
        data = bytearray(clean)
        data[offset] ^= 0x01
        path = tmp_path / f"{offset}" / written.path.name
        path.parent.mkdir()
        path.write_bytes(bytes(data))
        records, issues = read_all(path)
        assert records == written.records[:intact], offset
        assert [(i.line_no, i.kind) for i in issues] == [(intact + 1, "corrupt")], offset


def test_concatenated_files_read_as_one_stream(written: Written, tmp_path: Path) -> None:
    """`cat a.zst b.zst` (or two gzip members) is one valid stream of both files' records."""
    path = tmp_path / written.path.name
    path.write_bytes(written.path.read_bytes() * 2)
    records, issues = read_all(path)
    assert issues == [] and records == written.records * 2


def test_empty_and_garbage_files(tmp_path: Path) -> None:
    empty = tmp_path / "e-20240808T000000Z.ndjson.zst.part"
    empty.write_bytes(b"")
    garbage = tmp_path / "g-20240808T000001Z.ndjson.zst"
    garbage.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(range(200)))
    plain_empty = tmp_path / "p-20240808T000002Z.ndjson"
    plain_empty.write_bytes(b"")
    issues: list[ReadIssue] = []
    assert list(read_feedcheck(tmp_path, on_issue=issues.append)) == []
    assert [(Path(i.path).name, i.line_no, i.kind) for i in issues] == [
        (empty.name, 1, "truncated"),
        (garbage.name, 1, "corrupt"),
        (plain_empty.name, 1, "truncated"),
    ]
    assert issues[0].detail == "file cut inside its magic number (0 bytes)"
    assert issues[2].detail == "empty file"
