"""Readers of the real recordings in tests/data/real (hftbacktest, cryptofeed), format detection.

Expected counts are computed here, independently of the readers, with `gzip` + the stdlib `json`
over the raw lines; the same figures from the shell are noted next to the asserts.
"""

from __future__ import annotations

import functools
import gzip
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from feedcheck.binance.formats import (
    detect_format,
    read_cryptofeed,
    read_hftbacktest,
    read_recording,
    seconds_text_to_ns,
)
from feedcheck.binance.rawrecord import RawRecord, ReadIssue
from feedcheck.binance.recording_writer import RecordingOptions, RecordingWriter
from feedcheck.errors import ConfigError, DataError

REAL = Path(__file__).parents[1] / "data" / "real"
SPOT = [
    REAL / "binance-spot" / "ethusdt_20240808.gz",
    REAL / "binance-spot" / "ethusdt_20240809.gz",
]
USDM = [
    REAL / "binance-usdm" / "ethusdt_20240718.gz",
    REAL / "binance-usdm" / "ethusdt_20240719.gz",
]
CRYPTOFEED = REAL / "cryptofeed-raw" / "BINANCE-ee25be.0"
NS = 1_000_000_000


def read_all(reader, paths) -> tuple[list[RawRecord], list[ReadIssue]]:
    issues: list[ReadIssue] = []
    return list(reader(paths, on_issue=issues.append)), issues


@functools.cache
def hbt_truth(path: Path) -> list[tuple[int, str, str | None, bytes]]:
    """(local_ns, kind, stream, json bytes) per line, by the README's rule, with stdlib json
    (cached: several tests compare against the same files; nobody mutates the list)."""
    out = []
    with gzip.open(path, "rb") as fh:
        for raw in fh:
            stamp, _, body = raw.rstrip(b"\n").partition(b" ")
            obj = json.loads(body)
            if "stream" in obj:
                out.append((int(stamp), "frame", obj["stream"], body))
            else:
                out.append((int(stamp), "snapshot", None, body))
    return out


def kind_counts(records) -> Counter:
    return Counter((r.kind, r.stream) for r in records)


@pytest.mark.parametrize("files", [SPOT, USDM], ids=["spot", "usdm"])
def test_hftbacktest_pair_reads_every_line_in_order(files: list[Path]) -> None:
    """Both days as one stream: every line, in file then line order, stamps and JSON bytes
    exactly as in the file; the one snapshot per pair named `ethusdt@depthSnapshot`."""
    truth = [t for path in files for t in hbt_truth(path)]
    records, issues = read_all(read_hftbacktest, list(reversed(files)))  # order comes from names
    assert issues == []
    assert [(r.recv_ns, r.kind, r.payload) for r in records] == [(t[0], t[1], t[3]) for t in truth]
    assert [r.stream for r in records] == [t[2] or "ethusdt@depthSnapshot" for t in truth]
    assert [r.path for r in records] == [str(p) for p in files for _ in hbt_truth(p)]


def test_hftbacktest_counts_per_stream() -> None:
    """Per-stream counts; shell: `zcat F | grep -c '"stream":"ethusdt@depth@100ms"'` etc."""
    spot, _ = read_all(read_hftbacktest, SPOT[0])
    truth = [t for path in SPOT[:1] for t in hbt_truth(path)]
    assert kind_counts(spot) == Counter((t[1], t[2] or "ethusdt@depthSnapshot") for t in truth)
    assert kind_counts(spot) == Counter(
        {
            ("frame", "ethusdt@bookTicker"): 24077,
            ("frame", "ethusdt@trade"): 6106,
            ("frame", "ethusdt@depth@100ms"): 3434,
            ("snapshot", "ethusdt@depthSnapshot"): 1,
        }
    )
    usdm, _ = read_all(read_hftbacktest, USDM)
    truth = [t for path in USDM for t in hbt_truth(path)]
    assert kind_counts(usdm) == Counter((t[1], t[2] or "ethusdt@depthSnapshot") for t in truth)
    assert kind_counts(usdm) == Counter(
        {
            ("frame", "ethusdt@bookTicker"): 9089 + 38239,
            ("frame", "ethusdt@trade"): 1640 + 12015,
            ("frame", "ethusdt@depth@0ms"): 3273 + 5656,
            ("snapshot", "ethusdt@depthSnapshot"): 1,
        }
    )


