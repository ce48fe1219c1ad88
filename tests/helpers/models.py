"""What a fitted model keeps in memory."""

from __future__ import annotations

import numpy as np


def model_arrays(obj: object, seen: set[int] | None = None) -> list[np.ndarray]:
    """Every numpy array a model keeps, through nested containers and forecaster objects."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return [obj]
    if isinstance(obj, dict):
        return [a for v in obj.values() for a in model_arrays(v, seen)]
    if isinstance(obj, (list, tuple)):
        return [a for v in obj for a in model_arrays(v, seen)]
    if type(obj).__module__.startswith("promcast_forecaster."):
        return [a for v in vars(obj).values() for a in model_arrays(v, seen)]
    return []  # library objects (the fitted regressor) are sized by their settings, not the data
