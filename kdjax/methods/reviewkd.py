"""ReviewKD (Chen, Liu, Zhao & Jia, "Distilling Knowledge via Knowledge Review", CVPR 2021).

As ``megvii-research/mdistiller`` ``mdistiller/distillers/ReviewKD.py`` trains it: the
student's stage features and its pooled feature (as a ``1 x 1`` map) are taken deepest
first and fused by a chain of attention-based fusion modules (ABF); each ABF's output
is matched to the teacher's feature of the same level by the hierarchical context loss
(``feature_losses.review_hcl``)::

    student  x = (feats | preact_feats if stu_preact) + [pooled], reversed  (deepest first)
    teacher  t = preact_feats[1:] + [pooled]                              (shallow first)
    n        = len(t): the ABFs; the student's shallowest entries beyond n are unused
             (mdistiller's ``zip`` drops them: f0 of the CIFAR ResNets)
    abf0(x[0])                    -> out_0, res        (the deepest: no fusion)
    abf_k(x[k], res), k = 1..n-1  -> out_k, res        (fused with the deeper residual)
    loss     = warm-up * review_hcl([out_{n-1}, ..., out_0], t)

and the run's loss is ``ce_weight * CE + feature.weight * loss`` with the warm-up factor
``min(epoch / warmup_epochs, 1)`` (epochs from 1, mdistiller's trainer), passed to the
step as the epoch scalar ``reviewkd_warmup``.

ABF (mdistiller ``ABF(in, mid, out, fuse)``, NHWC here):
``conv1`` = 1x1 conv ``in -> mid`` (no bias) + BatchNorm; if fused, the residual is
nearest-upsampled to this level's student map size, ``z = sigmoid(att_conv([x, y]))``
with ``att_conv`` a 1x1 conv ``2 mid -> 2`` (with bias) and ``x = x z_0 + y z_1``; ``x``
is nearest-resized to the teacher map's size when it differs; ``conv2`` = 3x3 conv
(padding 1, no bias) ``mid -> out`` + BatchNorm gives the output, and the (resized)
``x`` is the residual of the next, shallower, ABF. ``conv1``/``conv2`` kernels are
``kaiming_uniform_(a=1)`` (``U(+-sqrt(3 / fan_in))``), ``att_conv`` PyTorch's default
(``U(+-1/sqrt(fan_in))`` for kernel and bias), BatchNorms scale 1, bias 0. The ABFs are
trainable ``params`` (with weight decay, as ``get_learnable_parameters``) and their
BatchNorm statistics ``batch_stats``. ``abf{k}`` is mdistiller's ``abfs[k]`` (deepest
first).

mdistiller's ``SHAPES`` / ``OUT_SHAPES`` / ``IN_CHANNELS`` / ``OUT_CHANNELS`` are
properties of the two models (the student's map sizes and channels, the teacher's), so
they are read from the features instead of configured: its shipped configs are exactly
these values (CIFAR ``[1, 8, 16, 32]``, ``[64, 128, 256, 256]`` for resnet32x4 ->
resnet8x4; ImageNet ``[1, 7, 14, 28, 56]``). ``mid = min(max_mid_channel,
in_channels[-1])`` with ``in_channels[-1]`` the student's pooled width; mdistiller
hard-codes 512 there and never reads ``MAX_MID_CHANNEL`` (r50_mv1's 256 has no effect), so
the recipes set ``max_mid_channel`` 512 to reproduce its runs. Nearest interpolation is
PyTorch's legacy ``'nearest'`` (source index ``floor(i * in / out)``).
"""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from kdjax import feature_losses
from kdjax.methods import base
from kdjax.models import features as features_lib
from kdjax.models import layers

Array = jax.Array

WARMUP = 'reviewkd_warmup'  # the epoch scalar of the warm-up factor
# kaiming_uniform_(a=1): gain sqrt(2 / (1 + a^2)) = 1, bound sqrt(3 / fan_in).
_KAIMING_UNIFORM_A1 = nn.initializers.variance_scaling(1.0, 'fan_in', 'uniform')


def nearest_indices(size_in: int, size_out: int) -> np.ndarray:
  """Source indices of PyTorch's ``F.interpolate(mode='nearest')`` along one axis:
  ``min(floor(i * (in / out)), in - 1)`` with the scale in float32, as ATen computes it."""
  scale = np.float32(size_in) / np.float32(size_out)
  idx = np.floor(np.arange(size_out, dtype=np.float32) * scale).astype(np.int64)
  return np.minimum(idx, size_in - 1)


