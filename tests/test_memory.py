"""Freed memory is kept for reuse during inference and given back afterwards (glibc)."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
import torch

from glare_core.memory import keep_freed_memory, release_freed_memory

LAYER_BYTES = 256 * 2**20  # a large feature map
PAGE_BYTES = 4096


def _use_and_free(size_bytes: int) -> int:
    """Page faults of filling a new float tensor of ``size_bytes`` and freeing it."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    feature = torch.empty(size_bytes // 4)
    feature.fill_(1.0)  # writes every page
    del feature
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def _resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE_BYTES


def test_a_freed_feature_map_is_reused_without_page_faults_then_released() -> None:
    if not keep_freed_memory():
        pytest.skip("glibc only: other allocators are left as they are")
    release_freed_memory()  # whatever earlier tests left kept goes back first
    pages = LAYER_BYTES // PAGE_BYTES
    assert _use_and_free(LAYER_BYTES) > pages // 2  # first use: the kernel maps and zeroes
    # the next, smaller layer lands on the pages just freed
    assert _use_and_free(LAYER_BYTES // 2) < pages // 50
    resident = _resident_bytes()
    release_freed_memory()
    assert _resident_bytes() < resident - LAYER_BYTES // 2
