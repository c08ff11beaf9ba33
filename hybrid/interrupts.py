"""SIGINT and SIGTERM as one clean stop request for training.

``qhybrid train`` runs inside :class:`StopSignals`: both signals are handled alike.  Outside a
:func:`deferred` block the handler raises ``KeyboardInterrupt`` at once (data loading, scikit-learn
fits: nothing to save).  Inside one — :func:`hybrid.training.fit`'s epoch loop, writing a run folder
— it only records the request; :func:`check` raises it at a safe point (``fit`` checks before every
mini-batch).  Raising from a handler at an arbitrary point is not safe there: a ``KeyboardInterrupt``
that lands inside a Numba callback of the simulator comes out as a ``SystemError``.

A second signal while a request is pending raises at once (the way out of a stuck step).

Without :class:`StopSignals` (library use) nothing changes: Python's own SIGINT handler raises
``KeyboardInterrupt`` wherever it lands, and :func:`is_interrupt` recognises the ``SystemError``
such a raise can become.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["StopSignals", "check", "deferred", "is_interrupt", "received", "pending"]

logger = logging.getLogger(__name__)

_state: dict[str, Any] = {"received": None, "pending": False, "defer": 0, "installed": 0}


def _handler(signum: int, frame: Any) -> None:
    first = _state["received"] is None
    if first:
        _state["received"] = signum
    if _state["defer"] > 0 and not _state["pending"]:
        _state["pending"] = True
        logger.warning("received %s: stopping after the current step", signal.Signals(signum).name)
        return
    if first:
        logger.warning("received %s: stopping", signal.Signals(signum).name)
    _state["pending"] = False
    raise KeyboardInterrupt


def received() -> int | None:
    """The first signal received under :class:`StopSignals` (``None``: none)."""
    return _state["received"]


def pending() -> bool:
    """A stop was requested inside a :func:`deferred` block and not raised yet."""
    return bool(_state["pending"])


def check() -> None:
    """Raise ``KeyboardInterrupt`` if a stop request is pending (and clear it)."""
    if _state["pending"]:
        _state["pending"] = False
        raise KeyboardInterrupt


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Inside the block a signal under :class:`StopSignals` only records a stop request, raised by
    :func:`check`; a request still pending when the block ends stays pending (the caller decides)."""
    _state["defer"] += 1
    try:
        yield
    finally:
        _state["defer"] -= 1


def is_interrupt(exc: BaseException) -> bool:
    """``exc`` is a ``KeyboardInterrupt``, or an error raised because one landed in native code
    (Numba reports it as a ``SystemError`` whose cause is the interrupt)."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


class StopSignals:
    """Handle SIGINT and SIGTERM as stop requests within the block (main thread only; elsewhere the
    block changes nothing).  :attr:`exit_code` is ``128 + signal`` (130 for SIGINT, 143 for SIGTERM)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        _state.update(received=None, pending=False)
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, _handler)
            _state["installed"] += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            self._previous.clear()
            _state["installed"] -= 1
        _state["pending"] = False

    @property
    def received(self) -> int | None:
        return _state["received"]

    @property
    def exit_code(self) -> int:
        sig = _state["received"]
        return 128 + int(sig if sig is not None else signal.SIGINT)
