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
from glare_core.config import COMPACT_NOISE_REDUCTION
from glare_core.session import Controls, ModelChoice

logger = logging.getLogger(__name__)

APP_NAME = "glare-studio"
#: overrides the settings folder (tests, portable installs)
CONFIG_DIR_ENV = "GLARE_STUDIO_CONFIG_DIR"
SETTINGS_FILE = "settings.json"
MAX_RECENT_FILES = 10
DEVICES = ("auto", "cpu", "cuda")
#: "same" keeps the source's format when exporting
EXPORT_FORMATS = ("same", "png", "jpeg", "tiff", "webp")


@dataclass
class Settings:
    device: str = "auto"
    threads: int = 0  # 0: let torch decide
    tile_size: int = 1024
    default_format: str = "same"
    jpeg_quality: int = 95
    weights: list[str] = field(default_factory=list)
    weights_config: str | None = None
    last_open_dir: str = ""
    last_save_dir: str = ""
    last_batch_input: str = ""
    last_batch_output: str = ""
    recent_files: list[str] = field(default_factory=list)
    geometry: str = ""  # base64 of QWidget.saveGeometry()
    strength: float = 1.0
    temperature: float = 0.0
    seed: int = 0
    noise_reduction: float = COMPACT_NOISE_REDUCTION
    exposure: float = 0.0
    photo_colour: float = 0.0

    @property
    def controls(self) -> Controls:
        return Controls(
            self.strength,
            self.temperature,
            self.seed,
            self.noise_reduction,
            self.exposure,
            self.photo_colour,
        )

    def remember_controls(self, controls: Controls) -> None:
        self.strength, self.temperature, self.seed = (
            controls.strength,
            controls.temperature,
            controls.seed,
        )
        self.noise_reduction, self.exposure, self.photo_colour = (
            controls.noise_reduction,
            controls.exposure,
            controls.photo_colour,
        )

    @property
    def model_choice(self) -> ModelChoice:
        return ModelChoice(
            weights=tuple(self.weights),
            config=self.weights_config,
            device=self.device,
            threads=self.threads or None,
            tile_size=self.tile_size,
        )

    def add_recent(self, path: str | Path) -> None:
        entry = str(Path(path).resolve())
        self.recent_files = [entry] + [p for p in self.recent_files if p != entry]
        del self.recent_files[MAX_RECENT_FILES:]


def settings_dir() -> Path:
    return Path(os.environ.get(CONFIG_DIR_ENV) or user_config_dir(APP_NAME))


def settings_path() -> Path:
    return settings_dir() / SETTINGS_FILE


def _known_fields(data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(Settings)}
    return {key: value for key, value in data.items() if key in names}


def load_settings(path: Path | None = None) -> Settings:
    """The saved settings; defaults when the file is missing or unreadable."""
    path = path or settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Settings(**_known_fields(data))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError, TypeError) as exc:
        logger.warning("ignoring unreadable settings %s: %s", path, exc)
        return Settings()


def save_settings(settings: Settings, path: Path | None = None) -> None:
    path = path or settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(dataclasses.asdict(settings), indent=2)
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as exc:
        logger.warning("could not save settings to %s: %s", path, exc)
