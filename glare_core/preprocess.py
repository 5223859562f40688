"""Turning an RGB image into GLARE's network input, as the official inference does.

The official code pads every side with a mirror image (OpenCV's BORDER_REFLECT,
edge pixel repeated) up to the next multiple of 16 above each side, so a side that is
already a multiple still gets 8 + 8 pixels (1 to 16 per axis in all), and feeds the network
``log(max(x + 1e-3, 1e-3))`` of the [0, 1] image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from glare_core.config import InputConfig


@dataclass(frozen=True)
class Padding:
    top: int
    bottom: int
    left: int
    right: int

    def crop(self, image: np.ndarray) -> np.ndarray:
        """Remove this padding from an HxWxC array."""
        height, width = image.shape[:2]
        return image[self.top : height - self.bottom, self.left : width - self.right]


#: the padding of an image that needed none
NO_PADDING = Padding(0, 0, 0, 0)


def _split(size: int, multiple: int) -> tuple[int, int]:
    extra = multiple - size % multiple
    return extra // 2, extra - extra // 2


def official_padding(height: int, width: int, multiple: int) -> Padding:
    """The official ``auto_padding``: mirror to the next multiple, 1..multiple pixels per axis."""
    top, bottom = _split(height, multiple)
    left, right = _split(width, multiple)
    return Padding(top, bottom, left, right)


def pad_image(image: np.ndarray, padding: Padding) -> np.ndarray:
    """Mirror-pad an HxWxC array (edge pixel repeated, as cv2.BORDER_REFLECT)."""
    widths = ((padding.top, padding.bottom), (padding.left, padding.right), (0, 0))
    return np.pad(image, widths, mode="symmetric")


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 float array in [0, 1] -> 1x3xHxW float32 tensor."""
    channels_first = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
    return torch.from_numpy(channels_first)[None]


def to_batch(images: Sequence[np.ndarray]) -> torch.Tensor:
    """HxWx3 float arrays of one size -> one Bx3xHxW float32 tensor."""
    return torch.cat([to_tensor(image) for image in images])


def to_image(batch: torch.Tensor) -> np.ndarray:
    """The first image of a Bx3xHxW tensor as an HxWx3 float32 array (the inverse of
    :func:`to_tensor`)."""
    return batch[0].float().permute(1, 2, 0).cpu().numpy()


def to_network_input(image: torch.Tensor, cfg: InputConfig) -> torch.Tensor:
    """[0, 1] image tensor -> what the conditional encoder reads."""
    if not cfg.log_input:
        return image
    shifted = torch.clamp(image + cfg.log_eps, min=cfg.log_eps)
    if shifted.device.type == "cpu":
        # torch's threads take the log of a chunk's last few elements by another formula
        # than the rest, and where chunks end varies from run to run: the same photo came
        # out a level apart in one run of 16. numpy's log gives an element the same value
        # wherever it lies.
        return torch.from_numpy(np.log(shifted.numpy()))
    return torch.log(shifted)
