"""Measure a weights file for its model card and draw the pictures the card shows.

    .venv/bin/python scripts/model_card.py [--weights FILE] [--data DIR] [--photos DIR]

Prints markdown tables: ``glare eval --pairs`` on ``eval`` as captured and darkened
(the low images times 0.5 and 0.25, stored in 8 bits again) beside auto-gain on the same
inputs, then darkened one and two stops with a sensor's noise, then with a camera's grain,
and two classic baselines re-measured with ``glare eval --pred`` in the same run as a check
of the metric.
Writes ``docs/model-card/contact-sheet.jpg`` (low / ours / reference for a few eval
pairs), ``docs/model-card/photos.jpg`` (the real photos, before and after) and
``docs/model-card/photo-colour.jpg`` (warm photos at a few photo colour shares).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from glare_core.eight_bit import EIGHT_BIT_MAX, from_uint8, to_uint8

if TYPE_CHECKING:
    from glare_core.engine import Enhancer

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
OUT_DIR = REPO / "docs" / "model-card"
DARKENING = (1.0, 0.5, 0.25)
#: darker captures with their sensor's noise: ``glare eval --darken --shot-noise --read-noise``
NOISY_DARKENING = ("0.5", "0.25")
SENSOR_NOISE = ("--shot-noise", "5e-5", "--read-noise", "2e-4")
#: a camera's grain, noise spread over a few pixels: at eval's own exposure (weaker noise),
#: and one stop darker with the sensor noise above
GRAINY_CAPTURES = {
    "x1.0 with camera grain": ("--shot-noise", "2e-5", "--read-noise", "1e-4"),
    "x0.5 with sensor noise as grain": ("--darken", "0.5", *SENSOR_NOISE),
}
GRAIN = ("--noise-grain", "3")
SHEET_PAIRS = ("4.png", "29.png", "106.png", "146.png")
THUMB_WIDTH = 300
PHOTO_HEIGHT = 220
#: warm scenes the model neutralises, and the photo colour shares they are shown at
PHOTO_COLOUR_SCENES = ("sample", "159_0_.png")
PHOTO_COLOUR_SHARES = (0.0, 0.5, 1.0)
GAMMA_BASELINE = 0.4
#: BASELINES.md's auto-gain scales the mean grey level to this
AUTO_GAIN_MEAN = 0.45
#: the mean an all-black low image is given, so that its gain stays finite
BLACK_MEAN = 1e-6


def _glare(*args: str) -> dict:
    command = [str(REPO / ".venv" / "bin" / "glare"), "eval", *args, "--json"]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def _row(label: str, report: dict) -> str:
    mean = report["mean"]
    return (
        f"| {label} | {mean['psnr']:.2f} | {mean['ssim']:.4f} | {mean['psnr_gt_mean']:.2f} "
        f"| {mean['ssim_gt_mean']:.4f} |"
    )


def _gamma_folder(low_dir: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(low_dir.glob("*.png")):
        low = from_uint8(np.asarray(Image.open(path)))
        Image.fromarray(to_uint8(low**GAMMA_BASELINE)).save(target / path.name)
    return target


def _auto_gain_folder(low_dir: Path, factor: float, target: Path) -> Path:
    """BASELINES.md's auto-gain (mean grey scaled to 0.45) on the low images darkened as
    ``glare eval --darken`` darkens them (times ``factor``, stored in 8 bits)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(low_dir.glob("*.png")):
        low = np.round(np.asarray(Image.open(path), dtype=np.float32) * factor)
        gained = low * (AUTO_GAIN_MEAN * EIGHT_BIT_MAX / max(low.mean(), BLACK_MEAN))
        stored = np.round(np.clip(gained, 0, EIGHT_BIT_MAX)).astype(np.uint8)
        Image.fromarray(stored).save(target / path.name)
    return target


