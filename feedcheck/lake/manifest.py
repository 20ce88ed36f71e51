"""The download manifest: one entry per remote object, what happened to it and what it holds.

Written next to the staging area as Parquet or JSON (chosen by suffix) and rendered by the
download flow as its `download-manifest` table. It carries object names, sizes, ETags and
outcomes only: no credentials, endpoint secrets or request signatures ever reach it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

import polars as pl
import pyarrow.parquet as pq

from feedcheck.errors import ConfigError, CorruptFileError
from feedcheck.lake.layout import Partition

Status = Literal["downloaded", "skipped", "corrupt", "failed"]
STATUSES: tuple[Status, ...] = get_args(Status)
#: Parquet key-value metadata key holding the JSON list of missing partition keys.
_MISSING_META_KEY = b"feedcheck.missing_partitions"

MANIFEST_SCHEMA: dict[str, pl.DataType] = {
    "relpath": pl.String(),
    "table": pl.String(),
    "exchange": pl.String(),
    "symbol": pl.String(),
    "dt": pl.Date(),
    "size_bytes": pl.Int64(),
    "etag": pl.String(),
    "md5_ok": pl.Boolean(),
    "footer_ok": pl.Boolean(),
    "rows": pl.Int64(),
    "row_groups": pl.Int64(),
    "status": pl.String(),
    "attempts": pl.Int64(),
    "error": pl.String(),
    "seconds": pl.Float64(),
}


@dataclass(frozen=True)
class ManifestEntry:
    """What happened to one remote object.

    status: downloaded (fetched and verified this run), skipped (already present and verified, no
    GET made), corrupt (fetched `attempts` times, never verified; nothing left under the final
    name by us), failed (transient errors on every attempt). md5_ok is None when the ETag is not a
    plain MD5; footer_ok/rows/row_groups are None when no verified copy exists. size_bytes is the
    remote size; seconds is wall time spent on this object.
    """

    relpath: str
    table: str
    exchange: str
    symbol: str
    dt: date
    size_bytes: int
    etag: str
    md5_ok: bool | None
    footer_ok: bool | None
    rows: int | None
    row_groups: int | None
    status: Status
    attempts: int
    error: str | None
    seconds: float

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            allowed = ", ".join(STATUSES)
            raise ConfigError(f"manifest status {self.status!r} is not one of {allowed}")

    @property
    def ok(self) -> bool:
        return self.status in ("downloaded", "skipped")

    @property
    def partition(self) -> Partition:
        return Partition(self.table, self.exchange, self.symbol, self.dt)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Manifest:
    """All entries of one download, plus the requested partitions that had no file (Lake gaps).

    `missing_partitions` holds Partition.key strings (`trades/BINANCE/BTC-USDT/2024-01-02`).
    """

    entries: tuple[ManifestEntry, ...]
    missing_partitions: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, entries: Iterable[ManifestEntry], missing_partitions: Iterable[str] = ()
    ) -> Manifest:
        """Entries sorted by relpath so two runs over the same objects compare equal."""
        return cls(
            tuple(sorted(entries, key=lambda e: e.relpath)), tuple(sorted(missing_partitions))
        )

    def by_status(self, status: Status) -> tuple[ManifestEntry, ...]:
        return tuple(e for e in self.entries if e.status == status)

    @property
    def ok(self) -> bool:
        """True when every object is downloaded or skipped (missing days do not make it false)."""
        return all(e.ok for e in self.entries)

    def to_polars(self) -> pl.DataFrame:
        """One row per entry with MANIFEST_SCHEMA dtypes (empty frame keeps the schema)."""
        return pl.DataFrame([asdict(e) for e in self.entries], schema=MANIFEST_SCHEMA, orient="row")

    def summary(self) -> dict[str, Any]:
        """Totals for rendering: files, bytes (remote sizes), rows (verified files only), counts by
        status under `by_status` and flat (every status present, zeros included), per-table
        files/bytes/rows, the number of missing partitions, and `ok`."""
        frame = self.to_polars()
        by_table: dict[str, dict[str, int]] = {}
        if frame.height:
            grouped = (
                frame.group_by("table")
                .agg(
                    pl.len().alias("files"),
                    pl.col("size_bytes").sum().alias("bytes"),
                    pl.col("rows").fill_null(0).sum().alias("rows"),
                )
                .sort("table")
            )
            by_table = {
                row["table"]: {"files": row["files"], "bytes": row["bytes"], "rows": row["rows"]}
                for row in grouped.iter_rows(named=True)
            }
        counts = {s: len(self.by_status(s)) for s in STATUSES}
        return {
            **counts,  # also flat (`summary["failed"]`) for callers that read one status
            "files": frame.height,
            "bytes": int(frame["size_bytes"].sum()) if frame.height else 0,
            "rows": int(frame["rows"].fill_null(0).sum()) if frame.height else 0,
            "by_status": counts,
            "by_table": by_table,
            "missing_partitions": len(self.missing_partitions),
            "ok": self.ok,
        }

    def write(self, path: Path | str) -> Path:
        """Write atomically (temp file + rename) as Parquet (`.parquet`) or JSON (`.json`)."""
        target = Path(path)
        tmp = target.with_name(target.name + ".part")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix == ".parquet":
            table = self.to_polars().to_arrow()
            meta = dict(table.schema.metadata or {})
            meta[_MISSING_META_KEY] = json.dumps(list(self.missing_partitions)).encode()
            pq.write_table(table.replace_schema_metadata(meta), tmp)
        elif target.suffix == ".json":
            doc = {
                "entries": [_entry_to_json(e) for e in self.entries],
                "missing_partitions": list(self.missing_partitions),
                "summary": self.summary(),
            }
            tmp.write_text(json.dumps(doc, indent=2, sort_keys=True))
        else:
            raise ConfigError(f"manifest path {target} must end in .parquet or .json")
        os.replace(tmp, target)
        return target

    @classmethod
    def read(cls, path: Path | str) -> Manifest:
        """Read a manifest written by `write`. Raises CorruptFileError when it cannot be parsed."""
        source = Path(path)
        try:
            if source.suffix == ".parquet":
                table = pq.read_table(source)
                missing_raw = (table.schema.metadata or {}).get(_MISSING_META_KEY, b"[]")
                rows = pl.from_arrow(table).iter_rows(named=True)  # type: ignore[union-attr]
                return cls(tuple(ManifestEntry(**r) for r in rows), tuple(json.loads(missing_raw)))
            if source.suffix == ".json":
                doc = json.loads(source.read_text())
                entries = tuple(_entry_from_json(d) for d in doc["entries"])
                return cls(entries, tuple(doc["missing_partitions"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            reason = f"unreadable manifest ({type(exc).__name__}: {exc})"
            raise CorruptFileError(source, reason) from exc
        raise ConfigError(f"manifest path {source} must end in .parquet or .json")


def _entry_to_json(entry: ManifestEntry) -> dict[str, Any]:
    doc = asdict(entry)
    doc["dt"] = entry.dt.isoformat()
    return doc


def _entry_from_json(doc: dict[str, Any]) -> ManifestEntry:
    names = {f.name for f in fields(ManifestEntry)}
    if set(doc) != names:
        raise KeyError(f"manifest entry fields {sorted(set(doc) ^ names)} differ from the model")
    return ManifestEntry(**{**doc, "dt": date.fromisoformat(doc["dt"])})


def merge(manifests: Sequence[Manifest]) -> Manifest:
    """One manifest from several (e.g. one per mapped Prefect task); later entries win per
    relpath."""
    by_path: dict[str, ManifestEntry] = {}
    missing: set[str] = set()
    for m in manifests:
        by_path.update({e.relpath: e for e in m.entries})
        missing.update(m.missing_partitions)
    return Manifest.of(by_path.values(), missing)
