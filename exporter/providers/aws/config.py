"""``providers.aws`` in the exporter's config. Plain pydantic: importing it needs no AWS SDK, so
the config of an install without the ``aws`` extra still validates."""

from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from promcast_common.config import Duration, Strict

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]+$")
CostType = Literal["unblended", "amortized", "net"]


def role_account(role_arn: str) -> str:
    """The 12-digit account id in a role ARN (validated by the config)."""
    m = _ROLE_ARN.match(role_arn)
    if m is None:
        raise ValueError(f"not an IAM role ARN: {role_arn!r}")
    return m.group(1)


def _regions(value: list[str]) -> list[str]:
    bad = [r for r in value if not _REGION.match(r)]
    if bad:
        raise ValueError(f"not an AWS region name: {', '.join(map(repr, bad))} (e.g. us-east-1)")
    dupes = sorted({r for r in value if value.count(r) > 1})
    if dupes:
        raise ValueError(f"region listed more than once: {', '.join(dupes)}")
    return value


class AwsRole(Strict):
    """Whose credentials a call uses: the standard boto3 chain (environment, shared config,
    instance or container role) or, with ``role_arn``, a role assumed from it."""

    role_arn: Optional[str] = Field(
        None,
        description="IAM role to assume (arn:aws:iam::<account>:role/<name>); "
        "omitted: the exporter's own credentials from the standard chain.",
    )
    external_id: Optional[str] = Field(
        None,
        min_length=2,
        max_length=1224,
        description="External id the role's trust policy requires; use ${ENV_VAR} to keep it "
        "out of the file.",
    )
    session_name: str = Field(
        "promcast-exporter",
        pattern=r"^[\w+=,.@-]{2,64}$",
        description="Role session name, as CloudTrail shows it.",
    )

    @field_validator("role_arn")
    @classmethod
    def _arn(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not _ROLE_ARN.match(value):
            raise ValueError(
                f"not an IAM role ARN: {value!r} (expected arn:aws:iam::123456789012:role/NAME)"
            )
        return value

    @model_validator(mode="after")
    def _external_id_needs_role(self) -> "AwsRole":
        if self.external_id is not None and self.role_arn is None:
            raise ValueError("external_id: only used with role_arn; set role_arn or remove it")
        return self


class AwsAccount(AwsRole):
    regions: Optional[list[str]] = Field(
        None, description="Regions of this account (default: providers.aws.regions)."
    )

    @field_validator("regions")
    @classmethod
    def _valid_regions(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        return None if value is None else _regions(value)


class AwsCostExplorer(AwsRole):
    """Cost Explorer, called with the payer (management) account's credentials by default:
    it sees every linked account's costs, so each is counted once."""

    enabled: bool = True
    refresh_interval: Duration = Field(
        6 * 3600.0, ge=3600, description="Every call costs $0.01; at least 1h."
    )
    hourly: bool = Field(
        False,
        description="Use HOURLY granularity for the newest 14 days "
        "(needs hourly data enabled in the Cost Explorer preferences).",
    )
    cost_types: list[CostType] = Field(
        default_factory=lambda: ["unblended", "amortized", "net"],
        min_length=1,
        description="unblended (cost_type=billed), amortized (effective), net (net).",
    )
    split_by: Literal["linked_account", "region"] = Field(
        "linked_account",
        description="Cost Explorer groups by at most two keys: costs are "
        "grouped by the other two and fetched once per value of this one. Pick the one with "
        "fewer values (region for organisations with many accounts in few regions).",
    )
    forecast: bool = Field(
        True,
        description="Publish Cost Explorer's month-end forecast "
        "(one more call per cost type and refresh).",
    )
    forecast_level: int = Field(
        80, ge=51, le=99, description="Prediction interval of the forecast, percent."
    )

    @field_validator("cost_types")
    @classmethod
    def _unique_cost_types(cls, value: list[str]) -> list[str]:
        dupes = sorted({v for v in value if value.count(v) > 1})
        if dupes:
            raise ValueError(f"cost type listed more than once: {', '.join(dupes)}")
        return value


class AwsCloudWatch(Strict):
    enabled: bool = True
    refresh_interval: Duration = Field(
        300.0, ge=60, description="Every 1,000 metrics requested cost $0.01."
    )
    period: Duration = Field(
        300.0,
        ge=60,
        description="CloudWatch period of the values (a "
        "multiple of 60s); basic EC2 monitoring has 5m.",
    )

    @field_validator("period")
    @classmethod
    def _whole_minutes(cls, value: float) -> float:
        if value % 60:
            raise ValueError(f"must be a multiple of 60s, got {value:g}s")
        return value


class AwsInventory(Strict):
    enabled: bool = True
    refresh_interval: Duration = Field(3600.0, gt=0)
    workload_tag: str = Field(
        "app", min_length=1, description="Tag key whose value becomes the workload label."
    )


class AwsPricing(Strict):
    enabled: bool = True
    refresh_interval: Duration = Field(
        86400.0,
        gt=0,
        description="Prices change rarely; the types seen are looked up once per interval.",
    )
    operating_system: Literal["Linux", "Windows", "RHEL", "SUSE"] = "Linux"


class AwsConfig(Strict):
    enabled: bool = False
    regions: list[str] = Field(
        default_factory=list, description="Regions read in every account (unless it sets its own)."
    )
    accounts: list[AwsAccount] = Field(
        default_factory=lambda: [AwsAccount()],
        description="Accounts to read; default: the one the standard credentials belong to.",
    )
    cost_explorer: AwsCostExplorer = AwsCostExplorer()
    cloudwatch: AwsCloudWatch = AwsCloudWatch()
    inventory: AwsInventory = AwsInventory()
    pricing: AwsPricing = AwsPricing()

    @field_validator("regions")
    @classmethod
    def _valid_regions(cls, value: list[str]) -> list[str]:
        return _regions(value)

    @model_validator(mode="after")
    def _complete(self) -> "AwsConfig":
        problems = []
        if not self.accounts:
            problems.append(
                "accounts: at least one account is needed (an empty entry {} means "
                "the standard credentials)"
            )
        if self.enabled and any(a.regions is None for a in self.accounts) and not self.regions:
            problems.append("regions: list the regions to read, here or in every account")
        arns = [a.role_arn or "(standard credentials)" for a in self.accounts]
        dupes = sorted({a for a in arns if arns.count(a) > 1})
        if dupes:
            problems.append(f"accounts: listed more than once: {', '.join(dupes)}")
        if not self.inventory.enabled and (self.cloudwatch.enabled or self.pricing.enabled):
            problems.append(
                "inventory: CloudWatch metrics and prices are read for the resources "
                "the inventory finds; enable it or disable cloudwatch and pricing"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def fastest_interval(self) -> float:
        parts = [
            (self.cost_explorer.enabled, self.cost_explorer.refresh_interval),
            (self.cloudwatch.enabled, self.cloudwatch.refresh_interval),
            (self.inventory.enabled, self.inventory.refresh_interval),
            (self.pricing.enabled, self.pricing.refresh_interval),
        ]
        return min((i for on, i in parts if on), default=3600.0)
