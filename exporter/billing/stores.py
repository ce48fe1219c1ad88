"""Object stores that billing paths may name (``s3://bucket/prefix``, ``gs://bucket/prefix``).

The billing package imports no cloud SDK: each provider that owns a cloud registers a
:class:`StoreKind` for its URL scheme (the AWS provider ``s3://``, the GCP provider ``gs://``),
and :class:`~promcast_exporter.billing.files.Storage` lists and fetches through whichever kind matches a
path. A kind names the SDK module it needs without importing it, so the config can refuse a
path whose SDK is missing before anything is read.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

CountCall = Callable[[str], None]  # records one billed API call, labelled by its IAM action


class ObjectStore(Protocol):
    """One connected client of an object store; every call it makes is counted."""

    def list(self, bucket: str, prefix: str) -> Iterable[tuple[str, str]]:
        """``(key, version)`` of every object under ``prefix``; the version (ETag,
        generation) changes whenever the object's content may have."""

    def fetch(self, bucket: str, key: str) -> tuple[bytes, str | None]:
        """The object's bytes and the version they were read at (None: not known)."""


@dataclass(frozen=True)
class StoreKind:
    scheme: str  # "s3://"
    sdk_module: str  # found (not imported) to check a path, "boto3"
    sdk_package: str  # what to install, as said in the config error
    connect: Callable[[CountCall], ObjectStore]  # imports the SDK; called on first use


_KINDS: dict[str, StoreKind] = {}


def register(kind: StoreKind) -> None:
    """Make ``kind.scheme`` paths readable; a provider calls it once, at import."""
    if not kind.scheme.endswith("://") or kind.scheme in _KINDS and _KINDS[kind.scheme] != kind:
        raise ValueError(
            f"cannot register an object store for {kind.scheme!r}: "
            + ("already registered" if kind.scheme in _KINDS else "not a URL scheme")
        )
    _KINDS[kind.scheme] = kind


def kind_for(url: str) -> StoreKind | None:
    """The registered store of a remote URL, None for a local path; :class:`ValueError` for a
    URL whose scheme no provider registered."""
    if "://" not in url:
        return None
    scheme = url[: url.index("://") + 3]
    if scheme not in _KINDS:
        raise ValueError(f"{url!r}: only local paths{_supported()} are supported")
    return _KINDS[scheme]


def split(url: str, scheme: str) -> tuple[str, str]:
    """``(bucket, key or prefix)`` of ``scheme://bucket/key``."""
    bucket, _, key = url[len(scheme) :].partition("/")
    return bucket, key


def path_problem(path: str) -> str | None:
    """Why a billing path cannot be read here, or None (checked without importing an SDK)."""
    try:
        kind = kind_for(path)
    except ValueError as exc:
        return str(exc)
    if kind is None:
        return None
    try:
        found = importlib.util.find_spec(kind.sdk_module) is not None
    except ModuleNotFoundError:  # a parent package (google.cloud) is missing
        found = False
    if not found:
        return f"{kind.scheme} paths need the {kind.sdk_package}, which is not installed"
    if not split(path, kind.scheme)[0]:
        return f"{path!r} names no bucket"
    return None


def _supported() -> str:
    schemes = list(_KINDS)  # in the order the providers registered them
    if not schemes:
        return ""
    return ", " + (
        " and ".join(schemes)
        if len(schemes) <= 2
        else ", ".join(schemes[:-1]) + " and " + schemes[-1]
    )
