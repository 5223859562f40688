"""The ``glare`` command: brighten photos and score results from a terminal.

Each subcommand is registered by one small ``_add_*_parser`` function listed in
:data:`SUBCOMMANDS` and runs through the ``handler`` it sets as a default. The model, image I/O
and batch modules are imported inside the handlers so that ``glare --help`` answers at once.
This module is the command line's presentation layer: results go to stdout, problems to stderr
as one ``glare: ...`` line each, and every :class:`GlareError` ends the command without a
traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from glare_core import __version__
from glare_core.config import PRECISIONS
from glare_core.denoise import MAX_NOISE_REDUCTION
from glare_core.errors import GlareError, one_line, printable
from glare_core.exposure import MAX_EXPOSURE_STOPS
from glare_core.help_format import ParagraphHelpFormatter
from glare_core.limits import (
    DEFAULT_QUALITY,
    MAX_SEED,
    MAX_STRENGTH,
    MAX_TEMPERATURE,
    MAX_TILE_SIZE,
    MIN_STRENGTH,
    MIN_TILE_SIZE,
    QUALITY_RANGE,
    TRAINED_STRENGTH,
)
from glare_core.log import setup_logging
from glare_core.pairs import HIGH_FOLDER, LOW_FOLDER, matched_pairs
from glare_core.photo_colour import MAX_PHOTO_COLOUR
from glare_core.progress import (
    EXIT_CANCELLED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    Cancelled,
    CancelToken,
    quit_hint,
    stop_requests,
)
from glare_core.train import cli as train_cli

if TYPE_CHECKING:
    import numpy as np
    from numpy.random import Generator

    from glare_core.batch import BatchProgress, BatchSummary
    from glare_core.engine import Enhancer
    from glare_core.metrics import PairScores

EXIT_CANNOT_RUN = 2  # argparse uses 2 for usage errors; bad paths, weights and devices join them

#: glare_core.imageio.WRITE_FORMATS, spelt here so that ``--help`` imports no imaging library
#: (tests/test_cli.py checks that the two agree)
FORMATS = ("png", "jpeg", "tiff", "webp")
DARKEN_RANGE = (0.01, 1.0)
#: the description at the end, where tqdm would put a postfix behind a stray ", "
BAR_FORMAT = "{percentage:3.0f}%|{bar}| [{elapsed}] {desc}"

EXIT_STATUS_HELP = f"""\
exit status:
  {EXIT_OK:<4} every input was done (or skipped because its result exists)
  {EXIT_SOME_FAILED:<4} some inputs failed; they are listed on stderr
  {EXIT_CANNOT_RUN:<4} the command could not run: bad arguments, paths, weights, config or device
  {EXIT_CANCELLED:<4} cancelled with Ctrl-C or a termination signal (SIGTERM)"""

Handler = Callable[[argparse.Namespace], int]


# ---------------------------------------------------------------- argument types


def _ranged(kind: Callable[[str], float], low: float, high: float) -> Callable[[str], Any]:
    """An argparse type: ``kind(text)`` that must lie in [low, high]."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            noun = "whole number" if kind is int else "number"
            raise argparse.ArgumentTypeError(f"{text!r} is not a {noun}") from None
        if value < low and high == NO_UPPER_LIMIT:
            raise argparse.ArgumentTypeError(f"{text} is below {_plain(low)}")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is outside {_plain(low)} to {_plain(high)}")
        return value

    return parse


