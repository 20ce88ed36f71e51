"""Recordings → Parquet in Crypto Lake's Hive layout and raw column names (Story 1.2, item 5).

So that the Lake analyses (origin time, gaps, book) run on our captures unchanged:

- `trades/exchange={EX}/symbol={SYM}/dt={YYYY-MM-DD}/{recording}.parquet`: `side` (`m` true →
  `sell`: the taker sold), `amount`, `price` (float64 from the exact ticks), `id` (`t`; `a` for
  `@aggTrade`), `timestamp` (trade time `T`, ns), `receipt_timestamp` (our receive ns).
- `book_delta_v2/...`: one row per level of every recorded depth event, in arrival order:
  `timestamp` (`E`, ns), `receipt_timestamp`, `sequence_number` (= `u`), `side_is_bid`, `price`,
  `size` (absolute, 0 deletes), PLUS two columns Lake does not have: `first_update_id` (`U`) and
  `prev_update_id` (`pu`, null on spot), so the U/u chain stays checkable. Readers that select
  the Lake columns (`analyse_staging`, `duckdb_connect`) take these files as they are; a reader
  that fixes the schema without `extra_columns="ignore"` (`readers.scan_lake`) or the strict
  pandera schema reports the two extra columns.

In-band REST snapshots are not exported (Lake's table has no snapshot block). Days split at UTC
midnight of the exchange time (`T` / `E`). Exchange `BINANCE` (spot) or `BINANCE_FUTURES`;
symbols go from Binance form to Lake form by the longest known quote asset (`QUOTE_ASSETS`):
`ETHUSDT` → `ETH-USDT`, on futures `ETH-USDT-PERP`. One file per recording and partition,
named after the recording's first file; written as `.part` in row groups of
`row_group_rows` (memory stays bounded by open partitions × row group) and renamed when
complete. Each file's metadata (`feedcheck.export`) holds the symbol's scale (as
`validate_decode` decides it) and the source files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from feedcheck.binance.formats import read_recording
from feedcheck.binance.rawrecord import RawRecord, ReadIssue
from feedcheck.binance.validate import Recording, recording_groups
from feedcheck.binance.validate_decode import (
    WORK_SCALE,
    DecimalsSeen,
    depth_event,
    scales_from_marker,
    stream_class,
    trade_event,
)
from feedcheck.binance.validate_result import RecordingIssue
from feedcheck.binance.wire import Scale
from feedcheck.errors import ConfigError, DataError, SyncError, VenueError
from feedcheck.lake.layout import Partition, check_exchange
from feedcheck.schemas.lake_columns import NS_PER_DAY, raw_arrow_schema

#: Quote assets, matched longest first against the end of a Binance symbol.
QUOTE_ASSETS: tuple[str, ...] = (
    "USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USDP", "DAI", "USD",
    "BTC", "ETH", "BNB", "XRP", "TRX", "DOGE", "SOL",
    "EUR", "GBP", "TRY", "BRL", "AUD", "JPY", "RUB", "UAH", "ZAR", "PLN", "RON", "ARS",
    "MXN", "COP", "CZK", "IDR", "BIDR", "NGN",
)  # fmt: skip
EXCHANGES = ("BINANCE", "BINANCE_FUTURES")
#: Suffix of futures symbols in Lake (`BTC-USDT-PERP`).
PERP_SUFFIX = "-PERP"
DEFAULT_ROW_GROUP_ROWS = 131_072
METADATA_KEY = b"feedcheck.export"
#: Columns of `book_delta_v2` exports that Lake's table does not have.
EXTRA_DELTA_COLUMNS = ("first_update_id", "prev_update_id")

TRADES_SCHEMA = raw_arrow_schema("trades")
DELTA_SCHEMA = (
    raw_arrow_schema("book_delta_v2")
    .append(pa.field("first_update_id", pa.int64()))
    .append(pa.field("prev_update_id", pa.int64()))
)
_QUOTES_LONGEST_FIRST = sorted(QUOTE_ASSETS, key=len, reverse=True)
_NAME_SUFFIX_RE = re.compile(r"(\.part|\.gz|\.zst|\.ndjson)+$")
_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_.-]")
_EPOCH = date(1970, 1, 1)


def lake_symbol(symbol: str, exchange: str = "BINANCE") -> str:
    """Binance `ETHUSDT` → Lake `ETH-USDT` (`ETH-USDT-PERP` on `BINANCE_FUTURES`).

    Raises:
        ConfigError: no known quote asset ends the symbol (or nothing is left for the base).
    """
    upper = symbol.upper()
    for quote in _QUOTES_LONGEST_FIRST:
        if upper.endswith(quote) and len(upper) > len(quote):
            base = f"{upper[: -len(quote)]}-{quote}"
            return base + PERP_SUFFIX if exchange == "BINANCE_FUTURES" else base
    raise ConfigError(f"symbol {symbol!r} ends with no known quote asset {QUOTE_ASSETS}")


def to_float(values: np.ndarray, decimals: int) -> np.ndarray:
    """Ints at `decimals` places → float64, each the double nearest the exact decimal as long
    as the value reduced to its fewest places is below 2**53 (common trailing zeros are
    divided out first, exactly, in int64)."""
    nonzero = values[values != 0]
    k = 0
    while k < decimals and not np.any(nonzero % 10 ** (k + 1)):
        k += 1
    return (values // 10**k) / float(10 ** (decimals - k))


@dataclass(frozen=True, slots=True)
class ExportedFile:
    """One Parquet file written: its partition, rows and path."""

    table: str
    exchange: str
    symbol: str
    dt: date
    rows: int
    path: str


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What `export_recordings` wrote under `out_root`.

    Attributes:
        files: every file written, by path.
        scales: per Binance symbol, (price_decimals, qty_decimals, source) written to metadata.
        issues: lines skipped (reader issues, payloads that do not parse).
    """

    out_root: str
    exchange: str
    files: tuple[ExportedFile, ...]
    scales: dict[str, tuple[int, int, str]]
    issues: tuple[RecordingIssue, ...]

    def rows(self, table: str) -> int:
        return sum(f.rows for f in self.files if f.table == table)

    def to_json(self) -> dict[str, Any]:
        return {
            "out_root": self.out_root,
            "exchange": self.exchange,
            "rows": {t: self.rows(t) for t in ("trades", "book_delta_v2")},
            "files": [{**asdict(f), "dt": f.dt.isoformat()} for f in self.files],
            "scales": {s: list(v) for s, v in self.scales.items()},
            "issues": [asdict(i) for i in self.issues],
        }


