"""The training machinery on real training crops with a toy network (CPU, a few seconds)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity
from torch import nn

from glare_core.eight_bit import from_uint8
from glare_core.errors import ConfigError, GlareError
from glare_core.exposure import DISPLAY_GAMMA
from glare_core.train import checkpoint
from glare_core.train import cli as train_cli
from glare_core.train.augment import (
    AugmentConfig,
    add_sensor_noise,
    darken,
    grained_normal,
    grey_part,
    hue_saturation_matrix,
    jpeg_roundtrip,
    recolor,
    synthesize_low,
)
from glare_core.train.checkpoint import list_checkpoints
from glare_core.train.config import TrainConfig, load_train_config, model_config
from glare_core.train.data import (
    ImagePair,
    NormalLightCrops,
    PairedCrops,
    batch_rng,
    load_pairs,
    score_pairs,
)
from glare_core.train.loop import Trainer, TrainResult, seed_everything
from glare_core.train.losses import (
    chroma_loss,
    colour_part,
    ssim,
    ssim_loss,
    unexplained_colour,
)

CROP = 48
BATCH = 2


class ToyNet(nn.Module):
    """A residual pair of convolutions with dropout (so the run uses the global generator too)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.Dropout2d(0.1),
            nn.Conv2d(8, 3, 3, padding=1),
        )

    def forward(self, low: torch.Tensor) -> torch.Tensor:
        return low + self.body(low)


class StepCounter:
    """Extra training state outside the module."""

    def __init__(self) -> None:
        self.count = 0

    def state_dict(self) -> dict[str, int]:
        return {"count": self.count}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.count = state["count"]


@pytest.fixture(scope="module")
def train_pairs(pairs_dir: Path) -> list[ImagePair]:
    return load_pairs(pairs_dir, "train", limit=2)


def toy_config(out_dir: Path, **changes: object) -> TrainConfig:
    base = TrainConfig(
        steps=10,
        batch_size=BATCH,
        crop_size=CROP,
        lr=1e-2,
        warmup_steps=2,
        out_dir=str(out_dir),
        log_every=1,
        checkpoint_every_steps=0,
        checkpoint_every_seconds=1e9,
        validate_every=0,
        device="cpu",
        progress_bar=False,
    )
    return dataclasses.replace(base, **changes)