def _path(text: str) -> Path:
    """An argparse type: a path, but never the empty string (which would mean ".")."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path names no file or folder")
    return Path(text)


def _plain(bound: float) -> str:
    """A bound as written: ``2`` for 2.0, every digit of an integer."""
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


DASH_VALUE_OPTIONS = ("--suffix",)  # whose values may start with a dash: "-lit", "-v2"
NO_UPPER_LIMIT = sys.float_info.max  # the largest finite float: "inf" is refused
_positive_int = _ranged(int, 1, NO_UPPER_LIMIT)
_non_negative_float = _ranged(float, 0.0, NO_UPPER_LIMIT)


# ---------------------------------------------------------------- shared options


def _add_verbose_option(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="say which device and weights are used (-vv: debug details)",
    )


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model and device")
    group.add_argument(
        "--weights",
        action="append",
        default=[],
        type=_path,
        metavar="FILE",
        help="weights to load instead of the bundled ones: a Glare Studio .safetensors file, or "
        "the official GLARE checkpoints (repeat the option for net_G.pth and vqgan.pkl)",
    )
    group.add_argument(
        "--config",
        metavar="NAME|FILE",
        help="network shape: a preset name (compact, official) or an official GLARE .yml; "
        "by default it is read from the weights",
    )
    group.add_argument(
        "--device",
        default="auto",
        help="auto (default: CUDA, else Apple MPS, else CPU), cpu, cuda or mps",
    )
    group.add_argument(
        "--tile",
        type=_ranged(int, MIN_TILE_SIZE, MAX_TILE_SIZE),
        metavar="N",
        help=f"process large images in N x N pixel tiles to save memory, N from {MIN_TILE_SIZE} "
        f"to {MAX_TILE_SIZE} (default: automatic); "
        "tiles share image-wide statistics measured on a copy scaled down to one tile, so "
        "small tiles move the result a little",
    )
    group.add_argument(
        "--threads",
        type=_positive_int,
        metavar="N",
        help="CPU threads (default: one per physical core)",
    )
    group.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto (default): the decoders run in bfloat16 where the weights allow it and the "
        "device computes it natively (about 1.5x faster on such CPUs, within a level of "
        "float32); float32: never",
    )
    group.add_argument(
        "--full-resolution",
        action="store_true",
        help="run the network on the whole photo even where the weights name a smaller "
        "working size (slower; the bundled model then draws codebook blocks on large, "
        "flat, dark areas)",
    )
    group.add_argument(
        "--noise-reduction",
        type=_ranged(float, 0.0, MAX_NOISE_REDUCTION),
        metavar="H",
        help="strength of the noise filter on the photo before the network, in 8-bit levels "
        f"of the brightened photo: 0 turns it off, 3 is barely visible, {MAX_NOISE_REDUCTION:g} "
        "paints surfaces flat; the bundled weights scale it up on photos noisier than usual "
        "(default: read from the weights)",
    )


# ---------------------------------------------------------------- enhance


def _add_enhance_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "enhance",
        help="brighten photos and save the results",
        description="Brighten dark photos with GLARE. INPUT may be image files and folders; "
        "folders are searched recursively unless --no-recursive is given (but not an OUTPUT "
        "folder inside one, which holds the results; a warning names any other photos in "
        "it). Each result is "
        "saved in the OUTPUT folder under its source's name plus --suffix. With a single "
        "input file, OUTPUT may instead be the result's file name.",
        epilog="examples:\n"
        "  glare enhance night.jpg -o enhanced/\n"
        "  glare enhance holiday/ -o enhanced/ --strength 1.3 --format jpeg --quality 92\n"
        "  glare enhance dark.png -o bright.png --device cuda\n\n" + EXIT_STATUS_HELP,
        formatter_class=ParagraphHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", type=_path, metavar="INPUT", help="files or folders")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        type=_path,
        help="output folder; for one input, OUTPUT may name the result's file instead "
        "(.png, .jpg, .jpeg or .jpe, .tif or .tiff, .webp; other image extensions, such as "
        ".bmp, are refused, and any other name is a folder)",
    )
    _add_look_options(parser)
    _add_model_options(parser)
    _add_output_file_options(parser)
    _add_verbose_option(parser, argparse.SUPPRESS)
    parser.set_defaults(handler=_run_enhance)


def _add_look_options(parser: argparse.ArgumentParser) -> None:
    look = parser.add_argument_group("look")
    look.add_argument(
        "--strength",
        type=_ranged(float, MIN_STRENGTH, MAX_STRENGTH),
        default=TRAINED_STRENGTH,
        metavar="S",
        help="from 0 (only the clean, generated detail) through 1 (as trained, the default) "
        "to 2 (only the photo's own detail: most faithful, but noisier)",
    )
    look.add_argument(
        "--temperature",
        type=_ranged(float, 0.0, MAX_TEMPERATURE),
        default=0.0,
        metavar="T",
        help=f"randomness of the generated detail, 0 to {MAX_TEMPERATURE:g}; 0 (default) is "
        "deterministic",
    )
    look.add_argument(
        "--seed",
        type=_ranged(int, 0, MAX_SEED),
        default=0,
        metavar="N",
        help="random seed; the same seed and temperature give the same picture (default: 0)",
    )
    look.add_argument(
        "--exposure",
        type=_ranged(float, -MAX_EXPOSURE_STOPS, MAX_EXPOSURE_STOPS),
        default=0.0,
        metavar="STOPS",
        help="make the result darker (negative) or brighter (positive) by this many stops, "
        f"up to {MAX_EXPOSURE_STOPS:g} either way; each stop halves or doubles the light "
        "(default: 0, the brightness the model chose)",
    )
    _add_photo_colour(look)


def _add_output_file_options(parser: argparse.ArgumentParser) -> None:
    files = parser.add_argument_group("output files")
    files.add_argument("--suffix", metavar="S", help="added to result names (default: _glare)")
    files.add_argument(
        "--format", choices=FORMATS, help="file format of results (default: as the input)"
    )
    files.add_argument(
        "--quality",
        type=_ranged(int, *QUALITY_RANGE),
        metavar="Q",
        help=f"JPEG/WebP quality, {QUALITY_RANGE[0]}-{QUALITY_RANGE[1]} "
        f"(default: {DEFAULT_QUALITY})",
    )
    files.add_argument(
        "--overwrite", action="store_true", help="replace existing results instead of skipping"
    )
    files.add_argument(
        "--no-recursive",
        dest="recursive",
        action="store_false",
        default=None,
        help="only take the images directly inside INPUT folders",
    )
    files.add_argument(
        "--report", type=_path, metavar="FILE.json", help="also write what was done to FILE.json"
    )


def _batch_options(args: argparse.Namespace) -> Any:
    """:class:`BatchOptions` with the options given; the others keep the library defaults."""
    from glare_core.batch import BatchOptions

    given = {
        "suffix": args.suffix,
        "format": args.format,
        "quality": args.quality,
        "recursive": args.recursive,
        "report_path": args.report,
    }
    return BatchOptions(
        overwrite=args.overwrite,
        **{name: value for name, value in given.items() if value is not None},
    )


def _load_enhancer(args: argparse.Namespace) -> Enhancer:
    from glare_core.engine import Enhancer

    return Enhancer.load(
        weights=args.weights,
        config=args.config,
        device=args.device,
        tile_size=args.tile,
        precision=args.precision,
        full_resolution=args.full_resolution,
        noise_reduction=args.noise_reduction,
        threads=args.threads,
    )


@contextmanager
def _cancel_on_stop_signals() -> Iterator[CancelToken]:
    """The first Ctrl-C (or SIGTERM) asks the work to stop within the network layer it is
    in, so that results already written stay complete and the report is written; a second
    one stops at once."""
    token = CancelToken()

    def on_stop(signum: int) -> None:
        token.cancel()
        print(f"glare: stopping{quit_hint(signum)}", file=sys.stderr)

    with stop_requests(on_stop):
        yield token


def _progress_bar(total: int, unit: str) -> Any:
    from tqdm import tqdm

    # disable=None hides the bar when stderr is not a terminal (logs, pipes, tests)
    return tqdm(total=total, unit=unit, bar_format=BAR_FORMAT, disable=None, dynamic_ncols=True)


def _batch_progress(bar: Any) -> Callable[[BatchProgress], None]:
    from tqdm import tqdm

    def update(progress: BatchProgress) -> None:
        eta = "?" if progress.eta_seconds is None else tqdm.format_interval(progress.eta_seconds)
        bar.n = progress.index + progress.file_fraction
        bar.set_description_str(
            f"{progress.index + 1}/{progress.total} {progress.current.name}, ETA {eta}"
        )

    return update


def _names_a_result_file(output: Path) -> bool:
    from glare_core.imageio import names_a_picture

    return not output.is_dir() and names_a_picture(output)


def _plan(inputs: Sequence[Path], output: Path, options: Any) -> list[Any]:
    """The batch plan; OUTPUT is taken as the result's file name for one input file."""
    from glare_core.batch import checking_paths, plan_batch

    with checking_paths():
        names_a_file = _names_a_result_file(output)
        several = len(inputs) > 1 or inputs[0].is_dir()
    if not names_a_file:
        return plan_batch(inputs, output, options)
    if several:
        # it became a folder of that name: a glob that matched two photos changed what -o meant
        raise GlareError(
            f"{output} names one result file, but the input holds several photos (or a "
            "folder); give an output folder"
        )
    _check_result_file_name(output, options.format)
    return plan_batch(inputs, output.parent, options, result_file=output)


