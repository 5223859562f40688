"""How far a tiled run moves from the whole-image result (its image-wide statistics come from
a copy scaled down to one tile); prints a table per image and a summary.

Usage: .venv/bin/python bench/bench_tiling.py [--tile 256] [FOLDER]
(default: the shared eval split's low images, which fit in one tile untiled)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from glare_core.batch import iter_images
from glare_core.eight_bit import to_uint8
from glare_core.engine import Enhancer
from glare_core.imageio import read_image

#: the shared data sits beside the repository
SHARED_EVAL_LOWS = Path(__file__).resolve().parents[2] / "shared/data/lowlight-pairs/eval/low"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=SHARED_EVAL_LOWS)
    parser.add_argument("--tile", type=int, default=256)
    args = parser.parse_args()
    paths = list(iter_images(args.folder, recursive=False))
    if not paths:
        parser.error(f"no images in {args.folder}")
    whole = Enhancer.load(device="cpu")
    tiled = Enhancer.load(device="cpu", tile_size=args.tile)
    print("| image | mean abs difference (levels of 255) | mean shift |\n|---|---|---|")
    differences, shifts = [], []
    for path in paths:
        rgb = read_image(path).rgb
        reference = to_uint8(whole.enhance(rgb)).astype(np.float32)
        result = to_uint8(tiled.enhance(rgb)).astype(np.float32)
        differences.append(np.abs(result - reference).mean())
        shifts.append(result.mean() - reference.mean())
        print(f"| {path.name} | {differences[-1]:.2f} | {shifts[-1]:+.2f} |", flush=True)
    darker = [shift for shift in shifts if shift < 0]
    print(
        f"\n--tile {args.tile} over {len(paths)} images: mean {np.mean(differences):.2f}, "
        f"median {np.median(differences):.2f}, max {np.max(differences):.2f} levels; "
        f"{len(darker)} darker in tiles (mean shift {np.mean(darker) if darker else 0:+.2f}), "
        f"mean shift over all {np.mean(shifts):+.2f}"
    )


if __name__ == "__main__":
    main()
