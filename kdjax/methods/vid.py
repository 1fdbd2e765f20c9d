"""VID (Ahn et al., "Variational Information Distillation for Knowledge Transfer", CVPR 2019).

Every stage feature but the stem, ``feats[1:]``, of student and teacher is paired in order
(``zip``, as AT); per pair a regressor predicts the teacher's map from the student's, and the
term is the Gaussian negative log-likelihood of the teacher's map under that mean and a learned
per-channel variance (``kdjax.feature_losses.vid``), summed over stages:

    loss = ce_weight * CE + feature.weight * sum_stages mean_batch vid(r_i(f_s), log_scale_i, f_t)

with ``ce_weight`` 1 and ``feature.weight`` 1 (mdistiller ``mdistiller/engine/cfg.py`` VID,
``mdistiller/distillers/VID.py``; RepDistiller ``--distill vid -a 0 -b 1``,
``distiller_zoo/VID.py``). Per stage (``VIDStage``):

* the student map, when larger than the teacher's, is adaptively average-pooled to the
  teacher's size BEFORE the regressor (a larger teacher map is pooled inside ``vid``);
* the regressor is ``1x1 conv (s_C -> t_C) - ReLU - 1x1 conv (t_C -> t_C) - ReLU - 1x1 conv
  (t_C -> t_C)``, no bias, no BatchNorm, PyTorch's default initialisation (parameters
  ``regressor/{0,2,4}`` as the reference's ``nn.Sequential`` indices);
* the variance is ``softplus(log_scale) + 1e-5`` with a per-channel ``log_scale`` initialised to
  ``feature_losses.vid_log_scale_init(vid.init_pred_var)`` (variance 5 at the start).

``vid.train_log_scale`` chooses between the references:

* ``True`` (RepDistiller, seed 002's baselines): the log-scales are parameters
  (``params``), trained by the run's optimizer with weight decay like the regressors
  (``train_student.py`` appends the ``VIDLoss`` modules to ``trainable_list``);
* ``False`` (mdistiller, the numbers seed 001 cites): the log-scales are constants kept in the
  ``state`` collection (checkpointed, never updated). mdistiller keeps them in a plain Python
  list (``self.log_scales = []``), so they are not registered parameters and the variance stays
  5 for the whole run: per stage the loss is ``0.5 * (mse / 5 + log 5)``.

Stage pairing: both references build one regressor per ``zip`` of the stage lists; when the
student has more stages than the teacher, mdistiller's ``forward_train`` then indexes past its
regressors (``IndexError``) while RepDistiller's loop zips; kdjax zips, as RepDistiller.
"""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from kdjax import feature_losses
from kdjax.methods import at
from kdjax.methods import base
from kdjax.models import layers

Array = jax.Array


class VIDRegressor(nn.Module):
  """``conv1x1(s_C, t_C), ReLU, conv1x1(t_C, t_C), ReLU, conv1x1(t_C, t_C)``, no bias.

  Attributes:
    channels: the teacher's channels ``t_C`` (also the hidden width, as the references).
  """
  channels: int

  @nn.compact
  def __call__(self, x: Array) -> Array:
    for index in (0, 2, 4):  # torch nn.Sequential indices (1 and 3 are the ReLUs)
      if index:
        x = nn.relu(x)
      x = layers.conv(self.channels, 1, name=str(index))(x)  # torch default init, no bias
    return x


class VIDStage(nn.Module):
  """One stage's regressor and log-scale; returns the batch mean of ``vid`` (a scalar).

  Attributes:
    train_log_scale: the log-scale is a parameter (RepDistiller) or a constant in ``state``
      (mdistiller).
    init_pred_var: the initial variance.
  """
  train_log_scale: bool = False
  init_pred_var: float = 5.0

  @nn.compact
  def __call__(self, f_s: Array, f_t: Array) -> Array:
    (s_h, s_w), (t_h, t_w, t_c) = f_s.shape[1:3], f_t.shape[1:]
    if s_h > t_h or s_w > t_w:  # the reference pools a larger student before the regressor
      f_s = feature_losses.adaptive_avg_pool2d(f_s, (min(s_h, t_h), min(s_w, t_w)))
    mean = VIDRegressor(t_c, name='regressor')(f_s)
    value = feature_losses.vid_log_scale_init(self.init_pred_var)
    if self.train_log_scale:
      log_scale = self.param('log_scale', lambda _, shape: jnp.full(shape, value, jnp.float32),
                             (t_c,))
    else:
      log_scale = self.variable('state', 'log_scale',
                                lambda: jnp.full((t_c,), value, jnp.float32)).value
    return jnp.mean(feature_losses.vid(mean, log_scale, f_t))


class VID(base.Term):
  """The VID term (see the module docstring)."""
  NAME: ClassVar[str] = 'vid'
  NEEDS: ClassVar[base.Needs] = base.Needs(teacher=True, features=True)
  TERM_NAMES: ClassVar[tuple[str, ...]] = ('vid',)

  train_log_scale: bool = False
  init_pred_var: float = 5.0

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(train_log_scale=False, init_pred_var=5.0))

  @classmethod
  def from_config(cls, config, context=None) -> 'VID':
    del context
    return cls(train_log_scale=bool(config.vid.train_log_scale),
               init_pred_var=float(config.vid.init_pred_var))

  @classmethod
  def check_config(cls, config, context=None) -> list[str]:
    del context
    if not config.vid.init_pred_var > feature_losses.VID_EPS:
      return [f'vid.init_pred_var must be > {feature_losses.VID_EPS}, got '
              f'{config.vid.init_pred_var}']
    return []

  @nn.compact
  def __call__(self, inputs: base.StepInputs, train: bool = True) -> dict[str, Array]:
    pairs = at.stage_pairs(inputs.student.features.feats, inputs.teacher.features.feats)
    if not pairs:
      raise ValueError('VID needs at least two feats (a stem and a stage) from both models')
    total = jnp.zeros((), jnp.float32)
    for index, (f_s, f_t) in enumerate(pairs):
      f_t = jax.lax.stop_gradient(f_t.astype(jnp.float32))
      total = total + VIDStage(self.train_log_scale, self.init_pred_var,
                               name=f'stage{index}')(f_s.astype(jnp.float32), f_t)
    return {'vid': total}


TERM = VID
PRESETS = {
    # mdistiller cfg.py VID: CE 1, FEAT 1 (RepDistiller -a 0 -b 1).
    'vid': {'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0,
            'feature.loss': 'vid', 'feature.weight': 1.0},
}