def _check_result_file_name(output: Path, requested_format: str | None) -> None:
    """A GlareError unless the result file ``output`` names a format that is written, and
    the one ``--format`` asks for, if any."""
    from glare_core.imageio import WRITE_FORMATS, format_from_extension, normalize_format

    named = format_from_extension(output)
    if named not in WRITE_FORMATS:
        choices = ", ".join(WRITE_FORMATS)
        shown = named or output.suffix
        raise GlareError(f"cannot write {shown} files ({output.name}); choose one of {choices}")
    if requested_format is not None and normalize_format(requested_format) != named:
        raise GlareError(f"--format {requested_format} does not match the result's name {output}")


def _add_photo_colour(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--photo-colour",
        type=_ranged(float, 0.0, MAX_PHOTO_COLOUR),
        default=0.0,
        metavar="SHARE",
        help="keep this share of the photo's own colour, from 0 (default: the model's neutral "
        "colour, which removes colour casts) to 1 (the photo's colour: warm lamplight and "
        "warm scenes stay warm, and so do casts)",
    )


def _run_enhance(args: argparse.Namespace) -> int:
    # from the start, so that a stop while the libraries or the model load ends the batch
    # before its first photo, with its report and exit status
    with _cancel_on_stop_signals() as cancel:
        return _enhance_batch(args, cancel)


