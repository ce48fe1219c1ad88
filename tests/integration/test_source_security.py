"""Reading from a Prometheus behind TLS (custom CA) and basic auth, and bearer tokens; secrets
never appear in logs or error messages."""

import asyncio
import base64
import logging
import ssl
import subprocess
import urllib.request

import aiohttp
import bcrypt
import pytest
import trustme
import yaml
from aiohttp import web

from demo.stack import free_port, terminate, wait_until
from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.source import PrometheusSource, SourceUnavailable, redact
from tests.helpers.forecaster import history
from tests.helpers.processes import backfill, need

pytestmark = pytest.mark.integration
PASSWORD = "s3cr3t-Pa55"


@pytest.fixture(scope="module")
def secure_prometheus(tmp_path_factory):
    need("prometheus")
    need("promtool")
    work = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(work / "server.pem"))
    ca.cert_pem.write_to_path(str(work / "ca.pem"))
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (work / "web.yml").write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {
                    "cert_file": str(work / "server.pem"),
                    "key_file": str(work / "server.pem"),
                },
                "basic_auth_users": {"promcast": hashed},
            }
        )
    )
    (work / "prometheus.yml").write_text(yaml.safe_dump({"scrape_configs": []}))
    backfill(history(), work / "data")
    port = free_port()
    log = open(work / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.config.file={work / 'web.yml'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    url = f"https://127.0.0.1:{port}"
    ctx = ssl.create_default_context(cafile=str(work / "ca.pem"))
    token = base64.b64encode(f"promcast:{PASSWORD}".encode()).decode()

    def ready() -> bool:
        req = urllib.request.Request(f"{url}/-/ready", headers={"Authorization": f"Basic {token}"})
        return urllib.request.urlopen(req, context=ctx, timeout=2).status == 200

    try:
        wait_until(ready, 60, "prometheus with TLS", proc, work / "prometheus.log")
        yield url, work
    finally:
        terminate([proc])
        log.close()


def source_cfg(**prom):
    return validate(ForecasterConfig, {"prometheus": prom}).prometheus


async def query(cfg):
    async with aiohttp.ClientSession() as session:
        return await PrometheusSource.from_config(cfg, session).query_range("disk_ratio", 0, 1, 1)


def test_tls_with_custom_ca_and_basic_auth(secure_prometheus):
    url, work = secure_prometheus
    (work / "pw").write_text(PASSWORD + "\n")
    cfg = source_cfg(
        url=url,
        basic_auth={"username": "promcast", "password_file": str(work / "pw")},
        tls_config={"ca_file": str(work / "ca.pem")},
    )
    assert asyncio.run(query(cfg)) == []  # reached and authorised (no data at t=0..1)


@pytest.mark.parametrize("case", ["wrong_password", "unknown_ca"])
def test_failures_name_the_problem_but_never_the_secret(secure_prometheus, caplog, case):
    url, work = secure_prometheus
    wrong = PASSWORD + "-wrong"
    auth = {"username": "promcast", "password": wrong if case == "wrong_password" else PASSWORD}
    tls = {"ca_file": str(work / "ca.pem")} if case == "wrong_password" else {}
    cfg = source_cfg(
        url=url.replace("https://", f"https://promcast:{PASSWORD}@"),
        basic_auth=auth,
        tls_config=tls,
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceUnavailable) as err:
        asyncio.run(query(cfg))
    text = str(err.value) + caplog.text
    assert PASSWORD not in text and wrong not in text
    assert ("refused the credentials" if case == "wrong_password" else "SSL") in text


def test_bearer_token_from_a_file_is_sent_and_re_read(tmp_path):
    seen = []

    async def handler(request):
        seen.append(request.headers.get("Authorization"))
        return web.json_response(
            {"status": "success", "data": {"resultType": "matrix", "result": []}}
        )

    async def run():
        app = web.Application()
        app.router.add_post("/api/v1/query_range", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        token = tmp_path / "token"
        cfg = source_cfg(url=f"http://127.0.0.1:{port}", bearer_token_file=str(token))
        try:
            token.write_text("first\n")
            await query(cfg)
            token.write_text("rotated\n")
            await query(cfg)
        finally:
            await runner.cleanup()

    asyncio.run(run())
    assert seen == ["Bearer first", "Bearer rotated"]


def test_redact_and_config_checks():
    assert redact("https://u:p@host:9090/x") == "https://host:9090/x"
    assert redact("http://host") == "http://host"
    from promcast_common.config import ConfigError

    with pytest.raises(ConfigError, match="only one of bearer_token, basic_auth"):
        source_cfg(bearer_token="x", basic_auth={"username": "u", "password": "p"})
