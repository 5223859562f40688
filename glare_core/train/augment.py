"""Photometric augmentations that widen the low-light inputs the network sees in training.

The product is judged on photos darker and more varied than the training pairs, so the low
image of a pair is re-exposed, re-toned, made noisier and colour-shifted, and sometimes
replaced by a low image synthesised from the normal-light one. The normal-light target is
never changed by these: the network must learn to undo them.

One change acts on both images of a pair alike, and on stage 1's normal-light crops: a
*recolouring* of the scene (hue rotated about the grey axis, saturation scaled, in linear
light). The training photos are mostly dim indoor scenes in beige and grey; without it the
codebook never sees a saturated green or red and renders them as greys, and the later stages
learn that every scene is beige. A recoloured pair is still a physically sensible pair: the
same scene with differently coloured objects, shot at the same two exposures.

Exposure, noise and colour gains act where light adds up, in linear intensity: an sRGB value
``v`` is treated as ``v ** DISPLAY_GAMMA`` there (a plain power law, close enough to the sRGB
curve for augmentation). Noise follows the usual sensor model: photon (shot) noise whose
variance grows with the signal plus signal-independent read noise, so the darker a frame,
the lower its signal-to-noise ratio. The result is stored as a camera stores it: in 8 bits, and
sometimes as a JPEG.

Every random draw comes from the ``numpy.random.Generator`` passed in, so a seeded generator
gives the same augmented batch every time (training is reproducible and resumable).
Images are float32 ``HxWx3`` arrays in [0, 1].
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from glare_core.eight_bit import EIGHT_BIT_MAX, as_stored, from_uint8, to_uint8
from glare_core.errors import ConfigError
from glare_core.exposure import to_display, to_linear

CHANNELS = 3


#: how the shares of crops an augmentation applies to end their names
PROBABILITY_SUFFIX = "_probability"


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the low-light augmentations (all ranges inclusive)."""

    #: share of low images re-exposed by a factor drawn log-uniformly from ``exposure_range``
    exposure_probability: float = 0.5
    exposure_range: tuple[float, float] = (0.25, 1.2)
    #: share of low images given a tone-curve change ``v ** g``, ``g`` log-uniform in the range
    gamma_probability: float = 0.3
    gamma_range: tuple[float, float] = (0.8, 1.25)
    #: share of low images given extra sensor noise
    noise_probability: float = 0.4
    #: linear intensity of one photon-electron: larger means fewer photons and more shot noise
    shot_noise_range: tuple[float, float] = (1e-4, 2e-3)
    #: standard deviation of the read noise in linear intensity
    read_noise_range: tuple[float, float] = (1e-4, 1e-3)
    #: noise is drawn on a grid this many pixels coarse (an integer uniform in the range) and
    #: interpolated: a camera's demosaicing, denoising and resizing leave grain wider than a
    #: pixel, which a network trained on per-pixel noise reads as texture
    noise_grain_range: tuple[int, int] = (1, 1)
    #: share of noisy low images whose colour noise is blotchy: cameras smooth chroma noise
    #: far harder than luma noise, and what is left is coarse. Per-pixel colour noise
    #: averages out over a region, so a network trained only on it learns that the region's
    #: colour can be trusted even a few levels above black, and paints real photos' blotches
    #: as stains. 0 draws nothing, so older configurations cut the same batches
    chroma_grain_probability: float = 0.0
    #: the colour noise's grain in pixels, an integer uniform in this range
    chroma_grain_range: tuple[int, int] = (8, 48)
    #: the blotchy colour noise's strength relative to the luma noise's, log-uniform in this
    #: range (the camera's smoothing lowers it)
    chroma_noise_scale_range: tuple[float, float] = (0.2, 0.8)
    #: share of low images whose channels get independent gains (a white-balance shift)
    color_cast_probability: float = 0.3
    #: each channel gain is drawn uniformly from ``1 ± color_cast_strength``
    color_cast_strength: float = 0.15
    #: share of samples whose low image is synthesised from the normal-light image instead
    synthetic_probability: float = 0.2
    #: linear exposure of a synthesised low image relative to the normal-light one. The train
    #: pairs measure 0.004 / 0.027 / 0.12 (5th / 50th / 95th percentile of the ratio of mean
    #: linear intensities), so this range spans typical pairs and goes darker than most
    synthetic_exposure_range: tuple[float, float] = (0.003, 0.06)
    #: share of synthesised low images that also get a colour cast
    synthetic_cast_probability: float = 0.5
    #: the augmented low image is stored with this many levels above black, as a camera's
    #: 8-bit file would (a darkened image loses its shadows to quantization); 0 keeps floats
    quantize_levels: int = EIGHT_BIT_MAX
    #: share of low images stored as a JPEG file, as phones and most cameras store them: the
    #: encoder keeps chroma at half resolution in 8x8 blocks, and in deep shadows, where the
    #: noise outweighs the colour, those blocks hold coarse, false colour that brightening
    #: turns into stains. 0 draws nothing, so older configurations cut the same batches
    jpeg_probability: float = 0.0
    #: the JPEG quality (1-100) drawn uniformly from this range
    jpeg_quality_range: tuple[int, int] = (50, 95)
    #: share of samples whose scene is recoloured (both images of a pair alike)
    recolor_probability: float = 0.0
    #: the hue is rotated about the grey axis by an angle uniform in ``±hue_rotation`` radians
    hue_rotation: float = math.pi
    #: the saturation (distance from the grey axis) is scaled log-uniformly in this range
    saturation_range: tuple[float, float] = (0.8, 2.0)

    def __post_init__(self) -> None:
        """A share above 1 or below 0 trained as if it were 1 or 0, saying nothing."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.endswith(PROBABILITY_SUFFIX) and not 0 <= value <= 1:
                raise ConfigError(
                    f"augmentation setting {field.name} must be from 0 to 1, not {value!r}"
                )

    @classmethod
    def disabled(cls) -> AugmentConfig:
        """No photometric augmentation at all (geometry is handled by the crop sampler)."""
        return cls(
            exposure_probability=0.0,
            gamma_probability=0.0,
            noise_probability=0.0,
            color_cast_probability=0.0,
            synthetic_probability=0.0,
            recolor_probability=0.0,
        )


#: the augmentations training uses unless told otherwise
DEFAULT_AUGMENT = AugmentConfig()


def log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def uniform_integer(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    """An integer drawn uniformly from ``bounds``, both ends included."""
    low, high = bounds
    return int(rng.integers(low, high + 1))


def grained_normal(shape: tuple[int, ...], grain: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance Gaussian noise of ``shape`` (``HxWxC``), correlated over ``grain`` pixels.

    Drawn on a grid ``grain`` times coarser and interpolated bilinearly, then rescaled to unit
    variance (interpolation averages neighbours and so lowers it).
    """
    if grain <= 1:
        return rng.standard_normal(shape, dtype=np.float32)
    height, width = shape[:2]
    grain = min(grain, max(height, width))  # a coarser grain is one smooth field all the same
    coarse_shape = (-(-height // grain) + 1, -(-width // grain) + 1, *shape[2:])
    coarse = rng.standard_normal(coarse_shape, dtype=np.float32)
    fine = cv2.resize(
        coarse, (coarse_shape[1] * grain, coarse_shape[0] * grain), interpolation=cv2.INTER_LINEAR
    ).reshape(coarse_shape[0] * grain, coarse_shape[1] * grain, *shape[2:])
    offset_y, offset_x = rng.integers(grain), rng.integers(grain)
    noise = fine[offset_y : offset_y + height, offset_x : offset_x + width]
    return noise / np.float32(noise.std() + 1e-6)


def add_sensor_noise(
    linear: np.ndarray,
    shot_noise: float,
    read_noise: float,
    rng: np.random.Generator,
    grain: int = 1,
    chroma_grain: int | None = None,
    chroma_scale: float = 1.0,
) -> np.ndarray:
    """Poisson-Gaussian noise in linear intensity, as a Gaussian with the same variance.

    With ``chroma_grain``, the noise's colour part (what differs between the channels) is
    drawn that many pixels coarse and scaled by ``chroma_scale``; its grey part stays
    ``grain`` pixels coarse.
    """
    variance = shot_noise * np.clip(linear, 0.0, None) + read_noise**2
    unit_noise = grained_normal(linear.shape, grain, rng)
    if chroma_grain is not None:
        coarse = grained_normal(linear.shape, chroma_grain, rng)
        unit_noise = grey_part(unit_noise) + np.float32(chroma_scale) * (coarse - grey_part(coarse))
    return np.clip(linear + unit_noise * np.sqrt(variance), 0.0, 1.0)


def grey_part(image: np.ndarray) -> np.ndarray:
    """Each pixel's mean over its channels, repeated in every channel."""
    return np.repeat(image.mean(axis=-1, keepdims=True), image.shape[-1], axis=-1)


def random_channel_gains(rng: np.random.Generator, strength: float) -> np.ndarray:
    return rng.uniform(1.0 - strength, 1.0 + strength, size=CHANNELS).astype(np.float32)


def _random_noise(
    linear: np.ndarray, config: AugmentConfig, rng: np.random.Generator
) -> np.ndarray:
    shot = log_uniform(rng, config.shot_noise_range)
    read = log_uniform(rng, config.read_noise_range)
    grain = _random_grain(config, rng)
    if config.chroma_grain_probability <= 0 or rng.random() >= config.chroma_grain_probability:
        return add_sensor_noise(linear, shot, read, rng, grain)
    chroma_grain = uniform_integer(rng, config.chroma_grain_range)
    chroma_scale = log_uniform(rng, config.chroma_noise_scale_range)
    return add_sensor_noise(linear, shot, read, rng, grain, chroma_grain, chroma_scale)


def _random_grain(config: AugmentConfig, rng: np.random.Generator) -> int:
    """A grain size from the config; draws nothing for per-pixel noise (older runs replay)."""
    if config.noise_grain_range[1] <= 1:
        return 1
    return uniform_integer(rng, config.noise_grain_range)


def darken(
    high: np.ndarray,
    exposure: float,
    rng: np.random.Generator | None = None,
    config: AugmentConfig | None = None,
    gains: np.ndarray | None = None,
) -> np.ndarray:
    """A low-light version of ``high`` at linear ``exposure``; noisy when ``rng`` is given.

    Without noise, the result is exactly ``high * exposure ** (1 / DISPLAY_GAMMA)`` (times the
    channel ``gains``): what a shorter exposure of the same scene records.
    """
    linear = to_linear(high) * np.float32(exposure)
    if gains is not None:
        linear = linear * gains
    if rng is not None:
        linear = _random_noise(linear, config or DEFAULT_AUGMENT, rng)
    return to_display(linear)


def synthesize_low(
    high: np.ndarray, rng: np.random.Generator, config: AugmentConfig = DEFAULT_AUGMENT
) -> np.ndarray:
    """A new, noisy low-light input made from a normal-light image."""
    exposure = log_uniform(rng, config.synthetic_exposure_range)
    gains = None
    if rng.random() < config.synthetic_cast_probability:
        gains = random_channel_gains(rng, config.color_cast_strength)
    return darken(high, exposure, rng, config, gains)


def augment_low(
    low: np.ndarray, rng: np.random.Generator, config: AugmentConfig = DEFAULT_AUGMENT
) -> np.ndarray:
    """The real low image re-exposed, colour-shifted, noisier and re-toned, each by chance."""
    linear = _maybe_reexposed(to_linear(low), rng, config)
    if rng.random() < config.color_cast_probability:
        linear = linear * random_channel_gains(rng, config.color_cast_strength)
    if rng.random() < config.noise_probability:
        linear = _random_noise(linear, config, rng)
    display = to_display(linear)
    if rng.random() < config.gamma_probability:
        display = np.power(display, log_uniform(rng, config.gamma_range), dtype=np.float32)
    return display


def _maybe_reexposed(
    linear: np.ndarray, rng: np.random.Generator, config: AugmentConfig
) -> np.ndarray:
    """``linear`` light times a random exposure, by chance (``config.exposure_*``)."""
    if rng.random() < config.exposure_probability:
        return linear * np.float32(log_uniform(rng, config.exposure_range))
    return linear


def augment_pair(
    low: np.ndarray,
    high: np.ndarray,
    rng: np.random.Generator,
    config: AugmentConfig = DEFAULT_AUGMENT,
) -> np.ndarray:
    """The low-light input for the pair ``(low, high)``: augmented real, or synthesised."""
    if rng.random() < config.synthetic_probability:
        result = synthesize_low(high, rng, config)
    else:
        result = augment_low(low, rng, config)
    return stored(result, rng, config)


def stored(image: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """``image`` as a camera stores it: quantized, and as a JPEG by chance."""
    result = quantize(image, config.quantize_levels)
    if config.jpeg_probability > 0 and rng.random() < config.jpeg_probability:
        result = jpeg_roundtrip(result, uniform_integer(rng, config.jpeg_quality_range))
    return result


def noisy_capture(
    image: np.ndarray, rng: np.random.Generator, config: AugmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """A darker, noisier capture of ``image`` as a camera stores it, and the same capture
    without noise or storage: what the noisy-photo path's denoiser learns to undo.

    Exposure and sensor noise are drawn as :func:`augment_low` draws them; the clean capture
    is kept in floats, so the denoiser also learns to smooth the quantization's steps.
    """
    linear = _maybe_reexposed(to_linear(image), rng, config)
    clean = to_display(linear)
    noisy = clean
    if rng.random() < config.noise_probability:
        noisy = to_display(_random_noise(linear, config, rng))
    return stored(noisy, rng, config), clean


def hue_saturation_matrix(angle: float, saturation: float) -> np.ndarray:
    """The 3x3 linear-RGB matrix that rotates hue by ``angle`` and scales saturation.

    Colours split into their grey part (projection on ``(1, 1, 1)``), kept as is, and their
    chroma, rotated about the grey axis (Rodrigues' formula) and scaled: greys stay grey.
    """
    axis = np.full(CHANNELS, 1.0 / math.sqrt(CHANNELS))
    grey = np.outer(axis, axis)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(CHANNELS) + math.sin(angle) * cross + (1 - math.cos(angle)) * cross @ cross
    return (grey + saturation * rotation @ (np.eye(CHANNELS) - grey)).astype(np.float32)


def random_recolor(rng: np.random.Generator, config: AugmentConfig) -> np.ndarray | None:
    """A random scene recolouring (see :func:`hue_saturation_matrix`), or None by chance.

    Draws nothing when recolouring is off, so configurations without it cut the same batches
    as before it existed.
    """
    if config.recolor_probability <= 0 or rng.random() >= config.recolor_probability:
        return None
    angle = rng.uniform(-config.hue_rotation, config.hue_rotation)
    return hue_saturation_matrix(angle, log_uniform(rng, config.saturation_range))


def recolor(image: np.ndarray, matrix: np.ndarray | None) -> np.ndarray:
    """``image`` with ``matrix`` applied to its linear-light colours (unchanged for None)."""
    if matrix is None:
        return image
    return to_display(to_linear(image) @ matrix.T)  # to_display clips to [0, 1]


def darker_capture(
    low: np.ndarray,
    darken: float,
    shot_noise: float,
    read_noise: float,
    rng: np.random.Generator,
    grain: int = 1,
) -> np.ndarray:
    """``low``'s stored values times ``darken``, with a sensor's shot and read noise (none
    when both are 0) ``grain`` pixels coarse, stored in 8 bits again: a darker capture has
    fewer levels, not just smaller floats. What ``glare eval --darken`` scores."""
    darker = low * np.float32(darken)
    if shot_noise > 0 or read_noise > 0:
        noisy = add_sensor_noise(to_linear(darker), shot_noise, read_noise, rng, grain)
        darker = to_display(noisy)
    return as_stored(darker)


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` encoded as an 8-bit JPEG at ``quality`` (chroma subsampled 4:2:0) and decoded."""
    bgr = cv2.cvtColor(to_uint8(image), cv2.COLOR_RGB2BGR)
    settings = [
        cv2.IMWRITE_JPEG_QUALITY,
        quality,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    ]
    encoded_ok, encoded = cv2.imencode(".jpg", bgr, settings)
    if not encoded_ok:
        raise RuntimeError(f"OpenCV could not encode a JPEG at quality {quality}")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return from_uint8(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB))


def quantize(image: np.ndarray, levels: int) -> np.ndarray:
    """``image`` rounded to ``levels`` steps above black (unchanged when ``levels`` is 0)."""
    if levels <= 0:
        return image
    return (np.round(image * levels) / np.float32(levels)).astype(np.float32)
