"""Weights files users bring: what loads, and the one-line reason for what does not."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from glare_core.config import load_config, preset
from glare_core.errors import ConfigError, WeightsError
from glare_core.model.glare import GlareNet
from glare_core.resources import bundled_weights_path, sample_photo_path
from glare_core.weights import (
    CONFIG_METADATA_KEY,
    EXPORT_NAME,
    build_model,
    read_state,
    save_weights,
)


@pytest.fixture(scope="module")
def bundled() -> tuple[dict[str, torch.Tensor], dict]:
    """The bundled file's tensors and its config as a JSON dict."""
    path = bundled_weights_path()
    _, config = read_state(path)
    assert config is not None
    return load_file(str(path)), json.loads(config.to_json())


def _with_config(folder: Path, tensors: dict[str, torch.Tensor], config: dict | None) -> Path:
    path = folder / "edited.safetensors"
    metadata = None if config is None else {CONFIG_METADATA_KEY: json.dumps(config)}
    save_file(tensors, str(path), metadata=metadata)
    return path


class _RunsCode:
    """A pickle that would create a file when unpickled with code allowed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "net_G.pth"
    torch.save({"params": _RunsCode(marker)}, path)
    with pytest.raises(WeightsError, match="refused: it holds Python objects besides tensors"):
        build_model(path)
    assert not marker.exists()
    with path.open("wb") as handle:  # a raw pickle, not torch's zip archive
        pickle.dump(_RunsCode(marker), handle)
    with pytest.raises(WeightsError, match="net_G.pth: refused"):
        build_model(path)
    assert not marker.exists()


def test_an_image_picked_as_weights_is_not_called_a_pickle_with_code(tmp_path) -> None:
    """The unpickler's refusal of its first byte read as if the file held code."""
    picked = tmp_path / "photo.pth"
    picked.write_bytes(sample_photo_path().read_bytes())
    with pytest.raises(WeightsError, match="photo.pth: not a PyTorch weights file"):
        build_model(picked)


def test_an_empty_file_and_a_folder_are_named_as_such(tmp_path) -> None:
    empty = tmp_path / "empty.pth"
    empty.touch()
    with pytest.raises(WeightsError, match="empty.pth: the file is empty"):
        build_model(empty)
    with pytest.raises(WeightsError, match="a folder, not a weights file"):
        build_model(tmp_path)


def test_a_training_checkpoint_points_to_the_weights_its_run_writes(tmp_path) -> None:
    checkpoint = tmp_path / "step-00000006.pt"
    state = {"model": {}, "optimizer": {}, "step": 6, "config": {"stage": "flow"}}
    torch.save(state, checkpoint)
    with pytest.raises(WeightsError, match=r"glare train checkpoint \(stage flow, step 6\)") as err:
        build_model(checkpoint)
    assert "glare train --resume" in str(err.value)
    (tmp_path / EXPORT_NAME).touch()  # a finished run's weights, beside its checkpoints
    with pytest.raises(WeightsError, match=f"load {tmp_path / EXPORT_NAME}, which the run"):
        build_model(checkpoint)


def test_weights_holding_nan_are_refused_when_loaded(bundled, tmp_path) -> None:
    tensors, config = bundled
    damaged = dict(tensors)
    key = next(key for key in damaged if key.startswith("fusion_decoder."))
    damaged[key] = damaged[key].clone()
    damaged[key].view(-1)[0] = float("nan")
    path = _with_config(tmp_path, damaged, config)
    with pytest.raises(WeightsError, match=f"hold NaN or infinite values \\({key}\\)"):
        build_model(path)


def test_weights_without_a_config_ask_for_one_and_load_with_it(bundled, tmp_path) -> None:
    """A plain ``save_file(state_dict)`` export: the official architecture read from its
    shapes does not fit the compact model's norms; naming the config loads it."""
    tensors, _ = bundled
    path = _with_config(tmp_path, tensors, None)
    with pytest.raises(WeightsError, match=r"cannot be built .*holds no config: name one"):
        build_model(path)
    model = build_model(path, "compact")
    assert torch.equal(model.state_dict()[next(iter(tensors))], next(iter(tensors.values())))


