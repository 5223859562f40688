"""A generic training loop: stages plug in a loss function, this file does the rest.

:class:`Trainer` owns the optimizer, the learning-rate schedule, checkpoints, logging,
validation, signals, the time budget and distributed training. A stage supplies the module to
save, a ``step_fn(batch, step) -> {"loss": ..., other named losses}`` and a batch source.

Exact resume: a checkpoint holds the module, optimizer and scheduler state, the step, every
process's global random-generator state and the config. Batches need no saved state: the
batch of step ``s`` is drawn with :func:`~glare_core.train.data.batch_rng` from
``(seed, s, rank)``. A resumed run therefore computes the same batches and losses as one that
never stopped.

Distributed: started with ``torchrun --nproc-per-node N``, each process draws its own crops
(the generator includes its rank), the step function runs inside a
:class:`~torch.nn.parallel.DistributedDataParallel` wrapper so gradients are averaged, and
only rank 0 writes checkpoints, logs and validates. Decisions to stop or checkpoint are
agreed by all ranks every step so none waits forever on the others.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from glare_core.atomic import make_folder
from glare_core.errors import ConfigError, GlareError, one_line
from glare_core.progress import quit_hint, stop_requests
from glare_core.train.checkpoint import (
    capture_rng_state,
    check_stage,
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    remove_partial_checkpoints,
    restore_rng_state,
    save_checkpoint,
)
from glare_core.train.config import PROCESS_SETTINGS, TrainConfig
from glare_core.train.data import Batch, BatchSource, batch_rng
from glare_core.train.distributed import Distributed, StepFn, wrap_step_fn

log = logging.getLogger(__name__)
#: the logger whose records the run's log file collects (this package and the stages)
TRAIN_LOGGER = "glare_core.train"
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
CHECKPOINT_FORMAT_VERSION = 1
SECONDS_PER_MINUTE = 60.0
#: why a run stopped (TrainResult.reason): all its steps done, SIGTERM/SIGINT, --max-minutes
FINISHED, STOPPED_BY_SIGNAL, OUT_OF_TIME = "finished", "signal", "time budget"
#: how much of torch's (long) reason a checkpoint does not load for goes in the error
_REASON_CHARS = 300


def unfit_weights_error(source: str, error: BaseException) -> ConfigError:
    """Why the tensors of ``source`` (torch's ``error`` as they loaded) do not load into the
    network a run builds, in one line."""
    return ConfigError(
        f"{source} does not fit the network this run builds (its model or model_changes "
        f"differ from those it was made with): {one_line(error)[:_REASON_CHARS]}"
    )


ValidateFn = Callable[[], dict[str, float]]
OptimizerFactory = Callable[[list[nn.Parameter]], torch.optim.Optimizer]
#: learning-rate multiplier for a step
LrSchedule = Callable[[int], float]


class Stateful(Protocol):
    """Training state outside the module (e.g. codebook usage counters) that must resume."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class TrainResult:
    step: int
    #: why the run stopped: FINISHED, STOPPED_BY_SIGNAL or OUT_OF_TIME
    reason: str
    checkpoint: Path | None
    #: means of the losses over the last logged interval
    losses: dict[str, float] = field(default_factory=dict)
    validation: dict[str, float] = field(default_factory=dict)


def cosine_with_warmup(warmup_steps: int, total_steps: int, min_ratio: float) -> LrSchedule:
    """Linear warm-up to 1, then a cosine decay to ``min_ratio`` at ``total_steps``."""

    def multiplier(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return multiplier


def adamw_factory(config: TrainConfig) -> OptimizerFactory:
    def build(parameters: list[nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            parameters, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
        )

    return build


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (e.g. before building a model)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _refuse_an_earlier_run(checkpoint: Path | None, out_dir: Path) -> None:
    """A fresh run must not share its folder with another's checkpoints: keeping the newest
    would delete its own, and a later resume would continue the other run."""
    if checkpoint is not None:
        raise ConfigError(
            f"{out_dir} holds the checkpoints of an earlier run (up to {checkpoint.name}): "
            "resume it (--resume), or choose another output folder"
        )


def _process_seed(seed: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


# ------------------------------------------------------------------ helpers


class _LossMeter:
    """Running sums of the losses on the device; converted to floats only when logged."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, losses: Mapping[str, torch.Tensor]) -> None:
        for name, value in losses.items():
            detached = value.detach().float()
            self.sums[name] = self.sums[name] + detached if name in self.sums else detached
        self.count += 1

    def means(self) -> dict[str, float]:
        means = {name: float(total) / self.count for name, total in self.sums.items()}
        self.sums, self.count = {}, 0
        return means


def format_values(values: Mapping[str, float]) -> str:
    """``name=value`` pairs, as the log and the summary print losses and scores."""
    return " ".join(f"{name}={value:.5g}" for name, value in values.items())


@contextmanager
def _training_modes_kept(module: nn.Module) -> Iterator[None]:
    """Evaluation mode inside; afterwards each submodule's own mode (frozen parts stay eval)."""
    modes = [(submodule, submodule.training) for submodule in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for submodule, training in modes:
            submodule.training = training


@contextmanager
def _random_state_kept() -> Iterator[None]:
    """Validation must not move the global generators, or it would change the training run."""
    state = capture_rng_state()
    try:
        yield
    finally:
        restore_rng_state(state)


@contextmanager
def training_log(config: TrainConfig, is_main: bool | None = None) -> Iterator[None]:
    """The run's log file, with the training loggers at INFO (on the main process only).

    A stage opens it before it builds its model, so that what the set-up reports (the
    weights it started from) lands in the log too; the trainer opens it again inside,
    which does nothing while it is open.
    """
    if not config.resume:  # before the log opens: it is the earlier run's
        _refuse_an_earlier_run(latest_checkpoint(Path(config.out_dir)), Path(config.out_dir))
    train_logger = logging.getLogger(TRAIN_LOGGER)
    path = (Path(config.out_dir) / config.log_file).resolve()
    already_open = any(
        isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == path
        for handler in train_logger.handlers
    )
    if already_open or not (Distributed.is_main_process() if is_main is None else is_main):
        yield
        return
    make_folder(path.parent, ConfigError)  # the run's output folder
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.INFO)
    previous_level = train_logger.level
    train_logger.addHandler(handler)
    train_logger.setLevel(logging.INFO)
    log.info("training %s: %s", config.stage, config.to_dict())
    try:
        yield
    except GlareError as error:
        # into the file only: the command line prints the error itself
        handler.handle(_record(logging.ERROR, "training stopped: %s", one_line(error)))
        raise
    finally:
        train_logger.removeHandler(handler)
        train_logger.setLevel(previous_level)
        handler.close()


def _record(level: int, message: str, *args: object) -> logging.LogRecord:
    return log.makeRecord(log.name, level, __file__, 0, message, args, None)


# ------------------------------------------------------------------ trainer


class Trainer:
    """Trains the parameters of ``module`` that require gradients by minimising ``loss``.

    ``module`` is what checkpoints save and restore (all of it, frozen parts included);
    ``step_fn`` gets each batch already on :attr:`device`. ``extra_state`` objects with
    ``state_dict``/``load_state_dict`` are saved and restored alongside.
    """

    def __init__(
        self,
        module: nn.Module,
        step_fn: StepFn,
        batches: BatchSource,
        config: TrainConfig,
        *,
        validate_fn: ValidateFn | None = None,
        optimizer_factory: OptimizerFactory | None = None,
        lr_schedule: LrSchedule | None = None,
        extra_state: Mapping[str, Stateful] | None = None,
    ) -> None:
        self.config = config
        self.distributed = Distributed.from_env()
        self.device = self.distributed.device(config.device)
        self.module = module.to(self.device)
        self.step_fn = step_fn
        self.batches = batches
        self.validate_fn = validate_fn
        self.extra_state = dict(extra_state or {})
        self.out_dir = Path(config.out_dir)
        self.per_process_batch = self._per_process_batch()
        self.parameters = [p for p in module.parameters() if p.requires_grad]
        if not self.parameters:
            raise GlareError("nothing to train: no parameter of the module requires gradients")
        self.optimizer = (optimizer_factory or adamw_factory(config))(self.parameters)
        schedule = lr_schedule or cosine_with_warmup(
            config.warmup_steps, config.steps, config.min_lr_ratio
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.compute = wrap_step_fn(
            self.module, step_fn, self.distributed, self.device, config.ddp_find_unused_parameters
        )
        self.step = 0
        self._stop_signal: int | None = None

    def _per_process_batch(self) -> int:
        world = self.distributed.world_size
        if self.config.batch_size % world:
            raise ConfigError(
                f"batch size {self.config.batch_size} does not split over {world} processes"
            )
        return self.config.batch_size // world

    # -------------------------------------------------------------- one step

    def _batch(self, step: int) -> Batch:
        rng = batch_rng(self.config.seed, step, self.distributed.rank)
        return self.batches.sample(self.per_process_batch, rng)

    def _train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        batch = {name: tensor.to(self.device, non_blocking=True) for name, tensor in batch.items()}
        losses = self.compute(batch, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        if self.config.grad_clip > 0:
            losses["grad_norm"] = torch.nn.utils.clip_grad_norm_(
                self.parameters, self.config.grad_clip
            )
        self.optimizer.step()
        self.scheduler.step()
        return losses

    # -------------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT_VERSION,
            "step": self.step,
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": self.distributed.gather(capture_rng_state()),
            "extra": {name: item.state_dict() for name, item in self.extra_state.items()},
            "config": self.config.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["model"])
        optimizer_state, scheduler_state = self._under_this_runs_settings(
            state["optimizer"], state["scheduler"]
        )
        self.optimizer.load_state_dict(optimizer_state)
        self.scheduler.load_state_dict(scheduler_state)
        for name, item in self.extra_state.items():
            item.load_state_dict(state["extra"][name])
        self.step = int(state["step"])
        self._restore_rng(state["rng"])

    def _under_this_runs_settings(
        self, optimizer_state: dict[str, Any], scheduler_state: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The saved optimizer and scheduler state with this run's settings: the moments and
        the step come back; learning rate, betas and weight decay are what the config says
        now, as the schedule's steps and warm-up are (it is rebuilt from the config). Unchanged
        settings give back exactly the saved values."""
        epoch = scheduler_state["last_epoch"]
        groups, rates = [], []
        own_groups = self.optimizer.param_groups
        for saved, own, schedule in zip(
            optimizer_state["param_groups"], own_groups, self.scheduler.lr_lambdas, strict=True
        ):
            rate = own["initial_lr"] * schedule(epoch)
            settings = {name: value for name, value in own.items() if name != "params"}
            groups.append({**saved, **settings, "lr": rate})
            rates.append(rate)
        base_rates = [group["initial_lr"] for group in own_groups]
        return (
            {**optimizer_state, "param_groups": groups},
            {**scheduler_state, "base_lrs": base_rates, "_last_lr": rates},
        )

    def _restore_rng(self, states: list[dict[str, Any]]) -> None:
        rank = self.distributed.rank
        if len(states) == self.distributed.world_size:
            restore_rng_state(states[rank])
            return
        if self.distributed.is_main:
            log.warning(
                "checkpoint from %d process(es), now %d: random streams restart from the seed",
                len(states),
                self.distributed.world_size,
            )
        seed_everything(_process_seed(self.config.seed + self.step, rank))

    def save(self) -> Path | None:
        """Write a checkpoint of the current step (rank 0 only); returns its path there."""
        state = self.state_dict()  # every rank takes part in gathering the generator states
        if not self.distributed.is_main:
            return None
        path = checkpoint_path(self.out_dir, self.step)
        save_checkpoint(path, state)
        prune_checkpoints(self.out_dir, self.config.keep_checkpoints)
        return path

    def _start(self) -> None:
        if self.distributed.is_main:
            remove_partial_checkpoints(self.out_dir)
        # none in a fresh run's folder: training_log refuses one that holds any
        path = latest_checkpoint(self.out_dir)
        if path is None:
            if self.config.resume:
                log.warning("no checkpoint in %s: starting from step 0", self.out_dir)
            seed_everything(_process_seed(self.config.seed, self.distributed.rank))
            return
        state = load_checkpoint(path)
        self._check_resumable(state, path)
        try:
            self.load_state_dict(state)
        except (RuntimeError, ValueError) as error:  # tensors of other shapes or names
            raise unfit_weights_error(str(path), error) from None
        log.info("resumed from %s at step %d", path, self.step)
        if self.distributed.is_main:  # every rank resumes the same settings: say so once
            self._log_changed_settings(state["config"])

    def _check_resumable(self, state: dict[str, Any], path: Path) -> None:
        check_stage(path, state["config"], self.config.stage)
        step = int(state["step"])
        if step > self.config.steps:
            raise ConfigError(
                f"{path} is at step {step}, past the {self.config.steps} steps asked for: "
                "ask for more steps to train further"
            )

    def _log_changed_settings(self, saved: dict[str, Any]) -> None:
        current = self.config.to_dict()
        current.pop("resume")  # differs on every resume by definition
        for name in sorted(key for key in current if saved.get(key) != current[key]):
            # a warning where the run may go on differently from one that never stopped
            level = logging.INFO if name in PROCESS_SETTINGS else logging.WARNING
            change = (name, saved.get(name), current[name])
            log.log(level, "setting %s changed on resume: %r -> %r", *change)

    # -------------------------------------------------------------- run

    def run(self) -> TrainResult:
        """Train up to ``config.steps``; stops early on SIGTERM/SIGINT or the time budget."""
        try:
            log_file = training_log(self.config, self.distributed.is_main)
            with log_file, stop_requests(self._request_stop), self._console_above_bar():
                self._start()
                return self._loop()
        finally:
            self.distributed.close()

    def _loop(self) -> TrainResult:
        config = self.config
        started = last_checkpoint_time = time.monotonic()
        result = TrainResult(self.step, FINISHED, None)
        meter = _LossMeter()
        bar = tqdm(
            total=config.steps,
            initial=self.step,
            disable=not self._shows_progress_bar(),
            dynamic_ncols=True,
        )
        with bar, ThreadPoolExecutor(max_workers=1) as prefetcher:
            upcoming: Future[Batch] = prefetcher.submit(self._batch, self.step)
            while self.step < config.steps:
                batch = upcoming.result()
                # the next batch depends only on its step number, so drawing it early is exact
                upcoming = prefetcher.submit(self._batch, self.step + 1)
                meter.add(self._train_step(batch))
                self.step += 1
                bar.update()
                if self.step % config.log_every == 0 or self.step == config.steps:
                    result.losses = self._log_losses(meter, bar)
                if config.validate_every and self.step % config.validate_every == 0:
                    result.validation = self._validate()
                stop, checkpoint_due = self._decide(started, last_checkpoint_time)
                if stop and meter.count:  # the stopped interval's losses, else never logged
                    result.losses = self._log_losses(meter, bar)
                if checkpoint_due or stop:
                    result.checkpoint = self.save()
                    last_checkpoint_time = time.monotonic()
                if stop:
                    result.reason = stop
                    break
        result.step = self.step
        log.info("training stopped at step %d (%s)", self.step, result.reason)
        return result

    def _decide(self, started: float, last_checkpoint_time: float) -> tuple[str | None, bool]:
        """Whether to stop (and why) and whether a checkpoint is due, agreed by all ranks."""
        config, now = self.config, time.monotonic()
        by_signal = self._stop_signal is not None
        over_budget = bool(config.max_minutes) and (
            now - started >= config.max_minutes * SECONDS_PER_MINUTE
        )
        due = (
            self.step == config.steps
            or (config.checkpoint_every_steps and self.step % config.checkpoint_every_steps == 0)
            or now - last_checkpoint_time >= config.checkpoint_every_seconds
        )
        by_signal, over_budget, due = self.distributed.agree(
            [by_signal, over_budget, bool(due)], self.device
        )
        stop = STOPPED_BY_SIGNAL if by_signal else OUT_OF_TIME if over_budget else None
        return stop, due

    def _log_losses(self, meter: _LossMeter, bar: tqdm) -> dict[str, float]:
        means = meter.means()
        if not all(math.isfinite(value) for value in means.values()):
            raise GlareError(
                f"the loss is no longer finite at step {self.step}: {format_values(means)}"
            )
        means["lr"] = self.scheduler.get_last_lr()[0]
        bar.set_postfix(loss=f"{means['loss']:.4g}")
        if self.distributed.is_main:
            log.info("step %d %s", self.step, format_values(means))
        return means

    def _validate(self) -> dict[str, float]:
        if self.validate_fn is None or not self.distributed.is_main:
            return {}
        with _training_modes_kept(self.module), _random_state_kept(), torch.no_grad():
            scores = self.validate_fn()
        log.info("step %d validation %s", self.step, format_values(scores))
        return scores

    # -------------------------------------------------------------- process concerns

    def _shows_progress_bar(self) -> bool:
        return self.config.progress_bar and self.distributed.is_main

    @contextmanager
    def _console_above_bar(self) -> Iterator[None]:
        """Console log lines appear above the progress bar instead of through it."""
        if not self._shows_progress_bar():
            yield
            return
        with logging_redirect_tqdm():
            yield

    def _request_stop(self, signum: int) -> None:
        """SIGTERM or a first Ctrl-C ends the run after the current step, with a checkpoint."""
        self._stop_signal = signum
        log.warning("signal %d: stopping after this step%s", signum, quit_hint(signum))
