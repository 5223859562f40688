"""Choose the compute device and the number of CPU threads, and say which was chosen."""

from __future__ import annotations

import logging

import torch

from glare_core.errors import DeviceError

log = logging.getLogger(__name__)

DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")
#: torch's own choice, read before anything changes it: ``threads=None`` goes back to it (the
#: app may have asked for another count earlier in the same process)
DEFAULT_THREADS = torch.get_num_threads()


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def _available(name: str) -> bool:
    if name == "cuda":
        return torch.cuda.is_available()
    if name == "mps":
        return _mps_available()
    return name == "cpu"


def _best_available() -> str:
    for name in ("cuda", "mps"):
        if _available(name):
            return name
    return "cpu"


def select_device(name: str = "auto", threads: int | None = None) -> torch.device:
    """Return the device called ``name``; ``auto`` prefers CUDA, then Apple's MPS, then the CPU.

    ``threads`` sets how many CPU threads torch uses; ``None`` is torch's default, which is
    the number of physical cores (hyper-threads slow convolutions down rather than up).
    Raises :class:`DeviceError` for an unknown name or a device this machine does not have.
    """
    if name not in DEVICE_NAMES:
        raise DeviceError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_NAMES)}")
    chosen = _best_available() if name == "auto" else name
    if not _available(chosen):
        raise DeviceError(f"{chosen} was asked for but is not available on this machine")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)):
        raise DeviceError(f"the number of threads must be a whole number, not {threads!r}")
    if threads is not None and threads < 1:
        raise DeviceError(f"the number of threads must be at least 1, not {threads}")
    torch.set_num_threads(DEFAULT_THREADS if threads is None else threads)
    device = torch.device(chosen)
    log.info("device: %s (asked: %s), CPU threads: %d", device, name, torch.get_num_threads())
    return device
