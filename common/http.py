"""The HTTP side both services share: /metrics, /-/healthy, /-/ready and a landing page,
served by aiohttp on a Prometheus-style ``host:port`` listen address.

The server bounds what a client can hold, as Prometheus' ``--web.read-timeout`` and
``--web.max-connections`` do: a connection must deliver each whole request (headers and body)
within the read timeout of opening or of its previous response, else it is closed; idle
connections are closed after the same time; beyond the connection cap new connections are closed
at once. Without this, idle or trickling clients could hold sockets (and the slots of everyone
else) forever.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import signal
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

log = logging.getLogger(__name__)
STOP_GRACE = 5.0
# How long requests still being answered at shutdown may take to finish (aiohttp's default, 60 s,
# would let a burst of slow API requests hold SIGTERM up for a minute).
SHUTDOWN_TIMEOUT = 2.0
ReadyCheck = Callable[[], tuple[bool, str]]


def parse_listen_address(address: str) -> tuple[str, int]:
    """``host:port`` (``:port`` means all interfaces, as in Prometheus) -> (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"--web.listen-address must be host:port, got {address!r}")
    return (host.strip("[]") or "0.0.0.0"), int(port)


def make_app(
    registry: CollectorRegistry,
    title: str,
    ready: ReadyCheck,
    version: Callable[[], object] | None = None,
) -> web.Application:
    """``version`` returns a value that changes whenever what ``registry`` exposes changes (a
    snapshot counter): scrapes in between are answered from the bytes already rendered, since
    formatting tens of thousands of samples costs far more than serving them."""
    cache: dict[tuple, bytes] = {}
    cached_version: list[object] = [object()]

    def render(content_type_key: str, gzipped: bool) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(content_type_key)
        current = version() if version else object()
        if current != cached_version[0]:
            cache.clear()
            cached_version[0] = current
        key = (content_type, gzipped)
        if key not in cache:
            body = encoder(registry)
            cache[key] = gzip.compress(body, compresslevel=1) if gzipped else body
        return cache[key], content_type

    async def metrics(request: web.Request) -> web.Response:
        gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
        # Collecting may run numpy over many series: keep it off the event loop.
        body, content_type = await asyncio.get_running_loop().run_in_executor(
            None, render, request.headers.get("Accept", ""), gzipped
        )
        headers = {"Content-Type": content_type}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

    async def healthy(_: web.Request) -> web.Response:
        return web.Response(text=f"{title} is Healthy.\n")

    async def is_ready(_: web.Request) -> web.Response:
        ok, why = ready()
        return web.Response(text=why + "\n", status=200 if ok else 503)

    async def index(_: web.Request) -> web.Response:
        return web.Response(
            text=f"<html><head><title>{title}</title></head><body><h1>{title}</h1>"
            '<p><a href="/metrics">Metrics</a></p></body></html>',
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", is_ready)
    app.router.add_get("/", index)
    return app


@dataclass(frozen=True)
class WebLimits:
    """``--web.read-timeout`` and ``--web.max-connections`` (Prometheus' defaults)."""

    read_timeout: float = 300.0
    max_connections: int = 512


class _Connections:
    """The open connections of one server, each behind a :class:`_Guard`."""

    def __init__(self, limits: WebLimits) -> None:
        self.limits = limits
        self.open: dict[asyncio.BaseTransport, _Guard] = {}
        self.refused = 0
        self._warned_at = -60.0

    def refuse(self) -> None:
        self.refused += 1
        now = time.monotonic()
        if now - self._warned_at >= 60:  # a flood must not flood the log too
            self._warned_at = now
            log.warning(
                "connection limit reached; closing new connections",
                extra={
                    "max_connections": self.limits.max_connections,
                    "refused_total": self.refused,
                },
            )

    def middleware(self) -> Callable:
        @web.middleware
        async def bounded_read(request: web.Request, handler: Callable) -> web.StreamResponse:
            guard = self.open.get(request.transport) if request.transport else None
            if guard is None:
                return await handler(request)
            guard.request_started()
            try:
                if request.body_exists:
                    # The body must arrive by the same deadline as the headers; read here, it is
                    # kept by the request for the handler's request.json() / post().
                    left = guard.deadline - asyncio.get_running_loop().time()
                    try:
                        await asyncio.wait_for(request.read(), timeout=max(left, 0.001))
                    except asyncio.TimeoutError:
                        resp = web.Response(
                            status=408, text="request body not received within --web.read-timeout\n"
                        )
                        resp.force_close()
                        return resp
                return await handler(request)
            finally:
                guard.request_finished()

        return bounded_read


class _Guard(asyncio.Protocol):
    """Stands between the event loop and aiohttp's protocol for one connection: counts it
    against the cap and closes it when it sends no complete request within the read timeout."""

    def __init__(self, inner: asyncio.Protocol, connections: _Connections) -> None:
        self._inner: asyncio.Protocol | None = inner
        self._connections = connections
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._busy = 0
        self._last_buffered = -1
        self.deadline = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if len(self._connections.open) >= self._connections.limits.max_connections:
            self._inner = None
            self._connections.refuse()
            transport.abort()
            return
        self._transport = transport
        self._connections.open[transport] = self
        self._arm()
        assert self._inner is not None
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._connections.open.pop(self._transport, None)  # type: ignore[arg-type]
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def request_started(self) -> None:
        self._busy += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def request_finished(self) -> None:
        self._busy -= 1
        if self._busy == 0:
            self._arm()

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self.deadline = loop.time() + self._connections.limits.read_timeout
        self._timer = loop.call_at(self.deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        transport = self._transport
        if self._busy or transport is None or transport.is_closing():
            return
        buffered = transport.get_write_buffer_size()
        if buffered and buffered != self._last_buffered:
            # A response is still going out and moving: that is a slow reader, not an idle one.
            self._last_buffered = buffered
            self._arm()
            return
        transport.abort()


async def serve(
    app: web.Application,
    listen_address: str,
    background: Callable[[asyncio.Event], Awaitable[None]] | None = None,
    limits: WebLimits = WebLimits(),
) -> None:
    """Serve until SIGTERM/SIGINT, running ``background(stop_event)`` beside the server.

    The background work gets :data:`STOP_GRACE` seconds to stop, so that the whole shutdown stays
    well within the 10 s the services promise; if it fails on its own, that is logged at once
    (with the traceback), not only at shutdown."""
    host, port = parse_listen_address(listen_address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    connections = _Connections(limits)
    app.middlewares.insert(0, connections.middleware())
    runner = web.AppRunner(
        app,
        access_log=None,
        keepalive_timeout=limits.read_timeout,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    server = runner.server
    assert server is not None
    listener = await loop.create_server(
        lambda: _Guard(server(), connections), host, port, reuse_address=True
    )
    log.info("listening", extra={"address": f"{host}:{port}"})
    task = asyncio.create_task(background(stop)) if background else None
    if task:
        task.add_done_callback(_report_crash)
    await stop.wait()
    log.info("shutting down")
    if task:
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=STOP_GRACE)
        except asyncio.TimeoutError:
            log.warning(
                "background work did not stop in time; abandoning it", extra={"grace_s": STOP_GRACE}
            )
            task.cancel()
        except Exception:  # noqa: BLE001 - already logged by _report_crash
            pass
    listener.close()
    await runner.cleanup()


def _report_crash(task: "asyncio.Task[None]") -> None:
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        log.error(
            "background work stopped with an error; /-/healthy stays up but nothing is "
            "refreshed until a restart",
            exc_info=(type(exc), exc, exc.__traceback__),
        )
