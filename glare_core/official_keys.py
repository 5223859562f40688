"""The official GLARE checkpoints' key names, and reading their architecture from shapes.

Official ``net_G.pth`` names the conditional encoder ``RRDB`` (it is not an RRDB),
the flow ``flowUpsamplerNet`` and the fusion decoder ``deformable_decoder``; we use
the paper's names. Some official tensors are never used by inference (an unused
output conv and three unused sub-networks of the decoder, a projection of the flow,
the VQGAN's semantic head and its ImageNet VGG): they are dropped by name here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from glare_core.config import (
    AutoencoderConfig,
    CondEncoderConfig,
    FlowConfig,
    FusionDecoderConfig,
    GlareConfig,
    VQGANConfig,
)
from glare_core.errors import WeightsError

#: the official net_G's name of a part and ours, and whether it only starts a key; read
#: both ways: official files' keys to ours, and ours back for messages that name a file's
GENERATOR_RENAMES = (
    ("RRDB.", "cond_encoder.", True),
    ("flowUpsamplerNet.layers.", "flow.steps.", True),
    (".affine.fAffine.", ".coupling.affine_net.", False),
    (".affine.fFeatures.", ".coupling.feature_net.", False),
    ("deformable_decoder.", "fusion_decoder.", True),
)
GENERATOR_UNUSED = re.compile(
    r"^(deformable_decoder\.(conv_out|scale|bias|enc)\.|flowUpsamplerNet\.f\.)"
)
VQGAN_UNUSED = re.compile(r"^(vgg_feat_extractor|conv_semantic)\.")
#: the nominal training resolution that taming's attention placement is relative to
NOMINAL_RESOLUTION = 256


def is_official_generator(state: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith("RRDB.") for k in state) and any(
        k.startswith("flowUpsamplerNet.") for k in state
    )


def is_official_vqgan(state: Mapping[str, torch.Tensor]) -> bool:
    return "quantize.embedding.weight" in state and any(k.startswith("decoder.") for k in state)


def rename_official_generator(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    renamed = {}
    for key, value in state.items():
        if GENERATOR_UNUSED.match(key):
            continue
        renamed[_renamed(key, to_ours=True)] = value
    return renamed


def _renamed(key: str, *, to_ours: bool) -> str:
    """A net_G key under our names (``to_ours``), or one of ours under the official ones."""
    for official, ours, starts_key in GENERATOR_RENAMES:
        old, new = (official, ours) if to_ours else (ours, official)
        key = re.sub(("^" if starts_key else "") + re.escape(old), new, key)
    return key


def rename_official_vqgan(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"vqgan.{k}": v for k, v in state.items() if not VQGAN_UNUSED.match(k)}


def official_name(key: str) -> str:
    """Our ``key`` as the official files name it, and which of the two holds it."""
    if key.startswith("vqgan."):
        return f"{key.removeprefix('vqgan.')} (vqgan.pkl)"
    return f"{_renamed(key, to_ours=False)} (net_G.pth)"


def _indices(state: Mapping[str, torch.Tensor], pattern: str) -> list[int]:
    found = {int(m.group(1)) for k in state if (m := re.match(pattern, k))}
    return sorted(found)


def _autoencoder_shape(
    state: Mapping[str, torch.Tensor], prefix: str, levels_name: str
) -> AutoencoderConfig:
    """Widths, depths and attention of an encoder (``down``) or decoder (``up``)."""
    levels = _indices(state, rf"^{re.escape(prefix)}{levels_name}\.(\d+)\.")
    if not levels:
        tensors = official_name(f"{prefix}{levels_name}.*")
        raise WeightsError(f"no {tensors} tensors: cannot infer the architecture")
    widths = [state[f"{prefix}{levels_name}.{lv}.block.0.conv1.weight"].shape[0] for lv in levels]
    blocks = len(_indices(state, rf"^{re.escape(prefix)}{levels_name}\.0\.block\.(\d+)\."))
    attention = tuple(
        NOMINAL_RESOLUTION // 2**lv
        for lv in levels
        if any(k.startswith(f"{prefix}{levels_name}.{lv}.attn.") for k in state)
    )
    return AutoencoderConfig(
        channels=widths[0],
        channel_mult=tuple(w // widths[0] for w in widths),
        num_res_blocks=blocks if levels_name == "down" else blocks - 1,
        attn_resolutions=attention,
        resolution=NOMINAL_RESOLUTION,
        mid_attention=f"{prefix}mid.attn_1.q.weight" in state,
        z_channels=state[f"{prefix}conv_in.weight"].shape[1]
        if levels_name == "up"
        else state[f"{prefix}conv_out.weight"].shape[0],
    )


def _flow_shape(state: Mapping[str, torch.Tensor]) -> FlowConfig:
    steps = _indices(state, r"^flow\.steps\.(\d+)\.")
    if not steps:
        tensors = official_name("flow.steps.*")
        raise WeightsError(f"no {tensors} tensors: cannot infer the architecture")
    coupled = [any(k.startswith(f"flow.steps.{i}.coupling.") for k in state) for i in steps]
    runs: list[tuple[bool, int]] = []
    for flag in coupled:
        if runs and runs[-1][0] == flag:
            runs[-1] = (flag, runs[-1][1] + 1)
        else:
            runs.append((flag, 1))
    coupling_runs = [n for flag, n in runs if flag]
    plain = runs[0][1] if runs and not runs[0][0] else 0
    levels = len(coupling_runs)
    per_level = coupling_runs[0] if coupling_runs else 0
    if not coupling_runs or coupled != ([False] * plain + [True] * per_level) * levels:
        raise WeightsError(f"unrecognised flow layout (coupled steps: {coupled})")
    first_coupled = steps[coupled.index(True)]
    hidden = state[f"flow.steps.{first_coupled}.coupling.feature_net.0.weight"].shape[0]
    return FlowConfig(
        levels=levels,
        coupling_steps=per_level,
        invconv_steps=plain,
        hidden_channels=hidden,
    )


def infer_official_config(state: Mapping[str, torch.Tensor]) -> GlareConfig:
    """The architecture of a renamed official (or our own) state dict, from its shapes."""
    try:
        return _shapes_config(state)
    except KeyError as exc:  # a tensor whose shape tells a width, missing from the file
        raise WeightsError(
            f"cannot infer the architecture: {official_name(exc.args[0])} is missing "
            "(or name a --config)"
        ) from None


def _shapes_config(state: Mapping[str, torch.Tensor]) -> GlareConfig:
    dcn = state["fusion_decoder.warp.0.dcn.conv_offset.weight"]
    kernel_taps = state["fusion_decoder.warp.0.dcn.weight"].shape[-1] ** 2
    codebook = state["vqgan.quantize.embedding.weight"]
    return GlareConfig(
        name="official-checkpoint",
        vqgan=VQGANConfig(
            autoencoder=_autoencoder_shape(state, "vqgan.decoder.", "up"),
            codebook_size=codebook.shape[0],
            embed_dim=codebook.shape[1],
        ),
        cond_encoder=CondEncoderConfig(
            autoencoder=_autoencoder_shape(state, "cond_encoder.encoder.", "down"),
            cond_channels=state["cond_encoder.cond_conv.0.weight"].shape[0],
        ),
        flow=_flow_shape(state),
        fusion_decoder=FusionDecoderConfig(
            autoencoder=_autoencoder_shape(state, "fusion_decoder.", "up"),
            deformable_groups=dcn.shape[0] // (3 * kernel_taps),
        ),
    )