def _enhance_batch(args: argparse.Namespace, cancel: CancelToken) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from glare_core.batch import BatchSummary, collected_notes, run_batch, write_report
    from glare_core.session import Controls, enhance_fn

    options = _batch_options(args)
    with collected_notes() as notes:
        items = _plan(args.inputs, args.output, options)  # bad paths fail before the model
    if not items:
        print("nothing to enhance: no images found in the inputs")
        if options.report_path is not None:  # scripts read it whatever happened
            write_report(BatchSummary(notes=notes), options.report_path)
        return EXIT_OK
    enhancer = _load_enhancer(args)
    controls = Controls(
        args.strength,
        args.temperature,
        args.seed,
        enhancer.noise_reduction,  # --noise-reduction, else the weights' own
        args.exposure,
        args.photo_colour,
    )
    enhance = enhance_fn(enhancer, controls)
    with logging_redirect_tqdm(), _progress_bar(len(items), "image") as bar:
        summary = run_batch(
            items, enhance, options, progress=_batch_progress(bar), cancel=cancel, notes=notes
        )
    _print_batch_summary(summary, args.output)
    return summary.exit_code


def _print_batch_summary(summary: BatchSummary, output: Path) -> None:
    # an OUTPUT naming the result's file is not a folder things went into
    folder = output.parent if _names_a_result_file(output) else output
    line = f"enhanced {len(summary.done)} image(s) into {folder}"
    if summary.skipped:
        line += f"; skipped {len(summary.skipped)} whose result exists (use --overwrite)"
    if summary.cancelled:
        line += "; cancelled before the end"
    print(printable(line))
    for path, reason in summary.failed:
        print(f"glare: failed: {printable(path)}: {reason}", file=sys.stderr)


# ---------------------------------------------------------------- eval


