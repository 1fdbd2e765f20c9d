"""AT (Zagoruyko & Komodakis, "Paying More Attention to Attention", ICLR 2017): attention maps.

Every stage feature but the stem, ``feats[1:]``, of student and teacher is paired in order
(Python ``zip``: the longer list is truncated at its end), and the term is the sum over the
pairs of the batch mean of ``kdjax.feature_losses.attention_transfer`` (``p = 2``):

    loss = ce_weight * CE + feature.weight * sum_stages mean_batch at(f_s, f_t; p)

with ``ce_weight`` 1, ``feature.weight`` 1000, ``at.p`` 2 (mdistiller
``mdistiller/engine/cfg.py`` AT; ``mdistiller/distillers/AT.py`` ``at_loss``;
HobbitLong/RepDistiller ``--distill attention -a 0 -b 1000``, ``helper/loops.py`` ``feat[1:-1]``).
No parameters. Of a pair, the map with the larger height is adaptively average-pooled to the
other's size.

The zip reproduces mdistiller's ImageNet ResNet50 -> MobileNetV1 pairing: the reference
MobileNetV1 (``mdistiller/models/imagenet/mobilenetv1.py``), as kdjax's, reports no stem
feature, so ``feats[1:]`` pairs the student's 28x28 / 14x14 / 7x7 stages with the teacher's
layer1 / layer2 / layer3 (56x56 / 28x28 / 14x14, pooled by 2) and leaves layer4 unused: the
stages are shifted by one, as in the published numbers. ResNet34 -> ResNet18 pairs layer1..4.
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


def stage_pairs(student: tuple[Array, ...],
                teacher: tuple[Array, ...]) -> list[tuple[Array, Array]]:
  """``zip(student[1:], teacher[1:])``: the reference's stage pairs (stems dropped, truncated)."""
  return list(zip(student[1:], teacher[1:]))


class AT(base.Term):
  """The attention-transfer term (see the module docstring)."""
  NAME: ClassVar[str] = 'at'
  NEEDS: ClassVar[base.Needs] = base.Needs(teacher=True, features=True)
  TERM_NAMES: ClassVar[tuple[str, ...]] = ('at',)

  p: float = 2.0

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(p=2.0))

  @classmethod
  def from_config(cls, config, context=None) -> 'AT':
    del context
    return cls(p=float(config.at.p))

  @classmethod
  def check_config(cls, config, context=None) -> list[str]:
    del context
    return [] if config.at.p > 0 else [f'at.p must be > 0, got {config.at.p}']

  @nn.compact
  def __call__(self, inputs: base.StepInputs, train: bool = True) -> dict[str, Array]:
    pairs = stage_pairs(inputs.student.features.feats, inputs.teacher.features.feats)
    if not pairs:
      raise ValueError('AT needs at least two feats (a stem and a stage) from both models')
    total = jnp.zeros((), jnp.float32)
    for f_s, f_t in pairs:
      f_t = jax.lax.stop_gradient(f_t.astype(jnp.float32))
      total = total + jnp.mean(feature_losses.attention_transfer(
          f_s.astype(jnp.float32), f_t, p=self.p))
    return {'at': total}


TERM = AT
PRESETS = {
    # mdistiller cfg.py AT: P 2, CE 1, FEAT 1000 (RepDistiller --distill attention -a 0 -b 1000).
    'at': {'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0,
           'feature.loss': 'at', 'feature.weight': 1000.0},
}
