"""The three GLARE training stages as losses over a :class:`GlareNet`.

* Stage 1, ``vqgan``: the VQGAN reconstructs normal-light crops through its codebook
  (L1 + SSIM + codebook/commitment losses). Codes unused for a while are re-seeded
  from current encoder outputs so the codebook does not collapse.
* Stage 2, ``flow``: with the VQGAN frozen, the conditional encoder and the I-LNF
  maximise the likelihood of the normal-light latent under
  ``N(color_map, I)`` after the flow, given the (augmented) low-light image.
* Stage 3, ``fusion``: with stages 1-2 frozen, the fusion decoder (AMBs, deformable
  warps) learns to produce the normal-light image (L1 + SSIM), sometimes from
  flow samples at a temperature above 0 so every temperature gives a clean picture.

The noisy-photo path (:class:`~glare_core.config.NoisyPathConfig`, not in the paper) adds two:

* ``denoiser``: the learned denoiser takes darker, noisier captures of the train split's low
  images back to the same captures without noise (L1 + SSIM); nothing else trains.
* ``noisy_fusion``: stage 3 again, for the path's own fusion decoder, with every training
  input through the (frozen) denoiser first. A run that starts without that decoder starts
  it from GLARE's.

Each stage is a :class:`StageSpec`: which parameters train, and the loss of a batch.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from glare_core.eight_bit import from_uint8, to_uint8
from glare_core.engine import Enhancer
from glare_core.errors import ConfigError
from glare_core.exposure import ExposureRange
from glare_core.model.blocks import ResnetBlock
from glare_core.model.glare import GlareNet
from glare_core.preprocess import to_image, to_network_input, to_tensor
from glare_core.train.config import LossWeights, TrainConfig, model_config
from glare_core.train.data import (
    EVAL_SPLIT,
    TRAIN_SPLIT,
    BatchSource,
    DenoisingCrops,
    ImagePair,
    NormalLightCrops,
    PairedCrops,
    Predictor,
    denoising_pair,
    load_pairs,
    score_pairs,
)
from glare_core.train.loop import (
    FINISHED,
    Stateful,
    Trainer,
    TrainResult,
    seed_everything,
    training_log,
    unfit_weights_error,
)
from glare_core.train.losses import chroma_loss, ssim_loss, unexplained_colour
from glare_core.train.whiten import whiten_latent
from glare_core.weights import EXPORT_NAME, read_state, save_weights

log = logging.getLogger(__name__)

#: a re-seeded code is an encoder output nudged by this share of their spread, so that two
#: codes seeded from one output still differ
RESEED_JITTER = 0.01
#: normal-light crops that a whitened latent is measured on (glare_core.train.whiten)
WHITENING_CROPS = 32


@dataclass(frozen=True)
class CodebookUpkeep:
    #: codes unused for this many steps are re-seeded from current encoder outputs
    dead_after_steps: int = 200


@dataclass(frozen=True)
class FusionSampling:
    #: share of stage-3 batches decoded from a flow sample at a random temperature
    sampled_fraction: float = 0.3
    max_temperature: float = 0.8


@dataclass
class StageSpec:
    name: str
    trainable: nn.Module
    #: (batch, step) -> named losses; "loss" is the one to minimise
    loss_fn: Callable[[dict[str, torch.Tensor], int], dict[str, torch.Tensor]]
    #: training state beside the weights that exact resume needs (stage 1's code usage)
    upkeep: Any = None


def _freeze_all_but(model: GlareNet, trainable: nn.Module) -> None:
    model.requires_grad_(False)
    trainable.requires_grad_(True)
    model.eval()
    trainable.train()


def _image_losses(
    prediction: torch.Tensor, target: torch.Tensor, weights: LossWeights
) -> dict[str, torch.Tensor]:
    """The image terms that ``weights`` asks for, by the name of their weight."""
    losses = {
        "l1": F.l1_loss(prediction, target),
        "ssim": ssim_loss(prediction.clamp(0, 1), target),
    }
    if weights.chroma:
        losses["chroma"] = chroma_loss(prediction, target)
    return losses


def _with_total(losses: dict[str, torch.Tensor], weights: LossWeights) -> dict[str, torch.Tensor]:
    """``losses`` and their weighted sum as "loss" (each term weighted by its namesake)."""
    total = sum(getattr(weights, name) * value for name, value in losses.items())
    return {**losses, "loss": total}


class DeadCodeReseeder:
    """Tracks codebook usage and re-seeds codes that went unused."""

    def __init__(
        self, codebook: nn.Embedding, upkeep: CodebookUpkeep, pretrained: bool = False
    ) -> None:
        self.codebook = codebook
        self.upkeep = upkeep
        self.last_used = torch.zeros(codebook.num_embeddings, dtype=torch.long)
        #: a pretrained codebook (a fine-tune) is kept; a fresh one is seeded from the encoder
        self.initialised = pretrained

    @torch.no_grad()
    def update(self, latents: torch.Tensor, indices: torch.Tensor, step: int) -> None:
        vectors = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
        if not self.initialised:
            # start from real encoder outputs instead of a tiny uniform cloud
            self._reseed(torch.arange(self.codebook.num_embeddings), vectors)
            self.initialised = True
            self.last_used.fill_(step)
            return
        self.last_used[indices.flatten().unique().cpu()] = step
        self._agree_across_processes()
        dead = (step - self.last_used > self.upkeep.dead_after_steps).nonzero().flatten()
        if len(dead) > 0:
            self._reseed(dead, vectors)
            self.last_used[dead] = step

    def state_dict(self) -> dict[str, Any]:
        return {"last_used": self.last_used.clone(), "initialised": self.initialised}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_used = state["last_used"].clone()
        self.initialised = bool(state["initialised"])

    def _agree_across_processes(self) -> None:
        """Under DDP each process sees other crops: a code counts as used where any process
        used it, so that all of them find the same dead codes and re-seed them together (the
        re-seed's broadcast is collective: a process left out of it hangs the others)."""
        if not _distributed():
            return
        shared = self.last_used.to(self.codebook.weight.device)  # NCCL reduces GPU tensors
        torch.distributed.all_reduce(shared, op=torch.distributed.ReduceOp.MAX)
        self.last_used.copy_(shared.cpu())

    def _reseed(self, rows: torch.Tensor, vectors: torch.Tensor) -> None:
        picks = torch.randint(len(vectors), (len(rows),), device=vectors.device)
        jitter = RESEED_JITTER * vectors.std() * torch.randn_like(vectors[picks])
        self.codebook.weight.data[rows.to(self.codebook.weight.device)] = vectors[picks] + jitter
        if _distributed():
            # DDP averages gradients only: every rank must keep rank 0's codebook
            torch.distributed.broadcast(self.codebook.weight.data, src=0)


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def vqgan_stage(
    model: GlareNet,
    weights: LossWeights = LossWeights(),
    upkeep: CodebookUpkeep = CodebookUpkeep(),
    pretrained: bool = False,
) -> StageSpec:
    """Stage 1; ``pretrained``: the codebook comes from earlier weights (keep, don't re-seed)."""
    vqgan = model.vqgan
    _freeze_all_but(model, vqgan)
    reseeder = DeadCodeReseeder(vqgan.quantize.embedding, upkeep, pretrained)

    def loss_fn(batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        high = batch["high"]
        latent = vqgan.encode(high)
        quantized = vqgan.quantize(latent)
        reseeder.update(latent, quantized.indices, step)
        reconstruction, _ = vqgan.decoder(vqgan.post_quant_conv(quantized.codes))
        losses = _image_losses(reconstruction, high, weights)
        losses["codebook"] = quantized.loss
        if weights.latent_colour:
            losses["latent_colour"] = unexplained_colour(quantized.codes, high)
        return _with_total(losses, weights)

    return StageSpec("vqgan", vqgan, loss_fn, upkeep=reseeder)


def gaussian_nll_bits(z: torch.Tensor, mean: torch.Tensor, logdet: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood in bits per latent dimension under N(mean, I) after the flow."""
    log_prob = -0.5 * ((z - mean) ** 2 + math.log(2 * math.pi))
    total = log_prob.sum(dim=(1, 2, 3)) + logdet
    return -(total / (z[0].numel() * math.log(2.0))).mean()


def flow_stage(model: GlareNet) -> StageSpec:
    trainable = nn.ModuleList([model.cond_encoder, model.flow])
    _freeze_all_but(model, trainable)

    def loss_fn(batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            target = model.vqgan.encode(batch["high"])
        condition = model.condition(to_network_input(batch["low"], model.config.input))
        z, logdet = model.flow(target, condition.cond_feat)
        nll = gaussian_nll_bits(z, condition.color_map, logdet)
        return {"nll": nll, "loss": nll}

    return StageSpec("flow", trainable, loss_fn)


def fusion_stage(
    model: GlareNet,
    weights: LossWeights = LossWeights(),
    sampling: FusionSampling = FusionSampling(),
    noisy_path: bool = False,
) -> StageSpec:
    """Stage 3; ``noisy_path``: the noisy-photo path's fusion decoder, behind its denoiser."""
    decoder = model.fusion_decoder_for(noisy_path)
    _freeze_all_but(model, decoder)

    def loss_fn(batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            low = batch["low"]
            if noisy_path:
                low = _noisy_path(model).denoiser(low).clamp(0, 1)
            condition = model.condition(to_network_input(low, model.config.input))
            temperature, noise = 0.0, None
            if torch.rand(()) < sampling.sampled_fraction:
                temperature = float(torch.rand(())) * sampling.max_temperature
                noise = torch.randn_like(condition.color_map)
            generated = model.generate(condition, temperature, noise)
        output = decoder(generated.latent, generated.vq_features, condition.skips)
        return _with_total(_image_losses(output, batch["high"], weights), weights)

    return StageSpec("noisy_fusion" if noisy_path else "fusion", decoder, loss_fn)


def _noisy_path(model: GlareNet) -> nn.Module:
    if model.noisy_path is None:
        raise ConfigError("this stage trains the noisy-photo path: the model config has none")
    return model.noisy_path


def denoiser_stage(model: GlareNet, weights: LossWeights = LossWeights()) -> StageSpec:
    """The noisy-photo path's denoiser: a noisy capture in, the clean capture out."""
    denoiser = _noisy_path(model).denoiser
    _freeze_all_but(model, denoiser)

    def loss_fn(batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        return _with_total(_image_losses(denoiser(batch["low"]), batch["high"], weights), weights)

    return StageSpec("denoiser", denoiser, loss_fn)


# ------------------------------------------------------------------ runs


#: stages that train on top of earlier stages' weights: without them the parts they keep
#: frozen (the VQGAN, the flow, GLARE's path) would stay random, and the run useless
BUILDS_ON_EARLIER_STAGES = frozenset({"flow", "fusion", "denoiser", "noisy_fusion"})


def _refuse_to_build_on_nothing(config: TrainConfig) -> None:
    if config.stage in BUILDS_ON_EARLIER_STAGES and not config.init_weights:
        raise ConfigError(
            f"stage {config.stage} trains on top of the weights of the stages before it, "
            "frozen: name them in its --config YAML (init_weights: [PATH], e.g. the "
            "glare.safetensors of a finished run of the stage before)"
        )


def _initial_model(config: TrainConfig) -> GlareNet:
    """The run's network (its model with its ``model_changes``), seeded, with the weights
    of earlier stages if given."""
    seed_everything(config.seed)
    model = GlareNet(model_config(config))
    if config.init_weights:
        state, _ = read_state(config.init_weights)
        try:  # strict=False lets later stages' tensors be missing, not others' shapes differ
            loaded = model.load_state_dict(state, strict=False)
        except RuntimeError as error:
            raise unfit_weights_error(", ".join(config.init_weights), error) from None
        missing = set(loaded.missing_keys)
        log.info("started from %s", ", ".join(config.init_weights))
        _note_left_out(loaded.unexpected_keys)
        copied = start_noisy_decoder_as_glares(model, missing)
        if copied:
            log.info("the noisy-photo path's fusion decoder is new: it starts as GLARE's")
        for name in start_as_identity(model, missing - copied):
            log.info("%s is new: it starts as the identity", name)
    return model


def _note_left_out(unexpected: list[str]) -> None:
    """Log the tensors of the earlier weights that this network has no place for (those of
    the noisy-photo path aside: stages before it start from files that hold it)."""
    left_out = [key for key in unexpected if not key.startswith(NOISY_PATH_PREFIX)]
    if left_out:
        log.warning(
            "%d tensors of init_weights are not in this network and were left out (first: %s)",
            len(left_out),
            left_out[0],
        )


def network_stride(model: GlareNet) -> int:
    """What the sides of an image the network (VQGAN and conditional encoder alike) takes
    divide by: it halves them once per level below the top."""
    cfg = model.config
    levels = max(cfg.vqgan.autoencoder.num_levels, cfg.cond_encoder.autoencoder.num_levels)
    return 2 ** (levels - 1)


def _check_crop_size(config: TrainConfig, model: GlareNet) -> None:
    """A crop of another size than :func:`network_stride` divides failed at its first step,
    in a traceback. (The denoiser alone takes any size.)"""
    stride = network_stride(model)
    if config.crop_size % stride:
        raise ConfigError(
            f"training setting crop_size must be a multiple of {stride} (the sides model "
            f"{config.model} takes), not {config.crop_size}"
        )


def _padded(predict: Predictor, model: GlareNet) -> Predictor:
    """``predict`` for an image of any size: run on the image padded (edge pixels repeated)
    to sides :func:`network_stride` divides, and cropped back. Eval images of other sides
    failed at the first validation, far into a run, and again on each resume. (Others, such
    as the 600x400 pairs, run as they are: their scores stay comparable with earlier runs'.)"""
    stride = network_stride(model)

    def run(image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        padded = F.pad(image, (0, -width % stride, 0, -height % stride), mode="replicate")
        return predict(padded)[..., :height, :width]

    return run


#: where the noisy-photo path lives in a GlareNet's state dict, and its fusion decoder
NOISY_PATH_PREFIX = "noisy_path."
NOISY_DECODER_PREFIX = f"{NOISY_PATH_PREFIX}fusion_decoder."


def start_noisy_decoder_as_glares(model: GlareNet, missing: set[str]) -> set[str]:
    """Copy GLARE's fusion decoder into the noisy-photo path's when the initial weights lack
    the latter entirely (its keys all in ``missing``): it then fine-tunes the trained decoder
    instead of learning anew. (An untrained denoiser needs nothing: it starts as the
    identity.) Returns the keys it filled."""
    if model.noisy_path is None:
        return set()
    decoder = model.noisy_path.fusion_decoder
    keys = {NOISY_DECODER_PREFIX + key for key in decoder.state_dict()}
    if not keys <= missing:
        return set()
    decoder.load_state_dict(model.fusion_decoder.state_dict())
    return keys


def start_as_identity(model: nn.Module, missing: set[str]) -> list[str]:
    """Zero the last conv of residual blocks that the initial weights lack entirely.

    A deeper network then starts as exactly the trained one it grows from (the new
    blocks pass their input through) and learns what the new blocks add, instead of
    first recovering from random layers in the middle. Returns the blocks' names.
    """
    started = []
    for name, module in model.named_modules():
        if not isinstance(module, ResnetBlock) or module.nin_shortcut is not None:
            continue
        keys = {f"{name}.{key}" for key in module.state_dict()}
        if keys <= missing:
            nn.init.zeros_(module.conv2.weight)
            nn.init.zeros_(module.conv2.bias)
            started.append(name)
    return started


def training_exposure(config: TrainConfig, model: GlareNet) -> ExposureRange:
    """The range paired training inputs are re-exposed into: the run's, else the model's."""
    if config.exposure_range is None:
        return model.config.input.exposure
    return ExposureRange(*config.exposure_range)


def _paired_crops(config: TrainConfig, model: GlareNet) -> PairedCrops:
    """Stages 2 and 3 learn from augmented crops of the train pairs."""
    pairs = load_pairs(config.data_root, TRAIN_SPLIT)
    return PairedCrops(pairs, config.crop_size, config.augment, training_exposure(config, model))


def _eval_pairs(config: TrainConfig) -> list[ImagePair]:
    if not config.validate_every:
        return []
    split_dir = Path(config.data_root) / EVAL_SPLIT
    if not split_dir.is_dir():  # the error would name eval/low alone, not how to do without
        raise ConfigError(
            f"validation reads pairs from {split_dir}, which is missing: add pairs of your "
            "own there (low/ and high/), or set 'validate_every: 0' in the --config file"
        )
    return load_pairs(config.data_root, EVAL_SPLIT, limit=config.validate_images)


def _numpy_predictor(
    predict: Callable[[np.ndarray], np.ndarray],
) -> Callable[[torch.Tensor], torch.Tensor]:
    def on_tensor(low: torch.Tensor) -> torch.Tensor:
        return to_tensor(predict(to_image(low)))

    return on_tensor


def _run(
    config: TrainConfig,
    model: GlareNet,
    spec: StageSpec,
    batches: BatchSource,
    validate: Callable[[], dict[str, float]] | None,
    extra_state: dict[str, Stateful] | None = None,
) -> TrainResult:
    trainer = Trainer(
        model, spec.loss_fn, batches, config, validate_fn=validate, extra_state=extra_state
    )
    result = trainer.run()
    # only a finished stage's weights: a later stage starts from them and keeps them frozen
    if trainer.distributed.is_main and result.reason == FINISHED:
        out = Path(config.out_dir) / EXPORT_NAME
        save_weights(model, model.config, out)
        log.info("exported %s weights to %s", spec.name, out)
    return result


def _logged(train: Callable[[TrainConfig], TrainResult]) -> Callable[[TrainConfig], TrainResult]:
    """Open the run's log before the stage builds its model: set-up lines belong in it."""

    @functools.wraps(train)
    def logged(config: TrainConfig) -> TrainResult:
        _refuse_to_build_on_nothing(config)  # before the run's folder and log are made
        with training_log(config):
            return train(config)

    return logged


@_logged
def train_vqgan(config: TrainConfig) -> TrainResult:
    model = _initial_model(config)
    _check_crop_size(config, model)
    pairs = load_pairs(config.data_root, TRAIN_SPLIT)
    batches = NormalLightCrops(pairs, config.crop_size, config.augment)
    if config.whiten_latent:
        if not config.init_weights:
            raise ConfigError("whiten_latent needs a trained VQGAN to start from (init_weights)")
        # seeded by the run's seed alone: a stream apart from every batch's (batch_rng)
        crops = batches.sample(WHITENING_CROPS, np.random.default_rng(config.seed))
        whiten_latent(model.vqgan, crops["high"])
    # a whitened latent needs codes seeded from it: the old ones lie on the old latent
    keep_codebook = bool(config.init_weights) and not config.whiten_latent
    spec = vqgan_stage(model, config.losses, pretrained=keep_codebook)
    eval_pairs = [dataclasses.replace(p, low=p.high) for p in _eval_pairs(config)]

    def reconstruct(high: torch.Tensor) -> torch.Tensor:
        return model.vqgan(high).reconstruction

    predict = _padded(reconstruct, model)

    def validate() -> dict[str, float]:
        device = next(model.parameters()).device
        return score_pairs(eval_pairs, predict, device) if eval_pairs else {}

    return _run(config, model, spec, batches, validate, {"codebook": spec.upkeep})


@_logged
def train_flow(config: TrainConfig) -> TrainResult:
    model = _initial_model(config)
    _check_crop_size(config, model)
    spec = flow_stage(model)
    eval_pairs = _eval_pairs(config)

    def generated_image(low: torch.Tensor) -> torch.Tensor:
        """What the codebook alone makes of the flow's latent (no fusion decoder yet)."""
        condition = model.condition(to_network_input(low, model.config.input))
        generated = model.generate(condition)
        codes = model.vqgan.quantize.lookup(generated.indices)
        decoded = model.decoder_input(codes, generated.latent)
        return model.vqgan.decoder(model.vqgan.post_quant_conv(decoded))[0]

    predict = _padded(generated_image, model)

    def validate() -> dict[str, float]:
        device = next(model.parameters()).device
        return score_pairs(eval_pairs, predict, device) if eval_pairs else {}

    batches = _paired_crops(config, model)
    return _run(config, model, spec, batches, validate)


def _train_fusion_decoder(config: TrainConfig, noisy_path: bool) -> TrainResult:
    model = _initial_model(config)
    _check_crop_size(config, model)
    spec = fusion_stage(model, config.losses, noisy_path=noisy_path)
    eval_pairs = _eval_pairs(config)

    def validate() -> dict[str, float]:
        if not eval_pairs:
            return {}
        device = next(model.parameters()).device
        # float32: the enhancer shares the model being trained, and reduced-precision
        # decoders would convert its parameters. The path is chosen for it: the eval photos
        # as captured would not take the noisy one
        enhancer = Enhancer(model, device, precision="float32", noisy_path=noisy_path)
        return score_pairs(eval_pairs, _numpy_predictor(enhancer.enhance), device)

    batches = _paired_crops(config, model)
    return _run(config, model, spec, batches, validate)


@_logged
def train_fusion(config: TrainConfig) -> TrainResult:
    return _train_fusion_decoder(config, noisy_path=False)


@_logged
def train_noisy_fusion(config: TrainConfig) -> TrainResult:
    return _train_fusion_decoder(config, noisy_path=True)


#: seed of the noisy captures that the denoiser is validated on: the same every validation
DENOISER_VALIDATION_SEED = 0


def _denoising_eval_pairs(config: TrainConfig, exposure: ExposureRange) -> list[ImagePair]:
    """Eval low images made noisy as the training crops are, each by its own fixed draw."""
    pairs = []
    for index, pair in enumerate(_eval_pairs(config)):
        rng = np.random.default_rng((DENOISER_VALIDATION_SEED, index))
        noisy, clean = denoising_pair(from_uint8(pair.low), rng, config.augment, exposure)
        pairs.append(dataclasses.replace(pair, low=to_uint8(noisy), high=to_uint8(clean)))
    return pairs


@_logged
def train_denoiser(config: TrainConfig) -> TrainResult:
    model = _initial_model(config)
    spec = denoiser_stage(model, config.losses)
    exposure = training_exposure(config, model)
    eval_pairs = _denoising_eval_pairs(config, exposure)
    denoiser = _noisy_path(model).denoiser

    def validate() -> dict[str, float]:
        device = next(model.parameters()).device
        return score_pairs(eval_pairs, denoiser, device) if eval_pairs else {}

    pairs = load_pairs(config.data_root, TRAIN_SPLIT)
    batches = DenoisingCrops(pairs, config.crop_size, config.augment, exposure)
    return _run(config, model, spec, batches, validate)
