"""Write a trained compact model as the bundled weights file (float16, preset inference settings).

    .venv/bin/python scripts/bundle_weights.py runs/compact/fusion-bigger2/glare.safetensors

The network part of the file's config must be the compact preset's; the inference settings
(``input``: exposure range, working size and noise filter; ``precision``) are taken from the
preset as it is now, so the bundled file always carries the settings the model card measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import torch

from glare_core.config import compact_config
from glare_core.weights import build_model, save_weights

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "resources" / "weights" / "glare-compact.safetensors"
INFERENCE_FIELDS = ("input", "precision")

logger = logging.getLogger("bundle_weights")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trained", type=Path, help="a training run's glare.safetensors")
    parser.add_argument("--out", type=Path, default=BUNDLED)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    model = build_model([args.trained])
    preset = compact_config()
    network_only = {field: getattr(preset, field) for field in INFERENCE_FIELDS}
    if dataclasses.replace(model.config, **network_only) != preset:
        raise SystemExit(f"{args.trained}: not a compact-preset network")
    save_weights(model, preset, args.out, dtype=torch.float16)
    logger.info("wrote %s (%.1f MB)", args.out, args.out.stat().st_size / 1e6)


if __name__ == "__main__":
    main()
