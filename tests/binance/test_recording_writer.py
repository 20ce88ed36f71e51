"""RecordingWriter: round trip, `.part` then rename, rotation, flush cadence on the caller's clock.

Every time here is a stamp passed to the writer (`recv_ns` / `now_ns`); nothing sleeps. The crash
tests copy the `.part` file while the writer still holds it open, which is what a SIGKILL leaves.
"""

from __future__ import annotations

import gzip
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from feedcheck.binance.rawrecord import RawRecord, ReadIssue
from feedcheck.binance.recording import read_feedcheck, recording_file_name, recording_files
from feedcheck.binance.recording_writer import RecordingOptions, RecordingWriter
from feedcheck.errors import ConfigError, FeedcheckError

NS = 1_000_000_000
MS = 1_000_000
#: 2024-08-08T00:00:00Z, the day of the spot sample.
T0 = 1_723_075_200 * NS
REAL_SPOT = Path(__file__).parents[1] / "data" / "real" / "binance-spot" / "ethusdt_20240808.gz"


def real_lines(n: int) -> list[bytes]:
    """The first `n` lines of the real spot recording: `<local_ns> <json>`, newline stripped."""
    with gzip.open(REAL_SPOT, "rb") as fh:
        return [fh.readline().rstrip(b"\n") for _ in range(n)]


def data_records(records: list[RawRecord]) -> list[RawRecord]:
    return [r for r in records if r.kind != "header"]


def read_all(paths) -> tuple[list[RawRecord], list[ReadIssue]]:
    issues: list[ReadIssue] = []
    return list(read_feedcheck(paths, on_issue=issues.append)), issues


def options(tmp_path: Path, **kw) -> RecordingOptions:
    base = {"prefix": "rt", "symbols": ("ETHUSDT",), "url": "wss://x/stream?streams=a"}
    return RecordingOptions(tmp_path, **(base | kw))


# Frames that need the escape: raw LF (pretty-printed JSON), leading '#' and '~', backslashes,
# LF next to backslashes, non-ASCII text, and an empty frame.
ODD_FRAMES: list[bytes | str] = [
    b'{\n  "stream": "ethusdt@trade",\n  "data": {"p": "1.0"}\n}',
    b"#not a marker",
    b"~not escaped either",
    b'{"stream":"ethusdt@trade","data":{"x":"a\\\\nb\\\\"}}',
    b"tail\\\n\\\\n\n",
    '{"stream":"ethusdt@trade","data":{"note":"caf\u00e9 \u2713"}}',
    b"",
]


def expected_frame(recv_ns: int, frame: bytes | str) -> RawRecord:
    """What the reader must return for a frame, computed without the reader's code."""
    data = frame.encode() if isinstance(frame, str) else frame
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        obj = None
    stream = obj.get("stream") if isinstance(obj, dict) else None
    return RawRecord(recv_ns, "frame", stream, data)


