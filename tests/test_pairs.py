"""Folders of pairs, one rule for training and scoring: matched by stem, any format, upright."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glare_core.errors import GlareError
from glare_core.pairs import matched_pairs
from glare_core.train.data import load_pairs

EXIF_ORIENTATION = 0x0112
ROTATED_90_CW = 6  # the stored pixels are shown turned a quarter clockwise


def _split(root: Path) -> tuple[Path, Path]:
    low, high = root / "train" / "low", root / "train" / "high"
    low.mkdir(parents=True)
    high.mkdir(parents=True)
    return low, high


def _stored(pairs_dir: Path, folder: str, name: str) -> Image.Image:
    return Image.open(pairs_dir / "train" / folder / name).convert("RGB")


def test_training_reads_a_phones_jpeg_pairs_upright(pairs_dir: Path, tmp_path: Path) -> None:
    name = sorted((pairs_dir / "train" / "low").iterdir())[0].name
    low, high = _split(tmp_path)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATED_90_CW
    _stored(pairs_dir, "low", name).save(low / "shot.jpg", quality=100, exif=exif)
    _stored(pairs_dir, "high", name).transpose(Image.Transpose.ROTATE_270).save(high / "shot.png")

    (pair,) = load_pairs(tmp_path, "train")

    assert pair.name == "shot.jpg"
    assert pair.low.shape == pair.high.shape == (600, 400, 3)  # 600x400 stored, shown 400x600
    # the JPEG's own loss only: the same scene, turned as its reference is
    error = np.abs(
        pair.low.astype(int)
        - np.asarray(_stored(pairs_dir, "low", name).transpose(Image.Transpose.ROTATE_270))
    )
    assert error.mean() < 2


@pytest.mark.parametrize("extra_in", ["low", "high"])
def test_training_refuses_an_image_without_its_partner(
    pairs_dir: Path, tmp_path: Path, extra_in: str
) -> None:
    low, high = _split(tmp_path)
    source = sorted((pairs_dir / "train" / "low").iterdir())[0]
    for folder in (low, high):
        (folder / "a.png").write_bytes(source.read_bytes())
    (tmp_path / "train" / extra_in / "b.png").write_bytes(source.read_bytes())

    with pytest.raises(GlareError, match=r"1 image\(s\) of .*have no partner.*: b\.png"):
        load_pairs(tmp_path, "train")


def test_pairs_come_in_natural_order_and_extra_references_may_stay(tmp_path: Path) -> None:
    first, second = tmp_path / "pred", tmp_path / "ref"
    first.mkdir()
    second.mkdir()
    pixel = Image.new("RGB", (2, 2))
    for name in ("10.png", "2.jpg"):
        pixel.save(first / name)
    for name in ("2.png", "10.png", "unscored.png"):
        pixel.save(second / name)

    pairs = matched_pairs(first, second)

    assert [(pair.name, pair.second.name) for pair in pairs] == [
        ("2.jpg", "2.png"),
        ("10.png", "10.png"),
    ]
    with pytest.raises(GlareError, match="unscored.png"):
        matched_pairs(first, second, every_second=True)


def test_training_refuses_a_pair_of_two_sizes(pairs_dir: Path, tmp_path: Path) -> None:
    low, high = _split(tmp_path)
    name = sorted((pairs_dir / "train" / "low").iterdir())[0].name
    _stored(pairs_dir, "low", name).save(low / "a.png")
    _stored(pairs_dir, "high", name).resize((300, 200)).save(high / "a.png")
    # crops are cut at the low image's window: a larger reference trained on misaligned
    # crops, a smaller one failed mid-run
    with pytest.raises(GlareError, match=r"a\.png is 600x400 but its partner .*a\.png is 300x200"):
        load_pairs(tmp_path, "train")