def test_spot_0808_snapshot_is_line_6() -> None:
    """README: the 2024-08-08 spot snapshot is line 6, lastUpdateId 35346513512."""
    (snap,) = [r for r in read_hftbacktest(SPOT[0]) if r.kind == "snapshot"]
    assert (snap.line_no, snap.stream, snap.path) == (6, "ethusdt@depthSnapshot", str(SPOT[0]))
    assert snap.recv_ns == hbt_truth(SPOT[0])[5][0]
    body = snap.json()
    assert body["lastUpdateId"] == 35346513512
    assert (len(body["bids"]), len(body["asks"])) == (1000, 1000)
    (usdm_snap,) = [r for r in read_hftbacktest(USDM[0]) if r.kind == "snapshot"]
    assert {"lastUpdateId", "E", "T", "bids", "asks"} <= usdm_snap.json().keys()


def cryptofeed_truth() -> tuple[list[str], list[tuple[str, float, dict]], Counter]:
    """(lines, snapshots as (url, seconds, body), frames per stream) by plain text splitting."""
    lines = CRYPTOFEED.read_text().split("\n")
    snapshots, frames = [], Counter()
    for line in lines[1:]:
        if " -> " in line:
            url, _, rest = line.partition(" -> ")
            secs, _, body = rest.partition(": ")
            snapshots.append((url, secs, json.loads(body)))
        else:
            frames[json.loads(line.partition(": ")[2])["stream"]] += 1
    return lines, snapshots, frames


def test_cryptofeed_file() -> None:
    lines, snapshots, frames = cryptofeed_truth()
    records, issues = read_all(read_cryptofeed, CRYPTOFEED)
    assert issues == []
    assert len(records) == len(lines) == 4720  # `wc -l` says 4719: the last line has no newline
    connect = records[0]
    assert (connect.kind, connect.recv_ns, connect.breaks_book) == (
        "connect",
        1617566590378895000,
        True,
    )
    assert connect.json()["url"] == lines[0].partition(" <-> ")[0]
    assert Counter(r.stream for r in records if r.kind == "frame") == frames
    assert sum(frames.values()) == 4716
    snaps = [r for r in records if r.kind == "snapshot"]
    assert [(r.stream, r.line_no) for r in snaps] == [
        ("dotusdt@depthSnapshot", 3),
        ("btcusdt@depthSnapshot", 5),
        ("ethusdt@depthSnapshot", 7),
    ]
    assert {r.symbol for r in snaps} == {"BTCUSDT", "ETHUSDT", "DOTUSDT"}
    assert [r.json() for r in snaps] == [body for _, _, body in snapshots]
    assert [r.json()["lastUpdateId"] for r in snaps] == [1513939277, 9893033066, 6591598839]
    # "1617566592.1065369" → ns from the decimal text, no float on the way
    assert [r.recv_ns for r in snaps] == [
        1617566592106536900,
        1617566592339385000,
        1617566592620111000,
    ]
    assert [secs for _, secs, _ in snapshots] == [
        "1617566592.1065369",
        "1617566592.339385",
        "1617566592.620111",
    ]
    last = records[-1]
    assert (last.kind, last.line_no, last.payload) == (
        "frame",
        4720,
        lines[-1].partition(": ")[2].encode(),
    )


def test_seconds_text_to_ns() -> None:
    assert seconds_text_to_ns(b"1617566592.1065369") == 1_617_566_592_106_536_900
    assert seconds_text_to_ns(b"1617566590.378895") == 1_617_566_590_378_895_000
    assert seconds_text_to_ns(b"7") == 7 * NS
    assert seconds_text_to_ns(b"1.1234567899") == 1_123_456_789  # beyond ns: truncated
    for bad in (b"", b"1.", b".5", b"-1", b"1e9", b"abc"):
        assert seconds_text_to_ns(bad) is None


