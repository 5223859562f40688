"""Loading and saving GLARE weights.

Our format is one safetensors file whose metadata holds the :class:`GlareConfig`
as JSON (no pickle). Official GLARE releases come as two PyTorch files: ``net_G.pth``
(conditional encoder, flow, fusion decoder) and ``vqgan.pkl`` (the stage-1 VQGAN).
They are read with ``torch.load(weights_only=True)``, recognised by their keys,
renamed to our module names, and checked strictly: every tensor inference needs
must be present with the right shape, and only known training-only tensors may be
left over. When no config is given, the architecture is inferred from tensor
shapes (as spandrel does), because the official code hard-codes some widths.
"""

from __future__ import annotations

import logging
import pickle
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from glare_core.atomic import atomic_write_bytes
from glare_core.config import OFFICIAL_CONFIG_SUFFIXES, GlareConfig, load_config
from glare_core.errors import ConfigError, WeightsError, one_line
from glare_core.official_keys import (
    infer_official_config,
    is_official_generator,
    is_official_vqgan,
    rename_official_generator,
    rename_official_vqgan,
)

if TYPE_CHECKING:
    from glare_core.model.glare import GlareNet

logger = logging.getLogger(__name__)

CONFIG_METADATA_KEY = "glare_config"
FORMAT_METADATA_KEY = "format"
FORMAT_NAME = "glare-studio-weights/1"
#: what each ``glare train`` stage writes its weights to, in its output folder, when it finishes
EXPORT_NAME = "glare.safetensors"
#: the two files of an official GLARE release, by their names there
OFFICIAL_GENERATOR = "net_G.pth"
OFFICIAL_VQGAN = "vqgan.pkl"
#: the parts of :class:`GlareNet` that every file of ours holds tensors of
GLARE_PARTS = frozenset({"vqgan", "cond_encoder", "flow", "fusion_decoder"})
#: keys under which training programs store a state dict (BasicSR, whose official GLARE
#: files use "params"; Lightning and plain scripts); the first found is unwrapped first
WRAPPERS = ("params_ema", "params", "state_dict", "model", "net_g")
#: our VQGAN encoder is only needed for stage-1/2 training: inference works without it
OPTIONAL_PREFIXES = (
    "vqgan.encoder.",
    "vqgan.quant_conv.",
    "vqgan.decoder.norm_out.",
    "vqgan.decoder.conv_out.",
)


def save_weights(
    model: torch.nn.Module, config: GlareConfig, path: str | Path, dtype: torch.dtype | None = None
) -> None:
    """Write ``model``'s weights and ``config`` to a safetensors file (optionally cast)."""
    tensors = {
        key: (value.to(dtype) if dtype is not None and value.is_floating_point() else value)
        .detach()
        .cpu()
        .contiguous()
        for key, value in model.state_dict().items()
    }
    metadata = {CONFIG_METADATA_KEY: config.to_json(), FORMAT_METADATA_KEY: FORMAT_NAME}
    # in memory, then atomically: a reader never sees half a file, and the file gets the
    # usual permissions (safetensors' own writer makes it readable by its owner alone)
    atomic_write_bytes(Path(path), save(tensors, metadata=metadata))


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], GlareConfig | None]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from exc
    config_json = metadata.get(CONFIG_METADATA_KEY)
    if not config_json:
        return tensors, None
    try:
        return tensors, GlareConfig.from_json(config_json)
    except ConfigError as exc:
        raise WeightsError(f"{path}: the config in its metadata is malformed ({exc})") from exc


#: a safetensors file starts with its JSON header's length (8 bytes) and then the header
_SAFETENSORS_HEADER_START = (8, b"{")
#: how torch's files start: a zip archive (torch.save since 1.6), or a pickle
_TORCH_FILE_STARTS = (b"PK\x03\x04", b"\x80")


def _holds_safetensors(path: Path) -> bool:
    """Whether ``path`` is a safetensors file, else a torch file, by its content where that
    tells (a Glare Studio file saved as ``.pth``, a checkpoint named ``.safetensors``), else
    by its name (so that a damaged file is reported as the kind it claims to be). A file of
    neither kind, an image say, is refused here: torch's unpickler would refuse it as if it
    held code."""
    offset, marker = _SAFETENSORS_HEADER_START
    try:
        with path.open("rb") as handle:
            start = handle.read(offset + len(marker))
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read it ({exc.strerror})") from exc
    if start[offset:] == marker:
        return True
    if start.startswith(_TORCH_FILE_STARTS):
        return False
    if path.suffix == ".safetensors":
        return True
    if not start:
        return False  # the torch reader says the file is empty
    is_config = path.suffix.lower() in OFFICIAL_CONFIG_SUFFIXES
    hint = "; a config goes to --config" if is_config else ""
    raise WeightsError(
        f"{path}: not a PyTorch weights file (neither a zip archive nor a pickle){hint}"
    )


