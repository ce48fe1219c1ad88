"""One HTTP client config (Prometheus' http_config keys) for every outgoing client: the Prometheus
source, remote write and report webhooks reach receivers behind a private CA (trustme), with
mutual TLS, under another server name and through an HTTP proxy; tokens are re-read per request;
config errors name the key."""

from __future__ import annotations

import asyncio
import ssl
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import aiohttp
import cramjam
import pytest
import trustme
from aiohttp import web

from demo.stack import free_port
from promcast_common.config import ConfigError, validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.remote_write import Series, WriteRequest
from promcast_forecaster.report_config import ReportConfig
from promcast_forecaster.report.schedule import DeliveryError, post_webhook
from promcast_forecaster.publish.pusher import make_writer
from promcast_forecaster.source import PrometheusSource, SourceUnavailable

EMPTY_MATRIX = {"status": "success", "data": {"resultType": "matrix", "result": []}}


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """A private CA, a server certificate for 127.0.0.1 and for receiver.example only, and a
    client certificate, as PEM files."""
    work = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(work / "ca.pem"))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(work / "server.pem")
    )
    ca.issue_cert("receiver.example").private_key_and_cert_chain_pem.write_to_path(
        str(work / "named.pem")
    )
    client = ca.issue_cert("promcast-forecaster")
    client.cert_chain_pems[0].write_to_path(str(work / "client.crt"))
    client.private_key_pem.write_to_path(str(work / "client.key"))
    return {
        "ca": work / "ca.pem",
        "server": work / "server.pem",
        "named": work / "named.pem",
        "client_cert": work / "client.crt",
        "client_key": work / "client.key",
    }


@asynccontextmanager
async def receiver(
    seen: list[web.Request],
    cert: Path | None = None,
    ca: Path | None = None,
    status: int = 204,
    bodies: list[bytes] | None = None,
) -> AsyncIterator[str]:
    """An HTTP(S) server on 127.0.0.1 answering every request (kept in ``seen``, their bodies
    in ``bodies``); mutual TLS when ``ca`` is given. Yields its base URL."""

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if bodies is not None:
            bodies.append(body)
        seen.append(request)
        if request.path.endswith("/query_range"):
            return web.json_response(EMPTY_MATRIX)
        return web.Response(status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    context = None
    if cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert))
        if ca is not None:
            context.load_verify_locations(str(ca))
            context.verify_mode = ssl.CERT_REQUIRED
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    try:
        yield f"{'https' if cert else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def remote_write_cfg(**section):
    return validate(ForecasterConfig, {"remote_write": section}, check_files=True).remote_write


SERIES = [
    Series(
        (("__name__", "promcast_forecast_mean"), ("target", "t")), ((int(time.time() * 1000), 1.5),)
    )
]


async def write(section: dict):
    async with aiohttp.ClientSession() as session:
        writer = make_writer(remote_write_cfg(**section), session)
        writer.max_retries = 0
        return await writer.write(SERIES)


def decoded(request_body: bytes) -> list[str]:
    req = WriteRequest()
    req.ParseFromString(bytes(cramjam.snappy.decompress_raw(request_body)))
    return [label.value for ts in req.timeseries for label in ts.labels if label.name == "target"]


# -- remote write -------------------------------------------------------------------------------


def test_remote_write_reaches_a_receiver_behind_a_private_ca(pki):
    bodies: list[bytes] = []

    async def run():
        seen: list[web.Request] = []
        async with receiver(seen, cert=pki["server"], bodies=bodies) as url:
            trusted = await write(
                {"url": f"{url}/api/v1/write", "tls_config": {"ca_file": str(pki["ca"])}}
            )
            untrusted = await write({"url": f"{url}/api/v1/write"})
        return seen, trusted, untrusted

    seen, trusted, untrusted = asyncio.run(run())
    assert trusted.sent == 1 and trusted.failed == 0
    # Without the CA the system store does not know the receiver: nothing arrives.
    assert untrusted.sent == 0 and untrusted.failed == 1
    assert len(seen) == 1 and decoded(bodies[0]) == ["t"]