@pytest.mark.parametrize(
    ("section", "key", "value", "reason"),
    [
        ("flow", "hidden_channels", "32", "FlowConfig.hidden_channels must be a whole number"),
        ("noisy_path", "enabled", "no", "NoisyPathConfig.enabled must be true or false"),
        ("input", "exposure_floor", float("nan"), "InputConfig.exposure_floor must be a finite"),
        ("input", "pad_multiple", 0, "input.pad_multiple must be 1 or more"),
        ("input", "max_working_pixels", -5, "input.max_working_pixels must be 1 or more"),
        ("input", "log_eps", 0, "input.log_eps must be above 0"),
        # building a network of that many blocks ran for ever
        ("flow", "coupling_steps", 10**400, "FlowConfig.coupling_steps must be a whole number"),
        # and of a billion, or a billion codes, filled the memory
        ("flow", "coupling_steps", 10**9, "flow.coupling_steps must be 1 to 256, not 1000000000"),
        ("vqgan", "codebook_size", 10**9, "vqgan.codebook_size must be 1 to 1048576"),
        ("flow", "hidden_channels", -1, "flow.hidden_channels must be 1 to 8192, not -1"),
    ],
)
def test_a_hand_edited_config_of_the_wrong_type_or_range_is_refused_when_loaded(
    bundled, tmp_path, section, key, value, reason
) -> None:
    tensors, config = bundled
    edited = json.loads(json.dumps(config))
    edited[section][key] = value
    path = _with_config(tmp_path, tensors, edited)
    with pytest.raises(WeightsError, match=f"the config in its metadata is malformed.*{reason}"):
        build_model(path)


@pytest.mark.parametrize(
    ("section", "key", "value", "reason"),
    [
        ("vqgan", "autoencoder", {"channel_mult": []}, "the config .* is malformed.*levels"),
        (
            "vqgan",
            "autoencoder",
            {"channel_mult": [1] * 17},
            "the config .* must be 1 to 16, not 17",
        ),
        (
            "vqgan",
            "autoencoder",
            {"channel_mult": [1, 2**14]},
            "the config .*channels x channel_mult must be 1 to 8192",
        ),
        ("vqgan", "autoencoder", {"norm_groups": 5}, "the architecture of .* cannot be built"),
    ],
)
def test_a_config_that_builds_no_network_is_refused_by_name(
    bundled, tmp_path, section, key, value, reason
) -> None:
    tensors, config = bundled
    edited = json.loads(json.dumps(config))
    edited[section][key].update(value)
    path = _with_config(tmp_path, tensors, edited)
    with pytest.raises(WeightsError, match=f"edited.safetensors: {reason}"):
        build_model(path)


def test_parts_whose_widths_disagree_are_refused_at_load(tmp_path) -> None:
    """Each part's tensors fit its own config, but the fusion decoder is twice as wide as the
    VQGAN decoder whose features it fuses (like a net_G.pth and a vqgan.pkl of different
    releases): it loaded, then failed on every photo with a traceback."""
    config = preset("compact")
    widths = dataclasses.replace(config.fusion_decoder.autoencoder, channels=32)
    config = dataclasses.replace(
        config, fusion_decoder=dataclasses.replace(config.fusion_decoder, autoencoder=widths)
    )
    path = tmp_path / "mixed.safetensors"
    save_weights(GlareNet(config), config, path)
    with pytest.raises(WeightsError, match="mixed.safetensors do not make one network"):
        build_model(path)


def test_an_official_config_with_a_fractional_count_is_refused(fixture_dir, tmp_path) -> None:
    """``K: 2.7`` was taken as 2 coupling steps."""
    config = tmp_path / "LOL.yml"
    text = (fixture_dir / "config.yml").read_text()
    config.write_text(text.replace("    K: 2 ", "    K: 2.7 "))
    with pytest.raises(ConfigError, match="LOL.yml: .*2.7 is not a whole number"):
        load_config(config)
    assert load_config(fixture_dir / "config.yml").flow.coupling_steps == 2


def test_an_official_config_that_is_not_text_is_refused_in_one_line(tmp_path) -> None:
    config = tmp_path / "LOL.yml"
    config.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ConfigError, match="LOL.yml: not an official GLARE config"):
        load_config(config)


def test_a_config_named_against_the_file_says_the_file_has_its_own(bundled, tmp_path) -> None:
    with pytest.raises(WeightsError, match="Without a config named, the file's own config") as err:
        build_model(bundled_weights_path(), "official")
    # the widths that differ come first: they tell which architecture the file holds
    assert str(err.value).index("wrong shape") < str(err.value).index("missing")


@pytest.mark.parametrize("prefix", ["", "module."])
def test_official_checkpoints_converted_to_safetensors_load(fixture_dir, tmp_path, prefix) -> None:
    """Also with the prefix of a model wrapped for several GPUs (it was stripped from torch
    files only, and the net_G then went unrecognised)."""
    originals = [fixture_dir / "net_G.pth", fixture_dir / "vqgan.pkl"]
    converted = []
    for path in originals:
        state = torch.load(path, map_location="cpu", weights_only=True)
        tensors = state.get("params", state)
        target = tmp_path / f"{path.stem}.safetensors"
        save_file({prefix + key: value.contiguous() for key, value in tensors.items()}, str(target))
        converted.append(target)
    expected, _ = read_state(originals)
    state, config = read_state(converted)
    assert config is None and state.keys() == expected.keys()
    assert all(torch.equal(state[key], expected[key]) for key in expected)


