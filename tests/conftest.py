"""Fixtures every test module may use: where the shared data lives. Qt runs without a display."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before any test module imports Qt: widgets are created on an offscreen platform.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]
#: the shared data checkout sits beside the repository (``/work/shared`` for ``/work/main``)
SHARED_DIR = REPO_ROOT.parent / "shared"


def _existing(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (expected beside the repository)")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _existing(SHARED_DIR)


@pytest.fixture(scope="session")
def pairs_dir(shared_dir: Path) -> Path:
    """``lowlight-pairs`` with ``train/`` and ``eval/``, each holding ``low/`` and ``high/``."""
    return _existing(shared_dir / "data" / "lowlight-pairs")


@pytest.fixture(scope="session")
def photos_dir(shared_dir: Path) -> Path:
    """Six real dark photos without references, up to 3840x2160."""
    return _existing(shared_dir / "data" / "photos")


@pytest.fixture(scope="session")
def fixture_dir(shared_dir: Path) -> Path:
    """The official GLARE parity fixture: a small random model, inputs and every intermediate."""
    return _existing(shared_dir / "fixtures" / "official-small")


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """An empty folder nobody may create files in, root included.

    chmod 555 does not stop root (CI containers often run as root); the immutable attribute
    does, where the file system and the container allow ``chattr``. Elsewhere the test skips.
    """
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        unlock = ["chmod", "755", str(folder)]
    elif subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        unlock = ["chattr", "-i", str(folder)]
    else:
        pytest.skip("running as root without chattr +i: cannot make a read-only folder")
    try:
        yield folder
    finally:  # even after a failed test, so that pytest can delete tmp_path
        subprocess.run(unlock, check=True)