@dataclass
class _Sink:
    """One partition file being written: column chunks in memory up to one row group."""

    partition: Partition
    binance_symbol: str
    final: Path
    schema: pa.Schema
    decimals: Scale
    chunks: dict[str, list[Any]] = field(default_factory=dict)
    buffered: int = 0
    rows: int = 0
    writer: pq.ParquetWriter | None = None

    @property
    def part(self) -> Path:
        return self.final.with_name(self.final.name + ".part")

    def add(self, columns: Mapping[str, Any], n: int) -> None:
        """Append `n` rows: one array (or, for a single row, one scalar) per column."""
        for name, value in columns.items():
            self.chunks.setdefault(name, []).append(value)
        self.buffered += n
        self.rows += n

    def flush(self) -> None:
        if not self.buffered:
            return
        if self.writer is None:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.part, self.schema, compression="zstd")
        cols: dict[str, Any] = {
            name: np.concatenate(parts) if isinstance(parts[0], np.ndarray) else np.asarray(parts)
            for name, parts in self.chunks.items()
        }
        pd, qd = self.decimals.price_decimals, self.decimals.qty_decimals
        cols["price"] = to_float(cols["price"], pd)
        qty_name = "amount" if "amount" in self.schema.names else "size"
        cols[qty_name] = to_float(cols[qty_name], qd)
        arrays = []
        for f in self.schema:
            data = cols[f.name]
            mask = None
            if f.name == "prev_update_id":
                mask = data < 0  # -1 stands for "no pu" (spot)
            arrays.append(pa.array(data, type=f.type, mask=mask))
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self.chunks.clear()
        self.buffered = 0

    def close(self, metadata: dict[str, Any]) -> None:
        self.flush()
        assert self.writer is not None
        self.writer.add_key_value_metadata({METADATA_KEY: orjson.dumps(metadata)})
        self.writer.close()
        os.replace(self.part, self.final)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.part.unlink(missing_ok=True)