def measure(weights: list[str], pairs: Path) -> None:
    model = [arg for path in weights for arg in ("--weights", path)]

    def print_scored(label: str, predictions: Path) -> None:
        print(_row(label, _glare("--pred", str(predictions), "--ref", str(pairs / "high"))))

    print("| input | PSNR | SSIM | PSNR GT-mean | SSIM GT-mean |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for factor in DARKENING:
            report = _glare("--pairs", str(pairs), "--darken", str(factor), *model)
            print(_row(f"ours, eval low x{factor}", report))
            gained = _auto_gain_folder(pairs / "low", factor, Path(scratch) / f"gain{factor}")
            print_scored(f"auto-gain, eval low x{factor}", gained)
        for darken in NOISY_DARKENING:
            report = _glare("--pairs", str(pairs), "--darken", darken, *SENSOR_NOISE, *model)
            print(_row(f"ours, eval low x{darken} with sensor noise", report))
        for label, capture in GRAINY_CAPTURES.items():
            report = _glare("--pairs", str(pairs), *capture, *GRAIN, *model)
            print(_row(f"ours, eval low {label} (3 px)", report))
        print_scored("identity (re-measured)", pairs / "low")
        gamma = _gamma_folder(pairs / "low", Path(scratch) / "gamma")
        print_scored("gamma 0.4 (re-measured)", gamma)


def _thumb(image: np.ndarray, height: int | None = None, width: int | None = None) -> np.ndarray:
    picture = Image.fromarray(to_uint8(image))
    if width is not None:
        height = round(picture.height * width / picture.width)
    else:
        width = round(picture.width * height / picture.height)
    return np.asarray(picture.resize((width, height), Image.LANCZOS))


def draw(weights: list[str], pairs: Path, photos: Path) -> None:
    from glare_core.engine import Enhancer
    from glare_core.imageio import read_image

    enhancer = Enhancer.load(weights)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in SHEET_PAIRS:
        low = read_image(pairs / "low" / name).rgb
        high = read_image(pairs / "high" / name).rgb
        rows.append(
            np.hstack([_thumb(x, width=THUMB_WIDTH) for x in (low, enhancer.enhance(low), high)])
        )
    Image.fromarray(np.vstack(rows)).save(OUT_DIR / "contact-sheet.jpg", quality=88)
    tiles = []
    for path in sorted(photos.glob("*.png")):
        photo = read_image(path).rgb
        tiles.append(
            np.hstack([_thumb(photo, PHOTO_HEIGHT), _thumb(enhancer.enhance(photo), PHOTO_HEIGHT)])
        )
    _save_rows(tiles, "photos.jpg")
    _draw_photo_colour(enhancer, photos)


def _save_rows(rows: list[np.ndarray], name: str) -> None:
    """``rows`` of thumbnails stacked, narrower ones padded with black, as a JPEG."""
    width = max(row.shape[1] for row in rows)
    padded = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows]
    Image.fromarray(np.vstack(padded)).save(OUT_DIR / name, quality=85)


def _draw_photo_colour(enhancer: Enhancer, photos: Path) -> None:
    from glare_core.denoise import as_viewed
    from glare_core.imageio import read_image
    from glare_core.resources import sample_photo_path

    rows = []
    for scene in PHOTO_COLOUR_SCENES:
        path = sample_photo_path() if scene == "sample" else photos / scene
        photo = read_image(path).rgb
        viewed = from_uint8(as_viewed(photo))  # the photo brightened to view
        results = [enhancer.enhance(photo, photo_colour=share) for share in PHOTO_COLOUR_SHARES]
        rows.append(np.hstack([_thumb(x, PHOTO_HEIGHT) for x in (viewed, *results)]))
    _save_rows(rows, "photo-colour.jpg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", action="append", default=[])
    parser.add_argument("--data", type=Path, default=SHARED / "lowlight-pairs" / "eval")
    parser.add_argument("--photos", type=Path, default=SHARED / "photos")
    parser.add_argument("--no-pictures", action="store_true")
    args = parser.parse_args()
    measure(args.weights, args.data)
    if not args.no_pictures:
        draw(args.weights, args.data, args.photos)


if __name__ == "__main__":
    main()
