"""Project quotas: limits and usage per project, from Nova's (and optionally Cinder's) quota sets."""

from __future__ import annotations

import logging
from typing import Any, Sequence

from .api import Api
from .pools import GIB, MIB, Pool

log = logging.getLogger(__name__)
# compute quota key -> (kind, factor to the series' unit)
COMPUTE_QUOTAS = {"cores": ("cpu", 1), "ram": ("memory", MIB)}
VOLUME_QUOTAS = {"gigabytes": ("disk", GIB)}


def projects(api: Api, wanted: Sequence[str]) -> list[dict[str, Any]]:
    """The projects the credentials can see: every project for a system reader or admin, else
    the user's own (``/auth/projects``); narrowed to ``wanted`` names or ids when given."""
    status, body = api.get("identity", "/projects", "identity.projects", allow=(403,))
    if status == 403:
        _, body = api.get("identity", "/auth/projects", "identity.auth_projects")
    found = [p for p in body.get("projects") or [] if p.get("enabled", True)]
    if not wanted:
        return found
    chosen = [p for p in found if p.get("name") in wanted or p.get("id") in wanted]
    missing = set(wanted) - {p.get("name") for p in chosen} - {p.get("id") for p in chosen}
    if missing:
        log.warning(
            "projects not visible to the credentials; check their names or ids and the "
            "user's roles",
            extra={"where": api.where, "projects": ",".join(sorted(missing))},
        )
    return chosen


def project_pools(api: Api, wanted: Sequence[str], volumes: bool) -> list[Pool]:
    """One pool per project; a project whose quotas the credentials may not read is skipped."""
    volumes = volumes and api.has_service("block-storage")
    pools, denied = [], []
    for p in projects(api, wanted):
        used: dict[str, float] = {}
        capacity: dict[str, float] = {}
        status, body = api.get(
            "compute", f"/os-quota-sets/{p['id']}/detail", "compute.quota_sets", allow=(403,)
        )
        if status == 403:
            denied.append(p.get("name") or p["id"])
            continue
        _add(body.get("quota_set") or {}, COMPUTE_QUOTAS, used, capacity)
        if volumes:
            status, body = api.get(
                "block-storage",
                f"/os-quota-sets/{p['id']}",
                "volume.quota_sets",
                params={"usage": "True"},
                allow=(403,),
            )
            if status != 403:
                _add(body.get("quota_set") or {}, VOLUME_QUOTAS, used, capacity)
        pools.append(Pool("project", p.get("name") or p["id"], p["id"], used, capacity))
    if denied:
        log.warning(
            "quota sets not readable, projects skipped; grant the reader role with system "
            "scope to see every project",
            extra={"where": api.where, "projects": ",".join(denied)},
        )
    return pools


def _add(
    quota_set: dict[str, Any],
    keys: dict[str, tuple[str, int]],
    used: dict[str, float],
    capacity: dict[str, float],
) -> None:
    for key, (kind, factor) in keys.items():
        q = quota_set.get(key)
        if not isinstance(q, dict):
            continue
        used[kind] = float(q.get("in_use", 0)) * factor
        if float(q.get("limit", -1)) >= 0:  # -1: unlimited, so no capacity to run out of
            capacity[kind] = float(q["limit"]) * factor
