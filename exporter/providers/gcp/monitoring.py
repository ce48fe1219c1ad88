"""Cloud Monitoring ``projects.timeSeries.list`` over REST, with paging.

google-cloud-monitoring (2.x) only ships gRPC transports for the metric service, so the REST
API is called directly through google-auth's ``AuthorizedSession`` (a ``requests`` session):
the same request the generated REST clients send, readable in an HTTP recording, and no gRPC
channel to keep alive. Credentials come only from google-auth's default chain (ADC,
GOOGLE_APPLICATION_CREDENTIALS, the metadata server); they are never logged, and errors carry
only the API's own message.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)
ENDPOINT = "https://monitoring.googleapis.com/v3"
READ_SCOPE = "https://www.googleapis.com/auth/monitoring.read"
API = "monitoring.timeSeries.list"  # the api label of promcast_exporter_api_calls_total
ADC_HINT = (
    "check the credentials Application Default Credentials finds "
    "(GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default login`, or the "
    "VM / GKE service account)"
)


class MonitoringError(Exception):
    """A timeSeries.list call that failed; says which project and metric, and what to check."""


def rfc3339(t: float) -> str:
    """Unix seconds as the API's timestamp format (whole seconds, UTC)."""
    return dt.datetime.fromtimestamp(int(t), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float:
    """An API timestamp ("2026-11-23T12:05:00Z", possibly with nanoseconds) as Unix seconds."""
    head, _, frac = text.rstrip("Z").partition(".")
    t = dt.datetime.fromisoformat(head).replace(tzinfo=dt.timezone.utc).timestamp()
    return t + (float("0." + frac) if frac else 0.0)


def point_value(point: dict[str, Any]) -> float | None:
    """A point's number: doubleValue, or int64Value (a string in JSON); None for other types."""
    value = point.get("value", {})
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "int64Value" in value:
        return float(value["int64Value"])
    return None


@dataclass(frozen=True)
class Window:
    """The interval read and the alignment applied to every series (ALIGN_MEAN over ``step``)."""

    start: float
    end: float
    step: float

    def params(self) -> dict[str, str]:
        return {
            "interval.startTime": rfc3339(self.start),
            "interval.endTime": rfc3339(self.end),
            "aggregation.alignmentPeriod": f"{int(self.step)}s",
            "aggregation.perSeriesAligner": "ALIGN_MEAN",
        }


def default_session(timeout: float) -> Any:
    """An authorised session from google-auth's default credential chain."""
    import google.auth  # the SDK is imported only inside its provider
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=[READ_SCOPE])
    return AuthorizedSession(credentials, refresh_timeout=timeout)


def session_for(credentials: Any) -> Any:
    """An authorised session for explicit credentials (tests pass AnonymousCredentials)."""
    from google.auth.transport.requests import AuthorizedSession

    return AuthorizedSession(credentials)


class MonitoringClient:
    def __init__(
        self,
        session: Any,
        count_call: Callable[[str], None],
        timeout: float = 30.0,
        page_size: int = 100000,
        endpoint: str = ENDPOINT,
    ) -> None:
        self.session = session
        self.count_call = count_call
        self.timeout = timeout
        self.page_size = page_size
        self.endpoint = endpoint.rstrip("/")

    def list_time_series(
        self, project: str, filter_: str, window: Window
    ) -> Iterator[dict[str, Any]]:
        """Every series matching ``filter_`` in the project, following nextPageToken."""
        url = f"{self.endpoint}/projects/{project}/timeSeries"
        params = {
            "filter": filter_,
            **window.params(),
            "view": "FULL",
            "pageSize": str(self.page_size),
        }
        while True:
            self.count_call(API)
            try:
                resp = self.session.get(url, params=params, timeout=self.timeout)
            except Exception as exc:  # noqa: BLE001 - network errors of any transport
                hint = (
                    ADC_HINT
                    if type(exc).__module__.startswith("google.auth")
                    else f"check network access to {self.endpoint}"
                )
                raise MonitoringError(
                    f"project {project}: {API} failed ({type(exc).__name__}: {exc}); {hint}"
                ) from None
            if resp.status_code != 200:
                raise MonitoringError(_explain(project, filter_, resp))
            body = resp.json()
            yield from body.get("timeSeries", [])
            token = body.get("nextPageToken")
            if not token:
                return
            params = {**params, "pageToken": token}


def _explain(project: str, filter_: str, resp: Any) -> str:
    try:
        err = resp.json().get("error", {})
    except ValueError:
        err = {}
    status = err.get("status") or resp.reason or ""
    message = err.get("message") or resp.text[:200]
    hint = {
        401: ADC_HINT,
        403: "grant the role in deploy/gcp/promcast-viewer-role.yaml on the project "
        "(monitoring.timeSeries.list)",
        404: "check the project id",
        429: "the Cloud Monitoring read quota is exhausted; raise refresh_interval",
    }
    return (
        f"project {project}: {API} returned HTTP {resp.status_code} {status}: {message} "
        f"(filter {filter_}); {hint.get(resp.status_code, 'see the message above')}"
    )
