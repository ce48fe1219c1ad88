"""Billing files on ``gs://`` (the Cloud Billing FOCUS export written to Cloud Storage), read by
the billing package through the store this module registers. google-cloud-storage is imported
only when a ``gs://`` path is read; the calls are counted by the IAM permission each needs
(``deploy/gcp/promcast-viewer-role.yaml`` grants exactly those)."""

from __future__ import annotations

from typing import Any, Iterator

from promcast_exporter.billing.stores import CountCall, StoreKind, register


class GcsStore:
    def __init__(self, count_call: CountCall) -> None:
        from google.cloud import storage  # only for gs:// paths

        self._gcs: Any = storage.Client()
        self._count = count_call

    def list(self, bucket: str, prefix: str) -> Iterator[tuple[str, str]]:
        self._count("storage.objects.list")
        for blob in self._gcs.list_blobs(bucket, prefix=prefix or None):
            yield blob.name, str(blob.generation)

    def fetch(self, bucket: str, key: str) -> tuple[bytes, str | None]:
        self._count("storage.objects.get")
        blob = self._gcs.bucket(bucket).blob(key)
        body = blob.download_as_bytes()
        return body, (str(blob.generation) if blob.generation is not None else None)


GCS = StoreKind("gs://", "google.cloud.storage", "google-cloud-storage package", GcsStore)
register(GCS)