def test_remote_write_with_mutual_tls_and_a_server_name(pki):
    async def run():
        seen: list[web.Request] = []
        async with receiver(seen, cert=pki["named"], ca=pki["ca"]) as url:
            tls = {
                "ca_file": str(pki["ca"]),
                "cert_file": str(pki["client_cert"]),
                "key_file": str(pki["client_key"]),
            }
            named = await write(
                {
                    "url": f"{url}/api/v1/write",
                    "tls_config": {**tls, "server_name": "receiver.example"},
                }
            )
            # The certificate names receiver.example, not 127.0.0.1.
            unnamed = await write({"url": f"{url}/api/v1/write", "tls_config": tls})
            # The receiver requires a client certificate.
            anonymous = await write(
                {
                    "url": f"{url}/api/v1/write",
                    "tls_config": {"ca_file": str(pki["ca"]), "server_name": "receiver.example"},
                }
            )
        return seen, named, unnamed, anonymous

    seen, named, unnamed, anonymous = asyncio.run(run())
    assert (named.sent, unnamed.sent, anonymous.sent) == (1, 0, 0)
    assert len(seen) == 1


def test_remote_write_and_the_source_go_through_the_proxy(pki):
    """An HTTP proxy gets the requests for a host only it can reach (absolute-form URLs)."""

    async def run():
        seen: list[web.Request] = []
        async with receiver(seen) as proxy:
            stats = await write(
                {
                    "url": "http://receiver.invalid:9201/api/v1/write",
                    "proxy_url": proxy,
                    "bearer_token": "rw-token",
                }
            )
            cfg = validate(
                ForecasterConfig,
                {"prometheus": {"url": "http://prometheus.invalid:9090", "proxy_url": proxy}},
            ).prometheus
            async with aiohttp.ClientSession() as session:
                series = await PrometheusSource.from_config(cfg, session).query_range(
                    "up", 0, 60, 60
                )
        return seen, stats, series

    seen, stats, series = asyncio.run(run())
    assert stats.sent == 1 and series == []
    assert [(r.method, r.url.host, r.path) for r in seen] == [
        ("POST", "receiver.invalid", "/api/v1/write"),
        ("POST", "prometheus.invalid", "/api/v1/query_range"),
    ]
    assert seen[0].headers["Authorization"] == "Bearer rw-token"


def test_remote_write_reads_a_rotated_token_file_on_the_next_request(tmp_path):
    token = tmp_path / "token"
    token.write_text("first\n")

    async def run():
        seen: list[web.Request] = []
        async with receiver(seen) as url:
            async with aiohttp.ClientSession() as session:
                writer = make_writer(
                    remote_write_cfg(url=f"{url}/api/v1/write", bearer_token_file=str(token)),
                    session,
                )
                await writer.write(SERIES)
                token.write_text("rotated\n")
                await writer.write(SERIES)
        return [r.headers["Authorization"] for r in seen]

    assert asyncio.run(run()) == ["Bearer first", "Bearer rotated"]


def test_a_remote_write_token_file_gone_is_reported_with_its_key(tmp_path):
    token = tmp_path / "token"
    token.write_text("first\n")
    cfg = remote_write_cfg(url="http://127.0.0.1:9/api/v1/write", bearer_token_file=str(token))
    token.unlink()

    async def run():
        async with aiohttp.ClientSession() as session:
            writer = make_writer(cfg, session)
            writer.max_retries = 0
            stats = await writer.write(SERIES)
            attempt = await writer.attempt(SERIES)
        return stats, attempt

    stats, attempt = asyncio.run(run())
    assert stats.failed == 1 and stats.sent == 0
    assert f"remote_write.bearer_token_file {token}" in attempt.reason


# -- report webhooks ------------------------------------------------------------------------------


