"""The desktop app's to-do list for its one worker thread, without Qt.

One request per kind at a time: newer requests drop the stale ones they supersede and
cancel the running one; exports queue up behind each other instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from glare_core.progress import CancelToken, ProgressFn

#: a unit of background work: gets a progress callback and a cancel token
Job = Callable[[ProgressFn, CancelToken], object]


@dataclass
class Request:
    kind: str
    generation: int
    job: Job
    token: CancelToken = field(default_factory=CancelToken)


@dataclass(frozen=True)
class Cancellation:
    """What a cancel stopped: the kinds of the queued requests it dropped (they never start,
    so nothing else tells of them) and the running request it cancelled, if any (which one
    is running can change before the caller hears of it)."""

    dropped: list[str]
    running: Request | None


@dataclass(frozen=True)
class KindRule:
    """What a new request of a kind K does to the others.

    It removes queued requests of kind K and of every kind it ``supersedes``, and cancels
    the running request if it is one of those kinds, unless that one's kind is in
    ``lets_finish`` (a drag preview: cancelled by every next step of a drag, none would ever
    finish while the slider moves); with ``queue_up``, requests of kind K wait behind each
    other instead (exports: each writes a file of its own).
    """

    supersedes: Sequence[str] = ()
    queue_up: bool = False
    lets_finish: Sequence[str] = ()


#: a new request replaces the queued and running ones of its kind, and nothing else
REPLACES_ITS_KIND = KindRule()


class RequestQueue:
    """Thread-safe queue of jobs where newer requests drop stale ones (see
    :class:`KindRule`). Generations increase with every submission, so a consumer can
    ignore late results.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._pending: list[Request] = []
        self._running: Request | None = None
        self._generation = 0
        self._closed = False

    def submit(self, kind: str, job: Job, rule: KindRule = REPLACES_ITS_KIND) -> Request:
        stale = set(rule.supersedes) if rule.queue_up else {kind, *rule.supersedes}
        with self._condition:
            self._generation += 1
            request = Request(kind, self._generation, job)
            self._drop(stale, running_spared=set(rule.lets_finish))
            self._pending.append(request)
            self._condition.notify()
            return request

    def cancel(
        self, kinds: Sequence[str] | None = None, *, sparing: Sequence[str] = ()
    ) -> Cancellation:
        """Drop queued and cancel running requests of ``kinds`` (all when None), except
        those of the kinds in ``sparing``."""
        with self._condition:
            return self._drop(set(kinds) if kinds is not None else None, set(sparing))

    def _drop(
        self,
        kinds: set[str] | None,
        sparing: AbstractSet[str] = frozenset(),
        running_spared: AbstractSet[str] = frozenset(),
    ) -> Cancellation:
        def matches(request: Request) -> bool:
            return (kinds is None or request.kind in kinds) and request.kind not in sparing

        dropped = [request for request in self._pending if matches(request)]
        for request in dropped:
            request.token.cancel()
        self._pending = [r for r in self._pending if not matches(r)]
        running = self._running
        if running is None or not matches(running) or running.kind in running_spared:
            running = None
        else:
            running.token.cancel()
        return Cancellation([request.kind for request in dropped], running)

    def take(self, timeout: float | None = None) -> Request | None:
        """The next request (blocks); None once closed or after ``timeout`` seconds."""
        with self._condition:
            self._condition.wait_for(lambda: self._pending or self._closed, timeout)
            if self._closed or not self._pending:
                return None
            self._running = self._pending.pop(0)
            return self._running

    def done(self, request: Request) -> None:
        with self._condition:
            if self._running is request:
                self._running = None
            self._condition.notify_all()

    def wait_idle(self) -> None:
        """Block until nothing is queued or running."""
        with self._condition:
            self._condition.wait_for(lambda: not self._pending and self._running is None)

    @property
    def pending_kinds(self) -> list[str]:
        with self._condition:
            return [request.kind for request in self._pending]

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._drop(None)
            self._condition.notify_all()