def toy_trainer(
    config: TrainConfig,
    pairs: list[ImagePair],
    record: list[tuple[float, float]],
    signal_at_step: int | None = None,
    signals: tuple[signal.Signals, ...] = (signal.SIGTERM,),
    **kwargs,
) -> tuple[Trainer, ToyNet]:
    net = ToyNet()
    counter = StepCounter()

    def step_fn(batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        if step == signal_at_step:
            for each in signals:  # as a job scheduler (or a user at the terminal) would, mid-step
                os.kill(os.getpid(), each)
        counter.count += 1
        loss = toy_loss(net, batch)
        record.append((float(batch["low"].sum()), float(loss.detach())))
        return {"loss": loss}

    crops = PairedCrops(pairs, CROP, config.augment)
    trainer = Trainer(net, step_fn, crops, config, extra_state={"counter": counter}, **kwargs)
    return trainer, net


def toy_loss(net: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    output = net(batch["low"])
    return F.l1_loss(output, batch["high"]) + 0.5 * ssim_loss(output, batch["high"])


def test_losses_are_finite_and_decrease(tmp_path: Path, train_pairs: list[ImagePair]) -> None:
    config = toy_config(tmp_path, steps=20, augment=AugmentConfig.disabled())
    # crops differ a lot from step to step, so progress is judged on one fixed set of crops
    held_out = PairedCrops(train_pairs, CROP, config.augment).sample(8, batch_rng(99, 0))
    seed_everything(0)
    record: list[tuple[float, float]] = []
    trainer, net = toy_trainer(config, train_pairs, record)
    with torch.no_grad():
        before = float(toy_loss(net.eval(), held_out))
    net.train()
    result = trainer.run()
    with torch.no_grad():
        after = float(toy_loss(net.eval(), held_out))
    assert result.reason == "finished" and result.step == 20 and len(record) == 20
    assert all(np.isfinite([loss for _, loss in record]))
    assert after < 0.5 * before
    assert result.checkpoint == tmp_path / "step-00000020.pt"
    assert "step 20 loss=" in (tmp_path / "train.log").read_text()


def test_resume_after_sigterm_matches_an_uninterrupted_run(
    tmp_path: Path, train_pairs: list[ImagePair]
) -> None:
    straight: list[tuple[float, float]] = []
    seed_everything(0)
    trainer, net_straight = toy_trainer(toy_config(tmp_path / "straight"), train_pairs, straight)
    trainer.run()

    interrupted: list[tuple[float, float]] = []
    seed_everything(0)
    config = toy_config(tmp_path / "resumed")
    trainer, _ = toy_trainer(config, train_pairs, interrupted, signal_at_step=4)
    first = trainer.run()
    assert (first.reason, first.step) == ("signal", 5)
    assert list_checkpoints(tmp_path / "resumed") == [tmp_path / "resumed" / "step-00000005.pt"]

    seed_everything(123)  # a differently initialised network: everything must come from disk
    config = toy_config(tmp_path / "resumed", resume=True)
    trainer, net_resumed = toy_trainer(config, train_pairs, interrupted)
    second = trainer.run()
    assert (second.reason, second.step) == ("finished", 10)
    assert trainer.extra_state["counter"].count == 10
    # the batch (its pixel sum) and the loss of every step after the resume are the same
    np.testing.assert_allclose(interrupted, straight, rtol=1e-6)
    for resumed, reference in zip(net_resumed.parameters(), net_straight.parameters(), strict=True):
        torch.testing.assert_close(resumed, reference, atol=1e-6, rtol=0)


def _logged_rates(log_file: Path) -> dict[int, float]:
    found = re.findall(r"step (\d+) .*\blr=(\S+)", log_file.read_text())
    return {int(step): float(rate) for step, rate in found}


def test_a_learning_rate_changed_on_resume_applies_to_the_remaining_steps(
    tmp_path: Path, train_pairs: list[ImagePair]
) -> None:
    trainer, _ = toy_trainer(toy_config(tmp_path / "straight"), train_pairs, [])
    trainer.run()
    straight = _logged_rates(tmp_path / "straight" / "train.log")
    trainer, _ = toy_trainer(toy_config(tmp_path / "run"), train_pairs, [], signal_at_step=4)
    trainer.run()

    lowered = toy_config(tmp_path / "run", resume=True, lr=1e-3)  # a tenth of toy_config's
    toy_trainer(lowered, train_pairs, [])[0].run()

    resumed = _logged_rates(tmp_path / "run" / "train.log")
    # the first five steps as first run, the rest on the same schedule from the new rate
    # (the saved optimizer state used to bring back the old one, while the log said it changed)
    assert [resumed[step] for step in range(1, 6)] == [straight[step] for step in range(1, 6)]
    for step in range(6, 11):
        assert resumed[step] == pytest.approx(straight[step] / 10, rel=1e-4)


def test_a_stopped_run_logs_the_losses_of_its_last_interval(
    tmp_path: Path, train_pairs: list[ImagePair]
) -> None:
    """Logged every 4 steps and stopped after step 5: step 5's loss was in no log line."""
    config = toy_config(tmp_path, log_every=4)
    result = toy_trainer(config, train_pairs, [], signal_at_step=4)[0].run()
    logged = re.findall(r"step (\d+) loss=(\S+)", (tmp_path / "train.log").read_text())
    assert [int(step) for step, _ in logged] == [4, 5]
    assert result.losses is not None
    assert result.losses["loss"] == pytest.approx(float(logged[-1][1]), rel=1e-4)


def signalled_twice_mid_step(
    out_dir: Path, train_pairs: list[ImagePair], signum: signal.Signals
) -> Trainer:
    signals = (signum, signum)
    return toy_trainer(toy_config(out_dir), train_pairs, [], signal_at_step=4, signals=signals)[0]


def test_sigterm_twice_still_stops_after_the_step_with_a_checkpoint(
    tmp_path: Path, train_pairs: list[ImagePair]
) -> None:
    # a job scheduler may signal a worker and its launcher, which passes its own signal on
    result = signalled_twice_mid_step(tmp_path, train_pairs, signal.SIGTERM).run()
    assert (result.reason, result.step) == ("signal", 5)
    assert list_checkpoints(tmp_path) == [tmp_path / "step-00000005.pt"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_second_ctrl_c_quits_at_once_without_a_checkpoint(
    tmp_path: Path, train_pairs: list[ImagePair]
) -> None:
    with pytest.raises(KeyboardInterrupt):
        signalled_twice_mid_step(tmp_path, train_pairs, signal.SIGINT).run()
    assert list_checkpoints(tmp_path) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_run_refuses_a_folder_it_cannot_continue(
    tmp_path: Path, train_pairs: list[ImagePair]
) -> None:
    toy_trainer(toy_config(tmp_path, steps=6), train_pairs, [])[0].run()
    log = (tmp_path / "train.log").read_text()
    # without --resume: pruning to the newest would delete its own checkpoints, and a later
    # resume would continue the other run
    with pytest.raises(ConfigError, match="earlier run .up to step-00000006.pt.: resume it"):
        toy_trainer(toy_config(tmp_path, steps=2), train_pairs, [])[0].run()
    assert (tmp_path / "train.log").read_text() == log  # the refused run wrote nothing in it
    with pytest.raises(ConfigError, match="at step 6, past the 4 steps asked for"):
        toy_trainer(toy_config(tmp_path, steps=4, resume=True), train_pairs, [])[0].run()
    with pytest.raises(ConfigError, match="checkpoint of stage vqgan, not flow"):
        other_stage = toy_config(tmp_path, stage="flow", resume=True)
        toy_trainer(other_stage, train_pairs, [])[0].run()
    assert [path.name for path in list_checkpoints(tmp_path)] == ["step-00000006.pt"]


def test_a_checkpoint_of_another_network_is_refused_in_one_line(
    tmp_path: Path, train_pairs: list[ImagePair]
) -> None:
    """A changed model or model_changes was a traceback from load_state_dict."""
    toy_trainer(toy_config(tmp_path, steps=3), train_pairs, [])[0].run()
    other = nn.Conv2d(3, 3, 1)
    trainer = Trainer(
        other,
        lambda batch, step: {"loss": other(batch["low"]).mean()},
        PairedCrops(train_pairs, CROP),
        toy_config(tmp_path, steps=5, resume=True),
    )
    with pytest.raises(ConfigError, match="step-00000003.pt does not fit the network this run"):
        trainer.run()


@pytest.mark.parametrize(
    "damage",
    [b"", *(np.random.default_rng(seed).bytes(5000) for seed in range(8))],
    ids=["empty", *(f"garbage-{seed}" for seed in range(8))],
)
def test_a_damaged_checkpoint_says_so_and_how_to_go_on(
    tmp_path: Path, train_pairs: list[ImagePair], damage: bytes
) -> None:
    """Garbage was a traceback advising weights_only=False (which runs code from the file)."""
    toy_trainer(toy_config(tmp_path, steps=3), train_pairs, [])[0].run()
    (tmp_path / "step-00000003.pt").write_bytes(damage)
    message = r"cannot read checkpoint \(damaged, or not a checkpoint\); delete it to resume"
    with pytest.raises(GlareError, match=message):
        toy_trainer(toy_config(tmp_path, steps=5, resume=True), train_pairs, [])[0].run()
    # the log says why the run ended, as the terminal did
    assert re.search("ERROR training stopped: .*" + message, (tmp_path / "train.log").read_text())


def test_an_output_folder_that_is_a_file_is_refused_in_one_line(
    tmp_path: Path, train_pairs: list[ImagePair]
) -> None:
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(ConfigError, match="taken is a file, not a folder"):
        toy_trainer(toy_config(tmp_path / "taken"), train_pairs, [])[0].run()


def test_resuming_clears_what_a_killed_checkpoint_write_left(
    tmp_path: Path, train_pairs: list[ImagePair]
) -> None:
    toy_trainer(toy_config(tmp_path, steps=3), train_pairs, [])[0].run()
    leftover = tmp_path / ".step-00000004.pt.1f2e3d4c.partial"  # as SIGKILL mid-write leaves
    leftover.write_bytes(b"half a checkpoint")
    unrelated = tmp_path / ".notes.partial"
    unrelated.write_bytes(b"not ours")
    result = toy_trainer(toy_config(tmp_path, steps=5, resume=True), train_pairs, [])[0].run()
    assert result.step == 5 and not leftover.exists() and unrelated.exists()


def test_each_process_restores_its_own_gpus_generator(monkeypatch) -> None:
    # checkpoints hold the GPU of the process that wrote them (rank 0's, by torchrun's rule
    # one GPU a process); earlier ones held every GPU's
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    first, second = torch.zeros(4, dtype=torch.uint8), torch.ones(4, dtype=torch.uint8)
    assert checkpoint._this_gpus([first, second]) is second
    assert checkpoint._this_gpus([first]) is first
    assert checkpoint._this_gpus(first) is first


@pytest.mark.parametrize(
    ("setting", "value"),
    [("steps", 0), ("batch_size", 0), ("crop_size", -8), ("log_every", 0), ("keep_checkpoints", 0),
     ("warmup_steps", -3), ("validate_every", -1), ("lr", 0.0), ("seed", -1),
     ("weight_decay", -1.0), ("betas", (0.9, 1.5)), ("min_lr_ratio", -2.0)],
)  # fmt: skip
def test_settings_that_would_fail_late_are_refused_up_front(setting: str, value: float) -> None:
    """Bad betas and a negative weight decay failed in a traceback once the model and data
    were built; a negative min_lr_ratio trained the last steps uphill."""
    with pytest.raises(ConfigError, match=f"training setting {setting} must"):
        TrainConfig(**{setting: value})


@pytest.mark.parametrize("value", [-0.1, 3.0])
def test_an_augmentation_share_outside_0_to_1_is_refused(tmp_path: Path, value: float) -> None:
    """It trained as if it were 0 or 1, saying nothing."""
    (tmp_path / "run.yaml").write_text(f"augment:\n  noise_probability: {value}\n")
    with pytest.raises(ConfigError, match="noise_probability must be from 0 to 1"):
        load_train_config("vqgan", tmp_path / "run.yaml")


def test_a_settings_file_may_not_name_another_stage(tmp_path: Path) -> None:
    """A vqgan run given 'stage: flux' trained, recorded itself as stage flux and then
    refused to resume as vqgan."""
    (tmp_path / "run.yaml").write_text("stage: flux\n")
    with pytest.raises(ConfigError, match="names stage 'flux', but this is a run of stage vqgan"):
        load_train_config("vqgan", tmp_path / "run.yaml")
    (tmp_path / "run.yaml").write_text("stage: vqgan\nsteps: 5\n")
    assert load_train_config("vqgan", tmp_path / "run.yaml").steps == 5


def test_time_budget_checkpoints_and_keeps_the_newest(
    tmp_path: Path, train_pairs: list[ImagePair]
) -> None:
    config = toy_config(tmp_path, checkpoint_every_steps=1, keep_checkpoints=2)
    trainer, _ = toy_trainer(config, train_pairs, [])
    assert trainer.run().step == 10
    assert [path.name for path in list_checkpoints(tmp_path)] == [
        "step-00000009.pt",
        "step-00000010.pt",
    ]
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".partial")]

    budget = toy_config(tmp_path / "budget", max_minutes=1e-9)
    result = toy_trainer(budget, train_pairs, [])[0].run()
    assert (result.reason, result.step) == ("time budget", 1)
    assert result.checkpoint is not None and result.checkpoint.is_file()


def test_validation_scores_full_eval_images_and_is_logged(
    tmp_path: Path, pairs_dir: Path, train_pairs: list[ImagePair]
) -> None:
    eval_pairs = load_pairs(pairs_dir, "eval", limit=1)
    config = toy_config(tmp_path, steps=2, validate_every=2)
    holder: dict[str, nn.Module] = {}

    def validate() -> dict[str, float]:
        assert not holder["net"].training
        return score_pairs(eval_pairs, holder["net"], torch.device("cpu"))

    trainer, net = toy_trainer(config, train_pairs, [], validate_fn=validate)
    holder["net"] = net
    result = trainer.run()
    assert set(result.validation) == {"psnr", "ssim"}
    assert 0.0 < result.validation["ssim"] < 1.0 and result.validation["psnr"] > 0.0
    assert net.training  # the training mode is back after validation
    assert "step 2 validation psnr=" in (tmp_path / "train.log").read_text()
    # reconstruction scoring (stage 1): a perfect autoencoder reaches SSIM 1
    as_reconstruction = [dataclasses.replace(pair, low=pair.high) for pair in eval_pairs]
    perfect = score_pairs(as_reconstruction, lambda image: image, torch.device("cpu"))
    assert perfect["ssim"] == pytest.approx(1.0, abs=1e-6)


def test_a_pair_smaller_than_the_crop_is_refused_before_training(
    train_pairs: list[ImagePair],
) -> None:
    """It failed only at the step that first drew it, naming neither pair nor file, and again
    at the same step on every resume."""
    pair = train_pairs[0]
    small = dataclasses.replace(pair, low=pair.low[:40, :50], high=pair.high[:40, :50])
    with pytest.raises(ConfigError, match=f"pair {small.name} of train is 50x40, smaller than"):
        PairedCrops([*train_pairs, small], 48)
    with pytest.raises(ConfigError, match="smaller than the crop size 48"):
        NormalLightCrops([small], 48)
    assert PairedCrops([small], 40).sample(1, batch_rng(0, 0))["low"].shape == (1, 3, 40, 40)


def test_the_eval_split_is_refused_for_training(pairs_dir: Path) -> None:
    eval_pairs = load_pairs(pairs_dir, "eval", limit=1)
    with pytest.raises(GlareError, match="eval"):
        PairedCrops(eval_pairs, CROP)
    with pytest.raises(GlareError, match="eval"):
        NormalLightCrops(eval_pairs, CROP)


EVERY_AUGMENTATION = AugmentConfig(
    exposure_probability=1.0,
    gamma_probability=1.0,
    noise_probability=1.0,
    color_cast_probability=1.0,
    synthetic_probability=0.0,
    jpeg_probability=1.0,
)
ALWAYS_SYNTHETIC = dataclasses.replace(EVERY_AUGMENTATION, synthetic_probability=1.0)


@pytest.mark.parametrize("augment", [AugmentConfig(), EVERY_AUGMENTATION, ALWAYS_SYNTHETIC])
def test_augmented_batches_are_seeded_and_in_range(
    train_pairs: list[ImagePair], augment: AugmentConfig
) -> None:
    crops = PairedCrops(train_pairs, CROP, augment)
    first = crops.sample(4, batch_rng(seed=7, step=3))
    again = crops.sample(4, batch_rng(seed=7, step=3))
    other = crops.sample(4, batch_rng(seed=7, step=4))
    for name in ("low", "high"):
        assert first[name].shape == (4, 3, CROP, CROP) and first[name].dtype == torch.float32
        assert torch.equal(first[name], again[name])
        assert 0.0 <= float(first[name].min()) and float(first[name].max()) <= 1.0
    assert not torch.equal(first["low"], other["low"])


def test_normal_light_crops_come_from_the_high_images(train_pairs: list[ImagePair]) -> None:
    batch = NormalLightCrops(train_pairs, CROP).sample(3, batch_rng(seed=1, step=0))
    assert set(batch) == {"high"} and batch["high"].shape == (3, 3, CROP, CROP)
    # normal-light crops are much brighter than the dark inputs of the same pairs
    low_mean = np.mean([pair.low.mean() for pair in train_pairs]) / 255
    assert float(batch["high"].mean()) > 2 * low_mean


def test_recolouring_keeps_greys_and_turns_hues() -> None:
    greys = np.linspace(0, 1, 5, dtype=np.float32)[:, None].repeat(3, axis=1)
    turn = hue_saturation_matrix(2 * np.pi / 3, 1.0)  # a third of the hue circle
    np.testing.assert_allclose(greys @ turn.T, greys, atol=1e-6)
    np.testing.assert_allclose(turn @ [1, 0, 0], [0, 1, 0], atol=1e-6)  # red -> green
    np.testing.assert_allclose(turn @ [0, 0, 1], [1, 0, 0], atol=1e-6)  # blue -> red
    # saturation 2 doubles the distance from grey; a muted red becomes a clear one
    muted = np.array([[[0.6, 0.4, 0.4]]], dtype=np.float32)
    vivid = recolor(muted, hue_saturation_matrix(0.0, 2.0))
    assert vivid[0, 0, 0] > muted[0, 0, 0] and vivid[0, 0, 1] < muted[0, 0, 1]
    assert recolor(muted, None) is muted


def test_recoloured_pairs_change_both_images_alike(train_pairs: list[ImagePair]) -> None:
    plain = AugmentConfig.disabled()
    vivid = dataclasses.replace(plain, recolor_probability=1.0, saturation_range=(2.0, 2.0))
    before = PairedCrops(train_pairs, CROP, plain).sample(4, batch_rng(seed=5, step=0))
    after = PairedCrops(train_pairs, CROP, vivid).sample(4, batch_rng(seed=5, step=0))

    def chroma(images: torch.Tensor) -> float:  # mean distance from grey
        return float((images - images.mean(dim=1, keepdim=True)).abs().mean())

    for name in ("low", "high"):
        assert chroma(after[name]) > 1.3 * chroma(before[name])
    stage_one = NormalLightCrops(train_pairs, CROP, vivid).sample(4, batch_rng(seed=5, step=0))
    assert chroma(stage_one["high"]) > 1.3 * chroma(
        NormalLightCrops(train_pairs, CROP).sample(4, batch_rng(seed=5, step=0))["high"]
    )


def test_synthetic_darkening_scales_brightness_by_the_exposure(
    train_pairs: list[ImagePair],
) -> None:
    high = train_pairs[0].high.astype(np.float32) / 255
    exposure = 0.1
    expected_ratio = exposure ** (1 / DISPLAY_GAMMA)
    clean = darken(high, exposure)
    np.testing.assert_allclose(clean, high * expected_ratio, atol=1e-5)
    noisy = darken(high, exposure, np.random.default_rng(0))
    assert noisy.mean() / high.mean() == pytest.approx(expected_ratio, rel=0.1)
    assert np.abs(noisy - clean).mean() > 1e-3  # noise was added

    config = AugmentConfig()
    lowest, highest = (e ** (1 / DISPLAY_GAMMA) for e in config.synthetic_exposure_range)
    for seed in range(5):
        ratio = synthesize_low(high, np.random.default_rng(seed)).mean() / high.mean()
        # a colour cast moves the mean by at most its strength
        assert lowest * (1 - config.color_cast_strength) < ratio
        assert ratio < highest * (1 + config.color_cast_strength)


def _neighbour_correlation(noise: np.ndarray) -> float:
    return float(np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1])


