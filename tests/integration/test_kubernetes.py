"""The Kubernetes manifests and the monitoring mixin, offline: every overlay builds with
`kubectl kustomize`, every object validates against the Kubernetes and Prometheus Operator
schemas, the generated PrometheusRule, dashboards, datasource and config are their sources, the
rules in the PrometheusRule pass `promtool check rules`, and the mixin yields exactly the shipped
rules and dashboards."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import subprocess
from functools import lru_cache

import jsonschema
import kubernetes_validate
import pytest
import yaml

from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig
from tests.helpers.paths import ROOT
from tests.helpers.processes import need

KUBE = ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(p.name for p in (KUBE / "overlays").iterdir())
SCHEMAS = KUBE / "schemas"
MIXIN = ROOT / "deploy" / "mixin" / "mixin.libsonnet"
# The oldest Kubernetes the manifests are for: StatefulSet pods carry their ordinal as the label
# apps.kubernetes.io/pod-index from 1.28 on.
KUBERNETES_VERSION = "1.28.0"
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.yaml",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.yaml",
}


def _load_generator():
    spec = importlib.util.spec_from_file_location(
        "promcast_deploy_generate", ROOT / "deploy" / "generate.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _load_generator()


@lru_cache(maxsize=None)
def build(overlay: str) -> tuple[dict, ...]:
    need("kubectl")
    out = subprocess.run(
        ["kubectl", "kustomize", str(KUBE / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, f"kubectl kustomize overlays/{overlay}: {out.stderr}"
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def objects(overlay: str, kind: str) -> list[dict]:
    return [d for d in build(overlay) if d["kind"] == kind]


def one(overlay: str, kind: str, name: str) -> dict:
    (obj,) = [d for d in objects(overlay, kind) if d["metadata"]["name"] == name]
    return obj


def strict(schema: dict) -> dict:
    """The schema with unknown fields rejected wherever it lists the known ones: the API server
    would prune a misspelt field silently, this test should not."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    schema["properties"]["metadata"] = {"type": "object"}
    return schema


