"""Typed configuration of the GLARE network, with named presets.

Every width, depth and constant of the architecture lives here, so the model
code never carries magic numbers. Two presets ship:

* ``official`` — exactly the architecture of the official LOL / LOL-v2-real
  configs (``confs/LOL.yml``), so official checkpoints load with strict checks.
* ``compact`` — a small variant (no attention, narrow widths) that trains on a
  2-core CPU and renders interactively.

An official GLARE ``.yml`` can also be read (:func:`config_from_official_yml`);
widths the official code hard-codes can be overridden by its non-official
``fixture_overrides`` section or inferred from checkpoint shapes
(:mod:`glare_core.weights`).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glare_core.denoise import NoiseAdaptation
from glare_core.errors import ConfigError
from glare_core.exposure import ExposureRange
from glare_core.typed_values import checked_value
from glare_core.well_exposed import WellExposedColour

#: Ceilings on the architecture's sizes, far above any GLARE or LLFlow config (the official
#: LOL config: widths up to 512, 2 flow levels of 12 steps, 8192 codes). A larger number is a
#: typo, and building it would fill the memory, or run for ever, before any other check ran.
MAX_WIDTH = 8192
#: encoder and decoder levels, flow levels
MAX_LEVELS = 16
#: residual blocks per level, flow steps per level
MAX_REPEATS = 256
MAX_CODEBOOK_SIZE = 1 << 20


def _check_sizes(
    section: str, sizes: dict[str, int | tuple[int, ...]], ceiling: int, floor: int = 1
) -> None:
    """Refuse a size (or any of a tuple of sizes) outside ``floor`` to ``ceiling``."""
    for name, value in sizes.items():
        values = value if isinstance(value, tuple) else (value,)
        if not values or not all(floor <= item <= ceiling for item in values):
            raise ConfigError(f"{section}.{name} must be {floor} to {ceiling}, not {value!r}")


@dataclass(frozen=True)
class AutoencoderConfig:
    """Shape of a taming-style convolutional encoder or decoder.

    ``attn_resolutions`` follows taming's convention: attention blocks are placed at
    the levels whose nominal size (``resolution`` halved once per level) is listed.
    """

    channels: int = 128
    channel_mult: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (64,)
    resolution: int = 256
    mid_attention: bool = True
    z_channels: int = 3
    norm_groups: int = 32

    def __post_init__(self) -> None:
        levels = {"levels (channel_mult's length)": len(self.channel_mult)}
        _check_sizes("autoencoder", levels, MAX_LEVELS)
        widths = {"channels": self.channels, "z_channels": self.z_channels}
        widths |= {"channels x channel_mult": tuple(self.channels * m for m in self.channel_mult)}
        _check_sizes("autoencoder", widths, MAX_WIDTH)
        _check_sizes("autoencoder", {"num_res_blocks": self.num_res_blocks}, MAX_REPEATS, floor=0)

    @property
    def num_levels(self) -> int:
        return len(self.channel_mult)

    def level_channels(self, level: int) -> int:
        return self.channels * self.channel_mult[level]

    def has_attention(self, level: int) -> bool:
        return self.resolution // 2**level in self.attn_resolutions


@dataclass(frozen=True)
class VQGANConfig:
    """Stage 1: the normal-light VQGAN (encoder, codebook, decoder)."""

    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    codebook_size: int = 8192
    embed_dim: int = 3
    commitment_beta: float = 0.25

    def __post_init__(self) -> None:
        _check_sizes("vqgan", {"codebook_size": self.codebook_size}, MAX_CODEBOOK_SIZE)
        _check_sizes("vqgan", {"embed_dim": self.embed_dim}, MAX_WIDTH)


@dataclass(frozen=True)
class CondEncoderConfig:
    """Stage 2: the conditional encoder on the (log-domain) low-light image."""

    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    cond_channels: int = 64

    def __post_init__(self) -> None:
        _check_sizes("cond_encoder", {"cond_channels": self.cond_channels}, MAX_WIDTH)


@dataclass(frozen=True)
class FlowConfig:
    """Stage 2: the Invertible Latent Normalizing Flow (I-LNF).

    Each of ``levels`` blocks holds ``invconv_steps`` steps of ActNorm + invertible
    1x1 convolution, then ``coupling_steps`` steps that add a conditional affine
    coupling. ``hidden_channels`` is the width of the coupling networks.
    """

    levels: int = 2
    coupling_steps: int = 12
    invconv_steps: int = 2
    hidden_channels: int = 64
    affine_eps: float = 1e-4
    #: the couplings' scales are sigmoid(x + scale_shift): near 1 at initialisation
    scale_shift: float = 2.0
    #: Conv2dZeros output gain is exp(logs * logscale_factor), as in Glow
    logscale_factor: float = 3.0

    def __post_init__(self) -> None:
        _check_sizes("flow", {"levels": self.levels}, MAX_LEVELS)
        _check_sizes("flow", {"coupling_steps": self.coupling_steps}, MAX_REPEATS)
        _check_sizes("flow", {"invconv_steps": self.invconv_steps}, MAX_REPEATS, floor=0)
        _check_sizes("flow", {"hidden_channels": self.hidden_channels}, MAX_WIDTH)


@dataclass(frozen=True)
class FusionDecoderConfig:
    """Stage 3: the multi-scale fusion decoder with AMBs and deformable warps."""

    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    deformable_groups: int = 4
    #: initial AMB weights, from the coarsest fused level to the finest
    amb_init: tuple[float, ...] = (-1.0, -0.6)

    def __post_init__(self) -> None:
        _check_sizes("fusion_decoder", {"deformable_groups": self.deformable_groups}, MAX_WIDTH)


@dataclass(frozen=True)
class DenoiserConfig:
    """The learned denoiser of the noisy-photo path (glare_core/model/denoiser.py): a small
    residual U-Net on the pixel-unshuffled image."""

    #: channels at each resolution, from the (half-resolution) top level down
    widths: tuple[int, ...] = (32, 64, 96)
    #: residual blocks at the coarsest level
    middle_blocks: int = 2
    #: negative slope of the leaky ReLUs
    leaky_slope: float = 0.1

    def __post_init__(self) -> None:
        _check_sizes("noisy_path.denoiser", {"widths": self.widths}, MAX_WIDTH)
        _check_sizes("noisy_path.denoiser", {"levels": len(self.widths)}, MAX_LEVELS)
        _check_sizes(
            "noisy_path.denoiser", {"middle_blocks": self.middle_blocks}, MAX_REPEATS, floor=0
        )


@dataclass(frozen=True)
class PathMix:
    """How much of the other path's result a photo's result takes (an ensemble of the two).

    The two paths read a photo differently (non-local means or the learned denoiser) and
    decode it with differently trained fusion decoders; their errors differ, and a share of
    one in the other's result scores better than either alone (MODEL_CARD.md). Each share
    costs a second run of the network.
    """

    #: share of the noisy-photo path's result in the result of a photo on GLARE's path
    into_glare_path: float = 0.0
    #: share of GLARE's path's result in the result of a photo on the noisy-photo path
    into_noisy_path: float = 0.0

    def __post_init__(self) -> None:
        for name in ("into_glare_path", "into_noisy_path"):
            share = getattr(self, name)
            if not 0 <= share < 1:
                raise ConfigError(f"PathMix.{name} must lie in [0, 1), got {share!r}")

    def other_share(self, noisy_path: bool) -> float:
        """The other path's share in the result of a photo that takes ``noisy_path``."""
        return self.into_noisy_path if noisy_path else self.into_glare_path


