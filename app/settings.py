"""Persistent user settings: one JSON file in the platform's config folder (no Qt here)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir

from glare_core.atomic import atomic_write_bytes
from glare_core.batch import DEFAULT_SUFFIX, BatchUsageError, check_suffix
from glare_core.denoise import check_noise_reduction
from glare_core.device import DEVICE_NAMES
from glare_core.exposure import check_exposure_stops
from glare_core.imageio import WRITE_FORMATS
from glare_core.limits import (
    DEFAULT_QUALITY,
    MAX_TILE_SIZE,
    MIN_TILE_SIZE,
    QUALITY_RANGE,
    check_seed,
    check_strength,
    check_temperature,
)
from glare_core.photo_colour import check_photo_colour
from glare_core.session import Controls, ModelChoice

logger = logging.getLogger(__name__)

APP_NAME = "glare-studio"
#: overrides the settings folder (tests, portable installs)
CONFIG_DIR_ENV = "GLARE_STUDIO_CONFIG_DIR"
SETTINGS_FILE = "settings.json"
MAX_RECENT_FILES = 10
DEVICES = DEVICE_NAMES  #: Apple's MPS too: "auto" picks it on a Mac
#: the export format that keeps each source's own (or the nearest writable one)
SAME_FORMAT = "same"
EXPORT_FORMATS = (SAME_FORMAT, *(name.lower() for name in WRITE_FORMATS))
MAX_THREADS = 256
#: the tile size setting that leaves it to the network (smaller for networks with attention)
AUTOMATIC_TILE_SIZE = 0
#: what a settings file says it holds: version 1 (no number) saved every tile size, its
#: default (1024 px) too, as chosen, before "automatic" existed
SETTINGS_VERSION = 2
_VERSION_1_DEFAULT_TILE_SIZE = 1024
_DEFAULT_CONTROLS = Controls()
_CONTROL_NAMES = tuple(control.name for control in dataclasses.fields(Controls))


@dataclass
class Settings:
    version: int = SETTINGS_VERSION
    device: str = "auto"
    threads: int = 0  # 0: let torch decide
    tile_size: int = AUTOMATIC_TILE_SIZE
    default_format: str = SAME_FORMAT
    jpeg_quality: int = DEFAULT_QUALITY
    weights: list[str] = field(default_factory=list)
    weights_config: str | None = None
    last_open_dir: str = ""
    last_save_dir: str = ""
    last_batch_input: str = ""
    last_batch_output: str = ""
    batch_suffix: str = DEFAULT_SUFFIX
    recent_files: list[str] = field(default_factory=list)
    geometry: str = ""  # base64 of QWidget.saveGeometry()
    # the controls, flat in the file as its first versions wrote them (Controls' fields)
    strength: float = _DEFAULT_CONTROLS.strength
    temperature: float = _DEFAULT_CONTROLS.temperature
    seed: int = _DEFAULT_CONTROLS.seed
    noise_reduction: float = _DEFAULT_CONTROLS.noise_reduction
    exposure: float = _DEFAULT_CONTROLS.exposure
    photo_colour: float = _DEFAULT_CONTROLS.photo_colour
    #: why the file these settings came from must be left as it is (a newer version's, or
    #: one that could not be read): then they are not saved; not itself saved
    left_as_is: str = ""

    @property
    def controls(self) -> Controls:
        return Controls(**{name: getattr(self, name) for name in _CONTROL_NAMES})

    def remember_controls(self, controls: Controls) -> None:
        for name in _CONTROL_NAMES:
            setattr(self, name, getattr(controls, name))

    @property
    def model_choice(self) -> ModelChoice:
        return ModelChoice(
            weights=tuple(self.weights),
            config=self.weights_config,
            device=self.device,
            threads=self.threads or None,
            tile_size=self.tile_size or None,
        )

    def remember_model(self, choice: ModelChoice) -> None:
        """``choice`` as the model to load next time (the inverse of :attr:`model_choice`)."""
        self.weights, self.weights_config = list(choice.weights), choice.config
        self.device, self.threads = choice.device, choice.threads or 0
        self.tile_size = choice.tile_size or AUTOMATIC_TILE_SIZE

    def add_recent(self, path: str | Path) -> None:
        entry = str(Path(path).resolve())
        self.recent_files = [entry] + [p for p in self.recent_files if p != entry]
        del self.recent_files[MAX_RECENT_FILES:]


def settings_dir() -> Path:
    return Path(os.environ.get(CONFIG_DIR_ENV) or user_config_dir(APP_NAME))


def settings_path() -> Path:
    return settings_dir() / SETTINGS_FILE


#: the fields a settings file holds
_SAVED = frozenset(known.name for known in dataclasses.fields(Settings)) - {"left_as_is"}
#: what a settings file that is not JSON is kept as, beside it
DAMAGED_SUFFIX = ".bad"


#: the range checks of the saved controls (each raises ValueError outside its range)
_CONTROL_CHECKS = {
    "strength": check_strength,
    "temperature": check_temperature,
    "seed": check_seed,
    "noise_reduction": check_noise_reduction,
    "exposure": check_exposure_stops,
    "photo_colour": check_photo_colour,
}
#: the checks of other saved strings (each raises a BatchUsageError when it is unusable)
_TEXT_CHECKS = {"batch_suffix": check_suffix}
_CHOICES = {"device": DEVICES, "default_format": EXPORT_FORMATS}
_INTEGER_RANGES = {
    "threads": (0, MAX_THREADS),
    "tile_size": (MIN_TILE_SIZE, MAX_TILE_SIZE),
    "jpeg_quality": QUALITY_RANGE,
}


def _of_the_defaults_type(default: Any, value: Any) -> bool:
    if isinstance(default, list):
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if isinstance(value, bool):  # JSON true is no number
        return isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return isinstance(value, type(default))


def _fits(name: str, default: Any, value: Any) -> bool:
    """Whether a saved ``value`` can stand for the setting ``name``: of its type, in range."""
    if name == "weights_config":
        return value is None or isinstance(value, str)
    if name == "version":
        return value == SETTINGS_VERSION  # a newer app's file: its other fields are checked
    if not _of_the_defaults_type(default, value):
        return False
    check = _CONTROL_CHECKS.get(name) or _TEXT_CHECKS.get(name)
    if check is not None:
        try:
            check(value)
        except (ValueError, BatchUsageError):
            return False
    if name in _CHOICES:
        return value in _CHOICES[name]
    if name == "tile_size" and value == AUTOMATIC_TILE_SIZE:
        return True
    if name in _INTEGER_RANGES:
        low, high = _INTEGER_RANGES[name]
        return low <= value <= high
    return name != "geometry" or value.isascii()  # Qt reads it as base64


def _upgraded(data: Any) -> Any:
    """``data`` as this version saves it: a version 1 file's default tile size is automatic."""
    if isinstance(data, dict) and "version" not in data:
        if data.get("tile_size") == _VERSION_1_DEFAULT_TILE_SIZE:
            data["tile_size"] = AUTOMATIC_TILE_SIZE
        data["version"] = SETTINGS_VERSION
    return data


