"""The optimizer of every run: PyTorch-style SGD with a step learning-rate schedule.

``torch.optim.SGD(params, lr, momentum=0.9, weight_decay=5e-4)`` with
``MultiStepLR(milestones, gamma=0.1)`` stepped once per epoch, as the CRD,
mdistiller, CTKD, MLKD, LS and TTM codebases train: the decay is added to the
gradient of every trainable leaf (BatchNorm scales and biases, biases, a
method's own parameters) before momentum, the momentum buffer starts at the
first gradient, and ``lr(e) = lr0 * 0.1 ** #{m in milestones : e > m}`` for the
updates of epoch ``e`` (from 1).
"""

from __future__ import annotations

from typing import Sequence

import ml_collections
import optax

from kdjax import config as config_lib


def learning_rate_schedule(base_lr: float, decay_epochs: Sequence[int], decay_rate: float,
                           steps_per_epoch: int) -> optax.Schedule:
  """``optax.piecewise_constant_schedule``: ``decay_rate`` at each decay epoch's last step.

  The update with optimizer count ``c`` belongs to epoch ``c // steps_per_epoch + 1``.
  """
  boundaries: dict[int, float] = {}
  for epoch in decay_epochs:
    step = int(epoch) * steps_per_epoch
    boundaries[step] = boundaries.get(step, 1.0) * decay_rate
  return optax.piecewise_constant_schedule(base_lr, boundaries)


def learning_rate_at_epoch(config: ml_collections.ConfigDict, epoch: int) -> float:
  """The learning rate of every update of ``epoch`` (from 1), for the logs."""
  decays = sum(epoch > s for s in config.lr_decay_epochs)
  return config_lib.resolved_lr(config) * config.lr_decay_rate ** decays


def create_optimizer(config: ml_collections.ConfigDict,
                     steps_per_epoch: int) -> optax.GradientTransformation:
  """Torch-style SGD of ``config`` (see the module docstring)."""
  schedule = learning_rate_schedule(config_lib.resolved_lr(config), tuple(config.lr_decay_epochs),
                                    config.lr_decay_rate, steps_per_epoch)
  return optax.chain(
      optax.add_decayed_weights(config.weight_decay),
      optax.sgd(schedule, momentum=config.momentum or None, nesterov=False))
