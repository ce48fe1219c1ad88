"""Checks shared by the forecaster's config sections: PromQL that parses and model names that
exist, so `check-config` refuses what would otherwise fail every cycle.

Kept free of other forecaster config imports: :mod:`promcast_forecaster.config` and
:mod:`promcast_forecaster.recommend_config` both use it.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from promcast_forecaster.models import is_model_name, model_names

# Longer queries are refused before parsing: they are mistakes (or abuse), and parsing is linear
# in the length anyway, so this only bounds the memory one field can make the parser use.
MAX_QUERY_CHARS = 16_384
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def check_promql(query: str) -> str:
    """``query`` stripped, or ValueError saying why Prometheus would reject it."""
    import promql_parser  # a compiled extension; loaded only when configs are

    query = query.strip()
    if not query:
        raise ValueError("must be a PromQL expression")
    if len(query) > MAX_QUERY_CHARS:
        raise ValueError(f"is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}")
    try:
        promql_parser.parse(query)
    except ValueError as exc:
        raise ValueError(f"not valid PromQL: {exc}") from None
    return query


def check_model(name: str) -> str:
    """``name`` if it names a registered model (see :func:`promcast_forecaster.models.model_names`);
    whether a prefixed family (``sktime:``) has that class is checked when the model is built."""
    prefix, sep, rest = name.partition(":")
    if is_model_name(name) and (not sep or rest.isidentifier()):
        return name
    raise ValueError(f"unknown model {name!r}; known: {', '.join(model_names())}")


def check_label_names(names: list[str]) -> list[str]:
    """``names`` if each is a Prometheus label name and none repeats."""
    bad = [n for n in names if not LABEL_NAME.match(n)]
    if bad:
        raise ValueError(f"label names must match {LABEL_NAME.pattern}, got {bad}")
    if len(set(names)) != len(names):
        raise ValueError(f"names a label twice: {names}")
    return names


PromQL = Annotated[str, AfterValidator(check_promql)]
LabelNames = Annotated[list[str], AfterValidator(check_label_names)]
ModelName = Annotated[str, AfterValidator(check_model)]