@dataclass(frozen=True)
class NoisyPathConfig:
    """A second path for photos far noisier than the training pairs (not in the paper).

    Such a photo is cleaned by a learned denoiser before the network, and its result comes
    from a second fusion decoder trained behind that denoiser; the non-local means filter
    stays off there. Other photos take GLARE's path unchanged (MODEL_CARD.md).
    """

    enabled: bool = False
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    #: photos whose noise, measured at viewing brightness (glare_core.denoise.estimate_noise of
    #: glare_core.denoise.as_viewed, 8-bit levels), exceeds this take the path
    noise_threshold: float = 12.0
    #: photos whose camera grain, measured the same way (glare_core.denoise.grain_noise),
    #: exceeds this take the path too; None reads no grain
    grain_threshold: float | None = None
    #: photos whose mean luma as stored (glare_core.exposure.mean_luma) is below this take the
    #: path whatever their noise; None: no such threshold
    dark_threshold: float | None = None
    #: what of the other path's result every result takes (with noise reduction on)
    mix: PathMix = field(default_factory=PathMix)


@dataclass(frozen=True)
class UpsamplingConfig:
    """The guided filter that carries a working-size result to full size.

    See glare_core/guided_upsample.py.
    """

    #: window radius, in working-size pixels, of the local linear fits
    radius: int = 2
    #: ridge regularisation of the fits, relative to the squared mean luma of the photo:
    #: larger keeps less of the input's fine detail (and of its noise)
    eps: float = 0.02


