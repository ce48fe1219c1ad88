"""The ``recommendations:`` section of the forecaster config.

Kept free of other forecaster config imports: :mod:`promcast_forecaster.config` imports it.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from promcast_common.config import Duration, ReadableFile, Strict
from promcast_forecaster.instance_catalog import CatalogError, load_catalog
from promcast_forecaster.staleness import default_staleness
from promcast_forecaster.validators import LabelNames, ModelName, PromQL

RESOURCE_LABELS = ["provider", "account", "region", "workload", "resource_id"]


class Rightsizing(Strict):
    """A recommended size from the forecast's upper bound over ``horizon`` plus ``headroom``."""

    enabled: bool = True
    cpu: PromQL = Field(
        "promcast_resource_cpu_utilization_ratio",
        description="PromQL: CPU in use as a fraction of the resource's vCPUs.",
    )
    memory: PromQL = Field(
        "promcast_resource_memory_utilization_ratio",
        description="PromQL: memory in use as a fraction of the resource's memory.",
    )
    vcpus: PromQL = "promcast_resource_vcpus"
    memory_bytes: PromQL = "promcast_resource_memory_bytes"
    price: PromQL = Field(
        "promcast_resource_price_per_hour_usd",
        description="PromQL: on-demand list price per hour (else the catalogue's).",
    )
    info: PromQL = Field(
        "promcast_resource_info",
        description="PromQL: a series per resource with an `instance_type` label.",
    )
    step: Duration = Field(3600.0, gt=0)
    history: Duration = Field(28 * 86400.0, gt=0)
    season: Duration = Field(86400.0, ge=0)
    horizon: Duration = Field(30 * 86400.0, gt=0, description="The period the size must last.")
    level: int = Field(
        95,
        gt=0,
        lt=100,
        description="Size for the upper bound of this central "
        "interval (95: the 97.5% quantile) at its highest over the horizon.",
    )
    headroom: float = Field(0.2, ge=0, le=5, description="Added on top of the forecast bound.")
    model: ModelName = "auto"
    min_history: Duration = Field(
        2 * 86400.0, gt=0, description="Resources with less data are skipped (counted as skipped)."
    )
    min_monthly_saving_usd: float = Field(
        10.0,
        ge=0,
        description="A cheaper type saving less than this is not worth a migration: action keep.",
    )


class Idle(Strict):
    """Utilisation below thresholds for ``days`` days: idle (stop it) or over-provisioned."""

    enabled: bool = True
    days: float = Field(7.0, gt=0)
    cpu_max_ratio: float = Field(0.05, gt=0, le=1)
    cpu_quantile: float = Field(
        0.99,
        gt=0,
        le=1,
        description="The CPU quantile over the days "
        "that must stay below cpu_max_ratio (1: the peak; 0.99 forgives "
        "about 1.7 hours a week, e.g. a nightly backup).",
    )
    overprovisioned_cpu_p95_ratio: float = Field(0.3, gt=0, le=1)
    overprovisioned_memory_p95_ratio: float = Field(0.5, gt=0, le=1)


class CommitmentOption(Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9_.:-]+$")
    term: Duration = Field(gt=0)
    discount: float = Field(gt=0, lt=1, description="Fraction off the on-demand price.")
    match: dict[str, str] = Field({}, description="Only spend series with these labels.")


