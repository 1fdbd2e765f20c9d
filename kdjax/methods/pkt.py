"""PKT (Passalis & Tefas, "Learning Deep Representations with Probabilistic Knowledge Transfer",
ECCV 2018): the batch's cosine-similarity distributions.

The pooled features (``Features.pooled``) of student and teacher each give a row-normalised
similarity distribution over the batch, and the term is their KL divergence
(``kdjax.feature_losses.pkt``; widths may differ, no parameters):

    loss = ce_weight * CE + feature.weight * pkt(s, t)

with ``ce_weight`` 1 and ``feature.weight`` 30000 (mdistiller ``mdistiller/engine/cfg.py`` PKT,
``mdistiller/distillers/PKT.py``; RepDistiller ``--distill pkt -a 0 -b 30000``,
``distiller_zoo/PKT.py``).

Batch-level, as RKD (``kdjax.methods.rkd``): the term sees the GLOBAL batch (one ``jax.jit``
over the sharded batch); mdistiller's ``DataParallel`` computed it per GPU slice, and its
CIFAR-100 configs are single-GPU, where the two agree.
"""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from kdjax import feature_losses
from kdjax.methods import base
from kdjax.methods import rkd

Array = jax.Array


class PKT(base.Term):
  """The probabilistic knowledge transfer term (see the module docstring)."""
  NAME: ClassVar[str] = 'pkt'
  NEEDS: ClassVar[base.Needs] = base.Needs(teacher=True, features=True)
  TERM_NAMES: ClassVar[tuple[str, ...]] = ('pkt',)

  @classmethod
  def from_config(cls, config, context=None) -> 'PKT':
    del config, context
    return cls()

  @classmethod
  def check_config(cls, config, context=None) -> list[str]:
    del context
    return rkd.check_batch('PKT', config)

  @nn.compact
  def __call__(self, inputs: base.StepInputs, train: bool = True) -> dict[str, Array]:
    teacher = jax.lax.stop_gradient(inputs.teacher.features.pooled.astype(jnp.float32))
    return {'pkt': feature_losses.pkt(inputs.student.features.pooled.astype(jnp.float32),
                                      teacher)}


TERM = PKT
PRESETS = {
    # mdistiller cfg.py PKT: CE 1, FEAT 30000 (RepDistiller -a 0 -b 30000).
    'pkt': {'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0,
            'feature.loss': 'pkt', 'feature.weight': 30000.0},
}
