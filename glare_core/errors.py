"""Errors that reach users: each carries a one-line message fit for a CLI line or a dialog."""

from __future__ import annotations

import unicodedata


class GlareError(Exception):
    """Base class of every error Glare Studio reports to a user."""


class WeightsError(GlareError):
    """A weights file is missing, unreadable, or does not fit the architecture."""


class ConfigError(GlareError):
    """A preset name or a config file is unknown or malformed."""


class ImageReadError(GlareError):
    """An input image cannot be read (missing, truncated, not an image, too large)."""


class ImageWriteError(GlareError):
    """An output image cannot be written."""


class ResultExistsError(ImageWriteError):
    """A result was not written because its file appeared while it was being made, and
    existing files were not to be replaced."""


class DeviceError(GlareError):
    """The requested compute device is not available."""


def one_line(error: BaseException | str) -> str:
    """The message of ``error`` on one line, for a terminal, a list row or a log line."""
    return " ".join(str(error).split())


#: Unicode categories that break or hide a line: control characters (a newline, a tab) and
#: line and paragraph separators
_LINE_BREAKING = frozenset({"Cc", "Zl", "Zp"})


def printable(text: object) -> str:
    """``text`` with its control characters and line separators escaped (a newline as
    ``\\n``), and nothing else changed: a file name printed on one line, with its spaces,
    accents, ideographic spaces and emoji joiners as they are."""
    return "".join(
        repr(ch)[1:-1] if unicodedata.category(ch) in _LINE_BREAKING else ch for ch in str(text)
    )
