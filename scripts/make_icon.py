"""Draw the app icon, ``resources/icons/glare-studio.png``: a dark square whose lower half
brightens into a warm sun, the app in one picture. Run it again to redraw the bundled file.

    .venv/bin/python scripts/make_icon.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 256
OUT = Path(__file__).resolve().parents[1] / "resources" / "icons" / "glare-studio.png"
NIGHT = np.array([18, 22, 40], dtype=np.float32)
DAY = np.array([255, 196, 92], dtype=np.float32)
CORNER_RADIUS = 0.22  # of the size
SUN_RADIUS = 0.26
GLOW_RADIUS = 0.55


def draw(size: int = SIZE) -> Image.Image:
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    y, x = np.meshgrid(coords, coords, indexing="ij")
    # the lower right brightens along the diagonal: a dark photo becoming a bright one
    light = np.clip((x + y - 0.6) / 1.2, 0, 1)[..., None] ** 1.5
    distance = np.hypot(x - 0.62, y - 0.62)
    sun = np.clip((SUN_RADIUS - distance) * size / 2, 0, 1)[..., None]
    glow = np.clip(1 - distance / GLOW_RADIUS, 0, 1)[..., None] ** 2
    rgb = NIGHT + (DAY - NIGHT) * np.clip(0.45 * light + 0.6 * glow, 0, 1)
    rgb = rgb * (1 - sun) + np.array([255, 240, 200], np.float32) * sun
    # rounded-square mask with an anti-aliased edge
    inset = np.maximum(np.abs(x - 0.5), np.abs(y - 0.5)) - (0.5 - CORNER_RADIUS)
    corner = np.hypot(
        np.maximum(np.abs(x - 0.5) - (0.5 - CORNER_RADIUS), 0),
        np.maximum(np.abs(y - 0.5) - (0.5 - CORNER_RADIUS), 0),
    )
    edge = np.where(inset > 0, corner, inset)  # distance outside the inner square
    alpha = np.clip((CORNER_RADIUS - edge) * size, 0, 1)[..., None]
    pixels = np.concatenate([rgb, 255 * alpha], axis=-1)
    return Image.fromarray(np.round(pixels).astype(np.uint8), "RGBA")


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    draw().save(OUT, optimize=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