def _day(ns: int) -> date:
    return _EPOCH + timedelta(days=ns // NS_PER_DAY)


def _file_name(first: Path) -> str:
    return _UNSAFE_RE.sub("_", _NAME_SUFFIX_RE.sub("", first.name)) + ".parquet"


class _Exporter:
    def __init__(
        self,
        out_root: Path,
        exchange: str,
        scales: Mapping[str, Scale],
        row_group_rows: int,
        files: list[Path],
    ) -> None:
        self.out_root, self.exchange, self.given = out_root, exchange, scales
        self.row_group_rows = row_group_rows
        self.files = files
        self.name = _file_name(files[0])
        self.sinks: dict[tuple[str, str, date], _Sink] = {}
        self.seen: dict[str, DecimalsSeen] = {}
        self.declared: dict[str, Scale] = {}
        self.issues: list[RecordingIssue] = []

    def on_issue(self, issue: ReadIssue) -> None:
        self.issues.append(RecordingIssue(issue.path, issue.line_no, issue.kind, issue.detail))

    def scale(self, symbol: str) -> Scale:
        return self.given.get(symbol, WORK_SCALE)

    def sink(self, table: str, symbol: str, ns: int) -> _Sink:
        day = _day(ns)
        key = (table, symbol, day)
        sink = self.sinks.get(key)
        if sink is None:
            partition = Partition(table, self.exchange, lake_symbol(symbol, self.exchange), day)  # type: ignore[arg-type]
            schema = TRADES_SCHEMA if table == "trades" else DELTA_SCHEMA
            final = self.out_root / partition.path / self.name
            sink = self.sinks[key] = _Sink(partition, symbol, final, schema, self.scale(symbol))
            self.seen.setdefault(symbol, DecimalsSeen(self.scale(symbol)))
        return sink

    def feed(self, record: RawRecord) -> None:
        if record.breaks_book or record.kind == "header":
            try:
                self.declared.update(scales_from_marker(record.json()))
            except ConfigError as exc:
                self.issues.append(
                    RecordingIssue(record.path, record.line_no, "bad_payload", str(exc))
                )
            return
        if record.kind != "frame":
            return
        kind = stream_class(record.stream)
        try:
            if kind == "depth":
                self._depth(record)
            elif kind in ("trade", "agg_trade"):
                self._trade(record, kind)
        except (DataError, SyncError, VenueError, ConfigError) as exc:
            self.issues.append(RecordingIssue(record.path, record.line_no, "bad_payload", str(exc)))

    def _depth(self, record: RawRecord) -> None:
        event = depth_event(record, self.scale(record.symbol or ""))
        n_bids, n = len(event.bids), event.level_count
        if not n:
            return
        sink = self.sink("book_delta_v2", event.symbol, event.event_time_ns)
        levels = np.array(event.bids + event.asks, dtype=np.int64).reshape(n, 2)
        self.seen[event.symbol].add_levels(event.bids, event.asks)
        side = np.zeros(n, dtype=np.bool_)
        side[:n_bids] = True
        pu = event.prev_final_update_id
        sink.add(
            {
                "timestamp": np.full(n, event.event_time_ns, np.int64),
                "receipt_timestamp": np.full(n, record.recv_ns, np.int64),
                "sequence_number": np.full(n, event.final_update_id, np.int64),
                "side_is_bid": side,
                "price": levels[:, 0],
                "size": levels[:, 1],
                "first_update_id": np.full(n, event.first_update_id, np.int64),
                "prev_update_id": np.full(n, -1 if pu is None else pu, np.int64),
            },
            n,
        )
        if sink.buffered >= self.row_group_rows:
            sink.flush()

    def _trade(self, record: RawRecord, kind: str) -> None:
        trade = trade_event(record, kind, self.given)
        sink = self.sink("trades", trade.symbol, trade.trade_time_ns)
        self.seen[trade.symbol].add(trade.price_ticks, trade.qty_lots)
        sink.add(
            {
                "side": "sell" if trade.buyer_is_maker else "buy",
                "amount": trade.qty_lots,
                "price": trade.price_ticks,
                "id": trade.trade_id,
                "timestamp": trade.trade_time_ns,
                "receipt_timestamp": record.recv_ns,
            },
            1,
        )
        if sink.buffered >= self.row_group_rows:
            sink.flush()

    def reported_scales(self) -> dict[str, tuple[int, int, str]]:
        out = {}
        for symbol, seen in sorted(self.seen.items()):
            if symbol in self.given:
                s, source = self.given[symbol], "given"
            elif symbol in self.declared:
                s, source = self.declared[symbol], "marker"
            else:
                s, source = seen.scale(), "inferred"
            out[symbol] = (s.price_decimals, s.qty_decimals, source)
        return out

    def finish(self) -> list[ExportedFile]:
        scales = self.reported_scales()
        written = []
        for sink in self.sinks.values():
            pd, qd, source = scales[sink.binance_symbol]
            sink.close(
                {
                    "binance_symbol": sink.binance_symbol,
                    "price_decimals": pd,
                    "qty_decimals": qd,
                    "scale_source": source,
                    "source_files": [str(f) for f in self.files],
                    "extra_columns": list(EXTRA_DELTA_COLUMNS)
                    if sink.partition.table == "book_delta_v2"
                    else [],
                }
            )
            p = sink.partition
            written.append(
                ExportedFile(p.table, p.exchange, p.symbol, p.dt, sink.rows, str(sink.final))
            )
        return written

    def abort(self) -> None:
        for sink in self.sinks.values():
            sink.abort()


def export_recordings(
    paths: Recording | Iterable[Recording],
    out_root: Path | str,
    *,
    exchange: str = "BINANCE",
    scales: Mapping[str, Scale] | None = None,
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
) -> ExportResult:
    """Write recordings as Lake `trades` and `book_delta_v2` partitions under `out_root`.

    Args:
        paths: recordings, as `validate.validate_recordings` takes them.
        out_root: root of the Hive tree (created as needed); an existing file of the same
            recording and partition is replaced.
        exchange: `BINANCE` (spot) or `BINANCE_FUTURES` (symbols get `-PERP`).
        scales: per Binance symbol, the scale to parse at (strict); default 8 decimals.
        row_group_rows: rows buffered per partition before a row group is written.

    Returns:
        The files written (rows per partition), the scale per symbol and the skipped lines.

    Raises:
        ConfigError: unknown exchange, a symbol with no known quote asset, row_group_rows < 1.
        DataError: a recording with no file, a missing path, an unknown or mixed format.
        OSError: from the file system (partial `.part` files are removed first).
    """
    if exchange not in EXCHANGES:
        raise ConfigError(f"exchange must be one of {EXCHANGES}: {exchange!r}")
    check_exchange(exchange)
    if row_group_rows < 1:
        raise ConfigError(f"row_group_rows must be >= 1: {row_group_rows}")
    root = Path(out_root)
    written: list[ExportedFile] = []
    issues: list[RecordingIssue] = []
    all_scales: dict[str, tuple[int, int, str]] = {}
    for files in recording_groups(paths):
        exporter = _Exporter(root, exchange, dict(scales or {}), row_group_rows, files)
        try:
            for record in read_recording(files, on_issue=exporter.on_issue):
                exporter.feed(record)
            written += exporter.finish()
        except BaseException:
            exporter.abort()
            raise
        issues += exporter.issues
        all_scales.update(exporter.reported_scales())
    return ExportResult(
        out_root=str(root),
        exchange=exchange,
        files=tuple(sorted(written, key=lambda f: f.path)),
        scales=all_scales,
        issues=tuple(issues),
    )
