"""Billing files on ``s3://`` (CUR, Data Exports, FOCUS exports in S3), read by the billing
package through the store this module registers. boto3 is imported only when an ``s3://`` path
is read; the calls are counted by their IAM action (they are billed requests)."""

from __future__ import annotations

from typing import Any, Iterator

from promcast_exporter.billing.stores import CountCall, StoreKind, register


class S3Store:
    def __init__(self, count_call: CountCall) -> None:
        import boto3  # only users with s3:// paths install it

        self._s3: Any = boto3.client("s3")
        self._count = count_call

    def list(self, bucket: str, prefix: str) -> Iterator[tuple[str, str]]:
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        ):
            self._count("s3:ListObjectsV2")
            for obj in page.get("Contents", []):
                yield obj["Key"], str(obj.get("ETag", ""))

    def fetch(self, bucket: str, key: str) -> tuple[bytes, str | None]:
        self._count("s3:GetObject")
        resp = self._s3.get_object(Bucket=bucket, Key=key)
        return resp["Body"].read(), (str(resp["ETag"]) if "ETag" in resp else None)


S3 = StoreKind("s3://", "boto3", "boto3 package (the promcast[aws] extra)", S3Store)
register(S3)
