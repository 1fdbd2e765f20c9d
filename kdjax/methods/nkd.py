"""NKD: normalized knowledge distillation (Yang et al., ICCV 2023), a base divergence.

Yang, Zeng, Yuan & Li, "From Knowledge Distillation to Self-Knowledge Distillation: A
Unified Approach with Normalized Loss and Customized Soft Labels" (ICCV 2023), Eq. 8; the
released loss is yzd-v/cls_KD ``mmcls/models/dis_losses/nkd.py`` (``NKDLoss``). KD's loss is
split into the target class and the non-target classes, and the non-target distributions
are renormalised to sum to 1 (the "normalized loss"):

    nkd = -t_y * log s_y  -  gamma * T^2 * sum_{k != y} q^T_k * log p^T_k

with ``s = softmax(z)``, ``t = softmax(v)`` at temperature 1 (the target term), and ``p^T``,
``q^T`` the softmax of the student's and the teacher's NON-target logits at temperature
``T`` (the target column removed, so each sums to 1 over the other classes). The released
code takes ``t_y`` without gradient and averages both parts over the batch; labels given as
soft targets (``[..., K]`` scores, e.g. Mixup/CutMix) count by their argmax (``torch.max``
there, ``jnp.argmax`` here: the first of tied maxima).

Composition (``kdjax.methods.logit``): ``config.logit.loss = 'nkd'`` with its settings in
``config.nkd``. Under the ``fixed`` policy the temperature is ``nkd.temperature`` (NKD's own,
as TTM has its own); a learned (``ctkd``) or ``max_logit`` temperature replaces it, and
``logit.standardize`` z-scores both logit vectors before both parts (``nkd_ls``). The term's
weight multiplies the whole loss (the reference adds it to the CE with weight 1).

This module is the whole method: its pure function, its config group, its checks and its
presets; ``kdjax.methods`` finds it by itself.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from kdjax import temperature as temperature_lib
from kdjax.methods import logit

Array = jax.Array


def _target_classes(labels: Array, logits_shape: tuple[int, ...]) -> Array:
  """Integer targets ``[...]``: the labels, or the argmax of soft labels ``[..., K]``."""
  labels = jnp.asarray(labels)
  if labels.shape == tuple(logits_shape) and labels.ndim >= 2:
    return jnp.argmax(labels, axis=-1)  # cls_KD NKDLoss.forward: torch.max(gt_label, dim=1)[1]
  if labels.shape != tuple(logits_shape[:-1]):
    raise ValueError(f'labels of shape {labels.shape} must be integer classes of the per-example '
                     f'shape {tuple(logits_shape[:-1])} or soft labels of the logits\' shape '
                     f'{tuple(logits_shape)}.')
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise ValueError(f'labels of the per-example shape must be integer class indices; got dtype '
                     f'{labels.dtype} (soft labels have the logits\' shape [..., K]).')
  return labels


def _per_example(name: str, value, batch_shape: tuple[int, ...], dtype) -> Array:
  """``value`` broadcast to ``batch_shape`` (a scalar or a per-example array)."""
  value = jnp.asarray(value, dtype)
  try:
    return jnp.broadcast_to(value, batch_shape)
  except ValueError:
    raise ValueError(f'{name} of shape {value.shape} must be a scalar or broadcastable to the '
                     f'per-example shape logits.shape[:-1] = {tuple(batch_shape)}.') from None


def nkd(student_logits: Array, teacher_logits: Array, labels: Array, *, temperature,
        gamma) -> Array:
  """NKD per example (Yang et al., ICCV 2023, Eq. 8; cls_KD ``NKDLoss``).

  Args:
    student_logits: ``[..., K]`` student logits ``z`` (K >= 2).
    teacher_logits: ``[..., K]`` teacher logits ``v`` (constants: the trainer stops their
      gradient; ``t_y`` is taken without gradient, as the reference detaches it).
    labels: ``[...]`` integer classes, or ``[..., K]`` soft labels (their argmax counts).
    temperature: ``T`` of the non-target part, a scalar or per-example (broadcastable to
      ``[...]``); the target part is at temperature 1, as released.
    gamma: the non-target part's weight (scalar or per-example).

  Returns:
    ``[...]`` per-example losses; their mean over the batch is the reference's value.
  """
  z, v = temperature_lib.check_pair(student_logits, teacher_logits, min_classes=2)
  batch_shape, num_classes = z.shape[:-1], z.shape[-1]
  y = _target_classes(labels, z.shape)
  t = _per_example('temperature', temperature, batch_shape, z.dtype)[..., None]
  gamma = _per_example('gamma', gamma, batch_shape, z.dtype)
  target = jax.nn.one_hot(y, num_classes, dtype=jnp.bool_)

  def at_target(x):
    return jnp.take_along_axis(x, y[..., None], axis=-1)[..., 0]

  log_s_target = at_target(jax.nn.log_softmax(z, axis=-1))
  t_target = jax.lax.stop_gradient(at_target(jax.nn.softmax(v, axis=-1)))
  target_part = -t_target * log_s_target

  # The non-target classes, renormalised: the target logit is -inf (an exact 0 in the softmax,
  # the reference's removal of the column); the `where`s keep 0 * -inf out of values and gradients.
  def non_target_log_softmax(x):
    return jnp.where(target, 0.0, jax.nn.log_softmax(jnp.where(target, -jnp.inf, x / t), axis=-1))

  log_p = non_target_log_softmax(z)
  q = jnp.where(target, 0.0, jnp.exp(non_target_log_softmax(v)))
  non_target_part = -gamma * jnp.square(t[..., 0]) * jnp.sum(q * log_p, axis=-1)
  return target_part + non_target_part


@logit.register_divergence
class NKD(logit.Divergence):
  """The NKD divergence: ``weight * mean nkd(z, v, y; T, gamma)`` (``config.nkd``)."""
  NAME = 'nkd'
  GROUP = 'nkd'

  @staticmethod
  def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(
        # NKD's T under the fixed policy: NKDLoss(temp=1.0), cls_KD mmcls/models/dis_losses/nkd.py
        temperature=1.0,
        # the non-target part's weight: NKDLoss(gamma=1.5), cls_KD mmcls/models/dis_losses/nkd.py
        gamma=1.5,
    ))

  @classmethod
  def check_config(cls, config: ml_collections.ConfigDict) -> list[str]:
    problems = []
    if config.nkd.temperature <= 0:
      problems.append(f'nkd.temperature must be > 0, got {config.nkd.temperature}')
    if config.nkd.gamma < 0:
      problems.append(f'nkd.gamma must be >= 0, got {config.nkd.gamma}')
    return problems

  @classmethod
  def fixed_temperature(cls, settings: logit.Settings, temperature: Array) -> Array:
    del temperature  # NKD's own: nkd.temperature
    return jnp.float32(settings.temperature)

  @classmethod
  def loss(cls, student, teacher, labels, *, temperature, weight, settings, scalars):
    del scalars
    return weight * jnp.mean(nkd(student, teacher, labels, temperature=temperature,
                                 gamma=settings.gamma))


# Sources (yzd-v/cls_KD at 1e5d48f): the distiller adds the NKD loss to the student's CE,
# both with weight 1 (mmcls/models/classifiers/distiller.py, ClassificationDistiller.loss:
# s_loss['ori_' + key] and s_loss['loss_nkd'], summed unweighted); T 1 and gamma 1.5 are
# NKDLoss's defaults and the ImageNet CNN configs' (configs/distillers/imagenet/
# res34_distill_res18_img.py and res50_distill_mv1_img.py: temp=1.0, gamma=1.5). The CIFAR-100
# config (configs/distillers/cifar100/res34_distill_res18_cifar.py) uses temp=3.0, gamma=3.5,
# the DeiT ones (configs/distillers/imagenet/deit-s3_distill_deit-t_img.py) temp=1.0, gamma=1.0.
PRESETS = {
    'nkd': {'logit.loss': 'nkd', 'ce_weight': 1.0, 'logit.weight': 1.0,
            'nkd.temperature': 1.0, 'nkd.gamma': 1.5},
    # NKD on LS-standardised logits: a composition no paper publishes (default: NKD's values).
    'nkd_ls': {'logit.loss': 'nkd', 'logit.standardize': True, 'ce_weight': 1.0,
               'logit.weight': 1.0, 'nkd.temperature': 1.0, 'nkd.gamma': 1.5},
}
