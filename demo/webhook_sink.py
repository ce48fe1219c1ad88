"""A webhook receiver for Alertmanager that logs each notification and appends it to a JSON-lines
file, standing in for chat and on-call in the demo and the tests."""

from __future__ import annotations

import argparse
import json
import sys
import time

from aiohttp import web


def make_app(out_path: str) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        receiver = request.match_info["receiver"]
        record = {"received_at": time.time(), "receiver": receiver, "payload": body}
        with open(out_path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        for alert in body.get("alerts", []):
            labels = alert.get("labels", {})
            print(f"[{receiver}] {alert.get('status', '?').upper()} {labels.get('alertname')} "
                  f"severity={labels.get('severity')} target={labels.get('target')} "
                  f"resource={labels.get('resource_id', labels.get('instance', '-'))}: "
                  f"{alert.get('annotations', {}).get('description', '')}", flush=True)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{receiver}", receive)
    app.router.add_get("/-/healthy", lambda _: web.Response(text="ok"))
    return app


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--listen", default="127.0.0.1:9096")
    p.add_argument("--out", required=True, help="JSON-lines file to append notifications to")
    args = p.parse_args()
    host, _, port = args.listen.rpartition(":")
    web.run_app(make_app(args.out), host=host, port=int(port), print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
