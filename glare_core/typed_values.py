"""Values read from hand-edited files (YAML, JSON), checked against a dataclass field's type.

A wrong type otherwise fails far into a training run or deep inside the model, or passes for
something else: a text is a true flag, and a tuple of its characters. Both GLARE configs
(:mod:`glare_core.config`) and training settings (:mod:`glare_core.train.config`) read their
fields through :func:`checked_value`.
"""

from __future__ import annotations

import math
import sys
import types
import typing
from typing import Any

from glare_core.errors import ConfigError

#: how a field's type is named in errors
_TYPE_NAMES = {bool: "true or false", int: "a whole number", float: "a finite number", str: "text"}


def checked_value(name: str, hint: Any, value: Any) -> Any:
    """``value`` as a field typed ``hint`` holds it (a list as a tuple, a whole float as an
    int, a number YAML read as text, such as ``1e-4``, as a float); a :class:`ConfigError`
    naming the field ``name`` when it is of another type. Types other than bool, int, float,
    str, tuples and dicts of them pass unchecked."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return None
    kinds = [option for option in options if option is not type(None)]
    if len(kinds) != 1:
        return value
    (kind,) = kinds
    origin = typing.get_origin(kind) or kind
    if origin is tuple:
        return _checked_tuple(name, typing.get_args(kind), value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a section of named values, not {value!r}")
        return value
    if kind not in _TYPE_NAMES:
        return value
    checked = _as_kind(kind, value)
    if checked is None:
        raise ConfigError(f"{name} must be {_TYPE_NAMES[kind]}, not {value!r}")
    return checked


def _checked_tuple(name: str, elements: tuple[Any, ...], value: Any) -> tuple:
    """A list or tuple as a tuple of ``elements`` (``(X, ...)``: any number of X)."""
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{name} must be a list, not {value!r}")
    if len(elements) == 2 and elements[1] is Ellipsis:
        elements = (elements[0],) * len(value)
    elif len(value) != len(elements):
        raise ConfigError(f"{name} must be a list of {len(elements)}, not {value!r}")
    return tuple(
        checked_value(f"{name}[{index}]", element, item)
        for index, (element, item) in enumerate(zip(elements, value, strict=True))
    )


def _as_kind(kind: type, value: Any) -> Any:
    """``value`` as a ``kind`` (bool, int, float or str), or None when it is not one."""
    if kind is bool or kind is str:
        return value if isinstance(value, kind) else None
    if isinstance(value, bool):  # an int to Python, never a number in a file
        return None
    if kind is int:
        if isinstance(value, int):  # past a float's range, no count or width is meant
            return value if abs(value) <= sys.float_info.max else None
        # YAML and some tools write whole numbers as 1.0e+6 or 32.0
        whole = isinstance(value, float) and math.isfinite(value) and value.is_integer()
        return int(value) if whole else None
    try:
        number = float(value)  # text too: YAML 1.1 reads 1e-4 (no dot) as text
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
