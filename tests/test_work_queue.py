"""The worker's queue: newer requests drop stale ones; exports queue up."""

import threading

from glare_core.work_queue import KindRule, RequestQueue


def test_request_queue_drops_stale_requests_and_cancels_the_running_one() -> None:
    queue = RequestQueue()
    first = queue.submit("full", lambda p, c: 1)
    running = queue.take()
    assert running is first
    dragged = queue.submit("drag", lambda p, c: 2, KindRule(supersedes=("full",)))
    assert first.token.cancelled
    queue.submit("screen", lambda p, c: 3)
    newest = queue.submit("drag", lambda p, c: 4)
    assert dragged.token.cancelled and newest.generation > dragged.generation
    assert queue.pending_kinds == ["screen", "drag"]
    queue.done(running)
    queue.close()
    assert queue.take() is None


def test_a_drag_step_replaces_the_queued_preview_but_lets_the_running_one_finish() -> None:
    """Every step of a drag cancelled the preview rendering: none finished while it moved."""
    queue = RequestQueue()
    first = queue.submit("drag", lambda p, c: 1)
    running = queue.take()
    step = KindRule(lets_finish=("drag",))
    steps = [queue.submit("drag", lambda p, c: 2, step) for _ in range(3)]
    assert not first.token.cancelled
    assert [step.token.cancelled for step in steps] == [True, True, False]
    assert queue.pending_kinds == ["drag"]
    queue.submit("open", lambda p, c: None, KindRule(supersedes=("drag",)))  # a new photo: not so
    assert first.token.cancelled and steps[-1].token.cancelled
    queue.done(running)
    queue.close()


def test_exports_queue_up_instead_of_replacing_each_other() -> None:
    queue = RequestQueue()
    first = queue.submit("save", lambda p, c: "a.jpg", KindRule(queue_up=True))
    running = queue.take()
    later = [queue.submit("save", lambda p, c: None, KindRule(queue_up=True)) for _ in range(2)]
    assert not first.token.cancelled and not any(each.token.cancelled for each in later)
    assert queue.pending_kinds == ["save", "save"]
    queue.submit("full", lambda p, c: None)
    queue.cancel(sparing=("save",))  # as the window closes: renders go, exports stay
    assert queue.pending_kinds == ["save", "save"] and not first.token.cancelled
    queue.done(running)
    queue.close()


def test_a_cancel_says_which_running_request_it_stopped_and_which_queued_it_dropped() -> None:
    """The window could only guess the running request from the last signal it had heard:
    Esc as a render ended stopped the export just started behind it, and nothing said so."""
    queue = RequestQueue()
    render = queue.submit("full", lambda p, c: None)
    export = queue.submit("save", lambda p, c: None, KindRule(queue_up=True))
    queue.submit("drag", lambda p, c: None)
    queue.done(queue.take())  # the render ends; the export starts
    assert queue.take() is export
    cancellation = queue.cancel(["full", "save", "drag"])
    assert cancellation.running is export and export.token.cancelled
    assert cancellation.dropped == ["drag"] and not render.token.cancelled
    spared = queue.cancel(sparing=("save",))
    assert spared.running is None and spared.dropped == []
    queue.done(export)
    assert queue.cancel().running is None
    queue.close()


def test_request_queue_take_blocks_until_a_request_arrives() -> None:
    queue = RequestQueue()
    taken: list[str] = []
    consumer = threading.Thread(target=lambda: taken.append(queue.take(timeout=10).kind))
    consumer.start()
    queue.submit("open", lambda p, c: None)
    consumer.join(timeout=10)
    assert taken == ["open"]
