"""Everything the desktop app knows and does, without Qt.

:class:`Session` holds the open photo, the cached network features the sliders
render from, the controls and the last full-resolution result; every method is a
plain blocking call that a test (or the app's worker thread) drives directly.
The app's worker thread runs these calls from :mod:`glare_core.work_queue`.

Three render sizes keep the sliders live:

* *drag* — while a slider moves: features prepared once per photo at about 0.3 MP
  (smaller when the view is small or the machine is slow, see :class:`PreviewPolicy`),
  the fusion tail rendered as a draft at half that size.
* *screen* — when the slider is released: what the export runs the network on (the photo,
  at most at the working size), rendered and brought to the view's size as the export brings
  it to full size.
* *full* — the full-resolution result that is saved and exported: the screen preview's
  render brought to full size, where the export runs the photo in one piece.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cached_property
from pathlib import Path

import numpy as np

from glare_core.atomic import make_folder
from glare_core.batch import (
    BatchOptions,
    BatchProgress,
    BatchSummary,
    BatchUsageError,
    EnhanceFn,
    collected_notes,
    plan_batch,
    run_batch,
)
from glare_core.config import COMPACT_NOISE_REDUCTION
from glare_core.eight_bit import to_uint8
from glare_core.engine import Enhancer, PreparedImage, render_key
from glare_core.errors import GlareError, ImageWriteError, WeightsError
from glare_core.exposure import adjust_exposure
from glare_core.guided_upsample import resize_rgb
from glare_core.imageio import LoadedImage, read_image, write_image
from glare_core.imageio import logger as image_io_logger
from glare_core.limits import (
    CONTROL_DECIMALS,
    DEFAULT_QUALITY,
    MAX_SEED,
    MAX_TEMPERATURE,
    TRAINED_STRENGTH,
)
from glare_core.log import collected_warnings
from glare_core.memory import gives_memory_back
from glare_core.photo_colour import photo_chromaticity, with_photo_colour
from glare_core.progress import CancelToken, ProgressFn, check, part_of, report
from glare_core.resources import bundled_weights_path
from glare_core.screen_colour import ScreenColour

logger = logging.getLogger(__name__)

#: a size as (width, height) in pixels
Size = tuple[int, int]

#: temperature used for seed variants when the current temperature is 0 (seeds would
#: all give the same picture there)
DEFAULT_VARIANT_TEMPERATURE = 0.6
#: the view's size until the window reports its own
DEFAULT_VIEW_SIZE: Size = (1280, 800)
#: the share of opening a photo that reading its file takes, on the progress bar
READ_SHARE_OF_OPEN = 0.3
#: weight of the newest measurement in the running render-cost estimate
COST_SMOOTHING = 0.5
#: re-prepare the drag features when the wanted size exceeds the cached one by more
#: (a re-prepare stalls one step, so the preview grows only for a clear gain)
DRAG_GROW_TOLERANCE = 0.25
#: ... or falls short of it by more: a preview this much too slow misses every step's target
DRAG_SHRINK_TOLERANCE = 0.08
#: share of a screen preview's progress bar for preparing the photo's features (a 4K photo:
#: 2.2 s of 7.5 on two cores); rendering and bringing it to the view take the rest
SCREEN_PREPARE_SHARE = 0.3


@dataclass(frozen=True)
class Controls:
    """What the sliders say: the engine's strength, temperature, seed, noise reduction,
    exposure and photo colour."""

    strength: float = TRAINED_STRENGTH
    temperature: float = 0.0
    seed: int = 0
    #: the filter on the photo before the network (glare_core/denoise.py)
    noise_reduction: float = COMPACT_NOISE_REDUCTION
    #: the result re-exposed by this many stops (glare_core.exposure.adjust_exposure)
    exposure: float = 0.0
    #: the share of the photo's own colour in the result (glare_core/photo_colour.py)
    photo_colour: float = 0.0

    def network_key(self) -> Controls:
        """The controls the network's result depends on: the seed is ignored at temperature
        0, and the exposure and photo colour apply to the result afterwards."""
        _, seed = render_key(self.temperature, self.seed)
        return replace(self, seed=seed, exposure=0.0, photo_colour=0.0)

    def finish(self, rgb: np.ndarray, chromaticity: Callable[[], np.ndarray]) -> np.ndarray:
        """``rgb`` as the network made it, given the photo colour (``chromaticity`` of the
        photo at its size, asked for only when needed) and then the exposure."""
        return adjust_exposure(
            with_photo_colour(rgb, self.photo_colour, chromaticity), self.exposure
        )


class VariantAxis(StrEnum):
    SEED = "seed"
    TEMPERATURE = "temperature"


def variant_controls(base: Controls, axis: VariantAxis, count: int) -> list[Controls]:
    """``count`` controls around ``base`` that differ along ``axis``."""
    if axis is VariantAxis.SEED:
        temperature = base.temperature or DEFAULT_VARIANT_TEMPERATURE
        # the seeds after the current one, wrapping round past the largest
        seeds = [(base.seed + i) % (MAX_SEED + 1) for i in range(count)]
        return [replace(base, temperature=temperature, seed=seed) for seed in seeds]
    steps = np.linspace(0.0, MAX_TEMPERATURE, count)
    # rounded as the slider shows them: the picked one is rendered and saved as shown
    return [replace(base, temperature=round(float(t), CONTROL_DECIMALS)) for t in steps]


def fit_box(size: Size, box: Size) -> Size:
    """``size`` shrunk (never enlarged) to fit inside ``box``, aspect kept."""
    width, height = size
    scale = min(1.0, box[0] / width, box[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


class RenderKind(StrEnum):
    """What a render re-runs: only the fusion tail, or the flow sample and all after it."""

    STRENGTH = "strength"
    SAMPLE = "sample"


@dataclass(frozen=True)
class PreviewPolicy:
    """How big the drag preview is: about 0.3 MP, less for small views or slow machines."""

    max_drag_pixels: int = 300_000
    min_drag_pixels: int = 20_000
    #: time one slider step may take
    target_step_seconds: float = 0.1
    #: the fusion tail runs 2**drag_draft times smaller while dragging (Enhancer.render)
    drag_draft: int = 1

    def drag_pixels(self, view: Size, seconds_per_pixel: float | None) -> int:
        budget = min(self.max_drag_pixels, view[0] * view[1])
        if seconds_per_pixel:
            budget = min(budget, int(self.target_step_seconds / seconds_per_pixel))
        return max(self.min_drag_pixels, budget)


@dataclass
class _PhotoAt:
    """The photo downscaled to one size."""

    size: Size
    #: the photo at this size
    photo: np.ndarray

    @cached_property
    def chromaticity(self) -> np.ndarray:
        """The photo's chromaticity at this size, measured when a photo colour first asks."""
        return photo_chromaticity(self.photo)