@lru_cache(maxsize=None)
def crd_validator(file: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(strict(yaml.safe_load((SCHEMAS / file).read_text())))


def schema_errors(doc: dict) -> list[str]:
    where = f"{doc['kind']}/{doc['metadata']['name']}"
    crd = CRD_SCHEMAS.get((doc["apiVersion"], doc["kind"]))
    if crd is not None:
        return [
            f"{where}: {'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in crd_validator(crd).iter_errors(doc)
        ]
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{where}: {'.'.join(map(str, exc.path))}: {exc.message}"]
    return []


def pod_specs(overlay: str) -> list[tuple[str, dict]]:
    return [
        (d["metadata"]["name"], d["spec"]["template"]["spec"])
        for d in build(overlay)
        if d["kind"] in ("Deployment", "StatefulSet")
    ]


def flag(args: list[str], name: str) -> str:
    (value,) = [a.split("=", 1)[1] for a in args if a.startswith(name + "=")]
    return value


# --- generated files ---------------------------------------------------------------------------


def test_generated_files_are_what_their_sources_produce():
    assert generate.outdated() == [], "run python deploy/generate.py and commit the result"


def test_prometheus_rule_holds_exactly_the_rules_file():
    (rule,) = yaml.safe_load_all((KUBE / "base" / "generated" / "prometheusrule.yaml").read_text())
    assert (
        rule["spec"]["groups"]
        == yaml.safe_load((ROOT / "rules" / "promcast.rules.yml").read_text())["groups"]
    )


def test_a_changed_rules_file_makes_the_generated_files_out_of_date(tmp_path, monkeypatch):
    rules = tmp_path / "promcast.rules.yml"
    text = (ROOT / "rules" / "promcast.rules.yml").read_text()
    rules.write_text(text.replace("for: 15m", "for: 20m", 1))
    monkeypatch.setattr(generate, "RULES", rules)
    assert {p.name for p in generate.outdated()} == {"prometheusrule.yaml"}


def test_a_changed_rules_template_makes_the_mixin_out_of_date(tmp_path, monkeypatch):
    import rules.generate as rules_generate

    template = tmp_path / "promcast.rules.template.yml"
    text = (ROOT / "rules" / "source" / "promcast.rules.template.yml").read_text()
    template.write_text(text.replace("for: 15m", "for: 20m", 1))
    monkeypatch.setattr(rules_generate, "TEMPLATE", template)
    assert {p.name for p in generate.outdated()} == {"generated.libsonnet"}


# --- the overlays ------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_and_every_object_validates(overlay):
    docs = build(overlay)
    kinds = {d["kind"] for d in docs}
    assert {
        "Deployment",
        "StatefulSet",
        "Service",
        "ConfigMap",
        "ServiceAccount",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
        "PrometheusRule",
    } <= kinds
    assert {d["metadata"].get("namespace") for d in docs} == {"monitoring"}
    errors = [e for d in docs for e in schema_errors(d)]
    assert errors == []


def test_schema_validation_catches_a_misspelt_field():
    (monitor, *_) = objects("single", "ServiceMonitor")
    bad = copy.deepcopy(monitor)
    bad["spec"]["endpoints"][0]["intervall"] = "30s"
    assert any("intervall" in e for e in schema_errors(bad))
    (sts,) = objects("single", "StatefulSet")
    bad = copy.deepcopy(sts)
    bad["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFS"] = True
    assert schema_errors(bad)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_promtool_accepts_the_rules_of_the_prometheus_rule(overlay, tmp_path):
    need("promtool")
    (rule,) = objects(overlay, "PrometheusRule")
    path = tmp_path / "extracted.rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    out = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_locked_down_with_probes_and_sized_resources(overlay):
    for name, spec in pod_specs(overlay):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert (
                sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            ), name
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc.get("privileged"), name
            assert c["livenessProbe"]["httpGet"]["path"] == "/-/healthy", name
            assert c["readinessProbe"]["httpGet"]["path"] == "/-/ready", name
            assert set(c["resources"]) == {"requests", "limits"}, name
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]) & set(
                c["resources"]["limits"]
            ), name
            # Secrets reach the pods as files only.
            assert "envFrom" not in c, name
            assert not [e for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})], (
                name
            )
            assert flag(c["args"], "--config.file").startswith("/etc/promcast/"), name
        secrets = [v for v in spec["volumes"] if "secret" in v]
        assert secrets and all(v["secret"]["optional"] for v in secrets), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_statefulset_ordinal_is_the_shard_and_replicas_are_the_shard_count(overlay):
    (sts,) = objects(overlay, "StatefulSet")
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    assert flag(c["args"], "--shard.count") == str(sts["spec"]["replicas"])
    assert flag(c["args"], "--shard.index") == "$(SHARD_INDEX)"
    (env,) = [e for e in c["env"] if e["name"] == "SHARD_INDEX"]
    assert (
        env["valueFrom"]["fieldRef"]["fieldPath"]
        == "metadata.labels['apps.kubernetes.io/pod-index']"
    )
    assert one(overlay, "Service", sts["spec"]["serviceName"])["spec"]["clusterIP"] == "None"


