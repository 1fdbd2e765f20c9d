"""SRRL (Yang et al., "Knowledge Distillation via Softmax Regression Representation Learning",
ICLR 2021): feature matching plus the teacher's classifier on the student's feature.

The student's last map goes through a trainable connector to the teacher's width; the connected
map is matched to the teacher's last map by their spatial means (``L_FM``), and the teacher's
frozen classifier (its average pooling and ``fc``) applied to it regresses the teacher's logits
(``L_SR``)::

    loss = ce_weight * CE + feature.weight * (mean_batch srrl_feature(C(f_s), f_t)
                                              + srrl.sr_weight * mean_batch srrl_regression(
                                                  fc_t(avgpool(C(f_s))), v))

as ``jingyang2017/KD_SRRL train_imagenet_distillation.py`` trains it (``loss_ce + loss_stat +
F.mse_loss(pred_sc, pred_t) * args.weight``, ``--weight`` default 1; CE unweighted):

* ``f_s``, ``f_t``: the last stage's maps (``layer4`` of the ResNets, the last depthwise block of
  MobileNet, ``is_adain=True``): kdjax's ``simkd.reference_map`` (``feats[-1]``, WRN's head map).
* Connector (``distiller_zoo/AIN.py`` ``transfer_conv``): 1x1 conv ``s_c -> t_c`` without bias,
  BatchNorm, ReLU; the conv initialised ``N(0, sqrt(2 / t_c))`` (He, fan-out), BN scale 1, bias 0.
  It is trained with the student (the reference's ``trainable_list``, same SGD and weight decay).
* ``L_FM`` is ``statm_loss`` of ``distiller_zoo/AIN.py``. The released script calls the class
  ``statm_loss(feat_s, feat_t)`` as if it were its ``forward`` (which would raise a ``TypeError``
  in PyTorch); kdjax computes what its ``forward`` states, which is also ``yzd-v/cls_KD``'s
  ``SRRLLoss`` ``fm_loss``.
* The student is evaluated by its own classifier (``test2(test_loader, net_s)``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from kdjax import feature_losses
from kdjax import models
from kdjax.methods import base
from kdjax.methods import simkd
from kdjax.models import layers

Array = jax.Array


class Connector(nn.Module):
  """SRRL's ``transfer_conv`` (``distiller_zoo/AIN.py``): 1x1 conv, BN, ReLU, NHWC.

  Submodules are named like the reference's ``Connectors`` ``nn.Sequential`` (``0`` conv, ``1``
  BN).

  Attributes:
    channels: the teacher's channels.
  """
  channels: int

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    # transfer_conv's init: weight ~ N(0, sqrt(2 / n)), n = k * k * out_channels.
    std = math.sqrt(2.0 / self.channels)
    x = layers.conv(self.channels, 1, kernel_init=nn.initializers.normal(std), name='0')(x)
    x = layers.BatchNorm(name='1')(x, train)
    return nn.relu(x)


class SRRL(base.Term):
  """The SRRL terms (see the module docstring); ``teacher`` / ``student`` are registry names."""
  NAME: ClassVar[str] = 'srrl'
  NEEDS: ClassVar[base.Needs] = base.Needs(teacher=True, features=True, teacher_variables=True)
  TERM_NAMES: ClassVar[tuple[str, ...]] = ('srrl_fm', 'srrl_sr')

  teacher: str = ''
  student: str = ''
  sr_weight: float = 1.0
  channels: int = 1  # the teacher's map channels (= its classifier's input width)
  teacher_head: tuple[str, ...] = ('fc',)  # models.classifier_path(teacher)

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    # train_imagenet_distillation.py --weight (default 1): the weight of the regression term.
    return ml_collections.ConfigDict(dict(sr_weight=1.0))

  @classmethod
  def from_config(cls, config, context=None) -> 'SRRL':
    teacher, student, image_shape = simkd.pair_of(config, context)
    return cls(teacher=teacher, student=student, sr_weight=float(config.srrl.sr_weight),
               channels=simkd.map_shape(teacher, image_shape)[-1],
               teacher_head=models.classifier_path(teacher))

  @classmethod
  def check_config(cls, config, context) -> list[str]:
    weight = config.srrl.sr_weight
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
      return [f'srrl.sr_weight must be a number >= 0, got {weight!r}']
    if context is None:
      return []
    teacher, student, image_shape = simkd.pair_of(config, context)
    problems = [f'SRRL: unknown {role} model {name!r}'
                for role, name in (('teacher', teacher), ('student', student))
                if name not in models.names()]
    if problems:
      return problems
    channels = simkd.map_shape(teacher, image_shape)[-1]
    width = int(models.feature_shapes(teacher, image_shape).pooled.shape[-1])
    if channels != width:
      problems.append(
          f'SRRL applies the teacher\'s classifier to the pooled connected student map, which '
          f'is matched to the teacher\'s last stage map; {teacher}\'s last stage map has '
          f'{channels} channels but its classifier reads {width} features (a later layer): pick '
          f'a teacher whose classifier pools its last stage (ResNets, WRN, VGG)')
    return problems

  @nn.compact
  def __call__(self, inputs: base.StepInputs, train: bool = True) -> dict[str, Array]:
    f_s = simkd.reference_map(self.student, inputs.student.features).astype(jnp.float32)
    f_t = jax.lax.stop_gradient(
        simkd.reference_map(self.teacher, inputs.teacher.features).astype(jnp.float32))
    if f_t.shape[-1] != self.channels:
      raise ValueError(f'SRRL was built for a {self.channels}-channel teacher map of '
                       f'{self.teacher}, got {f_t.shape[-1]} channels')
    connected = Connector(self.channels, name='connector')(f_s, train)
    out = {'srrl_fm': jnp.mean(feature_losses.srrl_feature(connected, f_t))}
    if inputs.teacher_variables is None:  # The trainer's init passes none (shapes only).
      if self.is_initializing():
        return dict(out, srrl_sr=jnp.float32(0.0))
      raise ValueError('SRRL needs the teacher\'s variables (Needs.teacher_variables)')
    logits = self._teacher_head(connected, inputs.teacher_variables)
    v = jax.lax.stop_gradient(inputs.teacher.logits.astype(jnp.float32))
    out['srrl_sr'] = self.sr_weight * jnp.mean(feature_losses.srrl_regression(logits, v))
    return out

  def _teacher_head(self, connected: Array, teacher_variables: Any) -> Array:
    """The teacher's ``avgpool`` + ``fc`` on the connected map (its variables held constant)."""
    return simkd.classify(self.teacher_head, jax.lax.stop_gradient(teacher_variables),
                          jnp.mean(connected, axis=(1, 2)))


TERM = SRRL
PRESETS = {
    # jingyang2017/KD_SRRL train_imagenet_distillation.py: loss_ce + loss_stat + mse * --weight 1.
    'srrl': {'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0,
             'feature.loss': 'srrl', 'feature.weight': 1.0, 'srrl.sr_weight': 1.0},
}
