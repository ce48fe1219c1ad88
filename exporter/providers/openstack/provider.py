"""The openstack provider: refreshes every configured cloud region in parallel, keeps each
region's last good numbers when it fails, and turns them into catalogued series."""

from __future__ import annotations

import logging
import threading
from typing import Any, Sequence

from prometheus_client.core import Metric

from promcast_common.catalogue import Families
from promcast_common.collector import Provider
from promcast_common.parts import Part, Parts

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

    def __init__(
        self,
        refresh_interval: float,
        clouds: Sequence[CloudSpec],
        *,
        config_file: str | None = None,
        capacity_api: CapacityApi = "auto",
        hypervisors: bool = True,
        projects: bool = True,
        project_names: Sequence[str] = (),
        volume_quotas: bool = False,
        timeout: float = 30.0,
    ) -> None:
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
        # One part per region, declared as clouds.yaml resolves them; its data: RegionUsage.
        self.parts = Parts(self.name, "OpenStack", _why)

    def count_call(self, api: str, n: int = 1) -> None:
        with self._lock:
            super().count_call(api, n)

    def refresh(self, now: float) -> list[Metric]:
        refs, failed_clouds = self._regions()
        for ref in refs:
            if self.parts.find("region", ref) is None:
                self.parts.add(
                    Part(
                        "region",
                        account=ref.cloud,
                        region=ref.region,
                        key=ref,
                        context={"cloud": ref.cloud, "region": ref.region},
                    )
                )
        # A region read before but not listed now (its cloud no longer resolves, or clouds.yaml
        # dropped it) is down: its last numbers stay, aging, instead of passing for current.
        for part in self.parts:
            if part.key not in refs:
                self.parts.mark_down(part, f"{part.key.where}: no longer listed")
        self.parts.run_parallel(
            [self.parts.find("region", ref) for ref in refs],
            now,
            self._refresh_region,
            MAX_PARALLEL_REGIONS,
        )
        return self.parts.finish(
            self._families(),
            failed_clouds,
            all_failed=lambda problems: OpenStackError(
                "no OpenStack region could be read: " + " | ".join(problems)
            ),
        )

    def _regions(self) -> tuple[list[RegionRef], list[str]]:
        refs: list[RegionRef] = []
        failed: list[str] = []
        for spec in self.clouds:
            try:
                refs.extend(resolve(spec, self.config_file))
            except CloudConfigError as exc:
                failed.append(str(exc))
                log.error(
                    "cloud skipped",
                    extra={"provider": self.name, "cloud": spec.cloud or "", "err": str(exc)},
                )
        return list(dict.fromkeys(refs)), failed

    def _refresh_region(self, part: Part, now: float) -> RegionUsage:
        """The region's usage; a failure drops its connection, so the next refresh reconnects
        (its credentials may have been fixed)."""
        ref = part.key
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
        except Exception:
            self._conns.pop(ref, None)
            raise
        log.debug(
            "region refreshed",
            extra={
                "provider": self.name,
                "cloud": ref.cloud,
                "region": ref.region,
                "pools": len(pools),
                "sources": ",".join(f"{s}={a}" for s, a in sources),
            },
        )
        return RegionUsage(tuple(pools), tuple(sources), now)

    def _families(self) -> list[Metric]:
        out = Families()
        self.parts.parts.sort(key=lambda p: (p.key.cloud, p.key.region))
        self.parts.report(out)
        for part in self.parts:
            ref, usage = part.key, part.data
            region = {"provider": self.name, "cloud": ref.cloud, "region": ref.region}
            if usage is None:
                continue
            for scope, api in usage.sources:
                out.add(
                    "promcast_openstack_capacity_source_info",
                    {**region, "scope": scope, "api": api},
                    1,
                )
            for p in usage.pools:
                labels = {**region, "scope": p.scope, "name": p.name, "id": p.id}
                for kind in KINDS:
                    used_series, capacity_series = SERIES[kind]
                    if kind in p.used:
                        out.add(used_series, labels, p.used[kind])
                    if kind in p.capacity:
                        out.add(capacity_series, labels, p.capacity[kind])
                    if kind in p.allocation_ratio:
                        out.add(
                            "promcast_openstack_allocation_ratio",
                            {**labels, "resource": kind},
                            p.allocation_ratio[kind],
                        )
        return list(out)


def _why(exc: Exception, part: Part) -> tuple[str, str]:
    """OpenStack's errors already say where and what to do; anything else is unexpected."""
    if isinstance(exc, (OpenStackError, CloudConfigError)):
        return str(exc), "see the error; the region keeps its last good numbers"
    return (
        f"{part.key.where}: unexpected {type(exc).__name__}: {exc}",
        "see the error; the region keeps its last good numbers",
    )


def _token_of(conn: Any) -> Any:
    """The auth plugin's current token object: a new one means keystone was asked for a token."""
    return getattr(getattr(conn.session, "auth", None), "auth_ref", None)
