"""scripts/lib/venv.sh, which scripts/run and scripts/test source: recovering from a venv whose
creation failed half way (on Debian without python3-venv, `python -m venv` leaves a Python
without pip behind)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The setup script and pyproject.toml in a folder of their own, as a checkout has them."""
    shutil.copytree(REPO_ROOT / "scripts", tmp_path / "scripts")
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def _half_made_venv(folder: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)


def _bash(checkout: Path, script: str) -> subprocess.CompletedProcess[str]:
    source = f"source {checkout / 'scripts/lib/venv.sh'}\n"
    return subprocess.run(
        ["bash", "-c", source + script], capture_output=True, text=True, timeout=60
    )


def test_a_venv_without_pip_is_not_usable(checkout: Path) -> None:
    _half_made_venv(checkout / ".venv")
    assert _bash(checkout, 'venv_usable "$VENV"').returncode == 1


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="the tests do not run in a venv")
def test_the_venv_running_the_tests_is_usable(checkout: Path) -> None:
    assert _bash(checkout, f"venv_usable {sys.prefix}").returncode == 0


def test_a_half_made_venv_is_made_again_and_a_failed_one_removed(checkout: Path) -> None:
    """Set-up meets the leftover venv, starts over, and fails again (python3-venv still
    missing): the leftover must be gone, so that the run after the fix starts clean."""
    venv = checkout / ".venv"
    _half_made_venv(venv)
    calls = checkout / "calls.txt"
    failing_python = checkout / "python-without-venv"
    failing_python.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 1\n')
    failing_python.chmod(0o755)
    result = _bash(checkout, f"find_python() {{ echo {failing_python}; }}\nensure_venv ''")
    assert result.returncode == 1
    assert "sudo apt install python3-venv" in result.stderr
    assert calls.read_text().split() == ["-m", "venv", str(venv)]
    assert not venv.exists()
