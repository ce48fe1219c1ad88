"""Reactive (HPA-style) against forecast-driven (promcast) autoscaling, replayed on real demand.

Each series is one workload's demand on a 5-minute grid: the NAB ELB request count, the Grok
autoscaling group's CPU, EC2 network-in, RDS CPU, and the Bitbrains 50-VM fleet's CPU MHz. A
replica serves ``per-replica capacity`` = the series' 99th percentile / 20 (about 20 replicas at
peak; the workload's size, the same for every policy).

Both policies live in the same simulated cluster, one decision per 5-minute step:

- a decision at step t sees the demand up to step t-1 (metric lag: the newest sample is only
  complete at the step's end);
- replicas it adds serve from step t + ``--pod-start`` steps (scheduling, start, readiness);
  replicas it removes go at once; cost counts every existing replica, starting or not;
- scale-down is stabilised over ``--stabilization`` (HPA default 5 minutes: the highest
  recommendation of that window), with the same code for both policies;
- an SLO violation is a step whose demand is above ready replicas x per-replica capacity.

``reactive@U``: the HPA algorithm, desired = ceil(demand / (capacity x U)), unchanged while the
ratio is within the HPA's 10% tolerance. ``promcast <model> L%+H``: every step, the forecaster
engine (promcast_forecaster.engine.forecast_target, exactly the service's cycle: 7 days of history, daily
season, models refitted every hour as fit_every does) forecasts from the past only, and the
target's planner (promcast_forecaster.planning) turns the upper L% bound over the pod start time into
replicas with headroom H. ``oracle``: the replicas the actual demand needed, in place in time (a
lower bound on cost at zero violations). The first 3 days of each series are warm-up (two seasons
for the models), not scored.

Run from the repo root:  .venv/bin/python benchmarks/autoscaling_sim.py [--models a,b] [--write]

A forecast policy's figures count only when the engine forecast at every scored step and refit
only on schedule (never because the series set changed); otherwise the benchmark exits 1.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _data import bitbrains_vms, fleet_sum, nab_by_name, require_data
from _verify import require, run as run_checked
from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig, ResolvedTarget
from promcast_forecaster.engine import forecast_target
from promcast_forecaster.planning.autoscaling import Stabilizer, required_replicas
from promcast_forecaster.planning_config import Autoscaling
from promcast_forecaster.planning.plan import TargetPlanner
from promcast_forecaster.source import RawSeries

STEP = 300.0
WARMUP_STEPS = 3 * 288
PEAK_REPLICAS = 20
T0 = 1_700_000_100.0  # any instant on the 5-minute grid
NAB_SERIES = (
    "elb_request_count_8c0756.csv",
    "grok_asg_anomaly.csv",
    "ec2_network_in_257a54.csv",
    "ec2_network_in_5abac7.csv",
    "rds_cpu_utilization_cc0c53.csv",
    "rds_cpu_utilization_e47b3b.csv",
    "ec2_cpu_utilization_5f5533.csv",
)
RESULTS = Path(__file__).resolve().parent / "AUTOSCALING_RESULTS.md"
HPA_TOLERANCE = 0.1


@dataclass
class Outcome:
    violations: int = 0
    scored: int = 0
    replica_hours: float = 0.0

    @property
    def violation_pct(self) -> float:
        return 100.0 * self.violations / self.scored if self.scored else math.nan


class Cluster:
    """Replicas as batches by creation step: new ones serve after ``start`` steps, removals take
    the newest first (as a Deployment scaling down removes not-yet-ready pods first)."""

    def __init__(self, replicas: int, start: int) -> None:
        self.start = start
        self.batches: list[list[int]] = [[-(10**9), replicas]]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.batches)

    def ready(self, t: int) -> int:
        return sum(n for born, n in self.batches if born + self.start <= t)

    def scale(self, t: int, desired: int) -> None:
        extra = desired - self.total
        if extra > 0:
            self.batches.append([t, extra])
        while extra < 0 and self.batches:
            take = min(-extra, self.batches[-1][1])
            self.batches[-1][1] -= take
            extra += take
            if self.batches[-1][1] == 0:
                self.batches.pop()


def simulate(demand: np.ndarray, decide, start: int, pod_start: int) -> Outcome:
    """Replay one policy: ``decide(t, cluster)`` returns the replicas wanted at step t."""
    first = float(np.nan_to_num(demand[start - 1]))
    cluster = Cluster(max(1, int(math.ceil(first))), pod_start)
    out = Outcome()
    for t in range(start, demand.size):
        cluster.scale(t, int(decide(t, cluster)))
        out.replica_hours += cluster.total * STEP / 3600
        if np.isfinite(demand[t]):
            out.scored += 1
            out.violations += int(demand[t] > cluster.ready(t) + 1e-9)
    return out


def reactive(demand: np.ndarray, utilization: float, stabilization: float):
    """The HPA's replica calculation on the newest complete sample, with its tolerance."""
    stab = Stabilizer(stabilization)
    last = {"value": 1.0}

    def decide(t: int, cluster: Cluster) -> int:
        seen = demand[t - 1]
        if np.isfinite(seen):
            last["value"] = seen  # a missing sample keeps the last one, as a stale metric does
        ready = max(cluster.ready(t - 1), 1)
        ratio = last["value"] / (ready * utilization)
        want = (
            float(cluster.total)
            if abs(ratio - 1) <= HPA_TOLERANCE
            else float(required_replicas(last["value"], utilization))
        )
        return int(stab.update(t * STEP, {"w": max(1.0, want)})["w"])

    return decide


