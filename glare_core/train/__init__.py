"""Model-independent training machinery: data, augmentation, losses, the loop, checkpoints.

A stage trainer (``glare_core.train.stages``) builds its model, a batch source from
:mod:`~glare_core.train.data` and a loss function, and hands them to
:class:`~glare_core.train.loop.Trainer`. Nothing is imported here, so that registering
``glare train`` keeps ``glare --help`` free of torch.
"""