@dataclass
class _PreparedAt(_PhotoAt):
    """Features prepared for one downscaled copy of the photo."""

    noise_reduction: float
    prepared: PreparedImage


@dataclass
class _Unexposed:
    """A preview as the network rendered it, before exposure and photo colour: a change of
    those alone finishes it again instead of running the fusion tail again."""

    features: _PreparedAt
    key: Controls  #: :meth:`Controls.network_key`
    #: the render at the features' size
    network_rgb: np.ndarray
    #: the photo a render of the screen features was finished onto (Enhancer.finish), and
    #: that result (None: the render is shown as it is)
    shown: _PhotoAt | None = None
    shown_rgb: np.ndarray | None = None

    @property
    def rgb(self) -> np.ndarray:
        return self.network_rgb if self.shown_rgb is None else self.shown_rgb


#: the session's attributes that belong to the open photo
_PHOTO_STATE = (
    "photo",
    "screen_colour",
    "_drag",
    "_screen",
    "_shown",
    "_full",
    "_unexposed",
    "_noisy_path",
    "_chromaticity",
)


@dataclass(frozen=True)
class OpenedPhoto:
    """What the view needs after a photo opens."""

    path: Path | None
    size: Size
    bit_depth: int
    original: np.ndarray  # uint8 RGB, full resolution
    drag_preview: np.ndarray | None  # uint8 RGB at the drag size (None without a model)
    #: the photo takes the noisy-photo path at the controls it opened with
    noisy_path: bool = False


def is_photo_file(path: str | Path, photo_file: str | Path | None) -> bool:
    """Whether ``path`` names ``photo_file`` (None: a photo that came from no file)."""
    return photo_file is not None and Path(path).resolve() == Path(photo_file).resolve()


class NoPhotoError(GlareError):
    """A render was asked for before any photo was opened."""


