"""Errors that reach users: each carries a one-line message fit for a CLI line or a dialog."""

from __future__ import annotations


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


class DeviceError(GlareError):
    """The requested compute device is not available."""


def one_line(error: BaseException | str) -> str:
    """The message of ``error`` on one line, for a terminal, a list row or a log line."""
    return " ".join(str(error).split())
