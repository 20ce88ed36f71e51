"""One exception hierarchy for feedcheck.

An exception means "could not run"; findings (gaps, crossed books, off-tick prices) are data in
results, never exceptions.

    FeedcheckError
    ├── ConfigError            bad parameter: symbol, date range, path, endpoint
    ├── DataError              local data cannot be used as it is
    │   ├── CorruptFileError       unreadable / truncated Parquet, size or checksum mismatch
    │   ├── SchemaMismatchError    missing column, wrong dtype
    │   └── EmptyPartitionError    a partition with no rows or no files
    ├── RemoteError            the data source refused or failed
    │   ├── AccessDeniedError      HTTP 403: credentials or entitlement
    │   ├── NotFoundError          HTTP 404 on a key that was listed or asked for
    │   ├── NoFilesFoundError      nothing to download for the requested range
    │   └── TransientRemoteError   5xx, throttling, timeouts: worth retrying
    ├── SyncError              book-sync machine driven wrong: symbol, state, U/u, lastUpdateId
    └── VenueError             Binance refused a request: HTTP status, error code, Retry-After
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class FeedcheckError(Exception):
    """Root of every error feedcheck raises on purpose."""


class ConfigError(FeedcheckError, ValueError):
    """A parameter is invalid (names the parameter and the value)."""


@dataclass(eq=False)
class DataError(FeedcheckError):
    """Local data cannot be used. Always names the file; the column when one is at fault."""

    path: Path | str
    reason: str
    column: str | None = None
    expected: str | None = None
    found: str | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}"
        if self.column is not None:
            where += f", column {self.column!r}"
        text = f"{where}: {self.reason}"
        if self.expected is not None or self.found is not None:
            text += f" (expected {self.expected}, found {self.found})"
        return text


class CorruptFileError(DataError):
    """The file cannot be read as Parquet, or fails its size/checksum verification."""


class SchemaMismatchError(DataError):
    """A column is missing or has the wrong dtype."""


class EmptyPartitionError(DataError):
    """A partition exists but holds no rows (or no files)."""


@dataclass(eq=False)
class RemoteError(FeedcheckError):
    """The remote store refused or failed a request. Names what was asked for, never credentials."""

    what: str
    reason: str
    status: int | None = None
    details: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        status = f"HTTP {self.status}: " if self.status is not None else ""
        return f"{status}{self.reason}: {self.what}"


class AccessDeniedError(RemoteError):
    """HTTP 403: the credentials are missing, wrong, or not entitled to this data."""


class NotFoundError(RemoteError):
    """HTTP 404: the object or bucket does not exist."""


class NoFilesFoundError(RemoteError):
    """The listing holds no files for the requested table/exchange/symbol/day range."""


class TransientRemoteError(RemoteError):
    """A failure that may succeed when retried (5xx, throttling, connection reset, timeout)."""


@dataclass(eq=False)
class SyncError(FeedcheckError):
    """The book-sync machine was asked something its state cannot do.

    Gaps and stale snapshots are outcomes, not errors; this names a caller bug or a malformed
    feed: a snapshot delivered in the wrong state, an event for another symbol, a USD-M event
    without ``pu``. ``U``/``u`` are the event's first/final update ids, ``last_update_id`` the
    book's (or the snapshot's) id.
    """

    symbol: str
    state: str
    reason: str
    U: int | None = None  # Binance's own field names, so messages match the wire
    u: int | None = None
    last_update_id: int | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        ids = ", ".join(
            f"{name}={value}"
            for name, value in (("U", self.U), ("u", self.u), ("lastUpdateId", self.last_update_id))
            if value is not None
        )
        suffix = f" ({ids})" if ids else ""
        return f"{self.symbol} in state {self.state}: {self.reason}{suffix}"


@dataclass(eq=False)
class VenueError(FeedcheckError):
    """Binance refused or rejected a request: HTTP status, Binance error code, ``Retry-After``.

    ``what`` names the request (endpoint and symbol, never credentials); ``retry_after_s`` is the
    server's ``Retry-After`` in seconds when it sent one (HTTP 429/418).
    """

    what: str
    reason: str
    status: int | None = None
    code: int | None = None
    retry_after_s: float | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        status = f"HTTP {self.status}: " if self.status is not None else ""
        code = f" (code {self.code})" if self.code is not None else ""
        return f"{status}{self.reason}{code}: {self.what}"
