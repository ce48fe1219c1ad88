"""What every benchmark checks before its figures count: that the work it timed was done.

A figure measured on work that silently did not happen (a cycle that lost its series, a fit
that failed, a scrape that returned an error page) is worse than none. Each benchmark states
what must hold with :func:`require`, and :func:`run` turns a broken promise into a clear
message on stderr and a non-zero exit status.
"""

from __future__ import annotations

import sys
from typing import Callable


class NotDone(Exception):
    """The benchmark's timed work was not (all) done: its figures mean nothing."""


def require(ok: bool, what: str) -> None:
    """Fail the benchmark with ``what`` (say what was expected and what was found) unless ``ok``."""
    if not ok:
        raise NotDone(what)


def run(main: Callable[[], int]) -> int:
    """``main()``'s status, or 1 with the reason when a :func:`require` failed."""
    try:
        return main()
    except NotDone as exc:
        print(f"\nbenchmark FAILED, its figures are not valid: {exc}", file=sys.stderr)
        return 1
