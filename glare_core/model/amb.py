"""Stage 3: the Adaptive Mix-up Block (AMB).

An AMB blends the conditional encoder's feature of the low-light image (``enc``)
into the decoder's generated normal-light feature (``h``) with one learned weight:
``enc * sigmoid(w) + h * (1 - sigmoid(w))``.

Glare Studio's *strength* control moves that mix factor along one monotone,
piecewise-linear path: strength 0 gives factor 0 (pure generated features),
strength 1 gives ``sigmoid(w)`` exactly (the trained model), strength 2 gives
factor 1 (pure low-light encoder features: most faithful to the input).
"""

from __future__ import annotations

import torch
from torch import nn

from glare_core.limits import TRAINED_STRENGTH, check_strength


def strength_to_mix(trained_mix: torch.Tensor, strength: float) -> torch.Tensor:
    """The mix factor at ``strength``, given the trained factor ``sigmoid(w)``."""
    strength = check_strength(strength)
    if strength <= TRAINED_STRENGTH:
        return trained_mix * strength
    return trained_mix + (strength - TRAINED_STRENGTH) * (1.0 - trained_mix)


class AdaptiveMixUp(nn.Module):
    def __init__(self, init_weight: float) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([init_weight]))

    def forward(
        self, enc: torch.Tensor, generated: torch.Tensor, strength: float = TRAINED_STRENGTH
    ) -> torch.Tensor:
        mix = strength_to_mix(torch.sigmoid(self.w), strength)
        return torch.lerp(generated, enc, mix)  # generated + mix * (enc - generated)
