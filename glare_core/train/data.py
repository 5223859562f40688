"""Training and validation data: paired low/normal-light photos held in memory.

The training split (236 pairs of 600x400 8-bit images, about 340 MB as uint8) is read once
into RAM; every batch is cut from it by a :class:`numpy.random.Generator` made from
``(seed, step, rank)`` with :func:`batch_rng`. A batch therefore depends on nothing but the
step number: a resumed run draws exactly the batches an uninterrupted one would, and each
process of a distributed run draws its own crops. The ``eval`` split is for scoring only;
the crop samplers refuse its pairs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from glare_core.eight_bit import from_uint8, to_uint8
from glare_core.errors import ConfigError, GlareError
from glare_core.exposure import (
    UNBOUNDED,
    ExposureRange,
    apply_gain,
    exposure_gain,
    normalize_exposure,
)
from glare_core.imageio import read_image
from glare_core.metrics import psnr, ssim
from glare_core.pairs import HIGH_FOLDER, LOW_FOLDER, PairPaths, matched_pairs
from glare_core.preprocess import to_batch, to_image, to_tensor
from glare_core.train.augment import (
    DEFAULT_AUGMENT,
    AugmentConfig,
    augment_pair,
    noisy_capture,
    random_recolor,
    recolor,
)

log = logging.getLogger(__name__)

TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"
#: number of quarter turns a crop may be rotated by
QUARTER_TURNS = 4

#: a batch: named float32 tensors ``Bx3xHxW`` in [0, 1] ("low", "high")
Batch = dict[str, torch.Tensor]


@dataclass(frozen=True)
class ImagePair:
    name: str
    split: str
    low: np.ndarray  # uint8 HxWx3 RGB
    high: np.ndarray  # uint8 HxWx3 RGB


class BatchSource(Protocol):
    """Anything that cuts a batch of ``batch_size`` samples with the generator it is given."""

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch: ...


def batch_rng(seed: int, step: int, rank: int = 0) -> np.random.Generator:
    """The generator for the batch of ``step`` on process ``rank``: a pure function of the three."""
    return np.random.Generator(np.random.PCG64([seed, step, rank]))


def _read_rgb(path: Path) -> np.ndarray:
    return to_uint8(read_image(path).rgb)


def _read_pair(paths: PairPaths, split: str) -> ImagePair:
    low, high = _read_rgb(paths.first), _read_rgb(paths.second)
    if low.shape != high.shape:  # crops are cut at one window from both
        raise GlareError(
            f"{paths.first} is {low.shape[1]}x{low.shape[0]} but its partner {paths.second} "
            f"is {high.shape[1]}x{high.shape[0]}: a pair's two images must be the same size"
        )
    return ImagePair(paths.name, split, low, high)


def load_pairs(root: str | Path, split: str, limit: int | None = None) -> list[ImagePair]:
    """The pairs of ``root/split/{low,high}``, matched by file stem.

    Sorted by file name, not in natural order: a run draws its pairs by index, and this is
    the order the bundled weights were trained in (and ``limit`` the validation pairs named).
    """
    split_dir = Path(root) / split
    found = matched_pairs(split_dir / LOW_FOLDER, split_dir / HIGH_FOLDER, every_second=True)
    chosen = sorted(found, key=lambda paths: paths.name)[:limit]
    pairs = [_read_pair(paths, split) for paths in chosen]
    log.info("loaded %d %s pairs from %s", len(pairs), split, split_dir)
    return pairs


def _check_trainable(pairs: Sequence[ImagePair], crop_size: int) -> None:
    """Refuse eval pairs, and now rather than when a step first draws it, a pair too small
    for one crop."""
    if any(pair.split == EVAL_SPLIT for pair in pairs):
        raise GlareError("the eval split is for scoring only and must not be trained on")
    for pair in pairs:
        height, width = pair.low.shape[:2]
        if crop_size > min(height, width):
            raise ConfigError(
                f"pair {pair.name} of {pair.split} is {width}x{height}, smaller than the crop "
                f"size {crop_size}: choose a smaller crop_size or leave the pair out"
            )


def _random_window(
    shape: tuple[int, ...], crop_size: int, rng: np.random.Generator
) -> tuple[slice, slice]:
    height, width = shape[:2]
    top = int(rng.integers(0, height - crop_size + 1))
    left = int(rng.integers(0, width - crop_size + 1))
    return slice(top, top + crop_size), slice(left, left + crop_size)


def _random_geometry(
    images: tuple[np.ndarray, ...], rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """The same random flip and quarter turn applied to every image of a sample."""
    turns = int(rng.integers(QUARTER_TURNS))
    flip = bool(rng.integers(2))
    result = []
    for image in images:
        turned = np.rot90(image, turns)
        result.append(turned[:, ::-1] if flip else turned)
    return tuple(result)


class PairedCrops:
    """Random, augmented crops of low/normal-light pairs: batches with "low" and "high"."""

    def __init__(
        self,
        pairs: Sequence[ImagePair],
        crop_size: int,
        augment: AugmentConfig = DEFAULT_AUGMENT,
        exposure: ExposureRange = UNBOUNDED,
    ) -> None:
        _check_trainable(pairs, crop_size)
        self.pairs = list(pairs)
        self.crop_size = crop_size
        self.augment = augment
        #: the model's input normalisation, applied to each augmented crop as inference
        #: applies it to the whole image
        self.exposure = exposure

    def _sample_one(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        pair = self.pairs[int(rng.integers(len(self.pairs)))]
        rows, cols = _random_window(pair.low.shape, self.crop_size, rng)
        low, high = _random_geometry((pair.low[rows, cols], pair.high[rows, cols]), rng)
        scene_color = random_recolor(rng, self.augment)
        high_float = recolor(from_uint8(high), scene_color)
        low_float = recolor(from_uint8(low), scene_color)
        low_float = augment_pair(low_float, high_float, rng, self.augment)
        return normalize_exposure(low_float, self.exposure), high_float

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        lows, highs = zip(*(self._sample_one(rng) for _ in range(batch_size)), strict=True)
        return {"low": to_batch(lows), "high": to_batch(highs)}


def denoising_pair(
    low: np.ndarray, rng: np.random.Generator, augment: AugmentConfig, exposure: ExposureRange
) -> tuple[np.ndarray, np.ndarray]:
    """A noisy capture of the low image ``low`` (float) and its clean version
    (:func:`~glare_core.train.augment.noisy_capture`), both re-exposed by the gain that brings
    the noisy one into ``exposure``, as inference re-exposes a photo before denoising it."""
    noisy, clean = noisy_capture(low, rng, augment)
    gain = exposure_gain(noisy, exposure)
    return apply_gain(noisy, gain), apply_gain(clean, gain)


class DenoisingCrops(PairedCrops):
    """Crops of the train split's low images: "low" a noisier capture, "high" the clean one.

    The noisy-photo path's denoiser learns from these: the low images themselves, darker
    and noisier, rather than the normal-light references, because it must keep everything
    of the photo but the noise.
    """

    def _sample_one(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        low = self.pairs[int(rng.integers(len(self.pairs)))].low
        rows, cols = _random_window(low.shape, self.crop_size, rng)
        (crop,) = _random_geometry((low[rows, cols],), rng)
        return denoising_pair(from_uint8(crop), rng, self.augment, self.exposure)


class NormalLightCrops:
    """Random crops of normal-light images only (stage 1): batches with "high".

    Of ``augment`` only the scene recolouring applies (the rest models low light).
    """

    def __init__(
        self, pairs: Sequence[ImagePair], crop_size: int, augment: AugmentConfig = DEFAULT_AUGMENT
    ) -> None:
        _check_trainable(pairs, crop_size)
        self.images = [pair.high for pair in pairs]
        self.crop_size = crop_size
        self.augment = augment

    def _sample_one(self, rng: np.random.Generator) -> np.ndarray:
        image = self.images[int(rng.integers(len(self.images)))]
        rows, cols = _random_window(image.shape, self.crop_size, rng)
        (crop,) = _random_geometry((image[rows, cols],), rng)
        return recolor(from_uint8(crop), random_recolor(rng, self.augment))

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        return {"high": to_batch([self._sample_one(rng) for _ in range(batch_size)])}


#: maps a ``1x3xHxW`` image tensor in [0, 1] to its prediction, same shape
Predictor = Callable[[torch.Tensor], torch.Tensor]


def score_pairs(
    pairs: Sequence[ImagePair],
    predict: Predictor,
    device: torch.device,
) -> dict[str, float]:
    """Mean PSNR and SSIM (0-255 scale, as :mod:`glare_core.metrics`) of full-size predictions.

    ``predict`` gets each pair's low image and is scored against its normal-light image (pairs
    whose low image is their normal-light one score reconstruction: the stage-1 autoencoder).
    """
    psnrs, ssims = [], []
    for pair in pairs:
        image = to_tensor(from_uint8(pair.low)).to(device)
        prediction = to_image(predict(image).clamp(0.0, 1.0))
        psnrs.append(psnr(prediction, pair.high))
        ssims.append(ssim(prediction, pair.high))
    return {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims))}