def _read_torch(path: Path) -> dict[str, torch.Tensor]:
    if path.stat().st_size == 0:
        raise WeightsError(f"{path}: the file is empty")
    try:
        with path.open("rb") as handle, warnings.catch_warnings():
            # torch warns about pickles as it refuses them: the error below says it once
            warnings.simplefilter("ignore")
            # a file, not a name: torch goes by content alone
            data = torch.load(handle, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # what weights_only raises for anything but data
        raise WeightsError(
            f"{path}: refused: it holds Python objects besides tensors, and loading those "
            "could run code in it"
        ) from exc
    except Exception as exc:  # torch raises many types for foreign files
        raise WeightsError(
            f"{path}: not a PyTorch weights file ({one_line(str(exc)) or type(exc).__name__})"
        ) from exc
    _refuse_a_training_checkpoint(path, data)
    for wrapper in WRAPPERS:
        if isinstance(data, Mapping) and isinstance(data.get(wrapper), Mapping):
            data = data[wrapper]
    if not isinstance(data, Mapping) or not all(
        isinstance(k, str) and torch.is_tensor(v) for k, v in data.items()
    ):
        raise WeightsError(
            f"{path}: does not hold a flat state dict of tensors, nor one under any of "
            f"{', '.join(WRAPPERS)}"
        )
    return dict(data)


def _refuse_a_training_checkpoint(path: Path, data: object) -> None:
    """A checkpoint of ``glare train`` holds one stage's part of the network with the
    optimizer's state; the stage writes weights to load when it finishes."""
    if not (isinstance(data, Mapping) and {"model", "optimizer", "step"} <= data.keys()):
        return
    config = data.get("config")
    if not (isinstance(config, Mapping) and "stage" in config):
        return  # another program's checkpoint: its "model" may be a state dict
    exported = path.parent / EXPORT_NAME
    advice = (
        f"load {exported}, which the run wrote when it finished"
        if exported.is_file()
        else f"resume the run (glare train --resume) and load the {EXPORT_NAME} it writes "
        "when it finishes"
    )
    raise WeightsError(
        f"{path}: a glare train checkpoint (stage {config['stage']}, step {data['step']}), "
        f"not weights: {advice}"
    )


def _as_paths(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """One weights file or several (an official release is two)."""
    return [Path(paths)] if isinstance(paths, str | Path) else [Path(path) for path in paths]


def read_state(
    paths: str | Path | Sequence[str | Path],
) -> tuple[dict[str, torch.Tensor], GlareConfig | None]:
    """All tensors of ``paths`` under our key names, and the embedded config if any."""
    if not paths:
        raise WeightsError("no weights file given")
    state: dict[str, torch.Tensor] = {}
    embedded: GlareConfig | None = None
    official_parts: dict[str, Path] = {}
    for path in _as_paths(paths):
        if path.is_dir():
            raise WeightsError(f"{path}: a folder, not a weights file")
        if not path.is_file():
            raise WeightsError(f"{path}: no such weights file")
        as_safetensors = _holds_safetensors(path)
        if as_safetensors:
            tensors, config = _read_safetensors(path)
            embedded = config or embedded
        else:
            tensors, config = _read_torch(path), None
        # saved from a model wrapped for several GPUs, in either format
        tensors = {re.sub(r"^module\.", "", key): value for key, value in tensors.items()}
        # official tensors may come converted to safetensors, without our config
        if config is None and is_official_generator(tensors):
            _note_official_part(official_parts, OFFICIAL_GENERATOR, path)
            state.update(rename_official_generator(tensors))
        elif config is None and is_official_vqgan(tensors):
            _note_official_part(official_parts, OFFICIAL_VQGAN, path)
            state.update(rename_official_vqgan(tensors))
        elif as_safetensors and (config is not None or _names_our_parts(tensors)):
            state.update(tensors)
        else:
            raise WeightsError(
                f"{path}: neither Glare Studio weights nor an official GLARE net_G or VQGAN "
                f"checkpoint (first keys: {', '.join(list(tensors)[:3])})"
            )
    if len(official_parts) == 1 and embedded is None:
        _refuse_half_an_official_release(official_parts)
    return state, embedded


def _names_our_parts(tensors: Mapping[str, torch.Tensor]) -> bool:
    """Whether ``tensors`` use our names (a Glare Studio file whose config was stripped):
    those of every part ("flow." or "vqgan." alone are common names of other networks')."""
    return GLARE_PARTS <= {key.split(".", 1)[0] for key in tensors}


def _note_official_part(given: dict[str, Path], part: str, path: Path) -> None:
    """Record ``path`` as the official ``part``; two files of one part are refused (the
    later one would silently replace the earlier)."""
    if part in given:
        raise WeightsError(
            f"{given[part]} and {path} are both an official GLARE {part} checkpoint; "
            "give one of each part"
        )
    given[part] = path


def _refuse_half_an_official_release(given: Mapping[str, Path]) -> None:
    """Official GLARE weights come as two files, and neither runs without the other."""
    ((part, path),) = given.items()
    other = OFFICIAL_VQGAN if part == OFFICIAL_GENERATOR else OFFICIAL_GENERATOR
    raise WeightsError(
        f"{path} is the official GLARE {part} checkpoint alone; give its {other} file too"
    )


def check_state(
    model: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    source: str = "the weights",
    architecture: str = "the architecture",
) -> None:
    """Raise a :class:`WeightsError` naming missing, unexpected or mis-shaped tensors of
    ``state`` (read from ``source``) for ``model`` (described as ``architecture``)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.startswith(OPTIONAL_PREFIXES)]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    # shapes first: a width that differs tells most about which architecture the file holds
    for label, keys in (("wrong shape", wrong), ("missing", missing), ("unexpected", unexpected)):
        if keys:
            shown = ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")
            problems.append(f"{len(keys)} {label}: {shown}")
    if problems:
        raise WeightsError(f"{source} do not fit {architecture}: " + "; ".join(problems))


def _inferred_config(state: Mapping[str, torch.Tensor], names: str) -> GlareConfig:
    """The architecture the tensors' shapes give, or why they give none, naming the files."""
    try:
        return infer_official_config(state)
    except WeightsError as exc:
        raise WeightsError(f"{names}: {exc}") from None


def build_model(
    paths: str | Path | Sequence[str | Path], config: str | Path | GlareConfig | None = None
) -> GlareNet:
    """A :class:`GlareNet` in eval mode with the weights of ``paths`` loaded strictly."""
    paths = _as_paths(paths)
    state, embedded = read_state(paths)
    names = ", ".join(path.name for path in paths)
    if isinstance(config, GlareConfig):
        cfg = config
    elif config is not None:
        cfg = load_config(config)
    else:
        cfg = embedded or _inferred_config(state, names)
    architecture = cfg.name if config is None or isinstance(config, GlareConfig) else config
    model = _built(
        cfg,
        f"{names}: the architecture of {architecture}",
        inferred=config is None and embedded is None,
    )
    try:
        check_state(model, state, f"the weights in {names}", f"the architecture of {architecture}")
    except WeightsError as exc:
        if config is None:
            raise
        raise WeightsError(
            f"{exc}. Without a config named, the file's own config (or its tensors' shapes) "
            "gives the architecture"
        ) from exc
    _refuse_non_finite(state, names)
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    _check_it_runs(model.eval(), f"the weights in {names}")
    logger.info(
        "loaded weights from %s (architecture: %s)", ", ".join(map(str, paths)), architecture
    )
    return model


@torch.inference_mode()
def _check_it_runs(model: GlareNet, described: str) -> None:
    """A tiny image through every decoder: parts whose shapes each pass the checks but
    disagree with one another (a net_G.pth and a vqgan.pkl of different releases) fail
    here, at load, and not on every photo."""
    side = 2 * max(model.config.input.pad_multiple, model.downscale)
    tiny = torch.zeros(1, 3, side, side)
    decoders = (False, True) if model.noisy_path is not None else (False,)
    try:
        for noisy in decoders:
            model(tiny, noisy=noisy)
    except Exception as exc:  # whatever the network raises, these weights cannot run
        raise WeightsError(
            f"{described} do not make one network that runs: its parts disagree "
            f"({one_line(str(exc)) or type(exc).__name__})"
        ) from exc


def _built(config: GlareConfig, described: str, inferred: bool) -> GlareNet:
    """The network ``config`` describes; a :class:`WeightsError` when its numbers cannot make
    one (a hand-edited config, or a file whose config had to be read from its tensors)."""
    from glare_core.model.glare import GlareNet

    try:
        return GlareNet(config)
    except (ValueError, TypeError, RuntimeError, ZeroDivisionError, IndexError) as exc:
        hint = "; the file holds no config: name one (--config)" if inferred else ""
        raise WeightsError(f"{described} cannot be built ({one_line(str(exc))}){hint}") from exc


def _refuse_non_finite(state: Mapping[str, torch.Tensor], names: str) -> None:
    """Weights with NaN or infinite values make every result fail: say so once, at load."""
    for key, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise WeightsError(f"the weights in {names} hold NaN or infinite values ({key})")


def average_weights(models: Sequence[torch.nn.Module]) -> dict[str, torch.Tensor]:
    """The tensor-by-tensor mean of ``models``' weights: a "model soup".

    Meaningful only for fine-tunes of one network, which stay in one basin of the loss:
    averaging such weights keeps what each fine-tune learnt with less of its drift (Wortsman
    et al., 2022). Integer tensors are not averaged and must agree.
    """
    if not models:
        raise ValueError("no models to average")
    states = [model.state_dict() for model in models]
    keys = states[0].keys()
    if any(state.keys() != keys for state in states):
        raise WeightsError("the models to average have different tensors")
    averaged = {}
    for key in keys:
        tensors = [state[key] for state in states]
        if tensors[0].is_floating_point():
            averaged[key] = torch.stack([t.float() for t in tensors]).mean(0).to(tensors[0].dtype)
        elif all(torch.equal(t, tensors[0]) for t in tensors):
            averaged[key] = tensors[0]
        else:
            raise WeightsError(f"{key}: integer tensors differ between the models to average")
    return averaged
