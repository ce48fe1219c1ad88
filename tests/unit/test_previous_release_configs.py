"""Backwards compatibility: every exporter and forecaster config the previous release documented
(its README's examples) or shipped (the demo's, compose's and the Kubernetes manifests' configs)
is accepted by today's loaders, unchanged. The files are in tests/fixtures/previous_release/; a
failure here is fixed in the loader, never in the fixture."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from promcast_exporter.config import ExporterConfig
from promcast_common.config import ConfigError, load_config, read_config_file, validate
from promcast_forecaster.config import ForecasterConfig

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "previous_release"
CONFIGS = sorted(p.relative_to(FIXTURES).as_posix() for p in FIXTURES.rglob("*.yml"))
# The ${VAR} placeholders the examples use, as a user's environment would set them.
ENVIRONMENT = {"PROMCAST_AWS_EXTERNAL_ID": "from-the-environment"}
# README fragments that continue an earlier example ("# ... as above"): their targets are laid
# over the same-named targets of that example, as a reader of the README would combine them.
CONTINUES = {"readme/10-forecaster-capacity-planning.yml": "readme/08-forecaster.yml"}
# Files of the user's that validation reads, replaced by one of the same format.
USER_FILES = {"/etc/promcast/instance_types.yaml": str(ROOT / "forecaster" / "instance_types.yaml")}
# Examples the previous release refused as a whole too, with the same problems, and the change
# those problems ask for: they list keys (the README said so beside them).
REFUSED_THEN_AND_NOW: dict[str, tuple[list[str], Callable[[dict[str, Any]], object]]] = {
    "readme/02-exporter.yml": (
        [
            "providers: demo.enabled: the demo's synthetic spend would be published next to the real "
            "data of focus, cur; remove demo.enabled (the demo is off whenever another provider is "
            "enabled)"
        ],
        lambda data: data["providers"]["demo"].pop("enabled"),
    ),
}


def load(name: str) -> dict[str, Any]:
    """The file as today's loader reads it: YAML with ${VAR} expanded, problems raised."""
    data, problems = read_config_file(FIXTURES / name)
    assert problems == [], problems
    return _user_files(data)


def _user_files(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _user_files(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_user_files(v) for v in node]
    return USER_FILES.get(node, node) if isinstance(node, str) else node


def combined(name: str) -> dict[str, Any]:
    data = load(name)
    if name in CONTINUES:
        earlier = {t["name"]: t for t in load(CONTINUES[name]).get("targets", [])}
        data["targets"] = [{**earlier.get(t["name"], {}), **t} for t in data["targets"]]
    return data


def test_the_fixture_holds_every_example_and_shipped_config():
    assert len([c for c in CONFIGS if c.startswith("readme/")]) == 12
    assert {
        "demo/forecaster.yml",
        "docker/forecaster.yml",
        "deploy/kubernetes/base/config/exporter.yml",
        "deploy/kubernetes/base/generated/forecaster.yml",
    } <= set(CONFIGS)


@pytest.mark.parametrize("name", CONFIGS)
def test_previous_release_config_is_accepted(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    data = combined(name)
    model = ExporterConfig if "providers" in data else ForecasterConfig
    if name in REFUSED_THEN_AND_NOW:
        with pytest.raises(ConfigError) as err:
            validate(model, data, name)
        problems, fix = REFUSED_THEN_AND_NOW[name]
        assert err.value.problems == problems
        fix(data)
    # Files an example names (secrets, CA bundles) are the user's and not here: the keys and
    # values are validated, not the files' presence.
    cfg = validate(model, data, name)
    if not name.startswith("readme/"):  # a shipped config names no file of the user's
        assert load_config(model, FIXTURES / name) == cfg
    if isinstance(cfg, ForecasterConfig):
        names = [t.name for t in cfg.resolved_targets()]
        assert names == [t["name"] for t in data.get("targets", [])]
    else:
        for provider, settings in data["providers"].items():
            if "enabled" in settings:
                assert getattr(cfg.providers, provider).enabled == settings["enabled"], provider