@pytest.mark.parametrize("compression", ["zst", "gz", "none"])
def test_round_trip_across_three_rotated_files(tmp_path: Path, compression: str) -> None:
    """Frames (real and odd), snapshots and markers over 3 minute-files read back byte for byte,
    in order, each file opening with a header of the same session."""
    opts = options(tmp_path, compression=compression, rotate_interval_ns=60 * NS)
    lines = real_lines(200)
    expected: list[RawRecord] = []
    with RecordingWriter(opts, session="s1") as writer:
        t = T0 + 5 * NS
        writer.write_marker(t, "connect", url=opts.url, conn_id=1)
        expected.append(
            RawRecord(
                t,
                "connect",
                None,
                b'{"marker":"connect","url":"wss://x/stream?streams=a","conn_id":1}',
            )
        )
        for i, line in enumerate(lines):
            t += 800 * MS  # 200 records over 160 s: three minute-files
            body = line.partition(b" ")[2]
            if body.startswith(b'{"stream"'):
                writer.write_frame(t, body if i % 2 else body.decode())
                expected.append(expected_frame(t, body))
            else:  # line 6, the REST snapshot
                writer.write_snapshot(t, "ETHUSDT", body)
                expected.append(RawRecord(t, "snapshot", "ethusdt@depthSnapshot", body))
            if i % 40 == 7:
                frame = ODD_FRAMES[(i // 40) % len(ODD_FRAMES)]
                writer.write_frame(t, frame)
                expected.append(expected_frame(t, frame))
        t += 1
        pretty = b'{\n"lastUpdateId": 7,\n"bids": [],\n"asks": []\n}'
        writer.write_snapshot(t, "btcusdt", pretty)
        expected.append(RawRecord(t, "snapshot", "btcusdt@depthSnapshot", pretty))
        for frame in ODD_FRAMES:
            writer.write_frame(t, frame)
            expected.append(expected_frame(t, frame))
        writer.write_marker(t, "gap", reason="overflow", dropped=3)
        writer.write_marker(t, "disconnect", conn_id=1, reason="closed")
        expected.append(
            RawRecord(t, "gap", None, b'{"marker":"gap","reason":"overflow","dropped":3}')
        )
        expected.append(
            RawRecord(
                t, "disconnect", None, b'{"marker":"disconnect","conn_id":1,"reason":"closed"}'
            )
        )

    suffix = {"zst": ".zst", "gz": ".gz", "none": ""}[compression]
    names = sorted(p.name for p in tmp_path.iterdir())
    # Named after each file's first record: +5 s, then the first records past +60 s and +120 s.
    stamps = ["20240808T000005Z", "20240808T000100Z", "20240808T000200Z"]
    assert names == [f"rt-ethusdt-{stamp}.ndjson{suffix}" for stamp in stamps]
    records, issues = read_all(tmp_path)
    assert issues == []
    assert data_records(records) == expected
    headers = [r.json() for r in records if r.kind == "header"]
    assert [(h["session"], h["file_index"], h["format"], h["version"]) for h in headers] == [
        ("s1", 0, "feedcheck-raw", 1),
        ("s1", 1, "feedcheck-raw", 1),
        ("s1", 2, "feedcheck-raw", 1),
    ]
    assert headers[0]["symbols"] == ["ethusdt"] and headers[0]["url"] == opts.url
    markers = [r for r in records if r.kind not in ("frame", "snapshot", "header")]
    assert [(r.kind, r.breaks_book) for r in markers] == [
        ("connect", True),
        ("gap", True),
        ("disconnect", True),
    ]


def test_part_until_closed_then_renamed(tmp_path: Path) -> None:
    writer = RecordingWriter(options(tmp_path, rotate_interval_ns=60 * NS))
    assert list(tmp_path.iterdir()) == []  # files open lazily, on the first record
    writer.write_frame(T0 + 1 * NS, b'{"stream":"ethusdt@trade","data":{}}')
    first = "rt-ethusdt-20240808T000001Z.ndjson.zst"
    assert sorted(p.name for p in tmp_path.iterdir()) == [first + ".part"]
    writer.write_frame(T0 + 61 * NS, b'{"stream":"ethusdt@trade","data":{}}')  # next minute
    second = "rt-ethusdt-20240808T000101Z.ndjson.zst"
    assert sorted(p.name for p in tmp_path.iterdir()) == [first, second + ".part"]
    assert writer.maybe_flush(T0 + 120 * NS) is True  # boundary passed: closed although idle
    assert sorted(p.name for p in tmp_path.iterdir()) == [first, second]
    assert writer.close() == (tmp_path / first, tmp_path / second)
    assert writer.close() == (tmp_path / first, tmp_path / second)  # idempotent
    stats = writer.stats()
    assert (stats.frames, stats.snapshots, stats.markers, stats.current) == (2, 0, 0, None)
    with pytest.raises(FeedcheckError, match="closed"):
        writer.write_frame(T0 + 200 * NS, b"{}")


@pytest.mark.parametrize("compression", ["zst", "gz"])
def test_crash_copy_readable_up_to_last_flush(tmp_path: Path, compression: str) -> None:
    """Records every 100 ms, flush every 1 s: a copy of the `.part` taken before close holds
    exactly the records up to the last flush, and reports its cut instead of raising."""
    out = tmp_path / "out"
    out.mkdir()
    writer = RecordingWriter(options(out, compression=compression, flush_interval_ns=NS))
    frames = [b'{"stream":"ethusdt@trade","data":{"t":%d}}' % i for i in range(35)]
    for i, frame in enumerate(frames):
        writer.write_frame(T0 + i * 100 * MS, frame)
    # The file opened at T0; writes at +1.0, +2.0, +3.0 s flushed, frame 30 included.
    part = writer.stats().current
    assert part is not None and part.name.endswith(".part")
    crash = tmp_path / "crash1" / part.name
    crash.parent.mkdir()
    shutil.copyfile(part, crash)
    records, issues = read_all(crash)
    assert [r.payload for r in data_records(records)] == frames[:31]
    assert issues == [ReadIssue(str(crash), 33, "truncated", issues[0].detail)]

    assert writer.maybe_flush(T0 + 3900 * MS) is False  # 0.9 s since the last flush
    assert writer.maybe_flush(T0 + 4000 * MS) is True
    shutil.copyfile(part, crash)
    records, _ = read_all(crash)
    assert [r.payload for r in data_records(records)] == frames
    assert writer.stats().flushes == 4
    writer.close()
    records, issues = read_all(out)
    assert [r.payload for r in data_records(records)] == frames and issues == []


def test_plain_part_reported_unfinished(tmp_path: Path) -> None:
    writer = RecordingWriter(options(tmp_path, compression="none"))
    writer.write_frame(T0, b"{}")
    writer.flush()
    part = writer.stats().current
    records, issues = read_all(part)
    assert [r.kind for r in records] == ["header", "frame"]
    assert issues == [ReadIssue(str(part), 3, "truncated", "unfinished .part file")]
    writer.close()


def test_clock_step_back_stays_in_file(tmp_path: Path) -> None:
    with RecordingWriter(options(tmp_path, rotate_interval_ns=60 * NS)) as writer:
        writer.write_frame(T0 + 59 * NS, b"{}")
        writer.write_frame(T0 + 10 * NS, b"{}")  # NTP stepped the clock back
    records, _ = read_all(tmp_path)
    assert [r.recv_ns for r in data_records(records)] == [T0 + 59 * NS, T0 + 10 * NS]
    assert len(list(tmp_path.iterdir())) == 1


def test_same_second_names_do_not_collide_and_sort(tmp_path: Path) -> None:
    a = RecordingWriter(options(tmp_path), session="a")
    b = RecordingWriter(options(tmp_path), session="b")
    a.write_frame(T0, b"{}")
    b.write_frame(T0, b"{}")
    files = [*a.close(), *b.close()]
    assert [p.name for p in files] == [
        "rt-ethusdt-20240808T000000Z.ndjson.zst",
        "rt-ethusdt-20240808T000000Z.1.ndjson.zst",
    ]
    assert recording_files([files[1], tmp_path]) == files


def test_file_names() -> None:
    assert recording_file_name("binance-spot", ["ETHUSDT", "BTCUSDT"], T0 + 3723 * NS, "gz") == (
        "binance-spot-btcusdt_ethusdt-20240808T010203Z.ndjson.gz"
    )
    five = ["A1", "B1", "C1", "D1", "E1"]
    assert (
        recording_file_name("p", five, T0, "none", seq=2)
        == "p-a1_b1_c1_plus2-20240808T000000Z.2.ndjson"
    )
    assert recording_file_name("p", [], T0, "zst") == "p-20240808T000000Z.ndjson.zst"


def test_raw_stream_frames_take_the_url_stream(tmp_path: Path) -> None:
    """A `/ws/<stream>` connection sends frames without an envelope: the header names them."""
    with RecordingWriter(options(tmp_path, url="wss://h:9443/ws/ethusdt@depth@100ms")) as writer:
        writer.write_frame(T0, b'{"e":"depthUpdate","U":1,"u":2}')
    records, _ = read_all(tmp_path)
    assert data_records(records) == [
        RawRecord(T0, "frame", "ethusdt@depth@100ms", b'{"e":"depthUpdate","U":1,"u":2}')
    ]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rotate_interval_ns"):
        options(tmp_path, rotate_interval_ns=NS - 1)
    with pytest.raises(ConfigError, match="compression"):
        options(tmp_path, compression="bz2")
    with pytest.raises(ConfigError, match="does not exist"):
        options(tmp_path / "missing")
    with pytest.raises(ConfigError, match="prefix"):
        options(tmp_path, prefix="a/b")
    with pytest.raises(ConfigError, match="symbol"):
        options(tmp_path, symbols=("ETH-USDT",))
    with RecordingWriter(options(tmp_path)) as writer:
        with pytest.raises(ConfigError, match="symbol"):
            writer.write_snapshot(T0, "eth/usdt", b"{}")
        with pytest.raises(ConfigError, match="bad marker"):
            writer.write_marker(T0, "header")
        with pytest.raises(ConfigError, match="not JSON"):
            writer.write_marker(T0, "gap", when=object())
    assert writer.stats().markers == 0


_KILLED_WRITER = """
import sys
from pathlib import Path
from feedcheck.binance.recording_writer import RecordingOptions, RecordingWriter

writer = RecordingWriter(RecordingOptions(Path(sys.argv[1]), prefix="kill", flush_interval_ns=10**9))
flushes, i = 0, 0
while True:  # runs until SIGKILL: records every 10 ms of a synthetic clock
    writer.write_frame(%d + i * 10**7, b'{"stream":"ethusdt@trade","data":{"t":%%d}}' %% i)
    i += 1
    if writer.stats().flushes > flushes:
        flushes = writer.stats().flushes
        print(i, flush=True)  # records written, all flushed
"""


def test_sigkill_leaves_every_flushed_record(tmp_path: Path) -> None:
    """A real writer process killed with SIGKILL mid-write: its `.part` holds at least every
    record it reported flushed, as an exact prefix, and the reader reports the cut."""
    code = _KILLED_WRITER % T0
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        flushed = [int(proc.stdout.readline()) for _ in range(5)]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert flushed == [101, 201, 301, 401, 501]  # a flush each 1 s = 100 records of 10 ms
    (part,) = tmp_path.iterdir()
    assert part.name == "kill-20240808T000000Z.ndjson.zst.part"
    records, issues = read_all(part)
    frames = data_records(records)
    assert len(frames) >= flushed[-1]
    assert [r.payload for r in frames] == [
        b'{"stream":"ethusdt@trade","data":{"t":%d}}' % i for i in range(len(frames))
    ]
    assert [(i.kind, i.line_no) for i in issues] == [("truncated", len(records) + 1)]


def test_other_formats_order_by_file_name_whatever_their_folder(tmp_path: Path) -> None:
    # The files of one stream may sit in folders whose paths sort the other way round
    # (a CI clone under /builds, a modified copy under /tmp): the name decides.
    later = tmp_path / "a" / "ethusdt_20240809.gz"
    earlier = tmp_path / "b" / "ethusdt_20240808.gz"
    cf = [tmp_path / "c" / f"BINANCE-ee25be.{n}" for n in (10, 2, 0)]
    for path in (later, earlier, *cf):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"")
    assert recording_files([later, earlier]) == [earlier, later]
    assert recording_files(cf) == cf[::-1]
