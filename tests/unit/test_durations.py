import pytest

from promcast_common.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("7d", 604800),
        ("2w", 1209600),
        ("250ms", 0.25),
        (90, 90),
        ("0s", 0),
    ],
)
def test_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "5x", "1h 30m", "m5", "-5m", True, -3])
def test_parse_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize("seconds,text", [(3600, "1h"), (604800, "7d"), (5400, "1h30m"), (0, "0s")])
def test_format_round_trips(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds
