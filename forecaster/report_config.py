"""The ``report:`` section of the forecaster's config: what a report contains and, optionally,
when the service writes one and where it sends it."""

from __future__ import annotations

from typing import Optional

from pydantic import Field, field_validator, model_validator

from promcast_common.config import Duration, Strict
from promcast_common.httpclient import HTTPClientConfig, check_http_url


class Effort(Strict):
    """Engineering hours a change of each kind takes, for the recommendations' ROI line."""

    idle: float = Field(1.0, ge=0, description="Stopping or deleting an idle resource.")
    rightsizing: float = Field(4.0, ge=0, description="Resizing (a restart, a change window).")
    commitment: float = Field(2.0, ge=0, description="Buying a savings plan or reservation.")


class Smtp(Strict):
    host: str
    port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    username: Optional[str] = None
    password: Optional[str] = None
    password_file: Optional[str] = None
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    timeout: Duration = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _auth(self) -> "Smtp":
        if self.password and self.password_file:
            raise ValueError("set only one of password, password_file")
        if (self.password or self.password_file) and not self.username:
            raise ValueError("a password needs a username")
        return self


class Webhook(HTTPClientConfig):
    """An Alertmanager-style webhook receiver (the same JSON shape), told where the report is;
    authentication, TLS and proxy as for every outgoing client."""

    url: str
    timeout: Duration = Field(10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        return check_http_url(v)


class ReportConfig(Strict):
    period: Duration = Field(7 * 86400.0, gt=0, description="Default length of a report's period.")
    top: int = Field(5, ge=1, le=50, description="Capacity charts, recommendations with evidence.")
    engineer_hourly_usd: float = Field(100.0, ge=0, description="Cost of an hour of effort (ROI).")
    effort_hours: Effort = Effort()
    # Scheduled reports (the service): none unless `interval` and `directory` are set.
    interval: Optional[Duration] = Field(None, ge=60, description="Write a report this often.")
    directory: Optional[str] = Field(None, description="Folder the scheduled reports go to.")
    keep: int = Field(10, ge=1, description="Scheduled reports kept; older ones are deleted.")
    pdf: bool = Field(True, description="Also write a PDF (needs Chromium).")
    webhook: Optional[Webhook] = None
    smtp: Optional[Smtp] = None

    @model_validator(mode="after")
    def _schedule(self) -> "ReportConfig":
        if (self.interval is None) != (self.directory is None):
            raise ValueError("a schedule needs both interval and directory")
        if (self.webhook or self.smtp) and self.interval is None:
            raise ValueError(
                "webhook and smtp deliver scheduled reports: set interval and directory"
            )
        return self