def _add_eval_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="score enhanced images against references (PSNR, SSIM)",
        description="Score images against normal-light references: PSNR and SSIM on 0-255 RGB "
        "(SSIM as scikit-image computes it over colour channels), plus their GT-mean variants, "
        "which first rescale each result so its mean grey level (the plain mean over pixels "
        "and channels) equals the reference's. Either compare two folders of existing images "
        "(--pred, --ref; files are matched by name without extension), or let GLARE enhance "
        "PAIRS/low at strength 1 and temperature 0 and score the results against PAIRS/high.",
        epilog="examples:\n"
        "  glare eval --pred results/ --ref eval/high\n"
        "  glare eval --pairs eval/ --weights my-model.safetensors --json\n"
        "  glare eval --pairs eval/ --darken 0.5      # the same scenes, one stop darker\n"
        "  glare eval --pairs eval/ --shot-noise 2e-5 --read-noise 1e-4 --noise-grain 3"
        "  # with a camera's grain",
        formatter_class=ParagraphHelpFormatter,
    )
    folders = parser.add_argument_group("score existing images")
    folders.add_argument("--pred", type=_path, metavar="DIR", help="the images to score")
    folders.add_argument("--ref", type=_path, metavar="DIR", help="their references")
    pairs = parser.add_argument_group("enhance and score")
    pairs.add_argument(
        "--pairs", type=_path, metavar="DIR", help="a folder with low/ and high/ sub-folders"
    )
    pairs.add_argument(
        "--darken",
        type=_ranged(float, *DARKEN_RANGE),
        default=1.0,
        metavar="F",
        help="multiply the low images by F and store them in 8 bits again, as a darker "
        "capture would be, before enhancing (default: 1)",
    )
    pairs.add_argument(
        "--shot-noise",
        type=_non_negative_float,
        default=0.0,
        metavar="S",
        help="then add a darker capture's sensor noise, as the training augmentation draws "
        "it: shot noise of S per unit of linear light (the linear value of one "
        "photo-electron; 5e-5 is a strong grain) and read noise of --read-noise; seeded, so "
        "every run scores the same noisy images (default: 0, none)",
    )
    pairs.add_argument(
        "--read-noise",
        type=_non_negative_float,
        default=0.0,
        metavar="R",
        help="standard deviation of the read noise in linear light, with --shot-noise (default: 0)",
    )
    pairs.add_argument(
        "--noise-grain",
        type=_positive_int,
        default=1,
        metavar="PX",
        help="spread that noise over PX pixels, as a camera's demosaicing, in-camera "
        "denoising and resizing do (default: 1, per-pixel noise)",
    )
    _add_photo_colour(pairs)
    _add_model_options(parser)
    parser.add_argument(
        "--json", action="store_true", help="print machine-readable JSON instead of a table"
    )
    _add_verbose_option(parser, argparse.SUPPRESS)
    parser.set_defaults(handler=_run_eval)


def _score_folders(pred_dir: Path, ref_dir: Path) -> list[tuple[str, PairScores]]:
    from glare_core.imageio import read_image
    from glare_core.metrics import score_pair

    rows = []
    for name, pred, ref in matched_pairs(pred_dir, ref_dir):
        try:
            rows.append((name, score_pair(read_image(pred).rgb, read_image(ref).rgb)))
        except GlareError as error:  # a mean over some pairs would pass for the whole set's
            raise GlareError(f"{pred}: {error}") from error
    return rows


def _darker_capture(low: np.ndarray, args: argparse.Namespace, rng: Generator) -> np.ndarray:
    """``low`` as ``--darken``, ``--shot-noise``, ``--read-noise`` and ``--noise-grain`` ask."""
    from glare_core.train.augment import darker_capture

    return darker_capture(low, args.darken, args.shot_noise, args.read_noise, rng, args.noise_grain)


def _score_enhanced_pairs(args: argparse.Namespace) -> list[tuple[str, PairScores]]:
    import numpy as np

    from glare_core.eight_bit import as_stored
    from glare_core.imageio import read_image
    from glare_core.metrics import score_pair

    pairs = matched_pairs(args.pairs / LOW_FOLDER, args.pairs / HIGH_FOLDER, every_second=True)
    enhancer = _load_enhancer(args)
    rows = []
    with _cancel_on_stop_signals() as cancel, _progress_bar(len(pairs), "pair") as bar:
        for index, (name, low_path, high_path) in enumerate(pairs):
            bar.set_description_str(name)
            low = _darker_capture(read_image(low_path).rgb, args, np.random.default_rng(index))
            enhanced = enhancer.enhance(
                low,
                strength=TRAINED_STRENGTH,
                temperature=0.0,
                photo_colour=args.photo_colour,
                cancel=cancel,
            )
            # scored as the 8-bit file a user would save, like the baselines
            saved = as_stored(enhanced)
            rows.append((name, score_pair(saved, read_image(high_path).rgb)))
            bar.update()
    return rows


def _mean_scores(rows: Sequence[tuple[str, PairScores]]) -> dict[str, float]:
    columns = [asdict(scores) for _, scores in rows]
    return {key: sum(column[key] for column in columns) / len(columns) for key in columns[0]}


