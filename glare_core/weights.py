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
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from glare_core.config import GlareConfig, load_config
from glare_core.errors import ConfigError, WeightsError
from glare_core.official_keys import (
    infer_official_config,
    is_official_generator,
    is_official_vqgan,
    rename_official_generator,
    rename_official_vqgan,
)

logger = logging.getLogger(__name__)

CONFIG_METADATA_KEY = "glare_config"
FORMAT_METADATA_KEY = "format"
FORMAT_NAME = "glare-studio-weights/1"
#: the two files of an official GLARE release, by their names there
OFFICIAL_GENERATOR = "net_G.pth"
OFFICIAL_VQGAN = "vqgan.pkl"
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
    save_file(tensors, str(path), metadata=metadata)


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
    """Whether ``path`` is a safetensors file, by its content where that tells (a Glare
    Studio file saved as ``.pth``, a checkpoint named ``.safetensors``), else by its name
    (so that a damaged file is reported as the kind it claims to be)."""
    offset, marker = _SAFETENSORS_HEADER_START
    with path.open("rb") as handle:
        start = handle.read(offset + len(marker))
    if start[offset:] == marker:
        return True
    return not start.startswith(_TORCH_FILE_STARTS) and path.suffix == ".safetensors"


def _read_torch(path: Path) -> dict[str, torch.Tensor]:
    try:
        with path.open("rb") as handle:  # a file, not a name: torch goes by content alone
            data = torch.load(handle, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or pickled files
        raise WeightsError(
            f"{path}: not a PyTorch weights file we can read safely ({exc})"
        ) from exc
    for wrapper in ("params_ema", "params", "state_dict"):
        if isinstance(data, Mapping) and isinstance(data.get(wrapper), Mapping):
            data = data[wrapper]
    if not isinstance(data, Mapping) or not all(torch.is_tensor(v) for v in data.values()):
        raise WeightsError(f"{path}: does not hold a flat state dict of tensors")
    return {re.sub(r"^module\.", "", key): value for key, value in data.items()}


def read_state(paths: Sequence[str | Path]) -> tuple[dict[str, torch.Tensor], GlareConfig | None]:
    """All tensors of ``paths`` under our key names, and the embedded config if any."""
    if not paths:
        raise WeightsError("no weights file given")
    state: dict[str, torch.Tensor] = {}
    embedded: GlareConfig | None = None
    official_parts: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise WeightsError(f"{path}: no such weights file")
        if _holds_safetensors(path):
            tensors, embedded = _read_safetensors(path)
            state.update(tensors)
            continue
        tensors = _read_torch(path)
        if is_official_generator(tensors):
            state.update(rename_official_generator(tensors))
            official_parts[OFFICIAL_GENERATOR] = path
        elif is_official_vqgan(tensors):
            state.update(rename_official_vqgan(tensors))
            official_parts[OFFICIAL_VQGAN] = path
        else:
            raise WeightsError(
                f"{path}: neither an official GLARE net_G nor VQGAN checkpoint "
                f"(first keys: {', '.join(list(tensors)[:3])})"
            )
    if len(official_parts) == 1 and embedded is None:
        _refuse_half_an_official_release(official_parts)
    return state, embedded


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
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if keys:
            shown = ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")
            problems.append(f"{len(keys)} {label}: {shown}")
    if problems:
        raise WeightsError(f"{source} do not fit {architecture}: " + "; ".join(problems))


def build_model(
    paths: Sequence[str | Path], config: str | Path | GlareConfig | None = None
) -> torch.nn.Module:
    """A :class:`GlareNet` in eval mode with the weights of ``paths`` loaded strictly."""
    from glare_core.model.glare import GlareNet

    state, embedded = read_state(paths)
    if isinstance(config, GlareConfig):
        cfg = config
    elif config is not None:
        cfg = load_config(config)
    else:
        cfg = embedded or infer_official_config(state)
    model = GlareNet(cfg)
    names = ", ".join(Path(path).name for path in paths)
    architecture = cfg.name if config is None or isinstance(config, GlareConfig) else config
    check_state(model, state, f"the weights in {names}", f"the architecture of {architecture}")
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    logger.info(
        "loaded weights from %s (architecture: %s)", ", ".join(map(str, paths)), architecture
    )
    return model.eval()


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