class Commitments(Strict):
    """A commitment level from a low quantile of the forecast spend, per option."""

    enabled: bool = True
    spend: PromQL = Field(
        'sum by (provider) (promcast_cost_hourly_rate_usd{cost_type="list"})',
        description="PromQL: on-demand spend per hour not yet under a commitment.",
    )
    step: Duration = Field(3600.0, gt=0)
    history: Duration = Field(28 * 86400.0, gt=0)
    season: Duration = Field(86400.0, ge=0)
    max_horizon: Duration = Field(
        90 * 86400.0,
        gt=0,
        description="The forecast covers the term, "
        "but no further than this; beyond it the level is assumed to hold.",
    )
    quantile: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="Commit to this quantile of the hourly "
        "spend over the term (capped at each option's discount: above it an "
        "unused dollar costs more than the used ones save).",
    )
    # auto calibrates its intervals on its own backtest: the low quantile committed to stands on
    # them (seasonal naive bands widen with every season ahead and sink the baseline).
    model: ModelName = "auto"
    options: list[CommitmentOption] = [
        CommitmentOption(name="commit_1y", term=365 * 86400.0, discount=0.3),
        CommitmentOption(name="commit_3y", term=3 * 365 * 86400.0, discount=0.5),
    ]

    @field_validator("options")
    @classmethod
    def _unique(cls, v: list[CommitmentOption]) -> list[CommitmentOption]:
        if not v:
            raise ValueError("needs at least one option (name, term, discount)")
        names = [o.name for o in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"option names must be unique, repeated: {dup}")
        return v


class Recommendations(Strict):
    interval: Duration = Field(
        3600.0,
        gt=0,
        description="How often the analyses run (they read "
        "weeks of history; savings change slowly).",
    )
    hours_per_month: float = Field(730.0, gt=0, description="Hours a month (8760 / 12).")
    labels: LabelNames = Field(
        RESOURCE_LABELS,
        description="Labels kept from the queries' "
        "series and published on a resource's recommendations (the "
        "identity_labels are always among them).",
    )
    identity_labels: LabelNames = Field(
        ["resource_id"],
        min_length=1,
        description="The labels that name a resource: "
        "resource_id for promcast's exporter, instance_id for CloudWatch, [namespace, pod] for "
        "Kubernetes, instance for node_exporter. A series without one of them is skipped and "
        "the log names the label.",
    )
    instance_types_file: ReadableFile | None = Field(
        None,
        description="YAML of instance types that extends (and overrides by name) the built-in one.",
    )
    builtin_instance_types: bool = True
    timeout: Duration | None = Field(None, gt=0)
    staleness: Duration | None = Field(
        None,
        gt=0,
        description="A resource whose CPU series has "
        "no sample for this long has stopped reporting: no "
        "rightsizing or idle finding (counted as skipped, kind "
        "retired). Default: 3 rightsizing steps, at least 1h.",
    )
    rightsizing: Rightsizing = Rightsizing()
    idle: Idle = Idle()
    commitments: Commitments = Commitments()

    @property
    def resource_labels(self) -> list[str]:
        """The labels a resource's series are matched on and published with."""
        return self.labels + [n for n in self.identity_labels if n not in self.labels]

    @property
    def staleness_seconds(self) -> float:
        return (
            self.staleness
            if self.staleness is not None
            else default_staleness(self.rightsizing.step)
        )

    @model_validator(mode="after")
    def _check(self) -> Recommendations:
        problems = []
        for name, part in (("rightsizing", self.rightsizing), ("commitments", self.commitments)):
            if part.history < 2 * part.step:
                problems.append(f"{name}.history must cover at least two steps")
            if part.history / part.step > 100_000:
                problems.append(
                    f"{name}: history/step is over 100000 points per series; raise step"
                )
        for name, part in (("rightsizing", self.rightsizing), ("commitments", self.commitments)):
            if self.staleness is not None and self.staleness < part.step:
                problems.append(
                    f"staleness is shorter than {name}.step: every series would be "
                    "retired between two samples"
                )
        if self.rightsizing.horizon < self.rightsizing.step:
            problems.append("rightsizing.horizon is shorter than rightsizing.step")
        if not self.builtin_instance_types and not self.instance_types_file:
            problems.append("builtin_instance_types is false but no instance_types_file is given")
        elif self.instance_types_file:
            # A broken file is a config error at start-up (and in `check`), not a failing cycle.
            try:
                load_catalog(self.instance_types_file, self.builtin_instance_types)
            except CatalogError as exc:
                problems.append(f"instance_types_file: {exc}")
        if problems:
            raise ValueError("\n".join(problems))
        return self
