"""Write a trained compact model as the bundled weights file (float16, preset inference settings).

    .venv/bin/python scripts/bundle_weights.py runs/compact/fusion-jpeg/glare.safetensors \
        runs/compact/fusion-bigger2/glare.safetensors \
        --noisy-path runs/compact/denoiser-more4/glare.safetensors

Several runs of GLARE's three stages are averaged weight by weight
(``glare_core.weights.average_weights``); they must be fine-tunes of one network. The
noisy-photo path (its denoiser and fusion decoder) comes from the file given with
``--noisy-path``: the last run that trained a part of it (``noisy_fusion`` or ``denoiser``),
whose file holds the whole path; without it the file has no such path.

The network part of the file's config must be the compact preset's; the inference settings
(``input``: exposure range, working size and noise filter; ``retrieval``; ``precision``; the
noisy path's thresholds and mix) are taken from the preset as it is now, so the bundled file always
carries the settings the model card measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import torch

from glare_core.config import GlareConfig, compact_config
from glare_core.weights import average_weights, build_model, save_weights

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "resources" / "weights" / "glare-compact.safetensors"
INFERENCE_FIELDS = ("input", "retrieval", "precision")

logger = logging.getLogger("bundle_weights")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "trained", type=Path, nargs="+", help="training runs' glare.safetensors (averaged)"
    )
    parser.add_argument(
        "--noisy-path",
        type=Path,
        help="glare.safetensors of the run that last trained the noisy path: its noisy path",
    )
    parser.add_argument("--out", type=Path, default=BUNDLED)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    preset = compact_config()
    glare_only = dataclasses.replace(
        preset, noisy_path=dataclasses.replace(preset.noisy_path, enabled=False)
    )
    models = [_compact_network(path, glare_only) for path in args.trained]
    model = models[0]
    model.load_state_dict(average_weights(models))
    config = glare_only
    if args.noisy_path is not None:
        averaged = model.state_dict()
        model = _compact_network(args.noisy_path, preset)
        # GLARE's path from the averaged runs; the noisy path stays the noisy_fusion run's
        model.load_state_dict(averaged, strict=False)
        config = preset
    save_weights(model, config, args.out, dtype=torch.float16)
    logger.info("wrote %s (%.1f MB)", args.out, args.out.stat().st_size / 1e6)


def _compact_network(path: Path, expected: GlareConfig) -> torch.nn.Module:
    """The network of ``path``; exits unless it is ``expected``'s (inference settings aside)."""
    model = build_model([path])
    inference = {field: getattr(expected, field) for field in INFERENCE_FIELDS}
    # which photos take the noisy path is an inference setting too
    inference["noisy_path"] = dataclasses.replace(
        model.config.noisy_path,
        noise_threshold=expected.noisy_path.noise_threshold,
        grain_threshold=expected.noisy_path.grain_threshold,
        dark_threshold=expected.noisy_path.dark_threshold,
        mix=expected.noisy_path.mix,
    )
    if dataclasses.replace(model.config, **inference) != expected:
        raise SystemExit(f"{path}: not the compact preset's network")
    return model


if __name__ == "__main__":
    main()