def sim_target(model: str, pod_start: int) -> ResolvedTarget:
    """The forecaster target the service would run for this workload (demand in replica units,
    so one target fits every series)."""
    return validate(
        ForecasterConfig,
        {
            "targets": [
                {
                    "name": "sim",
                    "query": "demand",
                    "step": "5m",
                    "history": "7d",
                    "season": "1d",
                    "horizons": [f"{max(1, pod_start) * 5}m"],
                    "levels": [80, 95],
                    "model": model,
                    "infer_every": "5m",
                    "fit_every": "1h",
                    "autoscaling": {
                        "per_replica_capacity": 1,
                        "max_replicas": 100_000,
                        "scale_up_lead_time": f"{pod_start * 5}m",
                        "window": 0,
                    },
                }
            ]
        },
    ).resolved_targets()[0]


def forecast_policies(
    demand: np.ndarray,
    start: int,
    model: str,
    variants: list[tuple[int, float]],
    pod_start: int,
    stabilization: float,
) -> dict[tuple[int, float], np.ndarray]:
    """Walk forward through the service's cycle: at each step the engine forecasts from the past
    only (reusing the fitted model until fit_every, as the service does), and one planner per
    (level, headroom) turns the same forecast into replicas."""
    base = sim_target(model, pod_start)
    planners = {}
    for level, headroom in variants:
        a = Autoscaling.model_validate(
            {
                **base.autoscaling.model_dump(),
                "level": level,
                "headroom": headroom,
                "scale_down_stabilization": stabilization,
            }
        )
        planners[(level, headroom)] = TargetPlanner(base.model_copy(update={"autoscaling": a}))
    out = {v: np.full(demand.size, np.nan) for v in variants}
    stamps = T0 + STEP * np.arange(demand.size)
    fitted = None
    unplanned = 0
    for t in range(start, demand.size):
        lo = max(0, t - base.points)
        series = [RawSeries({"target": "sim"}, stamps[lo:t], demand[lo:t])]
        result = forecast_target(base, series, stamps[t - 1], stamps[t], fitted=fitted)
        require(
            result.fit_reason in ("", "first", "schedule"),
            f"{model}: step {t} refitted because {result.fit_reason!r} changed",
        )
        fitted = result.fitted
        for v, planner in planners.items():
            plan = planner.plan(result)
            if plan.series and np.isfinite(plan.series[0].recommended_replicas):
                out[v][t] = plan.series[0].recommended_replicas
            else:
                unplanned += 1
    require(
        not unplanned,
        f"{model}: {unplanned} (step, policy) decisions had no forecast "
        f"out of {(demand.size - start) * len(planners)}",
    )
    return out


def load(names: tuple[str, ...]) -> dict[str, np.ndarray]:
    nab = nab_by_name()
    series = {n.removesuffix(".csv"): nab[n] for n in names}
    series["bitbrains_fleet_cpu_mhz"] = fleet_sum(bitbrains_vms("5min"))
    return series


@dataclass
class Table:
    policies: list[str] = field(default_factory=list)
    rows: dict[str, dict[str, Outcome]] = field(default_factory=dict)  # series -> policy -> outcome


