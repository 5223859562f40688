"""One progress and cancellation vocabulary for the CLI, the batch engine and the GUI.

Long work in ``glare_core`` takes an optional :data:`ProgressFn` and an optional
:class:`CancelToken`. The CLI turns progress into a progress bar, the GUI into
signals; both cancel by calling :meth:`CancelToken.cancel` from any thread.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import FrameType

#: Called with a fraction in [0, 1] and a short human-readable stage label.
ProgressFn = Callable[[float, str], None]
#: the exit codes of commands that run long work: done, done with some files failed, and
#: stopped because it was cancelled (what shells report for Ctrl-C)
EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_CANCELLED = 130
#: signals that ask long work to stop cleanly: Ctrl-C, and what ``kill``, job schedulers and
#: service managers send
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Cancelled(Exception):  # noqa: N818 - the user's choice, not an error
    """Raised inside long work when its :class:`CancelToken` was cancelled."""


class CancelToken:
    """A thread-safe flag that long work polls between units (tiles, files)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


#: the token of the network run in progress in this thread (Enhancer._stopping_on), for the
#: loops inside one layer that run long on a large image (a deformable convolution's taps)
_RUNNING_TOKEN: ContextVar[CancelToken | None] = ContextVar("running_token", default=None)


@contextmanager
def cancelled_by(cancel: CancelToken | None) -> Iterator[None]:
    """Inside, :func:`check_running` checks ``cancel``."""
    reset = _RUNNING_TOKEN.set(cancel)
    try:
        yield
    finally:
        _RUNNING_TOKEN.reset(reset)


def check_running() -> None:
    """Raise :class:`Cancelled` if the run this thread is in was cancelled; no-op outside one."""
    check(_RUNNING_TOKEN.get())


def clamped(fraction: float) -> float:
    """``fraction`` within [0, 1]: a stage's estimate may run over its share."""
    return min(max(fraction, 0.0), 1.0)


def report(progress: ProgressFn | None, fraction: float, stage: str) -> None:
    """Call ``progress`` if there is one; clamps the fraction to [0, 1]."""
    if progress is not None:
        progress(clamped(fraction), stage)


def check(cancel: CancelToken | None) -> None:
    """Raise :class:`Cancelled` if ``cancel`` is set."""
    if cancel is not None:
        cancel.raise_if_cancelled()


def part_of(progress: ProgressFn | None, start: float, end: float) -> ProgressFn | None:
    """``progress`` for one part of a longer job: its fractions mapped onto [start, end]."""
    if progress is None:
        return None

    def reported(fraction: float, stage: str) -> None:
        report(progress, start + fraction * (end - start), stage)

    return reported


def quit_hint(signum: int) -> str:
    """What to add to "stopping..." after ``signum``: only Ctrl-C quits at once when repeated."""
    return " (Ctrl-C again to quit now)" if signum == signal.SIGINT else ""


@contextmanager
def stop_requests(request_stop: Callable[[int], None]) -> Iterator[None]:
    """While the block runs, the first Ctrl-C or SIGTERM calls ``request_stop(signum)``
    instead of ending the process, so that the work can stop where its files are complete.

    A second Ctrl-C acts as it would without us (``KeyboardInterrupt``): that is how a user
    who does not want to wait quits at once. SIGTERM keeps asking for the clean stop already
    asked for however often it comes (a job scheduler may send it both to a process and to its
    launcher, which passes it on). A signal the process was started ignoring (``nohup``, a
    background job of a shell without job control) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # Python installs signal handlers from the main thread only
        return
    requested: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            signal.signal(signum, previous[signum])
        if not requested:
            requested.append(signum)
            request_stop(signum)

    watched = [each for each in STOP_SIGNALS if signal.getsignal(each) is not signal.SIG_IGN]
    previous = {each: signal.signal(each, on_signal) for each in watched}
    try:
        yield
    finally:
        for stop_signal, handler in previous.items():
            signal.signal(stop_signal, handler)