@dataclass(frozen=True)
class InputConfig:
    """How an RGB image becomes the network input (as the official inference does)."""

    pad_multiple: int = 16
    log_input: bool = True
    log_eps: float = 1e-3
    #: mean luma (sRGB) below which an input is re-exposed up to it (None: never; the
    #: official code never does); see glare_core.exposure
    exposure_floor: float | None = None
    #: mean luma above which an input is re-exposed down to it (None: never)
    exposure_ceiling: float | None = None
    #: larger photos are enhanced at this many pixels and guided back up to full size
    #: (None: always at full size, as the official code does)
    max_working_pixels: int | None = None
    #: non-local means strength on the input before the network, in 8-bit levels at viewing
    #: brightness (0: off, as the official code); see glare_core.denoise
    noise_reduction: float = 0.0
    #: a stronger filter on noisier photos (the set strength stays the minimum)
    noise_adaptation: NoiseAdaptation = field(default_factory=NoiseAdaptation)
    upsampling: UpsamplingConfig = field(default_factory=UpsamplingConfig)
    #: photos darkened into the trained range keep their own colour where well exposed
    #: (off by default, as in the official code); see glare_core.well_exposed
    well_exposed: WellExposedColour = field(default_factory=WellExposedColour)

    def __post_init__(self) -> None:
        # a file that passes these would load and then fail on every photo
        if self.pad_multiple < 1:
            raise ConfigError(f"input.pad_multiple must be 1 or more, not {self.pad_multiple}")
        if self.max_working_pixels is not None and self.max_working_pixels < 1:
            raise ConfigError(
                f"input.max_working_pixels must be 1 or more, not {self.max_working_pixels}"
            )
        if self.noise_reduction < 0:
            raise ConfigError(f"input.noise_reduction must not be negative: {self.noise_reduction}")
        if self.log_input and self.log_eps <= 0:  # the log of a black pixel would be -inf
            raise ConfigError(f"input.log_eps must be above 0, not {self.log_eps}")

    @property
    def exposure(self) -> ExposureRange:
        return ExposureRange(self.exposure_floor, self.exposure_ceiling)


@dataclass(frozen=True)
class RetrievalConfig:
    """What the VQGAN decoder reads: the codes retrieved for the flow's latent, or between.

    GLARE replaces each latent vector by its nearest codebook row and decodes that. A small
    codebook quantizes smooth gradients into patches; moving each code part of the way back
    to the flow's latent keeps the codebook's prior and softens the steps.
    """

    #: how far each retrieved code is moved back towards the flow's latent, 0 to 1 (0: the
    #: code itself, as the paper and the official code decode; 1: the latent itself)
    latent_share: float = 0.0

    def __post_init__(self) -> None:
        share = self.latent_share
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise ConfigError(f"retrieval.latent_share must be a number in [0, 1], not {share!r}")


#: what an Enhancer may be asked for: "auto" runs the decoders in reduced precision where the
#: config allows it and the device computes it natively; "float32" never does
PRECISIONS = ("auto", "float32")


@dataclass(frozen=True)
class PrecisionConfig:
    """Number formats at inference (training always runs in float32)."""

    #: run the parts after codebook retrieval (VQGAN and fusion decoders) in bfloat16 on
    #: devices that compute it natively; see glare_core/model/precision.py
    reduced_decoders: bool = False


