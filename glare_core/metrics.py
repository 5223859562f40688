"""Image quality scores as low-light enhancement papers report them.

Every score is computed on the 0–255 scale. Images may be ``uint8`` (0–255) or floating point
in [0, 1]. "GT-mean" scores first rescale the prediction so that its mean grey level (the plain
mean over all pixels and channels) equals the reference's, which removes the overall exposure
difference and scores what is left; GLARE and LLFlow report it on LOL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from skimage.metrics import structural_similarity

from glare_core.eight_bit import EIGHT_BIT_MAX
from glare_core.errors import GlareError

PEAK = float(EIGHT_BIT_MAX)


@dataclass(frozen=True)
class PairScores:
    psnr: float
    ssim: float
    psnr_gt_mean: float
    ssim_gt_mean: float


def to_255(image: np.ndarray) -> np.ndarray:
    """``image`` as float64 on the 0–255 scale (uint8 as is, floats in [0, 1] scaled up)."""
    if image.dtype == np.uint8:
        return image.astype(np.float64)
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"expected uint8 or floating point pixels, got {image.dtype}")
    return np.clip(image.astype(np.float64), 0.0, 1.0) * PEAK


#: the side of scikit-image's SSIM window (its default): smaller images cannot be scored
SSIM_WINDOW = 7


def _check_same_shape(pred: np.ndarray, ref: np.ndarray) -> None:
    if pred.shape != ref.shape:
        raise GlareError(f"image sizes differ: {pred.shape} vs reference {ref.shape}")


def _check_ssim_can_score(pred: np.ndarray, ref: np.ndarray) -> None:
    _check_same_shape(pred, ref)
    height, width = ref.shape[:2]
    if min(height, width) < SSIM_WINDOW:
        raise GlareError(
            f"a {width}x{height} image is too small to score: SSIM needs at least "
            f"{SSIM_WINDOW}x{SSIM_WINDOW} pixels"
        )


def _psnr_255(pred: np.ndarray, ref: np.ndarray) -> float:
    mse = float(np.mean((pred - ref) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(PEAK**2 / mse)


def _ssim_255(pred: np.ndarray, ref: np.ndarray) -> float:
    return float(
        structural_similarity(pred, ref, win_size=SSIM_WINDOW, channel_axis=-1, data_range=PEAK)
    )


def _match_mean(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    pred_mean = pred.mean()
    if pred_mean == 0.0:
        return pred
    return np.clip(pred * (ref.mean() / pred_mean), 0.0, PEAK)


def psnr(pred: np.ndarray, ref: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical images."""
    _check_same_shape(pred, ref)
    return _psnr_255(to_255(pred), to_255(ref))


def ssim(pred: np.ndarray, ref: np.ndarray) -> float:
    """Structural similarity, scikit-image's definition with colour channels averaged."""
    _check_ssim_can_score(pred, ref)
    return _ssim_255(to_255(pred), to_255(ref))


def gt_mean_scale(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``pred`` on the 0–255 scale, multiplied so its mean grey equals ``ref``'s, then clipped.

    An all-black prediction cannot be rescaled and is returned unchanged.
    """
    return _match_mean(to_255(pred), to_255(ref))


def score_pair(pred: np.ndarray, ref: np.ndarray) -> PairScores:
    """PSNR and SSIM of ``pred`` against ``ref``, as is and after GT-mean rescaling."""
    _check_ssim_can_score(pred, ref)
    pred_255, ref_255 = to_255(pred), to_255(ref)
    rescaled = _match_mean(pred_255, ref_255)
    return PairScores(
        psnr=_psnr_255(pred_255, ref_255),
        ssim=_ssim_255(pred_255, ref_255),
        psnr_gt_mean=_psnr_255(rescaled, ref_255),
        ssim_gt_mean=_ssim_255(rescaled, ref_255),
    )
