"""A local stand-in for every Alertmanager receiver (webhooks, PagerDuty, Opsgenie, Slack): it logs
each notification and appends it to a JSON-lines file, for the demo and the tests.

Alertmanager's real integrations post their real payloads here, because
:func:`demo.stack.local_alertmanager_config` points each receiver at
``http://SINK/<receiver>[/<integration>/...]``. The first path segment says which receiver got the
notification; the second, when it is one of ``INTEGRATIONS``, which integration sent it (Opsgenie
adds its own API path, e.g. ``/v2/alerts``, after it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from aiohttp import web

INTEGRATIONS = ("pagerduty", "opsgenie", "slack")


def integration_of(path: str) -> str:
    """``webhook``, or the integration named by the second segment of ``/<receiver>/<name>/...``."""
    parts = path.strip("/").split("/")
    return parts[1] if len(parts) > 1 and parts[1] in INTEGRATIONS else "webhook"


def summarize(integration: str, payload: dict) -> list[str]:
    """One line per alert (webhook) or per notification (the vendor formats carry only the
    rendered text), for the log and the demo's terminal."""
    if integration == "webhook":
        out = []
        for alert in payload.get("alerts", []):
            lab = alert.get("labels", {})
            out.append(
                f"{alert.get('status', '?').upper()} {lab.get('alertname')} "
                f"severity={lab.get('severity')} target={lab.get('target')} "
                f"resource={lab.get('resource_id', lab.get('instance', '-'))}: "
                f"{alert.get('annotations', {}).get('description', '')}"
            )
        return out
    if integration == "pagerduty":
        return [
            f"{payload.get('event_action', '?')} {payload.get('payload', {}).get('summary', '')}"
        ]
    if integration == "opsgenie":
        return [payload.get("message") or "close"]
    attachments = payload.get("attachments") or [{}]
    return [attachments[0].get("title", "")]


def make_app(out_path: str) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = {"unparsed": raw.decode(errors="replace")}
        receiver = request.match_info["receiver"]
        integration = integration_of(request.path)
        lines = summarize(integration, body)
        record = {
            "received_at": time.time(),
            "receiver": receiver,
            "integration": integration,
            "path": request.path_qs,
            "payload": body,
            "summary": lines,
        }
        with open(out_path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        for line in lines:
            print(f"[{receiver}/{integration}] {line}", flush=True)
        # PagerDuty's Events API answers 202 with a status; every other integration only
        # checks for a 2xx.
        return web.json_response(
            {"status": "success", "message": "Event processed"},
            status=202 if integration == "pagerduty" else 200,
        )

    app = web.Application()
    app.router.add_get("/-/healthy", lambda _: web.Response(text="ok"))
    app.router.add_post("/{receiver}", receive)
    app.router.add_post("/{receiver}/{rest:.*}", receive)
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
