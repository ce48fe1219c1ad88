"""promcast's version is written once; everything that shows it reads that one string."""

import importlib.metadata
import re
import sys
from pathlib import Path

import pytest
import yaml

import promcast_exporter as exporter
import promcast_forecaster as forecaster
from promcast_common.version import VERSION

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 has no tomllib
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]


def test_packages_and_distribution_report_the_one_version():
    assert exporter.__version__ == forecaster.__version__ == VERSION
    assert importlib.metadata.version("promcast") == VERSION


def test_no_other_version_literal_in_the_packages():
    pattern = re.compile(r"""^\s*(__version__|VERSION)\s*=\s*["']""", re.M)
    found = [
        p.relative_to(ROOT)
        for pkg in ("common", "exporter", "forecaster")
        for p in (ROOT / pkg).rglob("*.py")
        if pattern.search(p.read_text())
    ]
    assert found == [Path("common/version.py")]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "promcast_common.version.VERSION"
    }


def test_the_kubernetes_image_tag_is_the_version():
    kustomization = yaml.safe_load((ROOT / "deploy/kubernetes/base/kustomization.yaml").read_text())
    (image,) = [i for i in kustomization["images"] if i["name"] == "promcast"]
    assert str(image["newTag"]) == VERSION