def run(args: argparse.Namespace) -> Table:
    table = Table()
    variants = [(80, 0.0), (95, 0.0), (95, 0.1)]
    for name, raw in load(NAB_SERIES).items():
        started = time.monotonic()
        capacity = np.nanpercentile(raw, 99) / PEAK_REPLICAS
        demand = raw / capacity  # in replica units: one replica serves 1.0
        first = int(np.argmax(np.isfinite(demand)))
        start = first + WARMUP_STEPS
        res: dict[str, Outcome] = {}
        for u in (0.7, 0.5):
            res[f"reactive@{int(u * 100)}%"] = simulate(
                demand, reactive(demand, u, args.stabilization), start, args.pod_start
            )
        for model in args.models:
            recs = forecast_policies(
                demand, start, model, variants, args.pod_start, args.stabilization
            )
            for (level, headroom), rec in recs.items():
                label = f"promcast {model} {level}%" + (
                    f"+{int(headroom * 100)}%" if headroom else ""
                )
                res[label] = simulate(
                    demand,
                    lambda t, c, rec=rec: rec[t] if np.isfinite(rec[t]) else c.total,
                    start,
                    args.pod_start,
                )
        # Removals act at once and additions after the pod start: knowing the future, the
        # replicas must cover every step until the ones asked for now are serving.
        need = np.nan_to_num(required_replicas(demand, 1.0))
        res["oracle"] = simulate(
            demand,
            lambda t, c, need=need: max(1, int(need[t : t + args.pod_start + 1].max())),
            start,
            args.pod_start,
        )
        table.rows[name] = res
        for p in res:
            if p not in table.policies:
                table.policies.append(p)
        print(f"  {name}: {time.monotonic() - started:.1f}s", file=sys.stderr)
    return table


def render(table: Table, args: argparse.Namespace, elapsed: float) -> str:
    base = "reactive@70%"
    lines = [
        f"Pod start {args.pod_start * 5} min, metric lag 5 min, scale-down stabilisation "
        f"{args.stabilization:.0f} s, {len(table.rows)} series, {elapsed:.0f} s.",
        "",
        "| policy | SLO violations, mean % of steps | worst series % | replica-hours vs "
        f"{base} | series with fewer violations than {base} |",
        "|---|---|---|---|---|",
    ]
    total_base = sum(r[base].replica_hours for r in table.rows.values())
    for p in table.policies:
        pct = [r[p].violation_pct for r in table.rows.values()]
        hours = sum(r[p].replica_hours for r in table.rows.values())
        fewer = sum(r[p].violations < r[base].violations for r in table.rows.values())
        lines.append(
            f"| {p} | {np.mean(pct):.2f} | {np.max(pct):.2f} | {hours / total_base:.2f} | "
            f"{fewer}/{len(table.rows)} |"
        )
    lines += [
        "",
        "Per series: SLO violations % / replica-hours relative to " + base,
        "",
        "| series | " + " | ".join(table.policies) + " |",
        "|---" * (len(table.policies) + 1) + "|",
    ]
    for name, r in table.rows.items():
        cells = [
            f"{r[p].violation_pct:.2f} / {r[p].replica_hours / r[base].replica_hours:.2f}"
            for p in table.policies
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--models",
        default="seasonal_naive_drift",
        help="forecaster models to replay, comma-separated (default: %(default)s; fast_hw "
        "refits every step, about 4 min per series)",
    )
    p.add_argument(
        "--pod-start", type=int, default=1, help="steps of 5 min until a new replica serves"
    )
    p.add_argument("--stabilization", type=float, default=300.0, help="scale-down window, seconds")
    p.add_argument("--write", action="store_true", help=f"also write {RESULTS.name}")
    args = p.parse_args()
    args.models = [m for m in args.models.split(",") if m]
    require_data()
    started = time.monotonic()
    table = run(args)
    text = render(table, args, time.monotonic() - started)
    print(text)
    if args.write:
        notes = ""
        if RESULTS.exists() and "## Notes" in RESULTS.read_text():
            notes = RESULTS.read_text()[RESULTS.read_text().index("## Notes") :]
        RESULTS.write_text(
            "# Autoscaling simulation\n\n`.venv/bin/python benchmarks/autoscaling_sim.py "
            "--write`\n\n" + text + "\n\n" + (notes or "## Notes\n")
        )
    return 0


if __name__ == "__main__":
    sys.exit(run_checked(main))
