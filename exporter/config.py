"""The exporter's YAML config (``--config.file``)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from exporter.core.config import Duration, Strict
from exporter.providers.focus.columns import DEFAULT_DIMENSIONS, DIMENSIONS, tag_label
from exporter.billing.files import remote_sdk_problem


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
    enabled: bool = True
    refresh_interval: Duration = Field(15.0, gt=0)
    anchor: Annotated[Optional[float], BeforeValidator(_timestamp)] = Field(
        None, description="The fleet's 'now' (trends start from it); default: today 00:00 UTC.")

    def anchor_or_default(self) -> float:
        return self.anchor if self.anchor is not None else (time.time() // 86400) * 86400


def _billing_path(value: str) -> str:
    problem = remote_sdk_problem(value) if value.strip() else "empty path"
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
        default_factory=list, description="Files, directories (read recursively), glob patterns, "
        "or s3:// and gs:// prefixes of .csv, .csv.gz and .parquet files.")
    refresh_interval: Duration = Field(3600.0, gt=0)

    @model_validator(mode="after")
    def _paths_when_enabled(self) -> "BillingFilesConfig":
        if self.enabled and not self.paths:
            raise ValueError("paths: at least one path is needed when the provider is enabled")
        return self


class FocusConfig(BillingFilesConfig):
    dimensions: list[str] = Field(default_factory=lambda: list(DEFAULT_DIMENSIONS),
                                  description="FOCUS columns to break costs down by.")
    tag_keys: list[str] = Field(default_factory=list,
                                description="Keys of the Tags column exposed as tag_<key> labels.")

    @field_validator("dimensions")
    @classmethod
    def _known_dimensions(cls, value: list[str]) -> list[str]:
        unknown = [d for d in value if d not in DIMENSIONS]
        if unknown:
            raise ValueError(f"unknown FOCUS column(s) {', '.join(unknown)}; "
                             f"choose from {', '.join(DIMENSIONS)}")
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
        default_factory=lambda: ["unblended", "amortized", "net"], min_length=1,
        description="unblended (cost_type=billed), amortized (effective), net (net).")

    @field_validator("cost_types")
    @classmethod
    def _unique_cost_types(cls, value: list[str]) -> list[str]:
        return _unique(value, "cost type")


class Providers(Strict):
    demo: DemoConfig = DemoConfig()
    focus: FocusConfig = FocusConfig()
    cur: CurConfig = CurConfig()


class ExporterConfig(Strict):
    providers: Providers = Providers()