def _finite_or_none(scores: dict[str, float]) -> dict[str, float | None]:
    """JSON has no infinity (the PSNR of identical images): it becomes null."""
    return {key: value if math.isfinite(value) else None for key, value in scores.items()}


def _print_scores_json(rows: Sequence[tuple[str, PairScores]]) -> None:
    report = {
        "count": len(rows),
        "mean": _finite_or_none(_mean_scores(rows)),
        "images": [{"name": name, **_finite_or_none(asdict(scores))} for name, scores in rows],
    }
    print(json.dumps(report, indent=2))


def _print_scores_table(rows: Sequence[tuple[str, PairScores]]) -> None:
    width = max(len("image"), *(len(name) for name, _ in rows))
    print(f"{'image':<{width}}  {'PSNR':>6}  {'SSIM':>6}  {'PSNR-GTm':>8}  {'SSIM-GTm':>8}")
    for name, s in rows:
        print(
            f"{name:<{width}}  {s.psnr:6.2f}  {s.ssim:6.4f}  {s.psnr_gt_mean:8.2f}  "
            f"{s.ssim_gt_mean:8.4f}"
        )
    mean = _mean_scores(rows)
    print(
        f"mean of {len(rows)} image(s): PSNR {mean['psnr']:.2f} dB, SSIM {mean['ssim']:.4f}, "
        f"GT-mean PSNR {mean['psnr_gt_mean']:.2f} dB, GT-mean SSIM {mean['ssim_gt_mean']:.4f}"
    )


def _run_eval(args: argparse.Namespace) -> int:
    comparing_folders = args.pred is not None or args.ref is not None
    if args.pairs is not None and comparing_folders:
        raise GlareError("give either --pairs, or --pred with --ref, not both")
    if args.pairs is not None:
        rows = _score_enhanced_pairs(args)
    elif args.pred is not None and args.ref is not None:
        rows = _score_folders(args.pred, args.ref)
    else:
        raise GlareError("give --pred DIR and --ref DIR, or --pairs DIR")
    (_print_scores_json if args.json else _print_scores_table)(rows)
    return EXIT_OK


# ---------------------------------------------------------------- entry point

#: One line per subcommand; a new one adds its ``add_parser(subparsers)`` here.
SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_enhance_parser,
    _add_eval_parser,
    train_cli.add_parser,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glare",
        description="Glare Studio on the command line: brighten dark photos with GLARE "
        "(ECCV 2024) and measure the results.",
        epilog="Run 'glare COMMAND --help' for the options of a command. "
        "The desktop app is 'glare-studio'.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_verbose_option(parser, 0)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add_parser in SUBCOMMANDS:
        add_parser(subparsers)
    return parser


def _joined_dash_values(argv: Sequence[str]) -> list[str]:
    """``--suffix -lit`` as ``--suffix=-lit``: argparse reads a value starting with a dash as
    an option, and says the suffix is missing. A short option (``--suffix -o out``) is still
    read as one: the suffix was forgotten."""
    joined: list[str] = []
    words = iter(argv)
    for word in words:
        following = next(words, None) if word in DASH_VALUE_OPTIONS else None
        if following is not None and not following.startswith("--") and len(following) > 2:
            joined.append(f"{word}={following}")
        else:
            joined.extend(w for w in (word, following) if w is not None)
    return joined


def run() -> NoReturn:
    """The ``glare`` program: :func:`main`, then exit with its status."""
    # a path of bytes no encoding reads (kept by Python as surrogates) prints escaped
    # instead of raising after the work is done
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    code = main()
    if code == EXIT_CANCELLED:
        # stopped cleanly on a signal: one more SIGTERM (a scheduler's, passed on by a
        # launcher) must not kill the interpreter while it shuts down, most of a second
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``glare`` with ``argv`` (default: ``sys.argv[1:]``) and return its exit code."""
    args = build_parser().parse_args(_joined_dash_values(sys.argv[1:] if argv is None else argv))
    setup_logging(args.verbose)
    handler: Handler = args.handler
    try:
        return handler(args)
    except GlareError as error:
        print(f"glare: error: {one_line(error)}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except (Cancelled, KeyboardInterrupt):
        print("glare: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
