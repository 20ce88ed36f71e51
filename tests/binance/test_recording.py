"""Reading our recording format: line grammar, bad lines reported and skipped, lazy JSON errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedcheck.binance.rawrecord import RawRecord, ReadIssue, envelope_stream
from feedcheck.binance.recording import encode_body, parse_feedcheck_line, read_feedcheck
from feedcheck.binance.recording_writer import RecordingOptions, RecordingWriter
from feedcheck.errors import DataError

NS = 1_000_000_000
T0 = 1_723_075_200 * NS
TRADE = b'{"stream":"ethusdt@trade","data":{"e":"trade","t":1}}'


def read_all(paths) -> tuple[list[RawRecord], list[ReadIssue]]:
    issues: list[ReadIssue] = []
    return list(read_feedcheck(paths, on_issue=issues.append)), issues


class TestLineGrammar:
    """One line → (recv_ns, kind, stream, payload): the module docstring's grammar."""

    def test_frame_snapshot_marker(self) -> None:
        assert parse_feedcheck_line(b"12 " + TRADE) == (12, "frame", "ethusdt@trade", TRADE)
        snap = b'{"stream":"ethusdt@depthSnapshot","data":{"lastUpdateId":5,"bids":[],"asks":[]}}'
        assert parse_feedcheck_line(b"13 " + snap) == (
            13,
            "snapshot",
            "ethusdt@depthSnapshot",
            b'{"lastUpdateId":5,"bids":[],"asks":[]}',
        )
        # Another writer's spacing: the body is re-serialised from the parsed JSON.
        spaced = b'{"stream": "ethusdt@depthSnapshot", "data": {"lastUpdateId": 5}}'
        assert parse_feedcheck_line(b"13 " + spaced) == (
            13,
            "snapshot",
            "ethusdt@depthSnapshot",
            b'{"lastUpdateId":5}',
        )
        marker = b'{"marker":"gap","dropped":2}'
        assert parse_feedcheck_line(b"14 #" + marker) == (14, "gap", None, marker)

    def test_escape_is_lossless(self) -> None:
        for body in (b"a\nb", b"\\\n", b"#x", b"~", b"\n\n\\\\n", b"#\\n"):
            encoded = encode_body(body)
            assert encoded.startswith(b"~") and b"\n" not in encoded
            assert parse_feedcheck_line(b"1 " + encoded) == (1, "frame", None, body)
        for body in (TRADE, b"\\n", b"x\\", b"a#~"):  # nothing to escape: written as is
            assert encode_body(body) is body
            assert parse_feedcheck_line(b"1 " + body) == (
                1,
                "frame",
                None if body != TRADE else "ethusdt@trade",
                body,
            )

    def test_bad_lines(self) -> None:
        assert parse_feedcheck_line(b"garbage") == "expected '<recv_ns> <body>'"
        assert parse_feedcheck_line(b" {}") == "expected '<recv_ns> <body>'"
        assert parse_feedcheck_line(b"-5 {}") == "expected '<recv_ns> <body>'"
        assert parse_feedcheck_line(b"1 #nope").startswith("marker is not JSON")
        assert parse_feedcheck_line(b'1 #{"marker":"boom"}') == "unknown marker 'boom'"
        assert parse_feedcheck_line(b'1 #{"marker":["gap"]}') == "unknown marker ['gap']"
        assert parse_feedcheck_line(b"1 ~a\\qb") == "invalid escape in a '~' line"
        assert (
            parse_feedcheck_line(b'1 {"stream": "x@depthSnapshot", "data": [1]}')
            == "x@depthSnapshot line without a data object"
        )

    def test_envelope_stream(self) -> None:
        assert envelope_stream(TRADE) == "ethusdt@trade"
        assert envelope_stream(b'{ "stream" : "a@b", "data": {}}') == "a@b"
        assert envelope_stream(b'{"data":{},"stream":"a@b"}') == "a@b"
        assert envelope_stream(b'{"e":"depthUpdate"}') is None
        assert envelope_stream(b'{"stream": 5}') is None
        assert envelope_stream(b'"stream" not json') is None


def test_bad_lines_reported_and_skipped(tmp_path: Path) -> None:
    """A damaged line in the middle is reported with file and line and skipped; the records
    around it are kept; a non-JSON frame is yielded and its `json()` names file and line."""
    with RecordingWriter(RecordingOptions(tmp_path, prefix="bad", compression="none")) as w:
        w.write_frame(T0, TRADE)
    path = next(tmp_path.iterdir())
    with open(path, "ab") as fh:
        fh.write(b"garbage line\n")
        fh.write(b'%d #{"marker":"bogus"}\n' % (T0 + 1))
        fh.write(b'%d {"stream":"ethusdt@trade", not json\n' % (T0 + 2))
        fh.write(b"%d %b\n" % (T0 + 3, TRADE))
    records, issues = read_all(path)
    assert [(r.kind, r.recv_ns, r.line_no) for r in records] == [
        ("header", T0, 1),
        ("frame", T0, 2),
        ("frame", T0 + 2, 5),
        ("frame", T0 + 3, 6),
    ]
    assert issues == [
        ReadIssue(str(path), 3, "bad_line", "expected '<recv_ns> <body>'"),
        ReadIssue(str(path), 4, "bad_line", "unknown marker 'bogus'"),
    ]
    assert records[3].json() == {"stream": "ethusdt@trade", "data": {"e": "trade", "t": 1}}
    with pytest.raises(DataError, match="line 5: frame payload is not JSON") as err:
        records[2].json()
    assert err.value.path == str(path)


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        list(read_feedcheck(tmp_path / "nope.ndjson.zst"))


def test_default_issue_handler_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "x-20240808T000000Z.ndjson"
    path.write_bytes(b"oops\n")
    assert list(read_feedcheck(path)) == []
    assert [r.getMessage() for r in caplog.records] == [
        f"recording read issue: {path}:1: bad_line: expected '<recv_ns> <body>'"
    ]
