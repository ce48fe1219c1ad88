"""Config reloads as Prometheus does them: on SIGHUP, and on ``POST /-/reload`` when the
lifecycle API is enabled (``--web.enable-lifecycle``; without it the endpoint answers 403, since
anyone who reaches the port could otherwise make the service re-read its files).

A config that does not validate is refused: the service keeps running on the one it has, the
error is logged and ``promcast_config_last_reload_successful`` drops to 0 until a reload works.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Awaitable, Callable, Generic, TypeVar

from aiohttp import web

from .catalogue import Families
from .config import ConfigError

log = logging.getLogger(__name__)
C = TypeVar("C")


class Reloader(Generic[C]):
    """Reads the config with ``load`` (which raises :class:`ConfigError`) and hands a valid one
    to ``apply``. Reloads run one at a time, off the event loop for the file reading."""

    def __init__(self, load: Callable[[], C], apply: Callable[[C], None], lifecycle: bool) -> None:
        self.load, self.apply, self.lifecycle = load, apply, lifecycle
        self.last_ok = True
        self.last_success = time.time()
        self._lock = asyncio.Lock()

    async def reload(self) -> str | None:
        """Reload now; None on success, else what was wrong (the old config stays in use)."""
        async with self._lock:
            try:
                cfg = await asyncio.get_running_loop().run_in_executor(None, self.load)
            except ConfigError as exc:
                self.last_ok = False
                log.error(
                    "config reload failed; keeping the running config",
                    extra={"err": "; ".join(exc.problems), "file": exc.source},
                )
                return str(exc)
            self.apply(cfg)
            self.last_ok, self.last_success = True, time.time()
            log.info("config reloaded")
            return None

    def add_routes(self, app: web.Application) -> None:
        async def handle(_: web.Request) -> web.Response:
            if not self.lifecycle:
                return web.Response(status=403, text="Lifecycle API is not enabled.\n")
            err = await self.reload()
            if err is not None:
                return web.Response(status=500, text=f"failed to reload config: {err}\n")
            return web.Response(text="config reloaded\n")

        app.router.add_post("/-/reload", handle)
        app.router.add_put("/-/reload", handle)

    def with_signal(
        self, background: Callable[[asyncio.Event], Awaitable[None]]
    ) -> Callable[[asyncio.Event], Awaitable[None]]:
        """``background`` with SIGHUP reloading the config while it runs."""

        async def run(stop: asyncio.Event) -> None:
            loop = asyncio.get_running_loop()
            pending: set[asyncio.Task] = set()

            def on_hup() -> None:
                task = loop.create_task(self.reload())
                pending.add(task)  # keep a reference until it is done
                task.add_done_callback(pending.discard)

            loop.add_signal_handler(signal.SIGHUP, on_hup)
            try:
                await background(stop)
            finally:
                loop.remove_signal_handler(signal.SIGHUP)

        return run

    def publish(self, out: Families) -> None:
        out.add("promcast_config_last_reload_successful", {}, 1 if self.last_ok else 0)
        out.add("promcast_config_last_reload_success_timestamp_seconds", {}, self.last_success)

    def collect(self):  # prometheus_client collector protocol
        out = Families()
        self.publish(out)
        return iter(out)
