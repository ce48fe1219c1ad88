"""A thin JSON-over-HTTP layer on an openstacksdk connection.

openstacksdk does what is hard (auth, the service catalog, endpoint and microversion discovery,
token renewal); the provider asks for documented paths itself, so it controls microversions and
pagination and counts every call it makes (``promcast_exporter_api_calls_total``).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlparse

# service type in the catalog -> the openstacksdk proxy attribute that talks to it
PROXIES = {
    "compute": "compute",
    "placement": "placement",
    "identity": "identity",
    "block-storage": "block_storage",
}


class OpenStackError(Exception):
    """A failed call, with where it failed and what the operator can do about it."""


def advice(service: str, status: int | None) -> str:
    """What to do about a failed call, for the log line and the error."""
    if status == 401:
        return "check the cloud's credentials in clouds.yaml (or the OS_* variables)"
    if status == 403:
        return (
            f"grant the user read access to {service}: the `reader` role with system scope "
            "(`openstack role add --user USER --system all reader`) or `admin`"
        )
    if status == 404:
        return f"check that the {service} endpoint of this region is right in the catalog"
    if status is not None and status >= 500:
        return f"the {service} service failed; it is retried at the next refresh"
    return f"check that the {service} endpoint of this region is reachable from the exporter"


class Api:
    """GETs against one cloud region's services; ``count(api)`` is called once per request."""

    def __init__(self, conn: Any, where: str, count: Callable[[str], None]) -> None:
        self.conn = conn
        self.where = where  # "cloud/region", for messages
        self.count = count

    def has_service(self, service: str) -> bool:
        """Whether the region's catalog (or an endpoint override) lists the service."""
        try:
            return bool(self.conn.endpoint_for(service))
        except Exception as exc:  # noqa: BLE001 - the catalog comes with authentication
            raise self._error(
                "identity",
                f"authentication or catalog lookup failed ({_brief(exc)})",
                getattr(exc, "http_status", None),
            ) from None

    def get(
        self,
        service: str,
        path: str,
        api: str,
        microversion: str | None = None,
        params: dict[str, Any] | None = None,
        allow: tuple[int, ...] = (),
    ) -> tuple[int, Any]:
        """(HTTP status, decoded JSON body) of ``GET path``; statuses in ``allow`` are returned
        instead of raising (e.g. 403 when falling back to a narrower listing)."""
        self.count(api)
        try:
            # creating the proxy may authenticate and discover versions: part of the call
            proxy = getattr(self.conn, PROXIES[service])
            # microversion=None would override clouds.yaml's <service>_default_microversion
            extra = {"microversion": microversion} if microversion else {}
            resp = proxy.get(path, params=params or None, **extra)
        except Exception as exc:  # noqa: BLE001 - connection refused, timeout, auth, discovery
            raise self._error(
                service, f"GET {path} failed ({_brief(exc)})", getattr(exc, "http_status", None)
            ) from None
        if resp.status_code in allow:
            return resp.status_code, None
        if resp.status_code >= 400:
            raise self._error(
                service, f"GET {path} answered HTTP {resp.status_code}", resp.status_code
            )
        try:
            return resp.status_code, resp.json()
        except ValueError:
            raise self._error(service, f"GET {path} did not answer JSON", None) from None

    def pages(
        self, service: str, path: str, key: str, api: str, microversion: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Items under ``key`` across pages that follow ``<key>_links`` (Nova's pagination)."""
        params: dict[str, Any] = {}
        while True:
            _, body = self.get(service, path, api, microversion, params)
            items = body.get(key) or []
            yield from items
            nxt = [
                link["href"] for link in body.get(f"{key}_links") or [] if link.get("rel") == "next"
            ]
            marker = parse_qs(urlparse(nxt[0]).query).get("marker") if nxt else None
            if not items or not marker:
                return
            params = {**params, "marker": marker[0]}

    def _error(self, service: str, what: str, status: int | None) -> OpenStackError:
        return OpenStackError(f"{self.where}: {service}: {what}; {advice(service, status)}")


def _brief(exc: BaseException) -> str:
    """The exception's class and first line: never request bodies, so never credentials."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__
