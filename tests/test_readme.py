"""The README's Python example runs as written, and does what it says."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from glare_core.resources import sample_photo_path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_the_python_example_enhances_a_photo_and_keeps_its_metadata(
    tmp_path: Path, monkeypatch
) -> None:
    (example,) = python_examples()
    exif = Image.Exif()
    exif[0x010F] = "GlareCam"  # Make
    with Image.open(sample_photo_path()) as sample:
        sample.save(tmp_path / "night.jpg", exif=exif, quality=95)
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})
    with Image.open("night.jpg") as photo, Image.open("night_glare.png") as result:
        assert result.size == photo.size and result.getexif()[0x010F] == "GlareCam"
        brightened = np.asarray(result, float).mean() - np.asarray(photo, float).mean()
    assert brightened > 40  # levels: the night photo came out lit
