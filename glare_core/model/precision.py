"""Reduced-precision decoders at inference.

Everything after codebook retrieval (the VQGAN decoder and the fusion decoder) is a
smooth function of its inputs: run in bfloat16 it moves the output by about a third of
an 8-bit level on average (tests/test_engine.py bounds it), and oneDNN runs channels-last
bfloat16 convolutions 2-4x faster than float32 ones on CPUs with native bfloat16
(AVX512-BF16, AMX). The codebook choice (conditional encoder, flow, nearest code) always
stays float32: a rounding there could pick another code and change a whole 4x4 patch.

Channels-last goes with bfloat16 only: in float32 it speeds the convolutions up but the
network as a whole not measurably (its elementwise work gets slower).
"""

from __future__ import annotations

import torch

#: the number format of reduced-precision decoders
REDUCED_DTYPE = torch.bfloat16


def native_reduced_precision(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (elsewhere it is emulated and slower)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a build without oneDNN
            return False
    return False


def memory_format_for(dtype: torch.dtype) -> torch.memory_format:
    return torch.contiguous_format if dtype == torch.float32 else torch.channels_last


def as_format_of(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x`` in the dtype and memory layout the module owning ``weight`` runs in."""
    return x.to(weight.dtype, memory_format=memory_format_for(weight.dtype))
