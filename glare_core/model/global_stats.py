"""Image-wide statistics that tiled inference must share between tiles.

GroupNorm normalises with the mean and variance of the whole feature map, and the
fusion decoder rescales the warped codebook features by the ratio of two
whole-image means. A tile alone would see different numbers and come out brighter
or darker than its neighbours. Tiled inference therefore runs the network once on
the whole image (or a downscaled proxy of it) with :func:`recording` active, then
processes each tile with :func:`frozen` active so every tile uses those numbers.

Outside both contexts (the default) every module computes its statistics live,
exactly as the official code does.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


class StatsMode(enum.Enum):
    LIVE = "live"
    RECORD = "record"
    FROZEN = "frozen"


class GlobalStatistics:
    """Mixin for modules whose output depends on image-wide statistics.

    Call :meth:`init_statistics` after ``nn.Module.__init__``.
    """

    stats_mode: StatsMode
    _recorded: dict[str, torch.Tensor]

    def init_statistics(self) -> None:
        self.stats_mode = StatsMode.LIVE
        self._recorded = {}

    def statistic(self, key: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``compute()`` live, remembered (RECORD) or replayed (FROZEN)."""
        if self.stats_mode is StatsMode.FROZEN:
            try:
                return self._recorded[key]
            except KeyError:
                raise RuntimeError(f"no recorded statistic {key!r}: record first") from None
        value = compute()
        if self.stats_mode is StatsMode.RECORD:
            self._recorded[key] = value.detach()
        return value


def _set_mode(model: nn.Module, mode: StatsMode) -> None:
    for module in model.modules():
        if isinstance(module, GlobalStatistics):
            module.stats_mode = mode


@contextmanager
def recording(model: nn.Module) -> Iterator[None]:
    """Inside, every statistic is computed and remembered."""
    for module in model.modules():
        if isinstance(module, GlobalStatistics):
            module._recorded.clear()
    _set_mode(model, StatsMode.RECORD)
    try:
        yield
    finally:
        _set_mode(model, StatsMode.LIVE)


@contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """Inside, every statistic is the one remembered by :func:`recording`."""
    _set_mode(model, StatsMode.FROZEN)
    try:
        yield
    finally:
        _set_mode(model, StatsMode.LIVE)
