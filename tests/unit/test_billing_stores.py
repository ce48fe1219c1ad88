"""Object stores for billing paths: a provider registers one for its URL scheme and the billing
package reads through it, counting every call, without importing any cloud SDK itself."""

from __future__ import annotations

from decimal import Decimal
from typing import Iterator

import pytest

from promcast_exporter.billing import stores
from promcast_exporter.billing.stores import CountCall, StoreKind
from tests.helpers.billing import HEADER, focus, focus_row, ledger_totals
from tests.helpers.metrics import exposition, refreshed, value


class MemoryStore:
    """Objects held in a dict: ``{(bucket, key): (bytes, version)}``."""

    objects: dict[tuple[str, str], tuple[bytes, str]] = {}

    def __init__(self, count_call: CountCall) -> None:
        self._count = count_call

    def list(self, bucket: str, prefix: str) -> Iterator[tuple[str, str]]:
        self._count("mem:list")
        for (b, key), (_, version) in sorted(self.objects.items()):
            if b == bucket and key.startswith(prefix):
                yield key, version

    def fetch(self, bucket: str, key: str) -> tuple[bytes, str | None]:
        self._count("mem:get")
        body, version = self.objects[(bucket, key)]
        return body, version


MEMORY = StoreKind("mem://", "json", "json module", MemoryStore)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, StoreKind]:
    """The registry with what the providers registered, restored after the test."""
    import promcast_exporter.config  # noqa: F401 - the config loads every provider's store

    kinds = dict(stores._KINDS)
    monkeypatch.setattr(stores, "_KINDS", kinds)
    return kinds


def test_a_registered_store_serves_billing_files_and_counts_its_calls(registry, monkeypatch):
    stores.register(MEMORY)
    csv_body = (HEADER + "\n" + focus_row() + "\n" + focus_row(billed="0.75") + "\n").encode()
    monkeypatch.setattr(
        MemoryStore,
        "objects",
        {
            ("exports", "focus/2024-09.csv"): (csv_body, "v1"),
            ("exports", "focus/readme.txt"): (b"not a billing file", "v1"),
            ("exports", "other/2024-09.csv"): (b"outside the prefix", "v1"),
        },
    )
    provider = focus(["mem://exports/focus/"])
    assert ledger_totals(provider)["billed"] == Decimal("2.00")
    text = exposition(refreshed(provider))
    assert value(text, "promcast_exporter_api_calls_total", provider="focus", api="mem:list") == 2
    # The first load read the file; the refresh found the same version and did not fetch it again.
    assert value(text, "promcast_exporter_api_calls_total", provider="focus", api="mem:get") == 1
    assert value(text, "promcast_exporter_refresh_success", provider="focus") == 1


def test_paths_are_checked_against_the_registered_stores(registry):
    stores.register(MEMORY)
    assert stores.path_problem("mem://exports/focus/") is None
    assert stores.path_problem("/var/lib/billing") is None
    assert stores.path_problem("mem:///focus/") == "'mem:///focus/' names no bucket"
    assert stores.path_problem("ftp://host/x") == (
        "'ftp://host/x': only local paths, s3://, gs:// and mem:// are supported"
    )
    stores.register(
        StoreKind("void://", "no_such_sdk_module_anywhere", "void package", MemoryStore)
    )
    assert stores.path_problem("void://b/x") == (
        "void:// paths need the void package, which is not installed"
    )


def test_a_scheme_is_registered_once(registry):
    stores.register(MEMORY)
    stores.register(MEMORY)  # a module imported twice changes nothing
    with pytest.raises(ValueError, match="'mem://': already registered"):
        stores.register(StoreKind("mem://", "json", "json", MemoryStore))
    with pytest.raises(ValueError, match="not a URL scheme"):
        stores.register(StoreKind("mem", "json", "json", MemoryStore))


def test_the_aws_and_gcp_providers_register_their_clouds():
    import promcast_exporter.config  # noqa: F401 - the config loads every provider's store

    s3, gs = stores.kind_for("s3://bucket/cur/"), stores.kind_for("gs://bucket/focus/")
    assert (
        s3 is not None and s3.connect.__module__ == "promcast_exporter.providers.aws.billing_store"
    )
    assert (
        gs is not None and gs.connect.__module__ == "promcast_exporter.providers.gcp.billing_store"
    )
    assert (s3.sdk_module, gs.sdk_module) == ("boto3", "google.cloud.storage")