def resize_nearest(x: Array, size: tuple[int, int]) -> Array:
  """``F.interpolate(x, size, mode='nearest')`` of an NHWC map."""
  h, w = x.shape[1:3]
  if (h, w) == tuple(size):
    return x
  x = jnp.take(x, nearest_indices(h, size[0]), axis=1)
  return jnp.take(x, nearest_indices(w, size[1]), axis=2)


class ABF(nn.Module):
  """mdistiller's attention-based fusion module (see the module docstring).

  Attributes:
    mid_channel: channels of the fused (residual) map.
    out_channel: channels of the output (the teacher feature's).
    fuse: fuse with the deeper level's residual (all but the deepest ABF).
  """
  mid_channel: int
  out_channel: int
  fuse: bool

  @nn.compact
  def __call__(self, x: Array, residual: Array | None, out_shape: tuple[int, int],
               train: bool) -> tuple[Array, Array]:
    """``(output [N, *out_shape, out_channel], residual [N, *out_shape, mid_channel])``."""
    h, w = x.shape[1:3]
    x = layers.conv(self.mid_channel, 1, kernel_init=_KAIMING_UNIFORM_A1, name='conv1')(x)
    x = layers.BatchNorm(name='bn1')(x, train)
    if self.fuse:
      if residual is None:
        raise ValueError('a fusing ABF needs the deeper level\'s residual')
      y = resize_nearest(residual, (h, w))
      fan_in = 2 * self.mid_channel
      z = nn.Conv(2, (1, 1), use_bias=True, kernel_init=layers.torch_default_kernel_init,
                  bias_init=layers.torch_default_bias_init(fan_in), param_dtype=jnp.float32,
                  name='att_conv')(jnp.concatenate([x, y], axis=-1))
      z = nn.sigmoid(z)
      x = x * z[..., 0:1] + y * z[..., 1:2]
    x = resize_nearest(x, out_shape)
    out = layers.conv(self.out_channel, 3, padding=1, kernel_init=_KAIMING_UNIFORM_A1,
                      name='conv2')(x)
    out = layers.BatchNorm(name='bn2')(out, train)
    return out, x


def _as_map(pooled: Array) -> Array:
  return pooled.reshape(pooled.shape[0], 1, 1, -1)


def student_inputs(student: features_lib.Features, stu_preact: bool) -> list[Array]:
  """The student's maps, deepest first: its pooled feature (``1 x 1``), then its stages."""
  stages = student.preact_feats if stu_preact else student.feats
  return [_as_map(student.pooled)] + list(stages)[::-1]


def teacher_targets(teacher: features_lib.Features) -> list[Array]:
  """The teacher's maps, shallow first: ``preact_feats[1:]`` and its pooled feature."""
  return list(teacher.preact_feats)[1:] + [_as_map(teacher.pooled)]


def stage_problems(student_stages: int, teacher_preacts: int, stu_preact: bool,
                   student: str = 'student', teacher: str = 'teacher') -> list[str]:
  """Why the models' stage counts cannot be aligned by ReviewKD (empty: they can).

  Args:
    student_stages: the student's ``feats`` (or ``preact_feats`` with ``stu_preact``) entries.
    teacher_preacts: the teacher's ``preact_feats`` entries.
  """
  problems = []
  what = 'preact_feats (reviewkd.stu_preact)' if stu_preact else 'feats'
  if teacher_preacts < 2:
    problems.append(f'ReviewKD matches the teacher\'s preact_feats[1:]: teacher {teacher} has '
                    f'{teacher_preacts} preact_feats (MobileNetV2 has none)')
  elif student_stages + 1 < teacher_preacts:
    problems.append(
        f'ReviewKD aligns one student level per teacher level: teacher {teacher} has '
        f'{teacher_preacts - 1} stage maps + pooled, student {student} only {student_stages} '
        f'{what} + pooled')
  return problems


