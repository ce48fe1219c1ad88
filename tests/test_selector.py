import pytest

from forecaster.selector import SelectorError, matcher_fn, parse_selector

LABELS = {"__name__": "promcast_forecast_mean", "target": "disk", "resource_id": "logs-1"}


@pytest.mark.parametrize("sel,hit", [
    ("promcast_forecast_mean", True),
    ('promcast_forecast_mean{target="disk"}', True),
    ("promcast_forecast_mean{target='disk', resource_id=~\"logs-.*\"}", True),
    ('{__name__=~"promcast_forecast_.*", target!="cpu"}', True),
    ('promcast_forecast_mean{resource_id!~"logs.*"}', False),
    ('promcast_forecast_mean{resource_id=~"logs"}', False),  # anchored like PromQL
    ('promcast_forecast_upper', False),
    ('promcast_forecast_mean{missing=""}', True),
])
def test_matching(sel, hit):
    assert matcher_fn(sel)(LABELS) is hit


@pytest.mark.parametrize("bad", ["rate(x[5m])", "sum(x)", "x{a=b}", '{a=~"("}', '{a=""}', "", "x + y"])
def test_rejects_what_is_not_a_selector(bad):
    with pytest.raises(SelectorError):
        parse_selector(bad)
