"""The ``glare`` command: help, exit codes, one-line errors, enhance and eval on real files.

The commands that need a network load the small official-format model of the parity fixture
(random weights, real architecture), so they run in about a second each.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glare_core import cli
from glare_core.cli import (
    EXIT_CANCELLED,
    EXIT_CANNOT_RUN,
    EXIT_OK,
    EXIT_SOME_FAILED,
    _darker_capture,
    main,
)
from glare_core.eight_bit import from_uint8
from glare_core.errors import printable
from glare_core.exposure import to_linear
from glare_core.imageio import FORMAT_EXTENSIONS, WRITE_FORMATS, read_image
from glare_core.progress import STOP_SIGNALS, CancelToken

CROP = (slice(100, 164), slice(200, 296))  # a 96x64 window of a 600x400 pair: fast, still real
#: generous time for a fresh process to load a model and write its first result
STARTUP_SECONDS = 120


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _help_text(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # wrapping depends on the terminal width


@pytest.fixture(scope="module")
def model_options(fixture_dir: Path) -> list[str]:
    return [
        "--weights",
        str(fixture_dir / "net_G.pth"),
        "--weights",
        str(fixture_dir / "vqgan.pkl"),
        "--config",
        str(fixture_dir / "config.yml"),
        "--device",
        "cpu",
    ]


@pytest.fixture
def small_pairs(pairs_dir: Path, tmp_path: Path) -> Path:
    """A pairs folder (low/, high/) of two real eval pairs cropped to 96x64."""
    root = tmp_path / "pairs"
    for side in ("low", "high"):
        (root / side).mkdir(parents=True)
        for name in ("4.png", "30.png"):
            pixels = np.asarray(Image.open(pairs_dir / "eval" / side / name).convert("RGB"))
            Image.fromarray(pixels[CROP]).save(root / side / name)
    return root


# ---------------------------------------------------------------- help and usage


def test_top_level_help_lists_every_command(capsys) -> None:
    text = _help_text(capsys)
    assert "usage: glare" in text
    assert "enhance" in text and "brighten photos" in text
    assert "eval" in text and "PSNR" in text


def test_enhance_help_explains_the_controls_and_exit_codes(capsys) -> None:
    text = _help_text(capsys, "enhance")
    for option in ("--strength", "--temperature", "--seed", "--weights", "--tile", "--report"):
        assert option in text
    assert "examples:" in text and "exit status:" in text
    result_names = text[text.index("OUTPUT may name") : text.index("any other name is")]
    for written in WRITE_FORMATS:  # -o names a result file with each of these
        assert all(extension in result_names for extension in FORMAT_EXTENSIONS[written])


def test_format_choices_are_the_formats_results_are_written_in() -> None:
    assert cli.FORMATS == tuple(name.lower() for name in WRITE_FORMATS)


def test_eval_help_says_how_gt_mean_is_computed(capsys) -> None:
    text = _help_text(capsys, "eval")
    assert "plain mean over pixels" in text
    assert "--pairs" in text and "--darken" in text


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys; from glare_core.cli import build_parser; build_parser(); "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_a_command_is_required(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == EXIT_CANNOT_RUN
    assert "COMMAND" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--strength", "2.5", "outside 0 to 2"),
        ("--temperature", "-1", "outside 0 to 1"),
        ("--temperature", "inf", "outside 0 to 1"),
        ("--temperature", "1.2", "outside 0 to 1"),
        ("--seed", "-1", "outside 0 to 2147483647"),
        ("--quality", "0", "outside 1 to 100"),
        ("--tile", "many", "'many' is not a whole number"),
        ("--tile", "64", "outside 256 to 4096"),
        ("--strength", "x", "'x' is not a number"),
        ("--noise-reduction", "-1", "outside 0 to 10"),
        ("--noise-reduction", "11", "outside 0 to 10"),
        ("--exposure", "3", "outside -2 to 2"),
        ("--photo-colour", "1.5", "outside 0 to 1"),
        ("--threads", "0", "0 is below 1"),
    ],
)
def test_out_of_range_options_are_usage_errors(capsys, tmp_path, option, value, message) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["enhance", str(tmp_path), "-o", str(tmp_path / "out"), option, value])
    assert exit_info.value.code == EXIT_CANNOT_RUN
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["enhance", "", "-o", "out"], ["enhance", "photo.png", "-o", ""], ["eval", "--pairs", ""]],
    ids=["input", "output", "pairs"],
)
def test_an_empty_path_is_a_usage_error_not_the_working_folder(
    capsys, tmp_path, monkeypatch, argv
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == EXIT_CANNOT_RUN
    assert "an empty path names no file or folder" in capsys.readouterr().err


# ---------------------------------------------------------------- one-line errors


def test_missing_input_fails_in_one_line_before_loading_a_model(capsys, tmp_path) -> None:
    # the bundled weights need not exist: planning the batch fails first
    code, out, err = _run(capsys, "enhance", tmp_path / "missing.png", "-o", tmp_path / "out")
    assert code == EXIT_CANNOT_RUN
    assert err.count("\n") == 1 and err.startswith("glare: error: ")
    assert "missing.png" in err
    assert not (tmp_path / "out").exists()


def test_bad_path_from_a_real_shell_gives_no_traceback(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "glare_core", "enhance", str(tmp_path / "nope.jpg"), "-o", "out"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == EXIT_CANNOT_RUN
    assert result.stderr.startswith("glare: error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_an_output_file_may_not_be_its_own_input(capsys, small_pairs) -> None:
    photo = small_pairs / "low" / "4.png"
    before = photo.read_bytes()
    code, _, err = _run(capsys, "enhance", photo, "-o", photo)
    assert code == EXIT_CANNOT_RUN
    assert err.startswith("glare: error: output would replace the input photo")
    assert photo.read_bytes() == before


@pytest.mark.parametrize(
    ("output_in", "options", "message"),
    [
        ("out", ["--suffix", "/../escaped"], "must not contain a path separator"),
        ("photo.png/out", [], "is a file, not a folder"),
        ("result.bmp", [], "cannot write BMP files"),
        ("result.gif", [], "cannot write .gif files (result.gif)"),  # it became a folder
        ("result.DNG", [], "cannot write .DNG files (result.DNG)"),
        ("result.tif", ["--format", "png"], "--format png does not match"),
        ("out", ["--report", "."], "is a folder; name a .json file"),
        ("out", ["--report", "photo.png/report.json"], "is a file, not a folder"),
        ("out", ["--report", "keep.jpg"], "is named as an image; name a .json file"),
        ("out", ["--suffix", "_" + "x" * 250], "would be over 255 bytes"),
        ("out", ["--suffix", "-" + "x" * 250], "would be over 255 bytes"),
        ("y" * 300 + "/out", [], "(File name too long)"),
        ("y" * 300 + ".png", [], "(File name too long)"),
    ],
    ids=["suffix-with-a-path", "folder-under-a-file", "unwritable-format",
         "format-pillow-reads", "camera-raw", "format-clash",
         "report-is-a-folder", "report-under-a-file", "report-named-as-an-image",
         "result-name-too-long", "suffix-starting-with-a-dash", "folder-name-too-long",
         "result-file-name-too-long"],
)  # fmt: skip
def test_bad_output_paths_fail_in_one_line_before_any_work(
    capsys, tmp_path, small_pairs, monkeypatch, output_in, options, message
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "photo.png").write_bytes((small_pairs / "low" / "4.png").read_bytes())
    code, _, err = _run(capsys, "enhance", "photo.png", "-o", output_in, *options)
    assert code == EXIT_CANNOT_RUN  # before the model loads: no weights were named
    assert err.startswith("glare: error: ") and err.count("\n") == 1
    assert message in err
    assert sorted(path.name for path in work.iterdir()) == ["photo.png"]


def test_a_forgotten_suffix_is_not_taken_from_the_next_option(capsys, tmp_path) -> None:
    """A suffix may start with a dash (``--suffix -lit``), but not be a short option."""
    with pytest.raises(SystemExit) as exit_info:
        main(["enhance", str(tmp_path), "--suffix", "-o", str(tmp_path / "out")])
    assert exit_info.value.code == EXIT_CANNOT_RUN
    assert "argument --suffix: expected one argument" in capsys.readouterr().err


def test_an_output_named_as_an_image_takes_one_photo_only(
    capsys, tmp_path, small_pairs, monkeypatch
) -> None:
    """With two inputs, -o best.jpg became a folder named best.jpg (and -o best.bmp too)."""
    monkeypatch.chdir(tmp_path)
    for name in ("IMG_1.png", "IMG_2.png"):
        (tmp_path / name).write_bytes((small_pairs / "low" / "4.png").read_bytes())
    code, _, err = _run(capsys, "enhance", "IMG_1.png", "IMG_2.png", "-o", "best.jpg")
    assert code == EXIT_CANNOT_RUN
    assert "best.jpg names one result file, but the input holds several photos" in err
    assert not (tmp_path / "best.jpg").exists()
    code, _, err = _run(capsys, "enhance", "missing.png", "-o", "best.jpg")  # one, missing
    assert code == EXIT_CANNOT_RUN
    assert err == "glare: error: input not found: missing.png\n"


def test_unreadable_weights_are_one_line(capsys, tmp_path, photos_dir) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a weights file")
    photo = sorted(photos_dir.glob("*.png"))[0]
    code, _, err = _run(capsys, "enhance", photo, "-o", tmp_path / "out", "--weights", broken)
    assert code == EXIT_CANNOT_RUN
    assert err.startswith("glare: error: ") and err.count("\n") == 1
    assert "broken.safetensors" in err


def test_missing_cuda_is_one_line(capsys, tmp_path, photos_dir, monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    photo = sorted(photos_dir.glob("*.png"))[0]
    code, _, err = _run(capsys, "enhance", photo, "-o", tmp_path / "out", "--device", "cuda")
    assert code == EXIT_CANNOT_RUN
    assert err == "glare: error: cuda was asked for but is not available on this machine\n"


# ---------------------------------------------------------------- enhance


def test_enhance_writes_results_reports_and_lists_failures(
    capsys, tmp_path, small_pairs, model_options
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("30.png", "4.png"):
        (inputs / name).write_bytes((small_pairs / "low" / name).read_bytes())
    (inputs / "truncated.png").write_bytes((small_pairs / "low" / "4.png").read_bytes()[:200])
    out, report = tmp_path / "out", tmp_path / "report.json"

    code, stdout, err = _run(
        capsys, "enhance", inputs, "-o", out, "--format", "jpeg", "--report", report,
        *model_options,
    )  # fmt: skip

    assert code == EXIT_SOME_FAILED
    assert sorted(path.name for path in out.iterdir()) == ["30_glare.jpg", "4_glare.jpg"]
    assert Image.open(out / "30_glare.jpg").size == (96, 64)
    assert "enhanced 2 image(s)" in stdout
    failure = next(line for line in err.splitlines() if line.startswith("glare: failed: "))
    assert failure.startswith(f"glare: failed: {inputs / 'truncated.png'}: damaged or truncated")
    assert failure.count("truncated.png") == 1  # the reason does not repeat the path
    assert report.is_file()


def test_a_folder_without_photos_still_gets_its_report(capsys, tmp_path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("no photos here")
    report = tmp_path / "reports" / "run.json"
    code, stdout, _ = _run(
        capsys, "enhance", tmp_path / "notes", "-o", tmp_path / "out", "--report", report
    )
    assert code == EXIT_OK and stdout.startswith("nothing to enhance")
    saved = json.loads(report.read_text())
    assert (saved["done"], saved["failed"], saved["exit_code"]) == ([], [], EXIT_OK)


def test_enhance_skips_existing_results_unless_told_to_overwrite(
    capsys, tmp_path, small_pairs, model_options
) -> None:
    source = small_pairs / "low" / "4.png"
    target = tmp_path / "bright.png"
    assert _run(capsys, "enhance", source, "-o", target, *model_options)[0] == EXIT_OK
    first = target.read_bytes()

    code, stdout, _ = _run(capsys, "enhance", source, "-o", target, *model_options)
    assert code == EXIT_OK and "skipped 1" in stdout
    # the folder the result is in ("enhanced 0 image(s) into .../bright.png" read as a folder)
    assert stdout.startswith(f"enhanced 0 image(s) into {tmp_path};")

    code, stdout, _ = _run(
        capsys, "enhance", source, "-o", target, "--overwrite", "--strength", "2", *model_options
    )
    assert code == EXIT_OK and "enhanced 1 image(s)" in stdout
    assert target.read_bytes() != first  # strength 2 keeps the photo's own features


def test_exposure_darkens_the_saved_result_by_the_stops_asked(
    capsys, tmp_path, small_pairs, model_options
) -> None:
    source = small_pairs / "low" / "30.png"
    plain, darker = tmp_path / "plain.png", tmp_path / "darker.png"
    assert _run(capsys, "enhance", source, "-o", plain, *model_options)[0] == EXIT_OK
    code, _, _ = _run(capsys, "enhance", source, "-o", darker, "--exposure", "-1", *model_options)
    assert code == EXIT_OK
    plain_light, darker_light = (
        to_linear(from_uint8(np.asarray(Image.open(path)))) for path in (plain, darker)
    )
    assert darker_light.mean() == pytest.approx(plain_light.mean() / 2, rel=0.02)


def test_photo_colour_keeps_the_photos_cast(capsys, tmp_path, small_pairs, model_options):
    source = small_pairs / "low" / "30.png"
    plain, coloured = tmp_path / "plain.png", tmp_path / "coloured.png"
    assert _run(capsys, "enhance", source, "-o", plain, *model_options)[0] == EXIT_OK
    code, _, _ = _run(
        capsys, "enhance", source, "-o", coloured, "--photo-colour", "1", *model_options
    )
    assert code == EXIT_OK

    def red_over_blue(path: Path) -> float:
        light = to_linear(from_uint8(np.asarray(Image.open(path)))).reshape(-1, 3).mean(axis=0)
        return float(light[0] / light[2])

    photo = to_linear(read_image(source).rgb).reshape(-1, 3).mean(axis=0)
    assert photo[0] / photo[2] > 1.5  # the eval low images are cast red
    assert red_over_blue(coloured) > red_over_blue(plain) * 1.3


def test_a_cancelled_batch_exits_130(capsys, tmp_path, small_pairs, model_options, monkeypatch):
    def already_cancelled():
        token = CancelToken()
        token.cancel()
        yield token

    monkeypatch.setattr(cli, "_cancel_on_stop_signals", cli.contextmanager(already_cancelled))
    report = tmp_path / "report.json"
    code, stdout, _ = _run(
        capsys, "enhance", small_pairs / "low", "-o", tmp_path, "--report", report, *model_options
    )
    assert code == EXIT_CANCELLED
    assert "cancelled" in stdout
    assert not list(tmp_path.glob("*_glare.png"))
    saved = json.loads(report.read_text())
    assert saved["cancelled"] and saved["exit_code"] == EXIT_CANCELLED  # as the process ends


@pytest.mark.parametrize("stop_signal", STOP_SIGNALS)
def test_ctrl_c_and_sigterm_set_the_cancel_token_instead_of_raising(stop_signal, capsys) -> None:
    before = {each: signal.getsignal(each) for each in STOP_SIGNALS}
    with cli._cancel_on_stop_signals() as token:
        os.kill(os.getpid(), stop_signal)
        assert token.cancelled
        if stop_signal == signal.SIGINT:  # a second Ctrl-C quits at once
            assert signal.getsignal(signal.SIGINT) == before[signal.SIGINT]
        else:  # SIGTERM again (a scheduler's and its launcher's) still asks for a clean stop
            os.kill(os.getpid(), stop_signal)
    assert capsys.readouterr().err.count("glare: stopping") == 1
    assert {each: signal.getsignal(each) for each in STOP_SIGNALS} == before


def test_a_stop_signal_the_process_was_started_ignoring_stays_ignored() -> None:
    # as a shell without job control starts a background job, so that Ctrl-C spares it
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with cli._cancel_on_stop_signals() as token:
            os.kill(os.getpid(), signal.SIGINT)
            assert not token.cancelled
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_stop_while_the_model_loads_ends_the_batch_before_its_first_photo(
    capsys, tmp_path, small_pairs, model_options, monkeypatch
) -> None:
    load = cli._load_enhancer

    def stopped_while_loading(args: argparse.Namespace):
        os.kill(os.getpid(), signal.SIGTERM)
        return load(args)

    monkeypatch.setattr(cli, "_load_enhancer", stopped_while_loading)
    out, report = tmp_path / "out", tmp_path / "report.json"
    code, stdout, _ = _run(
        capsys, "enhance", small_pairs / "low", "-o", out, "--report", report, *model_options
    )
    assert code == EXIT_CANCELLED and "cancelled" in stdout
    assert not out.exists()
    saved = json.loads(report.read_text())
    assert saved["cancelled"] and saved["done"] == []


def test_the_program_stopped_on_a_signal_is_not_killed_by_another_on_its_way_out(
    monkeypatch,
) -> None:
    """A scheduler's SIGTERM passed on by a launcher arrives twice: the second, during the
    interpreter's shutdown after the clean stop, ended the process with 143 instead of 130."""
    monkeypatch.setattr(cli, "main", lambda: EXIT_CANCELLED)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as exit_info:
            cli.run()
        assert exit_info.value.code == EXIT_CANCELLED
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)
    monkeypatch.setattr(cli, "main", lambda: 0)
    with pytest.raises(SystemExit):
        cli.run()
    assert signal.getsignal(signal.SIGTERM) is previous  # a normal end leaves it alone