def test_detect_format(tmp_path: Path) -> None:
    assert detect_format(SPOT[0]) == "hftbacktest"
    assert detect_format(USDM[1]) == "hftbacktest"
    assert detect_format(CRYPTOFEED) == "cryptofeed"
    for compression in ("zst", "gz", "none"):
        out = tmp_path / compression
        out.mkdir()
        with RecordingWriter(RecordingOptions(out, compression=compression)) as writer:
            writer.write_frame(1, b"{}")
        assert detect_format(next(out.iterdir())) == "feedcheck"
    empty_part = tmp_path / "binance-20240808T000000Z.ndjson.zst.part"
    empty_part.write_bytes(b"")
    assert detect_format(empty_part) == "feedcheck"
    unknown = tmp_path / "notes.txt"
    unknown.write_bytes(b"hello world\n")
    with pytest.raises(DataError, match="line 1: unknown recording format") as err:
        detect_format(unknown)
    assert err.value.path == unknown and err.value.found == "b'hello world'"


def test_read_recording_dispatches_and_refuses_mixes(tmp_path: Path) -> None:
    spot = read_recording(REAL / "binance-spot")
    assert next(spot).path == str(SPOT[0])
    assert kind_counts(read_recording(CRYPTOFEED))[("snapshot", "btcusdt@depthSnapshot")] == 1
    with pytest.raises(DataError, match="mix formats") as err:
        read_recording([SPOT[0], CRYPTOFEED])
    assert {err.value.expected, err.value.found} == {"hftbacktest", "cryptofeed"}
    with pytest.raises(ConfigError, match="format must be"):
        read_recording(SPOT[0], fmt="tardis")
    with pytest.raises(DataError, match="does not exist"):
        read_recording(tmp_path / "missing.gz")
    with pytest.raises(DataError, match="no recording files"):
        read_recording(tmp_path)


def write_gz(path: Path, lines: list[bytes]) -> Path:
    with gzip.open(path, "wb") as fh:
        fh.write(b"".join(line + b"\n" for line in lines))
    return path


TRADE = b'{"stream":"btcusdt@trade","data":{"e":"trade"}}'
DEPTH = b'{"stream":"btcusdt@depth@100ms","data":{"U":1,"u":2}}'
SNAP = b'{"lastUpdateId":1,"bids":[],"asks":[]}'


def test_hftbacktest_snapshot_symbol_from_the_next_depth_frame(tmp_path: Path) -> None:
    """A snapshot before any depth frame, in a file whose name tells nothing: it is named from
    the next depth frame, and the records behind it wait so the order is kept."""
    path = write_gz(
        tmp_path / "capture.gz", [b"1 " + TRADE, b"2 " + SNAP, b"3 " + TRADE, b"4 " + DEPTH]
    )
    records, issues = read_all(read_hftbacktest, path)
    assert issues == []
    assert [(r.recv_ns, r.kind, r.stream, r.line_no) for r in records] == [
        (1, "frame", "btcusdt@trade", 1),
        (2, "snapshot", "btcusdt@depthSnapshot", 2),
        (3, "frame", "btcusdt@trade", 3),
        (4, "frame", "btcusdt@depth@100ms", 4),
    ]


def test_hftbacktest_snapshot_symbol_from_the_file_name(tmp_path: Path) -> None:
    path = write_gz(tmp_path / "solusdt_20240101.gz", [b"2 " + SNAP, b"3 " + TRADE])
    records, _ = read_all(read_hftbacktest, path)
    assert [r.stream for r in records] == ["solusdt@depthSnapshot", "btcusdt@trade"]


