"""Each GLARE training stage end to end on a couple of real crops: it learns and it resumes."""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from glare_core.config import COMPACT_EXPOSURE, RetrievalConfig, preset
from glare_core.engine import Enhancer
from glare_core.errors import ConfigError
from glare_core.exposure import UNBOUNDED, ExposureRange, mean_luma
from glare_core.imageio import read_image, write_image
from glare_core.model.glare import GlareNet
from glare_core.resources import bundled_weights_path
from glare_core.train import stages
from glare_core.train.augment import AugmentConfig, darken, hue_saturation_matrix, recolor
from glare_core.train.config import TrainConfig, load_train_config, model_config
from glare_core.train.data import DenoisingCrops, PairedCrops, batch_rng, load_pairs
from glare_core.train.losses import colour_part
from glare_core.train.stages import (
    denoiser_stage,
    flow_stage,
    fusion_stage,
    training_exposure,
    vqgan_stage,
)
from glare_core.weights import EXPORT_NAME, build_model, read_state, save_weights

STEPS_TO_LEARN = 12
TRAINING = Path(__file__).resolve().parents[1] / "training"
#: the last round of training/train-compact, whose weights are bundled (averaged with the
#: round before it)
BUNDLED_ROUND = "fusion-jpeg"
#: scenes of the hue test: eval pairs, their hue turned both ways this far, saturation scaled,
#: and the exposure they are darkened to (linear light)
HUE_SCENES = 4
HUE_TURN = 2 * math.pi / 3
HUE_SATURATION = 1.5
HUE_EXPOSURE = 0.03
#: the change that builds the compact model's fusion decoder as rounds 1-2 had it
ONE_BLOCK_PER_LEVEL = {"fusion_decoder": {"autoencoder": {"num_res_blocks": 0}}}


def shipped_round(run: str) -> TrainConfig:
    """The settings of one run of training/train-compact, e.g. ``fusion-colour``."""
    stage = run.split("-")[0]
    return load_train_config(stage, TRAINING / f"compact-{run}.yaml")


@pytest.fixture(scope="module")
def batch(pairs_dir: Path) -> dict[str, torch.Tensor]:
    pairs = load_pairs(pairs_dir, "train", limit=2)
    return PairedCrops(pairs, crop_size=32).sample(2, batch_rng(0, 0))


@pytest.fixture(scope="module")
def noisy_batch(pairs_dir: Path) -> dict[str, torch.Tensor]:
    pairs = load_pairs(pairs_dir, "train", limit=2)
    augment = load_train_config("denoiser", TRAINING / "compact-denoiser.yaml").augment
    return DenoisingCrops(pairs, 32, augment).sample(4, batch_rng(0, 0))


