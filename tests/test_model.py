"""Exactness of the network's building blocks, on tiny sizes, against first principles."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from glare_core.config import (
    FlowConfig,
    GlareConfig,
    RetrievalConfig,
    config_from_official_yml,
    load_config,
    preset,
)
from glare_core.errors import ConfigError
from glare_core.model.amb import AdaptiveMixUp, strength_to_mix
from glare_core.model.deform_conv import modulated_deform_conv2d
from glare_core.model.flow import LatentFlow
from glare_core.model.glare import GlareNet
from glare_core.model.quantizer import Codebook


def _randomise(module: torch.nn.Module, std: float = 0.3) -> None:
    """Move every parameter off its (often identity-making) initialisation."""
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(std * torch.randn_like(parameter))


@pytest.fixture
def flow() -> LatentFlow:
    torch.manual_seed(0)
    cfg = FlowConfig(levels=2, coupling_steps=2, invconv_steps=1, hidden_channels=8)
    model = LatentFlow(cfg, channels=3, cond_channels=4).double()
    _randomise(model)
    return model


def test_flow_inverse_undoes_forward(flow: LatentFlow) -> None:
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    cond = torch.rand(2, 4, 5, 6, dtype=torch.float64)
    z, _ = flow(x, cond)
    assert not torch.allclose(z, x, atol=1e-2)  # the flow does transform
    torch.testing.assert_close(flow.inverse(z, cond), x, atol=1e-10, rtol=0)


def test_flow_logdet_matches_autograd_jacobian(flow: LatentFlow) -> None:
    shape = (1, 3, 2, 3)
    x = torch.randn(shape, dtype=torch.float64)
    cond = torch.rand(1, 4, 2, 3, dtype=torch.float64)
    _, logdet = flow(x, cond)
    jacobian = torch.autograd.functional.jacobian(lambda v: flow(v, cond)[0], x)
    jacobian = jacobian.reshape(x.numel(), x.numel())
    expected = torch.linalg.slogdet(jacobian)[1]
    torch.testing.assert_close(logdet[0], expected, atol=1e-8, rtol=1e-8)


def _naive_deform_conv(x, offset, mask, weight, bias, groups):
    """Direct per-pixel, per-tap bilinear sampling, as the CUDA kernel loops."""
    batch, channels, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    out = torch.zeros(batch, out_channels, height, width, dtype=x.dtype)
    per_group = channels // groups

    def pixel(b, c, yy, xx):
        inside = 0 <= yy < height and 0 <= xx < width
        return x[b, c, yy, xx] if inside else x.new_zeros(())

    for b in range(batch):
        for oy in range(height):
            for ox in range(width):
                for tap in range(kh * kw):
                    i, j = divmod(tap, kw)
                    for c in range(channels):
                        g = c // per_group
                        dy = offset[b, g * 2 * kh * kw + 2 * tap, oy, ox]
                        dx = offset[b, g * 2 * kh * kw + 2 * tap + 1, oy, ox]
                        py, px = oy - 1 + i + dy, ox - 1 + j + dx
                        if not (-1 < py < height and -1 < px < width):
                            continue
                        y0, x0 = int(torch.floor(py)), int(torch.floor(px))
                        ly, lx = py - y0, px - x0
                        value = (
                            (1 - ly) * (1 - lx) * pixel(b, c, y0, x0)
                            + (1 - ly) * lx * pixel(b, c, y0, x0 + 1)
                            + ly * (1 - lx) * pixel(b, c, y0 + 1, x0)
                            + ly * lx * pixel(b, c, y0 + 1, x0 + 1)
                        )
                        m = mask[b, g * kh * kw + tap, oy, ox]
                        out[b, :, oy, ox] += weight[:, c, i, j] * value * m
    return out + bias.view(1, -1, 1, 1)


def test_deformable_conv_matches_naive_loop() -> None:
    torch.manual_seed(0)
    groups, channels = 2, 4
    x = torch.randn(1, channels, 5, 4, dtype=torch.float64)
    offset = 1.5 * torch.randn(1, groups * 2 * 9, 5, 4, dtype=torch.float64)
    mask = torch.rand(1, groups * 9, 5, 4, dtype=torch.float64)
    weight = torch.randn(3, channels, 3, 3, dtype=torch.float64)
    bias = torch.randn(3, dtype=torch.float64)
    ours = modulated_deform_conv2d(
        x, offset, mask, weight, bias, padding=1, deformable_groups=groups
    )
    expected = _naive_deform_conv(x, offset, mask, weight, bias, groups)
    torch.testing.assert_close(ours, expected, atol=1e-10, rtol=1e-10)


def test_deformable_conv_in_bfloat16_channels_last_samples_in_float32() -> None:
    # reduced-precision decoders hand the warp bfloat16, channels-last features; sampling
    # them directly crashes torch 2.13's CPU grid_sample, so the warp samples in float32
    torch.manual_seed(0)
    groups, channels, size = 2, 8, (40, 56)
    x = torch.randn(1, channels, *size)
    offset = 3 * torch.randn(1, groups * 2 * 9, *size)
    mask = torch.rand(1, groups * 9, *size)
    weight, bias = 0.1 * torch.randn(channels, channels, 3, 3), torch.randn(channels)
    exact = modulated_deform_conv2d(x, offset, mask, weight, bias, 1, groups)
    low = [
        t.to(torch.bfloat16, memory_format=torch.channels_last) for t in (x, offset, mask, weight)
    ]
    reduced = modulated_deform_conv2d(*low, bias.to(torch.bfloat16), 1, groups)
    assert reduced.dtype == torch.bfloat16
    assert reduced.is_contiguous(memory_format=torch.channels_last)
    error = (reduced.float() - exact).abs()
    assert error.mean() < 0.01 * exact.abs().mean() and error.max() < 0.1


def test_deformable_conv_with_zero_offsets_is_a_masked_convolution() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 7, dtype=torch.float64)
    weight = torch.randn(5, 4, 3, 3, dtype=torch.float64)
    offset = torch.zeros(2, 2 * 9, 6, 7, dtype=torch.float64)
    mask = torch.full((2, 9, 6, 7), 0.5, dtype=torch.float64)
    ours = modulated_deform_conv2d(x, offset, mask, weight, None, padding=1, deformable_groups=1)
    torch.testing.assert_close(ours, 0.5 * F.conv2d(x, weight, padding=1))


def test_quantizer_picks_the_true_nearest_code() -> None:
    torch.manual_seed(0)
    codebook = Codebook(size=37, dim=3, commitment_beta=0.25)
    torch.nn.init.normal_(codebook.embedding.weight)
    z = torch.randn(2, 3, 4, 5)
    indices = codebook.nearest(z)
    vectors = z.permute(0, 2, 3, 1).reshape(-1, 1, 3)
    brute = ((vectors - codebook.embedding.weight[None]) ** 2).sum(-1).argmin(-1)
    assert torch.equal(indices.flatten(), brute)
    quantized = codebook(z)
    torch.testing.assert_close(quantized.codes, codebook.lookup(indices))
    assert quantized.loss > 0


def test_strength_mapping_is_monotone_and_hits_the_ends() -> None:
    trained = torch.sigmoid(torch.tensor([-0.7]))
    mixes = [float(strength_to_mix(trained, s / 10)) for s in range(21)]
    assert mixes[0] == 0.0 and mixes[-1] == 1.0
    assert mixes[10] == float(trained)
    assert all(a < b for a, b in zip(mixes, mixes[1:], strict=False))
    with pytest.raises(ValueError):
        strength_to_mix(trained, 2.5)


def test_amb_extremes_select_one_input() -> None:
    amb = AdaptiveMixUp(init_weight=-0.6)
    enc, generated = torch.full((1, 2, 2, 2), 3.0), torch.full((1, 2, 2, 2), -1.0)
    assert torch.equal(amb(enc, generated, 0.0), generated)
    assert torch.equal(amb(enc, generated, 2.0), enc)


@torch.no_grad()
def test_the_vqgan_decodes_codes_moved_the_configured_share_towards_the_latent() -> None:
    model = GlareNet(preset("compact")).eval()
    condition = model.condition(torch.randn(1, 3, 32, 48))
    for share in (0.0, 0.25, 1.0):
        model.config = dataclasses.replace(model.config, retrieval=RetrievalConfig(share))
        generated = model.generate(condition)
        codes = model.vqgan.quantize.lookup(generated.indices)
        decoded = model.vqgan.decode_features(codes + share * (generated.latent - codes))
        for feature, expected in zip(generated.vq_features, decoded, strict=True):
            torch.testing.assert_close(feature, expected)
    for wrong in (1.5, -0.1, "0.5", None):
        with pytest.raises(ConfigError, match="latent_share"):
            RetrievalConfig(latent_share=wrong)


def test_compact_preset_size_and_shapes() -> None:
    cfg = preset("compact")
    model = GlareNet(cfg)
    parameters = sum(p.numel() for p in model.parameters())
    assert 1_000_000 <= parameters <= 5_000_000
    with torch.inference_mode():
        out = model(torch.randn(1, 3, 48, 64))
    assert out.shape == (1, 3, 48, 64)


def test_config_round_trips_through_json() -> None:
    cfg = dataclasses.replace(preset("compact"), name="round-trip")
    assert type(cfg).from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize("section", [None, 3, [1, 2], "input"])
def test_a_config_with_a_malformed_section_is_refused_by_name(section: object) -> None:
    """A hand-edited config with a null or scalar where a section belongs gets a ConfigError
    that names the section, not an AttributeError from deep inside the loader."""
    data = json.loads(preset("compact").to_json())
    data["input"]["noise_adaptation"] = section
    with pytest.raises(ConfigError, match="NoiseAdaptation needs a section"):
        GlareConfig.from_dict(data)
    with pytest.raises(ConfigError, match="GlareConfig needs a section"):
        GlareConfig.from_dict(section)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"input": null', "GLARE config is not valid JSON"),
        (b"\xff\xfe\x00", "cannot read the config"),
    ],
)
def test_a_config_file_that_is_not_json_is_refused_by_name(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=f"broken.json: {reason}"):
        load_config(path)


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5])
def test_a_config_with_a_path_share_out_of_range_is_a_config_error(share: float) -> None:
    data = json.loads(preset("compact").to_json())
    data["noisy_path"]["mix"]["into_glare_path"] = share
    with pytest.raises(ConfigError, match=r"PathMix.into_glare_path must lie in \[0, 1\)"):
        GlareConfig.from_dict(data)


def _official_yml_without(fixture_dir: Path, tmp_path: Path, *keys: str, value: object) -> Path:
    """The parity fixture's official ``.yml`` with the setting at ``keys`` set to ``value``
    (``None``: removed)."""
    import yaml

    opt = yaml.safe_load((fixture_dir / "config.yml").read_text())
    section = opt
    for key in keys[:-1]:
        section = section[key]
    if value is None:
        del section[keys[-1]]
    else:
        section[keys[-1]] = value
    path = tmp_path / "edited.yml"
    path.write_text(yaml.safe_dump(opt))
    return path


@pytest.mark.parametrize(
    ("keys", "value", "reason"),
    [
        (("network_VQGAN", "n_embed"), None, "no 'n_embed' in it"),
        (("network_G", "flow", "K"), None, "no 'K' in it"),
        (("network_G", "flow", "L"), "two", "invalid literal"),
        (("network_G", "flow", "K"), True, "True is not a whole number"),
        # a billion coupling steps filled the memory while the network was built
        (("network_G", "flow", "K"), 10**9, "flow.coupling_steps must be 1 to 256"),
        (("network_VQGAN", "n_embed"), 10**9, "vqgan.codebook_size must be 1 to 1048576"),
        (("network_G", "flow"), "a flow", "it needs network_G with its flow"),
    ],
)
def test_an_official_yml_with_a_setting_missing_or_malformed_is_a_config_error(
    fixture_dir: Path, tmp_path: Path, keys: tuple[str, ...], value: object, reason: str
) -> None:
    path = _official_yml_without(fixture_dir, tmp_path, *keys, value=value)
    with pytest.raises(ConfigError, match=f"edited.yml: .*{reason}"):
        config_from_official_yml(path)


def test_an_official_yml_without_training_data_reads_a_linear_input(
    fixture_dir: Path, tmp_path: Path
) -> None:
    """The official code reads ``log_low`` from the training data options and takes its
    absence as a linear input: a config trimmed to the network sections still loads."""
    path = _official_yml_without(fixture_dir, tmp_path, "datasets", value=None)
    trimmed = config_from_official_yml(path)
    full = config_from_official_yml(fixture_dir / "config.yml")
    assert full.input.log_input and not trimmed.input.log_input
    assert trimmed.flow == full.flow and trimmed.vqgan == full.vqgan


@pytest.mark.parametrize("text", ["", "- a list\n", "network_G: {}\n", "network_G:\n  flow: {}\n"])
def test_a_yml_of_another_shape_is_named_as_no_official_config(tmp_path, text) -> None:
    path = tmp_path / "other.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="it needs network_G with its flow, and network_VQGAN"):
        config_from_official_yml(path)
