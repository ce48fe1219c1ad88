"""Model names to factories: the one place a model is registered, and where a config's model name
becomes a model.

A model module defines its class (with its :class:`~promcast_forecaster.models.base.Capabilities`) and one
``register`` call in :mod:`promcast_forecaster.models` makes it available to targets, ``offline`` and
``auto`` candidates; nothing else lists model names. This module imports no model,
so models that build other models (``auto``) import it without a cycle.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .base import DEFAULT_LEVELS, Capabilities, Model

#: ``factory(season_length, horizon=..., levels=..., **options)``; options a model does not take
#: are ignored by its factory.
Factory = Callable[..., Model]

_FACTORIES: dict[str, Factory] = {}
# Families of models named by a prefix and a class name (``sktime:ThetaForecaster``).
_PREFIXES: dict[str, tuple[Callable[..., Model], str]] = {}


def register(name: str, factory: Factory, *, replace: bool = False) -> None:
    """Make ``name`` a model name; registering a taken name is an error unless ``replace``."""
    if not name or ":" in name:
        raise ValueError(f"model name {name!r} must be non-empty and contain no ':'")
    if name in _FACTORIES and not replace:
        raise ValueError(f"model {name!r} is already registered")
    _FACTORIES[name] = factory


def register_prefix(prefix: str, factory: Callable[..., Model], placeholder: str) -> None:
    """Names ``<prefix>:<ClassName>`` build ``factory(class_name, season_length, **options)``."""
    _PREFIXES[prefix] = (factory, placeholder)


def unregister(name: str) -> None:
    _FACTORIES.pop(name, None)


def model_names() -> tuple[str, ...]:
    """Every model name a config may use (prefixed families as ``prefix:<ClassName>``)."""
    return tuple(_FACTORIES) + tuple(f"{p}:{ph}" for p, (_, ph) in _PREFIXES.items())


def is_model_name(name: str) -> bool:
    """Whether ``name`` is registered, or is of a registered prefix (its class is checked when built)."""
    if name in _FACTORIES:
        return True
    prefix, sep, rest = name.partition(":")
    return bool(sep and rest and prefix in _PREFIXES)


def make_model(
    name: str,
    season_length: int,
    *,
    horizon: int | None = None,
    levels: Sequence[int] = DEFAULT_LEVELS,
    downsample: int = 1,
    **options: Any,
) -> Model:
    """A model by its config name; unknown names raise ValueError listing the known ones.

    ``horizon`` (steps) tells models that tune themselves on a holdout how far ahead matters;
    ``levels`` is what models that calibrate their own intervals (``auto``) calibrate;
    ``downsample`` > 1 fits on block means of that many steps (long horizons), with
    ``season_length`` in original steps. Other ``options`` go to the model (e.g. ``window`` for
    drift, ``candidates`` for auto).
    """
    if downsample > 1:
        from .resample import Downsampled

        coarse_h = None if horizon is None else -(-horizon // downsample)
        return Downsampled(
            lambda m: make_model(name, m, horizon=coarse_h, levels=levels, **options),
            season_length,
            downsample,
        )
    prefix, sep, rest = name.partition(":")
    if sep and prefix in _PREFIXES:
        return _PREFIXES[prefix][0](rest, season_length, **options)
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(model_names())}")
    return factory(season_length, horizon=horizon, levels=levels, **options)


def models_with(capability: str) -> tuple[str, ...]:
    """The registered models (prefixed families aside) that declare ``capability``, so a caller
    offers a kind of model without listing names."""
    found = []
    for name in _FACTORIES:
        try:
            caps = model_capabilities(name)
        except Exception:  # noqa: BLE001 - a model that cannot be built declares nothing
            continue
        if getattr(caps, capability):
            found.append(name)
    return tuple(found)


def model_capabilities(name: str, **options: Any) -> Capabilities:
    """What the model ``name`` (with these options) is, without fitting it."""
    return make_model(name, 1, **options).capabilities
