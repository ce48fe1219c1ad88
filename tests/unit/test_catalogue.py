"""The metric catalogue's conventions, and that rules only use catalogued series."""

import re
from pathlib import Path

import yaml

from promcast_common.catalogue import CATALOGUE, Families

ROOT = Path(__file__).resolve().parents[2]
UNITS = (
    "_seconds",
    "_bytes",
    "_ratio",
    "_usd",
    "_total",
    "_info",
    "_vcpus",
    "_series",
    "_samples",
    "_successful",
    "_up",
    "_success",
    "_stale",
    "_mean",
    "_lower",
    "_upper",
    "_observed",
    "_expected",
    "_capacity",
    "_score",
    "_amount",
    "_spend",
    "_mase",
    "_replicas",
    "_per_second",
    "_requests",
)


def test_names_follow_prometheus_conventions():
    for name, s in CATALOGUE.items():
        assert name.startswith("promcast_"), name
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", name), name
        assert (s.type == "counter") == name.endswith("_total"), name
        assert name.endswith(UNITS), f"{name}: end with a base unit or a known suffix"
        assert s.help.endswith("."), name


def test_families_reject_uncatalogued_labels():
    out = Families()
    out.add("promcast_exporter_refresh_success", {"provider": "demo"}, 1)
    try:
        out.add("promcast_exporter_refresh_success", {"provider": "demo", "oops": "x"}, 1)
    except ValueError as exc:
        assert "oops" in str(exc)
    else:
        raise AssertionError("an uncatalogued label must be refused")


def rule_names() -> tuple[set[str], set[str]]:
    """(promcast_ series the rules read, names the rules record)."""
    used, recorded = set(), set()
    for path in (ROOT / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    recorded.add(rule["record"])
                used |= set(re.findall(r"\bpromcast_[a-z0-9_]+", rule["expr"]))
    return used, recorded


def test_rules_use_only_catalogued_series():
    used, recorded = rule_names()
    unknown = {n for n in used if n not in CATALOGUE and not any(n in r for r in recorded)}
    assert not unknown, f"not in common/catalogue.py: {sorted(unknown)}"
    for r in recorded:
        level, metric, ops = r.split(":")  # level:metric:operations
        assert level and ops and metric.startswith("promcast_"), r
