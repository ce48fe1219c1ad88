"""The exporter's YAML config (``--config.file``)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any, Optional

from pydantic import BeforeValidator, Field

from exporter.core.config import Duration, Strict


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


class Providers(Strict):
    demo: DemoConfig = DemoConfig()


class ExporterConfig(Strict):
    providers: Providers = Providers()
