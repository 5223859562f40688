"""Parity with the official GLARE code on the shared fixture, stage by stage.

Tolerances come from the fixture's README: the official code itself moves by up to
3.2e-5 between float32 and float64 and by 1.1e-4 between 1 and 2 CPU threads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from glare_core.engine import Enhancer
from glare_core.imageio import read_image
from glare_core.official_keys import infer_official_config
from glare_core.preprocess import official_padding, pad_image, to_network_input, to_tensor
from glare_core.resources import bundled_weights_path
from glare_core.weights import build_model, read_state

OUTPUT_MAX_DIFF = 5e-4
OUTPUT_MEAN_DIFF = 2e-5
INTERMEDIATE_RELATIVE = 1e-4


@pytest.fixture(scope="module")
def official_files(fixture_dir: Path) -> list[Path]:
    return [fixture_dir / "net_G.pth", fixture_dir / "vqgan.pkl"]


@pytest.fixture(scope="module")
def enhancer(official_files: list[Path], fixture_dir: Path) -> Enhancer:
    model = build_model(official_files, fixture_dir / "config.yml")
    return Enhancer(model, torch.device("cpu"))


def _input(fixture_dir: Path, name: str) -> np.ndarray:
    return read_image(fixture_dir / "inputs" / name).rgb


def _assert_output_close(ours: np.ndarray, reference: np.ndarray) -> None:
    difference = np.abs(ours - reference)
    assert difference.max() <= OUTPUT_MAX_DIFF
    assert difference.mean() <= OUTPUT_MEAN_DIFF


@pytest.mark.parametrize(
    ("image", "reference"), [("input.png", "output.npy"), ("input_odd.png", "output_odd.npy")]
)
def test_output_matches_official(enhancer, fixture_dir, image, reference) -> None:
    ours = enhancer.enhance(_input(fixture_dir, image))
    _assert_output_close(ours, np.load(fixture_dir / reference))


@pytest.mark.parametrize(
    ("strength", "reference"), [(0.0, "output_amb_neg.npy"), (2.0, "output_amb_pos.npy")]
)
def test_strength_ends_match_official_amb_extremes(
    enhancer, fixture_dir, strength, reference
) -> None:
    ours = enhancer.enhance(_input(fixture_dir, "input.png"), strength=strength)
    _assert_output_close(ours, np.load(fixture_dir / reference))


def test_render_after_prepare_matches_official(enhancer, fixture_dir) -> None:
    prepared = enhancer.prepare(_input(fixture_dir, "input.png"))
    _assert_output_close(enhancer.render(prepared), np.load(fixture_dir / "output.npy"))


def test_intermediates_match_stage_by_stage(enhancer, fixture_dir) -> None:
    def expect(name: str, ours: torch.Tensor) -> None:
        reference = np.load(fixture_dir / "intermediates" / f"{name}.npy")
        value = ours[0].numpy()
        tolerance = INTERMEDIATE_RELATIVE * np.abs(reference).max()
        assert np.abs(value - reference).max() <= tolerance, name

    model = enhancer.model
    image = _input(fixture_dir, "input.png")
    padding = official_padding(*image.shape[:2], model.config.input.pad_multiple)
    network_input = to_network_input(to_tensor(pad_image(image, padding)), model.config.input)
    with torch.inference_mode():
        expect("lr_t", network_input)
        condition = model.condition(network_input)
        expect("cond_feat", condition.cond_feat)
        expect("color_map", condition.color_map)
        expect("mid_feat_0", condition.skips[0])
        expect("mid_feat_1", condition.skips[1])
        generated = model.generate(condition)
        expect("flow_out", generated.latent)
        expect("z_q", model.vqgan.quantize.lookup(generated.indices))
        expect("vq_dec_feat_0", generated.vq_features[0])
        expect("vq_dec_feat_1", generated.vq_features[1])
        reconstruction, _ = model.vqgan.decoder(
            model.vqgan.post_quant_conv(model.vqgan.quantize.lookup(generated.indices))
        )
        expect("vq_rec", reconstruction)
    codes = np.load(fixture_dir / "intermediates" / "code_idx.npy")
    assert np.array_equal(generated.indices[0].numpy(), codes)


def test_png_written_by_cli_is_within_one_level(fixture_dir, tmp_path, official_files) -> None:
    from glare_core.cli import main

    out = tmp_path / "out.png"
    args = ["enhance", str(fixture_dir / "inputs" / "input.png"), "-o", str(out)]
    args += ["--config", str(fixture_dir / "config.yml"), "--temperature", "0", "--device", "cpu"]
    for path in official_files:
        args += ["--weights", str(path)]
    assert main(args) == 0
    ours = read_image(out).rgb * 255
    official = read_image(fixture_dir / "output.png").rgb * 255
    assert np.abs(np.round(ours) - np.round(official)).max() <= 1


def test_shape_inference_equals_the_official_yml(official_files, fixture_dir) -> None:
    from dataclasses import replace

    from glare_core.config import load_config

    state, _ = read_state(official_files)
    inferred = replace(infer_official_config(state), name="x")
    assert inferred == replace(load_config(fixture_dir / "config.yml"), name="x")


def test_weights_are_read_by_content_whatever_their_extension(official_files, tmp_path) -> None:
    bundled_weights = bundled_weights_path()
    renamed_checkpoint = tmp_path / "net_G.safetensors"
    renamed_checkpoint.write_bytes(official_files[0].read_bytes())
    renamed_bundle = tmp_path / "glare-compact.pth"
    renamed_bundle.write_bytes(bundled_weights.read_bytes())
    as_named, _ = read_state(official_files)
    renamed, _ = read_state([renamed_checkpoint, official_files[1]])
    assert renamed.keys() == as_named.keys()
    assert all(torch.equal(renamed[key], as_named[key]) for key in as_named)
    bundle, config = read_state([bundled_weights])
    renamed_state, renamed_config = read_state([renamed_bundle])
    assert renamed_config == config and renamed_state.keys() == bundle.keys()
