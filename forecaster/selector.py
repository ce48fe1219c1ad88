"""PromQL series selectors (``name{label="v", other=~"re.*"}``, and range selectors
``name{...}[1d]``): parsing and matching.

The future-curve datasource answers selectors only; a query with functions or operators gets a
clear ``bad_data`` error instead of a wrong answer.

Everything here runs on text from the network, so every regular expression, the user's and the
parser's own, is RE2 (as in Prometheus): linear in the input, never backtracking. Python's ``re``
took minutes on a 2 kB selector of spaces and forever on ``=~"promcast_((.+)+)+!"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import re2

from promcast_common.durations import parse_duration

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a bad user regex is reported to the user, not logged by the library
_OPTIONS.max_mem = 1 << 20  # per compiled regex (RE2's default is 8 MiB): many per request add up
MAX_SELECTORS = 100  # match[] selectors in one request (Grafana sends a handful)
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
_MATCHER = re2.compile(rf"\s*({_LABEL})\s*(=~|!~|!=|=)\s*({_STRING})\s*(,|$)", _OPTIONS)
_SELECTOR = re2.compile(rf"(?s)^\s*({_NAME})?\s*(?:\{{(.*)\}})?\s*$", _OPTIONS)
_RANGE = re2.compile(r"(?s)^(.*?)\[\s*([0-9a-z]+)\s*\]\s*$", _OPTIONS)


class SelectorError(ValueError):
    pass


def compile_regex(value: str) -> Any:
    """A label-matcher regex as Prometheus compiles it: RE2 syntax, anchored at both ends.

    The value is checked on its own first: anchored blindly, ``a)|(b`` would compile to a
    different alternation instead of being refused."""
    try:
        re2.compile(value, _OPTIONS)
        return re2.compile(f"^(?:{value})$", _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise SelectorError(
            f"invalid regular expression {value!r}: {reason} (RE2 syntax, as in Prometheus)"
        ) from None


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str
    regex: Any = field(default=None, compare=False, repr=False)  # a compiled RE2 pattern

    def matches(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.label, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        hit = (self.regex or compile_regex(self.value)).search(have) is not None
        return hit if self.op == "=~" else not hit


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def parse_selector(text: str) -> list[Matcher]:
    """Matchers of a selector; raises SelectorError for anything that is not a plain selector."""
    m = _SELECTOR.match(text)
    if not m or (m.group(1) is None and m.group(2) is None):
        raise SelectorError(
            f'only series selectors like name{{label="value"}} are supported, got {text!r}'
        )
    matchers = []
    if m.group(1):
        matchers.append(Matcher("__name__", "=", m.group(1)))
    body = (m.group(2) or "").strip()
    pos = 0
    while pos < len(body):
        mm = _MATCHER.match(body, pos)
        if not mm:
            raise SelectorError(f"cannot parse label matchers at {body[pos:]!r} in {text!r}")
        op, value = mm.group(2), _unquote(mm.group(3))
        regex = compile_regex(value) if op in ("=~", "!~") else None
        matchers.append(Matcher(mm.group(1), op, value, regex))
        pos = mm.end()
    if not any(x.op in ("=", "=~") and not x.matches({}) for x in matchers):
        raise SelectorError(
            "a selector needs at least one matcher that does not match empty labels"
        )
    return matchers


def any_matcher_fn(texts: list[str]) -> Callable[[Mapping[str, str]], bool] | None:
    """Labels matching any of the selectors (``match[]``); None when there are none."""
    if len(texts) > MAX_SELECTORS:
        raise SelectorError(
            f"{len(texts)} match[] selectors; at most {MAX_SELECTORS} in one request"
        )
    if not texts:
        return None
    matchers = [matcher_fn(t) for t in texts]
    return lambda labels: any(m(labels) for m in matchers)


def matcher_fn(text: str) -> Callable[[Mapping[str, str]], bool]:
    matchers = parse_selector(text)
    return lambda labels: all(x.matches(labels) for x in matchers)


def split_range(text: str) -> tuple[str, float | None]:
    """A range selector's series selector and its range in seconds (``x{a="b"}[1d]`` gives
    ``('x{a="b"}', 86400.0)``); a plain selector comes back with None."""
    m = _RANGE.match(text)
    if not m or m.group(1).rstrip().endswith("]"):
        return text, None
    try:
        seconds = parse_duration(m.group(2))
    except ValueError:
        raise SelectorError(
            f"bad range {m.group(2)!r} in {text!r}: use a duration like 1h or 86400s"
        ) from None
    if seconds <= 0:
        raise SelectorError(f"the range of {text!r} must be positive")
    return m.group(1), seconds
