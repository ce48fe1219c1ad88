"""The exporter's YAML config (``--config.file``)."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from promcast_common.config import Duration, ReadableFile, Strict
from promcast_exporter.providers.focus.columns import DEFAULT_DIMENSIONS, DIMENSIONS, tag_label
from promcast_exporter.billing.stores import path_problem
from promcast_exporter.providers.aws.config import AwsConfig

# The object stores billing paths may name are registered by the providers that own their clouds
# (importing these registers them; neither imports its SDK until a path is read).
from promcast_exporter.providers.aws import billing_store as _s3_store  # noqa: F401
from promcast_exporter.providers.gcp import billing_store as _gs_store  # noqa: F401


def _timestamp(value: Any) -> Any:
    """Unix seconds or an RFC 3339 date-time ("2026-11-23T00:00:00Z")."""
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return stamp.timestamp()
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"expected Unix seconds or an RFC 3339 time, got {value!r}") from None


class DemoConfig(Strict):
    enabled: Optional[bool] = Field(
        None,
        description="Default: on only while no other provider is enabled, so the "
        "synthetic fleet's fake spend never sits next to a real bill.",
    )
    refresh_interval: Duration = Field(15.0, gt=0)
    anchor: Annotated[Optional[float], BeforeValidator(_timestamp)] = Field(
        None, description="The fleet's 'now' (trends start from it); default: today 00:00 UTC."
    )

    def anchor_or_default(self) -> float:
        return self.anchor if self.anchor is not None else (time.time() // 86400) * 86400


def _billing_path(value: str) -> str:
    problem = path_problem(value) if value.strip() else "empty path"
    if problem:
        raise ValueError(problem)
    return value


BillingPath = Annotated[str, AfterValidator(_billing_path)]


def _unique(values: list[str], what: str) -> list[str]:
    dupes = sorted({v for v in values if values.count(v) > 1})
    if dupes:
        raise ValueError(f"{what} listed more than once: {', '.join(dupes)}")
    return values


class BillingFilesConfig(Strict):
    """Billing files read on their own interval (they change a few times a day)."""

    enabled: bool = False
    paths: list[BillingPath] = Field(
        default_factory=list,
        description="Files, directories (read recursively), glob patterns, "
        "or s3:// and gs:// prefixes of .csv, .csv.gz and .parquet files.",
    )
    refresh_interval: Duration = Field(3600.0, gt=0)

    @model_validator(mode="after")
    def _paths_when_enabled(self) -> "BillingFilesConfig":
        if self.enabled and not self.paths:
            raise ValueError("paths: at least one path is needed when the provider is enabled")
        return self


class FocusConfig(BillingFilesConfig):
    dimensions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DIMENSIONS),
        description="FOCUS columns to break costs down by.",
    )
    tag_keys: list[str] = Field(
        default_factory=list, description="Keys of the Tags column exposed as tag_<key> labels."
    )

    @field_validator("dimensions")
    @classmethod
    def _known_dimensions(cls, value: list[str]) -> list[str]:
        unknown = [d for d in value if d not in DIMENSIONS]
        if unknown:
            raise ValueError(
                f"unknown FOCUS column(s) {', '.join(unknown)}; choose from {', '.join(DIMENSIONS)}"
            )
        return _unique(value, "dimension")

    @field_validator("tag_keys")
    @classmethod
    def _tag_labels(cls, value: list[str]) -> list[str]:
        if any(not k.strip() for k in value):
            raise ValueError("a tag key is empty")
        _unique([tag_label(k) for k in value], "tag key (after making it a label name)")
        return value


class CurConfig(BillingFilesConfig):
    cost_types: list[Literal["unblended", "amortized", "net"]] = Field(
        default_factory=lambda: ["unblended", "amortized", "net"],
        min_length=1,
        description="unblended (cost_type=billed), amortized (effective), net (net).",
    )

    @field_validator("cost_types")
    @classmethod
    def _unique_cost_types(cls, value: list[str]) -> list[str]:
        return _unique(value, "cost type")


_GCP_PROJECT = re.compile(r"([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")


class GcpConfig(Strict):
    """Cloud Monitoring utilisation per project; spend from the FOCUS export under ``billing``."""

    enabled: bool = Field(False, description="Read utilisation from Cloud Monitoring.")
    projects: list[str] = Field(
        default_factory=list, description="Project ids whose Compute Engine / GKE series are read."
    )
    refresh_interval: Duration = Field(300.0, gt=0)
    step: Duration = Field(
        300.0,
        ge=60,
        description="Alignment period: each point is the mean "
        "(ALIGN_MEAN) over this long; at least 60s.",
    )
    lookback: Duration = Field(
        900.0,
        gt=0,
        description="How far back a refresh reads; the newest "
        "aligned point is published (Monitoring lags a few minutes).",
    )
    metrics: list[Literal["compute", "guest", "gke_nodes", "gke_containers"]] = Field(
        default_factory=lambda: ["compute", "guest", "gke_nodes"],
        min_length=1,
        description="Metric groups: Compute Engine instances (hypervisor), their guests' file "
        "systems and memory (Ops Agent; VMs without it have none), GKE nodes, GKE containers "
        "(one series per container: mind the cardinality).",
    )
    workload_label: str = Field(
        "workload",
        min_length=1,
        description="Instance label whose value "
        "becomes the workload label (GKE series use the cluster name).",
    )
    timeout: Duration = Field(30.0, gt=0, description="Per Cloud Monitoring request.")
    page_size: int = Field(
        100000,
        ge=1,
        le=100000,
        description="Points per page of "
        "timeSeries.list (100000, the API's maximum, needs the fewest calls).",
    )
    billing: FocusConfig = Field(
        default_factory=FocusConfig,
        description="The Cloud Billing "
        "FOCUS export (from BigQuery to files or gs://), read by the focus "
        "layout as provider gcp-billing.",
    )

    @field_validator("projects")
    @classmethod
    def _project_ids(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not _GCP_PROJECT.fullmatch(p)]
        if bad:
            raise ValueError(
                f"not a project id: {', '.join(map(repr, bad))} (use the id, e.g. "
                "my-project-123, not the project name or number)"
            )
        return _unique(value, "project")

    @field_validator("metrics")
    @classmethod
    def _unique_metrics(cls, value: list[str]) -> list[str]:
        return _unique(value, "metric group")

    @model_validator(mode="after")
    def _projects_when_enabled(self) -> "GcpConfig":
        if self.enabled and not self.projects:
            raise ValueError(
                "projects: at least one project id is needed when the provider is enabled"
            )
        return self


def _azure_path(value: str) -> str:
    if not value.strip():
        raise ValueError("empty path")
    if "://" in value:
        raise ValueError(
            f"{value!r}: Azure exports are read from local directories only; mount "
            "the storage container (blobfuse2) or copy it (azcopy sync) and give "
            "that directory"
        )
    return value


class AzureConfig(FocusConfig):
    """Cost Management FOCUS exports: the newest complete run of each billing period is read."""

    paths: list[Annotated[str, AfterValidator(_azure_path)]] = Field(
        default_factory=list,
        description="Local directories holding the exports "
        "(<directory>/<export name>/<YYYYMMDD-YYYYMMDD>/<run id>/ with part files and manifest.json).",
    )


class OpenStackCloud(Strict):
    cloud: str = Field(description="Name of the cloud in clouds.yaml.")
    regions: list[str] = Field(
        default_factory=list,
        description="Regions to read; default: every "
        "region clouds.yaml lists for the cloud, else its only one.",
    )


class OpenStackConfig(Strict):
    """Hypervisor capacity and project quotas; credentials stay in clouds.yaml / OS_* variables."""

    enabled: bool = False
    clouds: list[OpenStackCloud] = Field(
        default_factory=list,
        description="Clouds to read; default: OS_CLOUD, else the OS_* environment variables.",
    )
    config_file: Optional[ReadableFile] = Field(
        None, description="A clouds.yaml to use instead of openstacksdk's search path."
    )
    refresh_interval: Duration = Field(300.0, gt=0)
    timeout: Duration = Field(30.0, gt=0, description="Per API call.")
    capacity_api: Literal["auto", "placement", "nova"] = Field(
        "auto",
        description="Where hypervisor capacity comes from: auto = Placement when the "
        "catalog lists it, else os-hypervisors (fields removed in compute microversion 2.88).",
    )
    hypervisors: bool = True
    projects: bool = Field(True, description="Quota limits and usage per visible project.")
    project_names: list[str] = Field(
        default_factory=list, description="Only these projects (names or ids)."
    )
    volume_quotas: bool = Field(False, description="Project disk from Cinder's gigabytes quota.")

    @model_validator(mode="after")
    def _something_to_read(self) -> "OpenStackConfig":
        if self.enabled and not (self.hypervisors or self.projects):
            raise ValueError("hypervisors and projects are both off: nothing to read")
        return self


class Providers(Strict):
    demo: DemoConfig = DemoConfig()
    focus: FocusConfig = FocusConfig()
    cur: CurConfig = CurConfig()
    gcp: GcpConfig = GcpConfig()
    azure: AzureConfig = AzureConfig()
    aws: AwsConfig = AwsConfig()
    openstack: OpenStackConfig = OpenStackConfig()

    def real(self) -> list[str]:
        """The enabled providers other than the demo."""
        return [
            name
            for name, on in (
                ("focus", self.focus.enabled),
                ("cur", self.cur.enabled),
                ("gcp", self.gcp.enabled),
                ("gcp.billing", self.gcp.billing.enabled),
                ("azure", self.azure.enabled),
                ("aws", self.aws.enabled),
                ("openstack", self.openstack.enabled),
            )
            if on
        ]

    def demo_on(self) -> bool:
        return self.demo.enabled if self.demo.enabled is not None else not self.real()

    @model_validator(mode="after")
    def _demo_alone(self) -> "Providers":
        real = self.real()
        if self.demo.enabled and real:
            raise ValueError(
                f"demo.enabled: the demo's synthetic spend would be published next to the real "
                f"data of {', '.join(real)}; remove demo.enabled (the demo is off whenever "
                f"another provider is enabled)"
            )
        return self


class ExporterConfig(Strict):
    providers: Providers = Providers()
