"""Freed memory is kept for reuse during inference and given back afterwards (glibc)."""

from __future__ import annotations

import ctypes
import resource
from pathlib import Path

import numpy as np
import pytest

from glare_core.engine import Enhancer
from glare_core.imageio import read_image
from glare_core.memory import (
    M_MMAP_MAX,
    M_TRIM_THRESHOLD,
    keep_freed_memory,
    kept_free_bytes,
    release_freed_memory,
)
from glare_core.session import Controls, PreviewPolicy, Session

#: glibc's own settings (malloc.c: DEFAULT_MMAP_MAX, DEFAULT_TRIM_THRESHOLD)
GLIBC_MMAP_MAX = 65536
GLIBC_TRIM_THRESHOLD = 128 * 1024
PAGE_BYTES = 4096


def _page_faults(action) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    action()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def _glibc_defaults() -> None:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(M_MMAP_MAX, GLIBC_MMAP_MAX)
    libc.mallopt(M_TRIM_THRESHOLD, GLIBC_TRIM_THRESHOLD)


def test_a_render_reuses_freed_pages_instead_of_faulting_new_ones(pairs_dir: Path) -> None:
    if not keep_freed_memory():
        pytest.skip("glibc only: other allocators are left as they are")
    photo = np.tile(read_image(pairs_dir / "eval" / "low" / "148.png").rgb, (2, 2, 1))[:768]
    enhancer = Enhancer.from_config("compact", device="cpu", precision="float32")
    prepared = enhancer.prepare(photo)
    enhancer.render(prepared, 0.4)  # warm: the first render maps its memory
    try:
        # the fault count is the whole process's: the best of three renders, so that a thread
        # left over from another test faulting at the same moment cannot be counted as ours
        kept = min(_page_faults(lambda: enhancer.render(prepared, 0.6)) for _ in range(3))
        _glibc_defaults()
        enhancer.render(prepared, 0.4)
        default = _page_faults(lambda: enhancer.render(prepared, 0.6))
    finally:
        keep_freed_memory()
    print(f"page faults of one render: {kept} kept, {default} with glibc's defaults")
    assert kept * 10 < default


def _resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE_BYTES


def test_kept_memory_is_given_back_on_release(pairs_dir: Path) -> None:
    if not keep_freed_memory():
        pytest.skip("glibc only: other allocators are left as they are")
    photo = read_image(pairs_dir / "eval" / "low" / "148.png").rgb
    enhancer = Enhancer.from_config("compact", device="cpu", precision="float32")
    # measured from a trimmed heap: the allocator's free lists also count what earlier tests
    # freed, resident or not, so only the resident size tells what this render kept
    release_freed_memory()
    before = _resident_bytes()
    enhancer.render(enhancer.prepare(photo))
    assert kept_free_bytes() > 16 * 2**20  # the render's feature maps, freed and kept
    resident = _resident_bytes()
    kept = resident - before
    assert kept > 16 * 2**20
    release_freed_memory()
    assert _resident_bytes() < resident - kept // 2


def test_the_apps_previews_and_exports_give_their_memory_back(
    pairs_dir: Path, tmp_path: Path
) -> None:
    """Kept memory went back only at the end of an export's enhance: each screen preview's
    freed features stayed resident, and a long session on a 4K photo passed 3 GB."""
    if not keep_freed_memory():
        pytest.skip("glibc only: other allocators are left as they are")
    enhancer = Enhancer.from_config("compact", device="cpu", precision="float32")
    session = Session(enhancer, PreviewPolicy(max_drag_pixels=20_000, min_drag_pixels=1_000))
    session.view_size = (600, 400)
    photo = pairs_dir / "eval" / "low" / "148.png"
    jobs = {
        "open": lambda: session.open(photo, Controls()),
        "screen preview": lambda: session.screen_preview(Controls(strength=0.8)),
        "full result": lambda: session.full_result(Controls(exposure=0.5)),
        "export": lambda: session.save(tmp_path / "out.png", Controls(strength=0.8)),
    }
    for job, run in jobs.items():
        run()
        resident = _resident_bytes()
        release_freed_memory()
        assert resident - _resident_bytes() < 16 * 2**20, f"{job} kept its freed memory"
        # a drag renders in between: its freed memory is what the next one reuses
        session.drag_preview(Controls(strength=0.5))
