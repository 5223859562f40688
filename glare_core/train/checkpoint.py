"""Checkpoint files: atomic writes, finding the newest, pruning, and random-generator state.

A checkpoint is a plain ``torch.save`` dictionary of tensors, numbers, strings and tuples, so
it loads with ``weights_only=True`` (no pickled code runs). Files are named
``step-00001234.pt``; a write goes to a hidden temporary file that replaces the target only
when complete (:mod:`glare_core.atomic`), so a run killed mid-write leaves the previous
checkpoints intact.
"""

from __future__ import annotations

import logging
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from glare_core.atomic import atomic_write, is_partial_name
from glare_core.errors import ConfigError, GlareError

log = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "step-"
CHECKPOINT_SUFFIX = ".pt"
_STEP_DIGITS = 8
_NAME_PATTERN = re.compile(rf"^{CHECKPOINT_PREFIX}(\d+){re.escape(CHECKPOINT_SUFFIX)}$")


def checkpoint_path(out_dir: Path, step: int) -> Path:
    return out_dir / f"{CHECKPOINT_PREFIX}{step:0{_STEP_DIGITS}d}{CHECKPOINT_SUFFIX}"


def list_checkpoints(out_dir: Path) -> list[Path]:
    """The checkpoints in ``out_dir``, oldest step first."""
    if not out_dir.is_dir():
        return []
    found = []
    for path in out_dir.iterdir():
        match = _NAME_PATTERN.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def latest_checkpoint(out_dir: Path) -> Path | None:
    checkpoints = list_checkpoints(out_dir)
    return checkpoints[-1] if checkpoints else None


def remove_partial_checkpoints(out_dir: Path) -> None:
    """Delete what checkpoint writes killed mid-way (SIGKILL, power loss) left behind: the
    hidden temporary files that never replaced their target."""
    if not out_dir.is_dir():
        return
    for path in out_dir.iterdir():
        if is_partial_name(path.name) and path.name.startswith(f".{CHECKPOINT_PREFIX}"):
            log.info("removing an unfinished checkpoint write: %s", path.name)
            path.unlink(missing_ok=True)


def check_stage(path: Path, saved: dict[str, Any], stage: str) -> None:
    """Refuse the checkpoint at ``path`` (its ``saved`` config) to a run of another stage."""
    if saved.get("stage") != stage:
        raise ConfigError(
            f"{path} is a checkpoint of stage {saved.get('stage')}, not {stage}: "
            "choose the output folder of a run of this stage"
        )


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as temp:
        torch.save(state, temp)
    log.info("checkpoint written: %s", path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The dictionary stored at ``path``, on the CPU (the trainer moves what it needs)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - garbage trips the unpickler in any way
        # (IndexError, KeyError, UnpicklingError, ...): all of them mean one thing here
        # not torch's reason: its advice (weights_only=False) would run code from the file
        reason = error.strerror if isinstance(error, OSError) and error.strerror else None
        raise GlareError(
            f"{path}: cannot read checkpoint ({reason or 'damaged, or not a checkpoint'}); "
            "delete it to resume from the one before"
        ) from None


def prune_checkpoints(out_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints."""
    for path in list_checkpoints(out_dir)[:-keep] if keep > 0 else []:
        path.unlink(missing_ok=True)


def capture_rng_state() -> dict[str, Any]:
    """The state of Python's, NumPy's and torch's global generators (CUDA's too, if present)."""
    name, keys, position, has_gauss, cached_gauss = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached_gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        # this process's GPU only: reading every GPU's would start a CUDA context on each,
        # from each of torchrun's processes, and a CPU run would start one for nothing
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, position, has_gauss, cached_gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached_gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(_this_gpus(state["cuda"]))


def _this_gpus(cuda: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    """The generator state of this process's GPU; earlier checkpoints hold every GPU's."""
    if isinstance(cuda, list | tuple):
        return cuda[min(torch.cuda.current_device(), len(cuda) - 1)]
    return cuda
