"""Which cloud regions to read, from openstacksdk's standard configuration (clouds.yaml, OS_CLOUD,
OS_* variables), and connections to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import openstack.connection
from openstack.config import loader


class CloudConfigError(Exception):
    """A cloud that cannot be configured (unknown name, missing auth): no region of it is read."""


@dataclass(frozen=True)
class RegionRef:
    cloud: str
    region: str

    @property
    def where(self) -> str:
        return f"{self.cloud}/{self.region or '(default region)'}"


@dataclass(frozen=True)
class CloudSpec:
    """A configured cloud: its clouds.yaml name (None: OS_CLOUD or the OS_* variables) and the
    regions to read (empty: every region clouds.yaml gives it, else its only one)."""

    cloud: str | None
    regions: tuple[str, ...] = ()


def _loader(config_file: str | None) -> loader.OpenStackConfig:
    return loader.OpenStackConfig(config_files=[config_file] if config_file else None)


def resolve(spec: CloudSpec, config_file: str | None) -> list[RegionRef]:
    """The regions of one configured cloud; CloudConfigError says what is wrong and what to do."""
    cfg = _loader(config_file)
    name = spec.cloud
    try:
        default = cfg.get_one(cloud=name, validate=False)
    except Exception as exc:  # noqa: BLE001 - openstacksdk raises several config exceptions
        where = f"cloud {name!r}" if name else "the default cloud (OS_CLOUD / OS_* variables)"
        raise CloudConfigError(
            f"{where} is not configured ({type(exc).__name__}: {exc}); check "
            "clouds.yaml (OS_CLIENT_CONFIG_FILE, ./clouds.yaml, "
            "~/.config/openstack/, /etc/openstack/) or the config_file "
            "setting"
        ) from None
    cloud = default.name or "envvars"  # openstacksdk's name for a cloud made of OS_* variables
    if spec.regions:
        return [RegionRef(cloud, r) for r in spec.regions]
    # get_all() is the public way to the regions a clouds.yaml entry lists (one CloudRegion each)
    get_all = getattr(cfg, "get_all", None) or cfg.get_all_clouds  # renamed in openstacksdk 4
    names = [c.region_name for c in get_all() if c.name == default.name and c.region_name]
    return [RegionRef(cloud, r) for r in dict.fromkeys(names)] or [
        RegionRef(cloud, default.region_name or "")
    ]


def connect(ref: RegionRef, config_file: str | None, timeout: float) -> Any:
    """An openstacksdk connection to one region; authentication happens on its first call."""
    cfg = _loader(config_file)
    try:
        region = cfg.get_one(
            cloud=None if ref.cloud == "envvars" else ref.cloud,
            region_name=ref.region or None,
            api_timeout=timeout,
        )
    except Exception as exc:  # noqa: BLE001 - e.g. a region clouds.yaml does not list
        raise CloudConfigError(
            f"{ref.where}: cannot configure the connection ({type(exc).__name__}: "
            f"{exc}); check the cloud and region names in clouds.yaml"
        ) from None
    return openstack.connection.Connection(config=region)
