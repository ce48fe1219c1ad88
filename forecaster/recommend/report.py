"""One run's recommendations: ranked, printed as a table, written as JSON/CSV (the publisher
turns them into catalogue series)."""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from promcast_common.durations import format_duration
from promcast_forecaster.recommend.commitments import CommitmentPlan
from promcast_forecaster.recommend_config import Recommendations
from promcast_forecaster.recommend.idle import IdleFinding
from promcast_forecaster.recommend.sizing import Sizing

COLUMNS = ("rank", "kind", "subject", "action", "monthly_saving_usd", "confidence", "detail")


@dataclass
class Recommendation:
    kind: str  # rightsizing | idle | commitment
    labels: dict[str, str]
    action: str
    monthly_saving: float  # negative: extra cost
    confidence: float
    detail: str
    identity: tuple[str, ...] = ("resource_id",)  # the labels that name a resource

    @property
    def subject(self) -> str:
        """The resource by its identity labels (one: its value; several: ``name=value`` each),
        or, for spend series, all their labels."""
        named = [(k, self.labels[k]) for k in self.identity if self.labels.get(k)]
        if len(named) == len(self.identity):
            return named[0][1] if len(named) == 1 else " ".join(f"{k}={v}" for k, v in named)
        return ",".join(f"{k}={v}" for k, v in sorted(self.labels.items())) or "all"


def confidence_word(c: float) -> str:
    return "high" if c >= 0.8 else "medium" if c >= 0.5 else "low"


@dataclass
class Report:
    settings: Recommendations
    made_at: float
    catalogue: str
    sizings: list[Sizing] = field(default_factory=list)
    idle: list[IdleFinding] = field(default_factory=list)
    plans: list[CommitmentPlan] = field(default_factory=list)
    skipped: dict[str, int] = field(
        default_factory=lambda: {"rightsizing": 0, "commitment": 0, "retired": 0, "unnamed": 0}
    )

    def recommendations(self, include_keep: bool = False) -> list[Recommendation]:
        """Ranked by monthly saving, highest first. An idle resource's rightsizing is left out
        (stopping it saves it all), and of a spend series' commitment options only the best."""
        idle = {tuple(sorted(f.labels.items())) for f in self.idle if f.state == "idle"}
        q = self.settings.idle.cpu_quantile
        ident = tuple(self.settings.identity_labels)
        out = [
            Recommendation(
                "idle",
                f.labels,
                f.action,
                f.monthly_cost if f.state == "idle" else 0.0,
                f.confidence,
                f.detail(q),
                ident,
            )
            for f in self.idle
        ]
        out += [
            Recommendation(
                "rightsizing", s.labels, s.action, s.monthly_saving, s.confidence, s.detail(), ident
            )
            for s in self.sizings
            if (include_keep or s.action != "keep") and tuple(sorted(s.labels.items())) not in idle
        ]
        best: dict[tuple, CommitmentPlan] = {}
        for p in self.plans:
            key = tuple(sorted(p.labels.items()))
            if key not in best or p.monthly_saving > best[key].monthly_saving:
                best[key] = p
        out += [
            Recommendation(
                "commitment", p.labels, "commit", p.monthly_saving, p.confidence, p.detail()
            )
            for p in best.values()
            if p.monthly_saving > 0
        ]
        return sorted(out, key=lambda r: (-_finite(r.monthly_saving), r.kind, r.subject))

    def summary(self) -> dict[str, Any]:
        recs = self.recommendations()
        return {
            "rightsizing": len(self.sizings),
            "idle": len(self.idle),
            "commitments": len(self.plans),
            "monthly_saving_usd": round(sum(max(0.0, _finite(r.monthly_saving)) for r in recs), 2),
        }


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def rows(report: Report, include_keep: bool = False) -> list[dict[str, Any]]:
    return [
        {
            "rank": i + 1,
            "kind": r.kind,
            "subject": r.subject,
            "action": r.action,
            "monthly_saving_usd": round(r.monthly_saving, 2),
            "confidence": round(r.confidence, 2),
            "detail": r.detail,
            "labels": r.labels,
        }
        for i, r in enumerate(report.recommendations(include_keep))
    ]


def explanation(report: Report) -> str:
    s = report.settings
    r, c = s.rightsizing, s.commitments
    return (
        f"Rightsizing: highest upper bound of the {r.level}% interval ({(1 + r.level / 100) / 2:.1%} "
        f"quantile) of the {r.model} forecast over {format_duration(r.horizon)} from "
        f"{format_duration(r.history)} of history, +{r.headroom:.0%} headroom. Idle: CPU "
        f"p{s.idle.cpu_quantile * 100:g} < {s.idle.cpu_max_ratio:.0%} for {s.idle.days:g}d. "
        f"Commitments: p{c.quantile * 100:g} of forecast spend (capped at the discount). "
        f"Prices: on-demand list (price series, else catalogue {report.catalogue}), "
        f"{s.hours_per_month:g} h a month. Confidence: data share x backtest coverage."
    )


def print_table(
    report: Report, out: TextIO | None = None, top: int | None = None, include_keep: bool = False
) -> None:
    out = out or sys.stdout
    table = rows(report, include_keep)[:top]
    widths = {"rank": 4, "kind": 11, "subject": 16, "action": 15, "saving": 12, "conf": 10}
    out.write(
        f"{'#':>4}  {'kind':<11} {'subject':<16} {'action':<15} {'$/month':>12}  "
        f"{'confidence':<10}  detail\n"
    )
    for row in table:
        out.write(
            f"{row['rank']:>{widths['rank']}}  {row['kind']:<11} {row['subject'][:16]:<16} "
            f"{row['action']:<15} {row['monthly_saving_usd']:>12,.2f}  "
            f"{confidence_word(row['confidence']) + ' ' + format(row['confidence'], '.2f'):<10}"
            f"  {row['detail']}\n"
        )
    total = sum(max(0.0, _finite(r["monthly_saving_usd"])) for r in table)
    out.write(
        f"{len(table)} recommendation(s), ${total:,.2f} a month in savings.\n"
        f"{explanation(report)}\n"
    )


def write_file(report: Report, path: str, include_keep: bool = False) -> None:
    """JSON (``.json``: settings and rows) or CSV (``.csv``: one row per recommendation)."""
    data = rows(report, include_keep)
    if path.endswith(".json"):
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "made_at": report.made_at,
                    "explanation": explanation(report),
                    "catalogue": report.catalogue,
                    "recommendations": data,
                },
                fh,
                indent=2,
                default=lambda x: None,
            )
            fh.write("\n")
    elif path.endswith(".csv"):
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(COLUMNS)
            for row in data:
                w.writerow([row[c] for c in COLUMNS])
    else:
        raise ValueError(f"--out {path!r}: use a file name ending in .json or .csv")
