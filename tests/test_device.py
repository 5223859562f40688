"""Device choice: the order of preference, refusals, and the thread count."""

from __future__ import annotations

import logging

import pytest
import torch

from glare_core import device as device_module
from glare_core.device import select_device
from glare_core.errors import DeviceError


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def only(monkeypatch):
    """Pretend this machine has exactly the accelerators named."""

    def pretend(*names: str) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: "cuda" in names)
        monkeypatch.setattr(device_module, "_mps_available", lambda: "mps" in names)

    return pretend


def test_cpu_is_always_available() -> None:
    assert select_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize(
    ("present", "expected"),
    [((), "cpu"), (("mps",), "mps"), (("cuda",), "cuda"), (("cuda", "mps"), "cuda")],
)
def test_auto_prefers_cuda_then_mps_then_cpu(only, present, expected) -> None:
    only(*present)
    assert select_device("auto").type == expected


def test_asking_for_a_missing_cuda_is_an_error(only) -> None:
    only("mps")
    with pytest.raises(DeviceError, match="cuda .*not available"):
        select_device("cuda")


def test_unknown_device_names_are_refused() -> None:
    with pytest.raises(DeviceError, match="unknown device 'gpu'"):
        select_device("gpu")


def test_threads_are_set_and_logged(restore_threads, caplog) -> None:
    wanted = 1 if torch.get_num_threads() > 1 else 2
    with caplog.at_level(logging.INFO, logger="glare_core.device"):
        select_device("cpu", threads=wanted)
    assert torch.get_num_threads() == wanted
    assert f"device: cpu (asked: cpu), CPU threads: {wanted}" in caplog.text


def test_no_thread_count_goes_back_to_torchs_own(restore_threads) -> None:
    """The app's Settings back to "automatic" kept an earlier count until a restart, and its
    exports then differed from `glare enhance`'s by up to 3 levels."""
    other = 1 if device_module.DEFAULT_THREADS > 1 else 2
    select_device("cpu", threads=other)
    select_device("cpu")
    assert torch.get_num_threads() == device_module.DEFAULT_THREADS != other


def test_zero_threads_are_refused() -> None:
    with pytest.raises(DeviceError, match="at least 1"):
        select_device("cpu", threads=0)


@pytest.mark.parametrize("threads", [2.5, "2", True])
def test_a_thread_count_that_is_no_whole_number_is_refused(threads) -> None:
    """2.5 ended in a raw error from inside torch."""
    with pytest.raises(DeviceError, match="must be a whole number"):
        select_device("cpu", threads=threads)
