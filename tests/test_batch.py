"""Batch export on real folders written in each test, with a small real enhance function."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from glare_core import batch
from glare_core.atomic import is_partial_name
from glare_core.batch import (
    BatchOptions,
    BatchProgress,
    BatchUsageError,
    iter_images,
    plan_batch,
    run_batch,
)
from glare_core.imageio import read_image
from glare_core.progress import EXIT_CANCELLED, CancelToken, ProgressFn, check, report

RUNNING_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
GAMMA = 0.5
BAND_ROWS = 4
ORIENTATION = 0x0112


def brighten(
    rgb: np.ndarray, progress: ProgressFn | None, cancel: CancelToken | None
) -> np.ndarray:
    """A gamma curve applied band by band, polling the cancel token like the Enhancer's tiles."""
    result = np.empty_like(rgb)
    for top in range(0, rgb.shape[0], BAND_ROWS):
        check(cancel)
        result[top : top + BAND_ROWS] = rgb[top : top + BAND_ROWS] ** GAMMA
        report(progress, (top + BAND_ROWS) / rgb.shape[0], "band")
    return result


def save(path: Path, pixels: np.ndarray, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **kwargs)
    return path


def dark_pixels(height: int = 16, width: int = 12, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (height, width) if channels == 1 else (height, width, channels)
    return rng.integers(0, 80, size=shape, dtype=np.uint8)


def fingerprints(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def partials(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if is_partial_name(path.name)]


def run(inputs: list[Path], output: Path, **options: object):
    batch_options = BatchOptions(**options)
    items = plan_batch(inputs, output, batch_options)
    return run_batch(items, brighten, batch_options)


@pytest.fixture
def album(tmp_path: Path) -> Path:
    folder = tmp_path / "album"
    save(folder / "beach.png", dark_pixels(seed=1))
    save(folder / "2023" / "party.jpg", dark_pixels(seed=2), quality=95)
    save(folder / "2023" / "june" / "scan.bmp", dark_pixels(seed=3))
    save(folder / ".thumbs" / "hidden.png", dark_pixels(seed=4))
    (folder / "notes.txt").write_text("not a photo")
    return folder


def test_iter_images_lists_photos_and_skips_hidden_and_other_files(album: Path) -> None:
    names = [path.relative_to(album).as_posix() for path in iter_images(album)]
    assert names == ["beach.png", "2023/party.jpg", "2023/june/scan.bmp"]
    assert [path.name for path in iter_images(album, recursive=False)] == ["beach.png"]


def test_output_tree_mirrors_input_and_results_are_enhanced(album: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = run([album], out)
    assert summary.describe() == "3 done, 0 skipped, 0 failed" and summary.exit_code == 0
    written = sorted(path.relative_to(out).as_posix() for path in out.rglob("*"))
    assert written == [
        "2023",
        "2023/june",
        "2023/june/scan_glare.png",  # BMP cannot be written: PNG keeps it lossless
        "2023/party_glare.jpg",
        "beach_glare.png",
    ]
    expected = np.round((dark_pixels(seed=1) / 255.0) ** GAMMA * 255)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "beach_glare.png")), expected)


