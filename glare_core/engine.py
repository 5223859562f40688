"""The inference engine the CLI, the batch exporter and the app share.

Two ways in:

* :meth:`Enhancer.enhance` — one full-resolution result for any image size. Images
  up to ``tile_size`` x ``tile_size`` pixels run whole (bit-for-bit the network's
  answer); larger ones run in overlapping tiles that share image-wide statistics
  measured first on a downscaled copy (see :mod:`glare_core.model.global_stats`).
  Out of memory, the tile size halves and the image is retried.
* :meth:`Enhancer.prepare` + :meth:`Enhancer.render` — for interactive controls.
  ``prepare`` runs the conditional encoder once; ``render`` re-runs the flow, the
  codebook and the decoder head only when temperature or seed change, and only the
  fusion decoder's tail (after the first AMB) when just the strength changes. While a
  slider is dragged, ``render(..., draft=n)`` runs that tail on features averaged down
  ``2**n`` times and scales its result back up: softer, about ``4**n`` times cheaper.

Temperature: the flow's base Gaussian is N(color_map, T^2 I). T = 0 reproduces the
official deterministic output; T > 0 draws the noise from ``seed``, on the CPU, for
the whole image at once, so the same seed and T give the same picture on any device
and with any tiling. (The official code ignores its temperature.)

Noisy photos: where the config has a noisy-photo path
(:class:`~glare_core.config.NoisyPathConfig`) and noise reduction is on, a photo whose noise at
viewing brightness exceeds the path's threshold, per pixel or as a camera's coarser grain
(where the config reads grain), or whose mean luma as stored is below the config's dark
threshold (a handful of 8-bit levels), goes through the learned denoiser (in tiles
of ``tile_size``) instead of the non-local means filter, and its result comes from the path's
fusion decoder; noise reduction away from the weights' own strength takes less of the
denoiser's correction, or adds the filter after it. Every other photo takes GLARE's path as
before. Where the config mixes the paths (``noisy_path.mix``), a result also takes a share of
the other path's result: :meth:`Enhancer.enhance` and full renders run both paths; drafts,
which follow a slider, run the photo's own path alone.

Precision: where the model's config allows it (the compact preset) and the device computes
bfloat16 natively, the decoders after codebook retrieval run in bfloat16 channels-last
(:mod:`glare_core.model.precision`); ``precision="float32"`` turns that off. The codebook
choice is float32 either way.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import math
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from glare_core.config import PRECISIONS, GlareConfig, load_config
from glare_core.denoise import (
    as_viewed,
    check_noise_reduction,
    estimate_noise,
    grain_noise,
    reduce_noise,
)
from glare_core.device import select_device
from glare_core.eight_bit import from_unsigned
from glare_core.errors import WeightsError
from glare_core.exposure import (
    adjust_exposure,
    apply_gain,
    check_exposure_stops,
    exposure_gain,
    mean_luma,
)
from glare_core.guided_upsample import fit_pixels, fit_scale, guided_upsample, resize_rgb
from glare_core.limits import (
    MIN_TILE_SIZE,
    TRAINED_STRENGTH,
    check_draft,
    check_seed,
    check_strength,
    check_temperature,
    check_tile_size,
)
from glare_core.memory import keep_freed_memory, release_freed_memory
from glare_core.model import global_stats
from glare_core.model.cond_encoder import Condition
from glare_core.model.glare import Generated, GlareNet
from glare_core.model.precision import REDUCED_DTYPE, native_reduced_precision
from glare_core.photo_colour import check_photo_colour, photo_chromaticity, with_photo_colour
from glare_core.preprocess import (
    NO_PADDING,
    Padding,
    official_padding,
    pad_image,
    to_image,
    to_network_input,
    to_tensor,
)
from glare_core.progress import (
    CancelToken,
    ProgressFn,
    cancelled_by,
    check,
    part_of,
    report,
)
from glare_core.resources import bundled_weights_path
from glare_core.tiling import Box, plan_tiles, runs_whole
from glare_core.weights import build_model
from glare_core.well_exposed import KeptColour, kept_colour

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TilingConfig:
    #: images with no more pixels (padded) than a square of this side are processed in one
    #: piece (glare_core.tiling.runs_whole); larger ones are tiled into windows of at most
    #: this side
    tile_size: int = 1024
    #: context pixels each tile window adds around its core: from 64 px on, the zero padding
    #: at a window's edge moves the compact model's output by about 1e-4 (glare_core.tiling),
    #: far below one 8-bit level, and each window spends less on context
    context: int = 64
    #: smallest tile the out-of-memory fallback halves down to
    min_tile_size: int = MIN_TILE_SIZE
    #: the downscaled copy that image-wide statistics are measured on holds as many pixels
    #: as a square of this side (None: tile_size, which is known to fit in memory)
    stats_size: int | None = None
    #: freed memory kept for the next tile (glare_core.memory) before it is given back:
    #: reuse saves page faults, too much of it fragments and raises the peak
    kept_between_tiles: int = 512 * 2**20


#: networks with attention (the official preset) need several times the compact model's
#: memory: smaller default tiles, still large enough that photos of the official code's own
#: size (LOL, 600x400) run whole, as the official code runs them (3.7 GB, 76 s on 2 cores)
ATTENTION_TILE_SIZE = 640


def default_tiling(config: GlareConfig) -> TilingConfig:
    parts = (config.vqgan, config.cond_encoder, config.fusion_decoder)
    attends = any(p.autoencoder.mid_attention or p.autoencoder.attn_resolutions for p in parts)
    return TilingConfig(tile_size=ATTENTION_TILE_SIZE) if attends else TilingConfig()


#: a photo whose padded copy holds more than this many times its own pixels is a strip
#: (photos of usual shapes at a megapixel gain 3-6%, a strip a pixel high 16 times)
STRIP_PADDING_GROWTH = 2.0
#: halvings of the scale that fit a strip's padded copy to the working size (to 2^-30)
STRIP_FIT_STEPS = 30
#: how many (temperature, seed) results a prepared image keeps for instant re-use ...
RENDER_CACHE_SIZE = 4
#: ... and how many bytes of them at most, per path (the newest is always kept): at 1600x1067
#: one takes 113 MB, and four for each of the two mixed paths took the engine past 3 GB
RENDER_CACHE_BYTES = 256 * 2**20


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    message = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in message or "can't allocate memory" in message
    )


#: how far a float image's values may stray outside [0, 1] and be clipped: resampling rings
#: overshoot by a few percent, where 8- or 16-bit values left unscaled reach 255 or 65535
FLOAT_OVERSHOOT = 0.5


def _check_shape(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {image.shape}")


def _checked_image(image: np.ndarray) -> np.ndarray:
    """``image`` as float32 in [0, 1]: integer pixels scaled by their type's largest value,
    floats clipped, and floats that cannot be a [0, 1] image refused."""
    image = np.asarray(image)
    _check_shape(image)
    if np.issubdtype(image.dtype, np.signedinteger):  # int64 is arithmetic's, not a file's
        raise ValueError(f"integer images must be unsigned (uint8, uint16), not {image.dtype}")
    if np.issubdtype(image.dtype, np.integer):
        return from_unsigned(image)
    # checked before the cast: float64 values past float32's range would turn infinite
    finite = np.isfinite(image)
    if not finite.all():
        raise ValueError(
            f"the image holds {image.size - np.count_nonzero(finite)} values that are "
            "not finite numbers (NaN or infinite)"
        )
    low, high = float(image.min()), float(image.max())
    if low < -FLOAT_OVERSHOOT or high > 1 + FLOAT_OVERSHOOT:
        raise ValueError(
            f"a float image's values must lie in [0, 1], this one's run from {low:g} to "
            f"{high:g}: divide 8-bit values by 255, 16-bit ones by 65535"
        )
    return np.clip(image.astype(np.float32, copy=False), 0.0, 1.0)


#: a lock per network, held by each run of it; re-entrant, so that a progress function
#: called within a run may run the network again
_NETWORK_LOCKS: weakref.WeakKeyDictionary[torch.nn.Module, threading.RLock] = (
    weakref.WeakKeyDictionary()
)
_NETWORK_LOCKS_GUARD = threading.Lock()
#: how often a run waiting for another's checks its own cancel
LOCK_WAIT_SECONDS = 0.05


def _network_lock(model: torch.nn.Module) -> threading.RLock:
    with _NETWORK_LOCKS_GUARD:
        return _NETWORK_LOCKS.setdefault(model, threading.RLock())


def sample_noise(shape: Sequence[int], seed: int) -> torch.Tensor:
    """Standard normal noise from ``seed``, drawn on the CPU so every device agrees."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(tuple(shape), generator=generator)


