"""RKD (Park et al., "Relational Knowledge Distillation", CVPR 2019): distances and angles.

The pooled features (``Features.pooled``, the classifier's input) of student and teacher are
compared through the batch's pairwise distances and triplet angles
(``kdjax.feature_losses.rkd``; their widths may differ, no parameters):

    loss = ce_weight * CE + feature.weight * (25 * L_distance + 50 * L_angle)

with ``ce_weight`` 1, ``feature.weight`` 1, ``rkd.distance_weight`` 25, ``rkd.angle_weight`` 50
(mdistiller ``mdistiller/engine/cfg.py`` RKD, ``mdistiller/distillers/RKD.py``; RepDistiller
``--distill rkd -a 0 -b 1``, ``distiller_zoo/RKD.py`` ``RKDLoss(w_d=25, w_a=50)``).

Batch-level: the loss couples the examples of a batch, and this term sees the GLOBAL batch (the
train step is one ``jax.jit`` over the batch sharded across devices, so the relations are over
all ``batch_size`` examples whatever the device count). mdistiller wraps the distiller in
``torch.nn.DataParallel`` (``tools/train.py``), so on several GPUs each replica computed RKD on
its slice of the batch; its CIFAR-100 configs run on one GPU (batch 64), where the two agree.
"""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from kdjax import feature_losses
from kdjax.methods import base

Array = jax.Array


def check_batch(name: str, config) -> list[str]:
  """A batch-level term needs pairs of examples."""
  if config.batch_size < 2:
    return [f'{name} compares the examples of a batch: batch_size must be >= 2, got '
            f'{config.batch_size}']
  return []


class RKD(base.Term):
  """The relational KD term (see the module docstring)."""
  NAME: ClassVar[str] = 'rkd'
  NEEDS: ClassVar[base.Needs] = base.Needs(teacher=True, features=True)
  TERM_NAMES: ClassVar[tuple[str, ...]] = ('rkd',)

  distance_weight: float = 25.0
  angle_weight: float = 50.0

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(distance_weight=25.0, angle_weight=50.0))

  @classmethod
  def from_config(cls, config, context=None) -> 'RKD':
    del context
    return cls(distance_weight=float(config.rkd.distance_weight),
               angle_weight=float(config.rkd.angle_weight))

  @classmethod
  def check_config(cls, config, context=None) -> list[str]:
    del context
    problems = check_batch('RKD', config)
    for field in ('distance_weight', 'angle_weight'):
      if config.rkd[field] < 0:
        problems.append(f'rkd.{field} must be >= 0, got {config.rkd[field]}')
    return problems

  @nn.compact
  def __call__(self, inputs: base.StepInputs, train: bool = True) -> dict[str, Array]:
    teacher = jax.lax.stop_gradient(inputs.teacher.features.pooled.astype(jnp.float32))
    return {'rkd': feature_losses.rkd(
        inputs.student.features.pooled.astype(jnp.float32), teacher,
        distance_weight=self.distance_weight, angle_weight=self.angle_weight)}


TERM = RKD
PRESETS = {
    # mdistiller cfg.py RKD: CE 1, FEAT 1, distance 25, angle 50 (RepDistiller -a 0 -b 1).
    'rkd': {'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0,
            'feature.loss': 'rkd', 'feature.weight': 1.0},
}
