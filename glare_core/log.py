"""Logging for the command line: warnings by default, more with ``-v``, each line ``glare: ...``."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

LEVELS_BY_VERBOSITY = (logging.WARNING, logging.INFO, logging.DEBUG)
FORMAT = "glare: %(levelname)s: %(message)s"
DEBUG_FORMAT = "glare: %(levelname)s: %(name)s: %(message)s"


def setup_logging(verbosity: int = 0) -> None:
    """Send log records to stderr; ``verbosity`` 0 shows warnings, 1 info, 2 or more debug.

    Replaces the handlers of earlier calls, so calling it again (tests do) does not double lines.
    """
    level = LEVELS_BY_VERBOSITY[min(max(verbosity, 0), len(LEVELS_BY_VERBOSITY) - 1)]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(DEBUG_FORMAT if level == logging.DEBUG else FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)


class _Collector(logging.Handler):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def collected_warnings(logger_name: str) -> Iterator[list[str]]:
    """The messages of the warnings ``logger_name`` logs inside the block, in a list, so that
    what the command line prints can also be shown or reported (they are logged as usual)."""
    messages: list[str] = []
    collector = _Collector(messages)
    logger = logging.getLogger(logger_name)
    logger.addHandler(collector)
    try:
        yield messages
    finally:
        logger.removeHandler(collector)