@pytest.mark.parametrize(
    "build, batch_name",
    [
        (vqgan_stage, "batch"),
        (flow_stage, "batch"),
        (fusion_stage, "batch"),
        (denoiser_stage, "noisy_batch"),
        (functools.partial(fusion_stage, noisy_path=True), "batch"),
    ],
)
def test_stage_loss_is_finite_and_falls(build, batch_name, request) -> None:
    batch = request.getfixturevalue(batch_name)
    torch.manual_seed(0)
    model = GlareNet(preset("compact"))
    spec = build(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    frozen_before = {n: p.clone() for n, p in model.named_parameters() if not p.requires_grad}
    optimizer = torch.optim.Adam(trainable, lr=1e-3)
    losses = []
    for step in range(STEPS_TO_LEARN):
        loss = spec.loss_fn(batch, step)["loss"]
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert min(losses[-3:]) < losses[0]
    for name, parameter in model.named_parameters():
        if name in frozen_before:
            assert torch.equal(parameter, frozen_before[name]), f"{name} moved while frozen"


@pytest.mark.parametrize("stage", ["fusion", "denoiser", "noisy_fusion"])
def test_training_resumes_from_the_saved_step_and_exports(stage, pairs_dir, tmp_path) -> None:
    earlier_stages = tmp_path / "flow.safetensors"
    save_weights(GlareNet(preset("compact")), preset("compact"), earlier_stages)
    train = getattr(stages, f"train_{stage}")
    config = TrainConfig(
        init_weights=(str(earlier_stages),),
        stage=stage,
        steps=2,
        batch_size=2,
        crop_size=32,
        warmup_steps=1,
        # a validation between steps: it must leave the model trainable (float32)
        validate_every=1,
        validate_images=1,
        log_every=1,
        progress_bar=False,
        out_dir=str(tmp_path / stage),
        data_root=str(pairs_dir),
    )
    first = train(config)
    assert first.step == 2 and first.checkpoint is not None
    resumed = train(dataclasses.replace(config, steps=3, resume=True))
    assert resumed.step == 3
    log = (tmp_path / stage / config.log_file).read_text()
    assert "resumed from" in log and "at step 2" in log
    # what the model's set-up reports reaches the log, after the run's settings
    assert log.index(f"training {stage}:") < log.index(f"started from {earlier_stages}")
    assert "step 3 validation psnr=" in log
    model = build_model([tmp_path / stage / EXPORT_NAME])
    assert model.config == model_config(config)
    # only the stages of the noisy-photo path build it
    assert (model.noisy_path is not None) == (stage != "fusion")


def test_a_stage_stopped_by_its_time_budget_exports_no_weights(pairs_dir, tmp_path) -> None:
    """A later stage would start from them and keep them, frozen, after this one finished."""
    config = TrainConfig(
        stage="vqgan",
        steps=50,
        batch_size=1,
        crop_size=32,
        max_minutes=1e-9,
        validate_every=0,
        progress_bar=False,
        out_dir=str(tmp_path / "vqgan"),
        data_root=str(pairs_dir),
    )
    result = stages.train_vqgan(config)
    assert (result.reason, result.step) == ("time budget", 1) and result.checkpoint is not None
    assert not (tmp_path / "vqgan" / EXPORT_NAME).exists()
    finished = stages.train_vqgan(dataclasses.replace(config, steps=2, max_minutes=0, resume=True))
    assert finished.reason == "finished" and (tmp_path / "vqgan" / EXPORT_NAME).is_file()


@pytest.mark.parametrize("stage", sorted(stages.BUILDS_ON_EARLIER_STAGES))
def test_stages_on_frozen_earlier_ones_refuse_to_start_without_their_weights(
    stage, tmp_path
) -> None:
    # they used to train against a random, frozen VQGAN (and flow) and export the result
    config = TrainConfig(stage=stage, out_dir=str(tmp_path), data_root=str(tmp_path / "none"))
    with pytest.raises(ConfigError, match=f"stage {stage} trains on top of .*init_weights"):
        getattr(stages, f"train_{stage}")(config)
    assert not any(tmp_path.iterdir())


def test_a_data_folder_without_eval_pairs_trains_only_without_validation(
    pairs_dir, tmp_path
) -> None:
    for side in ("low", "high"):
        folder = tmp_path / "data" / "train" / side
        folder.mkdir(parents=True)
        for name in ("2.png", "3.png"):
            (folder / name).symlink_to(pairs_dir / "train" / side / name)
    config = TrainConfig(
        stage="vqgan",
        steps=1,
        batch_size=1,
        crop_size=32,
        progress_bar=False,
        out_dir=str(tmp_path / "run"),
        data_root=str(tmp_path / "data"),
    )
    with pytest.raises(ConfigError, match=r"eval, which is missing: .*'validate_every: 0'"):
        stages.train_vqgan(config)
    assert stages.train_vqgan(dataclasses.replace(config, validate_every=0)).step == 1


def _data_with_odd_eval(pairs_dir: Path, root: Path) -> Path:
    """Two train pairs, and one eval pair at 150 x 100 (sides no multiple of 16)."""
    for side in ("low", "high"):
        train = root / "train" / side
        train.mkdir(parents=True)
        for name in ("2.png", "3.png"):
            (train / name).symlink_to(pairs_dir / "train" / side / name)
        evaluated = root / "eval" / side
        evaluated.mkdir(parents=True)
        image = read_image(sorted((pairs_dir / "eval" / side).glob("*.png"))[0]).rgb
        write_image(evaluated / "1.png", cv2.resize(image, (150, 100)))
    return root


@pytest.mark.parametrize("stage", ["vqgan", "flow"])
def test_validation_scores_eval_images_of_any_size(stage, pairs_dir, tmp_path) -> None:
    """Stages 1 and 2 ran the network on them unpadded: the first validation, far into a
    run, failed ("image sizes differ"), and so did every resume."""
    earlier_stages = tmp_path / "vqgan.safetensors"
    save_weights(GlareNet(preset("compact")), preset("compact"), earlier_stages)
    config = TrainConfig(
        stage=stage,
        init_weights=(str(earlier_stages),) if stage == "flow" else (),
        steps=1,
        batch_size=1,
        crop_size=32,
        validate_every=1,
        progress_bar=False,
        out_dir=str(tmp_path / stage),
        data_root=str(_data_with_odd_eval(pairs_dir, tmp_path / "data")),
    )
    assert getattr(stages, f"train_{stage}")(config).validation["psnr"] > 0


def test_a_crop_the_network_cannot_take_is_refused_before_training(pairs_dir, tmp_path) -> None:
    """A crop of 62 failed at the first step, in a traceback (sizes 60 and 62)."""
    config = TrainConfig(
        stage="vqgan",
        crop_size=62,
        progress_bar=False,
        out_dir=str(tmp_path / "run"),
        data_root=str(pairs_dir),
    )
    with pytest.raises(ConfigError, match="crop_size must be a multiple of 4 .* not 62"):
        stages.train_vqgan(config)  # its 20,000 steps would not end within the test


def test_the_denoiser_trains_on_crops_of_any_size(pairs_dir, tmp_path) -> None:
    """It alone takes any size: the check of the other stages' crops refused it one of 120."""
    config = TrainConfig(
        stage="denoiser",
        init_weights=(str(bundled_weights_path()),),
        steps=1,
        batch_size=1,
        crop_size=122,
        validate_every=0,
        progress_bar=False,
        out_dir=str(tmp_path / "run"),
        data_root=str(pairs_dir),
    )
    assert stages.train_denoiser(config).step == 1


def test_earlier_weights_of_another_network_are_refused_in_one_line(pairs_dir, tmp_path) -> None:
    """They ended in a traceback with a line per tensor of another shape."""
    earlier_stages = tmp_path / "vqgan.safetensors"
    save_weights(GlareNet(preset("compact")), preset("compact"), earlier_stages)
    config = TrainConfig(
        stage="flow",
        init_weights=(str(earlier_stages),),
        model_changes={"vqgan": {"codebook_size": 256}},
        progress_bar=False,
        out_dir=str(tmp_path / "run"),
        data_root=str(pairs_dir),
    )
    with pytest.raises(ConfigError) as refused:
        stages.train_flow(config)
    message = str(refused.value)
    assert message.startswith(f"{earlier_stages} does not fit the network this run builds")
    assert "\n" not in message


def test_earlier_weights_this_network_has_no_place_for_are_named(caplog) -> None:
    """They were dropped without a word (the bundled file's second residual block per
    fusion-decoder level, into a run that builds one)."""
    config = TrainConfig(
        stage="fusion",
        init_weights=(str(bundled_weights_path()),),
        model_changes=ONE_BLOCK_PER_LEVEL,
    )
    with caplog.at_level(logging.WARNING, logger=stages.__name__):
        stages._initial_model(config)
    assert "tensors of init_weights are not in this network" in caplog.text
    assert "noisy_path." not in caplog.text  # the fusion stage builds no noisy path


@torch.no_grad()
def test_the_noisy_paths_decoder_starts_as_glares_and_its_denoiser_as_the_identity(
    batch, tmp_path
) -> None:
    torch.manual_seed(0)
    glare_only = model_config(TrainConfig(stage="fusion"))
    assert not glare_only.noisy_path.enabled
    save_weights(GlareNet(glare_only), glare_only, tmp_path / "glare.safetensors")
    config = TrainConfig(stage="noisy_fusion", init_weights=(str(tmp_path / "glare.safetensors"),))
    model = stages._initial_model(config).eval()
    low = batch["low"]
    torch.testing.assert_close(model.noisy_path.denoiser(low), low, rtol=0, atol=0)
    low_light = torch.log(low + 1e-3)
    torch.testing.assert_close(model(low_light, noisy=True), model(low_light), rtol=0, atol=0)


def test_denoising_crops_pair_a_noisy_capture_with_the_same_capture_clean(pairs_dir) -> None:
    pairs = load_pairs(pairs_dir, "train", limit=2)
    only_noise = AugmentConfig.disabled()
    clean_capture = DenoisingCrops(pairs, 64, only_noise).sample(4, batch_rng(0, 0))
    # no noise drawn: the input is the clean crop stored in 8 bits
    difference = clean_capture["low"] - clean_capture["high"]
    assert difference.abs().max() <= 0.5 / 255 + 1e-6
    noisy = dataclasses.replace(only_noise, noise_probability=1.0)
    noisy_capture = DenoisingCrops(pairs, 64, noisy).sample(4, batch_rng(0, 0))
    difference = noisy_capture["low"] - noisy_capture["high"]
    assert difference.std() > 2 / 255 and abs(float(difference.mean())) < 2 / 255


def test_runs_train_on_codes_as_the_paper_retrieves_them() -> None:
    """How far the preset moves codes back to the latent is chosen on the trained network;
    every run trains on the retrieved codes unless its ``model_changes`` say otherwise."""
    assert preset("compact").retrieval.latent_share > 0
    trained = model_config(TrainConfig(model="compact"))
    assert trained.retrieval == RetrievalConfig()
    compact = preset("compact")
    restored = dataclasses.replace(
        trained, retrieval=compact.retrieval, noisy_path=compact.noisy_path
    )
    assert restored == compact
    asked = model_config(TrainConfig(model_changes={"retrieval": {"latent_share": 0.5}}))
    assert asked.retrieval.latent_share == 0.5


def test_a_deeper_decoder_starts_as_the_network_it_grows_from(batch, tmp_path) -> None:
    """Residual blocks the initial weights lack start as the identity: same output."""
    deeper = preset("compact")
    shallow = model_config(TrainConfig(model_changes=ONE_BLOCK_PER_LEVEL))
    assert shallow.fusion_decoder.autoencoder.num_res_blocks == 0
    torch.manual_seed(0)
    grown_from = GlareNet(shallow).eval()
    save_weights(grown_from, shallow, tmp_path / "shallow.safetensors")

    config = TrainConfig(model="compact", init_weights=(str(tmp_path / "shallow.safetensors"),))
    grown = stages._initial_model(config).eval()

    new_blocks = [f"fusion_decoder.up.{level}.block.1" for level in range(3)]
    assert all(torch.count_nonzero(grown.get_submodule(n).conv2.weight) == 0 for n in new_blocks)
    low_light = torch.log(batch["low"] + 1e-3)
    with torch.no_grad():
        torch.testing.assert_close(grown(low_light), grown_from(low_light), rtol=0, atol=1e-6)
        # loaded without the identity start, the new blocks' random layers change the picture
        plain = GlareNet(deeper).eval()
        plain.load_state_dict(grown_from.state_dict(), strict=False)
        assert (plain(low_light) - grown_from(low_light)).abs().max() > 1e-2


def test_each_shipped_round_builds_the_network_it_was_trained_as() -> None:
    """Round 3 grew the preset's fusion decoder after rounds 1-2 had trained: re-running
    training/train-compact must build each round's network as it was, and the last round's
    must be the bundled file's."""
    for run in ("vqgan", "flow", "fusion", "flow-exposure", "fusion-exposure"):
        assert model_config(shipped_round(run)).fusion_decoder.autoencoder.num_res_blocks == 0, run
    _, bundled = read_state([bundled_weights_path()])
    last = model_config(shipped_round(BUNDLED_ROUND))
    for part in ("vqgan", "cond_encoder", "flow", "fusion_decoder"):
        assert getattr(last, part) == getattr(bundled, part), part


@torch.no_grad()
def test_the_bundled_vqgan_keeps_the_colour_of_normal_light_photos(pairs_dir) -> None:
    """Round 1's VQGAN gave back washed-out pictures (0.42 of these crops' colour); round 4's
    colour term made it keep more (0.63), round 5's whitened latent nearly all of it (0.97).
    Colour: each pixel's mean distance from its grey (glare_core.train.losses.colour_part)."""
    vqgan = build_model([bundled_weights_path()]).float().vqgan
    highs = torch.stack(
        [
            torch.from_numpy(p.high[:128, :192].astype("float32") / 255)
            for p in load_pairs(pairs_dir, "train", limit=8)
        ]
    ).permute(0, 3, 1, 2)
    reconstruction = vqgan(highs).reconstruction.clamp(0, 1)
    kept = colour_part(reconstruction).abs().mean() / colour_part(highs).abs().mean()
    assert kept > 0.85


def _hue_agreement(result: np.ndarray, scene: np.ndarray) -> float:
    """Cosine between the result's and the scene's colour (each pixel's offset from its
    grey), averaged over pixels weighted by the scene's colour: 1 when every hue is kept."""
    result_colour = result - result.mean(-1, keepdims=True)
    scene_colour = scene - scene.mean(-1, keepdims=True)
    weight = np.linalg.norm(scene_colour, axis=-1)
    cosine = (result_colour * scene_colour).sum(-1) / (
        np.linalg.norm(result_colour, axis=-1) * weight + 1e-6
    )
    return float((cosine * weight).sum() / weight.sum())


def test_the_bundled_model_keeps_the_hues_of_a_dark_scene(pairs_dir) -> None:
    """Eval references recoloured (hue turned by a third of a turn either way, more
    saturated), darkened and enhanced: round 4, whose latent held no red-green axis, turned
    these scenes blue-orange (agreement 0.33, its worst scene 0.02); round 5, trained on
    recoloured scenes, keeps their hues (0.75, its worst scene 0.60), round 6 (0.74, 0.55) and
    the bundled mean of rounds 6 and 7 (0.76, 0.59; with its codes half way back to the flow's
    latent, as the file's config decodes them, 0.76, 0.38)."""
    enhancer = Enhancer.load(device="cpu")
    agreements = []
    for pair in load_pairs(pairs_dir, "eval", limit=HUE_SCENES):
        reference = pair.high[:192, :256].astype(np.float32) / 255
        for turn in (HUE_TURN, -HUE_TURN):
            scene = recolor(reference, hue_saturation_matrix(turn, HUE_SATURATION))
            low = np.round(darken(scene, HUE_EXPOSURE) * 255).astype(np.float32) / 255
            agreements.append(_hue_agreement(enhancer.enhance(low), scene))
    assert np.mean(agreements) > 0.6
    assert min(agreements) > 0.3


def test_a_model_change_that_names_no_setting_is_an_error() -> None:
    misspelt = {"fusion_decoder": {"autoencoder": {"num_blocks": 0}}}
    with pytest.raises(ConfigError, match=r"AutoencoderConfig\.num_blocks"):
        model_config(TrainConfig(model_changes=misspelt))


@torch.no_grad()
@pytest.mark.parametrize("run", ["vqgan-colour", "fusion-colour"])
def test_a_round_weighting_colour_adds_the_chroma_term_to_its_loss(run, batch) -> None:
    config = shipped_round(run)
    assert config.losses.chroma > 0
    build = vqgan_stage if run.startswith("vqgan") else fusion_stage
    losses = build(GlareNet(preset("compact")), config.losses).loss_fn(batch, 0)
    weights = config.losses
    image_loss = weights.l1 * losses["l1"] + weights.ssim * losses["ssim"]
    added = float(losses["loss"] - image_loss - weights.codebook * losses.get("codebook", 0))
    assert added == pytest.approx(weights.chroma * float(losses["chroma"]), rel=1e-4)
    assert float(losses["chroma"]) > 0
    plain = build(GlareNet(preset("compact"))).loss_fn(batch, 0)
    assert "chroma" not in plain


def test_each_shipped_round_trains_on_the_exposure_range_it_was_trained_on(pairs_dir) -> None:
    """Re-running training/train-compact must re-expose inputs as the shipped rounds did.

    The compact preset's inference floor (0.06) was raised after round 3 trained on 0.045,
    and round 4 kept that range; a run that names no range trains on the model's own.
    """
    model = GlareNet(preset("compact"))

    def range_of(run: str) -> ExposureRange:
        return training_exposure(shipped_round(run), model)

    assert range_of("fusion") == UNBOUNDED  # round 1 predates the range
    for run in ("fusion-deeper", "flow-colour", BUNDLED_ROUND):
        assert range_of(run) == ExposureRange(0.045, 0.14), run
    assert training_exposure(TrainConfig(), model) == COMPACT_EXPOSURE

    crops = PairedCrops(
        load_pairs(pairs_dir, "train", limit=8),
        crop_size=64,
        exposure=range_of(BUNDLED_ROUND),
    ).sample(16, batch_rng(0, 0))
    lumas = [mean_luma(low.permute(1, 2, 0).numpy()) for low in crops["low"]]
    # dark crops are raised to the run's floor, below the inference floor
    assert min(lumas) == pytest.approx(0.045, abs=0.003)
    assert min(lumas) < COMPACT_EXPOSURE.floor
