"""OFD (Heo et al., "A Comprehensive Overhaul of Feature Distillation", ICCV 2019).

The pre-ReLU stage features ``preact_feats[1:]`` of student and teacher (``stages``) are aligned
on their LAST ``n`` entries (mdistiller's ``_align_list``, below); each student stage goes through a
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

Which stages (as the reference builds them):

* Pre-ReLU stages: ``preact_feats[1:]``; for MobileNetV2, whose mdistiller model returns no
  ``preact_feats`` (``mdistiller/models/cifar/mobilenetv2.py``), its ``feats[1:]``: each is the
  output of an inverted-residual stage, whose last layer is a BatchNorm with no ReLU after it
  (the linear bottleneck), so they are the pre-ReLU features, and they are exactly what that
  model's ``get_bn_before_relu`` (the last BN of blocks 1, 2, 4, 6) and ``get_stage_channels()[1:]``
  describe, which mdistiller's OFD reads to build its margins and connectors. (As released,
  ``OFD.forward_train`` indexes ``feature_student["preact_feats"]`` and so raises KeyError for a
  MobileNetV2 student; seed 001 Table 1's three OFD -> MobileNetV2 cells are run as the
  distiller's construction describes them.)
* The last ``n = min(student stages, teacher stages, teacher margins)`` stages pair. mdistiller
  builds one margin per ``get_bn_before_relu()`` entry and indexes them from the first; the
  ImageNet ResNets return three (layer2-4: layer1's is commented out in
  ``mdistiller/models/imagenet/resnet.py``), so ResNet34 -> ResNet18, whose
  ``preact_feats[1:]`` have four stages, distils layer2-4 (mdistiller ships no config for that
  pair and its hard-coded Bottleneck ``get_stage_channels`` would not build it; the three stages
  are what its margins define). For every pair mdistiller configures, ``n`` is the stage count.

Refused before compiling (``check_config``, with the run's models): models with neither
``preact_feats`` nor linear stage outputs, and teachers without ``bn_before_relu`` (ShuffleV1 /
ShuffleV2, whose mdistiller ``get_bn_before_relu`` raises NotImplementedError).
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


def aligned(student: tuple[Any, ...], teacher: tuple[Any, ...],
            limit: int | None = None) -> tuple[tuple[Any, ...], ...]:
  """mdistiller's ``_align_list``: the last ``min(len)`` entries of each (at most ``limit``)."""
  n = min(len(student), len(teacher), len(student) if limit is None else limit)
  return (tuple(student[len(student) - n:]), tuple(teacher[len(teacher) - n:]))


# Models whose stage outputs ``feats[1:]`` have no ReLU after them (linear bottlenecks): their
# feats are the pre-ReLU stages OFD reads (see the module docstring).
LINEAR_STAGE_MODELS = ('MobileNetV2',)


def stages(model: str, features: Any) -> tuple[Any, ...]:
  """The pre-ReLU stage features OFD reads from ``model``'s ``Features`` (stem excluded)."""
  if features.preact_feats:
    return tuple(features.preact_feats[1:])
  if model in LINEAR_STAGE_MODELS:
    return tuple(features.feats[1:])
  return ()


def _model_problems(teacher: str, student: str) -> list[str]:
  """Why ``teacher -> student`` cannot run OFD (empty: it can)."""
  fix_student = ('pick a student with preact_feats (the CIFAR / ImageNet ResNets, WRN, VGG, '
                 'ShuffleV1/V2, MobileNetV1) or linear stage outputs (MobileNetV2), or another '
                 'feature method')
  fix_teacher = ('pick a teacher with bn_before_relu (the ResNets, WRN, VGG, MobileNetV1, '
                 'MobileNetV2) or another feature method')
  problems = []
  if not stages(student, models.feature_shapes(student)):
    problems.append(f"OFD (feature.loss='ofd') reads the student's pre-ReLU stage features "
                    f"(preact_feats[1:]), and student {student} defines none: {fix_student}")
  if not stages(teacher, models.feature_shapes(teacher)):
    problems.append(f"OFD (feature.loss='ofd') reads the teacher's pre-ReLU stage features "
                    f"(preact_feats[1:]), and teacher {teacher} defines none: {fix_teacher}")
  try:
    margins = len(models.bn_before_relu_paths(teacher))
  except NotImplementedError:
    problems.append(f"OFD (feature.loss='ofd') takes its margins from the teacher's BatchNorms "
                    f"before ReLU, and teacher {teacher} has none (its mdistiller reference's "
                    f"get_bn_before_relu raises NotImplementedError): {fix_teacher}")
    return problems
  if not margins:
    problems.append(f"OFD (feature.loss='ofd'): teacher {teacher} has no BatchNorm before ReLU "
                    f"to take margins from: {fix_teacher}")
  return problems


class OFD(base.Term):
  """The OFD term (see the module docstring)."""
  NAME: ClassVar[str] = 'ofd'
  NEEDS: ClassVar[base.Needs] = base.Needs(teacher=True, features=True, teacher_variables=True,
                                           teacher_train_bn=True)
  TERM_NAMES: ClassVar[tuple[str, ...]] = ('ofd',)

  teacher_model: str = ''
  student_model: str = ''
  connector_kernel: int = 1
  teacher_train_bn: bool = True

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(connector_kernel=1, teacher_train_bn=True))

  @classmethod
  def from_config(cls, config, context=None) -> 'OFD':
    return cls(teacher_model=context.teacher if context is not None else config.teacher,
               student_model=context.student if context is not None else config.student,
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
    student, teacher = aligned(stages(self.student_model, inputs.student.features),
                               stages(self.teacher_model, inputs.teacher.features),
                               len(models.bn_before_relu_paths(self.teacher_model)))
    n = len(student)
    if not n:
      raise ValueError('OFD needs pre-ReLU stage features from both models (see '
                       'OFD.check_config)')
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
