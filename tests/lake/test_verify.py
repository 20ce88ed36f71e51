"""feedcheck.lake.verify: size, plain-MD5 ETag and Parquet footer checks on real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedcheck.errors import CorruptFileError
from feedcheck.lake.verify import file_md5, is_plain_md5_etag, require_valid, verify_file
from tests.lake.s3_fixtures import build_tree


@pytest.fixture
def parquet(tmp_path: Path) -> tuple[Path, int, str]:
    """One 300-row, 3-row-group trades file: (path, size, md5)."""
    files = build_tree(tmp_path, days=1, rows=300, row_group_rows=100)
    (f,) = files.values()
    return tmp_path / f.relpath, f.size, f.md5


def test_good_file_with_plain_md5_etag(parquet: tuple[Path, int, str]) -> None:
    path, size, md5 = parquet
    check = verify_file(path, size, f'"{md5}"')
    assert (check.ok, check.size_ok, check.md5_ok, check.footer_ok) == (True, True, True, True)
    assert (check.rows, check.row_groups, check.size_bytes, check.problem) == (300, 3, size, None)


def test_multipart_etag_is_not_compared(parquet: tuple[Path, int, str]) -> None:
    path, size, _ = parquet
    check = verify_file(path, size, '"0123456789abcdef0123456789abcdef-3"')
    assert (check.ok, check.md5_ok, check.rows) == (True, None, 300)


def test_no_expectations_checks_only_the_footer(parquet: tuple[Path, int, str]) -> None:
    path, size, _ = parquet
    check = verify_file(path)
    got = (check.ok, check.size_ok, check.md5_ok, check.expected_size_bytes)
    assert got == (True, True, None, None)


def test_truncated_file_is_reported_not_raised(parquet: tuple[Path, int, str]) -> None:
    path, size, md5 = parquet
    path.write_bytes(path.read_bytes()[: size // 2])
    check = verify_file(path, size, md5)
    assert (check.ok, check.size_ok, check.md5_ok, check.footer_ok) == (False, False, None, False)
    assert (check.rows, check.row_groups, check.size_bytes) == (None, None, size // 2)
    assert check.problem is not None
    assert check.problem.startswith(
        f"size {size // 2} bytes, expected {size}; Parquet footer unreadable"
    )
    with pytest.raises(CorruptFileError) as info:
        require_valid(check)
    err = info.value
    assert (err.path, err.expected, err.found) == (str(path), f"{size} bytes", f"{size // 2} bytes")
    assert str(path) in str(err)


def test_same_size_byte_flip_fails_md5_only(parquet: tuple[Path, int, str]) -> None:
    """A flipped byte inside a data page leaves the footer readable: only the MD5 catches it."""
    path, size, md5 = parquet
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    check = verify_file(path, size, md5)
    got = (check.ok, check.size_ok, check.md5_ok, check.footer_ok, check.rows)
    assert got == (False, True, False, True, 300)
    assert check.problem == f"md5 {file_md5(path)} does not match ETag {md5}"


def test_destroyed_footer(parquet: tuple[Path, int, str]) -> None:
    path, size, _ = parquet
    data = path.read_bytes()
    path.write_bytes(data[:-8] + b"\x00" * 8)
    check = verify_file(path, size, None)
    assert (check.ok, check.size_ok, check.md5_ok, check.footer_ok) == (False, True, None, False)
    with pytest.raises(CorruptFileError) as info:
        require_valid(check)
    assert (info.value.expected, info.value.found) == (None, None)


def test_missing_file(tmp_path: Path) -> None:
    check = verify_file(tmp_path / "nope.parquet", 10, None)
    assert (check.ok, check.size_bytes, check.problem) == (False, None, "file does not exist")


def test_precomputed_md5_is_used_instead_of_reading(parquet: tuple[Path, int, str]) -> None:
    path, size, md5 = parquet
    assert verify_file(path, size, md5, md5_hex="0" * 32).md5_ok is False
    assert verify_file(path, size, md5, md5_hex=md5).md5_ok is True


@pytest.mark.parametrize(
    ("etag", "plain"),
    [
        ('"5d41402abc4b2a76b9719d911017c592"', True),
        ("5D41402ABC4B2A76B9719D911017C592", True),
        ('"5d41402abc4b2a76b9719d911017c592-12"', False),
        ("", False),
        (None, False),
    ],
)
def test_is_plain_md5_etag(etag: str | None, plain: bool) -> None:
    assert is_plain_md5_etag(etag) is plain
