"""The HTTP side both services share: /metrics, /-/healthy, /-/ready and a landing page,
served by aiohttp on a Prometheus-style ``host:port`` listen address."""

from __future__ import annotations

import asyncio
import gzip
import logging
import signal
from typing import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

log = logging.getLogger(__name__)
STOP_GRACE = 5.0
ReadyCheck = Callable[[], tuple[bool, str]]


def parse_listen_address(address: str) -> tuple[str, int]:
    """``host:port`` (``:port`` means all interfaces, as in Prometheus) -> (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"--web.listen-address must be host:port, got {address!r}")
    return (host.strip("[]") or "0.0.0.0"), int(port)


def make_app(registry: CollectorRegistry, title: str, ready: ReadyCheck,
             version: Callable[[], object] | None = None) -> web.Application:
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
            None, render, request.headers.get("Accept", ""), gzipped)
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


async def serve(
    app: web.Application,
    listen_address: str,
    background: Callable[[asyncio.Event], Awaitable[None]] | None = None,
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
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
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
            log.warning("background work did not stop in time; abandoning it",
                        extra={"grace_s": STOP_GRACE})
            task.cancel()
        except Exception:  # noqa: BLE001 - already logged by _report_crash
            pass
    await runner.cleanup()


def _report_crash(task: "asyncio.Task[None]") -> None:
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        log.error("background work stopped with an error; /-/healthy stays up but nothing is "
                  "refreshed until a restart", exc_info=(type(exc), exc, exc.__traceback__))
