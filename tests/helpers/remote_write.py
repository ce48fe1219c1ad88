"""A scripted remote-write receiver on a free loopback port."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import AsyncIterator

from aiohttp import web

from demo.stack import free_port
from promcast_forecaster.remote_write import Series, decode_write_request


@dataclass
class Receiver:
    """Answers each request with the next scripted (status, body, headers), repeating the last."""

    script: list[tuple[int, str, dict[str, str]]]
    echo_auth: bool = False
    url: str = ""
    requests: list[tuple[dict[str, str], list[Series]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), decode_write_request(await request.read())))
        status, body, headers = self.script[min(len(self.requests), len(self.script)) - 1]
        if self.echo_auth:  # a careless server quoting the credentials back
            body += f" (you sent {request.headers.get('Authorization')})"
        return web.Response(status=status, text=body if status != 204 else None, headers=headers)

    def samples_per_request(self) -> list[int]:
        return [sum(len(s.samples) for s in data) for _, data in self.requests]


@contextlib.asynccontextmanager
async def receiver(
    *script: tuple[int, str, dict[str, str]] | int, echo_auth: bool = False
) -> AsyncIterator[Receiver]:
    rec = Receiver([s if isinstance(s, tuple) else (s, "", {}) for s in script], echo_auth)
    app = web.Application()
    app.router.add_post("/api/v1/write", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    rec.url = f"http://127.0.0.1:{port}/api/v1/write"
    try:
        yield rec
    finally:
        await runner.cleanup()
