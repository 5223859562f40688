"""Speed and memory of the inference engine, printed as a table.

    .venv/bin/python bench/bench_engine.py [--threads N] [--skip-official] [--weights FILE]
                                           [--precision auto|float32]

Each case runs in a fresh subprocess so its peak RSS is its own. Goals (2 CPU cores):
compact <= 1.5 s per 600x400; 12 MP <= 60 s; peak RSS <= 3 GB at any size;
12 MP runs at the compact model's working size (``input.max_working_pixels``, guided back
up to full size) and, as "enhance full", with the network on every pixel;
re-render after a strength change <= 100 ms at the drag-preview size (~0.3 MP), where
the app renders the fusion tail as a draft (``Enhancer.render(..., draft=1)``).
"noisy" cases send the photo through the compact model's noisy-photo path (its learned
denoiser and second fusion decoder), as a far noisier photo would go.
The reference point: the official code (full config) takes about 69 s and 4.1 GB for
one 600x400 image on this kind of machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from glare_core.config import PRECISIONS

if TYPE_CHECKING:
    from glare_core.engine import Enhancer

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO.parent / "shared" / "data" / "lowlight-pairs" / "eval" / "low" / "148.png"
SIZES = {"600x400": (400, 600), "12 MP": (3000, 4000)}
PREVIEW_SIZES = {"0.3 MP": (448, 672), "1600x1067": (1067, 1600)}
REPEATS = 3
#: strength re-renders are timed with the fusion tail at full size and as drafts
DRAFTS = (0, 1, 2)


def _image(height: int, width: int) -> np.ndarray:
    from glare_core.imageio import read_image

    photo = read_image(PHOTO).rgb
    reps = (-(-height // photo.shape[0]), -(-width // photo.shape[1]), 1)
    return np.ascontiguousarray(np.tile(photo, reps)[:height, :width])


def _enhancer(
    preset: str, options: argparse.Namespace, full_resolution: bool = False, noisy: bool = False
) -> Enhancer:
    from glare_core.engine import Enhancer

    settings = {
        "device": "cpu",
        "threads": options.threads,
        "precision": options.precision,
        "full_resolution": full_resolution,
    }
    if preset == "compact" and options.weights:
        enhancer = Enhancer.load([options.weights], **settings)
    else:
        enhancer = Enhancer.from_config(preset, **settings)
    return enhancer.with_noisy_path(True) if noisy else enhancer


def _dtype_name(enhancer: Enhancer) -> str:
    return str(enhancer.decoder_dtype).removeprefix("torch.")


def _case_enhance(
    preset: str,
    size: str,
    options: argparse.Namespace,
    full_resolution: bool = False,
    noisy: bool = False,
) -> dict:
    enhancer = _enhancer(preset, options, full_resolution, noisy)
    image = _image(*SIZES[size])
    started = time.perf_counter()
    enhancer.enhance(image)
    return {"seconds": time.perf_counter() - started, "decoders": _dtype_name(enhancer)}


def _median_ms(action: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        action()
        times.append(1000 * (time.perf_counter() - started))
    return float(np.median(times))


def _case_render(preset: str, size: str, options: argparse.Namespace) -> dict:
    enhancer = _enhancer(preset, options)
    image = _image(*PREVIEW_SIZES[size])
    started = time.perf_counter()
    prepared = enhancer.prepare(image)
    enhancer.render(prepared)
    first = time.perf_counter() - started
    strengths = iter(np.linspace(0.2, 1.8, 100))
    temperatures = iter(np.linspace(0.1, 1.0, 100))
    strength_ms = [
        _median_ms(lambda d=draft: enhancer.render(prepared, next(strengths), draft=d))
        for draft in DRAFTS
    ]
    temperature_ms = _median_ms(
        lambda: enhancer.render(prepared, temperature=next(temperatures), seed=1)
    )
    return {
        "seconds": first,
        "strength_ms": strength_ms,
        "temperature_ms": temperature_ms,
        "decoders": _dtype_name(enhancer),
    }


def _case_enhance_full(preset: str, size: str, options: argparse.Namespace) -> dict:
    return _case_enhance(preset, size, options, full_resolution=True)


def _case_enhance_noisy(preset: str, size: str, options: argparse.Namespace) -> dict:
    return _case_enhance(preset, size, options, noisy=True)


def _case_enhance_full_noisy(preset: str, size: str, options: argparse.Namespace) -> dict:
    return _case_enhance(preset, size, options, full_resolution=True, noisy=True)


CASES = {
    "enhance": _case_enhance,
    "enhance full": _case_enhance_full,
    "enhance noisy": _case_enhance_noisy,
    "enhance full noisy": _case_enhance_full_noisy,
    "render": _case_render,
}


def _run_case(kind: str, preset: str, size: str, options: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--case", kind, preset, size]
    command += ["--threads", str(options.threads), "--precision", options.precision]
    if options.weights:
        command += ["--weights", options.weights]
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(output.stdout.strip().splitlines()[-1])


def _child(kind: str, preset: str, size: str, options: argparse.Namespace) -> None:
    result = CASES[kind](preset, size, options)
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-official", action="store_true")
    parser.add_argument("--weights", help="compact weights (default: random initialisation)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument("--case", nargs=3, metavar=("KIND", "PRESET", "SIZE"), help="internal")
    args = parser.parse_args()
    if args.case:
        _child(*args.case, args)
        return
    presets = ["compact"] + ([] if args.skip_official else ["official"])
    print(
        f"| preset | decoders | case | size | seconds | strength re-render ms (full / draft 1 "
        f"/ draft 2) | temperature re-render ms | peak RSS GB |  ({args.threads} threads)"
    )
    print("|---|---|---|---|---|---|---|---|")
    for preset in presets:
        for size in SIZES:
            if preset == "official" and size == "12 MP":
                print("| official | | enhance | 12 MP | not run: ~50x the 600x400 time | | | |")
                continue
            kinds = ["enhance", "enhance full"] if size == "12 MP" else ["enhance"]
            if preset == "compact":  # the official preset has no noisy-photo path
                kinds += [f"{kind} noisy" for kind in kinds]
            for kind in kinds:
                result = _run_case(kind, preset, size, args)
                print(
                    f"| {preset} | {result['decoders']} | {kind} | {size} "
                    f"| {result['seconds']:.2f} | | | {result['peak_rss_gb']:.2f} |"
                )
        for size in PREVIEW_SIZES:
            result = _run_case("render", preset, size, args)
            print(
                f"| {preset} | {result['decoders']} | prepare+render | {size} "
                f"| {result['seconds']:.2f} "
                f"| {' / '.join(f'{ms:.0f}' for ms in result['strength_ms'])} "
                f"| {result['temperature_ms']:.0f} "
                f"| {result['peak_rss_gb']:.2f} |"
            )


if __name__ == "__main__":
    main()
