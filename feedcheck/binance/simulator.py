"""Loopback Binance spot exchange: WebSocket market streams and REST depth, with injectable faults.

One `Simulator` (an async context manager) owns a websockets server for `/stream?streams=a/b`
(combined envelope `{"stream": …, "data": …}`) and `/ws/<stream>` (raw payloads) whose
connections live in a `sim_conn.ConnectionHub`, an aiohttp server for `/api/v3/depth` and
`/api/v3/exchangeInfo` (`sim_rest`), and the exchange clock task that advances one
`market.MarketModel` per symbol. `close()` cancels and awaits all of them. Streams:
`<sym>@trade`, `<sym>@depth@100ms` (one event per tick) and `<sym>@depth` (1000 ms: the ten
ticks' events merged). Faults come from a `sim_faults.Scenario`.

Clocks: the exchange clock (event times E/T, ms) starts at `start_time_ms` and advances
`update_interval_ms` per tick; `time_scale` compresses it (100 → a 100 ms tick every 1 ms of wall
time), or `manual_clock` leaves ticking to `advance()`. Connection limits and fault delays are
wall-clock seconds. Every frame sent, REST response, connection and injected fault is recorded
in `Simulator.log` (`sim_framelog.FrameLog`), the ground truth of the tests.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from websockets.asyncio.server import Server, serve

from feedcheck.binance import venue
from feedcheck.binance.market import (
    DepthEvent,
    MarketConfig,
    MarketModel,
    SymbolSpec,
    combined,
    depth_payload,
    merge_depth,
    shutdown_payload,
    trade_payload,
)
from feedcheck.binance.sim_conn import (
    CLOSE_GOING_AWAY,
    CloseCmd,
    ConnectionHub,
    ConnectionLimits,
    OutFrame,
    SimServerConnection,
    cancel_and_wait,
)
from feedcheck.binance.sim_faults import FaultPlan, FaultSpec, Scenario
from feedcheck.binance.sim_framelog import CloseCause, FaultRecord, FrameKind, FrameLog
from feedcheck.binance.sim_rest import RestApi
from feedcheck.errors import ConfigError

logger = logging.getLogger(__name__)

#: `@depth@100ms` gets one event per tick, `@depth` one per `SLOW_DEPTH_TICKS` ticks (1000 ms).
DEPTH_INTERVAL_MS = 100
SLOW_DEPTH_TICKS = 10
#: Frames the CLI's simulator keeps in its log (a 24 h run would otherwise hold millions).
CLI_FRAME_LOG_MAX = 100_000


class ServedStream(enum.Enum):
    """The streams the simulator serves, by name suffix."""

    TRADE = "@trade"
    DEPTH_FAST = "@depth@100ms"
    DEPTH_SLOW = "@depth"


@dataclass(frozen=True, slots=True)
class StreamKey:
    name: str
    symbol: str
    kind: ServedStream


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything a `Simulator` needs. Ports 0 pick free ports. `symbols` accepts names (any
    case, default grids) or `SymbolSpec`s."""

    symbols: tuple[SymbolSpec, ...] = (SymbolSpec(),)
    host: str = "127.0.0.1"
    ws_port: int = 0
    rest_port: int = 0
    update_interval_ms: int = DEPTH_INTERVAL_MS
    #: Exchange ms per wall ms; 100 makes a 100 ms tick every 1 ms.
    time_scale: float = 1.0
    #: No clock task: the exchange advances only through `Simulator.advance`.
    manual_clock: bool = False
    #: Exchange time of tick 0 (epoch ms); None = the wall clock at start.
    start_time_ms: int | None = None
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    #: Wall seconds a close handshake (WebSocket) or in-flight request (REST) may take at close.
    close_timeout_s: float = 2.0
    market: MarketConfig = field(default_factory=MarketConfig)
    scenario: Scenario = field(default_factory=Scenario)
    #: Frame log bound (None keeps every frame) and whether frames keep their text.
    frame_log_max: int | None = None
    keep_payloads: bool = True

    def __post_init__(self) -> None:
        specs = tuple(SymbolSpec(s.upper()) if isinstance(s, str) else s for s in self.symbols)
        object.__setattr__(self, "symbols", specs)
        if not specs or len({s.symbol for s in specs}) != len(specs):
            raise ConfigError(f"symbols must be non-empty and distinct, got {self.symbols}")
        if self.update_interval_ms < 1 or self.time_scale <= 0 or self.close_timeout_s <= 0:
            raise ConfigError("update_interval_ms >= 1, time_scale > 0, close_timeout_s > 0")


