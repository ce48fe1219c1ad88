"""`check-config` refuses, with exit status 2 and the key's path, everything that would fail at
start-up or every cycle: files that cannot be read, unknown models, PromQL that does not parse,
values out of range. Credentials in URLs never appear in the errors."""

import logging
import subprocess
import sys

import pytest

from promcast_exporter import cli as exporter_cli
from promcast_common.logs import LogfmtFormatter
from promcast_forecaster import cli

GOOD_TARGET = "{name: disk, query: 'rate(x[5m])', step: 5m, history: 1d}"


@pytest.fixture(autouse=True)
def _restore_logging():
    """main() sets up logging to the (captured) stderr of the test; later tests must not log there."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def check(tmp_path, text: str, capsys) -> tuple[int, str]:
    cfg = tmp_path / "f.yml"
    cfg.write_text(text)
    try:
        code = cli.main(["--config.file", str(cfg), "check-config"])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_good_config_passes(tmp_path, capsys):
    code, out = check(tmp_path, f"targets: [{GOOD_TARGET}]\n", capsys)
    assert code == 0 and "OK, 1 target(s)" in out


@pytest.mark.parametrize(
    "section,key",
    [
        (
            "prometheus: {url: 'https://p:9090', tls_config: {ca_file: /nonexistent/ca.pem}}",
            "prometheus.tls_config.ca_file",
        ),
        (
            "prometheus: {url: 'https://p:9090', tls_config: {cert_file: /nonexistent/c.pem, "
            "key_file: /nonexistent/k.pem}}",
            "prometheus.tls_config.cert_file",
        ),
        (
            "prometheus: {url: 'https://p:9090', tls_config: {cert_file: /nonexistent/c.pem, "
            "key_file: /nonexistent/k.pem}}",
            "prometheus.tls_config.key_file",
        ),
        ("prometheus: {bearer_token_file: /nonexistent/token}", "prometheus.bearer_token_file"),
        (
            "prometheus: {basic_auth: {username: u, password_file: /nonexistent/pw}}",
            "prometheus.basic_auth.password_file",
        ),
        (
            "remote_write: {url: 'http://rw:9090/api/v1/write', bearer_token_file: /nonexistent/t}",
            "remote_write.bearer_token_file",
        ),
    ],
)
def test_a_missing_file_is_refused_with_its_key(tmp_path, capsys, section, key):
    code, out = check(tmp_path, f"{section}\ntargets: [{GOOD_TARGET}]\n", capsys)
    assert code == 2, out
    assert f"{key}: cannot read /nonexistent/" in out and "No such file" in out


def test_a_readable_file_passes_and_a_key_needs_its_certificate(tmp_path, capsys):
    token = tmp_path / "token"
    token.write_text("t0k3n\n")
    code, out = check(
        tmp_path, f"prometheus: {{bearer_token_file: {token}}}\ntargets: [{GOOD_TARGET}]\n", capsys
    )
    assert code == 0, out
    code, out = check(
        tmp_path, f"prometheus: {{url: 'https://p', tls_config: {{key_file: {token}}}}}\n", capsys
    )
    assert code == 2 and "prometheus.tls_config: key_file needs cert_file" in out


@pytest.mark.parametrize(
    "text,expected",
    [
        # Unknown models, where targets, defaults and budgets name them.
        (
            "targets: [{name: d, query: x, model: prophet2}]",
            "targets[0].model: unknown model 'prophet2'",
        ),
        ("defaults: {model: arima}\n", "defaults.model: unknown model 'arima'"),
        (
            "budgets: [{name: b, spend_rate: x, amount: 10, model: nope}]",
            "budgets[0].model: unknown model",
        ),
        (
            "recommendations: {rightsizing: {model: nope}}",
            "recommendations.rightsizing.model: unknown model",
        ),
        # PromQL that Prometheus would refuse at every cycle.
        ("targets: [{name: d, query: 'rate(x[5m]'}]", "targets[0].query: not valid PromQL"),
        ("targets: [{name: d, query: 'sum by (host (x)'}]", "targets[0].query: not valid PromQL"),
        (
            "targets: [{name: d, query: x, capacity: 'size{'}]",
            "targets[0].capacity: not valid PromQL",
        ),
        (
            "budgets: [{name: b, spend_rate: 'sum(', amount: 10}]",
            "budgets[0].spend_rate: not valid PromQL",
        ),
        (
            "budgets: [{name: b, spend_rate: x, spent: 'x[5m', amount: 10}]",
            "budgets[0].spent: not valid PromQL",
        ),
        (
            "recommendations: {idle: {}, rightsizing: {cpu: 'avg(('}}",
            "recommendations.rightsizing.cpu: not valid PromQL",
        ),
        # Timeouts Prometheus would cap or reject (1e6 s was sent as 1.2096e+06s).
        (
            "prometheus: {timeout: 1000000s}\n",
            "prometheus.timeout: Input should be less than or equal to 3600",
        ),
        (
            "targets: [{name: d, query: x, timeout: 2w}]",
            "targets[0].timeout: Input should be less than",
        ),
        (
            "remote_write: {url: 'http://rw', timeout: 1d}\n",
            "remote_write.timeout: Input should be less",
        ),
        # Horizons beyond the configured maximum, and the maximum itself configurable.
        (
            "targets: [{name: d, query: x, step: 5m, horizons: [100y]}]",
            "targets[0] (d).horizons: forecasting 36500d at a 5m step is 10512000 points per series, over "
            "limits.max_horizon_points (11000)",
        ),
        (
            "limits: {max_horizon_points: 100}\ntargets: [{name: d, query: x, step: 1h, horizons: [7d]}]",
            "targets[0] (d).horizons: forecasting 7d at a 1h step is 168 points",
        ),
        (
            "budgets: [{name: b, spend_rate: x, amount: 10, step: 1m}]",
            "budgets[0] (b).step: forecasting",
        ),
        # A season shorter than two steps is no season at this resolution.
        (
            "targets: [{name: d, query: x, step: 1h, season: 30m}]",
            "targets[0] (d): season 30m spans fewer than two steps of 1h",
        ),
        # Out-of-range values.
        (
            "targets: [{name: d, query: x, capacity: -1}]",
            "targets[0].capacity: a capacity is a finite number >= 0",
        ),
        ("max_concurrency: 100000\n", "max_concurrency: Input should be less than or equal to 256"),
        # The anomaly page budget and its companions.
        (
            "targets: [{name: d, query: x, anomaly_budget: 0}]",
            "targets[0].anomaly_budget: Input should be greater than 0",
        ),
        (
            "defaults: {anomaly_target_budget: -3}\n",
            "defaults.anomaly_target_budget: Input should be greater than 0",
        ),
        (
            "targets: [{name: d, query: x, anomaly_min_effect: -0.1}]",
            "targets[0].anomaly_min_effect: Input should be greater than or equal to 0",
        ),
        (
            "defaults: {anomaly_direction: sideways}\n",
            "defaults.anomaly_direction: Input should be 'up'",
        ),
        ("targets: [{name: d, query: x, anomaly_for: soon}]", "targets[0].anomaly_for"),
    ],
)
def test_what_would_fail_every_cycle_is_refused_with_its_key(tmp_path, capsys, text, expected):
    code, out = check(tmp_path, text + "\n", capsys)
    assert code == 2, out
    assert expected in out, out


def test_a_zero_capacity_is_allowed(tmp_path, capsys):
    code, out = check(
        tmp_path, "targets: [{name: d, query: x, capacity: 0, capacity_direction: below}]\n", capsys
    )
    assert code == 0, out


@pytest.mark.parametrize(
    "url",
    [
        "ftp://admin:s3cret@prom:9090",
        "admin:s3cret@prom:9090",
        "http://admin:s3cret@prom:9090/${UNSET_FOR_THIS_TEST}",
    ],
)
def test_credentials_in_urls_never_reach_config_errors(tmp_path, capsys, url):
    code, out = check(tmp_path, f"prometheus: {{url: '{url}'}}\n", capsys)
    assert code == 2 and "prometheus.url" in out, out
    assert "s3cret" not in out and "admin:" not in out, out


def test_credentials_in_urls_never_reach_log_lines():
    record = logging.LogRecord(
        "promcast",
        logging.ERROR,
        __file__,
        1,
        "cannot query https://bob:hunter2@prom:9090/api",
        None,
        None,
    )
    record.url = "http://alice:pw@vm:8428"
    line = LogfmtFormatter().format(record)
    assert "hunter2" not in line and "alice" not in line and ":pw@" not in line
    assert "https://prom:9090/api" in line and "http://vm:8428" in line


@pytest.mark.parametrize("program", ["forecaster", "exporter"])
def test_a_non_utf8_config_is_a_clear_error_not_a_traceback(tmp_path, program):
    cfg = tmp_path / "f.yml"
    cfg.write_bytes(b"# caf\xe9\nprometheus: {}\n")
    proc = subprocess.run(
        [sys.executable, "-m", f"promcast_{program}", "--config.file", str(cfg), "check-config"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "line 1: not UTF-8 text (byte 0xe9 at offset 5)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_exporter_checks_its_config_too(tmp_path, capsys):
    cfg = tmp_path / "e.yml"
    cfg.write_text(
        "providers: {openstack: {enabled: true, config_file: /nonexistent/clouds.yaml}}\n"
    )
    with pytest.raises(SystemExit) as exc:
        exporter_cli.main(["--config.file", str(cfg), "check-config"])
    assert exc.value.code == 2
    assert (
        "providers.openstack.config_file: cannot read /nonexistent/clouds.yaml"
        in capsys.readouterr().err
    )
    cfg.write_text("providers: {demo: {enabled: true}}\n")
    assert exporter_cli.main(["--config.file", str(cfg), "check-config"]) == 0


def test_the_service_refuses_to_start_on_a_missing_file(tmp_path):
    cfg = tmp_path / "f.yml"
    cfg.write_text(
        "remote_write: {url: 'http://127.0.0.1:1/api/v1/write', "
        "bearer_token_file: /nonexistent/token}\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "promcast_forecaster",
            "--config.file",
            str(cfg),
            "--web.listen-address=127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "remote_write.bearer_token_file: cannot read /nonexistent/token" in proc.stderr


def test_a_tls_file_that_is_not_pem_is_refused(tmp_path, capsys):
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    code, out = check(
        tmp_path, f"prometheus: {{url: 'https://p:9090', tls_config: {{ca_file: {ca}}}}}\n", capsys
    )
    assert code == 2 and f"prometheus: cannot use tls_config.ca_file {ca}" in out, out
