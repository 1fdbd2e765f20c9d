"""FitNet (Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015): a regressed hint layer.

The student's hint feature ``feats[hint_layer]`` goes through a trainable regressor
(``ConvReg``) to the teacher's hint shape, and the term is the mean squared error
between them (``kdjax.feature_losses.fitnet``), single-stage as mdistiller and the
CRD codebase train it (no separate hint pre-training):

    loss = ce_weight * CE + feature.weight * mean_batch fitnet(ConvReg(f_s), f_t)

with ``ce_weight`` 1, ``feature.weight`` 100 and ``hint_layer`` 2 (mdistiller
``mdistiller/engine/cfg.py``; HobbitLong/RepDistiller ``--distill hint -r 1 -a 0 -b 100``).
``ConvReg`` is mdistiller's ``mdistiller/distillers/_common.py``: a stride-2 3x3 conv when
the student's map is twice the teacher's, a 4x4 stride-2 transposed conv when it is half,
else a ``(1 + dH) x (1 + dW)`` valid conv; then BatchNorm and ReLU; PyTorch's default
initialisation.
"""

from __future__ import annotations

import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from kdjax import feature_losses
from kdjax.methods import base
from kdjax.models import layers

Array = jax.Array


def _torch_uniform(bound: float):
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


class ConvReg(nn.Module):
  """mdistiller's ``ConvReg``: maps a student feature map onto the teacher's shape.

  Attributes:
    teacher_shape: ``(H, W, C)`` of the teacher's feature.
    use_relu: apply the final ReLU (the reference's default).
  """
  teacher_shape: tuple[int, int, int]
  use_relu: bool = True

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    s_h, s_w, s_c = x.shape[1:]
    t_h, t_w, t_c = self.teacher_shape
    if s_h == 2 * t_h:
      kernel, transpose, stride, pad = (3, 3), False, 2, 1
    elif s_h * 2 == t_h:
      kernel, transpose, stride, pad = (4, 4), True, 2, 1
    elif s_h >= t_h:
      kernel, transpose, stride, pad = (1 + s_h - t_h, 1 + s_w - t_w), False, 1, 0
    else:
      raise ValueError(f'FitNet: no regressor maps a {s_h}x{s_w} student hint onto a {t_h}x{t_w} '
                       f'teacher hint (mdistiller ConvReg handles 2x, 1/2x and larger student '
                       f'maps); choose another hint_layer')
    # PyTorch's default Conv2d / ConvTranspose2d init: U(+-1/sqrt(fan_in)) for weight and bias,
    # fan_in = in_channels * kh * kw (ConvTranspose2d: out_channels * kh * kw, its weight's dim 1).
    fan_in = (t_c if transpose else s_c) * kernel[0] * kernel[1]
    bound = 1.0 / math.sqrt(fan_in)
    if transpose:
      # torch ConvTranspose2d(k, stride s, padding p) == flax ConvTranspose with padding k - 1 - p
      # and a flipped kernel (transpose_kernel=True).
      x = nn.ConvTranspose(t_c, kernel, strides=(stride, stride),
                           padding=[(k - 1 - pad, k - 1 - pad) for k in kernel],
                           transpose_kernel=True, kernel_init=_torch_uniform(bound),
                           bias_init=_torch_uniform(bound), name='conv')(x)
    else:
      x = nn.Conv(t_c, kernel, strides=(stride, stride), padding=[(pad, pad), (pad, pad)],
                  kernel_init=_torch_uniform(bound), bias_init=_torch_uniform(bound),
                  name='conv')(x)
    x = layers.BatchNorm(name='bn')(x, train)
    return nn.relu(x) if self.use_relu else x


class FitNet(base.Term):
  """The FitNet hint term (see the module docstring)."""
  NAME: ClassVar[str] = 'fitnet'
  NEEDS: ClassVar[base.Needs] = base.Needs(teacher=True, features=True)
  TERM_NAMES: ClassVar[tuple[str, ...]] = ('fitnet',)

  hint_layer: int = 2
  teacher_shape: tuple[int, int, int] | None = None

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(hint_layer=2))

  @classmethod
  def from_config(cls, config, context=None) -> 'FitNet':
    del context
    return cls(hint_layer=int(config.fitnet.hint_layer))

  @nn.compact
  def __call__(self, inputs: base.StepInputs, train: bool = True) -> dict[str, Array]:
    student = inputs.student.features.feats
    teacher = inputs.teacher.features.feats
    if not (0 <= self.hint_layer < min(len(student), len(teacher))):
      raise ValueError(f'fitnet.hint_layer {self.hint_layer} is not a stage of both models '
                       f'(student {len(student)}, teacher {len(teacher)} feats)')
    f_t = jax.lax.stop_gradient(teacher[self.hint_layer].astype(jnp.float32))
    regressed = ConvReg(tuple(f_t.shape[1:]), name='regressor')(
        student[self.hint_layer].astype(jnp.float32), train)
    return {'fitnet': jnp.mean(feature_losses.fitnet(regressed, f_t))}


TERM = FitNet
PRESETS = {
    # mdistiller cfg.py FITNET: CE 1, FEAT 100, HINT_LAYER 2 (RepDistiller -r 1 -a 0 -b 100).
    'fitnet': {'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0,
               'feature.loss': 'fitnet', 'feature.weight': 100.0},
}