def test_existing_outputs_are_skipped_unless_overwrite(album: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    save(out / "beach_glare.png", dark_pixels(seed=9))
    before = fingerprints(out)["beach_glare.png"]
    assert run([album], out).describe() == "2 done, 1 skipped, 0 failed"
    assert fingerprints(out)["beach_glare.png"] == before
    assert run([album], out, overwrite=True).describe() == "3 done, 0 skipped, 0 failed"
    assert fingerprints(out)["beach_glare.png"] != before


@pytest.mark.parametrize("hard_links", [True, False])
def test_a_result_written_by_another_run_meanwhile_is_kept_unless_overwrite(
    album: Path, tmp_path: Path, monkeypatch, hard_links: bool
) -> None:
    """Two batches into one folder (or a user saving there) while a photo is enhanced:
    the check before the work passed, and the result silently replaced the other file."""
    if not hard_links:  # FAT and some network shares: the check and move stand in
        monkeypatch.setattr(os, "link", _no_hard_links)
    out = tmp_path / "out"
    other = dark_pixels(seed=9)

    def someone_writes_the_result_meanwhile(rgb, progress, cancel):
        if not (out / "beach_glare.png").exists():
            save(out / "beach_glare.png", other)
        return brighten(rgb, progress, cancel)

    options = BatchOptions()
    items = plan_batch([album / "beach.png"], out, options)
    summary = run_batch(items, someone_writes_the_result_meanwhile, options)
    assert summary.describe() == "0 done, 1 skipped, 0 failed"
    np.testing.assert_array_equal(np.asarray(Image.open(out / "beach_glare.png")), other)
    assert partials(out) == []
    options = BatchOptions(overwrite=True)
    summary = run_batch(items, someone_writes_the_result_meanwhile, options)
    assert summary.describe() == "1 done, 0 skipped, 0 failed"
    assert not np.array_equal(np.asarray(Image.open(out / "beach_glare.png")), other)


def _no_hard_links(source: object, target: object) -> None:
    raise PermissionError(1, "Operation not permitted")


@pytest.mark.skipif(sys.platform == "win32", reason="Windows names hold no line break")
def test_a_name_with_a_line_break_fails_on_one_line_without_its_path_twice(
    tmp_path: Path,
) -> None:
    (tmp_path / "new\nline.png").write_bytes(b"")
    summary = run([tmp_path], tmp_path / "out")
    assert summary.failed == [(tmp_path / "new\nline.png", "empty file (0 bytes)")]


def test_format_and_suffix_options(album: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run([album / "beach.png", album / "2023"], out, format="jpg", suffix="-lit")
    assert sorted(path.name for path in out.rglob("*.jpg")) == [
        "beach-lit.jpg",
        "party-lit.jpg",
        "scan-lit.jpg",
    ]
    assert read_image(out / "beach-lit.jpg").format == "JPEG"


def test_unwritable_input_formats_get_a_writable_output(tmp_path: Path) -> None:
    inputs = [tmp_path / "phone.HEIC", tmp_path / "scan.bmp", tmp_path / "raw.TIFF"]
    for path in inputs:
        path.write_bytes(b"planning reads no pixels")
    items = plan_batch(inputs, tmp_path / "out", BatchOptions())
    names = [item.target.name for item in items]
    assert names == ["phone_glare.jpg", "scan_glare.png", "raw_glare.TIFF"]


def test_output_can_never_be_the_input(album: Path) -> None:
    before = fingerprints(album)
    with pytest.raises(BatchUsageError, match="would replace the input photo"):
        plan_batch([album], album, BatchOptions(suffix=""))
    with pytest.raises(BatchUsageError, match="would replace the input photo"):
        plan_batch([album / "beach.png"], album, BatchOptions(suffix="", format="png"))
    assert fingerprints(album) == before


def test_a_named_result_file_is_checked_as_itself(album: Path, tmp_path: Path) -> None:
    source = album / "beach.png"
    items = plan_batch([source], album, BatchOptions(suffix=""), result_file=album / "lit.png")
    assert [(item.source, item.target) for item in items] == [(source, album / "lit.png")]
    with pytest.raises(BatchUsageError, match="would replace the input photo"):
        plan_batch([source], album, BatchOptions(), result_file=source)


@pytest.mark.parametrize("report_name", ["beach.png", "enhanced/beach_glare.png"])
def test_the_report_may_not_replace_a_photo_of_the_batch(album: Path, report_name: str) -> None:
    before = fingerprints(album)
    options = BatchOptions(report_path=album / report_name)
    with pytest.raises(BatchUsageError, match="would replace a photo of this batch"):
        plan_batch([album], album / "enhanced", options)
    assert fingerprints(album) == before


def test_the_report_may_not_be_named_as_an_image(album: Path, tmp_path: Path) -> None:
    """--report keep.jpg replaced a photo that was not in the batch with JSON."""
    kept = tmp_path / "keep.jpg"
    save(kept, dark_pixels(seed=3))
    before = kept.read_bytes()
    with pytest.raises(BatchUsageError, match="keep.jpg is named as an image; name a .json"):
        plan_batch([album], album / "enhanced", BatchOptions(report_path=kept))
    assert kept.read_bytes() == before


@pytest.mark.parametrize("folder", [".", "2023"])
def test_the_report_may_not_be_named_as_an_output_folder_still_to_be_made(
    album: Path, tmp_path: Path, folder: str
) -> None:
    """It was written only after every photo, and failed then: the folder had been made."""
    out = tmp_path / "out"
    options = BatchOptions(report_path=out / folder)
    with pytest.raises(BatchUsageError, match="is a folder; name a .json file"):
        plan_batch([album], out, options)
    assert not out.exists()


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_where_a_result_goes_fails_that_photo_only(
    album: Path, tmp_path: Path, overwrite: bool
) -> None:
    """It was reported as a result already there, skipped."""
    out = tmp_path / "out"
    (out / "beach_glare.png" / "holiday").mkdir(parents=True)
    summary = run([album], out, overwrite=overwrite)
    assert summary.describe() == "2 done, 0 skipped, 1 failed"
    assert summary.failed == [
        (album / "beach.png", f"a folder is where its result goes: {out / 'beach_glare.png'}")
    ]
    assert (out / "beach_glare.png" / "holiday").is_dir()


def test_a_result_name_longer_than_file_systems_allow_is_refused(tmp_path: Path) -> None:
    """stat() of it raised 'File name too long': a traceback, and no photo written."""
    save(tmp_path / "in" / ("n" * 240 + ".png"), dark_pixels(seed=1))
    with pytest.raises(BatchUsageError, match="would be over 255 bytes"):
        plan_batch([tmp_path / "in"], tmp_path / "out", BatchOptions(suffix="_enhanced-tonight"))


def test_an_input_the_system_will_not_look_at_is_refused_in_one_line(tmp_path: Path) -> None:
    """Path.exists() raises on a name too long (or in a folder without search permission):
    it was a traceback."""
    too_long = tmp_path / ("n" * 300 + ".png")
    with pytest.raises(BatchUsageError, match=r"cannot look at .*n\.png \(File name too long\)"):
        plan_batch([too_long], tmp_path / "out", BatchOptions())


def test_a_result_may_not_replace_another_input(tmp_path: Path) -> None:
    save(tmp_path / "a.png", dark_pixels(seed=1))
    save(tmp_path / "a.jpg", dark_pixels(seed=2))
    with pytest.raises(BatchUsageError, match="would be replaced by the result"):
        plan_batch([tmp_path], tmp_path, BatchOptions(suffix="", format="jpeg"))


def test_two_inputs_writing_one_output_are_refused(tmp_path: Path) -> None:
    save(tmp_path / "one" / "x.png", dark_pixels(seed=1))
    save(tmp_path / "two" / "x.png", dark_pixels(seed=2))
    with pytest.raises(BatchUsageError, match="would both be written to"):
        plan_batch([tmp_path / "one", tmp_path / "two"], tmp_path / "out", BatchOptions())


def test_on_a_mac_names_differing_in_case_are_one_file(tmp_path: Path, monkeypatch) -> None:
    save(tmp_path / "in" / "night.jpg", dark_pixels(seed=1))
    save(tmp_path / "in" / "NIGHT.jpeg", dark_pixels(seed=2))
    options = BatchOptions(format="png")
    assert len(plan_batch([tmp_path / "in"], tmp_path / "out", options)) == 2  # here: two files
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(BatchUsageError, match="would both be written to"):
        plan_batch([tmp_path / "in"], tmp_path / "out", options)


def test_on_a_mac_a_case_sensitive_volumes_two_photos_are_not_taken_for_one(
    tmp_path: Path, monkeypatch
) -> None:
    """Inputs were told apart by their case-folded names on a Mac: Photo.png and photo.png,
    two photos on a case-sensitive volume, became one, and the other was dropped unsaid."""
    save(tmp_path / "in" / "Photo.png", dark_pixels(seed=1))
    save(tmp_path / "in" / "photo.png", dark_pixels(seed=2))
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(BatchUsageError, match="would both be written to"):
        plan_batch([tmp_path / "in"], tmp_path / "out", BatchOptions())
    # one photo named twice is still one photo
    twice = [tmp_path / "in" / "photo.png", tmp_path / "in" / ".." / "in" / "photo.png"]
    assert len(plan_batch(twice, tmp_path / "out", BatchOptions())) == 1


def test_on_a_mac_the_composed_and_decomposed_spellings_of_a_name_are_one_file(
    tmp_path: Path, monkeypatch
) -> None:
    save(tmp_path / "a" / "caf\u00e9.png", dark_pixels(seed=1))
    save(tmp_path / "b" / "cafe\u0301.png", dark_pixels(seed=2))
    assert len(plan_batch([tmp_path / "a", tmp_path / "b"], tmp_path / "out", BatchOptions())) == 2
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(BatchUsageError, match="would both be written to"):
        plan_batch([tmp_path / "a", tmp_path / "b"], tmp_path / "out", BatchOptions())


@pytest.mark.parametrize("suffix", ["_12:30", "_best?", "_a|b", "_tab\t", "_back\\slash"])
def test_a_suffix_windows_cannot_hold_in_a_name_is_refused_before_any_work(
    tmp_path: Path, suffix: str
) -> None:
    """On Windows such a batch enhanced every photo, then failed to write each one."""
    save(tmp_path / "in" / "night.png", dark_pixels(seed=1))
    with pytest.raises(BatchUsageError, match="must not contain"):
        plan_batch([tmp_path / "in"], tmp_path / "out", BatchOptions(suffix=suffix))


def test_on_windows_a_names_length_is_counted_in_utf16_units(tmp_path: Path, monkeypatch):
    """83 ideographs are 249 bytes of UTF-8 (their result's name 259, past ext4's 255) but
    83 of NTFS's 255 UTF-16 units."""
    save(tmp_path / "in" / ("\u591c" * 83 + ".png"), dark_pixels(seed=1))
    with pytest.raises(BatchUsageError, match="would be over 255 bytes"):
        plan_batch([tmp_path / "in"], tmp_path / "out", BatchOptions())
    monkeypatch.setattr(batch, "_NAMES_IN_UTF16", True)  # as on Windows
    assert len(plan_batch([tmp_path / "in"], tmp_path / "out", BatchOptions())) == 1


def test_usage_errors(album: Path, tmp_path: Path) -> None:
    with pytest.raises(BatchUsageError, match="input not found"):
        plan_batch([tmp_path / "nowhere"], tmp_path / "out", BatchOptions())
    with pytest.raises(BatchUsageError, match="cannot write format"):
        plan_batch([album], tmp_path / "out", BatchOptions(format="gif"))
    with pytest.raises(BatchUsageError, match="is a file, not a folder"):
        plan_batch([album], album / "beach.png", BatchOptions())


def test_output_folder_inside_input_is_not_scanned(album: Path, caplog) -> None:
    out = album / "enhanced"
    save(out / "from-another-app.png", dark_pixels(seed=12))
    with caplog.at_level(logging.WARNING, logger="glare_core.batch"):
        first = run([album], out)
    assert len(first.done) == 3
    # the photo left out is named: the batch says it did every input
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1 and warnings[0].startswith(f"1 photo(s) in the output folder {out}")
    assert warnings[0].endswith(": from-another-app.png")
    caplog.clear()
    items = plan_batch([album], out, BatchOptions(overwrite=True))
    assert [item.source.name for item in items] == ["beach.png", "party.jpg", "scan.bmp"]
    assert run([album], out).describe() == "0 done, 3 skipped, 0 failed"
    # the earlier results are not counted among the photos left out
    assert [record.getMessage().split(" ", 1)[0] for record in caplog.records] == ["1", "1"]
    caplog.clear()
    plan_batch([album], out, BatchOptions(recursive=False))  # the folder is not searched
    assert not caplog.records
    named = out / "from-another-app.png"  # given on its own, it is enhanced: no warning
    assert named in [item.source for item in plan_batch([album, named], out, BatchOptions())]
    assert not caplog.records


def test_the_report_lists_the_photos_a_plan_passed_over(album: Path, tmp_path: Path) -> None:
    out = album / "enhanced"
    save(out / "from-another-app.png", dark_pixels(seed=12))
    with batch.collected_notes() as notes:
        items = plan_batch([album], out, BatchOptions())
    report = tmp_path / "report.json"
    summary = run_batch(items, brighten, BatchOptions(report_path=report), notes=notes)
    written = json.loads(report.read_text())["notes"]
    assert written == summary.notes and len(written) == 1
    assert written[0].endswith("(they could be earlier results): from-another-app.png")


def test_same_folder_rerun_does_not_enhance_earlier_results(album: Path) -> None:
    assert len(run([album], album).done) == 3
    second = run([album], album)
    assert second.describe() == "0 done, 3 skipped, 0 failed"
    assert not list(album.rglob("*_glare_glare*"))


def test_a_photo_named_as_anothers_result_is_never_overwritten(tmp_path: Path) -> None:
    """party-1.png was taken for party.png's earlier result (--suffix -1) and --overwrite,
    which the skip message suggested, replaced that original."""
    save(tmp_path / "party.png", dark_pixels(seed=1))
    original = save(tmp_path / "party-1.png", dark_pixels(seed=2)).read_bytes()
    assert run([tmp_path], tmp_path, suffix="-1").describe() == "0 done, 1 skipped, 0 failed"
    with pytest.raises(BatchUsageError, match="party-1.png would be replaced by the result"):
        plan_batch([tmp_path], tmp_path, BatchOptions(suffix="-1", overwrite=True))
    assert (tmp_path / "party-1.png").read_bytes() == original


# --------------------------------------------------------------------------- faults


def make_problem_folder(folder: Path) -> dict[str, str]:
    """Good and bad inputs; returns the expected failure reason (a fragment) per bad file."""
    save(folder / "good.png", dark_pixels(seed=1))
    (folder / "empty.png").write_bytes(b"")
    save(folder / "whole.jpg", dark_pixels(64, 64, seed=2))
    data = (folder / "whole.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "whole.jpg").unlink()
    (folder / "text.png").write_text("this is not a picture")
    Image.new("CMYK", (8, 6), (0, 200, 200, 100)).save(folder / "cmyk.jpg")
    cv2.imwrite(str(folder / "deep16.png"), np.full((6, 5, 3), 9000, dtype=np.uint16))
    save(folder / "grey.png", dark_pixels(channels=1, seed=5))
    save(folder / "rgba.png", dark_pixels(channels=4, seed=6))
    rotated = Image.Exif()
    rotated[ORIENTATION] = 8
    save(folder / "rotated.jpg", dark_pixels(10, 20, seed=7), exif=rotated)
    return {
        "empty.png": "empty file",
        "truncated.jpg": "damaged or truncated",
        "text.png": "not an image",
        **make_unreadable(folder),
    }


def make_unreadable(folder: Path) -> dict[str, str]:
    if RUNNING_AS_ROOT:  # root reads chmod 000 files: a link to nowhere is unreadable for all
        (folder / "dangling.png").symlink_to(folder / "deleted-original.png")
        return {"dangling.png": "file not found"}
    save(folder / "locked.png", dark_pixels(seed=8)).chmod(0)
    return {"locked.png": "permission denied"}


@pytest.fixture
def problem_folder(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    folder = tmp_path / "mixed"
    expected = make_problem_folder(folder)
    yield folder, expected
    for path in folder.iterdir():
        if not path.is_symlink():
            path.chmod(0o644)


def test_bad_files_are_reported_and_the_batch_goes_on(
    problem_folder: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    folder, expected = problem_folder
    before = fingerprints(folder)
    out, report_path = tmp_path / "out", tmp_path / "report.json"
    summary = run([folder], out, report_path=report_path)

    reasons = {source.name: reason for source, reason in summary.failed}
    assert reasons.keys() == expected.keys()
    for name, fragment in expected.items():
        assert fragment in reasons[name] and "\n" not in reasons[name]
    assert sorted(path.name for path in summary.done) == [
        "cmyk.jpg", "deep16.png", "good.png", "grey.png", "rgba.png", "rotated.jpg"
    ]  # fmt: skip
    assert summary.exit_code == 1
    assert fingerprints(folder) == before
    assert partials(out) == [] and partials(folder) == []
    saved = json.loads(report_path.read_text())
    assert {Path(entry["source"]).name for entry in saved["failed"]} == expected.keys()
    assert saved["exit_code"] == 1 and len(saved["done"]) == 6


def test_outputs_keep_the_inputs_kind(
    problem_folder: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    folder, _ = problem_folder
    out = tmp_path / "out"
    run([folder], out)
    modes = {path.name: Image.open(path).mode for path in out.iterdir()}
    assert modes["grey_glare.png"] == "L"
    assert modes["rgba_glare.png"] == "RGBA"
    assert modes["cmyk_glare.jpg"] == "RGB"
    assert read_image(out / "deep16_glare.png").bit_depth == 16
    assert Image.open(out / "rotated_glare.jpg").size == (10, 20)
    assert Image.open(out / "rotated_glare.jpg").getexif().get(ORIENTATION, 1) == 1
    alpha_in = np.asarray(Image.open(folder / "rgba.png"))[..., 3]
    np.testing.assert_array_equal(np.asarray(Image.open(out / "rgba_glare.png"))[..., 3], alpha_in)


def test_output_parent_that_is_a_file_fails_those_items_only(album: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "2023").write_text("a file where the 2023 folder should go")
    summary = run([album], out)
    assert [path.name for path in summary.done] == ["beach.png"]
    assert len(summary.failed) == 2
    assert all(
        "is a file, not a folder" in reason or "Not a directory" in reason
        for _, reason in summary.failed
    )
    assert partials(out) == []


def test_read_only_output_folder_is_refused_before_any_work(
    album: Path, read_only_folder: Path
) -> None:
    with pytest.raises(BatchUsageError, match="Permission denied|Operation not permitted"):
        plan_batch([album / "beach.png"], read_only_folder / "results", BatchOptions())
    assert list(read_only_folder.iterdir()) == []


def test_a_folder_locked_after_planning_fails_per_file(
    album: Path, read_only_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = (album / "beach.png").read_bytes()
    monkeypatch.setattr(batch, "_check_can_write_in", lambda folder, what: None)
    summary = run([album / "beach.png"], read_only_folder)
    assert len(summary.failed) == 1
    assert re.search("Permission denied|Operation not permitted", summary.failed[0][1])
    assert list(read_only_folder.iterdir()) == []
    assert (album / "beach.png").read_bytes() == original


def test_unexpected_enhance_error_is_one_line_and_the_batch_goes_on(
    album: Path, tmp_path: Path
) -> None:
    def fragile(
        rgb: np.ndarray, progress: ProgressFn | None, cancel: CancelToken | None
    ) -> np.ndarray:
        if rgb.mean() > 0.5:  # only the bright photo
            raise RuntimeError("CUDA error: out of memory\nsee log")
        return brighten(rgb, progress, cancel)

    save(album / "bright.png", np.full((8, 8, 3), 200, np.uint8))
    options = BatchOptions()
    summary = run_batch(plan_batch([album], tmp_path / "out", options), fragile, options)
    assert [(path.name, reason) for path, reason in summary.failed] == [
        ("bright.png", "RuntimeError: CUDA error: out of memory see log")
    ]
    assert len(summary.done) == 3


# --------------------------------------------------------------------------- progress and cancel


def test_progress_reports_count_current_file_and_eta(album: Path, tmp_path: Path) -> None:
    seen: list[BatchProgress] = []
    options = BatchOptions()
    items = plan_batch([album], tmp_path / "out", options)
    run_batch(items, brighten, options, progress=seen.append)
    assert [update.current for update in seen if update.file_fraction == 0.0] == [
        item.source for item in items
    ]
    assert all(update.total == 3 for update in seen)
    assert seen[0].eta_seconds is None
    assert all(update.eta_seconds is not None and update.eta_seconds >= 0 for update in seen[1:])
    assert seen[-1].index == 2 and seen[-1].file_fraction == 1.0
    assert seen[-1].eta_seconds == pytest.approx(0.0)


def cancel_when(token: CancelToken, index: int, fraction: float):
    def listener(update: BatchProgress) -> None:
        if update.index == index and update.file_fraction >= fraction:
            token.cancel()

    return listener


@pytest.mark.parametrize(
    ("index", "fraction", "done"),
    [(1, 0.5, 1), (0, 1.0, 1)],
    ids=["within-a-file", "between-files"],
)
def test_cancel_leaves_complete_outputs_only(
    album: Path, tmp_path: Path, index: int, fraction: float, done: int
) -> None:
    out, token, options = tmp_path / "out", CancelToken(), BatchOptions()
    items = plan_batch([album], out, options)
    before = fingerprints(album)
    summary = run_batch(
        items, brighten, options, progress=cancel_when(token, index, fraction), cancel=token
    )
    assert summary.cancelled and summary.exit_code == EXIT_CANCELLED
    assert summary.outputs == [item.target for item in items[:done]]
    assert sorted(p for p in out.rglob("*") if p.is_file()) == sorted(summary.outputs)
    assert partials(out) == [] and fingerprints(album) == before


# --------------------------------------------------------------------------- the real network


def test_batch_with_the_real_network(tmp_path: Path) -> None:
    engine = pytest.importorskip(
        "glare_core.engine", reason="glare_core.engine is not importable yet"
    )
    enhancer = engine.Enhancer.from_config("compact", device="cpu")

    def enhance(
        rgb: np.ndarray, progress: ProgressFn | None, cancel: CancelToken | None
    ) -> np.ndarray:
        return enhancer.enhance(rgb, progress=progress, cancel=cancel)

    source = save(tmp_path / "in" / "night.png", dark_pixels(48, 64, seed=11))
    options = BatchOptions()
    summary = run_batch(plan_batch([source], tmp_path / "out", options), enhance, options)
    assert summary.describe() == "1 done, 0 skipped, 0 failed"
    result = read_image(tmp_path / "out" / "night_glare.png")
    assert result.rgb.shape == (48, 64, 3) and np.isfinite(result.rgb).all()


def test_a_report_that_cannot_be_written_is_refused_before_any_work(
    album: Path, tmp_path: Path
) -> None:
    (tmp_path / "reports").write_text("a file where the report folder should go")
    options = BatchOptions(report_path=tmp_path / "reports" / "r.json")
    with pytest.raises(BatchUsageError, match="reports is a file, not a folder"):
        plan_batch([album / "beach.png"], tmp_path / "out", options)
    assert not (tmp_path / "out").exists()


def test_a_report_that_fails_after_the_photos_counts_as_a_failure(
    album: Path, tmp_path: Path
) -> None:
    options = BatchOptions(report_path=tmp_path / "reports" / "r.json")
    items = plan_batch([album / "beach.png"], tmp_path / "out", options)
    (tmp_path / "reports").write_text("a file where the report folder should go, since planning")
    summary = run_batch(items, brighten, options)
    assert len(summary.done) == 1 and summary.exit_code == 1
    assert summary.failed[0][1].startswith("cannot write the report")  # its path is beside it


def test_report_folder_is_created(album: Path, tmp_path: Path) -> None:
    report_path = tmp_path / "logs" / "today" / "report.json"
    run([album / "beach.png"], tmp_path / "out", report_path=report_path)
    assert json.loads(report_path.read_text())["summary"] == "1 done, 0 skipped, 0 failed"
