"""One HTTP client config for every outgoing client (the Prometheus source, remote write, report
webhooks), with the keys of Prometheus' own ``http_config`` (prometheus/common): ``basic_auth``,
``bearer_token`` / ``bearer_token_file``, ``tls_config`` (``ca_file``, ``cert_file``,
``key_file``, ``server_name``, ``insecure_skip_verify``) and ``proxy_url``.

A section that makes requests subclasses :class:`HTTPClientConfig` and adds its own ``url`` and
``timeout``; :func:`request_options` turns it into what each request needs. Files (tokens,
passwords, certificates) are read again for each request or connection setting, so a rotated
secret applies without a restart, and a file that cannot be used raises
:class:`ClientConfigUnavailable` naming the key.
"""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .config import CHECK_FILES, ReadableFile, Strict


class ClientConfigUnavailable(Exception):
    """A file the client config names cannot be used now (it may be back at the next try)."""


class BasicAuth(Strict):
    username: str
    password: Optional[str] = None
    password_file: Optional[ReadableFile] = None


class TLSConfig(Strict):
    ca_file: Optional[ReadableFile] = Field(
        None, description="CA bundle to verify the server with."
    )
    cert_file: Optional[ReadableFile] = Field(None, description="Client certificate (mutual TLS).")
    key_file: Optional[ReadableFile] = None
    server_name: Optional[str] = Field(
        None,
        description="The name the server's certificate must carry, when it is not the URL's host.",
    )
    insecure_skip_verify: bool = False

    @model_validator(mode="after")
    def _pair(self) -> TLSConfig:
        if self.key_file and not self.cert_file:
            raise ValueError("key_file needs cert_file (the client certificate it belongs to)")
        return self


def check_http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        # Without a scheme, user:password@ would not be recognised as such: echo the host only.
        raise ValueError(f"must start with http:// or https://, got {value.rsplit('@', 1)[-1]!r}")
    return value


class HTTPClientConfig(Strict):
    """Authentication, TLS and proxy of an outgoing HTTP client."""

    bearer_token: Optional[str] = None
    bearer_token_file: Optional[ReadableFile] = None
    basic_auth: Optional[BasicAuth] = None
    tls_config: TLSConfig = TLSConfig()
    proxy_url: Optional[str] = Field(None, description="An HTTP proxy every request goes through.")

    @field_validator("proxy_url")
    @classmethod
    def _proxy(cls, v: Optional[str]) -> Optional[str]:
        # aiohttp speaks to HTTP proxies only (CONNECT for https:// targets).
        if v is not None and not v.startswith("http://"):
            raise ValueError(
                f"must start with http:// (an HTTP proxy), got {v.rsplit('@', 1)[-1]!r}"
            )
        return v

    @model_validator(mode="after")
    def _one_auth(self) -> HTTPClientConfig:
        given = [k for k in ("bearer_token", "bearer_token_file", "basic_auth") if getattr(self, k)]
        if len(given) > 1:
            raise ValueError(f"set only one of {', '.join(given)}")
        if self.basic_auth and bool(self.basic_auth.password) == bool(
            self.basic_auth.password_file
        ):
            raise ValueError("basic_auth needs exactly one of password, password_file")
        return self

    @model_validator(mode="after")
    def _usable_tls(self, info: ValidationInfo) -> HTTPClientConfig:
        """Loading the TLS files as the client will: a CA bundle or key that is readable but not
        PEM would otherwise fail every request."""
        tls = self.tls_config
        if info.context and info.context.get(CHECK_FILES) and (tls.ca_file or tls.cert_file):
            try:
                ssl_context(self.tls_config)
            except ClientConfigUnavailable as exc:
                raise ValueError(str(exc)) from None
        return self


def read_secret(path: str, what: str) -> str:
    """A secret file's content without surrounding whitespace (a trailing newline is common)."""
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ClientConfigUnavailable(f"cannot read {what} {path}: {exc.strerror}") from None


def basic_auth_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def auth_headers(cfg: HTTPClientConfig, where: str = "") -> dict[str, str]:
    """The Authorization header for one request; files are re-read so rotated secrets apply.
    ``where`` (e.g. ``remote_write``) prefixes the keys named in errors."""
    if cfg.bearer_token:
        return {"Authorization": f"Bearer {cfg.bearer_token}"}
    if cfg.bearer_token_file:
        token = read_secret(cfg.bearer_token_file, _key(where, "bearer_token_file"))
        return {"Authorization": f"Bearer {token}"}
    if cfg.basic_auth:
        ba = cfg.basic_auth
        password = ba.password or read_secret(
            ba.password_file or "", _key(where, "basic_auth.password_file")
        )
        return {"Authorization": basic_auth_header(ba.username, password)}
    return {}


def ssl_context(tls: TLSConfig, where: str = "") -> ssl.SSLContext:
    """The TLS settings as a context; ClientConfigUnavailable naming the key when a file cannot
    be used."""
    try:
        ctx = ssl.create_default_context(cafile=tls.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ClientConfigUnavailable(
            f"cannot use {_key(where, 'tls_config.ca_file')} {tls.ca_file}: "
            f"{getattr(exc, 'strerror', None) or exc}"
        ) from None
    if tls.cert_file:
        try:
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ClientConfigUnavailable(
                f"cannot use {_key(where, 'tls_config.cert_file')} {tls.cert_file} / key_file "
                f"{tls.key_file}: {getattr(exc, 'strerror', None) or exc}"
            ) from None
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def request_options(
    cfg: HTTPClientConfig, url: str, context: ssl.SSLContext | None = None, where: str = ""
) -> dict[str, Any]:
    """Keyword arguments for one aiohttp request to ``url``: ``headers`` (auth), ``ssl`` (for an
    https:// URL; ``context`` when the caller keeps one), ``server_hostname`` and ``proxy``."""
    out: dict[str, Any] = {"headers": auth_headers(cfg, where)}
    if url.startswith("https://"):
        out["ssl"] = context or ssl_context(cfg.tls_config, where)
        if cfg.tls_config.server_name:
            out["server_hostname"] = cfg.tls_config.server_name
    if cfg.proxy_url:
        out["proxy"] = cfg.proxy_url
    return out


def url_credentials(url: str) -> tuple[str, str] | None:
    """``(user, password)`` written into a URL's ``user:password@``, if any."""
    parts = urlsplit(url)
    return (parts.username, parts.password or "") if parts.username is not None else None
