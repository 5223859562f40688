"""Time image reading and writing per output format on one real photo; prints a table.

Usage: .venv/bin/python bench/bench_io.py [PHOTO]   (default: the largest shared photo)
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from functools import partial
from pathlib import Path

from PIL import Image

from glare_core.imageio import read_image, write_image

SHARED_PHOTOS = Path("/work/shared/data/photos")
#: (label, file name, source bit depth forced for the write)
CASES = (
    ("PNG 8-bit", "out.png", 8),
    ("PNG 16-bit", "out16.png", 16),
    ("JPEG q95", "out.jpg", 8),
    ("TIFF 8-bit", "out.tif", 8),
    ("TIFF 16-bit", "out16.tif", 16),
    ("WebP q95", "out.webp", 8),
)
MEBIBYTE = 1024 * 1024


def largest_shared_photo() -> Path:
    def pixel_count(path: Path) -> int:
        with Image.open(path) as image:
            return image.width * image.height

    return max(SHARED_PHOTOS.glob("*.png"), key=pixel_count)


def timed(action) -> tuple[float, float]:  # noqa: ANN001 - any zero-argument callable
    """Seconds and peak traced MiB (numpy buffers included) of one call."""
    tracemalloc.start()
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / MEBIBYTE
    tracemalloc.stop()
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("photo", nargs="?", type=Path, default=None)
    photo = parser.parse_args().photo or largest_shared_photo()
    loaded = read_image(photo)
    height, width = loaded.rgb.shape[:2]
    seconds, peak = timed(lambda: read_image(photo))
    print(f"{photo.name}: {width}x{height}, read {seconds:.2f} s, peak {peak:.0f} MiB")
    print(f"{'format':<12} {'write s':>8} {'peak MiB':>9} {'size MiB':>9}")
    with tempfile.TemporaryDirectory() as folder:
        for label, name, bit_depth in CASES:
            loaded.bit_depth = bit_depth
            target = Path(folder) / name
            seconds, peak = timed(partial(write_image, target, loaded.rgb, source=loaded))
            size = target.stat().st_size / MEBIBYTE
            print(f"{label:<12} {seconds:>8.2f} {peak:>9.0f} {size:>9.1f}")


if __name__ == "__main__":
    main()