def test_grained_noise_keeps_unit_variance_and_spreads_over_the_grain() -> None:
    shape = (96, 128, 3)
    fine = grained_normal(shape, 1, np.random.default_rng(0))
    coarse = grained_normal(shape, 4, np.random.default_rng(0))
    for noise in (fine, coarse):
        assert noise.shape == shape and noise.dtype == np.float32
        assert noise.std() == pytest.approx(1.0, rel=0.05)
    # per-pixel noise is independent; grained noise is shared by neighbours, not by channels
    assert abs(_neighbour_correlation(fine)) < 0.05
    assert _neighbour_correlation(coarse) > 0.6
    assert abs(np.corrcoef(coarse[..., 0].ravel(), coarse[..., 1].ravel())[0, 1]) < 0.1
    np.testing.assert_array_equal(coarse, grained_normal(shape, 4, np.random.default_rng(0)))
    # a grain far wider than the image (glare eval --noise-grain 30000) is one smooth field,
    # drawn without a grid of 60000 x 60000 pixels
    widest = grained_normal(shape, 30_000, np.random.default_rng(0))
    assert widest.shape == shape and _neighbour_correlation(widest) > 0.99


def test_configured_grain_reaches_the_darkened_images(train_pairs: list[ImagePair]) -> None:
    high = train_pairs[0].high[:64, :64].astype(np.float32) / 255
    plain = AugmentConfig(noise_probability=1.0)
    grained = dataclasses.replace(plain, noise_grain_range=(3, 3))
    clean = darken(high, 0.05)
    per_pixel = darken(high, 0.05, np.random.default_rng(3), plain) - clean
    coarse = darken(high, 0.05, np.random.default_rng(3), grained) - clean
    assert _neighbour_correlation(coarse) > _neighbour_correlation(per_pixel) + 0.3


