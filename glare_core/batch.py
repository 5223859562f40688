"""Batch export of files and folders, shared by ``glare enhance`` and the app's batch dialog.

Two steps, so a caller can show or check the plan before any work starts:

* :func:`plan_batch` maps inputs to outputs (the output tree mirrors each input
  folder) and refuses, with a one-line :class:`BatchUsageError`, anything that could
  write over an input photo or write two results to one file.
* :func:`run_batch` reads, enhances and writes each item. A file that fails is
  recorded with a one-line reason and the batch goes on; cancelling stops between
  files or, through the :class:`CancelToken` the enhance function polls, within one.
  Results are written atomically, so a cancelled, failed or killed batch leaves
  complete outputs only.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glare_core.atomic import atomic_write_bytes, make_folder
from glare_core.errors import GlareError, ImageWriteError, ResultExistsError, one_line, printable
from glare_core.imageio import (
    DEFAULT_MAX_PIXELS,
    SUPPORTED_EXTENSIONS,
    UNREADABLE_EXTENSIONS,
    WRITE_FORMATS,
    extension_for,
    format_from_extension,
    normalize_format,
    read_image,
    writable_format,
    write_image,
)
from glare_core.limits import DEFAULT_QUALITY
from glare_core.log import collected_warnings
from glare_core.progress import (
    EXIT_CANCELLED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    Cancelled,
    CancelToken,
    ProgressFn,
    clamped,
)

logger = logging.getLogger(__name__)

#: enhance(rgb float32 HxWx3 in [0, 1], progress, cancel) -> float32 HxWx3 in [0, 1]
EnhanceFn = Callable[[np.ndarray, ProgressFn | None, CancelToken | None], np.ndarray]
#: format of an input whose extension names none (an explicit file such as ``photo.dat``)
_FALLBACK_FORMAT = "PNG"
#: the longest file name most file systems allow (ext4 and APFS count 255 bytes of UTF-8,
#: NTFS 255 UTF-16 units)
MAX_NAME_BYTES = 255
#: whether names are counted in UTF-16 units (Windows) rather than bytes
_NAMES_IN_UTF16 = os.name == "nt"
#: characters Windows forbids in file names (and Cc controls): refused in a suffix on every
#: system, so that a batch's names are portable and a Windows batch fails before its work
_NOT_IN_NAMES = frozenset('<>:"|?*')
#: added to each result's file stem by default
DEFAULT_SUFFIX = "_glare"
#: names of files a warning lists before it gives the count of the rest
LISTED_NAMES = 3
#: the platform whose file systems ignore case by default, though os.path.normcase does not
_CASE_INSENSITIVE_MAC = "darwin"


class BatchUsageError(GlareError):
    """The batch as asked cannot run safely (missing input, output would replace an input...)."""


@dataclass
class BatchOptions:
    suffix: str = DEFAULT_SUFFIX  #: added to each output's file stem
    format: str | None = None  #: output format; None keeps the input's (BMP -> PNG, HEIF -> JPEG)
    quality: int = DEFAULT_QUALITY  #: JPEG / WebP quality
    overwrite: bool = False  #: False skips items whose output already exists
    recursive: bool = True  #: descend into sub-folders of input folders
    report_path: Path | None = None  #: write a JSON report of the outcome here
    max_pixels: int = DEFAULT_MAX_PIXELS  #: larger inputs are refused (decompression bombs)


@dataclass
class BatchItem:
    source: Path
    target: Path


@dataclass
class BatchProgress:
    index: int  #: 0-based position of ``current`` in the batch
    total: int
    current: Path
    file_fraction: float  #: progress within ``current``, in [0, 1]
    eta_seconds: float | None  #: None until there is a first measurement


@dataclass
class BatchSummary:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    cancelled: bool = False
    outputs: list[Path] = field(default_factory=list)  #: the files written, in ``done``'s order
    #: what the plan passed over and why (its warnings: photos left in an output folder
    #: inside the input, HEIC files without their reader, folders that cannot be listed)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """What ``glare enhance`` exits with: 130 when cancelled, else 1 when a file failed,
        else 0."""
        if self.cancelled:
            return EXIT_CANCELLED
        return EXIT_SOME_FAILED if self.failed else EXIT_OK

    def counts(self) -> str:
        """``"3 done, 1 skipped, 1 failed"``."""
        return f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed"

    def describe(self) -> str:
        """One line for a CLI or a log: the counts, and whether the batch was cancelled."""
        return self.counts() + (", cancelled" if self.cancelled else "")

    def to_dict(self) -> dict:
        return {
            "summary": self.describe(),
            "exit_code": self.exit_code,
            "cancelled": self.cancelled,
            "done": [
                {"source": str(source), "output": str(output)}
                for source, output in zip(self.done, self.outputs, strict=True)
            ],
            "skipped": [str(source) for source in self.skipped],
            "failed": [{"source": str(source), "reason": reason} for source, reason in self.failed],
            "notes": self.notes,
        }


# --------------------------------------------------------------------------- planning


def iter_images(
    folder: str | Path, recursive: bool = True, exclude: Sequence[Path] = ()
) -> Iterator[Path]:
    """Image files under ``folder`` by extension, sorted, skipping hidden names.

    Sub-folders in ``exclude`` are not entered (an output folder inside the input).
    """
    excluded = {_path_key(path) for path in exclude}
    for directory, subfolders, names in os.walk(folder, onerror=_log_walk_error):
        subfolders[:] = sorted(
            name
            for name in subfolders
            if not name.startswith(".") and _path_key(Path(directory, name)) not in excluded
        )
        for name in sorted(names):
            suffix = Path(name).suffix.lower()
            if name.startswith("."):
                continue
            if suffix in SUPPORTED_EXTENSIONS:
                yield Path(directory, name)
            elif suffix in UNREADABLE_EXTENSIONS:
                # listed, a HEIC original would fail, or clash with its JPEG copy's result
                logger.warning(
                    "%s passed over: %s", Path(directory, name), UNREADABLE_EXTENSIONS[suffix]
                )
        if not recursive:
            return


def collected_notes() -> AbstractContextManager[list[str]]:
    """The warnings the batch logs inside the block (as a plan passes photos over), in a
    list for :attr:`BatchSummary.notes`; they are logged as usual too."""
    return collected_warnings(logger.name)


def plan_batch(
    inputs: Sequence[Path], output: Path, options: BatchOptions, result_file: Path | None = None
) -> list[BatchItem]:
    """Map input files and folders to output files; :class:`BatchUsageError` if unsafe.

    ``result_file`` names the result of a single input file, in the folder ``output``, instead
    of a name made from the photo's (``glare enhance dark.jpg -o bright.png``).
    """
    with checking_paths():
        return _plan(inputs, Path(output), options, result_file)


@contextmanager
def checking_paths() -> Iterator[None]:
    """Turns an OSError raised while paths are checked into a one-line
    :class:`BatchUsageError`: the system refuses even to look at a name too long, or at one
    inside a folder without search permission."""
    try:
        yield
    except OSError as error:
        raise BatchUsageError(
            f"cannot look at {error.filename or 'a path'} ({error.strerror or error})"
        ) from error


def _plan(
    inputs: Sequence[Path], output: Path, options: BatchOptions, result_file: Path | None
) -> list[BatchItem]:
    if output.exists() and not output.is_dir():
        raise BatchUsageError(f"output {output} is a file, not a folder")
    requested = _requested_format(options)
    check_suffix(options.suffix)
    items: list[BatchItem] = []
    for given in map(Path, inputs):
        if not given.exists() and not given.is_symlink():
            raise BatchUsageError(f"input not found: {given}")
        if given.is_dir():
            for source in iter_images(given, options.recursive, exclude=[output]):
                relative = source.relative_to(given)
                name = result_name(source, options.suffix, requested)
                items.append(BatchItem(source, output / relative.parent / name))
        else:
            name = result_name(given, options.suffix, requested)
            items.append(BatchItem(given, result_file or output / name))
    if options.recursive:
        # in the order given (a set's order changed from run to run), each folder once
        for folder in dict.fromkeys(given for given in map(Path, inputs) if given.is_dir()):
            _warn_of_photos_left_in(output, folder, items)
    if items:
        _check_can_write_in(output, "output")
    if options.report_path is not None:
        _check_report_path(Path(options.report_path), output, items)
    return _checked_plan(items, options)


def _warn_of_photos_left_in(output: Path, folder: Path, items: Sequence[BatchItem]) -> None:
    """An output folder inside an input ``folder`` is not searched, so that results are not
    enhanced again; photos in it that ``items`` neither enhance nor write are said to be
    left out (a user's own, or results of photos since removed)."""
    output_key, folder_key = Path(_path_key(output)), Path(_path_key(folder))
    inside = output_key != folder_key and output_key.is_relative_to(folder_key)
    if not inside or not output.is_dir():
        return
    planned = {_path_key(photo) for item in items for photo in (item.source, item.target)}
    left = [path for path in iter_images(output) if _path_key(path) not in planned]
    if left:
        names = ", ".join(path.name for path in left[:LISTED_NAMES])
        more = f" and {len(left) - LISTED_NAMES} more" if len(left) > LISTED_NAMES else ""
        logger.warning(
            "%d photo(s) in the output folder %s, inside the input folder %s, are not "
            "enhanced (they could be earlier results): %s%s",
            len(left),
            output,
            folder,
            names,
            more,
        )


def check_suffix(suffix: str) -> None:
    """A :class:`BatchUsageError` unless ``suffix`` can end a file's stem on every system:
    no folders in it, nor characters Windows forbids in names."""
    separators = {"/", "\\", os.sep, os.altsep} - {None}
    if any(separator in suffix for separator in separators):
        raise BatchUsageError(f"the suffix {suffix!r} must not contain a path separator")
    forbidden = sorted({c for c in suffix if c in _NOT_IN_NAMES or unicodedata.category(c) == "Cc"})
    if forbidden:
        shown = " ".join(printable(character) for character in forbidden)
        raise BatchUsageError(
            f"the suffix {suffix!r} must not contain {shown}: file names on Windows "
            "cannot hold them"
        )


def _check_can_write_in(folder: Path, what: str) -> None:
    """A one-line :class:`BatchUsageError` now, before any photo is enhanced, unless files
    can be created in ``folder`` (or in the nearest folder above it, when it is still to be
    made)."""
    existing = Path(os.path.abspath(folder))
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise BatchUsageError(f"{what} {folder}: {existing} is a file, not a folder")
    try:
        # the one sure test, whatever permissions, mounts and privileges say
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise BatchUsageError(
            f"{what} {folder}: cannot write in {existing} ({error.strerror})"
        ) from error


def _check_report_path(path: Path, output: Path, items: Sequence[BatchItem]) -> None:
    # the output folders may not exist yet: a report named as one would fail after all the work
    folders = {_path_key(folder) for folder in (output, *(item.target.parent for item in items))}
    if path.is_dir() or _path_key(path) in folders:
        raise BatchUsageError(f"report {path} is a folder; name a .json file")
    photos = {_path_key(photo) for item in items for photo in (item.source, item.target)}
    if _path_key(path) in photos:
        raise BatchUsageError(
            f"report {path} would replace a photo of this batch; name a .json file"
        )
    if format_from_extension(path) is not None:  # a photo outside the batch, say
        raise BatchUsageError(f"report {path} is named as an image; name a .json file")
    _check_can_write_in(path.parent, "report")


def _requested_format(options: BatchOptions) -> str | None:
    if options.format is None:
        return None
    name = normalize_format(options.format)
    if name not in WRITE_FORMATS:
        choices = ", ".join(WRITE_FORMATS)
        raise BatchUsageError(f"cannot write format {options.format!r}; choose one of {choices}")
    return name


def result_name(source: Path, suffix: str, requested: str | None = None) -> str:
    """The file name of ``source``'s result: its stem plus ``suffix``, with the extension of
    the ``requested`` format (a canonical name, "JPEG"), else of the source's own, else of
    the format results of that kind are saved in (BMP as PNG, HEIF as JPEG)."""
    source_format = format_from_extension(source)
    output_format = requested or writable_format(source_format or _FALLBACK_FORMAT)
    keeps_extension = source_format == output_format
    extension = source.suffix if keeps_extension else extension_for(output_format)
    return f"{source.stem}{suffix}{extension}"


def _checked_plan(items: list[BatchItem], options: BatchOptions) -> list[BatchItem]:
    unique = list({_file_identity(item.source): item for item in items}.values())
    producers = {_path_key(item.target): item.source for item in unique}
    kept: list[BatchItem] = []
    for item in unique:
        producer = producers.get(_path_key(item.source))
        if producer is not None and producer != item.source:
            if not (options.suffix and item.source.stem.endswith(options.suffix)):
                raise BatchUsageError(
                    f"{item.source} is an input photo and would be replaced by the result of "
                    f"{producer.name}; choose another output folder, suffix or format"
                )
            if options.overwrite:  # nothing marks a result: it may be a photo of that name
                raise BatchUsageError(
                    f"{item.source} would be replaced by the result of {producer.name}, and "
                    "nothing tells an earlier result from a photo of that name; write the "
                    "results to another folder"
                )
            logger.warning(
                "%s looks like an earlier result of %s: left alone", item.source, producer
            )
            continue
        _refuse_overlong_name(item)
        _refuse_replacing_source(item)
        kept.append(item)
    _refuse_shared_targets(kept)
    return kept


def _name_length(name: str) -> int:
    """``name``'s length as this system's file systems count it."""
    if _NAMES_IN_UTF16:
        return len(name.encode("utf-16-le")) // 2
    return len(os.fsencode(name))


def _refuse_overlong_name(item: BatchItem) -> None:
    if _name_length(item.target.name) > MAX_NAME_BYTES:  # stat() itself would fail
        raise BatchUsageError(
            f"the result name for {item.source} would be over {MAX_NAME_BYTES} bytes, more "
            "than file systems allow; choose a shorter suffix or rename the photo"
        )


def _refuse_replacing_source(item: BatchItem) -> None:
    same = _path_key(item.target) == _path_key(item.source) or (
        item.target.exists() and os.path.samefile(item.target, item.source)
    )
    if same:
        raise BatchUsageError(
            f"output would replace the input photo {item.source}; "
            "choose another output folder, a suffix or another format"
        )


def _refuse_shared_targets(items: list[BatchItem]) -> None:
    seen: dict[str, Path] = {}
    for item in items:
        other = seen.setdefault(_path_key(item.target), item.source)
        if other != item.source:
            raise BatchUsageError(
                f"{other} and {item.source} would both be written to {item.target}"
            )


def _path_key(path: Path) -> str:
    """What names one file: on Windows and (by default) macOS, names differing in case do,
    and on macOS a name's composed and decomposed spellings (café with é or e + ´) too."""
    key = os.path.normcase(os.path.realpath(path))  # folds case on Windows only
    if sys.platform == _CASE_INSENSITIVE_MAC:
        return unicodedata.normalize("NFD", key).casefold()
    return key


def _file_identity(path: Path) -> object:
    """Which file an existing ``path`` is, whatever its spelling: two inputs that differ only
    in case are two photos on a case-sensitive volume (the path key dropped one)."""
    try:
        status = path.stat()
    except OSError:
        return _path_key(path)
    return status.st_dev, status.st_ino


def _log_walk_error(error: OSError) -> None:
    logger.warning("cannot list %s: %s", error.filename, error.strerror)


# --------------------------------------------------------------------------- running


def run_batch(
    items: list[BatchItem],
    enhance: EnhanceFn,
    options: BatchOptions,
    *,
    progress: Callable[[BatchProgress], None] | None = None,
    cancel: CancelToken | None = None,
    notes: Sequence[str] = (),
) -> BatchSummary:
    """Enhance every item; a failing file is recorded and the batch goes on. ``notes``: what
    planning it passed over (:attr:`BatchSummary.notes`)."""
    summary = BatchSummary(notes=list(notes))
    clock = _EtaClock(total=len(items))
    for index, item in enumerate(items):
        if cancel is not None and cancel.cancelled:
            summary.cancelled = True
            break
        if item.target.is_dir():  # neither an earlier result nor anything to overwrite
            reason = f"a folder is where its result goes: {item.target}"
            summary.failed.append((item.source, reason))
            continue
        if item.target.exists() and not options.overwrite:
            summary.skipped.append(item.source)
            continue
        file_progress = _FileProgress(progress, clock, index, item.source)
        clock.start_file()
        file_progress(0.0, "reading")
        try:
            _export(item, enhance, options, file_progress, cancel)
        except Cancelled:
            summary.cancelled = True
            break
        except ResultExistsError:  # written by another program or run meanwhile
            summary.skipped.append(item.source)
        except GlareError as error:
            summary.failed.append((item.source, _reason(error, item.source)))
        except Exception as error:  # one bad file must never stop the batch
            logger.exception("unexpected failure on %s", item.source)
            summary.failed.append((item.source, one_line(f"{type(error).__name__}: {error}")))
        else:
            summary.done.append(item.source)
            summary.outputs.append(item.target)
        finally:
            clock.end_file()
    if options.report_path is not None:
        try:
            write_report(summary, options.report_path)
        except ImageWriteError as error:  # the photos are done: report this like a failed file
            report = Path(options.report_path)
            summary.failed.append((report, _reason(error, report)))
    _log_summary(summary)
    return summary


def write_report(summary: BatchSummary, path: Path) -> None:
    """Write ``summary`` as JSON, atomically, creating its folder if needed."""
    path = Path(path)
    data = json.dumps(summary.to_dict(), indent=2).encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError as error:
        raise ImageWriteError(f"{path}: cannot write the report ({error.strerror})") from error


def _export(
    item: BatchItem,
    enhance: EnhanceFn,
    options: BatchOptions,
    file_progress: ProgressFn,
    cancel: CancelToken | None,
) -> None:
    image = read_image(item.source, options.max_pixels)
    result = enhance(image.rgb, file_progress, cancel)
    make_folder(item.target.parent, ImageWriteError)
    write_image(
        item.target, result, source=image, quality=options.quality, replace=options.overwrite
    )
    file_progress(1.0, "written")


def _reason(error: GlareError, source: Path) -> str:
    """Why ``source`` failed, without its path in front: it is listed beside the reason."""
    return one_line(error).removeprefix(f"{one_line(str(source))}: ")


def _log_summary(summary: BatchSummary) -> None:
    # at info level: the command line and the app show the failures themselves
    logger.info("batch: %s", summary.describe())
    for source, reason in summary.failed:
        logger.info("failed %s: %s", source.name, reason)


@dataclass
class _EtaClock:
    """Estimates the time left from the seconds spent on files actually enhanced."""

    total: int
    processed: int = 0
    busy_seconds: float = 0.0
    file_started: float = 0.0

    def start_file(self) -> None:
        self.file_started = time.monotonic()

    def end_file(self) -> None:
        self.busy_seconds += time.monotonic() - self.file_started
        self.processed += 1

    def eta(self, index: int, fraction: float) -> float | None:
        units_done = self.processed + fraction
        if units_done <= 0:
            return None
        seconds = self.busy_seconds + time.monotonic() - self.file_started
        # Items still ahead may turn out to be skipped: the estimate errs long, never short.
        return seconds / units_done * (self.total - index - fraction)


@dataclass
class _FileProgress:
    """The :data:`ProgressFn` handed to the enhance function for one file."""

    listener: Callable[[BatchProgress], None] | None
    clock: _EtaClock
    index: int
    source: Path

    def __call__(self, fraction: float, stage: str) -> None:
        if self.listener is None:
            return
        fraction = clamped(fraction)
        self.listener(
            BatchProgress(
                index=self.index,
                total=self.clock.total,
                current=self.source,
                file_fraction=fraction,
                eta_seconds=self.clock.eta(self.index, fraction),
            )
        )
