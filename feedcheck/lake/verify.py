"""Verify a local Parquet file against what the remote says it should be.

Three checks, cheapest first: byte size; MD5 against the ETag when the ETag is a plain MD5 (a
single-part upload; multipart ETags `<md5 of part md5s>-<parts>` are not a content hash and are
skipped); the Parquet footer (pyarrow reads the metadata: row count and row groups). The footer
check proves the file is complete and parseable, not that every data page decodes; the MD5 covers
the bytes when available.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from feedcheck.errors import CorruptFileError

#: Read size for hashing: large enough to stream at disk speed, small enough to stay flat in memory.
HASH_CHUNK_BYTES = 1 << 20
_PLAIN_MD5_RE = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class FileCheck:
    """The outcome of `verify_file`. `ok` is the single verdict; `problem` says why not.

    md5_ok is None when not checked (no ETag, multipart ETag, or size already wrong). rows and
    row_groups are None when the footer is unreadable.
    """

    path: str
    size_bytes: int | None
    expected_size_bytes: int | None
    size_ok: bool
    md5_ok: bool | None
    footer_ok: bool
    rows: int | None
    row_groups: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.size_ok and self.md5_ok is not False and self.footer_ok


def normalise_etag(etag: str | None) -> str | None:
    """ETag without the quotes S3 wraps it in, lower-cased; None stays None."""
    return None if etag is None else etag.strip().strip('"').lower()


def is_plain_md5_etag(etag: str | None) -> bool:
    """True when the ETag is the MD5 of the whole object (32 hex digits, no `-N` parts suffix)."""
    value = normalise_etag(etag)
    return value is not None and _PLAIN_MD5_RE.match(value) is not None


def file_md5(path: Path | str) -> str:
    """Hex MD5 of the file, streamed in HASH_CHUNK_BYTES blocks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(
    path: Path | str,
    expected_size: int | None = None,
    etag: str | None = None,
    *,
    md5_hex: str | None = None,
) -> FileCheck:
    """Check one local file. Never raises for bad content: a corrupt file gives ok=False.

    Args:
        path: the local file.
        expected_size: remote size in bytes; None skips the size check.
        etag: remote ETag (quotes allowed); compared with the MD5 only when it is a plain MD5.
        md5_hex: MD5 already computed while writing the file, to avoid reading it twice.

    Returns:
        FileCheck; a missing file gives size_bytes=None, size_ok=False, footer_ok=False.
    """
    p = Path(path)
    if not p.is_file():
        return FileCheck(
            str(p), None, expected_size, False, None, False, None, None, "file does not exist"
        )
    size = p.stat().st_size
    problems: list[str] = []
    size_ok = expected_size is None or size == expected_size
    if not size_ok:
        problems.append(f"size {size} bytes, expected {expected_size}")

    md5_ok: bool | None = None
    if size_ok and is_plain_md5_etag(etag):
        found = md5_hex if md5_hex is not None else file_md5(p)
        md5_ok = found == normalise_etag(etag)
        if not md5_ok:
            problems.append(f"md5 {found} does not match ETag {normalise_etag(etag)}")

    rows: int | None = None
    row_groups: int | None = None
    try:
        meta = pq.ParquetFile(p).metadata
        rows, row_groups = meta.num_rows, meta.num_row_groups
        footer_ok = True
    except (pa.ArrowException, OSError) as exc:
        footer_ok = False
        problems.append(f"Parquet footer unreadable ({type(exc).__name__}: {exc})")

    return FileCheck(
        str(p),
        size,
        expected_size,
        size_ok,
        md5_ok,
        footer_ok,
        rows,
        row_groups,
        "; ".join(problems) or None,
    )


def require_valid(check: FileCheck) -> FileCheck:
    """Return `check` when ok, else raise CorruptFileError naming the path and the failed check."""
    if check.ok:
        return check
    expected = found = None
    if not check.size_ok and check.size_bytes is not None:
        expected, found = f"{check.expected_size_bytes} bytes", f"{check.size_bytes} bytes"
    reason = check.problem or "verification failed"
    raise CorruptFileError(check.path, reason, None, expected, found)
