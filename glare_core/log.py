"""Logging for the command line: warnings by default, more with ``-v``, each line ``glare: ...``."""

from __future__ import annotations

import logging
import sys

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
