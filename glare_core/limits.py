"""The ranges of the network's controls (strength, temperature, seed), of the tile size and
of the export quality, and their checks.

Torch-free, so that the command line checks its arguments before it loads a model, and the
app's controls span exactly what the library accepts. The other controls' ranges live with
what they control: exposure in :mod:`glare_core.exposure`, noise reduction in
:mod:`glare_core.denoise`, photo colour in :mod:`glare_core.photo_colour`.
"""

from __future__ import annotations

#: the Adaptive Mix-up Blocks' mix: 0 the generated features alone, 1 as trained, 2 the
#: photo's own features alone (glare_core/model/amb.py)
MIN_STRENGTH = 0.0
TRAINED_STRENGTH = 1.0
MAX_STRENGTH = 2.0
#: the flow's base is N(0, I): T = 1 samples it as trained. Beyond it the flow's inverse is
#: asked for latents it never saw, and its coupling's division by a scale near zero makes
#: them explode: the bundled sample moved 17 levels of 255 at T = 1.2 and went near-black
#: at 1.4 (2026-12-04), where T = 1 moves it 4.5
MAX_TEMPERATURE = 1.0
#: decimals of the app's sliders: what the app renders, and the variants it offers, take
#: values of this precision, so that a saved file holds what was on screen
CONTROL_DECIMALS = 2
#: seeds of the sampling noise (torch's generator takes 64 bits; 31 fit every UI's spin box)
MAX_SEED = 2**31 - 1
#: tiles smaller than this spend most of each window on its context (64 px a side), and the
#: out-of-memory fallback halves tiles down to it
MIN_TILE_SIZE = 256
#: the largest tile offered: at this side one window's activations already take gigabytes,
#: and larger tiles gain nothing in quality (tiles join without seams)
MAX_TILE_SIZE = 4096
#: JPEG and WebP quality: the encoders' range, and a default that keeps fine detail (from 90
#: on, JPEG results keep full-resolution chroma: glare_core.imageio)
QUALITY_RANGE = (1, 100)
DEFAULT_QUALITY = 95


def check_range(name: str, value: float, low: float, high: float) -> float:
    """``value``, or a ValueError naming ``name`` when it lies outside [low, high]."""
    if not low <= value <= high:  # NaN fails too
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}], got {value}")
    return value


def check_strength(strength: float) -> float:
    return float(check_range("strength", strength, MIN_STRENGTH, MAX_STRENGTH))


def check_temperature(temperature: float) -> float:
    return float(check_range("temperature", temperature, 0.0, MAX_TEMPERATURE))


def _checked_whole(name: str, value: float, low: int, high: int) -> int:
    """``value`` as an int: a whole number in [low, high] (a float such as 3.0 counts)."""
    # an int first: float() of a 400-digit one overflows (a damaged settings file)
    if isinstance(value, bool) or not (isinstance(value, int) or float(value).is_integer()):
        raise ValueError(f"{name} must be a whole number, got {value}")
    if not low <= value <= high:
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value}")
    return int(value)


def check_seed(seed: float) -> int:
    return _checked_whole("seed", seed, 0, MAX_SEED)


#: most halvings a draft render may apply: padded sizes are multiples of 16, so the
#: half-resolution features of the tail stay whole pixels down to 1/4
MAX_DRAFT = 2


def check_draft(draft: float) -> int:
    return _checked_whole("draft", draft, 0, MAX_DRAFT)


def check_tile_size(tile_size: float) -> int:
    return _checked_whole("tile size", tile_size, MIN_TILE_SIZE, MAX_TILE_SIZE)
