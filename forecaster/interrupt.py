"""Fits that a stopping service can interrupt or abandon.

A refit of a large target can take a minute, and a thread cannot be killed. Fits therefore run
in daemon threads (which never hold the process at exit) under a stop flag, and the models call
:func:`checkpoint` between blocks of series: once the service is stopping, the next checkpoint
ends the fit. Outside :func:`run_interruptible` a checkpoint does nothing, so models used on their
own (tests, offline tools) are unaffected.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Callable, TypeVar

T = TypeVar("T")

_STOP: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "promcast_stop", default=None
)
_live: set[threading.Thread] = set()
_live_lock = threading.Lock()


class Interrupted(BaseException):
    """Raised at a checkpoint when the service is stopping. A BaseException, like
    KeyboardInterrupt, so that the models' ``except Exception`` fallbacks do not swallow it."""


def checkpoint() -> None:
    """End the current fit if the service that started it is stopping."""
    stop = _STOP.get()
    if stop is not None and stop.is_set():
        raise Interrupted("the service is stopping")


def busy() -> int:
    """How many interruptible fits are still running (abandoned ones included)."""
    with _live_lock:
        return sum(t.is_alive() for t in _live)


async def run_interruptible(stop: threading.Event, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in a daemon thread whose checkpoints watch ``stop``. Cancelling the await
    abandons the thread: it ends at its next checkpoint once ``stop`` is set."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(outcome: BaseException | None, value: object = None) -> None:
        if done.done():
            return  # abandoned
        if isinstance(outcome, Interrupted):
            done.cancel()
        elif outcome is not None:
            done.set_exception(outcome)
        else:
            done.set_result(value)  # type: ignore[arg-type]

    def body() -> None:
        _STOP.set(stop)
        try:
            value, outcome = fn(*args), None
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            value, outcome = None, exc
        try:
            loop.call_soon_threadsafe(settle, outcome, value)
        except RuntimeError:
            pass  # the loop is closed: nobody waits for this fit any more
        finally:
            with _live_lock:
                _live.discard(threading.current_thread())

    thread = threading.Thread(
        target=contextvars.copy_context().run,
        args=(body,),
        name=f"fit-{getattr(fn, '__name__', 'work')}",
        daemon=True,
    )
    with _live_lock:
        _live.add(thread)
    thread.start()
    return await done


def stoppable(stop: threading.Event, fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` with its checkpoints watching ``stop``, wherever it is run: in a bounded thread pool,
    where a thread of its own (:func:`run_interruptible`) would escape the pool's bound on CPU."""

    def run(*args: object) -> T:
        token = _STOP.set(stop)
        try:
            return fn(*args)
        finally:
            _STOP.reset(token)

    return run
