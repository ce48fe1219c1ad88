"""Credentials and clients per account.

Base credentials come only from boto3's standard chain (environment variables, shared config
and credentials files, SSO, container or instance roles); nothing here reads or logs a secret.
An account with ``role_arn`` gets a role assumed from those base credentials through botocore's
refreshable credentials, which assume the role again shortly before the old credentials expire
(15 minutes ahead, botocore's advisory refresh), and only when a call needs them, so a role
that cannot be assumed fails the part that uses it, not the exporter's start.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials
from botocore.session import get_session

from .config import AwsRole, role_account
from .meter import Meter

STS_REGION = "us-east-1"
ROLE_SECONDS = 3600
# Retries with backoff for throttling; a call that still fails fails its part, which keeps its
# last good data (see provider.py).
CLIENT_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=60
)


class Sessions:
    """One boto3 session per identity (standard chain, or an assumed role), one client per
    (identity, service, region); clients are thread-safe and reused across refreshes."""

    def __init__(self, meter: Meter, base: boto3.Session | None = None) -> None:
        self._meter = meter
        self._base = base
        self._sessions: dict[str | None, boto3.Session] = {}
        self._clients: dict[tuple[str | None, str, str], Any] = {}
        self._ids: dict[str | None, str] = {}
        self._lock = threading.Lock()

    def base(self) -> boto3.Session:
        if self._base is None:
            self._base = boto3.Session()
        return self._base

    def session(self, role: AwsRole) -> boto3.Session:
        with self._lock:
            s = self._sessions.get(role.role_arn)
            if s is None:
                s = self._sessions[role.role_arn] = (
                    self._assumed(role) if role.role_arn else self.base()
                )
            return s

    def client(self, role: AwsRole, service: str, region: str) -> Any:
        key = (role.role_arn, service, region)
        c = self._clients.get(key)
        if c is None:
            c = self.session(role).client(service, region_name=region, config=CLIENT_CONFIG)
            with self._lock:
                c = self._clients.setdefault(key, c)
        return c

    def account_id(self, role: AwsRole) -> str:
        """The account's id: from the role ARN, else asked once of STS (free)."""
        if role.role_arn:
            return role_account(role.role_arn)
        if None not in self._ids:
            self._meter.call("sts:GetCallerIdentity")
            self._ids[None] = self.client(role, "sts", STS_REGION).get_caller_identity()["Account"]
        return self._ids[None]

    def _assumed(self, role: AwsRole) -> boto3.Session:
        sts = self.base().client("sts", region_name=STS_REGION, config=CLIENT_CONFIG)
        kwargs: dict[str, Any] = {
            "RoleArn": role.role_arn,
            "RoleSessionName": role.session_name,
            "DurationSeconds": ROLE_SECONDS,
        }
        if role.external_id:
            kwargs["ExternalId"] = role.external_id

        def assume() -> dict[str, str]:
            self._meter.call("sts:AssumeRole")
            c = sts.assume_role(**kwargs)["Credentials"]
            return {
                "access_key": c["AccessKeyId"],
                "secret_key": c["SecretAccessKey"],
                "token": c["SessionToken"],
                "expiry_time": c["Expiration"].isoformat(),
            }

        core = get_session()
        # botocore has no public setter for a session's credentials; this is the usual way to
        # give one refreshable credentials (what its own assume-role provider builds).
        core._credentials = DeferredRefreshableCredentials(
            refresh_using=assume, method="sts-assume-role"
        )
        return boto3.Session(botocore_session=core)