def test_ssim_is_close_to_scikit_image_on_a_real_pair(train_pairs: list[ImagePair]) -> None:
    low = train_pairs[0].low[:128, :160].astype(np.float32) / 255
    high = train_pairs[0].high[:128, :160].astype(np.float32) / 255
    reference = structural_similarity(
        low,
        high,
        channel_axis=-1,
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    as_tensor = [torch.from_numpy(image).permute(2, 0, 1)[None] for image in (low, high)]
    ours = float(ssim(*as_tensor))
    assert 0.05 < reference < 0.95  # a real, imperfect match: the comparison means something
    assert ours == pytest.approx(reference, abs=1e-3)
    prediction = as_tensor[0].clone().requires_grad_(True)
    ssim_loss(prediction, as_tensor[1]).backward()
    assert prediction.grad is not None and torch.isfinite(prediction.grad).all()
    assert float(ssim_loss(as_tensor[1], as_tensor[1])) == pytest.approx(0.0, abs=1e-5)


def test_the_chroma_loss_sees_colour_and_not_lightness(train_pairs: list[ImagePair]) -> None:
    high = torch.from_numpy(train_pairs[0].high.astype(np.float32) / 255).permute(2, 0, 1)[None]
    dimmer = high - 0.1
    assert float(chroma_loss(dimmer, high)) == pytest.approx(0.0, abs=1e-6)
    assert float(F.l1_loss(dimmer, high)) == pytest.approx(0.1)
    # a grey copy keeps each pixel's mean: all of its error is colour
    grey = high.mean(dim=1, keepdim=True).expand_as(high)
    lost_colour = float(chroma_loss(grey, high))
    assert lost_colour > 0.01
    assert lost_colour == pytest.approx(float(F.l1_loss(grey, high)), rel=1e-4)
    red_for_blue = high.flip(1)
    assert float(chroma_loss(red_for_blue, high)) > lost_colour


def test_unexplained_colour_is_the_share_a_latent_does_not_hold(
    train_pairs: list[ImagePair],
) -> None:
    images = torch.stack(
        [torch.from_numpy(p.high[:128, :128].astype(np.float32) / 255) for p in train_pairs[:4]]
    ).permute(0, 3, 1, 2)
    local_colour = F.avg_pool2d(colour_part(images), 4)
    assert float(unexplained_colour(local_colour, images)) < 1e-3
    # any invertible mix of the same channels holds the same colour
    mixed = torch.einsum(
        "ij,bjhw->bihw", torch.tensor([[1.0, 2, 0], [0, 1, 3], [1, 0, 1]]), local_colour
    )
    assert float(unexplained_colour(mixed, images)) < 1e-3
    # noise holds nothing: only the fit's constant term, the batch's mean colour, is explained
    torch.manual_seed(0)
    noise = torch.randn_like(local_colour)
    mean_colour = local_colour.mean(dim=(0, 2, 3), keepdim=True)
    beyond_mean = (local_colour - mean_colour).pow(2).mean() / local_colour.pow(2).mean()
    assert float(unexplained_colour(noise, images)) == pytest.approx(float(beyond_mean), abs=0.01)
    assert float(beyond_mean) > 0.2


def test_training_settings_are_read_as_utf8_whatever_the_locale(tmp_path: Path, monkeypatch):
    """A Windows trainer's cp1252 read D:/Donn\u00e9es as D:/Donn\u00c3\u00a9es; bytes that are
    no UTF-8 raised a raw UnicodeDecodeError."""
    settings = tmp_path / "flow.yaml"
    settings.write_bytes("# r\u00e9glages\nsteps: 7\n".encode())
    real_read_text = Path.read_text
    monkeypatch.setattr(  # a locale that is not UTF-8, for calls that name no encoding
        Path,
        "read_text",
        lambda path, encoding=None, **kwargs: real_read_text(path, encoding or "cp1252", **kwargs),
    )
    assert load_train_config("flow", settings).steps == 7
    settings.write_bytes(b"steps: 7\n# \xff\n")
    with pytest.raises(ConfigError, match="cannot read training settings"):
        load_train_config("flow", settings)


def test_yaml_overrides_the_stage_preset(tmp_path: Path) -> None:
    settings = tmp_path / "flow.yaml"
    settings.write_text("steps: 123\nbetas: [0.8, 0.9]\naugment:\n  synthetic_probability: 0.5\n")
    config = load_train_config("flow", settings)
    preset = load_train_config("flow")
    assert (config.steps, config.betas, config.augment.synthetic_probability) == (
        123,
        (0.8, 0.9),
        0.5,
    )
    assert config.lr == preset.lr and config.augment.noise_probability == (
        preset.augment.noise_probability
    )
    settings.write_text("stepz: 1\n")
    with pytest.raises(ConfigError, match="stepz"):
        load_train_config("flow", settings)


@pytest.mark.parametrize(
    ("line", "message"),
    [("steps: many", "TrainConfig.steps must be a whole number, not 'many'"),
     ("crop_size: 64.5", "TrainConfig.crop_size must be a whole number, not 64.5"),
     ("lr: fast", "TrainConfig.lr must be a finite number, not 'fast'"),
     ("lr: .inf", "TrainConfig.lr must be a finite number, not inf"),
     ("betas: 0.9", "TrainConfig.betas must be a list, not 0.9"),
     ("betas: [0.9]", "TrainConfig.betas must be a list of 2, not [0.9]"),
     ("init_weights: vqgan.safetensors", "TrainConfig.init_weights must be a list"),
     ("whiten_latent: 1", "TrainConfig.whiten_latent must be true or false, not 1"),
     ("augment:\n  jpeg_probability: half", "AugmentConfig.jpeg_probability must be a finite"),
     # settings without a value of their own were taken as written
     ("exposure_range: [0.05, bright]", "TrainConfig.exposure_range[1] must be a finite number"),
     ("exposure_range: [0.05]", "TrainConfig.exposure_range must be a list of 2, not [0.05]"),
     ("model_changes: 3", "TrainConfig.model_changes must be a section of named values, not 3")],
)  # fmt: skip
def test_a_setting_of_the_wrong_type_is_refused_naming_it(
    tmp_path: Path, line: str, message: str
) -> None:
    """Each failed far into the run with a traceback ('>' not supported between str and int),
    or, for a single path, read it as a list of its characters."""
    (tmp_path / "run.yaml").write_text(line + "\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_train_config("flow", tmp_path / "run.yaml")


def test_yaml_numbers_without_a_dot_are_numbers(tmp_path: Path) -> None:
    """YAML reads 1e-4 as text: it was compared with numbers mid-run, a traceback."""
    (tmp_path / "run.yaml").write_text("lr: 1e-4\nmin_lr_ratio: 1\n")
    config = load_train_config("flow", tmp_path / "run.yaml")
    assert (config.lr, config.min_lr_ratio) == (1e-4, 1.0)


def test_yaml_extends_another_and_overrides_it(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("steps: 50\nseed: 3\naugment:\n  noise_probability: 0.2\n")
    (tmp_path / "more.yaml").write_text(
        "extends: base.yaml\nseed: 4\naugment:\n  jpeg_probability: 0.1\n"
    )
    config = load_train_config("flow", tmp_path / "more.yaml")
    augment = config.augment
    assert (config.steps, config.seed) == (50, 4)
    assert (augment.noise_probability, augment.jpeg_probability) == (0.2, 0.1)
    (tmp_path / "base.yaml").write_text("extends: more.yaml\n")
    with pytest.raises(ConfigError, match="extends itself"):
        load_train_config("flow", tmp_path / "more.yaml")


def test_cli_builds_the_config_and_reports_missing_stages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parser = argparse.ArgumentParser()
    train_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        ["train", "fusion", "--out", str(tmp_path), "--steps", "7", "--resume", "--device", "cpu"]
    )
    config = train_cli.build_config(args)
    assert (config.stage, config.out_dir, config.steps, config.resume, config.device) == (
        "fusion",
        str(tmp_path),
        7,
        True,
        "cpu",
    )
    assert config.lr == load_train_config("fusion").lr

    without = types.ModuleType(train_cli.STAGES_MODULE)
    monkeypatch.setitem(sys.modules, train_cli.STAGES_MODULE, without)
    with pytest.raises(GlareError, match="not implemented yet"):
        train_cli.stage_trainer("fusion")
    without.train_fusion = lambda config: config
    assert train_cli.stage_trainer("fusion") is without.train_fusion


def test_resume_without_a_config_continues_with_the_runs_own_settings(
    tmp_path: Path, train_pairs: list[ImagePair]
) -> None:
    """The preset's came back instead: seed 0, 20000 steps, its learning rate and data."""
    saved = toy_config(tmp_path, steps=6, seed=3, data_root="my/pairs", max_minutes=5.0)
    toy_trainer(saved, train_pairs, [], signal_at_step=4)[0].run()  # stops at step 5
    parser = argparse.ArgumentParser()
    train_cli.add_parser(parser.add_subparsers())

    def resumed(*options: str) -> TrainConfig:
        return train_cli.build_config(parser.parse_args(["train", "vqgan", *options]))

    config = resumed("--out", str(tmp_path), "--resume", "--device", "cpu")
    assert (config.seed, config.steps, config.lr, config.data_root) == (3, 6, 1e-2, "my/pairs")
    assert (config.crop_size, config.augment) == (saved.crop_size, saved.augment)
    # options given now win, and what belongs to this process is not taken from the run
    config = resumed("--out", str(tmp_path), "--resume", "--steps", "9", "--seed", "4")
    assert (config.steps, config.seed, config.device, config.max_minutes) == (9, 4, "auto", 0)
    # a --config names the settings itself
    (tmp_path / "run.yaml").write_text("steps: 7\n")
    config = resumed("--out", str(tmp_path), "--resume", "--config", str(tmp_path / "run.yaml"))
    assert (config.steps, config.seed) == (7, 0)
    # a checkpoint of another stage is refused as such (the stage's preset, taken instead,
    # was refused for the init_weights it lacks)
    with pytest.raises(ConfigError, match="checkpoint of stage vqgan, not flow"):
        train_cli.build_config(
            parser.parse_args(["train", "flow", "--out", str(tmp_path), "--resume"])
        )


DISTRIBUTED_SCRIPT = """
import json, os, sys
from pathlib import Path
from torch import nn
from glare_core.train.config import TrainConfig
from glare_core.train.data import PairedCrops, load_pairs
from glare_core.train.loop import Trainer, seed_everything

pairs_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
rank = os.environ["RANK"]
seed_everything(int(rank))  # each process starts from other weights: DDP must align them
net = nn.Conv2d(3, 3, 3, padding=1)
batch_sums = []

def step_fn(batch, step):
    batch_sums.append(float(batch["low"].sum()))
    return {"loss": (net(batch["low"]) - batch["high"]).abs().mean()}

config = TrainConfig(steps=3, batch_size=4, crop_size=32, out_dir=str(out_dir), device="cpu",
                     progress_bar=False, validate_every=0, log_every=1)
crops = PairedCrops(load_pairs(pairs_dir, "train", limit=2), config.crop_size)
result = Trainer(net, step_fn, crops, config).run()
report = {"step": result.step, "batch_sums": batch_sums,
          "weights": net.weight.detach().flatten().tolist()}
(out_dir / f"rank{rank}.json").write_text(json.dumps(report))
"""


def _torchrun_two_processes(
    tmp_path: Path, script: Path, *arguments: Path
) -> subprocess.CompletedProcess[str]:
    """``script arguments`` under torchrun with two processes; torchrun's own log folders
    go under ``tmp_path`` (it leaves a torchelastic_* folder in the system's temp folder)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", str(script), *map(str, arguments)]
    environment = {**os.environ, "TMPDIR": str(tmp_path)}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)


def test_torchrun_with_two_processes_trains_one_model(tmp_path: Path, pairs_dir: Path) -> None:
    script = tmp_path / "train_toy.py"
    script.write_text(DISTRIBUTED_SCRIPT)
    out_dir = tmp_path / "run"
    finished = _torchrun_two_processes(tmp_path, script, pairs_dir, out_dir)
    assert finished.returncode == 0, finished.stderr[-2000:]
    ranks = [json.loads((out_dir / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [report["step"] for report in ranks] == [3, 3]
    # each process trained on its own crops, yet gradients were averaged into one model
    assert ranks[0]["batch_sums"] != ranks[1]["batch_sums"]
    np.testing.assert_allclose(ranks[0]["weights"], ranks[1]["weights"], atol=1e-6)
    assert [path.name for path in list_checkpoints(out_dir)] == ["step-00000003.pt"]
    assert (out_dir / "train.log").read_text().count("training stopped at step 3") == 1


RESEED_SCRIPT = """
import datetime, json, sys
import torch, torch.distributed as dist
from torch import nn
from glare_core.train.stages import CodebookUpkeep, DeadCodeReseeder

dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=30))
rank = dist.get_rank()
torch.manual_seed(0)  # one codebook, as DDP starts every process from rank 0's weights
codebook = nn.Embedding(8, 4)
reseeder = DeadCodeReseeder(codebook, CodebookUpkeep(dead_after_steps=2), pretrained=True)
torch.manual_seed(rank)
for step in range(1, 6):
    # each process sees other crops: the first uses codes 0-5, the second 0-3; 6-7 are dead
    used = torch.arange(6) if rank == 0 else torch.arange(4)
    reseeder.update(torch.randn(1, 4, 2, 2), used, step)
    dist.all_reduce(torch.ones(1))  # the gradient averaging that follows in DDP
