"""pyproject.toml lists every package by hand (see its comment); these tests keep it complete."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CODE_ROOTS = ("glare_core", "app")


@pytest.fixture(scope="module")
def setuptools_table() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _python_packages() -> set[str]:
    """Every folder under the code roots that holds Python modules, as a dotted name."""
    found = set()
    for root in CODE_ROOTS:
        for module in (REPO_ROOT / root).rglob("*.py"):
            folder = module.parent.relative_to(REPO_ROOT)
            if "__pycache__" not in folder.parts:
                found.add(".".join(folder.parts))
    return found


def test_every_package_is_listed(setuptools_table) -> None:
    missing = _python_packages() - set(setuptools_table["packages"])
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"


def test_listed_packages_exist(setuptools_table) -> None:
    mapped = setuptools_table["package-dir"]
    for package in setuptools_table["packages"]:
        folder = REPO_ROOT / mapped.get(package, package.replace(".", "/"))
        assert folder.is_dir(), f"{package}: no folder {folder}"
