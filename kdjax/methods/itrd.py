"""ITRD (Miles, Lopez Rodriguez & Mikolajczyk, "Information Theoretic Representation
Distillation", BMVC 2022, arXiv 2112.00459) as zkxufo/TTM runs it.

On the pooled features (``Features.pooled``: the CRD codebase's ``feat[-1]``, which
``preact=True`` leaves unchanged), with a trainable embedding ``E = Linear(s_dim, t_dim)``:

    loss = ce_weight * CE + feature.weight * (lambda_corr * corr + lambda_mutual * mutual)
    corr   = feature_losses.itrd_correlation(E(f_s), f_t, alpha=alpha)
    mutual = feature_losses.itrd_mutual(E(f_s) if s_dim != t_dim else f_s, f_t)

(zkxufo/TTM ``distiller_zoo/itrd.py`` ``ITLoss``, ``helper/loops.py``: ``loss_kd =
lambda_corr * forward_correlation_it + lambda_mutual * forward_mutual_it``, total ``r * CE +
b * loss_kd``; the same code as roymiles/ITRD ``distiller_zoo/IT.py``). The correlation term
always embeds the student; the mutual-information term only when the widths differ (the
reference's quirk, kept). ``E`` is PyTorch-initialised and trained with the student (weight
decay included: the whole ``ITLoss`` is in the reference's ``trainable_list``).

Settings (``config.itrd``): ``lambda_corr`` 2, ``lambda_mutual`` 1, ``alpha`` 1.5 (TTM
``train_student.py`` ``--lambda_corr``, ``--lambda_mutual``, ``--alpha_it``; roymiles/ITRD's
default ``lambda_mutual`` is 0.05 and its README example uses ``--alpha_it 1.01``). The loss terms
are logged as ``itrd_corr`` and ``itrd_mutual`` (each times ``feature.weight``).

Presets: ``itrd`` (CE 1, ``feature.weight`` = ``-b`` 1) and, in ``kdjax.methods``, seed 002's
``wttm+itrd`` (WTTM with ITRD as the feature term, mu = 1; per pair in ``kdjax.recipes``).
"""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from kdjax import feature_losses
from kdjax.methods import base
from kdjax.models import layers

Array = jax.Array


class ITRD(base.Term):
  """The ITRD term (see the module docstring)."""
  NAME: ClassVar[str] = 'itrd'
  NEEDS: ClassVar[base.Needs] = base.Needs(teacher=True, features=True)
  TERM_NAMES: ClassVar[tuple[str, ...]] = ('itrd_corr', 'itrd_mutual')

  lambda_corr: float = 2.0
  lambda_mutual: float = 1.0
  alpha: float = 1.5

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    # zkxufo/TTM train_student.py: --lambda_corr 2.0 --lambda_mutual 1.0 --alpha_it 1.50.
    return ml_collections.ConfigDict(dict(lambda_corr=2.0, lambda_mutual=1.0, alpha=1.5))

  @classmethod
  def from_config(cls, config, context=None) -> 'ITRD':
    del context
    c = config.itrd
    return cls(lambda_corr=float(c.lambda_corr), lambda_mutual=float(c.lambda_mutual),
               alpha=float(c.alpha))

  @classmethod
  def check_config(cls, config, context) -> list[str]:
    del context
    c, problems = config.itrd, []
    if c.lambda_corr < 0 or c.lambda_mutual < 0:
      problems.append(f'itrd.lambda_corr and itrd.lambda_mutual must be >= 0, got '
                      f'{c.lambda_corr}, {c.lambda_mutual}')
    if c.alpha <= 0:
      problems.append(f'itrd.alpha (Renyi\'s order) must be > 0, got {c.alpha}')
    if config.batch_size < 2:
      problems.append(f'ITRD standardises features over the batch (unbiased std): batch_size '
                      f'must be >= 2, got {config.batch_size}')
    return problems

  @nn.compact
  def __call__(self, inputs: base.StepInputs, train: bool = True) -> dict[str, Array]:
    del train
    f_s = inputs.student.features.pooled.astype(jnp.float32)
    f_t = jax.lax.stop_gradient(inputs.teacher.features.pooled.astype(jnp.float32))
    s_dim, t_dim = f_s.shape[-1], f_t.shape[-1]
    embed = nn.Dense(t_dim, kernel_init=layers.torch_default_kernel_init,
                     bias_init=layers.torch_default_bias_init(s_dim), name='embed')
    embedded = embed(f_s)
    corr = feature_losses.itrd_correlation(embedded, f_t, alpha=self.alpha)
    mutual = feature_losses.itrd_mutual(embedded if s_dim != t_dim else f_s, f_t)
    return {'itrd_corr': self.lambda_corr * corr, 'itrd_mutual': self.lambda_mutual * mutual}


TERM = ITRD
PRESETS = {
    # zkxufo/TTM --distill itrd (-r 1 default; -b unpublished there: 1, as roymiles/ITRD's README
    # example -b 1.0 -r 1.0), its train_student.py defaults for lambda_corr / lambda_mutual / alpha.
    'itrd': {'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0,
             'feature.loss': 'itrd', 'feature.weight': 1.0},
}