class Session:
    """The open photo, its cached features, the controls and the latest results."""

    def __init__(
        self, enhancer: Enhancer | None = None, policy: PreviewPolicy | None = None
    ) -> None:
        self.enhancer = enhancer
        self.policy = policy or PreviewPolicy()
        #: the sliders' state, owned by the GUI thread; jobs get frozen copies
        self.controls = Controls()
        self.view_size: Size = DEFAULT_VIEW_SIZE
        self.photo: LoadedImage | None = None
        #: the open photo's colour profile applied for an sRGB screen
        self.screen_colour = ScreenColour(None, grey=False)
        self._drag: _PreparedAt | None = None
        self._screen: _PreparedAt | None = None
        #: the photo at the view's size, which the screen preview is finished onto
        self._shown: _PhotoAt | None = None
        self._full: tuple[Controls, np.ndarray] | None = None
        #: noise reduction -> whether the photo takes the noisy-photo path at that setting
        self._noisy_path: dict[float, bool] = {}
        #: the photo's chromaticity at full size, once a full result asked for it
        self._chromaticity: np.ndarray | None = None
        #: the last preview rendered at each draft level (the drag's and the screen's)
        self._unexposed: dict[int, _Unexposed] = {}
        #: measured drag-render cost per pixel, apart for renders that re-run only the
        #: fusion tail (strength moved) and those that sample the flow again: the first are
        #: many times cheaper, and one shared estimate would swing between the two
        self.seconds_per_pixel: dict[RenderKind, float] = {}
        self.last_render_seconds: float | None = None

    # -- model and photo --------------------------------------------------------------
    def set_enhancer(self, enhancer: Enhancer) -> None:
        self.enhancer = enhancer
        self._forget_results()

    def _forget_results(self) -> None:
        # new containers, not cleared ones: a cancelled open puts the old ones back
        self._drag = self._screen = self._shown = self._full = None
        self._unexposed = {}
        self._noisy_path = {}
        self._chromaticity = None

    def _photo_state(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in _PHOTO_STATE}

    @gives_memory_back
    def open(
        self,
        path: str | Path,
        controls: Controls,
        *,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> OpenedPhoto:
        """Read a photo, make it the current one and render its first drag preview."""
        report(progress, 0.0, "reading")
        photo = read_image(path)
        check(cancel)
        # the open photo stays current until the new one is ready: a cancelled or failed
        # open leaves the session on the photo the view still shows
        previous = self._photo_state()
        self.photo = photo
        self.screen_colour = ScreenColour(
            photo.icc_profile, grey=photo.is_grey, name=Path(path).name
        )
        self._forget_results()
        drag_preview = None
        noisy_path = False
        try:
            if self.enhancer is not None:
                report(progress, READ_SHARE_OF_OPEN, "preparing")
                drag_preview = self.to_screen(self.drag_preview(controls, cancel=cancel))
                noisy_path = self._takes_noisy_path(controls.noise_reduction)
        except BaseException:
            for name, value in previous.items():
                setattr(self, name, value)
            raise
        report(progress, 1.0, "ready")
        height, width = photo.rgb.shape[:2]
        return OpenedPhoto(
            photo.path,
            (width, height),
            photo.bit_depth,
            self.to_screen(photo.rgb),
            drag_preview,
            noisy_path,
        )

    def to_screen(self, rgb: np.ndarray) -> np.ndarray:
        """A picture of the open photo (float RGB in [0, 1], in the photo's colour profile)
        as contiguous uint8 sRGB for the screen."""
        return self.screen_colour(to_uint8(rgb))

    def _require(self) -> tuple[LoadedImage, Enhancer]:
        if self.photo is None:
            raise NoPhotoError("no photo is open")
        if self.enhancer is None:
            raise WeightsError("no model is loaded: use File > Load weights…")
        return self.photo, self.enhancer

    @property
    def photo_size(self) -> Size:
        photo, _ = self._require()
        return photo.rgb.shape[1], photo.rgb.shape[0]

    # -- preparing features -----------------------------------------------------------
    def _prepare(
        self, size: Size, noise_reduction: float, cancel: CancelToken | None
    ) -> _PreparedAt:
        photo, enhancer = self._require()
        small = resize_rgb(photo.rgb, size)
        prepared = enhancer.prepare(
            small,
            noise_reduction=noise_reduction,
            noisy_path=self._takes_noisy_path(noise_reduction),
            sample_grid=enhancer.sample_grid(*self.photo_size),
            cancel=cancel,
        )
        return _PreparedAt(size, small, noise_reduction, prepared)

    def _full_chromaticity(self) -> np.ndarray:
        photo, _ = self._require()
        if self._chromaticity is None:
            self._chromaticity = photo_chromaticity(photo.rgb)
        return self._chromaticity

    def _takes_noisy_path(self, noise_reduction: float) -> bool:
        """Whether the full result takes the noisy-photo path: the previews must too, though
        downscaled they show less of the photo's noise."""
        photo, enhancer = self._require()
        if noise_reduction not in self._noisy_path:
            noisy = enhancer.takes_noisy_path(photo.rgb, noise_reduction)
            self._noisy_path[noise_reduction] = noisy
        return self._noisy_path[noise_reduction]

    def drag_size(self, kind: RenderKind | None = None) -> Size:
        """The drag preview's size for a render of ``kind`` (default: a strength change)."""
        _, enhancer = self._require()
        cost = self.seconds_per_pixel.get(kind or RenderKind.STRENGTH)
        wanted = self.policy.drag_pixels(self.view_size, cost)
        return enhancer.fitted_size(*self.photo_size, wanted)

    @property
    def drag_features_size(self) -> Size | None:
        """The size the drag preview was last rendered at (None before the first)."""
        return None if self._drag is None else self._drag.size

    def _render_kind(self, features: _PreparedAt | None, controls: Controls) -> RenderKind:
        if features is not None and features.prepared.has_sample(
            controls.temperature, controls.seed
        ):
            return RenderKind.STRENGTH
        return RenderKind.SAMPLE

    def _drag_features(
        self, controls: Controls, cancel: CancelToken | None, kind: RenderKind | None = None
    ) -> _PreparedAt:
        wanted = self.drag_size(kind)
        cached = self._drag
        if (
            cached is None
            or cached.noise_reduction != controls.noise_reduction
            or _needs_resize(cached.size, wanted)
        ):
            self._drag = cached = self._prepare(wanted, controls.noise_reduction, cancel)
            logger.info("drag preview features at %dx%d", *wanted)
        return cached

    def _shown_size(self) -> Size:
        """The size the screen preview is shown at: the photo fitted into the view."""
        return fit_box(self.photo_size, self.view_size)

    def _screen_features(
        self, controls: Controls, progress: ProgressFn | None, cancel: CancelToken | None
    ) -> _PreparedAt:
        """Features of what the export runs the network on: the screen preview is their render
        brought to the view as the export brings it to full size, and the export then needs
        no run of its own. (Run at the view's size, a preview was another picture: 6.9 levels
        from the export on average on a view of a third of its network image, and a 4K photo
        on a 2560x1440 view took 24 s and 5.4 GB where its export took 6 s.)"""
        photo, enhancer = self._require()
        cached = self._screen
        if cached is None or cached.noise_reduction != controls.noise_reduction:
            prepared = enhancer.prepare_export(
                photo.rgb,
                noise_reduction=controls.noise_reduction,
                progress=progress,
                cancel=cancel,
            )
            size = enhancer.working_size(*self.photo_size) or self.photo_size
            small = resize_rgb(photo.rgb, size)
            self._screen = _PreparedAt(size, small, controls.noise_reduction, prepared)
        return self._screen

    # -- rendering --------------------------------------------------------------------
    def _shown_photo(self) -> _PhotoAt:
        """The photo at the screen preview's size, for the screen features' renders to be
        finished onto."""
        photo, _ = self._require()
        size = self._shown_size()
        if self._shown is None or self._shown.size != size:
            self._shown = _PhotoAt(size, resize_rgb(photo.rgb, size))
        return self._shown

    def _render(
        self,
        features: _PreparedAt,
        controls: Controls,
        cancel: CancelToken | None,
        draft: int = 0,
        shown: _PhotoAt | None = None,
        progress: ProgressFn | None = None,
    ) -> tuple[np.ndarray, bool]:
        """The result for ``controls`` from ``features`` (finished onto ``shown``, if given),
        and whether the network ran: a change of exposure or photo colour alone finishes
        this draft level's last render again, and a new view size only brings it there."""
        _, enhancer = self._require()
        key = controls.network_key()
        last = self._unexposed.get(draft)
        rendered = last is None or last.features is not features or last.key != key
        started = time.perf_counter()
        if rendered:
            network_rgb = enhancer.render(
                features.prepared,
                key.strength,
                key.temperature,
                key.seed,
                draft=draft,
                progress=progress,
                cancel=cancel,
            )
            last = _Unexposed(features, key, network_rgb)
        if shown is not last.shown:
            shown_rgb = (
                None
                if shown is None
                else enhancer.finish(last.network_rgb, shown.photo, features.photo)
            )
            last = replace(last, shown=shown, shown_rgb=shown_rgb)
        if last is not self._unexposed.get(draft):
            self.last_render_seconds = time.perf_counter() - started
            self._unexposed[draft] = last
        at_size = shown or features
        return controls.finish(last.rgb, lambda: at_size.chromaticity), rendered

    def drag_preview(self, controls: Controls, *, cancel: CancelToken | None = None) -> np.ndarray:
        """The result for ``controls`` at the drag size, from cached features."""
        last = self._unexposed.get(self.policy.drag_draft)
        if last is not None and last.features is self._drag and last.key == controls.network_key():
            # only the exposure or the photo colour moved: the last render, finished again
            # (sized for a strength step, the features would be prepared and rendered anew)
            features = last.features
        else:
            features = self._drag_features(
                controls, cancel, self._render_kind(self._drag, controls)
            )
        kind = self._render_kind(features, controls)  # features may have just been prepared
        rgb, rendered = self._render(features, controls, cancel, draft=self.policy.drag_draft)
        if rendered:  # a re-exposure costs nothing the drag size should learn from
            self._record_cost(kind, features.size, self.last_render_seconds or 0.0)
        return rgb

    def _record_cost(self, kind: RenderKind, size: Size, seconds: float) -> None:
        measured = seconds / (size[0] * size[1])
        previous = self.seconds_per_pixel.get(kind)
        self.seconds_per_pixel[kind] = (
            measured
            if previous is None
            else COST_SMOOTHING * measured + (1 - COST_SMOOTHING) * previous
        )

    @gives_memory_back
    def screen_preview(
        self,
        controls: Controls,
        *,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> np.ndarray:
        """The result for ``controls`` at the view's size."""
        preparing = part_of(progress, 0.0, SCREEN_PREPARE_SHARE)
        features = self._screen_features(controls, preparing, cancel)
        rendering = part_of(progress, SCREEN_PREPARE_SHARE, 1.0)
        shown = self._shown_photo()
        rgb = self._render(features, controls, cancel, shown=shown, progress=rendering)[0]
        report(progress, 1.0, "done")
        return rgb

    @gives_memory_back
    def full_result(
        self,
        controls: Controls,
        *,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> np.ndarray:
        """The full-resolution result for ``controls``; the network's part is cached for the
        last controls, so a change of exposure or photo colour alone does not run it again."""
        photo, enhancer = self._require()
        key = controls.network_key()
        check(cancel)  # a result found ready ends cancelled too, as a superseded one must
        if self._full is None or self._full[0] != key:
            started = time.perf_counter()
            rgb = self._preview_at_full_size(key)
            if rgb is None:
                rgb = enhance_fn(enhancer, key)(photo.rgb, progress, cancel)
            self.last_render_seconds = time.perf_counter() - started
            self._full = (key, rgb)
        report(progress, 1.0, "done")
        return controls.finish(self._full[1], self._full_chromaticity)

    def _preview_at_full_size(self, key: Controls) -> np.ndarray | None:
        """The full result from the last screen preview's render for the network controls
        ``key``, where that was made as the export runs the network, in one piece: bit for
        bit what enhancing the photo gives, without a second run (5.8 s for a 4K photo)."""
        photo, enhancer = self._require()
        last = self._unexposed.get(0)
        if last is None or last.key != key or last.features is not self._screen:
            return None
        if not enhancer.enhances_in_one_piece(*self.photo_size):
            return None
        if last.shown is not None and last.shown.size == self.photo_size:
            return last.rgb
        return enhancer.finish(last.network_rgb, photo.rgb)

    def variants(
        self, base: Controls, axis: VariantAxis, count: int, *, cancel: CancelToken | None = None
    ) -> Iterator[tuple[Controls, np.ndarray]]:
        """``count`` drag-size results that differ in seed or temperature, each as soon as it
        is rendered (so that a caller can report progress between them)."""
        # one size for the set, compared side by side: the drag size follows each render's cost
        features = self._drag_features(base, cancel)
        for controls in variant_controls(base, axis, count):
            yield controls, self._render(features, controls, cancel, self.policy.drag_draft)[0]

    # -- saving -----------------------------------------------------------------------
    def is_source(self, path: str | Path) -> bool:
        """Whether ``path`` is the open photo's own file."""
        return is_photo_file(path, self.photo.path if self.photo is not None else None)

    @gives_memory_back
    def save(
        self,
        path: str | Path,
        controls: Controls,
        *,
        image_format: str | None = None,
        quality: int = DEFAULT_QUALITY,
        replace_source: bool = False,
        shown_photo: str | Path | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> Exported:
        """Write the full-resolution result with the source's metadata and bit depth.

        ``shown_photo``: the file of the photo the user exported from; a
        :class:`NoPhotoError` if another photo has opened since (a queued export must not
        write that one's result under the first one's name, or over its original).
        """
        photo, _ = self._require()
        if shown_photo is not None and not self.is_source(shown_photo):
            raise NoPhotoError(
                f"{Path(shown_photo).name} is no longer the open photo: nothing was exported"
            )
        if self.is_source(path) and not replace_source:
            raise ImageWriteError(f"refusing to overwrite the original {Path(path).name}")
        rgb = self.full_result(controls, progress=progress, cancel=cancel)
        check(cancel)
        report(progress, 1.0, "writing")
        # the writer refuses to replace its source; the user confirmed it, so detach the path
        metadata = replace(photo, path=None) if replace_source else photo
        make_folder(Path(path).parent, ImageWriteError)
        with collected_warnings(image_io_logger.name) as warnings:
            write_image(path, rgb, source=metadata, format=image_format, quality=quality)
        # each warning names the photo's file, which the user knows by its name
        notes = tuple(_by_name(warning, photo.path) for warning in warnings)
        return Exported(Path(path), notes)


@dataclass(frozen=True)
class Exported:
    """A written result, and what writing it left out (a JPEG has no room for an EXIF or
    XMP over 64 KB), for the user to be told."""

    path: Path
    notes: tuple[str, ...] = ()


def _by_name(message: str, path: Path | None) -> str:
    """``message`` without ``path`` in front, and with its file's name where it names it."""
    if path is None:
        return message
    return message.removeprefix(f"{path}: ").replace(str(path), path.name)


def _needs_resize(cached: Size, wanted: Size) -> bool:
    change = (wanted[0] * wanted[1]) / (cached[0] * cached[1]) - 1.0
    return change > DRAG_GROW_TOLERANCE or change < -DRAG_SHRINK_TOLERANCE


# -- model loading --------------------------------------------------------------------
@dataclass(frozen=True)
class ModelChoice:
    """Which weights to run and where (what Settings and 'Load weights…' decide)."""

    weights: tuple[str, ...] = ()
    config: str | None = None
    device: str = "auto"
    threads: int | None = None
    tile_size: int | None = None


def load_enhancer(choice: ModelChoice) -> Enhancer:
    """The one way the app builds its model: chosen weights, else the bundled ones."""
    if not choice.weights and not bundled_weights_path().is_file():
        raise WeightsError(
            f"the bundled weights are missing ({bundled_weights_path()}): "
            "use File > Load weights… to choose a GLARE checkpoint"
        )
    return Enhancer.load(
        choice.weights, choice.config, choice.device, choice.tile_size, threads=choice.threads
    )


# -- batch ----------------------------------------------------------------------------
def enhance_fn(enhancer: Enhancer, controls: Controls) -> EnhanceFn:
    """The batch engine's enhance callback for fixed controls."""

    def enhance(
        rgb: np.ndarray, progress: ProgressFn | None, cancel: CancelToken | None
    ) -> np.ndarray:
        return enhancer.enhance(
            rgb,
            controls.strength,
            controls.temperature,
            controls.seed,
            noise_reduction=controls.noise_reduction,
            exposure=controls.exposure,
            photo_colour=controls.photo_colour,
            progress=progress,
            cancel=cancel,
        )

    return enhance


@dataclass(frozen=True)
class BatchRequest:
    inputs: tuple[Path, ...]
    output: Path
    options: BatchOptions
    controls: Controls


def run_batch_request(
    enhancer: Enhancer,
    request: BatchRequest,
    *,
    progress: Callable[[BatchProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> BatchSummary:
    """Plan and run a batch with the same engine as the CLI."""
    with collected_notes() as notes:
        items = plan_batch(list(request.inputs), request.output, request.options)
    if not items:
        names = ", ".join(str(path) for path in request.inputs)
        raise BatchUsageError(f"no images found in {names}")
    return run_batch(
        items,
        enhance_fn(enhancer, request.controls),
        request.options,
        progress=progress,
        cancel=cancel,
        notes=notes,
    )