def _usable_fields(data: Any) -> dict[str, Any]:
    """The settings of ``data`` that fit their field; the others are left out (and logged),
    so a hand-edited or damaged file costs only what is wrong in it."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    defaults = Settings()
    usable: dict[str, Any] = {}
    version = data.get("version")
    if isinstance(version, int) and version > SETTINGS_VERSION:
        # its settings may mean other things, or be ones this version does not know
        usable["left_as_is"] = f"written by a newer version of Glare Studio (settings {version})"
    for known in dataclasses.fields(Settings):
        if known.name not in data or known.name not in _SAVED:
            continue
        value = data[known.name]
        if _fits(known.name, getattr(defaults, known.name), value):
            usable[known.name] = value
        else:
            logger.warning("ignoring the saved %s %r: the default is used", known.name, value)
    return usable


def load_settings(path: Path | None = None) -> Settings:
    """The saved settings; defaults for what is missing, unreadable or out of range.

    A file that is not JSON (a hand edit's stray comma) is kept beside it as
    ``settings.json.bad``: the next save replaces it with these. A file that cannot be read,
    or that a newer version wrote, is left as it is: these settings are not saved."""
    path = path or settings_path()
    try:
        stored = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:  # no permission, a folder
        logger.warning("ignoring unreadable settings %s: %s", path, exc)
        return Settings(left_as_is=f"unreadable ({exc.strerror or exc})")
    try:
        data = json.loads(stored.decode("utf-8"))
        return Settings(**_usable_fields(_upgraded(data)))
    except ValueError as exc:  # not UTF-8, not JSON, no JSON object
        logger.warning("ignoring unreadable settings %s: %s", path, exc)
        return _kept_aside(path, stored)


def _kept_aside(path: Path, stored: bytes) -> Settings:
    """The defaults, for a file that is no settings (``stored``): first copied aside, or
    left as it is where it cannot be."""
    kept = path.with_name(path.name + DAMAGED_SUFFIX)
    try:
        atomic_write_bytes(kept, stored)
    except OSError as exc:
        logger.warning("could not keep %s as %s: %s", path, kept.name, exc)
        return Settings(left_as_is=f"damaged, and could not be kept as {kept.name}")
    logger.warning("kept the damaged settings as %s", kept)
    return Settings()


def save_settings(settings: Settings, path: Path | None = None) -> None:
    path = path or settings_path()
    if settings.left_as_is:
        logger.warning("settings not saved: %s is %s", path, settings.left_as_is)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fields = dataclasses.asdict(settings)
        text = json.dumps(
            {name: value for name, value in fields.items() if name in _SAVED}, indent=2
        )
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as exc:
        logger.warning("could not save settings to %s: %s", path, exc)
