"""Whitening a trained VQGAN's latent (glare_core.train.whiten) on the bundled network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from glare_core.errors import ConfigError
from glare_core.resources import bundled_weights_path
from glare_core.train import stages
from glare_core.train.config import TrainConfig
from glare_core.train.data import NormalLightCrops, load_pairs
from glare_core.train.whiten import whiten_latent
from glare_core.weights import build_model


@pytest.fixture(scope="module")
def crops(pairs_dir: Path) -> torch.Tensor:
    pairs = load_pairs(pairs_dir, "train", limit=4)
    return NormalLightCrops(pairs, crop_size=64).sample(8, np.random.default_rng(0))["high"]


#: how much of its weakest axis a collapsed VQGAN's ``quant_conv`` passes on (round 1's: ~0.1)
SQUASHED_GAIN = 0.05


def _unquantized(vqgan, images: torch.Tensor) -> torch.Tensor:
    return vqgan.decoder(vqgan.post_quant_conv(vqgan.encode(images)))[0]


def _collapse_weakest_axis(vqgan, images: torch.Tensor) -> None:
    """Put the bundled VQGAN, whose latent holds three axes since round 5, into the state of
    rounds 1-4: ``quant_conv`` squashes the encoder output's weakest principal axis."""
    features, _ = vqgan.encoder(images)
    samples = features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])
    _, axes = torch.linalg.eigh(torch.cov(samples.T))
    weakest = axes[:, :1]
    squash = torch.eye(len(axes)) - (1 - SQUASHED_GAIN) * weakest @ weakest.T
    weight = vqgan.quant_conv.weight[:, :, 0, 0] @ squash
    vqgan.quant_conv.weight.copy_(weight[:, :, None, None])


@torch.no_grad()
def test_whitening_a_latent_with_three_live_axes_changes_nothing_the_decoder_sees(crops) -> None:
    vqgan = build_model([bundled_weights_path()]).float().vqgan
    before = _unquantized(vqgan, crops)
    reach = whiten_latent(vqgan, crops)
    assert reach.min() > 0.2 * reach.max()  # round 5's latent: no axis collapsed
    latent = vqgan.encode(crops).permute(0, 2, 3, 1).reshape(-1, 3)
    assert torch.allclose(torch.cov(latent.T), torch.eye(3), atol=1e-3)
    torch.testing.assert_close(_unquantized(vqgan, crops), before, rtol=0, atol=1e-4)


@torch.no_grad()
def test_whitening_spreads_the_latent_and_revives_its_collapsed_axis(crops) -> None:
    vqgan = build_model([bundled_weights_path()]).float().vqgan
    _collapse_weakest_axis(vqgan, crops)
    before = _unquantized(vqgan, crops)
    reach = whiten_latent(vqgan, crops)
    # the squashed axis barely reaches the decoder
    assert reach.min() < 0.2 * reach.max()

    latent = vqgan.encode(crops).permute(0, 2, 3, 1).reshape(-1, 3)
    assert torch.allclose(torch.cov(latent.T), torch.eye(3), atol=1e-3)
    assert latent.mean(dim=0).abs().max() < 1e-4
    # every axis of the latent now reaches the decoder, so the picture moves (by how much
    # depends on how the decoder reads the new direction: round 4's, which had never used
    # it, moved less than its reconstruction error)
    gains = torch.linalg.svdvals(vqgan.post_quant_conv.weight[:, :, 0, 0])
    assert gains.min() > 0.3 * gains.max()
    assert (_unquantized(vqgan, crops) - before).abs().mean() > 0


def test_a_whitened_run_needs_a_vqgan_to_start_from(pairs_dir, tmp_path) -> None:
    config = TrainConfig(
        whiten_latent=True, data_root=str(pairs_dir), out_dir=str(tmp_path), steps=1
    )
    with pytest.raises(ConfigError, match="init_weights"):
        stages.train_vqgan(config)
