"""One progress and cancellation vocabulary for the CLI, the batch engine and the GUI.

Long work in ``glare_core`` takes an optional :data:`ProgressFn` and an optional
:class:`CancelToken`. The CLI turns progress into a progress bar, the GUI into
signals; both cancel by calling :meth:`CancelToken.cancel` from any thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

#: Called with a fraction in [0, 1] and a short human-readable stage label.
ProgressFn = Callable[[float, str], None]
#: the exit code of a command that stopped because it was cancelled (what shells report for
#: Ctrl-C)
EXIT_CANCELLED = 130


class Cancelled(Exception):
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


def report(progress: ProgressFn | None, fraction: float, stage: str) -> None:
    """Call ``progress`` if there is one; clamps the fraction to [0, 1]."""
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), stage)


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
