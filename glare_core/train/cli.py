"""``glare train STAGE``: run one training stage from the command line.

The settings are the stage's preset (:data:`glare_core.train.config.PRESETS`), then the YAML
file given with ``--config`` (after the file it ``extends``, if it names one), then the
command-line options, each overriding the one before.
The stage itself lives in ``glare_core.train.stages`` as ``train_<stage>(config)``, imported
only when the command runs so that ``glare --help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glare_core.errors import GlareError
from glare_core.help_format import ParagraphHelpFormatter
from glare_core.progress import EXIT_CANCELLED, EXIT_OK
from glare_core.train.config import (
    PROCESS_SETTINGS,
    STAGES,
    TrainConfig,
    load_train_config,
    override,
)

if TYPE_CHECKING:
    from glare_core.train.loop import TrainResult

STAGES_MODULE = "glare_core.train.stages"

#: command-line option (argparse destination) -> TrainConfig field it overrides
_OPTION_FIELDS = {
    "out": "out_dir",
    "steps": "steps",
    "max_minutes": "max_minutes",
    "device": "device",
    "data": "data_root",
    "seed": "seed",
}


#: a stop at the time budget is not success: a script that chains stages must not go on to
#: the next one, which would start from this one's unfinished weights
EXIT_UNFINISHED = 3


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one stage of the GLARE network",
        description="Train one GLARE stage: vqgan (normal-light codebook), flow (conditional "
        "encoder and invertible flow), fusion (decoder with adaptive mixing blocks); "
        "denoiser and noisy_fusion train the path that photos far noisier than the "
        "training pairs take (a learned denoiser, and a fusion decoder behind it). "
        "Checkpoints are written to the output folder every few minutes and when the run is "
        "stopped (Ctrl-C, SIGTERM, --max-minutes); --resume continues from the newest one "
        "exactly as if the run had never stopped, with the settings it was saved with "
        "unless --config or an option names others. A finished stage writes glare.safetensors "
        f"(exit status 0); a stop at --max-minutes writes no weights (exit status "
        f"{EXIT_UNFINISHED}), Ctrl-C or SIGTERM neither ({EXIT_CANCELLED}). Under torchrun "
        "the same command trains on several processes.",
        epilog="examples:\n"
        "  glare train vqgan --data data/lowlight-pairs --out runs/vqgan --max-minutes 60\n"
        "  glare train vqgan --out runs/vqgan --resume\n"
        "  torchrun --nproc-per-node 4 -m glare_core train flow --config flow.yaml",
        formatter_class=ParagraphHelpFormatter,
    )
    parser.add_argument("stage", choices=STAGES, help="the stage to train")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="YAML",
        help="settings that override the stage's preset (a line 'extends: OTHER.yaml' first"
        " applies another file's)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="folder for checkpoints and the log; one run's own (one with another run's "
        "checkpoints is refused unless --resume continues that run)",
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="folder with train/ and eval/ pairs (default: the --config file's data_root, "
        f"else {TrainConfig.data_root}, relative to the working directory)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in --out (without --config, with its settings)",
    )
    parser.add_argument("--steps", type=int, metavar="N", help="total optimizer steps")
    parser.add_argument(
        "--max-minutes", type=float, metavar="M", help="checkpoint and stop after M minutes"
    )
    parser.add_argument("--device", help="auto, cpu, cuda or mps")
    parser.add_argument("--seed", type=int, help="seed of model and data randomness")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (e.g. in batch jobs)"
    )
    parser.set_defaults(handler=run_train)


def build_config(args: argparse.Namespace) -> TrainConfig:
    config = load_train_config(args.stage, args.config)
    if args.resume and args.config is None:
        config = _with_saved_settings(config, Path(args.out or config.out_dir))
    changes: dict[str, Any] = {
        field: getattr(args, option)
        for option, field in _OPTION_FIELDS.items()
        if getattr(args, option) is not None
    }
    if args.resume:
        changes["resume"] = True
    if args.no_progress:
        changes["progress_bar"] = False
    return dataclasses.replace(config, **changes)


def _with_saved_settings(config: TrainConfig, out_dir: Path) -> TrainConfig:
    """``config`` with the settings of the run saved in ``out_dir``'s newest checkpoint, but
    for those of this process (device, time budget, ...): ``--resume`` without ``--config``
    continues the run as it was set up, not as the stage's preset would be."""
    from glare_core.train.checkpoint import check_stage, latest_checkpoint, load_checkpoint

    path = latest_checkpoint(out_dir)
    if path is None:
        return config
    saved = load_checkpoint(path)["config"]
    # now: the stage's own preset, taken instead, would be refused for what it lacks
    check_stage(path, saved, config.stage)
    fields = {field.name for field in dataclasses.fields(TrainConfig)} - set(PROCESS_SETTINGS)
    return override(config, {name: value for name, value in saved.items() if name in fields})


def stage_trainer(stage: str) -> Callable[[TrainConfig], Any]:
    """``glare_core.train.stages.train_<stage>``; a :class:`GlareError` while it is missing."""
    try:
        module = importlib.import_module(STAGES_MODULE)
    except ModuleNotFoundError as error:
        if error.name != STAGES_MODULE:
            raise
        raise GlareError(f"training stage {stage!r} is not implemented yet") from None
    trainer = getattr(module, f"train_{stage}", None)
    if trainer is None:
        raise GlareError(f"training stage {stage!r} is not implemented yet")
    return trainer


def _print_summary(stage: str, result: TrainResult, out_dir: Path) -> None:
    from glare_core.train.loop import FINISHED, OUT_OF_TIME, format_values
    from glare_core.weights import EXPORT_NAME

    print(f"{stage}: stopped at step {result.step} ({result.reason})")
    if result.losses:
        print(f"last losses: {format_values(result.losses)}")
    if result.validation:
        print(f"last validation: {format_values(result.validation)}")
    if result.checkpoint is not None:
        print(f"checkpoint: {result.checkpoint} (resume with --resume)")
    weights = out_dir / EXPORT_NAME
    if result.reason == FINISHED and weights.is_file():
        print(f"weights: {weights} (glare enhance --weights)")
    elif result.reason == OUT_OF_TIME:
        print("unfinished: no weights exported; --resume trains on to the last step")


def run_train(args: argparse.Namespace) -> int:
    from glare_core.train.distributed import Distributed

    config = build_config(args)
    result = stage_trainer(args.stage)(config)
    if Distributed.is_main_process():  # every process of a torchrun job ends here
        _print_summary(args.stage, result, Path(config.out_dir))
    return _exit_code(result.reason)


def _exit_code(reason: str) -> int:
    from glare_core.train.loop import FINISHED, OUT_OF_TIME, STOPPED_BY_SIGNAL

    codes = {FINISHED: EXIT_OK, STOPPED_BY_SIGNAL: EXIT_CANCELLED, OUT_OF_TIME: EXIT_UNFINISHED}
    return codes[reason]
