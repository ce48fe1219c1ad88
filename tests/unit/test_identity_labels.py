"""identity_labels: checked in the config, published as promcast_target_info for rules."""

import pytest
from prometheus_client import CollectorRegistry

from promcast_common.config import ConfigError, validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.service import Forecaster


def config(**fields) -> ForecasterConfig:
    return validate(
        ForecasterConfig,
        {
            "targets": [
                {"name": "node_disk", "query": "node_filesystem_avail_bytes", **fields},
                {"name": "plain", "query": "up"},
            ]
        },
        "forecaster.yml",
    )


def test_published_per_target_with_an_empty_value_when_unset():
    reg = CollectorRegistry()
    reg.register(Forecaster(config(identity_labels=["instance", "mountpoint"])))
    assert (
        reg.get_sample_value(
            "promcast_target_info",
            {"target": "node_disk", "identity_labels": "instance,mountpoint"},
        )
        == 1
    )
    assert (
        reg.get_sample_value("promcast_target_info", {"target": "plain", "identity_labels": ""})
        == 1
    )


@pytest.mark.parametrize(
    "bad, says",
    [
        (["instance", "mount-point"], "label names must match"),
        (["pod", "pod"], "names a label twice"),
    ],
)
def test_bad_names_are_refused_with_where(bad, says):
    with pytest.raises(ConfigError) as err:
        config(identity_labels=bad)
    assert any(
        p.startswith("targets[0].identity_labels") and says in p for p in err.value.problems
    ), err.value.problems
