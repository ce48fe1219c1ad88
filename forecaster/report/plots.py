"""The report's pictures, drawn with matplotlib (Agg, no display) as PNG data URIs, so the HTML
is one self-contained file and the PDF needs nothing else. Each plot draws a handful of lines:
the model has already cut the fleet down to what is worth showing."""

from __future__ import annotations

import base64
import datetime as dt
import io
import math

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on a server

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np

from promcast_forecaster.report.model import CapacityItem, CostSection, QualityRow, Recommendation

WIDTH, DPI = 7.2, 110
BLUE, ORANGE, RED, GREY, GREEN = "#1f5fa8", "#e07b00", "#c0392b", "#7f8c8d", "#2e8b57"
PALETTE = ["#1f5fa8", "#e07b00", "#2e8b57", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#d35400"]

plt.rcParams.update(
    {
        "font.family": "DejaVu Sans",
        "font.size": 8,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "figure.autolayout": True,
    }
)


def _dates(t: np.ndarray) -> list[dt.datetime]:
    return [dt.datetime.fromtimestamp(float(x), dt.timezone.utc).replace(tzinfo=None) for x in t]


def _uri(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _time_axis(ax: plt.Axes) -> None:
    loc = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def fan_chart(item: CapacityItem, now: float) -> str:
    """History, forecast with its bands (widest first), the capacity line, the exhaustion and
    order-by (lead-time) markers."""
    fig, ax = plt.subplots(figsize=(WIDTH, 2.5))
    if item.history is not None and len(item.history.t):
        ax.plot(_dates(item.history.t), item.history.y, color=BLUE, lw=1, label="observed")
    if item.forecast:
        t = [now] + [f.at for f in item.forecast]
        last_y = (
            item.history.y[-1]
            if item.history is not None and len(item.history.y)
            else item.forecast[0].mean
        )
        mean = [last_y] + [f.mean for f in item.forecast]
        levels = sorted({lv for f in item.forecast for lv in f.bands}, reverse=True)
        for i, lv in enumerate(levels[:2]):
            lo = [last_y] + [f.bands.get(lv, (np.nan, np.nan))[0] for f in item.forecast]
            hi = [last_y] + [f.bands.get(lv, (np.nan, np.nan))[1] for f in item.forecast]
            ax.fill_between(
                _dates(np.array(t)),
                lo,
                hi,
                color=ORANGE,
                alpha=0.18 + 0.17 * i,
                lw=0,
                label=f"{lv}% interval",
            )
        ax.plot(_dates(np.array(t)), mean, color=ORANGE, lw=1.5, ls="--", label="forecast")
    if item.capacity is not None:
        ax.axhline(item.capacity, color=RED, lw=1, label="capacity")
    if math.isfinite(item.exhaustion_at):
        ax.axvline(
            _dates(np.array([item.exhaustion_at]))[0],
            color=RED,
            lw=1,
            ls=":",
            label="forecast exhaustion",
        )
        if item.lead_time > 0:
            ax.axvline(
                _dates(np.array([item.order_by]))[0],
                color=GREEN,
                lw=1.2,
                ls="-.",
                label="order by (exhaustion - lead time)",
            )
    ax.axvline(_dates(np.array([now]))[0], color=GREY, lw=0.8)
    ax.set_title(f"{item.target}: {item.subject}", loc="left", fontsize=9)
    _time_axis(ax)
    ax.legend(fontsize=7, loc="upper left", ncol=3, frameon=False)
    return _uri(fig)


def cost_chart(cost: CostSection) -> str:
    """Spend per day, stacked by provider, with the least-squares trend of the total."""
    fig, ax = plt.subplots(figsize=(WIDTH, 2.4))
    if cost.daily is not None:
        x = _dates(cost.daily.t + 43200)  # bars centred on their day
        bottom = np.zeros(len(x))
        for i, c in enumerate(cost.daily_by_provider[: len(PALETTE)]):
            ax.bar(x, c.y, bottom=bottom, width=0.8, color=PALETTE[i], label=c.label)
            bottom += c.y
        n = cost.full_days
        if n >= 2:
            k, b = np.polyfit(np.arange(n), cost.daily.y[:n], 1)
            ax.plot(
                [x[0], x[n - 1]],
                [b, b + k * (n - 1)],
                color=GREY,
                lw=1.5,
                ls="--",
                label="trend (whole days)",
            )
        # Room above the bars for the legend.
        ax.set_ylim(0, max(1.0, float(bottom.max())) * 1.35)
        ax.set_ylabel("USD per day")
        _time_axis(ax)
        ax.legend(fontsize=7, ncol=5, frameon=False, loc="upper left")
    return _uri(fig)


def quality_chart(rows: list[QualityRow], mase_max: float) -> str:
    """Median backtest MASE per target against the alert threshold."""
    fig, ax = plt.subplots(figsize=(WIDTH, 0.45 * max(2, len(rows)) + 0.8))
    names = [r.target for r in rows]
    vals = [0.0 if math.isnan(r.mase_median) else r.mase_median for r in rows]
    ax.barh(names, vals, color=[GREEN if r.ok else RED for r in rows])
    ax.axvline(1.0, color=GREY, lw=1, ls=":", label="1 = seasonal naive in-sample")
    ax.axvline(mase_max, color=RED, lw=1, label=f"alert threshold {mase_max:g}")
    ax.invert_yaxis()
    ax.set_xlabel("median backtest MASE (lower is better)")
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return _uri(fig)


def evidence_chart(rec: Recommendation) -> str:
    fig, ax = plt.subplots(figsize=(WIDTH, 1.9))
    if rec.evidence is not None:
        ax.plot(_dates(rec.evidence.t), rec.evidence.y, color=BLUE, lw=1, label=rec.evidence.label)
    if rec.evidence_level is not None and math.isfinite(rec.evidence_level):
        ax.axhline(rec.evidence_level, color=ORANGE, lw=1.2, ls="--", label=rec.evidence_label)
    ax.set_title(f"{rec.kind}: {rec.subject} ({rec.action})", loc="left", fontsize=9)
    _time_axis(ax)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    return _uri(fig)
