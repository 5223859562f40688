"""Where the bundled files live: weights, the sample photo, icons.

``resources/`` sits beside the packages in a source checkout or editable install; a
regular install puts the same files in the package ``glare_resources`` beside
``glare_core``; a PyInstaller build unpacks them under ``sys._MEIPASS``.
``GLARE_RESOURCES`` overrides all three (for tests and unusual installs).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

RESOURCES_ENV = "GLARE_RESOURCES"
BUNDLED_WEIGHTS = Path("weights") / "glare-compact.safetensors"
SAMPLE_PHOTO = Path("sample.jpg")
APP_ICON = Path("icons") / "glare-studio.png"


def resources_dir() -> Path:
    if override := os.environ.get(RESOURCES_ENV):
        return Path(override)
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root is not None:
        return Path(frozen_root) / "resources"
    beside_packages = Path(__file__).resolve().parent.parent
    checkout = beside_packages / "resources"
    return checkout if checkout.is_dir() else beside_packages / "glare_resources"


def bundled_weights_path() -> Path:
    return resources_dir() / BUNDLED_WEIGHTS


def sample_photo_path() -> Path:
    return resources_dir() / SAMPLE_PHOTO


def app_icon_path() -> Path:
    return resources_dir() / APP_ICON
