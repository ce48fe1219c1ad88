"""A query API on loopback that answers ``query_range`` from prepared JSON, for answers too large
to backfill into a real Prometheus quickly, and that records when each answer was sent (the
witness a test needs to order what the forecaster does around it)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs


def matrix(series: list[tuple[dict[str, str], list[tuple[float, float]]]]) -> bytes:
    """A success answer holding ``series`` as Prometheus writes a range vector."""
    return json.dumps(
        {
            "status": "success",
            "data": {
                "resultType": "matrix",
                "result": [
                    {"metric": labels, "values": [[t, repr(float(v))] for t, v in points]}
                    for labels, points in series
                ],
            },
        }
    ).encode()


EMPTY = matrix([])


class FakePrometheus:
    """``answers`` maps a query's text to the body sent for it (or to a function of the form
    parameters returning one); any other query gets an empty matrix. ``asked[query]`` lists the
    ``time.monotonic()`` at which each request for it arrived, ``sent[query]`` when each answer
    to it was completely written."""

    def __init__(self, answers: dict[str, bytes | Callable[[dict[str, str]], bytes]]) -> None:
        self.answers = answers
        self.asked: dict[str, list[float]] = {}
        self.sent: dict[str, list[float]] = {}
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                arrived = time.monotonic()
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                query = form.get("query", "")
                answer = fake.answers.get(query, EMPTY)
                body = answer(form) if callable(answer) else answer
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                with fake.lock:
                    fake.asked.setdefault(query, []).append(arrived)
                    fake.sent.setdefault(query, []).append(time.monotonic())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakePrometheus":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def times(self, query: str, what: str = "sent") -> list[float]:
        """When requests for ``query`` arrived (``asked``) or were answered (``sent``)."""
        with self.lock:
            return sorted(getattr(self, what).get(query, []))


STEP = 3600.0


def fleet_answers(n: int, m: int, usable: bool = True) -> dict:
    """``used`` with n series and ``size`` with m capacity series (the first n match them), on
    the grid of the query asked (the forecaster process reads at its own clock). With
    ``usable=False`` each series has two points 10 and 9 steps back: too few to forecast and not
    reporting now, so the cycle ends with one more (instant) query right after the join."""

    def used(form: dict[str, str]) -> bytes:
        end = float(form["end"]) // STEP * STEP
        at = [end - k * STEP for k in ((10, 9) if not usable else range(5, -1, -1))]
        return matrix(
            [
                (
                    {"__name__": "used", "host": f"h{i}", "dev": "sda"},
                    [(t, 0.5 + 0.01 * k) for k, t in enumerate(at)],
                )
                for i in range(n)
            ]
        )

    def size(form: dict[str, str]) -> bytes:
        return matrix(
            [
                ({"__name__": "size", "host": f"h{j}", "dev": "sda"}, [(float(form["end"]), 1.0)])
                for j in range(m)
            ]
        )

    return {"used": used, "size": size}