@dataclass(frozen=True)
class GlareConfig:
    """The whole GLARE network."""

    name: str = "official"
    vqgan: VQGANConfig = field(default_factory=VQGANConfig)
    cond_encoder: CondEncoderConfig = field(default_factory=CondEncoderConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    fusion_decoder: FusionDecoderConfig = field(default_factory=FusionDecoderConfig)
    input: InputConfig = field(default_factory=InputConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    precision: PrecisionConfig = field(default_factory=PrecisionConfig)
    noisy_path: NoisyPathConfig = field(default_factory=NoisyPathConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GlareConfig:
        try:
            return _build_dataclass(cls, data)
        except (ConfigError, TypeError, KeyError, OverflowError) as exc:
            raise ConfigError(f"malformed GLARE config: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> GlareConfig:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"GLARE config is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def _build_dataclass(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a (nested, frozen) config dataclass from ``dataclasses.asdict`` output."""
    if not isinstance(data, dict):
        # a hand-edited file may hold null or a number where a section belongs
        raise TypeError(f"{cls.__name__} needs a section of named values, not {data!r}")
    kwargs = {}
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        if key not in hints:
            raise KeyError(f"unknown field {cls.__name__}.{key}")
        if dataclasses.is_dataclass(hints[key]):
            kwargs[key] = _build_dataclass(hints[key], value)
        else:
            kwargs[key] = checked_value(f"{cls.__name__}.{key}", hints[key], value)
    return cls(**kwargs)


def official_config() -> GlareConfig:
    """The official ``confs/LOL.yml`` architecture (netG 71.7 M parameters)."""
    return GlareConfig(name="official")


#: the compact model's exposure range (mean sRGB luma): the floor lies near the median of
#: the train split's low images (0.058), the ceiling at their 95th percentile (0.136). The
#: model trained on [0.045, 0.14]; raising the floor to 0.06 gains 0.2-0.4 dB on eval
#: darkened x0.5 and x0.25 for 0.04 dB as captured (MODEL_CARD.md)
COMPACT_EXPOSURE = ExposureRange(floor=0.06, ceiling=0.14)
#: the compact model learnt from 600x400 photos: a 4K photo's flat dark walls, seen 6x
#: larger, come back from it with codebook blocks, and at about a megapixel they do not
COMPACT_WORKING_PIXELS = 1_000_000
#: real photos carry grain a few pixels wide that the compact model lifts into speckle; a
#: non-local means filter of this strength makes it finer for 0.02 dB on eval as captured
#: and +0.08 dB on eval darkened x0.5 (MODEL_CARD.md)
COMPACT_NOISE_REDUCTION = 4.0
#: a capture several stops darker, brightened, holds 5-10 times eval's noise (Immerkær's
#: estimate: median 3.6 levels as captured, 20 one stop darker with sensor noise) and is
#: filtered best at 8-16: the strength grows with the noise above 8 levels, so photos of
#: ordinary noise keep the set strength (MODEL_CARD.md)
COMPACT_NOISE_ADAPTATION = NoiseAdaptation(reference_noise=8.0, max_factor=4.0)
#: 512 codes in a three-channel latent quantize a lit wall's gradient into patches of two
#: colours; decoding codes moved half way back to the flow's latent softens them and gains
#: 0.07 dB on eval as captured, 0.02-0.16 dB darker, for 0.08 dB on eval at a tenth of its
#: light. Further back smooths more but greys some saturated scenes (MODEL_CARD.md)
COMPACT_LATENT_SHARE = 0.5
#: the train split's references are white wherever their low image is bright, and the model
#: whitens a dusk photo's lit water and sky the same way; a photo darkened a stop or more
#: into the trained range keeps its own colour where well exposed (one eval pair lies
#: above the range; MODEL_CARD.md)
COMPACT_WELL_EXPOSED = WellExposedColour(full_effect_stops=1.0)
#: eval's low images as captured measure 3.6 levels of noise at viewing brightness (median)
#: and none reaches 12; one stop darker with sensor noise most measure more. Above 12 levels a
#: learned denoiser and a fusion decoder trained behind it gain about a dB two stops darker
#: with noise, and switch no eval or train pair as captured. A camera's grain, a few pixels
#: wide, reads little per pixel: the grainy real photos measure 9.8-12.6 levels of grain, the
#: train split's low images 5 (median; 90th percentile 8), and over 9 levels the path gains
#: 0.6 dB and 0.05 SSIM on eval given such grain, for 0.01 dB as captured. A photo whose mean
#: luma as stored is under 0.0075 (about 2 of 255 levels; no train low image and no real photo
#: is that dark, eval's at a tenth of their exposure mostly are) is mostly quantization steps,
#: which the denoiser learnt to smooth: 0.7 dB on eval at a tenth and 0.55 dB on train.
#: The two paths err differently: a photo on GLARE's path whose result takes 30% of the
#: noisy path's gains 0.08 dB and 0.002 SSIM on eval as captured, 0.14 dB and 0.006 SSIM
#: given a camera's grain, and at most 0.01 dB darker; the reverse mix helps with a darker
#: capture's noise but costs SSIM given grain, so photos on the noisy path take none
COMPACT_NOISY_PATH = NoisyPathConfig(
    enabled=True,
    noise_threshold=12.0,
    grain_threshold=9.0,
    dark_threshold=0.0075,
    mix=PathMix(into_glare_path=0.3),
)


def compact_config() -> GlareConfig:
    """A small GLARE for CPU training and interactive use.

    No attention anywhere (attention is global and quadratic in pixels, which rules
    out tiling and interactive rates); narrow widths with 8 GroupNorm groups. Widths
    were chosen from measurement (``bench/bench_engine.py``). Inputs are re-exposed into
    the mean-luma range the model trains on (see :data:`COMPACT_EXPOSURE`), and photos
    over :data:`COMPACT_WORKING_PIXELS` are enhanced at that size, after a noise filter
    (:data:`COMPACT_NOISE_REDUCTION`); photos it darkens keep their own colour where well
    exposed (:data:`COMPACT_WELL_EXPOSED`); photos far noisier than the training pairs take a
    learned denoiser and a second fusion decoder (:data:`COMPACT_NOISY_PATH`). Its VQGAN
    decoder reads codes moved half way back to the flow's latent
    (:data:`COMPACT_LATENT_SHARE`). Its decoders run in bfloat16 where that is native (the
    official preset stays float32 throughout, for parity with the official code).
    """
    no_attention = AutoencoderConfig(
        channels=16,
        channel_mult=(1, 2, 4),
        num_res_blocks=1,
        attn_resolutions=(),
        mid_attention=False,
        norm_groups=8,
    )
    return GlareConfig(
        name="compact",
        vqgan=VQGANConfig(autoencoder=no_attention, codebook_size=512),
        cond_encoder=CondEncoderConfig(autoencoder=no_attention, cond_channels=32),
        flow=FlowConfig(levels=1, coupling_steps=4, invconv_steps=1, hidden_channels=32),
        fusion_decoder=FusionDecoderConfig(
            autoencoder=no_attention,
            deformable_groups=2,
        ),
        input=InputConfig(
            exposure_floor=COMPACT_EXPOSURE.floor,
            exposure_ceiling=COMPACT_EXPOSURE.ceiling,
            max_working_pixels=COMPACT_WORKING_PIXELS,
            noise_reduction=COMPACT_NOISE_REDUCTION,
            noise_adaptation=COMPACT_NOISE_ADAPTATION,
            well_exposed=COMPACT_WELL_EXPOSED,
        ),
        retrieval=RetrievalConfig(latent_share=COMPACT_LATENT_SHARE),
        precision=PrecisionConfig(reduced_decoders=True),
        noisy_path=COMPACT_NOISY_PATH,
    )


PRESETS = {"official": official_config, "compact": compact_config}
#: config files read as an official GLARE ``.yml``; any other file is ours (JSON)
OFFICIAL_CONFIG_SUFFIXES = frozenset({".yml", ".yaml"})


def preset(name: str) -> GlareConfig:
    """A named preset (``official`` or ``compact``)."""
    try:
        return PRESETS[name]()
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise ConfigError(f"unknown preset {name!r} (known: {known})") from None


def load_config(source: str | Path) -> GlareConfig:
    """A preset name, an official GLARE ``.yml``, or one of our ``.json`` configs."""
    text = str(source)
    if text in PRESETS:
        return preset(text)
    path = Path(source)
    if not path.is_file():
        known = ", ".join(sorted(PRESETS))
        raise ConfigError(f"{text}: neither a preset ({known}) nor a config file")
    if path.suffix.lower() in OFFICIAL_CONFIG_SUFFIXES:
        return config_from_official_yml(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc})") from exc
    try:
        return GlareConfig.from_json(text)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _whole(value: Any) -> int:
    """An official config's count, refused unless a whole number (``K: 2.7`` was taken as 2,
    ``K: true`` as 1)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a whole number")
    number = int(value)
    if number != value:
        raise ValueError(f"{value!r} is not a whole number")
    return number


def _autoencoder_from_official(
    section: dict[str, Any], base: AutoencoderConfig
) -> AutoencoderConfig:
    return dataclasses.replace(
        base,
        channels=_whole(section.get("ch", base.channels)),
        channel_mult=tuple(section.get("ch_mult", base.channel_mult)),
        num_res_blocks=_whole(section.get("num_res_blocks", base.num_res_blocks)),
        attn_resolutions=tuple(section.get("attn_resolutions", base.attn_resolutions)),
        resolution=_whole(section.get("resolution", base.resolution)),
    )


def config_from_official_yml(path: str | Path) -> GlareConfig:
    """Read an official GLARE ``.yml`` (e.g. ``confs/LOL.yml``) into a :class:`GlareConfig`.

    Only architecture keys are read. ``embed_dim`` is ignored, as the official code
    never passes it (the class default 3 applies). The conditional encoder's and the
    fusion decoder's widths are hard-coded in the official code; the parity fixture's
    non-official ``fixture_overrides`` section sets them.
    """
    import yaml

    try:
        opt = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not an official GLARE config ({exc})") from exc
    try:
        network_g = opt["network_G"]
        flow_opt = network_g["flow"]
        vq_opt = opt["network_VQGAN"]
        if not (isinstance(flow_opt, dict) and isinstance(vq_opt, dict)):
            raise TypeError("a section of another shape")
    except (KeyError, TypeError) as exc:  # TypeError: a file of some other shape
        raise ConfigError(
            f"{path}: not an official GLARE config (it needs network_G with its flow, "
            "and network_VQGAN)"
        ) from exc
    if flow_opt.get("coupling") != "CondAffineSeparatedAndCond":
        raise ConfigError(f"{path}: unsupported flow coupling {flow_opt.get('coupling')!r}")
    if (flow_opt.get("split") or {}).get("enable"):
        raise ConfigError(f"{path}: flow splits are not supported by GLARE")

    try:
        return _config_from_official_options(opt, flow_opt, vq_opt, name=Path(path).stem)
    except KeyError as exc:
        raise ConfigError(f"{path}: not an official GLARE config (no {exc} in it)") from exc
    except (TypeError, ValueError, AttributeError) as exc:  # a section or number of another shape
        raise ConfigError(f"{path}: not an official GLARE config ({exc})") from exc
    except ConfigError as exc:  # numbers no network is built of
        raise ConfigError(f"{path}: {exc}") from exc


def _config_from_official_options(
    opt: dict[str, Any], flow_opt: dict[str, Any], vq_opt: dict[str, Any], name: str
) -> GlareConfig:
    """The architecture an official ``.yml``'s options describe; absent optional keys take
    the official preset's values."""
    official = official_config()
    overrides = opt.get("fixture_overrides") or {}
    coupling_opt = flow_opt.get("CondAffineSeparatedAndCond") or {}
    train_data = (opt.get("datasets") or {}).get("train") or {}
    vq_auto = dataclasses.replace(
        _autoencoder_from_official(vq_opt, official.vqgan.autoencoder),
        z_channels=_whole(vq_opt.get("z_channels", official.vqgan.autoencoder.z_channels)),
    )
    return GlareConfig(
        name=name,
        vqgan=VQGANConfig(autoencoder=vq_auto, codebook_size=_whole(vq_opt["n_embed"])),
        cond_encoder=CondEncoderConfig(
            autoencoder=_autoencoder_from_official(
                overrides.get("cond_encoder", {}), official.cond_encoder.autoencoder
            ),
            cond_channels=_whole(
                flow_opt.get("conditionInFeaDim", official.cond_encoder.cond_channels)
            ),
        ),
        flow=FlowConfig(
            levels=_whole(flow_opt["L"]),
            coupling_steps=_whole(flow_opt["K"]),
            # the official flow adds no such steps when the key is absent
            invconv_steps=_whole(flow_opt.get("additionalFlowNoAffine", 0)),
            hidden_channels=_whole(
                coupling_opt.get("hidden_channels", official.flow.hidden_channels)
            ),
            affine_eps=float(coupling_opt.get("eps", official.flow.affine_eps)),
        ),
        fusion_decoder=FusionDecoderConfig(
            autoencoder=_autoencoder_from_official(
                overrides.get("deformable_decoder", {}), official.fusion_decoder.autoencoder
            ),
        ),
        # the official code reads the log-domain input switch from the training data options
        input=InputConfig(log_input=bool(train_data.get("log_low", False))),
    )
