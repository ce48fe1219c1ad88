"""``make screenshots``: the README's picture of a report's first page, drawn by the same
headless Chromium the tests use, from the demo fleet's history at a fixed instant (so the
picture changes only when the report does)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo.history import ANCHOR, HistoryPrometheus, forecaster_config

WEEK = 7 * 86400.0
MAX_BYTES = 300_000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--out", default="docs/report.png", help="PNG to write (default docs/report.png)"
    )
    p.add_argument("--width", type=int, default=900)
    p.add_argument("--height", type=int, default=1270, help="about an A4 page at --width")
    args = p.parse_args()

    from PIL import Image

    from promcast_common.config import validate
    from promcast_forecaster import __version__
    from promcast_forecaster.config import ForecasterConfig
    from promcast_forecaster.report.generate import generate, period_of
    from promcast_forecaster.report.render import screenshot

    with tempfile.TemporaryDirectory(prefix="promcast-screenshot-") as tmp:
        prom = HistoryPrometheus(Path(tmp) / "prometheus", ANCHOR).start()
        try:
            cfg = validate(ForecasterConfig, forecaster_config(prom.url), "demo/forecaster.yml")
            _, files = asyncio.run(
                generate(
                    cfg,
                    period_of(ANCHOR - WEEK, ANCHOR, ANCHOR),
                    Path(tmp) / "report.html",
                    pdf=False,
                    version=__version__,
                )
            )
        finally:
            prom.stop()
        shot = screenshot(files[0], Path(tmp) / "shot.png", args.width, args.height)
        # A palette of 128 colours keeps the picture sharp and the repository small.
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.open(shot).convert("RGB").quantize(128).save(out, optimize=True)
    size = out.stat().st_size
    print(f"{out} ({size / 1000:.0f} kB)")
    if size > MAX_BYTES:
        print(
            f"warning: {out} is over {MAX_BYTES / 1000:.0f} kB; lower --width/--height",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
