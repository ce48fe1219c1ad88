"""From query answers to a :class:`~promcast_forecaster.report.model.Report`.

Every query aggregates or ranks in PromQL (``sum by``, ``topk``, ``bottomk``) so the work and
memory of a report depend on the number of targets, providers and services, not on the fleet:
a report summarises, it never reads or draws every series.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

import numpy as np
import yaml

from promcast_common.catalogue import RESOURCE_LABELS
from promcast_common.durations import parse_duration
from promcast_forecaster.report_config import ReportConfig
from promcast_forecaster.report.model import (
    ApiCalls,
    BudgetLine,
    CapacityItem,
    CostAnomaly,
    Curve,
    ForecastPoint,
    Period,
    QualityRow,
    Recommendation,
    Report,
    Risk,
    ScenarioDate,
    Source,
)
from promcast_forecaster.report.reader import (
    RESULT_LOOKBACK,
    Reader,
    matchers,
    promql_duration,
    step_for,
)

BILLED = 'cost_type="billed"'
TOP_COST_ROWS = 8
MAX_SOURCES = 50
# Thresholds the alert rules use (rules/promcast.rules.yml); these defaults apply only when
# Prometheus does not have the rules loaded, and the page says so.
QUALITY_DEFAULTS = {
    "backtest_mase_max": 1.5,
    "backtest_coverage_min_ratio": 0.6,
    "anomaly_score_max": 1.0,
}
_SECRET_KEYS = ("password", "token", "secret", "credentials", "api_key", "key_file")


def last(name: str, sel: str = "") -> str:
    """The newest value of a forecaster result within the look-back."""
    return f"last_over_time({name}{sel}[{RESULT_LOOKBACK}])"


def subject(labels: dict[str, str]) -> str:
    """A short name for a series: its resource, service, ... or else its labels."""
    for key in ("resource_id", "service", "budget", "instance", "pod", "name"):
        if labels.get(key):
            extra = labels.get("provider")
            return f"{labels[key]} ({extra})" if extra and key != "resource_id" else labels[key]
    rest = {k: v for k, v in labels.items() if k not in ("target", "__name__", "kind", "action")}
    if set(rest) == {"provider"}:
        return rest["provider"]
    return ",".join(f"{k}={v}" for k, v in sorted(rest.items())) or "all"


def redacted_config(cfg: Any) -> str:
    """The config in force as YAML, every secret replaced and every URL without credentials."""
    from promcast_forecaster.source import redact

    def clean(node: Any, key: str = "") -> Any:
        if isinstance(node, dict):
            if key == "headers":  # remote write headers often carry credentials
                return {k: "<redacted>" for k in node}
            return {k: clean(v, str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [clean(v, key) for v in node]
        if isinstance(node, str):
            if any(s in key.lower() for s in _SECRET_KEYS) and not key.endswith("_file"):
                return "<redacted>"
            if node.startswith(("http://", "https://")):
                return redact(node)
        return node

    data = cfg.model_dump(mode="json", by_alias=True, exclude_none=True) if cfg is not None else {}
    return yaml.safe_dump(clean(data), sort_keys=False, width=100)


class Builder:
    def __init__(
        self,
        reader: Reader,
        period: Period,
        settings: ReportConfig,
        forecaster_cfg: Any = None,
        version: str = "",
    ) -> None:
        self.r = reader
        self.p = period
        self.s = settings
        self.cfg = forecaster_cfg
        self.version = version
        self.range = promql_duration(period.seconds)

    async def build(self) -> Report:
        p = self.p
        rep = Report(
            period=p,
            generated_at=time.time(),
            prometheus=self.r.source.url,
            version=self.version,
            engineer_hourly_usd=self.s.engineer_hourly_usd,
        )
        # One section at a time: each is a handful of queries, and a slow Prometheus should see
        # a report as a light client.
        await self._cost(rep)
        await self._budgets(rep)
        await self._capacity(rep)
        await self._quality(rep)
        await self._recommendations(rep)
        await self._audit(rep)
        rep.config_yaml = redacted_config(self.cfg)
        rep.reachable = not self.r.unreachable
        rep.notes = self._notes(rep) + self.r.problems
        return rep

    # -- cost ----------------------------------------------------------------------------
    async def _cost(self, rep: Report) -> None:
        p, step = self.p, step_for(self.p.seconds, 3600.0)
        rate = f"promcast_cost_hourly_rate_usd{{{BILLED}}}"
        hours = step / 3600.0
        grid = np.arange(p.since + step, p.until + 1, step)
        if not len(grid):
            return  # a period shorter than the hourly cost step
        # Aggregated in PromQL, one query per breakdown: a fleet's cost series never reach the
        # report, only a few sums per provider, service and account.
        by_provider = await self.r.range(f"sum by (provider) ({rate})", grid[0], grid[-1], step)
        if not by_provider:
            return
        c = rep.cost
        per_provider: dict[str, np.ndarray] = {}
        for s in by_provider:
            idx = np.searchsorted(grid, s.timestamps)
            ok = (idx < len(grid)) & ~np.isnan(s.values)
            acc = per_provider.setdefault(s.labels.get("provider") or "(none)", np.zeros(len(grid)))
            np.add.at(acc, idx[ok], s.values[ok] * hours)
        c.by_provider = _ranked({k: float(v.sum()) for k, v in per_provider.items()})
        for dim, out in (("service", "by_service"), ("billing_account", "by_account")):
            totals: dict[str, float] = {}
            for s in await self.r.range(
                f"sum by (provider, {dim}) ({rate})", grid[0], grid[-1], step
            ):
                name = f"{s.labels.get(dim) or '(none)'} ({s.labels.get('provider') or '?'})"
                totals[name] = totals.get(name, 0.0) + float(np.nansum(s.values)) * hours
            setattr(c, out, _ranked(totals))
        c.total = float(sum(v.sum() for v in per_provider.values()))
        # Per day: the plotted unit FinOps people compare with invoices.
        day = 86400.0
        days = np.floor((grid - 1 - p.since) / day).astype(int)
        n_days = int(days.max()) + 1 if len(days) else 0
        starts = p.since + np.arange(n_days) * day
        total_daily = np.zeros(n_days)
        for name, spent in sorted(per_provider.items(), key=lambda kv: -kv[1].sum()):
            daily = np.bincount(days, weights=spent, minlength=n_days)
            total_daily += daily
            c.daily_by_provider.append(Curve(name, starts, daily))
        c.daily = Curve("all providers", starts, total_daily)
        # Only whole days count for the trend: a partial last day would read as a drop.
        c.full_days = min(n_days, int(p.seconds // day))
        full = total_daily[: c.full_days]
        if len(full) >= 2:
            c.trend_per_day = float(np.polyfit(np.arange(len(full)), full, 1)[0])
            half = len(full) // 2
            first, second = full[:half].mean(), full[half:].mean()
            c.change_ratio = second / first - 1 if first > 0 else float("nan")
        rep.spend_period = c.total
        month = dt.datetime.fromtimestamp(p.until, dt.timezone.utc).strftime("%Y-%m")
        rep.month_to_date = await self.r.scalar(
            f'sum(promcast_cost_month_to_date_usd{{{BILLED},billing_period=~"|{month}"}})', p.until
        )
        threshold = await self._threshold("anomaly_score_max")
        anomalies = await self.r.values(
            f'topk(10, max_over_time(promcast_forecast_anomaly_score{{service!=""}}[{self.range}]) '
            f"> {threshold:g})",
            p.until,
        )
        c.anomalies = sorted(
            (CostAnomaly(lab.get("target", ""), subject(lab), v) for lab, v in anomalies),
            key=lambda a: -a.score,
        )

    async def _threshold(self, name: str) -> float:
        got = await self.r.scalar(
            f'last_over_time(promcast:promcast_alert_threshold:config{{threshold="{name}"}}[1d])',
            self.p.until,
        )
        return QUALITY_DEFAULTS[name] if math.isnan(got) else got

    # -- budgets ----------------------------------------------------------------------------
    async def _budgets(self, rep: Report) -> None:
        at = self.p.until
        keyed: dict[tuple, dict[str, Any]] = {}
        for name, field in (
            ("promcast_budget_amount", "amount"),
            ("promcast_budget_spend", "spent"),
            ("promcast_budget_projected_spend", "projected"),
            ("promcast_budget_overrun_probability_ratio", "prob"),
            ("promcast_budget_period_end_timestamp_seconds", "end"),
        ):
            for lab, v in await self.r.values(f"sum by (budget, currency) ({last(name)})", at):
                keyed.setdefault((lab.get("budget", ""), lab.get("currency", "")), {})[field] = v
        bounds: dict[tuple, dict[str, float]] = {}
        for name, field in (
            ("promcast_budget_projected_spend_lower", "lower"),
            ("promcast_budget_projected_spend_upper", "upper"),
        ):
            for lab, v in await self.r.values(
                f"sum by (budget, currency, level) ({last(name)})", at
            ):
                key = (lab.get("budget", ""), lab.get("currency", ""), lab.get("level", "0"))
                bounds.setdefault(key, {})[field] = v
        for (budget, currency), f in sorted(keyed.items()):
            levels = sorted(
                (int(k[2]) for k in bounds if k[:2] == (budget, currency) and k[2].isdigit()),
                reverse=True,
            )
            lv = 80 if 80 in levels else (levels[0] if levels else 0)
            b = bounds.get((budget, currency, str(lv)), {})
            prob = f.get("prob", float("nan"))
            rep.budgets.append(
                BudgetLine(
                    budget,
                    currency,
                    f.get("amount", float("nan")),
                    f.get("spent", float("nan")),
                    f.get("projected", float("nan")),
                    b.get("lower", float("nan")),
                    b.get("upper", float("nan")),
                    lv,
                    min(1.0, prob),
                    f.get("end", float("nan")),
                )
            )

    # -- capacity ---------------------------------------------------------------------------
    async def _capacity(self, rep: Report) -> None:
        at = self.p.until
        soonest = await self.r.values(
            f"bottomk by (target) (1, {last('promcast_forecast_exhaustion_seconds')})", at
        )
        leads = {
            lab.get("target"): v
            for lab, v in await self.r.values(last("promcast_target_lead_time_seconds"), at)
        }
        # Only targets with a capacity have an exhaustion worth drawing.
        with_capacity = {
            lab.get("target")
            for lab, _ in await self.r.values(
                f"count by (target) ({last('promcast_forecast_capacity')})", at
            )
        }
        soonest = sorted(
            (lv for lv in soonest if lv[0].get("target") in with_capacity), key=lambda lv: lv[1]
        )
        for labels, seconds in soonest:
            target = labels.get("target", "")
            lead = leads.get(target, 0.0)
            exhaustion_at = at + seconds if math.isfinite(seconds) else math.inf
            order_by = exhaustion_at - lead
            item = CapacityItem(
                target, subject(labels), labels, None, [], None, exhaustion_at, lead, order_by
            )
            rep.risks.append(
                Risk(target, item.subject, exhaustion_at, lead, order_by, order_by <= at)
            )
            if len(rep.capacity) < self.s.top:
                await self._fill_capacity(item)
                rep.capacity.append(item)
        rep.risks = [r for r in rep.risks if math.isfinite(r.exhaustion_at)]

    async def _fill_capacity(self, item: CapacityItem) -> None:
        at = self.p.until
        sel = matchers(item.labels)
        item.history = await self._history(item)
        cap = await self.r.values(last("promcast_forecast_capacity", sel), at)
        item.capacity = cap[0][1] if cap else None
        points: dict[float, ForecastPoint] = {}
        for lab, v in await self.r.values(last("promcast_forecast_mean", sel), at):
            h = _horizon(lab)
            if h is not None:
                points[h] = ForecastPoint(at + h, v, {})
        for side, name in ((0, "promcast_forecast_lower"), (1, "promcast_forecast_upper")):
            for lab, v in await self.r.values(last(name, sel), at):
                h, level = _horizon(lab), lab.get("level", "")
                if h in points and level.isdigit():
                    band = list(points[h].bands.get(int(level), (math.nan, math.nan)))
                    band[side] = v
                    points[h].bands[int(level)] = (band[0], band[1])
        item.forecast = [points[h] for h in sorted(points)]
        dates: dict[str, dict[str, float]] = {}
        for name, field in (
            ("promcast_scenario_exhaustion_seconds", "exh"),
            ("promcast_scenario_capacity_order_by_timestamp_seconds", "order"),
        ):
            for lab, v in await self.r.values(last(name, sel), at):
                dates.setdefault(lab.get("scenario", "?"), {})[field] = v
        for name, d in sorted(dates.items()):
            exh = at + d["exh"] if math.isfinite(d.get("exh", math.inf)) else math.inf
            item.scenarios.append(ScenarioDate(name, exh, d.get("order", exh - item.lead_time)))

    async def _history(self, item: CapacityItem) -> Curve | None:
        """The series over the period: the target's own query narrowed to this series when the
        config is known (full history), else what the forecaster published as observed."""
        p = self.p
        query = None
        if self.cfg is not None:
            for t in getattr(self.cfg, "targets", []):
                if t.name == item.target:
                    keys = [k for k in item.labels if k not in ("target", "__name__")]
                    query = (
                        (f"({t.query}) and on ({', '.join(keys)}) {_literal(item.labels, keys)}")
                        if keys
                        else t.query
                    )
        if query is None:
            query = f"promcast_forecast_observed{matchers(item.labels)}"
        step = step_for(p.seconds)
        got = await self.r.range(query, p.since, p.until, step)
        if not got:
            return None
        s = got[0]
        return Curve(item.subject, s.timestamps, s.values)

    # -- forecast quality -------------------------------------------------------------------
    async def _quality(self, rep: Report) -> None:
        at = self.p.until
        mase_max = await self._threshold("backtest_mase_max")
        cov_min = await self._threshold("backtest_coverage_min_ratio")
        rep.quality_thresholds = {"mase_max": mase_max, "coverage_min": cov_min}
        mase = "promcast_forecast_backtest_mase"
        med = dict(await self._by_target(f"quantile by (target) (0.5, {last(mase)})"))
        p90 = dict(await self._by_target(f"quantile by (target) (0.9, {last(mase)})"))
        count = dict(await self._by_target(f"count by (target) ({last(mase)})"))
        coverage: dict[str, dict[int, float]] = {}
        for lab, v in await self.r.values(
            f"avg by (target, level) ({last('promcast_forecast_backtest_coverage_ratio')})", at
        ):
            if lab.get("level", "").isdigit():
                coverage.setdefault(lab.get("target", ""), {})[int(lab["level"])] = v
        models: dict[str, list[tuple[str, int]]] = {}
        for lab, v in await self.r.values(
            f"count by (target, model) ({last('promcast_forecast_model_info')})", at
        ):
            models.setdefault(lab.get("target", ""), []).append((lab.get("model", "?"), int(v)))
        for target in sorted(set(med) | set(coverage)):
            cov = coverage.get(target, {})
            ok = med.get(target, 0.0) <= mase_max and all(v >= cov_min for v in cov.values())
            rep.quality.append(
                QualityRow(
                    target,
                    int(count.get(target, 0)),
                    med.get(target, math.nan),
                    p90.get(target, math.nan),
                    dict(sorted(cov.items())),
                    sorted(models.get(target, []), key=lambda m: -m[1]),
                    ok,
                )
            )

    async def _by_target(self, query: str) -> list[tuple[str, float]]:
        return [(lab.get("target", ""), v) for lab, v in await self.r.values(query, self.p.until)]

    # -- recommendations -------------------------------------------------------------------
    async def _recommendations(self, rep: Report) -> None:
        p = self.p
        saving = "promcast_recommendation_monthly_saving_usd"
        top_q = f"topk({self.s.top * 2}, {last(saving)} > 0)"
        confidence = last("promcast_recommendation_confidence_ratio")
        # Saving and confidence of a recommendation carry the same labels: one-to-one matches.
        conf = {
            _key(lab): v for lab, v in await self.r.values(f"{confidence} and {top_q}", p.until)
        }
        rep.recommendations_total = int(
            _nan0(await self.r.scalar(f"count({last(saving)} > 0)", p.until))
        )
        rep.savings_monthly = _nan0(await self.r.scalar(f"sum({last(saving)} > 0)", p.until))
        weighted = await self.r.scalar(f"sum(({last(saving)} > 0) * {confidence})", p.until)
        rep.savings_confidence = (
            weighted / rep.savings_monthly
            if rep.savings_monthly > 0 and math.isfinite(weighted)
            else math.nan
        )
        effort = self.s.effort_hours.model_dump()
        recs = []
        top = await self.r.values(top_q, p.until)
        for lab, v in sorted(top, key=lambda lv: -lv[1]):
            kind = lab.get("kind", "?")
            hours = float(effort.get(kind, effort["rightsizing"]))
            rec = Recommendation(
                kind,
                lab.get("action", "?"),
                subject(lab),
                {k: x for k, x in lab.items() if k not in ("kind", "action")},
                v,
                conf.get(_key(lab), math.nan),
                hours,
            )
            rec.effort_cost = hours * self.s.engineer_hourly_usd
            recs.append(rec)
        for rec in recs[: self.s.top]:
            await self._evidence(rec)
        rep.recommendations = recs
        # Savings on offer at the start of the period that are gone by its end: applied (or no
        # longer needed). Matched in PromQL (same labels), so only two numbers come back.
        gone = (
            f"(last_over_time({saving}[{RESULT_LOOKBACK}] offset {self.range}) > 0) "
            f"unless {last(saving)}"
        )
        rep.saved_since_last = _nan0(await self.r.scalar(f"sum({gone})", p.until))
        rep.resolved_since_last = int(_nan0(await self.r.scalar(f"count({gone})", p.until)))

    async def _evidence(self, rec: Recommendation) -> None:
        p = self.p
        res = {k: v for k, v in rec.labels.items() if k in RESOURCE_LABELS}
        step = step_for(p.seconds)
        if rec.kind in ("rightsizing", "idle") and res:
            got = await self.r.range(
                f"promcast_resource_cpu_utilization_ratio{matchers(res)}", p.since, p.until, step
            )
            if got:
                rec.evidence = Curve("CPU utilisation", got[0].timestamps, got[0].values)
            peak = await self.r.values(
                last(
                    "promcast_rightsizing_forecast_peak_ratio",
                    matchers({**res, "dimension": "cpu"}),
                ),
                p.until,
            )
            if peak:
                rec.evidence_level, rec.evidence_label = peak[0][1], "forecast peak (upper bound)"
        elif rec.kind == "commitment":
            sel = {
                k: v
                for k, v in rec.labels.items()
                if k in ("provider", "billing_account", "sub_account", "service", "region")
            }
            got = await self.r.range(
                f"sum(promcast_cost_hourly_rate_usd{{{BILLED}{matchers(sel)[1:-1] and ','}"
                f"{matchers(sel)[1:-1]}}})",
                p.since,
                p.until,
                step,
            )
            if got:
                rec.evidence = Curve("spend per hour (USD)", got[0].timestamps, got[0].values)
            hourly = await self.r.values(
                last("promcast_commitment_hourly_usd", matchers(sel)), p.until
            )
            if hourly:
                rec.evidence_level = max(v for _, v in hourly)
                rec.evidence_label = "recommended commitment per hour"

    # -- audit -------------------------------------------------------------------------------
    async def _audit(self, rep: Report) -> None:
        at = self.p.until
        ok = {
            lab.get("provider", ""): v
            for lab, v in await self.r.values(last("promcast_exporter_refresh_success"), at)
        }
        when = {
            lab.get("provider", ""): v
            for lab, v in await self.r.values(
                last("promcast_exporter_last_refresh_success_timestamp_seconds"), at
            )
        }
        billing = {
            lab.get("provider", ""): v
            for lab, v in await self.r.values(
                f"max by (provider) ({last('promcast_billing_data_last_timestamp_seconds')})", at
            )
        }
        failing = {
            lab.get("provider", ""): int(v)
            for lab, v in await self.r.values(
                f"count by (provider) ({last('promcast_exporter_part_refresh_success')} == 0)", at
            )
        }
        for provider in sorted(set(ok) | set(billing))[:MAX_SOURCES]:
            detail = []
            if provider in billing:
                detail.append(f"newest billing hour {_ago(at - billing[provider])} before the end")
            if failing.get(provider):
                detail.append(f"{failing[provider]} part(s) failing")
            rep.sources.append(
                Source(
                    "exporter provider",
                    provider,
                    ok.get(provider, 1.0) >= 1 and not failing.get(provider),
                    at - when[provider] if provider in when else math.nan,
                    "; ".join(detail),
                )
            )
        up = {
            lab.get("target", ""): v
            for lab, v in await self.r.values(last("promcast_forecaster_target_up"), at)
        }
        done = {
            lab.get("target", ""): v
            for lab, v in await self.r.values(
                last("promcast_forecaster_last_success_timestamp_seconds"), at
            )
        }
        for target in sorted(up)[:MAX_SOURCES]:
            rep.sources.append(
                Source(
                    "forecaster target",
                    target,
                    up[target] >= 1,
                    at - done[target] if target in done else math.nan,
                )
            )
        jobs = await self.r.values("sum by (job) (up) / count by (job) (up)", at)
        for lab, v in sorted(jobs, key=lambda lv: lv[0].get("job", ""))[:MAX_SOURCES]:
            rep.sources.append(
                Source(
                    "scrape job", lab.get("job", ""), v >= 1, math.nan, f"{v:.0%} of its targets up"
                )
            )
        calls = {
            (lab.get("provider", ""), lab.get("api", "")): v
            for lab, v in await self.r.values(
                f"sum by (provider, api) (increase(promcast_exporter_api_calls_total[{self.range}]))",
                at,
            )
        }
        cost = {
            (lab.get("provider", ""), lab.get("api", "")): v
            for lab, v in await self.r.values(
                f"sum by (provider, api) (increase(promcast_exporter_api_cost_usd_total[{self.range}]))",
                at,
            )
        }
        rep.api_calls = [
            ApiCalls(pv, api, calls.get((pv, api), 0.0), cost.get((pv, api), 0.0))
            for pv, api in sorted(set(calls) | set(cost))
        ][:MAX_SOURCES]
        rep.builds = sorted(
            {
                (lab.get("component", ""), lab.get("version", ""))
                for lab, _ in await self.r.values(last("promcast_build_info"), at)
            }
        )

    def _notes(self, rep: Report) -> list[str]:
        notes = []
        if not self.r.unreachable and not rep.has_data:
            notes.append(
                "No data for this period: Prometheus holds no promcast series between "
                "the period's start and end. Check the period (--since/--until) and that "
                "the exporter and the forecaster are scraped."
            )
        for s in rep.sources:
            if not s.ok:
                notes.append(
                    f"Source down: {s.kind} {s.name} failed its last refresh"
                    + (f" ({s.detail})" if s.detail else "")
                    + "; its numbers in this report may be old or missing."
                )
        if not self.r.unreachable and rep.has_data:
            if not rep.capacity:
                notes.append(
                    "No capacity forecasts in the period's last hours (no target with a "
                    "capacity, or the forecaster was not running)."
                )
            if rep.cost.daily is None:
                notes.append("No cost data in this period (no exporter provider reports cost).")
        return notes


def _ranked(totals: dict[str, float]) -> list[tuple[str, float]]:
    rows = sorted(totals.items(), key=lambda kv: -kv[1])
    if len(rows) > TOP_COST_ROWS:
        rest = sum(v for _, v in rows[TOP_COST_ROWS - 1 :])
        rows = rows[: TOP_COST_ROWS - 1] + [(f"{len(rows) - TOP_COST_ROWS + 1} others", rest)]
    return rows


def _horizon(labels: dict[str, str]) -> float | None:
    try:
        return parse_duration(labels.get("horizon", ""))
    except ValueError:
        return None


def _key(labels: dict[str, str]) -> tuple:
    return tuple(sorted((k, v) for k, v in labels.items() if k != "__name__"))


def _nan0(x: float) -> float:
    return 0.0 if math.isnan(x) else x


def _ago(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _literal(labels: dict[str, str], keys: list[str]) -> str:
    """A one-sample vector carrying exactly these labels, for ``and on (...)``: PromQL has no
    vector literal with labels, so ``label_replace`` adds them one by one."""
    expr = "vector(1)"
    for k in keys:
        v = labels[k].replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
        expr = f'label_replace({expr}, "{k}", "{v}", "", "")'
    return expr


async def build_report(
    reader: Reader,
    period: Period,
    settings: ReportConfig,
    forecaster_cfg: Any = None,
    version: str = "",
) -> Report:
    return await Builder(reader, period, settings, forecaster_cfg, version).build()
