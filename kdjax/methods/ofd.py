"""OFD (Heo et al., "A Comprehensive Overhaul of Feature Distillation", ICCV 2019).

The pre-ReLU stage features ``preact_feats[1:]`` of student and teacher are aligned on their
LAST ``n = min(len)`` entries (mdistiller's ``_align_list``); each student stage goes through a
trainable connector (``Connector``: conv + BatchNorm) to the teacher's channels, and the term is
the partial L2 distance to the margin-ReLU'd teacher (``kdjax.feature_losses.ofd``, the teacher
map pooled to the student's size), with stage weights halving towards the input:

    loss = ce_weight * CE + feature.weight * sum_i mean_batch ofd(c_i(s_i), t_i, m_i) / 2^(n-i-1)

with ``ce_weight`` 1 and ``feature.weight`` 0.001 (mdistiller ``mdistiller/engine/cfg.py`` OFD;
ImageNet ResNet50 -> MobileNetV1: 0.0001 with batch 128, lr 0.05,
``configs/imagenet/r50_mv1/ofd.yaml``). Reference: ``mdistiller/distillers/OFD.py``
(RepDistiller has no OFD).

* Connector: ``Conv2d(s_C, t_C, kernel ofd.connector_kernel (1), padding (k-1)//2, no bias)``,
  weights ``normal(0, sqrt(2 / (k * k * t_C)))``, then ``BatchNorm2d(t_C)`` (scale 1, bias 0),
  trained with the student (its BN in train mode).
* Margins: per channel, ``feature_losses.ofd_margin`` of the teacher's BatchNorms before ReLU
  (``kdjax.models.bn_before_relu(teacher, teacher_variables)``), computed in the step from
  ``StepInputs.teacher_variables`` (constants: only the BNs' scale and bias enter, and the
  teacher is frozen). The BNs belong to the last entries of the teacher's ``preact_feats``, so
  the last ``n`` of them pair with the aligned stages. mdistiller indexes its margins from the
  first (``self.margins[i]``), which is the same whenever the teacher has exactly ``n`` of them
  (every configured pair) and fails on a channel mismatch otherwise.
* The teacher in train mode: mdistiller's ``OFD.train()`` overrides the distiller's without
  ``teacher.eval()``, so the teacher's BatchNorms normalise with the batch's statistics during
  training (its forward still without gradient). ``ofd.teacher_train_bn`` (default True, as
  released) sets ``Needs.teacher_train_bn``: the trainer then runs the teacher's BNs on the
  (global) batch statistics and discards their running-statistics updates, which the reference
  makes but never uses (margins are fixed, evaluation reads only the student). On several GPUs
  mdistiller's ``DataParallel`` normalised the teacher per GPU slice (ImageNet: batch 128 over
  its GPUs); kdjax uses the global batch.

Refused before compiling (``check_config``, with the run's models): students without
``preact_feats`` (MobileNetV2: its reference defines none, so mdistiller's OFD cannot run it),
teachers without ``bn_before_relu`` (ShuffleV1 / ShuffleV2) or ``preact_feats``, and pairs whose
aligned stages outnumber the teacher's margins (ImageNet ResNet teachers have margins for
layer2-4 only, so ResNet34 -> ResNet18 would need four; mdistiller has no such config).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from kdjax import feature_losses
from kdjax import models
from kdjax.methods import base
from kdjax.models import layers

Array = jax.Array


class Connector(nn.Module):
  """mdistiller's ``ConnectorConvBN`` entry: conv (no bias, He fan-out normal init) + BN.

  Attributes:
    channels: the teacher's channels ``t_C``.
    kernel: the conv's kernel size (``ofd.connector_kernel``), padding ``(k - 1) // 2``.
  """
  channels: int
  kernel: int = 1

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    x = layers.conv(self.channels, self.kernel, padding=(self.kernel - 1) // 2,
                    kernel_init=layers.fan_out_normal_init, name='conv')(x)
    return layers.BatchNorm(name='bn')(x, train)


def aligned(student: tuple[Any, ...], teacher: tuple[Any, ...]) -> tuple[tuple[Any, ...], ...]:
  """mdistiller's ``_align_list``: the last ``min(len)`` entries of each."""
  n = min(len(student), len(teacher))
  return (tuple(student[len(student) - n:]), tuple(teacher[len(teacher) - n:]))


