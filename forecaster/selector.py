"""PromQL series selectors (``name{label="v", other=~"re.*"}``, and range selectors
``name{...}[1d]``): parsing and matching.

The future-curve datasource answers selectors only; a query with functions or operators gets a
clear ``bad_data`` error instead of a wrong answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping

from exporter.core.durations import parse_duration

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
_MATCHER = re.compile(rf"\s*({_LABEL})\s*(=~|!~|!=|=)\s*({_STRING})\s*(,|$)")
_SELECTOR = re.compile(rf"^\s*({_NAME})?\s*(?:\{{(.*)\}})?\s*$", re.S)
_RANGE = re.compile(r"^(.*?)\[\s*([0-9a-z]+)\s*\]\s*$", re.S)


class SelectorError(ValueError):
    pass


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.label, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        hit = re.fullmatch(self.value, have) is not None  # PromQL regexes are fully anchored
        return hit if self.op == "=~" else not hit


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def parse_selector(text: str) -> list[Matcher]:
    """Matchers of a selector; raises SelectorError for anything that is not a plain selector."""
    m = _SELECTOR.match(text)
    if not m or (m.group(1) is None and m.group(2) is None):
        raise SelectorError(f"only series selectors like name{{label=\"value\"}} are supported, got {text!r}")
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
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise SelectorError(f"invalid regular expression {value!r}: {exc}") from None
        matchers.append(Matcher(mm.group(1), op, value))
        pos = mm.end()
    if not any(x.op in ("=", "=~") and not x.matches({}) for x in matchers):
        raise SelectorError("a selector needs at least one matcher that does not match empty labels")
    return matchers


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
        raise SelectorError(f"bad range {m.group(2)!r} in {text!r}: use a duration like 1h or "
                            "86400s") from None
    if seconds <= 0:
        raise SelectorError(f"the range of {text!r} must be positive")
    return m.group(1), seconds
