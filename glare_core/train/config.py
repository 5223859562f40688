"""Training settings: one :class:`TrainConfig` dataclass, a preset per stage, YAML overrides.

A YAML override file names only what it changes, with the field names of
:class:`TrainConfig`; the ``augment:`` and ``losses:`` sections likewise override fields of
:class:`~glare_core.train.augment.AugmentConfig` and :class:`LossWeights`::

    steps: 40000
    batch_size: 16
    augment:
      synthetic_probability: 0.3
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from glare_core.config import GlareConfig, RetrievalConfig, load_config
from glare_core.errors import ConfigError
from glare_core.train.augment import AugmentConfig
from glare_core.typed_values import checked_value

#: settings of the process rather than of the run: ``glare train --resume`` does not take
#: them from the checkpoint, and changing them on resume changes nothing the run learns
PROCESS_SETTINGS = ("stage", "out_dir", "resume", "device", "progress_bar", "max_minutes")
#: the largest seed NumPy's global generator takes (torch's takes more)
MAX_TRAIN_SEED = 2**32 - 1
STAGES = ("vqgan", "flow", "fusion", "denoiser", "noisy_fusion")
#: the stages that train the noisy-photo path (glare_core.config.NoisyPathConfig); the
#: paper's three build their network without it
NOISY_PATH_STAGES = ("denoiser", "noisy_fusion")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the image losses of stages 1 and 3 (and of stage 1's codebook loss)."""

    l1: float = 1.0
    ssim: float = 0.5
    #: L1 on the colour alone (glare_core.train.losses.chroma_loss): RGB L1 lets a small
    #: network spend its capacity on lightness and give up colour (MODEL_CARD.md)
    chroma: float = 0.0
    codebook: float = 1.0
    #: stage 1: the share of local colour the codes do not hold linearly
    #: (glare_core.train.losses.unexplained_colour); makes the latent carry colour even
    #: where the decoder has not yet learnt to read it
    latent_colour: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs besides the model and its loss."""

    #: stage name (one of :data:`STAGES`); informs the stage trainer and the log
    stage: str = "vqgan"
    #: total optimizer steps of the run (a resumed run continues up to this number)
    steps: int = 20_000
    #: samples per step over all processes (each of N processes draws batch_size / N)
    batch_size: int = 8
    #: side of the square training crops in pixels
    crop_size: int = 160
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    #: steps of linear warm-up before the cosine decay
    warmup_steps: int = 500
    #: the learning rate at the end of the cosine, as a fraction of ``lr``
    min_lr_ratio: float = 0.01
    #: maximum gradient norm; 0 disables clipping
    grad_clip: float = 1.0
    seed: int = 0
    #: checkpoints, the log file and exported weights go here
    out_dir: str = "runs/train"
    #: log file name inside ``out_dir``
    log_file: str = "train.log"
    #: steps between log lines (means of the losses since the last line)
    log_every: int = 50
    checkpoint_every_seconds: float = 180.0
    #: 0 disables step-based checkpoints (time-based ones still happen)
    checkpoint_every_steps: int = 1000
    #: how many of the newest checkpoints to keep
    keep_checkpoints: int = 3
    #: steps between validations; 0 disables validation
    validate_every: int = 1000
    #: number of eval pairs a validation scores (full 600x400 images)
    validate_images: int = 8
    #: wall-clock budget of this process in minutes; 0 means none
    max_minutes: float = 0.0
    #: continue from the newest checkpoint in ``out_dir`` (starts fresh if there is none);
    #: without it, a folder holding checkpoints is refused
    resume: bool = False
    device: str = "auto"
    progress_bar: bool = True
    #: the folder with ``train/`` and ``eval/``, each holding ``low/`` and ``high/``
    data_root: str = "data/lowlight-pairs"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    losses: LossWeights = field(default_factory=LossWeights)
    #: GLARE model preset name or config file (see ``glare_core.config.load_config``)
    model: str = "compact"
    #: changes to that model config, as nested sections of its field names (e.g.
    #: ``{fusion_decoder: {autoencoder: {num_res_blocks: 0}}}``): lets a run keep building the
    #: network it was trained with after the preset has grown
    model_changes: dict[str, Any] = field(default_factory=dict)
    #: weights of earlier stages to start from (e.g. the stage-1 VQGAN for stage 2)
    init_weights: tuple[str, ...] = ()
    #: stage 1 from earlier weights: before the first step, whiten their latent and re-seed
    #: the codebook from it (glare_core.train.whiten), to bring back a collapsed latent axis
    whiten_latent: bool = False
    #: mean-luma range (floor, ceiling; null leaves a side open) that paired training inputs
    #: are re-exposed into, as inference does (glare_core.exposure); None: the model config's
    #: own inference range. A run may train on a wider range than inference uses.
    exposure_range: tuple[float | None, float | None] | None = None
    #: let DDP tolerate parameters that a step does not use (slower; needed for such models)
    ddp_find_unused_parameters: bool = False

    def __post_init__(self) -> None:
        """A :class:`ConfigError` naming the setting now, before any model or data is built,
        for values that would fail or mislead far into a run."""
        at_least_one = ("steps", "batch_size", "crop_size", "log_every", "keep_checkpoints")
        never_negative = (
            "warmup_steps",
            "checkpoint_every_steps",
            "checkpoint_every_seconds",
            "validate_every",
            "validate_images",
            "max_minutes",
            "grad_clip",
            "weight_decay",
        )
        for name in at_least_one:
            if (value := getattr(self, name)) < 1:
                raise ConfigError(f"training setting {name} must be 1 or more, not {value!r}")
        for name in never_negative:
            if (value := getattr(self, name)) < 0:
                raise ConfigError(f"training setting {name} must not be negative, not {value!r}")
        if not self.lr > 0:
            raise ConfigError(f"training setting lr must be above 0, not {self.lr!r}")
        if not all(0 <= beta < 1 for beta in self.betas):
            raise ConfigError(
                f"training setting betas must each be from 0 up to (not including) 1, not "
                f"{list(self.betas)!r}"
            )
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(
                f"training setting min_lr_ratio must be from 0 to 1, not {self.min_lr_ratio!r}"
            )
        if not 0 <= self.seed <= MAX_TRAIN_SEED:
            raise ConfigError(
                f"training setting seed must be from 0 to {MAX_TRAIN_SEED}, not {self.seed!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: starting points per stage; learning rates for flow and fusion follow the official configs
PRESETS: dict[str, TrainConfig] = {
    "vqgan": TrainConfig(stage="vqgan", lr=2e-4, out_dir="runs/vqgan"),
    "flow": TrainConfig(stage="flow", lr=5e-4, out_dir="runs/flow"),
    "fusion": TrainConfig(stage="fusion", lr=5e-5, out_dir="runs/fusion"),
    "denoiser": TrainConfig(stage="denoiser", lr=1e-3, crop_size=128, out_dir="runs/denoiser"),
    "noisy_fusion": TrainConfig(stage="noisy_fusion", lr=3e-5, out_dir="runs/noisy_fusion"),
}


def preset(stage: str) -> TrainConfig:
    if stage not in PRESETS:
        raise ConfigError(f"unknown training stage {stage!r} (known: {', '.join(STAGES)})")
    return PRESETS[stage]


def override(config: Any, changes: dict[str, Any]) -> Any:
    """A copy of the (nested) dataclass ``config`` with the fields named in ``changes`` set."""
    hints = typing.get_type_hints(type(config))
    updates = {}
    for key, value in changes.items():
        name = f"{type(config).__name__}.{key}"
        if key not in hints:
            raise ConfigError(f"unknown setting {name}")
        current = getattr(config, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"setting {key} needs a section of named values")
            updates[key] = override(current, value)
        else:
            updates[key] = checked_value(name, hints[key], value)
    return dataclasses.replace(config, **updates)


def model_config(config: TrainConfig) -> GlareConfig:
    """The GLARE config a run builds: its ``model`` with its ``model_changes``.

    Every stage learns from the codes as the paper retrieves them, whatever share of the
    latent the model's preset decodes at inference: that share is chosen on the trained
    network (MODEL_CARD.md), and a run may still set one in its ``model_changes``. Only the
    stages that train the noisy-photo path build it.
    """
    model = load_config(config.model)
    noisy_path = dataclasses.replace(model.noisy_path, enabled=config.stage in NOISY_PATH_STAGES)
    model = dataclasses.replace(model, retrieval=RetrievalConfig(), noisy_path=noisy_path)
    changed = override(model, config.model_changes)
    # checked as the weights file's config will be when it is loaded: a run must not train
    # for hours and write weights that are then refused
    return GlareConfig.from_json(changed.to_json())


#: the key of a training YAML that names another YAML (relative to it) whose settings it
#: starts from: a run that differs from another in a few settings writes only those
EXTENDS_KEY = "extends"


def load_train_config(stage: str, override_file: str | Path | None = None) -> TrainConfig:
    """The preset of ``stage``, changed by the YAML ``override_file`` if one is given (and
    first by the file it extends, if it names one: :data:`EXTENDS_KEY`)."""
    config = preset(stage)
    if override_file is None:
        return config
    return _with_settings_file(config, Path(override_file), ())


def _with_settings_file(
    config: TrainConfig, path: Path, extended_by: tuple[Path, ...]
) -> TrainConfig:
    if path.resolve() in extended_by:
        raise ConfigError(f"{path}: extends itself through {EXTENDS_KEY}")
    changes = _read_settings(path)
    if changes.get("stage", config.stage) != config.stage:  # it would mislabel the run
        raise ConfigError(
            f"{path}: names stage {changes['stage']!r}, but this is a run of stage "
            f"{config.stage} (the command chooses the stage: glare train STAGE)"
        )
    base = changes.pop(EXTENDS_KEY, None)
    if base is not None:
        config = _with_settings_file(config, path.parent / base, (*extended_by, path.resolve()))
    return override(config, changes)


def _read_settings(path: Path) -> dict[str, Any]:
    try:
        changes = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read training settings: {error}") from None
    if not isinstance(changes, dict):
        raise ConfigError(f"{path}: expected named settings at the top level")
    return changes