def _model_problems(teacher: str, student: str) -> list[str]:
  """Why ``teacher -> student`` cannot run OFD (empty: it can)."""
  fix_student = ('pick a student with preact_feats (the CIFAR / ImageNet ResNets, WRN, VGG, '
                 'ShuffleV1/V2, MobileNetV1) or another feature method')
  fix_teacher = ('pick a teacher with bn_before_relu (the ResNets, WRN, VGG, MobileNetV1) or '
                 'another feature method')
  problems = []
  s_stages = len(models.feature_shapes(student).preact_feats) - 1
  t_stages = len(models.feature_shapes(teacher).preact_feats) - 1
  if s_stages < 1:
    problems.append(f"OFD (feature.loss='ofd') reads the student's pre-ReLU stage features "
                    f"(preact_feats[1:]), and student {student} defines none (as its mdistiller "
                    f"reference, which mdistiller's OFD cannot run either): {fix_student}")
  if t_stages < 1:
    problems.append(f"OFD (feature.loss='ofd') reads the teacher's pre-ReLU stage features "
                    f"(preact_feats[1:]), and teacher {teacher} defines none: {fix_teacher}")
  try:
    margins = len(models.bn_before_relu_paths(teacher))
  except NotImplementedError:
    problems.append(f"OFD (feature.loss='ofd') takes its margins from the teacher's BatchNorms "
                    f"before ReLU, and teacher {teacher} has none (its mdistiller reference's "
                    f"get_bn_before_relu raises NotImplementedError): {fix_teacher}")
    return problems
  n = min(s_stages, t_stages)
  if not problems and margins < n:
    problems.append(f"OFD (feature.loss='ofd') aligns the last {n} pre-ReLU stages of teacher "
                    f"{teacher} and student {student}, but the teacher's bn_before_relu gives "
                    f"margins for its last {margins} only (mdistiller would index past them): "
                    f"pick a student with at most {margins} stages after its stem, or another "
                    f"teacher")
  return problems


class OFD(base.Term):
  """The OFD term (see the module docstring)."""
  NAME: ClassVar[str] = 'ofd'
  NEEDS: ClassVar[base.Needs] = base.Needs(teacher=True, features=True, teacher_variables=True,
                                           teacher_train_bn=True)
  TERM_NAMES: ClassVar[tuple[str, ...]] = ('ofd',)

  teacher_model: str = ''
  connector_kernel: int = 1
  teacher_train_bn: bool = True

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(connector_kernel=1, teacher_train_bn=True))

  @classmethod
  def from_config(cls, config, context=None) -> 'OFD':
    return cls(teacher_model=context.teacher if context is not None else config.teacher,
               connector_kernel=int(config.ofd.connector_kernel),
               teacher_train_bn=bool(config.ofd.teacher_train_bn))

  @classmethod
  def check_config(cls, config, context=None) -> list[str]:
    kernel = config.ofd.connector_kernel
    if isinstance(kernel, bool) or not isinstance(kernel, int) or kernel < 1:
      return [f'ofd.connector_kernel must be an int >= 1, got {kernel!r}']
    if context is None or not (context.teacher and context.student):
      return []
    return _model_problems(context.teacher, context.student)

  @property
  def needs(self) -> base.Needs:
    return dataclasses.replace(self.NEEDS, teacher_train_bn=self.teacher_train_bn)

  def margins(self, teacher_variables: Any, channels: tuple[int, ...]) -> list[Array]:
    """The margins of the last ``len(channels)`` teacher stages (zeros while initialising,
    when the trainer passes no teacher variables; only shapes matter then)."""
    if teacher_variables is None:
      if self.is_initializing():
        return [jnp.zeros((c,), jnp.float32) for c in channels]
      raise ValueError('OFD needs StepInputs.teacher_variables (its margins come from the '
                       "teacher's BatchNorms)")
    bns = models.bn_before_relu(self.teacher_model, teacher_variables)
    if len(bns) < len(channels):
      raise ValueError(f'OFD: teacher {self.teacher_model} has {len(bns)} bn_before_relu '
                       f'margins for {len(channels)} aligned stages')
    margins = [jax.lax.stop_gradient(feature_losses.ofd_margin(bn['scale'], bn['bias']))
               for bn in bns[len(bns) - len(channels):]]
    for margin, c in zip(margins, channels):
      if margin.shape != (c,):
        raise ValueError(f'OFD: a margin of teacher {self.teacher_model} has shape '
                         f'{margin.shape}, its stage {c} channels')
    return margins

  @nn.compact
  def __call__(self, inputs: base.StepInputs, train: bool = True) -> dict[str, Array]:
    student, teacher = aligned(inputs.student.features.preact_feats[1:],
                               inputs.teacher.features.preact_feats[1:])
    n = len(student)
    if not n:
      raise ValueError('OFD needs preact_feats[1:] from both models (see OFD.check_config)')
    margins = self.margins(inputs.teacher_variables, tuple(t.shape[-1] for t in teacher))
    total = jnp.zeros((), jnp.float32)
    for i, (f_s, f_t, margin) in enumerate(zip(student, teacher, margins)):
      f_t = jax.lax.stop_gradient(f_t.astype(jnp.float32))
      connected = Connector(f_t.shape[-1], self.connector_kernel, name=f'connector{i}')(
          f_s.astype(jnp.float32), train)
      total = total + jnp.mean(feature_losses.ofd(connected, f_t, margin)) / 2.0 ** (n - i - 1)
    return {'ofd': total}


TERM = OFD
PRESETS = {
    # mdistiller cfg.py OFD: CE 1, FEAT 0.001, CONNECTOR.KERNEL_SIZE 1.
    'ofd': {'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0,
            'feature.loss': 'ofd', 'feature.weight': 0.001},
}
