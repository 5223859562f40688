"""The one background thread that runs all model work, fed by a stale-dropping queue."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtCore import QObject, QThread, Signal, Slot

from glare_core.errors import GlareError
from glare_core.progress import Cancelled
from glare_core.work_queue import (
    REPLACES_ITS_KIND,
    Cancellation,
    Job,
    KindRule,
    Request,
    RequestQueue,
)

logger = logging.getLogger(__name__)


def describe_error(exc: BaseException) -> str:
    """A one-line message for a dialog or the status bar."""
    if isinstance(exc, GlareError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class RenderWorker(QObject):
    """Lives in the worker thread; runs requests one by one and reports by signals."""

    started = Signal(str, int)  # kind, generation
    progress = Signal(str, int, float, str)  # kind, generation, fraction, stage
    result = Signal(str, int, object)  # kind, generation, value the job returned
    error = Signal(str, int, str)  # kind, generation, message
    cancelled = Signal(str, int)
    finished = Signal(str, int)

    def __init__(self, queue: RequestQueue) -> None:
        super().__init__()
        self._queue = queue

    @Slot()
    def run(self) -> None:
        while (request := self._queue.take()) is not None:
            try:
                self._execute(request)
            finally:
                # off the queue before "finished" is heard: a cancel the window sends after
                # hearing it must not find this request still running
                self._queue.done(request)
            self.finished.emit(request.kind, request.generation)

    def _execute(self, request: Request) -> None:
        kind, generation = request.kind, request.generation
        self.started.emit(kind, generation)

        def progress(fraction: float, stage: str) -> None:
            self.progress.emit(kind, generation, fraction, stage)

        try:
            request.token.raise_if_cancelled()
            value = request.job(progress, request.token)
        except Cancelled:
            self.cancelled.emit(kind, generation)
        except GlareError as exc:  # a bad file or setting: the message says it all
            logger.warning("%s request failed: %s", kind, exc)
            self.error.emit(kind, generation, describe_error(exc))
        except Exception as exc:  # every failure becomes a message; the app keeps going
            logger.exception("%s request failed", kind)
            self.error.emit(kind, generation, describe_error(exc))
        else:
            self.result.emit(kind, generation, value)


class Worker(QObject):
    """Owns the thread, the queue and the worker object; the GUI talks to this."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue = RequestQueue()
        self.runner = RenderWorker(self.queue)
        self._thread = QThread()
        self._thread.setObjectName("glare-worker")
        self.runner.moveToThread(self._thread)
        self._thread.started.connect(self.runner.run)
        self._thread.start()

    def submit(self, kind: str, job: Job, rule: KindRule = REPLACES_ITS_KIND) -> int:
        """Queue ``job`` (see :class:`KindRule`); returns its generation."""
        return self.queue.submit(kind, job, rule).generation

    def cancel(self, kinds: Sequence[str] | None = None) -> Cancellation:
        """Cancel requests of ``kinds`` (all when None)."""
        return self.queue.cancel(kinds)

    def finish(self, kinds: Sequence[str]) -> None:
        """Let the queued and running requests of ``kinds`` end, cancelling every other."""
        self.queue.cancel(sparing=kinds)
        self.queue.wait_idle()

    def stop(self) -> None:
        """Cancel everything and wait for the thread (call before the app quits)."""
        self.queue.close()
        self._thread.quit()
        self._thread.wait()