def test_two_files_of_one_official_part_are_refused(fixture_dir, tmp_path) -> None:
    """The later one silently replaced the earlier."""
    copy = tmp_path / "net_G-copy.pth"
    copy.write_bytes((fixture_dir / "net_G.pth").read_bytes())
    with pytest.raises(WeightsError, match="net_G-copy.pth are both an official GLARE net_G"):
        read_state([fixture_dir / "net_G.pth", copy, fixture_dir / "vqgan.pkl"])


def test_a_state_dict_under_a_model_key_loads_and_other_keys_are_refused(fixture_dir, tmp_path):
    generator = torch.load(fixture_dir / "net_G.pth", map_location="cpu", weights_only=True)
    wrapped = tmp_path / "net_G.pth"
    torch.save({"model": generator.get("params", generator), "epoch": 3}, wrapped)
    expected, _ = read_state([fixture_dir / "net_G.pth", fixture_dir / "vqgan.pkl"])
    state, _ = read_state([wrapped, fixture_dir / "vqgan.pkl"])
    assert state.keys() == expected.keys()
    odd = tmp_path / "odd.pth"
    torch.save({0: torch.zeros(1)}, odd)
    with pytest.raises(WeightsError, match="odd.pth: does not hold a flat state dict of tensors"):
        build_model(odd)


def test_saved_weights_are_readable_as_any_new_file_is(bundled, tmp_path) -> None:
    model = build_model(bundled_weights_path())
    path = tmp_path / "mine.safetensors"
    previous = os.umask(0o022)
    try:
        save_weights(model, model.config, path)
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o644
    assert read_state(path)[1] == model.config


@pytest.mark.parametrize(
    ("part", "key"),
    [
        ("net_G.pth", "RRDB.encoder.down.0.block.0.conv1.weight"),
        ("net_G.pth", "deformable_decoder.warp.0.dcn.conv_offset.weight"),
        ("net_G.pth", "deformable_decoder.conv_in.weight"),
        ("net_G.pth", "flowUpsamplerNet.layers.2.affine.fFeatures.0.weight"),
        ("vqgan.pkl", "decoder.conv_in.weight"),
        ("vqgan.pkl", "decoder.up.0.block.0.conv1.weight"),
    ],
)
def test_an_official_file_missing_a_tensor_that_tells_a_width_is_refused_by_name(
    fixture_dir, tmp_path, part, key
) -> None:
    """Most of these crashed with a KeyError naming our key (the app showed it as the whole
    message); the others named our key too, and no file."""
    edited = tmp_path / f"edited-{part}"
    state = torch.load(fixture_dir / part, map_location="cpu", weights_only=True)
    tensors = dict(state.get("params", state))
    del tensors[key]
    torch.save(tensors, edited)
    other = "vqgan.pkl" if part == "net_G.pth" else "net_G.pth"
    with pytest.raises(WeightsError) as caught:
        build_model([edited, fixture_dir / other])
    assert str(caught.value) == (
        f"edited-{part}, {other}: cannot infer the architecture: "
        f"{key} ({part}) is missing (or name a --config)"
    )


def test_a_safetensors_file_of_another_network_is_refused_as_such(tmp_path) -> None:
    """It was read as weights of ours and refused for a missing tensor, naming no file (and
    one whose names began "flow." was still taken for ours)."""
    for name, tensors in [
        ("classifier", {"0.weight": torch.zeros(8, 3, 3, 3), "0.bias": torch.zeros(8)}),
        ("normalizing_flow", {"flow.0.weight": torch.zeros(8, 3, 3, 3)}),
    ]:
        other = tmp_path / f"{name}.safetensors"
        save_file(tensors, str(other))
        with pytest.raises(WeightsError, match=rf"{name}.safetensors: neither Glare Studio"):
            build_model(other)


@pytest.mark.parametrize(
    ("part", "prefix", "tensors"),
    [
        ("net_G.pth", "RRDB.encoder.down.", "RRDB.encoder.down.* (net_G.pth)"),
        ("net_G.pth", "deformable_decoder.up.", "deformable_decoder.up.* (net_G.pth)"),
        ("net_G.pth", "flowUpsamplerNet.layers.", "flowUpsamplerNet.layers.* (net_G.pth)"),
        ("vqgan.pkl", "decoder.up.", "decoder.up.* (vqgan.pkl)"),
    ],
)
def test_an_official_file_missing_a_whole_part_is_refused_by_its_official_name(
    fixture_dir, tmp_path, part, prefix, tensors
) -> None:
    """They were named by our prefixes ("no cond_encoder.encoder.down.* tensors")."""
    edited = tmp_path / part
    state = torch.load(fixture_dir / part, map_location="cpu", weights_only=True)
    named = state.get("params", state)
    torch.save({key: value for key, value in named.items() if not key.startswith(prefix)}, edited)
    other = "vqgan.pkl" if part == "net_G.pth" else "net_G.pth"
    with pytest.raises(WeightsError, match=re.escape(f"no {tensors} tensors")):
        build_model([edited, fixture_dir / other])