def test_hftbacktest_bad_lines_reported(tmp_path: Path) -> None:
    path = write_gz(
        tmp_path / "capture.gz",
        [
            b"1 " + TRADE,
            b"garbage",
            b"2 not json",
            b'3 {"result":null,"id":1}',
            b'4 {"stream":"btcusdt@trade", broken',
            b"5 " + SNAP,
        ],
    )
    records, issues = read_all(read_hftbacktest, path)
    assert [(r.recv_ns, r.kind) for r in records] == [(1, "frame"), (4, "frame")]
    assert [(i.line_no, i.kind) for i in issues] == [
        (2, "bad_line"),
        (3, "bad_line"),
        (4, "bad_line"),
        (6, "unknown_symbol"),
    ]
    assert issues[0].detail == "expected '<local_ns> <json>'"
    assert issues[1].detail.startswith("not JSON")
    assert issues[2].detail == "JSON with neither 'stream' nor 'lastUpdateId'"
    with pytest.raises(DataError, match="line 5: frame payload is not JSON"):
        records[1].json()


def test_hftbacktest_cut_file_yields_a_prefix(tmp_path: Path) -> None:
    truth = hbt_truth(SPOT[0])
    data = SPOT[0].read_bytes()
    previous = 0
    for fraction in (0.01, 0.3, 0.7, 0.999):
        cut = tmp_path / f"{fraction}" / SPOT[0].name
        cut.parent.mkdir()
        cut.write_bytes(data[: int(len(data) * fraction)])
        records, issues = read_all(read_hftbacktest, cut)
        assert previous < len(records) < len(truth)
        previous = len(records)
        assert [(r.recv_ns, r.payload) for r in records] == [
            (t[0], t[3]) for t in truth[: len(records)]
        ]
        assert [(i.kind, i.line_no) for i in issues] == [("truncated", len(records) + 1)]


def test_cryptofeed_bad_and_cut_lines(tmp_path: Path) -> None:
    path = tmp_path / "BINANCE-x.0"
    path.write_bytes(
        b"wss://h/stream?streams=btcusdt@trade <-> 1.5\n"
        b"2.25: " + TRADE + b"\n"
        b"what is this\n"
        b"https://h/api/v1/depth?limit=10 -> 3: " + SNAP + b"\n"
        b"https://h/api/v1/depth?symbol=BTC-USDT -> 3: " + SNAP + b"\n"
        b"https://h/api/v1/depth?symbol=BTCUSDT -> 3.5: " + SNAP + b"\n"
        b'4: {"stream":"btcusdt@trade","da'
    )
    records, issues = read_all(read_cryptofeed, path)
    assert [(r.recv_ns, r.kind, r.stream) for r in records] == [
        (1_500_000_000, "connect", None),
        (2_250_000_000, "frame", "btcusdt@trade"),
        (3_500_000_000, "snapshot", "btcusdt@depthSnapshot"),
    ]
    assert [(i.line_no, i.kind) for i in issues] == [
        (3, "bad_line"),
        (4, "bad_line"),
        (5, "bad_line"),
        (7, "truncated"),
    ]
    assert issues[1].detail == "snapshot URL has no symbol= query"
    assert issues[2].detail.startswith("snapshot URL symbol:")


def test_real_directory_copy_reads_like_the_originals(tmp_path: Path) -> None:
    """A directory argument expands to its files, ordered by name (0808 before 0809)."""
    for path in SPOT:
        shutil.copy(path, tmp_path / path.name)
    records = list(read_recording(tmp_path))
    assert [r.recv_ns for r in records] == [t[0] for p in SPOT for t in hbt_truth(p)]


def test_hftbacktest_odd_depth_stream_never_names_a_snapshot(tmp_path: Path) -> None:
    """A stream whose symbol is no Binance symbol is kept as a frame, and names nothing."""
    odd = b'{"stream":"BTC-USDT@depth","data":{}}'
    path = write_gz(tmp_path / "capture.gz", [b"1 " + SNAP, b"2 " + odd])
    records, issues = read_all(read_hftbacktest, path)
    assert [(r.kind, r.stream) for r in records] == [("frame", "BTC-USDT@depth")]
    assert [(i.line_no, i.kind) for i in issues] == [(1, "unknown_symbol")]
