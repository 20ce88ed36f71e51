"""What a live capture is asked to do (`CaptureConfig`) and what it reports (`CaptureProgress`,
`CaptureSummary`). Re-exported by `feedcheck.binance.capture`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from feedcheck.binance import venue
from feedcheck.binance.compressed import SUFFIXES, Compression
from feedcheck.binance.sync import SyncCounters, Variant
from feedcheck.errors import ConfigError

#: Roll a connection over this long after it opened: 30 min before Binance's 24 h cut.
DEFAULT_CONNECTION_LIFETIME_S = 23.5 * 3600
#: How long the old and the new socket are both recorded during a roll-over.
DEFAULT_ROLLOVER_OVERLAP_S = 10.0
#: Frames the socket → disk queue holds: about 3 min of BTCUSDT at 10× its peak frame rate.
DEFAULT_QUEUE_MAX_FRAMES = 200_000
#: How long the socket reader waits for room in a full queue before it drops and records a gap.
DEFAULT_QUEUE_FULL_WAIT_S = 1.0
#: A connection that stayed up this long resets the reconnect backoff.
DEFAULT_HEALTHY_AFTER_S = 30.0
#: Every this many seconds each live book's symbol gets one extra REST snapshot, recorded in-band
#: as evidence for `validate-capture` (never fed to the sync). 15 min: a 5000-level spot snapshot
#: costs weight 250 (`venue.depth_weight`), about 17 weight/min per symbol of the 6000/min budget.
DEFAULT_VERIFY_SNAPSHOT_INTERVAL_S = 900.0
#: Share of `venue.REQUEST_WEIGHT_PER_MIN` the verification snapshots alone may plan to spend; the
#: rest stays free for sync snapshots (resyncs after gaps and reconnects), which must never wait.
VERIFY_WEIGHT_SHARE = 0.5
#: Stream suffixes a config may name besides `trade` and `depth` (recorded, not modelled).
_EXTRA_STREAM_RE = re.compile(r"^[A-Za-z0-9_@]{2,40}$")


@dataclass(frozen=True, kw_only=True)
class CaptureConfig:
    """One capture session.

    Args:
        symbols: upper-case Binance symbols (`("BTCUSDT",)`).
        duration_s: wall seconds to record; the capture stops cleanly then.
        out_dir: recording directory (created if missing).
        streams: per symbol: `trade`, `depth` (at `depth_speed_ms`), or another stream suffix
            (`bookTicker`, `aggTrade`), which is recorded but not modelled.
        depth_speed_ms: diff-depth cadence (spot: 100 or 1000).
        ws_url, rest_url: WebSocket and REST bases without a path (real Binance spot by default;
            a simulator's `ws_url` / `rest_url` to rehearse).
        variant: sync rules and endpoints: `Variant.SPOT` (default) or `Variant.USDM`.
        snapshot_limit: REST depth levels per side (spot ≤ 5000, USD-M ≤ 1000).
        rotate_interval_s: recording file length (≥ 1 s); files start at its multiples.
        compression: `zst`, `gz` or `none`.
        queue_max_frames: frames the socket → disk queue holds (`DEFAULT_QUEUE_MAX_FRAMES`).
        queue_full_wait_s: back-pressure: how long the reader stops reading when the queue is
            full before dropping (recorded as a gap) (`DEFAULT_QUEUE_FULL_WAIT_S`).
        connection_lifetime_s: roll a connection over after this long
            (`DEFAULT_CONNECTION_LIFETIME_S`, before Binance's `venue.CONNECTION_LIFETIME_S`).
        rollover_overlap_s: both sockets recorded this long (`DEFAULT_ROLLOVER_OVERLAP_S`).
        progress_interval_s: seconds between progress callbacks and log lines.
        keepalive_ping_s: our own WebSocket ping interval (also the pong deadline), None for
            none; Binance's pings are answered either way.
        healthy_after_s: a connection up this long resets the backoff (`DEFAULT_HEALTHY_AFTER_S`).
        open_timeout_s, rest_timeout_s: deadlines of a WebSocket handshake and a REST call.
        verify_snapshot_interval_s: every this many seconds, each symbol whose book is live gets
            one more REST snapshot (same `snapshot_limit`), recorded in-band like the sync one
            but never fed to the sync: `validate-capture` compares the rebuilt book with it.
            None: none. Default `DEFAULT_VERIFY_SNAPSHOT_INTERVAL_S`; refused when the
            verification alone would plan more than `VERIFY_WEIGHT_SHARE` of the venue's
            request weight per minute (`verify_weight_per_min`).
        prefix: recording file prefix (default `binance-spot` / `binance-usdm`).
    """

    symbols: tuple[str, ...]
    duration_s: float
    out_dir: Path
    streams: tuple[str, ...] = ("trade", "depth")
    depth_speed_ms: int = 100
    ws_url: str = venue.SPOT.ws_base
    rest_url: str = venue.SPOT.rest_base
    variant: Variant = Variant.SPOT
    snapshot_limit: int = 5000
    rotate_interval_s: float = 3600.0
    compression: Compression = "zst"
    queue_max_frames: int = DEFAULT_QUEUE_MAX_FRAMES
    queue_full_wait_s: float = DEFAULT_QUEUE_FULL_WAIT_S
    connection_lifetime_s: float = DEFAULT_CONNECTION_LIFETIME_S
    rollover_overlap_s: float = DEFAULT_ROLLOVER_OVERLAP_S
    progress_interval_s: float = 5.0
    keepalive_ping_s: float | None = venue.PING_INTERVAL_S
    healthy_after_s: float = DEFAULT_HEALTHY_AFTER_S
    open_timeout_s: float = 10.0
    rest_timeout_s: float = 10.0
    verify_snapshot_interval_s: float | None = DEFAULT_VERIFY_SNAPSHOT_INTERVAL_S
    prefix: str | None = None

    def __post_init__(self) -> None:
        symbols = tuple(venue.check_symbol(str(s).upper()) for s in self.symbols)
        if not symbols or len(set(symbols)) != len(symbols):
            raise ConfigError(f"symbols must be non-empty and distinct, got {self.symbols}")
        object.__setattr__(self, "symbols", symbols)
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        object.__setattr__(self, "streams", tuple(self.streams))
        for name in self.streams:
            if not _EXTRA_STREAM_RE.match(name):
                raise ConfigError(f"stream {name!r} is not a Binance stream suffix")
        if not self.streams:
            raise ConfigError("streams must name at least one stream")
        if self.compression not in SUFFIXES:
            raise ConfigError(f"compression must be zst, gz or none: {self.compression!r}")
        positive = {
            "duration_s": self.duration_s,
            "rotate_interval_s": self.rotate_interval_s,
            "connection_lifetime_s": self.connection_lifetime_s,
            "progress_interval_s": self.progress_interval_s,
            "open_timeout_s": self.open_timeout_s,
            "rest_timeout_s": self.rest_timeout_s,
            "queue_max_frames": self.queue_max_frames,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value}")
        if min(self.rollover_overlap_s, self.queue_full_wait_s, self.healthy_after_s) < 0:
            raise ConfigError("rollover_overlap_s, queue_full_wait_s, healthy_after_s must be >= 0")
        if self.rotate_interval_s < 1:
            raise ConfigError(f"rotate_interval_s must be >= 1, got {self.rotate_interval_s}")
        venue.depth_weight(self.snapshot_limit, self.venue_spec)  # validates the limit
        self._check_verify_budget()
        self.stream_names()  # validates symbols and the depth speed

    def _check_verify_budget(self) -> None:
        interval = self.verify_snapshot_interval_s
        if interval is None:
            return
        if not interval > 0:
            raise ConfigError(f"verify_snapshot_interval_s must be > 0 or None, got {interval}")
        budget = VERIFY_WEIGHT_SHARE * venue.REQUEST_WEIGHT_PER_MIN
        if self.verify_weight_per_min > budget:
            raise ConfigError(
                f"verification snapshots every {interval:g} s for {len(self.symbols)} symbol(s) "
                f"at limit {self.snapshot_limit} would use {self.verify_weight_per_min:,.0f} "
                f"request weight/min, over {budget:,.0f} ({VERIFY_WEIGHT_SHARE:.0%} of Binance's "
                f"{venue.REQUEST_WEIGHT_PER_MIN}): raise the interval or lower snapshot_limit"
            )

    @property
    def verify_weight_per_min(self) -> float:
        """Request weight per minute the verification snapshots plan to use (0 when disabled)."""
        if self.verify_snapshot_interval_s is None:
            return 0.0
        weight = venue.depth_weight(self.snapshot_limit, self.venue_spec)
        return len(self.symbols) * weight * 60.0 / self.verify_snapshot_interval_s

    @property
    def venue_spec(self) -> venue.VenueSpec:
        return venue.SPOT if self.variant is Variant.SPOT else venue.USDM

    @property
    def file_prefix(self) -> str:
        return self.prefix or f"binance-{self.venue_spec.market.value}"

    def stream_names(self) -> tuple[str, ...]:
        """Every stream of the connection, symbol by symbol in config order.

        Raises:
            ConfigError: a depth speed the venue does not offer.
        """
        names = []
        for symbol in self.symbols:
            for stream in self.streams:
                if stream == "trade":
                    names.append(venue.trade_stream(symbol))
                elif stream == "depth":
                    names.append(venue.depth_stream(symbol, self.depth_speed_ms, self.venue_spec))
                else:
                    names.append(f"{symbol.lower()}@{stream}")
        return tuple(names)

    @property
    def url(self) -> str:
        """The combined-stream URL: `<ws_url>/stream?streams=btcusdt@trade/btcusdt@depth@100ms`."""
        return self.ws_url.rstrip("/") + venue.combined_stream_path(self.stream_names())


@dataclass(frozen=True)
class CaptureProgress:
    """A running capture's totals. `levels_per_s` is over the last progress interval; `gaps` and
    `resyncs` include queue overflows (every symbol resyncs after one); `last_update_id` holds
    the live symbols' book ids; `files` the recording files closed so far."""

    elapsed_s: float
    frames: int
    depth_events: int
    trades: int
    levels: int
    levels_per_s: float
    gaps: int
    resyncs: int
    reconnects: int
    snapshots: int
    bytes_written: int
    last_update_id: dict[str, int]
    files: tuple[str, ...]
    verify_snapshots: int = 0


@dataclass(frozen=True)
class CaptureSummary:
    """A finished capture.

    Attributes:
        start_ns, end_ns: wall clock (epoch ns) of start and end.
        frames: frames recorded; `frames_dropped` were lost to queue overflows, each overflow
            recorded as one `gap` marker (`overflow_gaps`).
        gaps, resyncs: sequence gaps seen by the book sync plus overflow gaps; book restarts.
        reconnects: connections opened after the first (breaks and roll-overs; `rollovers`).
        snapshots: sync snapshots: REST snapshots fetched for the book sync (each recorded
            in-band and fed to it); `rest_retries` failed REST calls retried (both kinds).
        verify_snapshots: verification snapshots recorded in-band (`verify_snapshot_interval_s`;
            evidence for `validate-capture`, never fed to the sync). `verify_snapshots_discarded`
            came back after their symbol's book had stopped being live and were not recorded:
            a replay would have taken one for a sync snapshot the capture never used.
        levels_per_s: depth levels parsed and synced per wall second over the whole run.
        per_symbol: the book sync's counters per symbol.
        cpu_s: CPU seconds of the whole process during the capture (all threads).
        stopped_reason: `duration`, `stopped` (stop event) or `cancelled`.
    """

    start_ns: int
    end_ns: int
    elapsed_s: float
    url: str
    frames: int
    depth_events: int
    trades: int
    levels: int
    levels_per_s: float
    gaps: int
    resyncs: int
    reconnects: int
    rollovers: int
    snapshots: int
    rest_retries: int
    bytes_written: int
    overflow_gaps: int
    frames_dropped: int
    last_update_id: dict[str, int]
    per_symbol: dict[str, SyncCounters]
    files: tuple[str, ...]
    cpu_s: float
    stopped_reason: str
    instruments: dict[str, dict[str, object]] = field(default_factory=dict)
    verify_snapshots: int = 0
    verify_snapshots_discarded: int = 0
