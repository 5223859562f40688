"""The self-test a frozen build runs (``glare-studio --self-test``), here run from the checkout.

Each test points GLARE_RESOURCES at a resources folder made for it: a randomly initialised
compact network and a small crop of the real bundled sample photo.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from glare_core.config import preset
from glare_core.engine import Enhancer
from glare_core.imageio import read_image
from glare_core.model.glare import GlareNet
from glare_core.resources import (
    BUNDLED_WEIGHTS,
    RESOURCES_ENV,
    SAMPLE_PHOTO,
    bundled_weights_path,
    sample_photo_path,
)
from glare_core.selftest import EXIT_FAILED, EXIT_PASSED, RESULT_NAME, run_self_test
from glare_core.weights import save_weights

REPO_ROOT = Path(__file__).resolve().parents[1]
ENTRY_SCRIPT = REPO_ROOT / "packaging" / "glare_studio_entry.py"
#: a crop of the bundled sample small enough for a fast enhance: (left, top, right, bottom)
SAMPLE_CROP = (200, 120, 296, 184)
EIGHT_BIT_STEP = 1 / 255


@pytest.fixture(scope="module")
def real_sample() -> Path:
    # read before any test overrides GLARE_RESOURCES: the repository's own sample photo
    return sample_photo_path()


@pytest.fixture
def resources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_sample: Path) -> Path:
    """A resources folder with a sample photo and no weights yet; GLARE_RESOURCES points at it."""
    folder = tmp_path / "resources"
    folder.mkdir()
    with Image.open(real_sample) as photo:
        photo.crop(SAMPLE_CROP).save(folder / SAMPLE_PHOTO, quality=95)
    monkeypatch.setenv(RESOURCES_ENV, str(folder))
    return folder


@pytest.fixture
def bundled(resources: Path) -> Path:
    """``resources`` with a randomly initialised compact network as the bundled weights."""
    torch.manual_seed(0)
    config = preset("compact")
    (resources / BUNDLED_WEIGHTS).parent.mkdir()
    save_weights(GlareNet(config), config, resources / BUNDLED_WEIGHTS)
    return resources


def test_writes_what_the_network_makes_of_the_sample(bundled, tmp_path, capsys) -> None:
    output = tmp_path / "out"
    output.mkdir()
    assert run_self_test(output) == EXIT_PASSED

    written = read_image(output / RESULT_NAME).rgb
    sample = read_image(sample_photo_path()).rgb
    expected = Enhancer.load([bundled_weights_path()], device="cpu").enhance(sample)
    assert written.shape == sample.shape
    assert np.abs(written - expected).max() <= EIGHT_BIT_STEP
    assert np.abs(written - sample).mean() > EIGHT_BIT_STEP  # not the photo passed through
    lines = capsys.readouterr().out.splitlines()
    assert f"self-test: wrote {output / RESULT_NAME}" in lines
    assert any(
        line.startswith("self-test: enhanced it through the noisy-photo path") for line in lines
    )
    assert lines[-1].startswith("self-test: passed in ")


def test_without_a_folder_it_leaves_nothing_behind(bundled, tmp_path, monkeypatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where its temporary folder goes
    assert run_self_test() == EXIT_PASSED
    assert list(scratch.iterdir()) == []


def test_missing_weights_fail_with_one_line_naming_the_path(resources, tmp_path, capsys) -> None:
    assert run_self_test(tmp_path) == EXIT_FAILED
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith(f"self-test: failed: bundled weights not found at {resources}")
    assert not (tmp_path / RESULT_NAME).exists()


def test_damaged_weights_fail_with_one_line(resources, tmp_path, capsys) -> None:
    weights = resources / BUNDLED_WEIGHTS
    weights.parent.mkdir()
    weights.write_bytes(b"\x08not safetensors at all")
    assert run_self_test(tmp_path) == EXIT_FAILED
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "not a readable safetensors file" in error


def test_missing_sample_fails(bundled, tmp_path, capsys) -> None:
    (bundled / SAMPLE_PHOTO).unlink()
    assert run_self_test(tmp_path) == EXIT_FAILED
    assert str(bundled / SAMPLE_PHOTO) in capsys.readouterr().err


def _run_entry(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The frozen app's entry script, unfrozen, in a process of its own as a build runs it."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TMPDIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, str(ENTRY_SCRIPT), "--self-test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_entry_script_enhances_then_starts_qt(bundled, tmp_path) -> None:
    finished = _run_entry(tmp_path)
    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    wrote = next(line for line in lines if line.startswith("self-test: wrote "))
    written = Path(wrote.removeprefix("self-test: wrote ").split(" (")[0])
    assert written.is_relative_to(tmp_path) and not written.parent.exists()  # cleaned up
    assert lines[-1].startswith("self-test: Qt ") and "offscreen" in lines[-1]


def test_entry_script_exits_1_without_starting_qt_when_enhancing_fails(resources, tmp_path) -> None:
    finished = _run_entry(tmp_path)
    assert finished.returncode == 1
    assert "bundled weights not found" in finished.stderr
    assert "Qt" not in finished.stdout
