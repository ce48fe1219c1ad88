"""Instance types and their on-demand prices: the built-in snapshot plus the user's own file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError

from promcast_common.config import Strict

BUILTIN = Path(__file__).with_name("instance_types.yaml")
GIB = 2**30


class CatalogError(ValueError):
    """An instance catalogue file that cannot be used; the message names the file and key."""


class _Entry(Strict):
    name: str = Field(min_length=1)
    vcpus: float = Field(gt=0)
    memory_gib: float = Field(gt=0)
    price_per_hour: float = Field(ge=0)
    arch: Literal["x86_64", "arm64"] = "x86_64"


class _File(Strict):
    snapshot: str = Field(description="When the prices were taken, e.g. 2025-01.")
    currency: Literal["USD"] = "USD"
    regions: dict[str, str] = {}
    instance_types: dict[str, list[_Entry]]


@dataclass(frozen=True)
class InstanceType:
    provider: str
    name: str
    vcpus: float
    memory_bytes: float
    price_per_hour: float
    arch: str = "x86_64"


class Catalog:
    """Instance types by provider; ``snapshot`` says where the prices come from."""

    def __init__(self, types: list[InstanceType], snapshot: str) -> None:
        self.snapshot = snapshot
        self._by_key = {(t.provider, t.name): t for t in types}

    def __len__(self) -> int:
        return len(self._by_key)

    @property
    def providers(self) -> list[str]:
        return sorted({p for p, _ in self._by_key})

    def get(self, provider: str, name: str) -> InstanceType | None:
        return self._by_key.get((provider, name))

    def cheapest_fitting(
        self, provider: str, vcpus: float, memory_bytes: float, arch: str | None = None
    ) -> InstanceType | None:
        """The cheapest type of ``provider`` (and ``arch``, when known) with at least the given
        vCPUs and memory; on equal prices the smaller one. None when nothing is big enough."""
        fits = [
            t
            for (p, _), t in self._by_key.items()
            if p == provider
            and (arch is None or t.arch == arch)
            and t.vcpus >= vcpus - 1e-9
            and t.memory_bytes >= memory_bytes - 1
        ]
        return min(
            fits, key=lambda t: (t.price_per_hour, t.vcpus, t.memory_bytes, t.name), default=None
        )


def _read(path: Path) -> _File:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CatalogError(
            f"instance types file {path}: cannot read it ({exc.strerror}); "
            "fix recommendations.instance_types_file"
        ) from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"instance types file {path}: not valid YAML ({exc})") from None
    try:
        return _File.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = [
            "{}: {}".format(
                ".".join(str(p) for p in e["loc"]) or "(top level)",
                e["msg"].removeprefix("Value error, "),
            )
            for e in exc.errors()
        ]
        raise CatalogError(
            f"instance types file {path}: "
            + "; ".join(problems)
            + " (expected: snapshot, instance_types: {provider: [{name, vcpus, "
            "memory_gib, price_per_hour, arch}]})"
        ) from None


def load_catalog(path: str | None = None, builtin: bool = True) -> Catalog:
    """The built-in snapshot (unless ``builtin`` is false) extended by the file at ``path``,
    whose entries replace built-in ones with the same provider and name."""
    files = ([_read(BUILTIN)] if builtin else []) + ([_read(Path(path))] if path else [])
    types = [
        InstanceType(provider, e.name, e.vcpus, e.memory_gib * GIB, e.price_per_hour, e.arch)
        for f in files
        for provider, entries in f.instance_types.items()
        for e in entries
    ]
    snapshot = " + ".join(
        f"{'builtin' if i == 0 and builtin else 'file'} {f.snapshot}" for i, f in enumerate(files)
    )
    return Catalog(types, snapshot)
