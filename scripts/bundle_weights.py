"""Write a trained compact model as the bundled weights file (float16, preset inference settings).

    .venv/bin/python scripts/bundle_weights.py runs/compact/fusion-jpeg/glare.safetensors \
        runs/compact/fusion-bigger2/glare.safetensors

Several runs are averaged weight by weight (``glare_core.weights.average_weights``); they must
be fine-tunes of one network.

The network part of the file's config must be the compact preset's; the inference settings
(``input``: exposure range, working size and noise filter; ``retrieval``; ``precision``) are
taken from the preset as it is now, so the bundled file always carries the settings the model
card measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import torch

from glare_core.config import compact_config
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
    parser.add_argument("--out", type=Path, default=BUNDLED)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    models = [build_model([path]) for path in args.trained]
    preset = compact_config()
    network_only = {field: getattr(preset, field) for field in INFERENCE_FIELDS}
    for path, model in zip(args.trained, models, strict=True):
        if dataclasses.replace(model.config, **network_only) != preset:
            raise SystemExit(f"{path}: not a compact-preset network")
    model = models[0]
    model.load_state_dict(average_weights(models))
    save_weights(model, preset, args.out, dtype=torch.float16)
    logger.info("wrote %s (%.1f MB)", args.out, args.out.stat().st_size / 1e6)


if __name__ == "__main__":
    main()
