"""A smoke test for installed and frozen builds: does this copy of Glare Studio enhance a photo?

It loads the bundled weights, enhances the bundled sample photo, writes the result into a new
temporary folder and reads it back; where the weights have a noisy-photo path, it enhances the
sample through that path too (a frozen build must carry its denoiser). ``packaging/build``
runs it on every frozen build (``glare-studio --self-test``); ``python -m glare_core.selftest``
runs it from a checkout or an install. Like :mod:`glare_core.cli`, this is a presentation
layer: progress lines go to stdout, a failure to stderr as one ``self-test: failed: ...`` line,
and the exit code says which.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from glare_core.eight_bit import EIGHT_BIT_MAX
from glare_core.engine import Enhancer
from glare_core.errors import GlareError, ImageWriteError, WeightsError, one_line
from glare_core.imageio import read_image, write_image
from glare_core.log import setup_logging
from glare_core.resources import RESOURCES_ENV, bundled_weights_path, sample_photo_path

logger = logging.getLogger(__name__)

EXIT_PASSED = 0
EXIT_FAILED = 1
PREFIX = "self-test:"
#: lossless, so reading the result back checks exactly what the network produced
RESULT_NAME = "sample_glare.png"
#: an 8-bit round trip moves a value by at most half a step, plus float slack
ROUND_TRIP_TOLERANCE = 0.5 / EIGHT_BIT_MAX + 1e-6


def _say(message: str) -> None:
    print(f"{PREFIX} {message}", flush=True)


def _load_enhancer() -> Enhancer:
    weights = bundled_weights_path()
    if not weights.is_file():
        raise WeightsError(
            f"bundled weights not found at {weights} (put glare-compact.safetensors in "
            f"resources/weights/ before building, or point {RESOURCES_ENV} at a resources folder)"
        )
    started = time.perf_counter()
    enhancer = Enhancer.load([weights])
    elapsed = time.perf_counter() - started
    _say(f"loaded {enhancer.config.name} weights on {enhancer.device} in {elapsed:.2f} s")
    return enhancer


def _check_written(path: Path, expected: np.ndarray) -> None:
    """The file on disk must hold the enhanced picture: same size, pixels up to 8-bit rounding."""
    written = read_image(path).rgb
    if written.shape != expected.shape:
        raise ImageWriteError(f"{path}: read back as {written.shape}, expected {expected.shape}")
    largest_difference = float(np.abs(written - expected).max())
    if largest_difference > ROUND_TRIP_TOLERANCE:
        raise ImageWriteError(f"{path}: pixels differ by {largest_difference:.4f} after writing")


def _enhance_sample(enhancer: Enhancer, output_dir: Path) -> Path:
    sample_path = sample_photo_path()
    sample = read_image(sample_path)
    height, width = sample.rgb.shape[:2]
    started = time.perf_counter()
    result = enhancer.enhance(sample.rgb)
    elapsed = time.perf_counter() - started
    _say(f"enhanced {sample_path.name} ({width}x{height}) in {elapsed:.2f} s")
    if not np.isfinite(result).all():
        raise GlareError("the network produced non-finite pixels")
    target = output_dir / RESULT_NAME
    write_image(target, result, source=sample)
    _check_written(target, result)
    if enhancer.model.noisy_path is not None:
        _enhance_through_noisy_path(enhancer, sample.rgb)
    return target


def _enhance_through_noisy_path(enhancer: Enhancer, photo: np.ndarray) -> None:
    """``photo`` through the learned denoiser and its fusion decoder (the sample itself is
    not noisy enough to take them)."""
    forced = enhancer.with_noisy_path(True)
    started = time.perf_counter()
    result = forced.enhance(photo)
    _say(f"enhanced it through the noisy-photo path in {time.perf_counter() - started:.2f} s")
    if not np.isfinite(result).all():
        raise GlareError("the noisy-photo path produced non-finite pixels")


def run_self_test(output_dir: Path | None = None) -> int:
    """Enhance the bundled sample into ``output_dir`` (default: a temporary folder, removed
    afterwards).

    Returns :data:`EXIT_PASSED` or :data:`EXIT_FAILED`; never raises for a failure it can name.
    """
    started = time.perf_counter()
    try:
        enhancer = _load_enhancer()
        with ExitStack() as cleanup:
            folder = output_dir or Path(
                cleanup.enter_context(tempfile.TemporaryDirectory(prefix="glare-self-test-"))
            )
            written = _enhance_sample(enhancer, folder)
    except GlareError as error:
        print(f"{PREFIX} failed: {one_line(error)}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:  # a frozen build missing a module or library fails here
        logger.debug("self-test crashed", exc_info=True)
        print(f"{PREFIX} failed: {type(error).__name__}: {one_line(error)}", file=sys.stderr)
        return EXIT_FAILED
    _say(f"wrote {written}" + ("" if output_dir else " (a temporary file, now removed)"))
    _say(f"passed in {time.perf_counter() - started:.2f} s")
    return EXIT_PASSED


def main() -> int:
    setup_logging(0)
    return run_self_test()


if __name__ == "__main__":
    sys.exit(main())
