"""Billing files in S3 (moto, a real AWS API emulator) and in Cloud Storage (a loopback server
speaking the documented JSON API, through google-cloud-storage's emulator support), read through
the stores the AWS and GCP providers register, from a validated exporter config."""

from __future__ import annotations

import json
import threading
import urllib.parse
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from promcast_exporter.cli import build_providers
from promcast_exporter.config import ExporterConfig
from promcast_common.config import validate
from tests.helpers.aws import fake_aws_credentials
from tests.helpers.billing import HEADER, focus_row, ledger_totals
from tests.helpers.metrics import exposition, refreshed, value

moto = pytest.importorskip("moto")
pytest.importorskip("google.cloud.storage")

FILES = {
    "focus/2024-09/part-1.csv": HEADER + "\n" + focus_row() + "\n",
    "focus/2024-09/part-2.csv": HEADER + "\n" + focus_row(billed="0.75") + "\n",
    "focus/2024-09/manifest.txt": "not a billing file",
    "elsewhere/part-9.csv": HEADER + "\n" + focus_row(billed="100") + "\n",
}


def focus_provider(path: str):
    cfg = validate(ExporterConfig, {"providers": {"focus": {"enabled": True, "paths": [path]}}})
    (provider,) = build_providers(cfg)
    return provider


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    fake_aws_credentials(monkeypatch, tmp_path)
    with moto.mock_aws():
        yield


def test_billing_files_in_s3_are_read_through_the_aws_providers_store(aws_env):
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="billing-exports")
    for key, body in FILES.items():
        s3.put_object(Bucket="billing-exports", Key=key, Body=body.encode())
    provider = focus_provider("s3://billing-exports/focus/")
    assert ledger_totals(provider)["billed"] == Decimal("2.00")
    text = exposition(refreshed(provider))
    assert value(text, "promcast_exporter_refresh_success", provider="focus") == 1
    calls = {
        api: value(text, "promcast_exporter_api_calls_total", provider="focus", api=api)
        for api in ("s3:ListObjectsV2", "s3:GetObject")
    }
    assert calls == {"s3:ListObjectsV2": 2, "s3:GetObject": 2}  # unchanged files not fetched again
    # A rewritten object has a new ETag: it is read again, and only it.
    s3.put_object(
        Bucket="billing-exports",
        Key="focus/2024-09/part-2.csv",
        Body=(HEADER + "\n" + focus_row(billed="1.75") + "\n").encode(),
    )
    assert ledger_totals(provider)["billed"] == Decimal("3.00")
    text = exposition(refreshed(provider))
    assert (
        value(text, "promcast_exporter_api_calls_total", provider="focus", api="s3:GetObject") == 3
    )


class FakeCloudStorage(BaseHTTPRequestHandler):
    """The two Cloud Storage JSON API calls the store makes: objects.list and a media download
    (which answers the generation in ``x-goog-generation``)."""

    objects: dict[tuple[str, str], tuple[bytes, int]] = {}

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.split("/")
        if url.path.startswith("/storage/v1/b/") and parts[-1] == "o" and len(parts) == 6:
            prefix = urllib.parse.parse_qs(url.query).get("prefix", [""])[0]
            items = [
                {"kind": "storage#object", "bucket": b, "name": k, "generation": str(g)}
                for (b, k), (_, g) in sorted(self.objects.items())
                if b == parts[4] and k.startswith(prefix)
            ]
            self._answer(
                200,
                json.dumps({"kind": "storage#objects", "items": items}).encode(),
                {"Content-Type": "application/json"},
            )
        elif url.path.startswith("/download/storage/v1/b/") and len(parts) == 8:
            found = self.objects.get((parts[5], urllib.parse.unquote(parts[7])))
            if found is None:
                self._answer(404, b"{}", {"Content-Type": "application/json"})
            else:
                self._answer(200, found[0], {"x-goog-generation": str(found[1])})
        else:  # bucket metadata and anything else: not needed to list or download
            self._answer(404, b"{}", {"Content-Type": "application/json"})

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def cloud_storage(monkeypatch) -> Iterator[type[FakeCloudStorage]]:
    objects = {
        ("billing-exports", k): (v.encode(), 1000 + i) for i, (k, v) in enumerate(FILES.items())
    }
    monkeypatch.setattr(FakeCloudStorage, "objects", objects)
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCloudStorage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # google-cloud-storage talks to an emulator, anonymously, when this is set.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "shop-prod")
    try:
        yield FakeCloudStorage
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_billing_files_in_cloud_storage_are_read_through_the_gcp_providers_store(cloud_storage):
    provider = focus_provider("gs://billing-exports/focus/")
    assert ledger_totals(provider)["billed"] == Decimal("2.00")
    text = exposition(refreshed(provider))
    assert value(text, "promcast_exporter_refresh_success", provider="focus") == 1
    calls = {
        api: value(text, "promcast_exporter_api_calls_total", provider="focus", api=api)
        for api in ("storage.objects.list", "storage.objects.get")
    }
    assert calls == {"storage.objects.list": 2, "storage.objects.get": 2}
    key = ("billing-exports", "focus/2024-09/part-2.csv")
    cloud_storage.objects[key] = ((HEADER + "\n" + focus_row(billed="1.75") + "\n").encode(), 2000)
    assert ledger_totals(provider)["billed"] == Decimal("3.00")