def test_a_report_webhook_behind_a_private_ca_with_basic_auth(pki):
    def webhook(url: str, **extra):
        return validate(
            ReportConfig, {"interval": "1d", "directory": "x", "webhook": {"url": url, **extra}}
        ).webhook

    async def run():
        seen: list[web.Request] = []
        async with receiver(seen, cert=pki["server"], status=200) as url:
            await post_webhook(
                webhook(
                    url,
                    tls_config={"ca_file": str(pki["ca"])},
                    basic_auth={"username": "u", "password": "p"},
                ),
                {"x": 1},
                session := aiohttp.ClientSession(),
            )
            with pytest.raises(DeliveryError, match="SSL|certificate"):
                await post_webhook(webhook(url), {"x": 1}, session)
            await session.close()
        return seen

    seen = asyncio.run(run())
    assert len(seen) == 1 and seen[0].headers["Authorization"] == "Basic dTpw"


# -- config ---------------------------------------------------------------------------------------


def test_every_client_takes_the_same_keys():
    keys = {"bearer_token", "bearer_token_file", "basic_auth", "tls_config", "proxy_url"}
    from promcast_forecaster.config import PrometheusSource as SourceSection, RemoteWrite
    from promcast_forecaster.report_config import Webhook

    for model in (SourceSection, RemoteWrite, Webhook):
        assert keys <= set(model.model_fields), model.__name__


@pytest.mark.parametrize(
    "section,problem",
    [
        (
            {"remote_write": {"url": "http://rw", "tls_config": {"key_file": "/etc/hostname"}}},
            "remote_write.tls_config: key_file needs cert_file",
        ),
        (
            {
                "remote_write": {
                    "url": "http://rw",
                    "tls_config": {"ca_file": "/nonexistent/ca.pem"},
                }
            },
            "remote_write.tls_config.ca_file: cannot read /nonexistent/ca.pem",
        ),
        (
            {"remote_write": {"url": "http://rw", "proxy_url": "socks5://proxy:1080"}},
            "remote_write.proxy_url: must start with http://",
        ),
        (
            {
                "remote_write": {
                    "url": "http://rw",
                    "bearer_token": "x",
                    "basic_auth": {"username": "u", "password": "p"},
                }
            },
            "remote_write: set only one of bearer_token, basic_auth",
        ),
        (
            {"remote_write": {"url": "http://rw", "basic_auth": {"username": "u"}}},
            "remote_write: basic_auth needs exactly one of password, password_file",
        ),
        (
            {"prometheus": {"tls_config": {"insecure_skip_verify": "sometimes"}}},
            "prometheus.tls_config.insecure_skip_verify: Input should be a valid boolean",
        ),
        (
            {"prometheus": {"tls_config": {"server_nmae": "x"}}},
            "prometheus.tls_config.server_nmae: unknown key",
        ),
    ],
)
def test_client_config_errors_name_the_key(section, problem):
    with pytest.raises(ConfigError) as err:
        validate(ForecasterConfig, section, check_files=True)
    assert any(problem in p for p in err.value.problems), err.value.problems


def test_a_ca_file_that_is_not_pem_is_refused_at_load(tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ConfigError) as err:
        validate(
            ForecasterConfig,
            {"remote_write": {"url": "https://rw", "tls_config": {"ca_file": str(bad)}}},
            check_files=True,
        )
    assert any(
        p.startswith(f"remote_write: cannot use tls_config.ca_file {bad}")
        for p in err.value.problems
    ), err.value.problems


def test_source_reports_an_unusable_client_certificate_as_unavailable(tmp_path, pki):
    cert = tmp_path / "client.crt"
    cert.write_text(pki["client_cert"].read_text())
    cfg = validate(
        ForecasterConfig,
        {
            "prometheus": {
                "url": "https://127.0.0.1:9",
                "tls_config": {"cert_file": str(cert), "key_file": str(pki["client_key"])},
            }
        },
    ).prometheus
    cert.write_text("rotated away\n")

    async def run():
        async with aiohttp.ClientSession() as session:
            await PrometheusSource.from_config(cfg, session).query_range("up", 0, 60, 60)

    with pytest.raises(SourceUnavailable, match=f"cannot use tls_config.cert_file {cert}"):
        asyncio.run(run())