def test_the_overlays_differ_in_the_shard_count():
    counts = {o: one(o, "StatefulSet", "promcast-forecaster")["spec"]["replicas"] for o in OVERLAYS}
    assert counts == {"single": 1, "sharded": generate.shard_count()}
    assert generate.shard_count() > 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_monitors_and_network_policies_reach_the_pods(overlay):
    services = objects(overlay, "Service")
    workloads = {
        d["metadata"]["name"]: d
        for d in build(overlay)
        if d["kind"] in ("Deployment", "StatefulSet")
    }
    for monitor in objects(overlay, "ServiceMonitor"):
        want = monitor["spec"]["selector"]["matchLabels"]
        (svc,) = [s for s in services if want.items() <= s["metadata"]["labels"].items()]
        ports = {p["name"] for p in svc["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports
        assert monitor["metadata"]["labels"]["release"]
    forecaster_monitor = one(overlay, "ServiceMonitor", "promcast-forecaster")
    assert forecaster_monitor["spec"]["endpoints"][0]["honorLabels"] is True
    for policy in objects(overlay, "NetworkPolicy"):
        name = policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        (c,) = workloads[name]["spec"]["template"]["spec"]["containers"]
        (rule,) = policy["spec"]["ingress"]
        assert [p["port"] for p in rule["ports"]] == [p["containerPort"] for p in c["ports"]]
        allowed = {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in rule["from"]
        }
        assert allowed == (
            {"prometheus", "grafana"} if name == "promcast-forecaster" else {"prometheus"}
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_dashboards_are_sidecar_config_maps_of_the_generated_json(overlay):
    maps = [
        m
        for m in objects(overlay, "ConfigMap")
        if m["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    shipped = {f"promcast-{p.name}": p.read_text() for p in (ROOT / "dashboards").glob("*.json")}
    assert {k: v for m in maps for k, v in m["data"].items()} == shipped
    for text in shipped.values():
        json.loads(text)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_forecaster_datasource_is_provisioned_per_shard(overlay):
    (ds_map,) = [
        m
        for m in objects(overlay, "ConfigMap")
        if m["metadata"].get("labels", {}).get("grafana_datasource") == "1"
    ]
    (text,) = ds_map["data"].values()
    got = yaml.safe_load(text)["datasources"]
    (proto,) = yaml.safe_load(
        (ROOT / "dashboards" / "provisioning" / "datasources" / "forecaster.yml").read_text()
    )["datasources"]
    replicas = one(overlay, "StatefulSet", "promcast-forecaster")["spec"]["replicas"]
    assert len(got) == replicas and len({d["uid"] for d in got}) == replicas
    for i, ds in enumerate(got):
        assert "forecaster" in ds["name"]  # the dashboards' ${forecaster} variable lists these
        assert {k: v for k, v in ds.items() if k not in ("name", "uid", "url")} == {
            k: v for k, v in proto.items() if k not in ("name", "uid", "url")
        }
        pod = "" if replicas == 1 else f"promcast-forecaster-{i}."
        assert ds["url"] == f"http://{pod}promcast-forecaster.monitoring.svc:9185"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_maps_hold_valid_service_configs(overlay):
    by_prefix = {m["metadata"]["name"].rsplit("-", 1)[0]: m for m in objects(overlay, "ConfigMap")}
    forecaster = yaml.safe_load(by_prefix["promcast-forecaster-config"]["data"]["forecaster.yml"])
    cfg = validate(ForecasterConfig, forecaster)
    docker = yaml.safe_load((ROOT / "docker" / "forecaster.yml").read_text())
    assert forecaster["targets"] == docker["targets"] and cfg.targets
    assert cfg.prometheus.url == "http://prometheus-operated.monitoring.svc:9090"
    from promcast_exporter.config import ExporterConfig

    validate(
        ExporterConfig,
        yaml.safe_load(by_prefix["promcast-exporter-config"]["data"]["exporter.yml"]),
    )
    # The workloads mount the generated (hash-suffixed) names.
    for _, spec in pod_specs(overlay):
        (cm,) = [v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v]
        assert cm in {m["metadata"]["name"] for m in objects(overlay, "ConfigMap")}


# --- the mixin ---------------------------------------------------------------------------------


def jsonnet(code: str) -> dict:
    need("jsonnet")
    out = subprocess.run(
        ["jsonnet", "-J", str(ROOT), "-e", code], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def mixin(overrides: str = "{}") -> dict:
    return jsonnet(
        f"local m = (import 'deploy/mixin/mixin.libsonnet') + {{_config+:: {overrides}}};"
        "{rules: m.prometheusRules, alerts: m.prometheusAlerts, dashboards: m.grafanaDashboards}"
    )


def test_mixin_yields_exactly_the_shipped_rules_and_dashboards():
    out = mixin()
    shipped = yaml.safe_load((ROOT / "rules" / "promcast.rules.yml").read_text())["groups"]
    recording = [g for g in shipped if all("record" in r for r in g["rules"])]
    alerting = [g for g in shipped if all("alert" in r for r in g["rules"])]
    assert out["rules"]["groups"] == recording
    assert out["alerts"]["groups"] == alerting
    assert len(recording) + len(alerting) == len(shipped)
    assert out["dashboards"] == {
        f"promcast-{p.name}": json.loads(p.read_text())
        for p in (ROOT / "dashboards").glob("*.json")
    }


# One alerting config, in the mixin's _config names and in rules/config.yml's.
MIXIN_CONFIG = (
    "{thresholds+: {forecaster_stale_seconds: 1800, idle_cpu_max_ratio: 0.02},"
    " exporterSelector: 'job=\"exporter\"', forecasterSelector: 'job=\"forecaster\"',"
    " teams+: {health: 'observability'},"
    " overrides: [{match: {target: 'noisy'}, thresholds: {backtest_mase_max: 3}},"
    "             {match: {target: 'db', instance: 'x$1\"é'},"
    "              thresholds: {backtest_mase_max: 1.25, capacity_imminent_lead_time_ratio: 0.25}}],"
    " runbookURLPattern: 'https://runbooks.example/%s', grafanaURL: 'https://g.example'}"
)
ALERTING_CONFIG = {
    "thresholds": {"forecaster_stale_seconds": 1800, "idle_cpu_max_ratio": 0.02},
    "selectors": {"exporter": 'job="exporter"', "forecaster": 'job="forecaster"'},
    "teams": {"health": "observability"},
    "overrides": [
        {"match": {"target": "noisy"}, "thresholds": {"backtest_mase_max": 3}},
        {
            "match": {"target": "db", "instance": 'x$1"é'},
            "thresholds": {"backtest_mase_max": 1.25, "capacity_imminent_lead_time_ratio": 0.25},
        },
    ],
    "runbook_url_pattern": "https://runbooks.example/%s",
    "grafana_url": "https://g.example",
}


def test_mixin_config_gives_the_rules_the_generator_gives_for_the_same_config(tmp_path):
    from rules.config import load
    from rules.generate import rule_groups

    out = mixin(MIXIN_CONFIG)
    path = tmp_path / "alerting.yml"
    path.write_text(yaml.safe_dump(ALERTING_CONFIG, allow_unicode=True))
    expected = rule_groups(load(path))
    assert out["rules"]["groups"] + out["alerts"]["groups"] == [
        g for g in expected if "record" in g["rules"][0]
    ] + [g for g in expected if "alert" in g["rules"][0]]
    rules = [r for g in out["rules"]["groups"] + out["alerts"]["groups"] for r in g["rules"]]
    (stale,) = [r for r in rules if r.get("alert") == "PromcastForecasterStale"]
    assert (
        'promcast_forecaster_last_success_timestamp_seconds{job="forecaster"}[1d]' in stale["expr"]
    )
    assert "> 1800" in stale["expr"] and stale["labels"]["team"] == "observability"
    assert stale["annotations"]["runbook_url"] == "https://runbooks.example/promcastforecasterstale"
    assert stale["annotations"]["dashboard_url"].startswith("https://g.example/d/")
    (quality,) = [r for r in rules if r.get("alert") == "PromcastForecastQualityDegraded"]
    assert 'label_replace(vector(1), "target", "noisy", "", "")' in quality["expr"]
    (spend,) = [
        r for r in rules if r.get("record") == "provider_service:promcast_cost_hourly_rate_usd:sum"
    ]
    assert 'promcast_cost_hourly_rate_usd{cost_type="billed", job="exporter"}' in spend["expr"]
    # Every promcast series got a selector, and the result is still valid PromQL.
    for r in rules:
        for m in re.finditer(r"(?<![\w:])(promcast_[a-z0-9_]+)(?![\w:])(\{[^}]*\})?", r["expr"]):
            assert m.group(2) and "job=" in m.group(2), (
                r.get("alert") or r.get("record"),
                m.group(0),
            )
    need("promtool")
    path = tmp_path / "mixin.rules.yml"
    path.write_text(yaml.safe_dump({"groups": out["rules"]["groups"] + out["alerts"]["groups"]}))
    check = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
