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


def _unquantized(vqgan, images: torch.Tensor) -> torch.Tensor:
    return vqgan.decoder(vqgan.post_quant_conv(vqgan.encode(images)))[0]


@torch.no_grad()
def test_whitening_spreads_the_latent_and_revives_its_collapsed_axis(crops) -> None:
    vqgan = build_model([bundled_weights_path()]).float().vqgan
    before = _unquantized(vqgan, crops)
    reach = whiten_latent(vqgan, crops)
    # one axis of the bundled VQGAN's latent barely reaches its decoder
    assert reach.min() < 0.2 * reach.max()

    latent = vqgan.encode(crops).permute(0, 2, 3, 1).reshape(-1, 3)
    assert torch.allclose(torch.cov(latent.T), torch.eye(3), atol=1e-3)
    assert latent.mean(dim=0).abs().max() < 1e-4
    # every axis of the latent now reaches the decoder, and the picture moves only a little
    gains = torch.linalg.svdvals(vqgan.post_quant_conv.weight[:, :, 0, 0])
    assert gains.min() > 0.3 * gains.max()
    change = (_unquantized(vqgan, crops) - before).abs().mean()
    assert 0 < change < (before - crops).abs().mean()


def test_a_whitened_run_needs_a_vqgan_to_start_from(pairs_dir, tmp_path) -> None:
    config = TrainConfig(
        whiten_latent=True, data_root=str(pairs_dir), out_dir=str(tmp_path), steps=1
    )
    with pytest.raises(ConfigError, match="init_weights"):
        stages.train_vqgan(config)
