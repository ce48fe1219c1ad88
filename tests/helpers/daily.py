"""The benchmarks' synthetic daily series (weekly and yearly cycles, a trend change, incidents),
so tests and the accuracy benchmark judge the long-horizon model on the same shape."""

from __future__ import annotations

import functools
import importlib.util
import sys
from types import ModuleType

import numpy as np

from tests.helpers.paths import ROOT


@functools.cache
def _bench_data() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_bench_data", ROOT / "benchmarks" / "_data.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up by name
    spec.loader.exec_module(module)
    return module


def synthetic_daily(years: float = 8.0, n: int = 1, seed: int = 20) -> np.ndarray:
    return _bench_data().synthetic_daily(years=years, n=n, seed=seed)