class ReviewKD(base.Term):
  """The ReviewKD term (see the module docstring).

  Attributes:
    max_mid_channel: cap of the ABFs' mid channels (mdistiller: 512, hard-coded).
    stu_preact: the student's ``preact_feats`` instead of its ``feats``.
  """
  NAME: ClassVar[str] = 'reviewkd'
  NEEDS: ClassVar[base.Needs] = base.Needs(teacher=True, features=True)
  TERM_NAMES: ClassVar[tuple[str, ...]] = ('reviewkd',)

  max_mid_channel: int = 512
  stu_preact: bool = False

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(
        warmup_epochs=20,  # WARMUP_EPOCHS: factor min(epoch / warmup_epochs, 1)
        max_mid_channel=512,  # the ABFs' mid channels: min(max_mid_channel, student pooled)
        stu_preact=False,  # STU_PREACT: the student's pre-activation stage features
    ))

  @classmethod
  def check_config(cls, config, context=None) -> list[str]:
    c, problems = config.reviewkd, []
    if c.warmup_epochs <= 0:
      problems.append(f'reviewkd.warmup_epochs must be > 0, got {c.warmup_epochs}')
    if c.max_mid_channel < 1:
      problems.append(f'reviewkd.max_mid_channel must be >= 1, got {c.max_mid_channel}')
    if context is not None and context.student and context.teacher:
      student = features_lib.feature_shapes(context.student)
      teacher = features_lib.feature_shapes(context.teacher)
      stages = student.preact_feats if c.stu_preact else student.feats
      if c.stu_preact and not stages:
        problems.append(f'reviewkd.stu_preact needs the student\'s preact_feats: '
                        f'{context.student} has none')
      else:
        problems += stage_problems(len(stages), len(teacher.preact_feats), bool(c.stu_preact),
                                   context.student, context.teacher)
    return problems

  @classmethod
  def from_config(cls, config, context=None) -> 'ReviewKD':
    del context
    c = config.reviewkd
    return cls(max_mid_channel=int(c.max_mid_channel), stu_preact=bool(c.stu_preact))

  @classmethod
  def epoch_scalars(cls, config, epoch: int) -> dict[str, float]:
    return {WARMUP: warmup_factor(config, epoch)}

  @nn.compact
  def __call__(self, inputs: base.StepInputs, train: bool = True) -> dict[str, Array]:
    if WARMUP in inputs.scalars:  # The trainer's init passes it too (Term.scalar_names).
      warmup = jnp.asarray(inputs.scalars[WARMUP], jnp.float32)
    else:
      raise ValueError(f'ReviewKD needs the epoch scalar {WARMUP!r} in StepInputs.scalars '
                       f'(kdjax.methods.epoch_scalars)')
    results, targets = self._fuse(inputs.student.features, inputs.teacher.features, train)
    return {'reviewkd': warmup * feature_losses.review_hcl(results, targets)}

  def _fuse(self, student: features_lib.Features, teacher: features_lib.Features,
            train: bool) -> tuple[list[Array], list[Array]]:
    """``(ABF outputs, teacher targets)``, both shallow first and of equal shapes (called from
    ``__call__``, whose compact scope holds the ABFs)."""
    xs = [x.astype(jnp.float32) for x in student_inputs(student, self.stu_preact)]
    targets = [jax.lax.stop_gradient(t.astype(jnp.float32)) for t in teacher_targets(teacher)]
    problems = stage_problems(len(xs) - 1, len(teacher.preact_feats), self.stu_preact)
    if problems:
      raise ValueError('; '.join(problems))
    n = len(targets)
    mid = min(self.max_mid_channel, xs[0].shape[-1])
    deepest_first = targets[::-1]
    results, residual = [], None
    for k in range(n):
      out_shape = tuple(deepest_first[k].shape[1:3])
      out, residual = ABF(mid, deepest_first[k].shape[-1], fuse=k > 0, name=f'abf{k}')(
          xs[k], residual, out_shape, train)
      results.insert(0, out)
    return results, targets


def warmup_factor(config: ml_collections.ConfigDict, epoch: int) -> float:
  """ReviewKD's warm-up factor ``min(epoch / warmup_epochs, 1)`` (epochs from 1)."""
  if epoch < 1:
    raise ValueError(f'epochs are counted from 1, got {epoch}')
  return min(epoch / config.reviewkd.warmup_epochs, 1.0)


TERM = ReviewKD
PRESETS = {
    # mdistiller configs/cifar100/reviewkd.yaml (REVIEWKD_WEIGHT 5.0) on cfg.py's CE 1, warm-up 20.
    'reviewkd': {'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0,
                 'feature.loss': 'reviewkd', 'feature.weight': 5.0,
                 'reviewkd.warmup_epochs': 20, 'reviewkd.max_mid_channel': 512,
                 'reviewkd.stu_preact': False},
}