@dataclass
class _SymbolState:
    spec: SymbolSpec
    model: MarketModel
    prev_event: DepthEvent | None = None
    #: Base events of the current 1000 ms window; None marks a dropped one (splits the merge).
    slow_parts: list[DepthEvent | None] = field(default_factory=list)
    slow_delay_s: float = 0.0

    def stream(self, kind: ServedStream) -> str:
        return self.spec.stream_symbol + kind.value


def _report_failure(task: asyncio.Task[None]) -> None:
    # The clock runs unattended for hours: a crash is logged when it happens, and re-raised by
    # `Simulator.close()` (through cancel_and_wait).
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s failed", task.get_name(), exc_info=task.exception())


class Simulator:
    """The loopback exchange. `async with Simulator(config) as sim:`; URLs are set once started.

    Invariants: `U` of each symbol's event = previous `u` + 1 before faults; a REST depth body is
    the book after every event with `u <= lastUpdateId`; `log` holds exactly the frames handed
    to open sockets, in send order per connection.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = cfg = config or SimulatorConfig()
        self.log = FrameLog(cfg.frame_log_max, cfg.keep_payloads)
        self.plan = FaultPlan(cfg.scenario, tuple(s.symbol for s in cfg.symbols))
        self._symbols = {
            s.symbol: _SymbolState(
                s, MarketModel(s, cfg.market, self.plan.history_needed(s.symbol))
            )
            for s in cfg.symbols
        }
        self._by_stream_symbol = {s.stream_symbol: s.symbol for s in cfg.symbols}
        self.hub = ConnectionHub(cfg.limits, self.log, self.parse_stream)
        self._tick = 0
        self.start_time_ms = cfg.start_time_ms
        self._ws_server: Server | None = None
        self._runner: web.AppRunner | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self.ws_url = ""
        self.rest_url = ""

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Bind both servers (host and ports from the config) and start the exchange clock.
        On failure (e.g. a port in use, OSError) whatever started is closed again."""
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise

    async def _start(self) -> None:
        cfg = self.config
        if self.start_time_ms is None:
            self.start_time_ms = time.time_ns() // venue.NS_PER_MS
        self._ws_server = await serve(
            self.hub.handle,
            cfg.host,
            cfg.ws_port,
            process_request=self.hub.process_request,
            create_connection=SimServerConnection,
            ping_interval=None,  # the hub's keepalive: Binance's cadence, and pings are logged
            compression=None,
            close_timeout=cfg.close_timeout_s,
        )
        self.ws_url = f"ws://{cfg.host}:{self._ws_server.sockets[0].getsockname()[1]}"
        self._runner = web.AppRunner(
            RestApi(self).app(), access_log=None, shutdown_timeout=cfg.close_timeout_s
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, cfg.host, cfg.rest_port).start()
        self.rest_url = f"http://{cfg.host}:{self._runner.addresses[0][1]}"
        if not cfg.manual_clock:
            self._clock_task = asyncio.create_task(self._run_clock(), name="simulator-clock")
            self._clock_task.add_done_callback(_report_failure)

    async def close(self) -> None:
        """Stop the clock, close every connection (1001) and both servers; await every task."""
        if self._clock_task is not None:
            task, self._clock_task = self._clock_task, None
            await cancel_and_wait([task])
        self.hub.mark_all_closed(CloseCause.SIMULATOR_CLOSED, CLOSE_GOING_AWAY, "simulator closed")
        if self._ws_server is not None:
            # Closes every connection with 1001; wait_closed() waits for their handlers.
            self._ws_server.close(code=CLOSE_GOING_AWAY, reason="simulator closed")
            await self._ws_server.wait_closed()
            self._ws_server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def stream_url(self, *streams: str) -> str:
        """Combined-stream URL for `streams` (e.g. "btcusdt@depth@100ms")."""
        return f"{self.ws_url}/stream?streams={'/'.join(streams)}"

    def raw_url(self, stream: str = "") -> str:
        """Raw-stream URL `/ws/<stream>` (or bare `/ws`, for SUBSCRIBE later)."""
        return f"{self.ws_url}/ws/{stream}" if stream else f"{self.ws_url}/ws"

    def model(self, symbol: str) -> MarketModel:
        return self._symbols[symbol.upper()].model

    @property
    def ticks(self) -> int:
        """Clock ticks made so far (exchange time = start + ticks × update_interval_ms)."""
        return self._tick

    def exchange_time_ms(self) -> int:
        assert self.start_time_ms is not None, "simulator not started"
        return self.start_time_ms + self._tick * self.config.update_interval_ms

    async def wait_connections(self, count: int) -> list[int]:
        """Wait until `count` WebSocket connections are registered; returns their ids."""
        return await self.hub.wait_connections(count)

    async def drain(self) -> None:
        """Wait until every frame published so far is handed to its socket (or its connection
        ended): then `log` counts exactly what each client will read."""
        await self.hub.drain()

    def parse_stream(self, name: str) -> StreamKey | None:
        """Key of stream `name` ("btcusdt@depth@100ms"), None if unknown (symbols lower case)."""
        sym, sep, rest = name.partition("@")
        symbol = self._by_stream_symbol.get(sym)
        if not sep or symbol is None:
            return None
        for kind in ServedStream:
            if "@" + rest == kind.value:
                return StreamKey(name, symbol, kind)
        return None

    async def advance(self, ticks: int = 1) -> None:
        """Make `ticks` clock ticks now (with `manual_clock`), yielding to senders after each."""
        for _ in range(ticks):
            self._run_tick()
            await asyncio.sleep(0)

    # Exchange clock

    async def _run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        period_s = self.config.update_interval_ms / 1000.0 / self.config.time_scale
        t0 = loop.time() - self._tick * period_s
        while True:
            # Deadlines from t0, not from the previous wake-up, so the clock never drifts; a late
            # loop runs overdue ticks back to back (sleep(0) still lets the senders run).
            await asyncio.sleep(max(0.0, t0 + (self._tick + 1) * period_s - loop.time()))
            self._run_tick()

    def _run_tick(self) -> None:
        interval = self.config.update_interval_ms
        tick = self._tick
        begin_ms = tick * interval
        for spec in self.plan.on_tick(tick, begin_ms + interval):
            self._connection_fault(spec, None, None)
        for st in self._symbols.values():
            factor = self.plan.burst_factor(st.spec.symbol, st.model.events_made, begin_ms)
            for j in range(factor):
                self._make_event(st, begin_ms + (j + 1) * interval // factor)
            if (tick + 1) % SLOW_DEPTH_TICKS == 0:
                self._flush_slow(st)
        self._tick += 1

    def _make_event(self, st: _SymbolState, elapsed_ms: int) -> None:
        assert self.start_time_ms is not None, "simulator not started"
        spec = st.spec
        event, trades = st.model.step(self.start_time_ms + elapsed_ms)
        eff = self.plan.on_event(spec.symbol, event.index, elapsed_ms)
        for tr in trades:
            out = OutFrame("", FrameKind.TRADE, None, trade_id=tr.trade_id, delay_s=eff.delay_s)
            self._publish(st.stream(ServedStream.TRADE), lambda tr=tr: trade_payload(spec, tr), out)
        if eff.delay_s:
            self._fault("slow_frame", spec.symbol, event)
        if eff.dropped:
            self._fault("drop", spec.symbol, event)
            st.slow_parts.append(None)
        else:
            sent = event
            if eff.overlap and st.prev_event is not None:
                sent = merge_depth((st.prev_event, event))
                self._fault("overlap", spec.symbol, sent)
            for _ in range(eff.extra_copies):
                self._fault("duplicate", spec.symbol, sent)
            self._publish_depth(
                st, ServedStream.DEPTH_FAST, sent, 1 + eff.extra_copies, eff.delay_s
            )
            st.slow_parts.append(event)
        st.slow_delay_s = max(st.slow_delay_s, eff.delay_s)
        st.prev_event = event
        for fault in eff.connection_faults:
            self._connection_fault(fault, spec.symbol, event.index)

    def _flush_slow(self, st: _SymbolState) -> None:
        """Publish the 1000 ms stream: one merged event per run of consecutive sent events, so a
        dropped event is a gap there too."""
        run: list[DepthEvent] = []
        for part in [*st.slow_parts, None]:
            if part is not None:
                run.append(part)
            elif run:
                self._publish_depth(
                    st, ServedStream.DEPTH_SLOW, merge_depth(run), 1, st.slow_delay_s
                )
                run = []
        st.slow_parts.clear()
        st.slow_delay_s = 0.0

    def _publish_depth(
        self, st: _SymbolState, kind: ServedStream, ev: DepthEvent, copies: int, delay_s: float
    ) -> None:
        out = OutFrame("", FrameKind.DEPTH, None, ev.first_id, ev.last_id, delay_s=delay_s)
        self._publish(st.stream(kind), lambda: depth_payload(st.spec, ev), out, copies)

    def _publish(
        self, stream: str, render: Callable[[], str], proto: OutFrame, copies: int = 1
    ) -> None:
        """Queue a frame on every connection subscribed to `stream`; render only if one is."""
        subscribers = self.hub.subscribers(stream)
        if not subscribers:
            return
        raw = render()
        wrapped: str | None = None
        for conn in subscribers:
            if conn.combined and wrapped is None:
                wrapped = combined(stream, raw)
            text = wrapped if conn.combined else raw
            out = OutFrame(
                text,
                proto.kind,
                stream,
                proto.first_id,
                proto.last_id,
                proto.trade_id,
                proto.delay_s,
            )
            for _ in range(copies):
                self.hub.enqueue(conn, out)

    def _fault(self, kind: str, symbol: str | None, ev: DepthEvent) -> None:
        record = FaultRecord(kind, symbol, ev.index, ev.first_id, ev.last_id, None, time.time_ns())
        self.log.faults.append(record)

    def _connection_fault(self, spec: FaultSpec, symbol: str | None, index: int | None) -> None:
        for conn in self.hub.on_symbol(symbol):
            record = FaultRecord(spec.kind, symbol, index, None, None, conn.id, time.time_ns())
            self.log.faults.append(record)
            if spec.kind == "server_shutdown":
                payload = shutdown_payload(self.exchange_time_ms())
                stream = venue.SERVER_SHUTDOWN_STREAM
                text = combined(stream, payload) if conn.combined else payload
                self.hub.enqueue(conn, OutFrame(text, FrameKind.SHUTDOWN, stream))
                cmd = CloseCmd(CloseCause.SERVER_SHUTDOWN, CLOSE_GOING_AWAY, "server shutdown")
            else:
                code = None if spec.abrupt else CLOSE_GOING_AWAY
                cmd = CloseCmd(CloseCause.DISCONNECT, code, "disconnect")
            self.hub.enqueue(conn, cmd)


def config_for_cli(
    symbols: Iterable[str],
    ws_port: int = 0,
    rest_port: int = 0,
    scenario: Scenario | str | Path | None = None,
    **options: object,
) -> SimulatorConfig:
    """Config from CLI-style inputs: symbol names, ports, a scenario or its YAML/JSON path;
    `options` are other `SimulatorConfig` fields. A long-running simulator keeps only the last
    `CLI_FRAME_LOG_MAX` frames, without payloads, unless `options` say otherwise."""
    if isinstance(scenario, str | Path):
        scenario = Scenario.from_file(scenario)
    options.setdefault("frame_log_max", CLI_FRAME_LOG_MAX)
    options.setdefault("keep_payloads", False)
    return SimulatorConfig(
        symbols=tuple(SymbolSpec(venue.check_symbol(s.upper())) for s in symbols),
        ws_port=ws_port,
        rest_port=rest_port,
        scenario=scenario or Scenario(),
        **options,  # type: ignore[arg-type]
    )


async def run_simulator(
    config: SimulatorConfig, on_ready: Callable[[Simulator], None] | None = None
) -> None:
    """Serve until cancelled (the CLI's `feedcheck simulate`). Logs the URLs at INFO and calls
    `on_ready(sim)` once both servers listen (e.g. to print the URLs)."""
    async with Simulator(config) as sim:
        logger.info(
            "binance simulator: ws %s rest %s symbols %s scenario %s (%d faults)",
            sim.ws_url,
            sim.rest_url,
            ",".join(s.symbol for s in config.symbols),
            config.scenario.name,
            len(config.scenario.faults),
        )
        if on_ready is not None:
            on_ready(sim)
        await asyncio.Event().wait()
