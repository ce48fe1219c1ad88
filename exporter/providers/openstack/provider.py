"""The openstack provider: refreshes every configured cloud region in parallel, keeps each
region's last good numbers when it fails, and turns them into catalogued series."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from prometheus_client.core import Metric

from exporter.core.catalogue import Families
from exporter.core.collector import PartialRefresh, Provider, add_part

from . import capacity, quotas
from .api import Api, OpenStackError
from .capacity import CapacityApi
from .pools import KINDS, RegionUsage
from .regions import CloudConfigError, CloudSpec, RegionRef, connect, resolve

log = logging.getLogger(__name__)
SERIES = {  # kind -> (used series, capacity series)
    "cpu": ("promcast_openstack_cpu_used_vcpus", "promcast_openstack_cpu_capacity_vcpus"),
    "memory": ("promcast_openstack_memory_used_bytes", "promcast_openstack_memory_capacity_bytes"),
    "disk": ("promcast_openstack_disk_used_bytes", "promcast_openstack_disk_capacity_bytes"),
}
MAX_PARALLEL_REGIONS = 4


class OpenStackProvider(Provider):
    name = "openstack"

    def __init__(self, refresh_interval: float, clouds: Sequence[CloudSpec], *,
                 config_file: str | None = None, capacity_api: CapacityApi = "auto",
                 hypervisors: bool = True, projects: bool = True,
                 project_names: Sequence[str] = (), volume_quotas: bool = False,
                 timeout: float = 30.0) -> None:
        super().__init__(refresh_interval)
        self.clouds = list(clouds) or [CloudSpec(None)]
        self.config_file = config_file
        self.capacity_api = capacity_api
        self.hypervisors = hypervisors
        self.projects = projects
        self.project_names = tuple(project_names)
        self.volume_quotas = volume_quotas
        self.timeout = timeout
        self._lock = threading.Lock()  # count_call from region threads
        self._conns: dict[RegionRef, Any] = {}
        self._last: dict[RegionRef, RegionUsage] = {}
        self._up: dict[RegionRef, bool] = {}

    def count_call(self, api: str, n: int = 1) -> None:
        with self._lock:
            super().count_call(api, n)

    def refresh(self, now: float) -> list[Metric]:
        refs, failed_clouds = self._regions()
        with ThreadPoolExecutor(max_workers=max(1, min(MAX_PARALLEL_REGIONS, len(refs)))) as pool:
            outcomes = list(pool.map(self._refresh_region, refs, [now] * len(refs)))
        ok = 0
        # A region read before but not listed now (its cloud no longer resolves, or clouds.yaml
        # dropped it) is down: its last numbers stay, aging, instead of passing for current.
        for ref in set(self._up) - set(refs):
            self._up[ref] = False
        for ref, outcome in zip(refs, outcomes):
            self._up[ref] = isinstance(outcome, RegionUsage)
            if isinstance(outcome, RegionUsage):
                self._last[ref] = outcome
                ok += 1
            else:
                self._conns.pop(ref, None)  # reconnect next time (credentials may be fixed)
                log.error("region refresh failed; serving its last good numbers",
                          extra={"provider": self.name, "cloud": ref.cloud, "region": ref.region,
                                 "err": outcome})
        if not ok:
            problems = [str(o) for o in outcomes] + failed_clouds
            raise OpenStackError("no OpenStack region could be read: " + " | ".join(problems))
        down = [f"{r.cloud}/{r.region}" for r, up in self._up.items() if not up]
        if down or failed_clouds:
            raise PartialRefresh(self._families(), ", ".join(down + failed_clouds))
        return self._families()

    def _regions(self) -> tuple[list[RegionRef], list[str]]:
        refs: list[RegionRef] = []
        failed: list[str] = []
        for spec in self.clouds:
            try:
                refs.extend(resolve(spec, self.config_file))
            except CloudConfigError as exc:
                failed.append(str(exc))
                log.error("cloud skipped", extra={"provider": self.name, "cloud": spec.cloud or "",
                                                  "err": str(exc)})
        return list(dict.fromkeys(refs)), failed

    def _refresh_region(self, ref: RegionRef, now: float) -> RegionUsage | str:
        """The region's usage, or why it failed (a string: one region never raises)."""
        try:
            conn = self._conns.get(ref)
            if conn is None:
                conn = self._conns[ref] = connect(ref, self.config_file, self.timeout)
            api = Api(conn, ref.where, self.count_call)
            token_before = _token_of(conn)
            pools, sources = [], []
            if self.hypervisors:
                source = capacity.choose(api, self.capacity_api)
                pools += capacity.hypervisors(api, source)
                sources.append(("hypervisor", source))
            if self.projects:
                pools += quotas.project_pools(api, self.project_names, self.volume_quotas)
                sources.append(("project", "os-quota-sets"))
            if _token_of(conn) is not token_before:
                self.count_call("identity.tokens")
            log.debug("region refreshed", extra={"provider": self.name, "cloud": ref.cloud,
                                                 "region": ref.region, "pools": len(pools),
                                                 "sources": ",".join(f"{s}={a}" for s, a in sources)})
            return RegionUsage(tuple(pools), tuple(sources), now)
        except (OpenStackError, CloudConfigError) as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - an unexpected answer must not stop other regions
            return f"{ref.where}: unexpected {type(exc).__name__}: {exc}"

    def _families(self) -> list[Metric]:
        out = Families()
        for ref in sorted(self._up, key=lambda r: (r.cloud, r.region)):
            region = {"provider": self.name, "cloud": ref.cloud, "region": ref.region}
            usage = self._last.get(ref)
            add_part(out, self.name, "region", self._up[ref], usage.taken_at if usage else 0.0,
                     account=ref.cloud, region=ref.region)
            if usage is None:
                continue
            for scope, api in usage.sources:
                out.add("promcast_openstack_capacity_source_info", {**region, "scope": scope, "api": api}, 1)
            for p in usage.pools:
                labels = {**region, "scope": p.scope, "name": p.name, "id": p.id}
                for kind in KINDS:
                    used_series, capacity_series = SERIES[kind]
                    if kind in p.used:
                        out.add(used_series, labels, p.used[kind])
                    if kind in p.capacity:
                        out.add(capacity_series, labels, p.capacity[kind])
                    if kind in p.allocation_ratio:
                        out.add("promcast_openstack_allocation_ratio", {**labels, "resource": kind},
                                p.allocation_ratio[kind])
        return list(out)


def _token_of(conn: Any) -> Any:
    """The auth plugin's current token object: a new one means keystone was asked for a token."""
    return getattr(getattr(conn.session, "auth", None), "auth_ref", None)