report = {"codebook": codebook.weight.flatten().tolist(), "last_used": reseeder.last_used.tolist()}
with open(sys.argv[1] + f"/rank{rank}.json", "w") as out:
    json.dump(report, out)
dist.destroy_process_group()
"""


def test_processes_agree_on_dead_codes_and_keep_one_codebook(tmp_path: Path) -> None:
    # a code only one process used is alive for all; re-seeding is a collective broadcast,
    # which hung the process that decided otherwise
    script = tmp_path / "reseed.py"
    script.write_text(RESEED_SCRIPT)
    finished = _torchrun_two_processes(tmp_path, script, tmp_path)
    assert finished.returncode == 0, finished.stderr[-2000:]
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert ranks[0] == ranks[1]
    assert ranks[0]["last_used"] == [5] * 6 + [3, 3]  # 6-7 re-seeded at step 3, 4-5 alive


def test_blotchy_colour_noise_survives_averaging_and_leaves_luma_noise_fine() -> None:
    flat = np.full((128, 128, 3), 0.01, dtype=np.float32)
    settings = {"shot_noise": 1e-3, "read_noise": 5e-4}
    per_pixel = add_sensor_noise(flat, rng=np.random.default_rng(2), **settings) - flat
    blotchy = (
        add_sensor_noise(
            flat, rng=np.random.default_rng(2), chroma_grain=16, chroma_scale=0.5, **settings
        )
        - flat
    )

    def regional_colour(noise: np.ndarray) -> float:  # colour left after averaging 8 px wide
        colour = noise - grey_part(noise)
        return float(cv2.GaussianBlur(colour, (0, 0), 8).std())

    assert regional_colour(blotchy) > 5 * regional_colour(per_pixel)
    assert abs(_neighbour_correlation(grey_part(blotchy)[..., 0])) < 0.05
    assert grey_part(blotchy).std() == pytest.approx(grey_part(per_pixel).std(), rel=0.05)
    config = AugmentConfig(noise_probability=1.0, chroma_grain_probability=1.0)
    assert np.abs(darken(flat, 1.0, np.random.default_rng(5), config) - flat).max() > 0


def test_jpeg_storage_turns_dark_noise_into_blocks_of_colour(train_pairs: list[ImagePair]) -> None:
    high = from_uint8(train_pairs[0].high[:128, :128])
    noisy = darken(high, 0.02, np.random.default_rng(4), AugmentConfig(noise_probability=1.0))
    stored = jpeg_roundtrip(noisy, 60)
    assert stored.shape == noisy.shape and stored.dtype == np.float32
    stored_colour, noisy_colour = stored - grey_part(stored), noisy - grey_part(noisy)
    # the encoder keeps the brightness and averages the colour noise over blocks
    assert np.abs(stored.mean(-1) - noisy.mean(-1)).mean() < 0.02
    assert _neighbour_correlation(stored_colour) > _neighbour_correlation(noisy_colour) + 0.3
    config = dataclasses.replace(AugmentConfig.disabled(), jpeg_probability=1.0)
    # one crop: the JPEG quality draw shifts the random stream of any crop after it
    crops = PairedCrops(train_pairs, CROP, config).sample(1, batch_rng(seed=3, step=0))
    plain = PairedCrops(train_pairs, CROP, AugmentConfig.disabled()).sample(1, batch_rng(3, 0))
    assert not torch.equal(crops["low"], plain["low"])
    assert torch.equal(crops["high"], plain["high"])


def test_cli_names_the_weights_a_finished_run_wrote(tmp_path: Path, monkeypatch, capsys) -> None:
    """The checkpoint is for resuming; the summary names the file ``glare enhance`` loads."""
    parser = argparse.ArgumentParser()
    train_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", "fusion", "--out", str(tmp_path), "--device", "cpu"])
    checkpoint = tmp_path / "step-00000007.pt"

    def finished(config: TrainConfig) -> TrainResult:
        (Path(config.out_dir) / "glare.safetensors").touch()
        losses = {"loss": 0.125, "lr": 2e-4}
        scores = {"psnr": 21.5, "ssim": 0.75}
        return TrainResult(7, "finished", checkpoint, losses=losses, validation=scores)

    monkeypatch.setattr(train_cli, "stage_trainer", lambda stage: finished)
    assert train_cli.run_train(args) == 0
    printed = capsys.readouterr().out
    assert f"checkpoint: {checkpoint} (resume with --resume)" in printed
    assert "last losses: loss=0.125 lr=0.0002\nlast validation: psnr=21.5 ssim=0.75" in printed
    assert f"weights: {tmp_path / 'glare.safetensors'} (glare enhance --weights)" in printed
    monkeypatch.setenv("RANK", "1")  # the other processes of a torchrun job say nothing
    assert train_cli.run_train(args) == 0
    assert capsys.readouterr().out == ""


def test_a_run_stopped_by_its_time_budget_exits_unfinished(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """It exited 0, so a script chaining the stages built the next on this one's weights."""
    parser = argparse.ArgumentParser()
    train_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", "flow", "--out", str(tmp_path), "--max-minutes", "1"])
    out_of_time = TrainResult(step=3, reason="time budget", checkpoint=tmp_path / "step-3.pt")
    monkeypatch.setattr(train_cli, "stage_trainer", lambda stage: lambda config: out_of_time)
    assert train_cli.run_train(args) == train_cli.EXIT_UNFINISHED != 0
    assert "unfinished: no weights exported" in capsys.readouterr().out


def test_model_changes_are_checked_as_the_weights_they_make_will_be() -> None:
    """A run's model_changes reach the config its weights carry, which loading checks: a
    flag given as 1 is refused at the start, not after hours of training; a whole number
    written as 1.0e+6 is taken."""
    flagged = TrainConfig(stage="flow", model_changes={"input": {"log_input": 1}})
    with pytest.raises(ConfigError, match="InputConfig.log_input must be true or false, not 1"):
        model_config(flagged)
    sized = TrainConfig(stage="flow", model_changes={"input": {"max_working_pixels": 1.0e6}})
    assert model_config(sized).input.max_working_pixels == 1_000_000