@pytest.mark.skipif(sys.platform != "linux", reason="names of any bytes, as Linux keeps them")
def test_failures_print_one_line_each_and_odd_bytes_in_paths_print_escaped(
    tmp_path, model_options
) -> None:
    """A line break in a name split the failure's line; a folder name of bytes the locale
    cannot encode raised UnicodeEncodeError, with a traceback, after all the work."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "new\nline.png").write_bytes(b"")
    out = os.fsdecode(bytes(tmp_path / "out") + b"\xff")
    command = [sys.executable, "-m", "glare_core", "enhance", str(inputs), "-o", out]
    finished = subprocess.run(
        [*command, *model_options],
        capture_output=True,
        text=True,
        errors="backslashreplace",
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},  # strict, as a UTF-8 locale's
        timeout=STARTUP_SECONDS,
    )
    assert finished.returncode == 1 and "Traceback" not in finished.stderr
    assert f"into {tmp_path / 'out'}\\udcff" in finished.stdout
    failed = [line for line in finished.stderr.splitlines() if "failed" in line]
    assert failed == [f"glare: failed: {inputs}/new\\nline.png: empty file (0 bytes)"]


def test_printed_paths_escape_only_what_breaks_a_line() -> None:
    name = "夜\u3000景 \u00a0👨\u200d👩 é"  # ideographic and no-break spaces, an emoji joiner
    assert printable(f"{name}/new\nline\u2028.png") == f"{name}/new\\nline\\u2028.png"


def test_sigterm_stops_a_batch_cleanly_with_complete_files_and_a_report(
    tmp_path, small_pairs, model_options
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for index in range(40):  # more than the batch can do before the signal arrives
        (inputs / f"{index}.png").write_bytes((small_pairs / "low" / "4.png").read_bytes())
    out, report = tmp_path / "out", tmp_path / "report.json"
    command = [sys.executable, "-m", "glare_core", "enhance", str(inputs), "-o", str(out)]
    process = subprocess.Popen(
        [*command, "--report", str(report), *model_options], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while process.poll() is None and time.monotonic() < deadline and not any(out.glob("*.png")):
        time.sleep(0.05)  # until the model is loaded and the first result written
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)

    assert process.returncode == EXIT_CANCELLED, err
    written = sorted(out.iterdir())
    assert 0 < len(written) < 40
    assert all(not path.name.startswith(".") for path in written)  # no partial files
    assert all(read_image(path).rgb.shape == (64, 96, 3) for path in written)
    saved = json.loads(report.read_text())
    assert saved["cancelled"] and len(saved["done"]) == len(written)


# ---------------------------------------------------------------- eval


def test_eval_of_the_low_inputs_reproduces_the_identity_baseline(capsys, pairs_dir) -> None:
    """BASELINES.md, identity row: 7.70 / 0.2192 / 13.71 / 0.4931 over the 40 eval pairs."""
    evaluation = pairs_dir / "eval"
    code, out, _ = _run(
        capsys, "eval", "--pred", evaluation / "low", "--ref", evaluation / "high", "--json"
    )
    assert code == EXIT_OK
    report = json.loads(out)
    assert report["count"] == 40 and len(report["images"]) == 40
    mean = report["mean"]
    assert round(mean["psnr"], 2) == 7.70
    assert round(mean["ssim"], 4) == 0.2192
    assert round(mean["psnr_gt_mean"], 2) == 13.71
    assert round(mean["ssim_gt_mean"], 4) == 0.4931


def test_eval_table_has_a_row_per_image_and_a_summary(capsys, small_pairs) -> None:
    code, out, _ = _run(
        capsys, "eval", "--pred", small_pairs / "high", "--ref", small_pairs / "high"
    )
    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[0].split() == ["image", "PSNR", "SSIM", "PSNR-GTm", "SSIM-GTm"]
    assert [line.split()[0] for line in lines[1:3]] == ["4.png", "30.png"]  # natural order
    assert lines[3].startswith("mean of 2 image(s): PSNR inf dB, SSIM 1.0000")


def test_eval_json_turns_infinite_psnr_into_null(capsys, small_pairs) -> None:
    high = small_pairs / "high"
    report = json.loads(_run(capsys, "eval", "--pred", high, "--ref", high, "--json")[1])
    assert report["mean"]["psnr"] is None
    assert report["mean"]["ssim"] == pytest.approx(1.0)


def test_eval_refuses_unmatched_names(capsys, small_pairs, tmp_path) -> None:
    (tmp_path / "other.png").write_bytes((small_pairs / "low" / "4.png").read_bytes())
    code, _, err = _run(capsys, "eval", "--pred", tmp_path, "--ref", small_pairs / "high")
    assert code == EXIT_CANNOT_RUN
    assert err.startswith("glare: error: 1 image(s)") and "other.png" in err


def test_eval_refuses_two_results_of_one_name(capsys, small_pairs, tmp_path) -> None:
    for name in ("4.png", "4.jpg"):  # matched by stem, one would go unscored
        (tmp_path / name).write_bytes((small_pairs / "high" / "4.png").read_bytes())
    code, _, err = _run(capsys, "eval", "--pred", tmp_path, "--ref", small_pairs / "high")
    assert code == EXIT_CANNOT_RUN
    assert err.startswith("glare: error: 4.jpg and 4.png in") and "share one name" in err


def test_eval_pairs_refuses_a_reference_without_its_low_image(capsys, small_pairs) -> None:
    """A pair whose low image went missing was left out of the mean without a word."""
    (small_pairs / "low" / "30.png").unlink()
    code, _, err = _run(capsys, "eval", "--pairs", small_pairs)
    assert code == EXIT_CANNOT_RUN
    assert "1 image(s) of" in err and "have no partner" in err and "30.png" in err


@pytest.mark.parametrize(
    "argv",
    [["--pred", "a"], ["--pairs", "p", "--pred", "a", "--ref", "b"]],
    ids=["pred-without-ref", "both-modes"],
)
def test_eval_needs_exactly_one_mode(capsys, argv) -> None:
    code, _, err = _run(capsys, "eval", *argv)
    assert code == EXIT_CANNOT_RUN
    assert err.startswith("glare: error: give ")


@pytest.mark.parametrize("look", [(), ("--photo-colour", "0.7")])
def test_eval_pairs_agrees_with_enhance_then_eval(
    capsys, tmp_path, small_pairs, model_options, look
) -> None:
    argv = ("eval", "--pairs", small_pairs, "--json", *look, *model_options)
    code, out, _ = _run(capsys, *argv)
    assert code == EXIT_OK
    direct = json.loads(out)

    enhanced = tmp_path / "enhanced"
    options = ("--suffix", "", *look, *model_options)
    _run(capsys, "enhance", small_pairs / "low", "-o", enhanced, *options)
    code, out, _ = _run(capsys, "eval", "--pred", enhanced, "--ref", small_pairs / "high", "--json")
    via_files = json.loads(out)

    assert [image["name"] for image in direct["images"]] == ["4.png", "30.png"]
    for key in ("psnr", "ssim", "psnr_gt_mean", "ssim_gt_mean"):
        # the saved results are rounded to 8 bits; the direct scores are not
        assert direct["mean"][key] == pytest.approx(via_files["mean"][key], abs=0.02)


def test_eval_pairs_darken_and_photo_colour_change_the_result(
    capsys, small_pairs, model_options
) -> None:
    def mean_scores(*extra: str) -> dict[str, float]:
        argv = ("eval", "--pairs", small_pairs, "--json", *model_options, *extra)
        return json.loads(_run(capsys, *argv)[1])["mean"]

    assert mean_scores("--darken", "0.25") != mean_scores()
    assert mean_scores("--photo-colour", "0.7") != mean_scores()


def test_eval_pairs_noise_is_seeded_and_changes_the_input(
    capsys, small_pairs, model_options
) -> None:
    def mean_scores(*extra: str) -> dict[str, float]:
        argv = ("eval", "--pairs", small_pairs, "--json", *model_options, "--darken", "0.5")
        return json.loads(_run(capsys, *argv, *extra)[1])["mean"]

    noisy = ("--shot-noise", "2e-3", "--read-noise", "1e-3")
    assert mean_scores(*noisy) == mean_scores(*noisy)
    assert mean_scores(*noisy) != mean_scores()


def test_a_darker_capture_has_the_sensor_noise_asked_for() -> None:
    grey = np.full((200, 200, 3), 0.5, dtype=np.float32)
    quiet = argparse.Namespace(darken=0.5, shot_noise=0.0, read_noise=0.0, noise_grain=1)
    stored = np.round(grey * 0.5 * 255) / 255  # as --darken alone has always done
    assert np.array_equal(_darker_capture(grey, quiet, np.random.default_rng(0)), stored)

    shot, read = 1e-3, 2e-3
    noisy = argparse.Namespace(darken=0.5, shot_noise=shot, read_noise=read, noise_grain=1)
    darker = _darker_capture(grey, noisy, np.random.default_rng(0))
    clean = to_linear(stored)
    expected_sd = np.sqrt(shot * clean[0, 0, 0] + read**2)
    assert np.std(to_linear(darker) - clean) == pytest.approx(expected_sd, rel=0.05)
    assert np.array_equal(darker * 255, np.round(darker * 255))  # stored in 8 bits again

    grained = argparse.Namespace(darken=0.5, shot_noise=shot, read_noise=read, noise_grain=4)
    coarse = to_linear(_darker_capture(grey, grained, np.random.default_rng(0))) - clean
    fine = to_linear(darker) - clean
    assert np.std(coarse) == pytest.approx(expected_sd, rel=0.1)
    # spread over 4 pixels, neighbours share most of it
    assert np.std(np.diff(coarse, axis=1)) < 0.5 * np.std(np.diff(fine, axis=1))


def test_noise_reduction_is_read_from_the_weights_unless_given(
    capsys, small_pairs, model_options
) -> None:
    def mean_scores(*extra: str) -> dict[str, float]:
        argv = ("eval", "--pairs", small_pairs, "--json", *model_options, *extra)
        return json.loads(_run(capsys, *argv)[1])["mean"]

    # the official config, as the official code, filters nothing
    assert mean_scores() == mean_scores("--noise-reduction", "0")
    assert mean_scores("--noise-reduction", "8") != mean_scores()


def test_the_batch_bar_ends_with_the_file_and_its_eta() -> None:
    from tqdm import tqdm

    line = tqdm.format_meter(1, 3, 15, bar_format=cli.BAR_FORMAT, prefix="2/3 a.png, ETA 00:30")
    assert line.endswith("| [00:15] 2/3 a.png, ETA 00:30")
