"""Stage 2: the Invertible Latent Normalizing Flow (I-LNF).

A conditional Glow-style flow on the VQGAN latent (3 channels at 1/4 resolution).
Training maps normal-light latents ``x`` to ``z = f(x; c)`` and maximises
``log N(z; color_map, I) + log|det df/dx|``; inference inverts it,
``x = f^-1(z; c)`` with ``z = color_map + T * eps``. Every step is exactly invertible
and its log-determinant is exact.

A step is ActNorm -> invertible 1x1 convolution -> (optionally) a conditional affine
coupling whose scale and shift come from the conditional encoder's ``cond_feat``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from glare_core.config import FlowConfig

#: the spread of the coupling networks' hidden convolutions at initialisation (Glow's)
HIDDEN_INIT_STD = 0.05


def _pixels(x: torch.Tensor) -> int:
    return x.shape[2] * x.shape[3]


class ActNorm(nn.Module):
    """Per-channel affine ``(x + bias) * exp(logs)`` (Glow's activation normalization)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.logs = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (x + self.bias) * torch.exp(self.logs), self.logs.sum() * _pixels(x)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * torch.exp(-self.logs) - self.bias


class InvertibleConv1x1(nn.Module):
    """A learned channel mixing ``W x`` with log-determinant ``log|det W|`` per pixel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        rotation, _ = torch.linalg.qr(torch.randn(channels, channels))
        self.weight = nn.Parameter(rotation)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = torch.linalg.slogdet(self.weight)[1] * _pixels(x)
        return F.conv2d(x, self.weight[:, :, None, None]), logdet

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        # inverted in float64, which the flow's depth needs to stay exact, and on the CPU:
        # Apple's MPS devices have no float64 (every enhance failed there)
        weight = self.weight.to("cpu", torch.float64)
        inverse = torch.linalg.inv(weight).to(z.device, z.dtype)
        return F.conv2d(z, inverse[:, :, None, None])


class ActNormConv2d(nn.Conv2d):
    """Bias-free convolution followed by ActNorm (the coupling networks' hidden layers)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False
        )
        nn.init.normal_(self.weight, std=HIDDEN_INIT_STD)
        self.actnorm = ActNorm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.actnorm(super().forward(x))[0]


class ZeroConv2d(nn.Conv2d):
    """3x3 convolution initialised to zero, with a learned log-gain (Glow's Conv2dZeros)."""

    def __init__(self, in_channels: int, out_channels: int, logscale_factor: float) -> None:
        super().__init__(in_channels, out_channels, 3, padding=1)
        nn.init.zeros_(self.weight)
        nn.init.zeros_(self.bias)
        self.logs = nn.Parameter(torch.zeros(out_channels, 1, 1))
        self.logscale_factor = logscale_factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * torch.exp(self.logs * self.logscale_factor)


def coupling_network(in_channels: int, out_channels: int, cfg: FlowConfig) -> nn.Sequential:
    """3x3 conv, ReLU, 1x1 conv, ReLU, zero-initialised 3x3 conv."""
    hidden = cfg.hidden_channels
    return nn.Sequential(
        ActNormConv2d(in_channels, hidden, 3),
        nn.ReLU(),
        ActNormConv2d(hidden, hidden, 1),
        nn.ReLU(),
        ZeroConv2d(hidden, out_channels, cfg.logscale_factor),
    )


class ConditionalAffineCoupling(nn.Module):
    """Two conditional affine maps: one of the whole latent from ``cond_feat`` alone,
    then one of the second channel half from the first half and ``cond_feat``."""

    def __init__(self, channels: int, cond_channels: int, cfg: FlowConfig) -> None:
        super().__init__()
        self.passive = channels // 2
        active = channels - self.passive
        self.feature_net = coupling_network(cond_channels, 2 * channels, cfg)
        self.affine_net = coupling_network(self.passive + cond_channels, 2 * active, cfg)
        self.scale_shift = cfg.scale_shift
        self.eps = cfg.affine_eps

    def _scale_and_shift(self, net: nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = net(inputs)
        shift, raw_scale = out[:, 0::2], out[:, 1::2]
        return torch.sigmoid(raw_scale + self.scale_shift) + self.eps, shift

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale, shift = self._scale_and_shift(self.feature_net, cond)
        x = (x + shift) * scale
        logdet = torch.log(scale).sum(dim=(1, 2, 3))
        passive, active = x[:, : self.passive], x[:, self.passive :]
        scale, shift = self._scale_and_shift(self.affine_net, torch.cat([passive, cond], dim=1))
        active = (active + shift) * scale
        logdet = logdet + torch.log(scale).sum(dim=(1, 2, 3))
        return torch.cat([passive, active], dim=1), logdet

    def inverse(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        passive, active = z[:, : self.passive], z[:, self.passive :]
        scale, shift = self._scale_and_shift(self.affine_net, torch.cat([passive, cond], dim=1))
        z = torch.cat([passive, active / scale - shift], dim=1)
        scale, shift = self._scale_and_shift(self.feature_net, cond)
        return z / scale - shift


class FlowStep(nn.Module):
    def __init__(self, channels: int, cond_channels: int, cfg: FlowConfig, coupled: bool) -> None:
        super().__init__()
        self.actnorm = ActNorm(channels)
        self.invconv = InvertibleConv1x1(channels)
        self.coupling = ConditionalAffineCoupling(channels, cond_channels, cfg) if coupled else None

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, logdet_norm = self.actnorm(x)
        x, logdet_mix = self.invconv(x)
        logdet = (logdet_norm + logdet_mix).expand(x.shape[0])
        if self.coupling is not None:
            x, logdet_coupling = self.coupling(x, cond)
            logdet = logdet + logdet_coupling
        return x, logdet

    def inverse(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if self.coupling is not None:
            z = self.coupling.inverse(z, cond)
        return self.actnorm.inverse(self.invconv.inverse(z))


class LatentFlow(nn.Module):
    """The I-LNF: ``levels`` x (``invconv_steps`` plain steps + ``coupling_steps`` coupled)."""

    def __init__(self, cfg: FlowConfig, channels: int, cond_channels: int) -> None:
        super().__init__()
        steps = []
        for _ in range(cfg.levels):
            steps += [
                FlowStep(channels, cond_channels, cfg, coupled=False)
                for _ in range(cfg.invconv_steps)
            ]
            steps += [
                FlowStep(channels, cond_channels, cfg, coupled=True)
                for _ in range(cfg.coupling_steps)
            ]
        self.steps = nn.ModuleList(steps)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normal-light latent -> Gaussian side; returns ``(z, log|det|)`` per sample."""
        logdet = x.new_zeros(x.shape[0])
        for step in self.steps:
            x, step_logdet = step(x, cond)
            logdet = logdet + step_logdet
        return x, logdet

    def inverse(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Gaussian side -> latent: ``f^-1(z; cond)``."""
        for step in reversed(self.steps):
            z = step.inverse(z, cond)
        return z
