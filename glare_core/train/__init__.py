"""Model-independent training machinery: data, augmentation, losses, the loop, checkpoints.

A stage trainer (``glare_core.train.stages``) builds its model, a batch source from
:mod:`~glare_core.train.data` and a ``step_fn``, and hands them to :class:`Trainer`.
"""

from glare_core.train.augment import AugmentConfig
from glare_core.train.config import TrainConfig, load_train_config
from glare_core.train.data import (
    NormalLightCrops,
    PairedCrops,
    load_pairs,
    score_pairs,
)
from glare_core.train.loop import Trainer, TrainResult, seed_everything

__all__ = [
    "AugmentConfig",
    "NormalLightCrops",
    "PairedCrops",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "load_pairs",
    "load_train_config",
    "score_pairs",
    "seed_everything",
]
