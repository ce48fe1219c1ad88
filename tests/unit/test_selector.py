import pytest

from promcast_forecaster.selector import SelectorError, matcher_fn, parse_selector

LABELS = {"__name__": "promcast_forecast_mean", "target": "disk", "resource_id": "logs-1"}


@pytest.mark.parametrize(
    "sel,hit",
    [
        ("promcast_forecast_mean", True),
        ('promcast_forecast_mean{target="disk"}', True),
        ("promcast_forecast_mean{target='disk', resource_id=~\"logs-.*\"}", True),
        ('{__name__=~"promcast_forecast_.*", target!="cpu"}', True),
        ('promcast_forecast_mean{resource_id!~"logs.*"}', False),
        ('promcast_forecast_mean{resource_id=~"logs"}', False),  # anchored like PromQL
        ("promcast_forecast_upper", False),
        ('promcast_forecast_mean{missing=""}', True),
    ],
)
def test_matching(sel, hit):
    assert matcher_fn(sel)(LABELS) is hit


@pytest.mark.parametrize(
    "bad", ["rate(x[5m])", "sum(x)", "x{a=b}", '{a=~"("}', '{a=""}', "", "x + y"]
)
def test_rejects_what_is_not_a_selector(bad):
    with pytest.raises(SelectorError):
        parse_selector(bad)


def test_range_selectors_split_into_selector_and_seconds():
    from promcast_forecaster.selector import split_range

    assert split_range("promcast_forecast_mean[86400s]") == ("promcast_forecast_mean", 86400.0)
    assert split_range("x{a='b',c=\"[5m]\"}[1h30m]") == ("x{a='b',c=\"[5m]\"}", 5400.0)
    assert split_range('x{a="[5m]"}') == ('x{a="[5m]"}', None)
    assert split_range("rate(x[5m])") == ("rate(x[5m])", None)
    with pytest.raises(SelectorError, match="bad range"):
        split_range("x[soon]")
    with pytest.raises(SelectorError, match="must be positive"):
        split_range("x[0s]")
