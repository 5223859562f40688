"""Make resources/sample.jpg: a dim-room version of scikit-image's CC0 'coffee' photo.

The shared training photos may not be redistributed, so the bundled sample is
synthesised from a CC0 image (Rachel Michetti, via scikit-image): 6% exposure in
linear light, photon and read noise, a warm white balance.
    .venv/bin/python scripts/make_sample.py
"""

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

EXPOSURE = 0.06
PHOTON = 2e-4  # linear intensity of one photo-electron
READ_NOISE = 4e-4
WHITE_BALANCE = (1.0, 0.95, 0.85)
GAMMA = 2.2

rng = np.random.default_rng(20261125)
linear = (data.coffee().astype(np.float32) / 255) ** GAMMA * EXPOSURE
linear = rng.poisson(linear / PHOTON) * PHOTON + rng.normal(0, READ_NOISE, linear.shape)
linear = np.clip(linear * np.array(WHITE_BALANCE), 0, 1)
dark = (linear ** (1 / GAMMA) * 255 + 0.5).astype(np.uint8)
target = Path(__file__).resolve().parents[1] / "resources" / "sample.jpg"
Image.fromarray(dark).save(target, quality=92)
