"""Folders of paired photos, matched by file stem: a data set's ``low/`` and ``high/``, or
``glare eval``'s predictions and references.

One rule for training, validation and scoring: any format :mod:`glare_core.imageio` reads,
EXIF orientation applied, ``name.jpg`` matched with ``name.png``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from glare_core.errors import GlareError

#: the sub-folders of a folder of pairs: low-light photos and their normal-light references
LOW_FOLDER, HIGH_FOLDER = "low", "high"
#: how many unmatched names an error lists
LISTED_NAMES = 5


class PairPaths(NamedTuple):
    name: str  #: the first folder's file name
    first: Path
    second: Path


def natural_key(name: str) -> list[int | str]:
    """Sorts "2" before "10"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def images_by_stem(folder: Path) -> dict[str, Path]:
    """The images of ``folder`` (not its sub-folders) by file stem."""
    from glare_core.batch import iter_images

    if not folder.is_dir():
        raise GlareError(f"not a folder: {folder}")
    by_stem: dict[str, Path] = {}
    for path in iter_images(folder, recursive=False):
        other = by_stem.setdefault(path.stem, path)
        if other != path:  # pairs are matched by stem: one of them would go unmatched
            raise GlareError(f"{other.name} and {path.name} in {folder} share one name")
    return by_stem


def _listed(stems: set[str], images: dict[str, Path]) -> str:
    names = [images[stem].name for stem in sorted(stems, key=natural_key)]
    more = f" and {len(names) - LISTED_NAMES} more" if len(names) > LISTED_NAMES else ""
    return ", ".join(names[:LISTED_NAMES]) + more


def matched_pairs(
    first_dir: Path, second_dir: Path, *, every_second: bool = False
) -> list[PairPaths]:
    """Every image of ``first_dir`` with its namesake in ``second_dir``, in natural order.

    An image of ``first_dir`` without a partner is an error, and so is one of ``second_dir``
    when ``every_second``: a mean over some pairs would pass for the whole set's.
    """
    firsts = images_by_stem(first_dir)
    seconds = images_by_stem(second_dir)
    if not firsts:
        raise GlareError(f"no images in {first_dir}")
    unmatched = set(firsts) - set(seconds)
    if unmatched:
        raise GlareError(
            f"{len(unmatched)} image(s) of {first_dir} have no partner in {second_dir}: "
            f"{_listed(unmatched, firsts)}"
        )
    extra = set(seconds) - set(firsts)
    if every_second and extra:
        raise GlareError(
            f"{len(extra)} image(s) of {second_dir} have no partner in {first_dir}: "
            f"{_listed(extra, seconds)}"
        )
    return [
        PairPaths(firsts[stem].name, firsts[stem], seconds[stem])
        for stem in sorted(firsts, key=natural_key)
    ]