def noise_for_copy(noise: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The sampling ``noise`` of an image for a smaller copy of it (a preview), on the
    copy's latent grid: each position the mean of the cells it covers, scaled back to unit
    variance, so that the copy shows the image's sample as the image itself, downscaled,
    would (a value taken from the nearest cell alone shows less of it)."""
    full_height, full_width = noise.shape[-2:]
    if (full_height, full_width) == (height, width):
        return noise
    averaged = F.interpolate(noise, size=(height, width), mode="area")
    cells = max(full_height / height, 1.0) * max(full_width / width, 1.0)
    return averaged * math.sqrt(cells)


@dataclass(frozen=True)
class RunControls:
    """The user's controls for one full-resolution run."""

    strength: float
    temperature: float
    #: standard normal noise over the whole padded image's latent grid (None at T = 0)
    noise: torch.Tensor | None
    #: the photo takes the noisy-photo path (its input is already through the denoiser)
    noisy_path: bool = False


@dataclass(frozen=True)
class TailInputs:
    """What the fusion decoder's tail reads besides the strength."""

    head: torch.Tensor
    vq_features: list[torch.Tensor]
    skips: list[torch.Tensor]

    def averaged_down(self, factor: int) -> TailInputs:
        def shrink(feature: torch.Tensor) -> torch.Tensor:
            return F.avg_pool2d(feature, factor)

        return TailInputs(
            shrink(self.head),
            [shrink(f) for f in self.vq_features],
            [shrink(f) for f in self.skips],
        )


def render_key(temperature: float, seed: int) -> tuple[float, int]:
    """The cache key of a flow sample: at T = 0 every seed gives the same one."""
    return float(temperature), int(seed) if temperature > 0 else 0


def mix(own: np.ndarray, other: np.ndarray, share: float) -> np.ndarray:
    """``own`` with ``share`` (0 to 1) of ``other``, an array of the same shape, in it."""
    return own + np.float32(share) * (other - own)


def _tensor_bytes(value: object) -> int:
    """The bytes of the tensors in ``value``: a tensor, or sequences and dataclasses of them."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(item) for item in value)
    if dataclasses.is_dataclass(value):
        return sum(_tensor_bytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    return 0


def _remember(cache: OrderedDict, key: object, value: object) -> None:
    cache[key] = value
    while len(cache) > 1 and (
        len(cache) > RENDER_CACHE_SIZE
        or sum(_tensor_bytes(kept) for kept in cache.values()) > RENDER_CACHE_BYTES
    ):
        cache.popitem(last=False)


@dataclass
class PreparedImage:
    """Cached, control-independent work for one (preview-size) image."""

    padding: Padding
    condition: Condition
    #: the photo takes the noisy-photo path (see the module doc)
    noisy_path: bool = False
    #: the latent grid the sampling noise is drawn on: the full result's, where this is a
    #: preview of a larger photo (None: this image's own)
    sample_grid: tuple[int, ...] | None = None
    #: what of the photo's own colour a render keeps (glare_core.well_exposed)
    kept_colour: KeptColour | None = None
    #: the other path's share in every full render (NoisyPathConfig.mix), and how to prepare
    #: that path's work, done on the first render that needs it (drafts do not)
    other_share: float = 0.0
    encode_other: Callable[[], PreparedImage] | None = field(default=None, repr=False)
    _other: PreparedImage | None = field(default=None, repr=False)
    #: (temperature, seed) -> (generated latent and features, fusion decoder head)
    renders: OrderedDict[tuple[float, int], tuple[Generated, torch.Tensor]] = field(
        default_factory=OrderedDict
    )
    #: (temperature, seed, draft) -> the fusion tail's inputs averaged down 2**draft times
    drafts: OrderedDict[tuple[float, int, int], TailInputs] = field(default_factory=OrderedDict)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return tuple(self.condition.color_map.shape)

    def has_sample(self, temperature: float, seed: int) -> bool:
        """Whether a draft render at this temperature and seed only re-runs the fusion tail."""
        return render_key(temperature, seed) in self.renders

    def other_path(self) -> PreparedImage | None:
        """The other path's prepared work, where full renders mix it in."""
        if self._other is None and self.encode_other is not None:
            # its sample is this one's, as in the full result
            self._other = dataclasses.replace(self.encode_other(), sample_grid=self.sample_grid)
        return self._other


class Enhancer:
    """A loaded GLARE network on a device, with whole-image, tiled and interactive paths.

    Safe to share between threads: their runs of the network take turns, as they share the
    model's recorded image-wide statistics (glare_core/model/global_stats.py) and its
    cancel hooks; so do enhancers that share a model. Threads that should run at once need
    an enhancer each, on a model each.
    """

    def __init__(
        self,
        model: GlareNet,
        device: torch.device,
        tiling: TilingConfig | None = None,
        precision: str = "auto",
        full_resolution: bool = False,
        noise_reduction: float | None = None,
        noisy_path: bool | None = None,
    ) -> None:
        """``precision``: "auto" runs the decoders in reduced precision where the model's
        config allows it and the device computes it natively; "float32" never does.
        ``full_resolution``: :meth:`enhance` runs the network on the whole photo even where
        the config names a smaller working size (``input.max_working_pixels``).
        ``noise_reduction``: the strength of the filter on the network's input
        (glare_core/denoise.py; None: the config's ``input.noise_reduction``).
        ``noisy_path``: send every photo through the noisy-photo path (True) or none (False);
        None decides by each photo's noise (see the module doc).

        The enhancer takes ``model`` over: it moves it to ``device`` and converts its
        decoders' parameters (a bfloat16 copy is not turned back into the float32 original).
        """
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        keep_freed_memory()
        self.model = model.to(device).eval()
        self.device = device
        self.tiling = tiling or default_tiling(model.config)
        self.full_resolution = full_resolution
        if noise_reduction is None:
            noise_reduction = model.config.input.noise_reduction
        self.noise_reduction = check_noise_reduction(noise_reduction)
        if noisy_path:
            model.fusion_decoder_for(noisy=True)  # raises for a network without the path
        self.noisy_path = noisy_path
        self.decoder_dtype = torch.float32
        reduced = model.config.precision.reduced_decoders and precision == "auto"
        if reduced and native_reduced_precision(device):
            self.decoder_dtype = REDUCED_DTYPE
        self.model.set_decoder_dtype(self.decoder_dtype)
        logger.info("decoders run in %s", str(self.decoder_dtype).removeprefix("torch."))

    @property
    def config(self) -> GlareConfig:
        return self.model.config

    # -- construction -----------------------------------------------------------------
    @classmethod
    def load(
        cls,
        weights: str | Path | Sequence[str | Path] = (),
        config: str | Path | None = None,
        device: str = "auto",
        tile_size: int | None = None,
        precision: str = "auto",
        full_resolution: bool = False,
        noise_reduction: float | None = None,
        threads: int | None = None,
    ) -> Enhancer:
        """Weights from a file or files (ours, or an official release's two), or the bundled
        compact model, on ``device`` with ``threads`` CPU threads (None: torch's default)."""
        if tile_size is not None:
            tile_size = check_tile_size(tile_size)  # 256.0 counts, as the int it stands for
        chosen_device = select_device(device, threads)  # before the weights: fails faster
        model = build_model(weights or bundled_weights_path(), config)
        tiling = default_tiling(model.config)
        if tile_size is not None:
            tiling = dataclasses.replace(tiling, tile_size=tile_size)
        return cls(model, chosen_device, tiling, precision, full_resolution, noise_reduction)

    @classmethod
    def from_config(
        cls,
        config: str | Path = "compact",
        device: str = "auto",
        seed: int = 0,
        precision: str = "auto",
        full_resolution: bool = False,
        noise_reduction: float | None = None,
        threads: int | None = None,
    ) -> Enhancer:
        """A randomly initialised network of a preset (for tests and benchmarks)."""
        torch.manual_seed(seed)
        model = GlareNet(load_config(config))
        chosen_device = select_device(device, threads)
        return cls(model, chosen_device, None, precision, full_resolution, noise_reduction)

    def with_noisy_path(self, noisy_path: bool | None) -> Enhancer:
        """This enhancer, sharing its network and settings, with ``noisy_path`` forced (see
        the constructor); the network's decoders keep the precision they were given."""
        if noisy_path:
            self.model.fusion_decoder_for(noisy=True)  # raises for a network without the path
        forced = copy.copy(self)
        forced.noisy_path = noisy_path
        return forced

    # -- building blocks ----------------------------------------------------------------
    @contextmanager
    def _running(self, cancel: CancelToken | None) -> Iterator[None]:
        """A run of the network, one thread's at a time: another's tiles read this one's
        statistics, and its modules this one's hooks (a cancel stopped both, and their
        pictures were wrong). Inside, the network checks ``cancel`` before each of its
        modules, so a cancelled run stops within one layer: between tiles alone, a photo of
        the working size (one tile, seconds long) ran to its end after Esc, and closing the
        app waited for it. A run cancelled while it waits for another's ends at once."""
        lock = _network_lock(self.model)
        while not lock.acquire(timeout=LOCK_WAIT_SECONDS):
            check(cancel)
        try:
            with self._stopping_on(cancel):
                yield
        finally:
            lock.release()

    @contextmanager
    def _stopping_on(self, cancel: CancelToken | None) -> Iterator[None]:
        """Inside, the network's modules check ``cancel`` (see :meth:`_running`)."""
        if cancel is None:
            yield
            return

        def check_first(module: torch.nn.Module, inputs: tuple) -> None:
            check(cancel)

        hooks = [module.register_forward_pre_hook(check_first) for module in self.model.modules()]
        try:
            with cancelled_by(cancel):  # and within the layers that loop long (deform_conv)
                yield
        finally:
            for hook in hooks:
                hook.remove()

    def _noise_reduction(self, requested: float | None) -> float:
        """``requested``, checked; None stands for the enhancer's own setting."""
        return self.noise_reduction if requested is None else check_noise_reduction(requested)

    def _exposure_gain(self, image: np.ndarray) -> float:
        """The gain that brings ``image`` into the model's trained range (glare_core.exposure);
        1 for an image already inside or a config without one."""
        return exposure_gain(image, self.config.input.exposure)

    def _kept_colour(self, image: np.ndarray, gain: float) -> KeptColour | None:
        """What of ``image``'s own colour its result keeps (glare_core.well_exposed)."""
        return kept_colour(image, gain, self.config.input.well_exposed)

    @staticmethod
    def _with_kept_colour(result: np.ndarray, kept: KeptColour | None) -> np.ndarray:
        return result if kept is None else kept.apply(result)

    def _filtered(self, image: np.ndarray, strength: float) -> np.ndarray:
        """``image`` through the noise filter at ``strength``, adapted as the config asks."""
        return reduce_noise(image, strength, self.config.input.noise_adaptation)

    def takes_noisy_path(self, image: np.ndarray, noise_reduction: float | None = None) -> bool:
        """Whether :meth:`enhance` sends the photo ``image`` through the noisy-photo path (see
        the module doc) with noise reduction at ``noise_reduction`` (None: the enhancer's).

        The noise is measured at the size the network runs at: a preview, smaller, shows
        less of it, so an interactive caller asks here and passes the answer to
        :meth:`prepare` to render its previews by the path the full result takes.
        """
        image = _checked_image(image)
        network_image = self._working_copy(apply_gain(image, self._exposure_gain(image)))
        return self._is_noisy(
            network_image, self._noise_reduction(noise_reduction), mean_luma(image)
        )

    def _is_noisy(self, normalized: np.ndarray, noise_reduction: float, stored_luma: float) -> bool:
        """:meth:`takes_noisy_path` for an image already re-exposed into the trained range,
        whose photo as stored has mean luma ``stored_luma``: only with noise reduction on, in
        a network that has the path, unless the enhancer was told which path every photo
        takes."""
        if self.noisy_path is not None:
            return self.noisy_path
        if self.model.noisy_path is None or noise_reduction <= 0:
            return False
        thresholds = self.config.noisy_path
        if thresholds.dark_threshold is not None and stored_luma < thresholds.dark_threshold:
            logger.debug("mean luma %.4f as stored: a very dark photo", stored_luma)
            return True
        viewed = as_viewed(normalized)
        noise = estimate_noise(viewed)
        logger.debug("noise at viewing brightness: %.1f levels", noise)
        if noise > thresholds.noise_threshold:
            return True
        if thresholds.grain_threshold is None:
            return False
        grain = grain_noise(viewed)
        logger.debug("grain at viewing brightness: %.1f levels", grain)
        return grain > thresholds.grain_threshold

    def _network_image(
        self,
        image: np.ndarray,
        strength: float,
        stored_luma: float,
        noisy_path: bool | None = None,
    ) -> tuple[np.ndarray, bool]:
        """What the network reads for the normalised ``image`` (of a photo whose mean luma as
        stored is ``stored_luma``) with noise reduction at ``strength``, and whether that is
        the noisy-photo path's input (``noisy_path``, or when None decided on ``image``)."""
        if noisy_path is None:
            noisy_path = self._is_noisy(image, strength, stored_luma)
        if noisy_path:
            return self._path_denoised(image, strength), True
        return self._filtered(image, strength), False

    def _path_denoised(self, image: np.ndarray, strength: float) -> np.ndarray:
        """What the noisy-photo path reads at noise reduction ``strength``.

        At the weights' own strength (``input.noise_reduction``), the learned denoiser's
        output, as the path was trained. Below it, that share of the denoiser's correction
        (more of the photo's grain and detail); above it, the non-local means filter at the
        excess after the denoiser (flatter surfaces): the control keeps its meaning on
        either path.
        """
        denoised = self._learned_denoised(image)
        trained_strength = self.config.input.noise_reduction
        if trained_strength <= 0 or strength == trained_strength:
            return denoised
        if strength < trained_strength:
            return mix(image, denoised, strength / trained_strength)
        return self._filtered(denoised, strength - trained_strength)

    def _learned_denoised(self, image: np.ndarray) -> np.ndarray:
        """``image`` through the noisy-photo path's denoiser, in tiles of ``tile_size``."""
        denoiser = self.model.noisy_path.denoiser
        height, width = image.shape[:2]
        context = self.tiling.context
        core = max(self.tiling.tile_size - 2 * context, denoiser.size_multiple)
        result = np.empty_like(image)
        for tile in plan_tiles(height, width, core, context, denoiser.size_multiple):
            window = tile.window
            pixels = image[window.top : window.bottom, window.left : window.right]
            output = denoiser(to_tensor(pixels).to(self.device))
            tile.keep_core(self._to_image(output, NO_PADDING), result)
        return result

    def _network_input(self, padded: np.ndarray) -> torch.Tensor:
        return to_network_input(to_tensor(padded), self.config.input).to(self.device)

    def _noise(
        self, latent_shape: Sequence[int], temperature: float, seed: int
    ) -> torch.Tensor | None:
        if temperature <= 0:
            return None
        return sample_noise(latent_shape, seed).to(self.device)

    def _latent_shape(self, height: int, width: int) -> tuple[int, int, int, int]:
        scale = self.model.downscale
        return (1, self.config.vqgan.embed_dim, height // scale, width // scale)

    @staticmethod
    def _to_image(output: torch.Tensor, padding: Padding) -> np.ndarray:
        if not bool(torch.isfinite(output).all()):  # else saved as black, silently
            raise WeightsError(  # weights are checked for NaN at load: numbers overflowed
                "the network's result is not finite (NaN or infinite): its weights or their "
                "config overflow it"
            )
        rgb = to_image(output.clamp(0, 1))
        return np.ascontiguousarray(padding.crop(rgb))

    # -- full resolution ----------------------------------------------------------------
    @torch.inference_mode()
    def enhance(
        self,
        image: np.ndarray,
        strength: float = TRAINED_STRENGTH,
        temperature: float = 0.0,
        seed: int = 0,
        *,
        noise_reduction: float | None = None,
        exposure: float = 0.0,
        photo_colour: float = 0.0,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> np.ndarray:
        """Enhance an HxWx3 RGB image, float in [0, 1] or integer (scaled by its type's
        largest value, 255 for uint8); returns float32 in [0, 1] of the same shape.

        A photo larger than the config's working size is enhanced at that size and guided
        back up to full size (glare_core/guided_upsample.py), unless ``full_resolution``.
        ``noise_reduction`` (None: the enhancer's) filters what the network sees;
        ``exposure`` re-exposes its result by that many stops (glare_core.exposure);
        ``photo_colour`` gives it that share of the photo's own colour, 0 to 1
        (glare_core/photo_colour.py). A photo darkened into the trained range keeps its own
        colour where well exposed, as the config's ``input.well_exposed`` asks
        (glare_core/well_exposed.py).
        """
        check_strength(strength)
        check_temperature(temperature)
        check_seed(seed)
        check_exposure_stops(exposure)
        check_photo_colour(photo_colour)
        denoise = self._noise_reduction(noise_reduction)
        image = _checked_image(image)
        started = time.perf_counter()
        height, width = image.shape[:2]
        gain = self._exposure_gain(image)
        stored_luma = mean_luma(image)
        controls = RunControls(strength, temperature, None)
        try:
            normalized = apply_gain(image, gain)
            enhanced = self._working_copy(normalized)
            with self._running(cancel):
                result = self._mixed_result(
                    enhanced, denoise, stored_luma, controls, seed, progress, cancel
                )
            if enhanced is not normalized:
                report(progress, 1.0, "upsampling")
            # inside the try: their full-size temporaries are given back with the network's
            result = self._finished(result, enhanced, image, gain, normalized)
            result = with_photo_colour(result, photo_colour, lambda: photo_chromaticity(image))
            result = adjust_exposure(result, exposure)
        finally:
            release_freed_memory()  # the photo is done (or given up): the app goes idle
        report(progress, 1.0, "done")
        logger.info("enhanced %dx%d in %.2f s", width, height, time.perf_counter() - started)
        return result

    def sample_grid(self, width: int, height: int) -> tuple[int, ...]:
        """The latent grid on which :meth:`enhance` draws a ``width`` x ``height`` photo's
        sampling noise. Previews of the photo, prepared with it, draw there too and average
        it down to their own grid (:func:`noise_for_copy`), so that at a temperature above 0
        they show the sample the full result has (a grid of their own would draw an
        unrelated one)."""
        run_width, run_height = self.working_size(width, height) or (width, height)
        return self._latent_shape(*self._padded_size(run_height, run_width))

    def enhances_in_one_piece(self, width: int, height: int) -> bool:
        """Whether :meth:`enhance` runs the network on a ``width`` x ``height`` photo in one
        piece (at the working size, where the photo is larger): then its result is, bit for
        bit, :meth:`finish` of a full :meth:`render` of :meth:`prepare_export`."""
        run_width, run_height = self.working_size(width, height) or (width, height)
        padded_height, padded_width = self._padded_size(run_height, run_width)
        return runs_whole(
            padded_height, padded_width, self.tiling.tile_size, self.config.input.pad_multiple
        )

    def _padded_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of an image of this size padded as the network takes it."""
        padding = official_padding(height, width, self.config.input.pad_multiple)
        return height + padding.top + padding.bottom, width + padding.left + padding.right

    def finish(
        self, result: np.ndarray, image: np.ndarray, network_photo: np.ndarray | None = None
    ) -> np.ndarray:
        """A full :meth:`render` of :meth:`prepare_export`, brought to the size of ``image``
        (the photo, or a copy of it for a preview) as :meth:`enhance` brings its network's
        result to the photo's: guided by the image's luma, and keeping the image's own
        colour where it is well exposed. ``network_photo``, the photo at the result's size,
        guides the fit where ``image`` is a copy of another size (None: ``image`` brought to
        that size, a blockier guide where ``image`` is the smaller)."""
        image = _checked_image(image)
        gain = self._exposure_gain(image)
        normalized = apply_gain(image, gain)
        if network_photo is None or network_photo.shape == image.shape:
            small = resize_rgb(normalized, (result.shape[1], result.shape[0]))
        else:
            small = apply_gain(_checked_image(network_photo), gain)
        return self._finished(result, small, image, gain, normalized)

    def _finished(
        self,
        result: np.ndarray,
        small: np.ndarray,
        image: np.ndarray,
        gain: float,
        normalized: np.ndarray,
    ) -> np.ndarray:
        """The network's ``result`` for ``small``, the re-exposed ``normalized`` (``image``
        times ``gain``) at the size the network ran at, brought to ``image``'s size."""
        if small is not normalized:
            upsampling = self.config.input.upsampling
            result = guided_upsample(small, result, normalized, upsampling)
        return self._with_kept_colour(result, self._kept_colour(image, gain))

    def _working_copy(self, normalized: np.ndarray) -> np.ndarray:
        """The re-exposed photo at the size the network runs it at (itself up to the
        working size)."""
        working = self.working_size(normalized.shape[1], normalized.shape[0])
        return normalized if working is None else resize_rgb(normalized, working)

    def working_size(self, width: int, height: int) -> tuple[int, int] | None:
        """The (width, height) :meth:`enhance` runs the network at; None for full size."""
        max_pixels = self.config.input.max_working_pixels
        if self.full_resolution or max_pixels is None:
            return None
        size = self.fitted_size(width, height, max_pixels)
        return None if size == (width, height) else size

    def fitted_size(self, width: int, height: int, max_pixels: int) -> tuple[int, int]:
        """(width, height) shrunk (never enlarged) to about ``max_pixels`` of network work:
        to ``max_pixels``, aspect kept, and a strip further.

        The network's work is its padded input's: a strip only a few pixels high is padded to
        many times its pixels (a 1 x 100,000 one to 16 x 100,016), and each of those costs
        more than a photo's (its convolutions run along rows a few pixels high). So a photo
        whose padded copy would hold over :data:`STRIP_PADDING_GROWTH` times its pixels, and
        more than a square photo of ``max_pixels`` padded, is shrunk until it holds no more."""
        size = fit_pixels((width, height), max_pixels)
        side = math.isqrt(max_pixels)
        budget = self._network_pixels(side, side)
        network = self._network_pixels(*size)
        if network <= STRIP_PADDING_GROWTH * math.prod(size) or network <= budget:
            return size
        # the padded pixels only ever grow with the scale: halving the interval finds the
        # largest scale that fits
        low, high = 0.0, min(1.0, math.sqrt(max_pixels / (width * height)))
        for _ in range(STRIP_FIT_STEPS):
            middle = (low + high) / 2
            fits = self._network_pixels(*fit_scale((width, height), middle)) <= budget
            low, high = (middle, high) if fits else (low, middle)
        return fit_scale((width, height), low)

    def _network_pixels(self, width: int, height: int) -> int:
        return math.prod(self._padded_size(height, width))

    def _mixed_result(
        self,
        image: np.ndarray,
        denoise: float,
        stored_luma: float,
        controls: RunControls,
        seed: int,
        progress: ProgressFn | None,
        cancel: CancelToken | None,
    ) -> np.ndarray:
        """The network's result for the re-exposed ``image`` at its own size: its own path's,
        with the config's share of the other path's mixed in (``noisy_path.mix``)."""
        noisy = self._is_noisy(image, denoise, stored_luma)
        share = self._other_path_share(noisy, denoise)
        # each path's run takes about as long: the first half of the progress, or all of it
        own_part = 0.5 if share else 1.0
        # the network images are passed on unnamed: _enhance_at_size frees each once padded
        result = self._enhance_at_size(
            *self._network_image(image, denoise, stored_luma, noisy),
            controls,
            seed,
            part_of(progress, 0.0, own_part),
            cancel,
        )
        if share == 0:
            return result
        other = self._enhance_at_size(
            *self._network_image(image, denoise, stored_luma, not noisy),
            controls,
            seed,
            part_of(progress, own_part, 1.0),
            cancel,
        )
        return mix(result, other, share)

    def _other_path_share(self, noisy_path: bool, noise_reduction: float) -> float:
        """The other path's share in the result of a photo on ``noisy_path`` (logged with the
        photo's path): none where the path is off (no such path, noise reduction 0) or the
        enhancer was told which to take."""
        if noisy_path:
            logger.info("a noisy photo: the learned denoiser and its fusion decoder")
        if self.noisy_path is not None or self.model.noisy_path is None or noise_reduction <= 0:
            return 0.0
        share = self.config.noisy_path.mix.other_share(noisy_path)
        if share:
            logger.debug("the result takes %.0f%% of the other path's", 100 * share)
        return share

    def _enhance_at_size(
        self,
        image: np.ndarray,
        noisy_path: bool,
        controls: RunControls,
        seed: int,
        progress: ProgressFn | None,
        cancel: CancelToken | None,
    ) -> np.ndarray:
        """The network's result for a network image (:meth:`_network_image`) at its own size;
        ``controls`` without noise, which is drawn here from ``seed`` for the padded size."""
        padding = official_padding(*image.shape[:2], self.config.input.pad_multiple)
        padded = pad_image(image, padding)
        # the unpadded copy need not live through the run (at 12 MP each float copy is
        # 144 MB); a caller that still needs it (guided upsampling) keeps its own reference
        del image
        latent_shape = self._latent_shape(*padded.shape[:2])
        noise = self._noise(latent_shape, controls.temperature, seed)
        controls = dataclasses.replace(controls, noise=noise, noisy_path=noisy_path)
        result = self._enhance_with_fallback(padded, controls, progress, cancel)
        return np.ascontiguousarray(padding.crop(result))

    def _enhance_with_fallback(
        self,
        padded: np.ndarray,
        controls: RunControls,
        progress: ProgressFn | None,
        cancel: CancelToken | None,
    ) -> np.ndarray:
        """:meth:`_enhance_padded`, with the tile size halved after running out of memory."""
        tile_size = self.tiling.tile_size
        while True:
            try:
                return self._enhance_padded(padded, controls, tile_size, progress, cancel)
            except Exception as exc:
                if not _is_out_of_memory(exc) or tile_size <= self.tiling.min_tile_size:
                    raise
                tile_size = max(tile_size // 2, self.tiling.min_tile_size)
                logger.warning("out of memory: retrying with %d px tiles", tile_size)
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()

    def _enhance_padded(
        self,
        padded: np.ndarray,
        controls: RunControls,
        tile_size: int,
        progress: ProgressFn | None,
        cancel: CancelToken | None,
    ) -> np.ndarray:
        height, width = padded.shape[:2]
        if runs_whole(height, width, tile_size, self.config.input.pad_multiple):
            check(cancel)
            report(progress, 0.0, "enhancing")
            return self._run_window(padded, Box(0, height, 0, width), controls)
        self._record_statistics(padded, controls, tile_size)
        return self._run_tiles(padded, controls, tile_size, progress, cancel)

    def _record_statistics(self, padded: np.ndarray, controls: RunControls, tile_size: int) -> None:
        """Measure GroupNorm and fusion statistics on a copy that fits in one tile."""
        height, width = padded.shape[:2]
        align = self.config.input.pad_multiple
        stats_size = self.tiling.stats_size or tile_size
        # as many pixels as one tile, whatever the sides: a long strip's copy scaled by its
        # long side was a few pixels high, and its statistics left the strip's
        scale = min(1.0, stats_size / math.sqrt(height * width))
        proxy_h = max(align, int(height * scale) // align * align)
        proxy_w = max(align, int(width * scale) // align * align)
        proxy = cv2.resize(padded, (proxy_w, proxy_h), interpolation=cv2.INTER_AREA)
        with global_stats.recording(self.model):
            self.model(
                self._network_input(proxy),
                controls.strength,
                controls.temperature,
                self._proxy_noise(controls.noise, proxy_h, proxy_w),
                noisy=controls.noisy_path,
            )

    def _proxy_noise(
        self, noise: torch.Tensor | None, proxy_h: int, proxy_w: int
    ) -> torch.Tensor | None:
        """The image's sampling noise for its downscaled copy: a temperature above 0 moves the
        statistics that the tiles share, so they are measured at it. Taken one value per
        latent position, not averaged, so that it stays N(0, I) as the tiles' noise is."""
        if noise is None:
            return None
        # one value per latent position, taken from the nearest, as each tile's is
        grid = (proxy_h // self.model.downscale, proxy_w // self.model.downscale)
        return F.interpolate(noise, size=grid, mode="nearest")

    def _run_tiles(
        self,
        padded: np.ndarray,
        controls: RunControls,
        tile_size: int,
        progress: ProgressFn | None,
        cancel: CancelToken | None,
    ) -> np.ndarray:
        height, width = padded.shape[:2]
        context = self.tiling.context
        align = max(self.config.input.pad_multiple, self.model.downscale)
        tiles = plan_tiles(height, width, tile_size - 2 * context, context, align)
        result = np.empty((height, width, 3), dtype=np.float32)
        with global_stats.frozen(self.model):
            for index, tile in enumerate(tiles):
                check(cancel)
                report(progress, index / len(tiles), f"tile {index + 1}/{len(tiles)}")
                output = self._run_window(padded, tile.window, controls)
                release_freed_memory(self.tiling.kept_between_tiles)
                tile.keep_core(output, result)
        return result

    def _run_window(self, padded: np.ndarray, window: Box, controls: RunControls) -> np.ndarray:
        pixels = padded[window.top : window.bottom, window.left : window.right]
        window_noise = None
        if controls.noise is not None:
            scale = self.model.downscale
            window_noise = controls.noise[
                ...,
                window.top // scale : window.bottom // scale,
                window.left // scale : window.right // scale,
            ]
        output = self.model(
            self._network_input(pixels),
            controls.strength,
            controls.temperature,
            window_noise,
            noisy=controls.noisy_path,
        )
        return self._to_image(output, NO_PADDING)

    # -- interactive --------------------------------------------------------------------
    @torch.inference_mode()
    def prepare(
        self,
        image: np.ndarray,
        *,
        noise_reduction: float | None = None,
        noisy_path: bool | None = None,
        sample_grid: tuple[int, ...] | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> PreparedImage:
        """Run the conditional encoder once for ``image``: what strength, temperature and
        seed do not change (``noise_reduction`` does; None: the enhancer's).

        A preview of a larger photo passes, for the full photo, :meth:`takes_noisy_path` as
        ``noisy_path`` (None: decided on ``image`` itself) and :meth:`sample_grid` as
        ``sample_grid`` (None: ``image``'s own), so that it renders what the full result has.
        """
        denoise = self._noise_reduction(noise_reduction)
        image = _checked_image(image)
        gain = self._exposure_gain(image)
        normalized = apply_gain(image, gain)
        prepared = self._prepared(
            normalized, denoise, mean_luma(image), noisy_path, progress, cancel
        )
        return dataclasses.replace(
            prepared, sample_grid=sample_grid, kept_colour=self._kept_colour(image, gain)
        )

    @torch.inference_mode()
    def prepare_export(
        self,
        photo: np.ndarray,
        *,
        noise_reduction: float | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> PreparedImage:
        """:meth:`prepare` of what :meth:`enhance` runs the network on for ``photo``: the
        photo re-exposed and, above the working size, brought down to it. :meth:`finish` of
        a full render of it is the result of :meth:`enhance` (bit for bit where
        :meth:`enhances_in_one_piece`), or, for a smaller copy of the photo, a preview of
        that result: an app renders its preview and its export from one run of the network."""
        denoise = self._noise_reduction(noise_reduction)
        image = _checked_image(photo)
        network_image = self._working_copy(apply_gain(image, self._exposure_gain(image)))
        return self._prepared(network_image, denoise, mean_luma(image), None, progress, cancel)

    def _prepared(
        self,
        normalized: np.ndarray,
        denoise: float,
        stored_luma: float,
        noisy_path: bool | None,
        progress: ProgressFn | None,
        cancel: CancelToken | None,
    ) -> PreparedImage:
        """:meth:`prepare` of the re-exposed ``normalized`` as the network reads it, both
        paths where the config mixes them (``noisy_path`` None: decided on ``normalized``)."""
        if noisy_path is None:
            noisy_path = self._is_noisy(normalized, denoise, stored_luma)
        share = self._other_path_share(noisy_path, denoise)
        check(cancel)
        report(progress, 0.0, "encoding")
        with self._running(cancel):
            prepared = self._encoded(normalized, denoise, stored_luma, noisy_path)
        report(progress, 1.0, "encoded")
        encode_other = None
        if share:
            encode_other = functools.partial(
                self._encoded, normalized, denoise, stored_luma, not noisy_path
            )
        return dataclasses.replace(prepared, other_share=share, encode_other=encode_other)

    def _encoded(
        self, normalized: np.ndarray, denoise: float, stored_luma: float, noisy_path: bool
    ) -> PreparedImage:
        """:meth:`prepare` of one path for the re-exposed ``normalized``."""
        network_image, _ = self._network_image(normalized, denoise, stored_luma, noisy_path)
        padding = official_padding(*network_image.shape[:2], self.config.input.pad_multiple)
        padded = pad_image(network_image, padding)
        return PreparedImage(padding, self.model.condition(self._network_input(padded)), noisy_path)

    @torch.inference_mode()
    def render(
        self,
        prepared: PreparedImage,
        strength: float = TRAINED_STRENGTH,
        temperature: float = 0.0,
        seed: int = 0,
        *,
        draft: int = 0,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> np.ndarray:
        """The result for these controls at the prepared size; cheap when only strength moves.

        ``draft`` > 0 runs the fusion tail ``2**draft`` times smaller, of the photo's own path
        alone where the config mixes the two (see the module doc).
        Unlike :meth:`enhance` it takes no exposure: an interactive caller re-exposes the
        render itself (glare_core.exposure.adjust_exposure), so that moving the exposure
        alone runs no network.
        """
        check_strength(strength)
        check_temperature(temperature)
        check_seed(seed)
        draft = check_draft(draft)
        # a draft follows a slider at the cost of one path; full renders mix as enhance does
        mixed = bool(prepared.other_share) and not draft
        with self._running(cancel):
            report(progress, 0.0, "rendering")
            result = self._rendered(prepared, strength, temperature, seed, draft, cancel)
            if mixed:
                report(progress, 1 / 2, "rendering the other path")  # as long as the first
                other_path = prepared.other_path()
                other = self._rendered(other_path, strength, temperature, seed, 0, cancel)
                result = mix(result, other, prepared.other_share)
        report(progress, 1.0, "rendered")
        return self._with_kept_colour(result, prepared.kept_colour)

    def _rendered(
        self,
        prepared: PreparedImage,
        strength: float,
        temperature: float,
        seed: int,
        draft: int,
        cancel: CancelToken | None,
    ) -> np.ndarray:
        """:meth:`render` of one path, before any colour of the photo is kept."""
        check(cancel)
        inputs = self._tail_inputs(prepared, temperature, seed, draft)
        check(cancel)
        output = self.model.fusion_decoder_for(prepared.noisy_path).tail(
            inputs.head, inputs.vq_features, inputs.skips, strength
        )
        if draft:
            output = F.interpolate(output, scale_factor=2**draft, mode="bilinear")
        return self._to_image(output, prepared.padding)

    def _tail_inputs(
        self, prepared: PreparedImage, temperature: float, seed: int, draft: int
    ) -> TailInputs:
        key = render_key(temperature, seed)
        if (*key, draft) in prepared.drafts:
            prepared.drafts.move_to_end((*key, draft))
            return prepared.drafts[(*key, draft)]
        generated, head = self._generated(prepared, key)
        inputs = TailInputs(head, generated.vq_features, prepared.condition.skips)
        if draft:
            inputs = inputs.averaged_down(2**draft)
            _remember(prepared.drafts, (*key, draft), inputs)
        return inputs

    def _generated(
        self, prepared: PreparedImage, key: tuple[float, int]
    ) -> tuple[Generated, torch.Tensor]:
        if key in prepared.renders:
            prepared.renders.move_to_end(key)
            return prepared.renders[key]
        temperature, seed = key
        noise = self._noise(prepared.sample_grid or prepared.latent_shape, temperature, seed)
        if noise is not None:  # a preview shows the full result's sample, smaller
            noise = noise_for_copy(noise, *prepared.latent_shape[-2:])
        generated = self.model.generate(prepared.condition, temperature, noise)
        head = self.model.fusion_decoder_for(prepared.noisy_path).head(generated.latent)
        _remember(prepared.renders, key, (generated, head))
        return generated, head
