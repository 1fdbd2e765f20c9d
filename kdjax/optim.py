"""The optimizer and learning-rate schedule of a run, declared by its config through optax.

Default (``optimizer='sgd'``, ``lr_schedule='step'``): ``torch.optim.SGD(params, lr,
momentum=0.9, weight_decay=5e-4)`` with ``MultiStepLR(milestones, gamma=0.1)`` stepped once per
epoch, as the CRD, mdistiller, CTKD, MLKD, LS and TTM codebases train: the decay is added to the
gradient of every trainable leaf (BatchNorm scales and biases, biases, a method's own parameters)
before momentum, the momentum buffer starts at the first gradient, and ``lr(e) = lr0 * 0.1 **
#{m in milestones : e > m}`` for the updates of epoch ``e`` (from 1). ``nesterov=True`` is
torch's Nesterov form (``g + momentum * buf`` after ``buf = momentum * buf + g``), which is
``optax.sgd(nesterov=True)``.

The settings of the transformer recipes (DeiT, Touvron et al. 2021, facebookresearch/deit
``main.py``; timm ``timm/optim/optim_factory.py`` and ``timm/scheduler/cosine_lr.py``):

* ``optimizer='adamw'``: ``torch.optim.AdamW`` (Loshchilov & Hutter, ICLR 2019): decoupled decay
  ``p <- p - lr * wd * p`` beside the Adam step ``lr * m_hat / (sqrt(v_hat) + eps)``, which is
  ``optax.adamw`` (its decay is scaled by the same schedule, eps outside the square root);
* ``lr_schedule='cosine'``: linear warm-up from ``warmup_lr`` to ``lr`` over ``warmup_epochs``,
  then half a cosine to ``min_lr`` at the end of training (``optax.warmup_cosine_decay_schedule``;
  the warm-up is a prefix, timm's ``warmup_prefix=True``), evaluated per optimizer update
  (``lr_schedule_unit='step'``, mmcls' ``by_epoch=False``) or once per epoch (``'epoch'``, timm's
  default ``t_in_epochs``);
* ``weight_decay_mask='no_bias_norm'``: no decay on one-dimensional leaves (biases, norm scales
  and offsets), leaves named ``bias`` and the ``NO_DECAY_NAMES`` (position embedding, class
  token), timm's ``param_groups_weight_decay`` with the model's ``no_weight_decay()`` set;
* ``grad_clip_norm > 0``: ``optax.clip_by_global_norm`` before the decay, as
  ``torch.nn.utils.clip_grad_norm_`` before ``optimizer.step()`` (torch divides by ``norm +
  1e-6``: a relative difference of ``1e-6 / norm`` in the clipped gradient).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import optax

from kdjax import config as config_lib

OPTIMIZERS = config_lib.OPTIMIZERS  # the choices of each field (checked by config.validate)
WEIGHT_DECAY_MASKS = config_lib.WEIGHT_DECAY_MASKS
# Leaves never decayed under ``weight_decay_mask='no_bias_norm'`` (timm VisionTransformer's
# ``no_weight_decay()``: {'pos_embed', 'cls_token', 'dist_token'}).
NO_DECAY_NAMES = ('pos_embed', 'cls_token', 'dist_token')


@dataclasses.dataclass(frozen=True)
class Settings:
  """The optimizer fields of a config (hashable: part of ``steps.Setup``).

  ``epochs`` matters to the cosine schedule only (0 otherwise, so that runs of a step schedule
  with different lengths share a compilation).
  """
  base_lr: float
  lr_decay_epochs: tuple[int, ...] = (150, 180, 210)
  lr_decay_rate: float = 0.1
  momentum: float = 0.9
  nesterov: bool = False
  weight_decay: float = 5e-4
  optimizer: str = 'sgd'
  lr_schedule: str = 'step'
  lr_schedule_unit: str = 'step'
  epochs: int = 0
  warmup_epochs: int = 0
  warmup_lr: float = 0.0
  min_lr: float = 0.0
  adam_b1: float = 0.9
  adam_b2: float = 0.999
  adam_eps: float = 1e-8
  weight_decay_mask: str = 'all'
  grad_clip_norm: float = 0.0

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> 'Settings':
    """The settings of ``config`` (fields it lacks take the schema's defaults)."""
    schema = config_lib.get_config()

    def get(name):
      return config[name] if name in config else schema[name]

    cosine = get('lr_schedule') == 'cosine'
    return cls(
        base_lr=config_lib.resolved_lr(config),
        lr_decay_epochs=tuple(int(e) for e in get('lr_decay_epochs')),
        lr_decay_rate=float(get('lr_decay_rate')), momentum=float(get('momentum')),
        nesterov=bool(get('nesterov')),
        weight_decay=float(get('weight_decay')), optimizer=str(get('optimizer')),
        lr_schedule=str(get('lr_schedule')), lr_schedule_unit=str(get('lr_schedule_unit')),
        epochs=int(get('epochs')) if cosine else 0, warmup_epochs=int(get('warmup_epochs')),
        warmup_lr=float(get('warmup_lr')), min_lr=float(get('min_lr')),
        adam_b1=float(get('adam_b1')), adam_b2=float(get('adam_b2')),
        adam_eps=float(get('adam_eps')), weight_decay_mask=str(get('weight_decay_mask')),
        grad_clip_norm=float(get('grad_clip_norm')))


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


def cosine_schedule(settings: Settings, steps_per_epoch: int) -> optax.Schedule:
  """Linear warm-up then cosine decay (see the module docstring), as a function of the count.

  With ``lr_schedule_unit='step'`` the update ``c`` has ``t = c`` of ``T = epochs *
  steps_per_epoch`` (warm-up ``W = warmup_epochs * steps_per_epoch``); with ``'epoch'``, ``t =
  c // steps_per_epoch`` of ``T = epochs`` (``W = warmup_epochs``): ``lr(t) = warmup_lr + (lr -
  warmup_lr) * t / W`` for ``t < W``, else ``min_lr + (lr - min_lr) * (1 + cos(pi * (t - W) /
  (T - W))) / 2``.
  """
  per = steps_per_epoch if settings.lr_schedule_unit == 'step' else 1
  schedule = optax.warmup_cosine_decay_schedule(
      init_value=settings.warmup_lr, peak_value=settings.base_lr,
      warmup_steps=settings.warmup_epochs * per, decay_steps=settings.epochs * per,
      end_value=settings.min_lr)
  if per == 1:
    return lambda count: schedule(count // steps_per_epoch)
  return schedule


def learning_rate_at_epoch(config: ml_collections.ConfigDict, epoch: int) -> float:
  """The learning rate of the first update of ``epoch`` (from 1), for the logs.

  (Every update of the epoch under the step schedule and the per-epoch cosine.) The cosine's
  value at an epoch's first step does not depend on the steps per epoch: ``t / W`` and ``(t -
  W) / (T - W)`` are the same fractions counted in epochs.
  """
  settings = Settings.from_config(config)
  if settings.lr_schedule == 'step':
    decays = sum(epoch > s for s in settings.lr_decay_epochs)
    return settings.base_lr * settings.lr_decay_rate ** decays
  t, warmup, total = epoch - 1, settings.warmup_epochs, settings.epochs
  if t < warmup:
    return settings.warmup_lr + (settings.base_lr - settings.warmup_lr) * t / warmup
  cosine = 0.5 * (1 + math.cos(math.pi * (t - warmup) / (total - warmup)))
  return settings.min_lr + (settings.base_lr - settings.min_lr) * cosine


def decay_mask(params: Any, rule: str = 'no_bias_norm') -> Any:
  """Per-leaf bools: whether ``weight_decay_mask=rule`` decays the leaf.

  ``'no_bias_norm'``: not the leaves of at most one dimension (biases, LayerNorm/BatchNorm
  scales and offsets, scalars such as CTKD's temperature), not those named ``bias`` and not the
  ``NO_DECAY_NAMES`` (timm ``param_groups_weight_decay``: ``param.ndim <= 1 or
  name.endswith('.bias') or name in no_weight_decay_list``). ``'all'``: every leaf.
  """
  if rule not in WEIGHT_DECAY_MASKS:
    raise ValueError(f'weight_decay_mask must be one of {WEIGHT_DECAY_MASKS}, got {rule!r}')

  def decayed(path, leaf):
    if rule == 'all':
      return True
    name = str(getattr(path[-1], 'key', path[-1]))
    return jnp.ndim(leaf) > 1 and name != 'bias' and name not in NO_DECAY_NAMES

  return jax.tree_util.tree_map_with_path(decayed, params)


def create_optimizer(config: ml_collections.ConfigDict | Settings,
                     steps_per_epoch: int) -> optax.GradientTransformation:
  """The optimizer of ``config`` (or its ``Settings``; see the module docstring)."""
  settings = config if isinstance(config, Settings) else Settings.from_config(config)
  if settings.lr_schedule == 'step':
    schedule = learning_rate_schedule(settings.base_lr, settings.lr_decay_epochs,
                                      settings.lr_decay_rate, steps_per_epoch)
  else:
    schedule = cosine_schedule(settings, steps_per_epoch)
  mask = (None if settings.weight_decay_mask == 'all'
          else lambda params: decay_mask(params, settings.weight_decay_mask))
  clip = ([optax.clip_by_global_norm(settings.grad_clip_norm)]
          if settings.grad_clip_norm > 0 else [])
  if settings.optimizer == 'sgd':
    return optax.chain(
        *clip, optax.add_decayed_weights(settings.weight_decay, mask),
        optax.sgd(schedule, momentum=settings.momentum or None,
                  nesterov=settings.nesterov))
  if settings.optimizer == 'adamw':
    return optax.chain(
        *clip, optax.adamw(schedule, b1=settings.adam_b1, b2=settings.adam_b2,
                           eps=settings.adam_eps, weight_decay=settings.weight_decay, mask=mask))
  raise ValueError(f'optimizer must be one of {OPTIMIZERS}, got {settings.optimizer!r}')
