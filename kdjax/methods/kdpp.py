"""KD++ (Wang et al., "Improving Knowledge Distillation via Regularizing Feature Norm and
Direction", ICCV 2023): KD plus the ND loss on the student's embedding.

    loss = ce_weight * CE + feature.weight * (kdpp.kd_weight * w(e) * mean_batch T^2 KL(p_t || p_s)
                                              + kdpp.nd_weight * mean_batch nd_loss(s, t, c_y))

as ``WangYZ1608/Knowledge-Distillation-via-ND ImageNet/train_kd.py`` trains it (``cls_loss +
div_loss + norm_dir_loss``; ``ImageNet/utils.py`` ``KDLoss`` and ``DirectNormLoss``):

* KD at temperature ``kdpp.temperature`` (``--t``, default 1), weighted by ``--kd_loss_factor``
  and warmed up by ``w(e) = min(1, (e - 1) / kdpp.warmup_epochs)`` in epoch ``e`` from 1
  (``min(1.0, epoch / args.warm_up)`` with the reference's epochs from 0, ``--warm_up`` 5): the
  first epoch has no KD.
* ``s``: the student's embedding, its pooled feature (``embed=True``); when its width differs from
  the teacher's it goes through the embedding transform of ``ImageNet/Models/embtrans.py``
  (``EmbTrans.fc1``: BatchNorm1d, Dropout(0.5), Linear to the teacher's width; BN scale 1 and
  bias 0, Linear weight and bias ``N(0, 0.01)``), trained with the student. The reference adds it
  for a MobileNetV1 student or a ResNet-50/101/152 teacher of a ResNet-18, exactly the pairs
  whose widths differ. The student's logits stay its own classifier's (on the raw feature).
* ``t``: the teacher's pooled feature; ``c_y``: the teacher's mean embedding of class ``y`` over
  the training set (``ImageNet/emb_fea_distribution.py``, one pass with the training
  augmentation, stored as ``ckpt/teacher/<teacher>/center_emb_train.json``). kdjax accumulates
  the same statistic from the teacher's embeddings of the first ``kdpp.center_epochs`` epochs of
  training (one augmented pass of the training set, as the reference's), as class sums in the
  term's ``state`` (only a centre's direction counts); a batch is added before its loss, so every
  class of the batch has a centre. Difference: during the first epoch the centres are the means
  of the examples seen so far, not of the whole set.
* The student is evaluated by its own classifier (``validate``: ``model(images, embed=False)``).
"""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from kdjax import feature_losses
from kdjax import losses
from kdjax import models
from kdjax.methods import base
from kdjax.models import layers

Array = jax.Array


class EmbeddingTransform(nn.Module):
  """KD++'s ``EmbTrans.fc1`` (``ImageNet/Models/embtrans.py``): BN, Dropout(0.5), Linear.

  Dropout draws from the term's ``'sample'`` random stream (the trainer gives the objective one).

  Attributes:
    width: the teacher's embedding width.
    rate: the dropout rate (the reference's 0.5).
  """
  width: int
  rate: float = 0.5

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    x = layers.BatchNorm(name='0')(x, train)
    x = nn.Dropout(self.rate, deterministic=not train, rng_collection='sample')(x)
    init = nn.initializers.normal(0.01)
    return nn.Dense(self.width, kernel_init=init, bias_init=init, name='2')(x)


def kd_warmup(config: ml_collections.ConfigDict, epoch: int) -> float:
  """KD++'s KD warm-up ``min(1, (epoch - 1) / warmup_epochs)`` (epochs from 1; 1 when 0)."""
  warmup = config.kdpp.warmup_epochs
  return 1.0 if warmup == 0 else min(1.0, (epoch - 1) / warmup)


class KDPP(base.Term):
  """The KD++ terms (see the module docstring)."""
  NAME: ClassVar[str] = 'kdpp'
  NEEDS: ClassVar[base.Needs] = base.Needs(teacher=True, features=True)
  TERM_NAMES: ClassVar[tuple[str, ...]] = ('kdpp_kd', 'kdpp_nd')

  num_classes: int = 1
  teacher_width: int = 1
  student_width: int = 1
  kd_weight: float = 1.0
  nd_weight: float = 1.0
  temperature: float = 1.0

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    # ImageNet/train_kd.py argument defaults: --kd_loss_factor 1, --nd_loss_factor 1, --t 1,
    # --warm_up 5; center_epochs: kdjax's (the epochs whose teacher embeddings make the centres).
    return ml_collections.ConfigDict(dict(kd_weight=1.0, nd_weight=1.0, temperature=1.0,
                                          warmup_epochs=5.0, center_epochs=1))

  @classmethod
  def from_config(cls, config, context=None) -> 'KDPP':
    if context is None:
      raise ValueError('KD++ is built from the run\'s models and classes: pass a '
                       'kdjax.methods.Context to methods.build')
    widths = [int(models.feature_shapes(name, context.image_shape).pooled.shape[-1])
              for name in (context.teacher, context.student)]
    c = config.kdpp
    return cls(num_classes=int(context.num_classes), teacher_width=widths[0],
               student_width=widths[1], kd_weight=float(c.kd_weight),
               nd_weight=float(c.nd_weight), temperature=float(c.temperature))

  @classmethod
  def check_config(cls, config, context) -> list[str]:
    c = config.kdpp
    problems = []
    for field in ('kd_weight', 'nd_weight', 'warmup_epochs'):
      value = c[field]
      if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        problems.append(f'kdpp.{field} must be a number >= 0, got {value!r}')
    if isinstance(c.temperature, bool) or not isinstance(c.temperature, (int, float)) or (
        c.temperature <= 0):
      problems.append(f'kdpp.temperature must be a number > 0, got {c.temperature!r}')
    if isinstance(c.center_epochs, bool) or not isinstance(c.center_epochs, int) or (
        c.center_epochs < 1):
      problems.append(f'kdpp.center_epochs must be an int >= 1 (the epochs whose teacher '
                      f'embeddings make the class centres), got {c.center_epochs!r}')
    if context is not None:
      problems += [f'KD++: unknown {role} model {name!r}'
                   for role, name in (('teacher', context.teacher), ('student', context.student))
                   if name not in models.names()]
    return problems

  @classmethod
  def epoch_scalars(cls, config, epoch: int) -> dict[str, float]:
    return {'kdpp_warmup': kd_warmup(config, epoch),
            'kdpp_accumulate': 1.0 if epoch <= config.kdpp.center_epochs else 0.0}

  @nn.compact
  def __call__(self, inputs: base.StepInputs, train: bool = True) -> dict[str, Array]:
    scalars = inputs.scalars
    warmup = jnp.asarray(scalars.get('kdpp_warmup', 1.0), jnp.float32)
    accumulate = jnp.asarray(scalars.get('kdpp_accumulate', 0.0), jnp.float32)
    z = inputs.student.logits.astype(jnp.float32)
    v = jax.lax.stop_gradient(inputs.teacher.logits.astype(jnp.float32))
    kd = jnp.mean(losses.kd(z, v, temperature=self.temperature))
    s = inputs.student.features.pooled.astype(jnp.float32)
    t = jax.lax.stop_gradient(inputs.teacher.features.pooled.astype(jnp.float32))
    if s.shape[-1] != self.student_width or t.shape[-1] != self.teacher_width:
      raise ValueError(f'KD++ was built for {self.student_width} / {self.teacher_width} wide '
                       f'student / teacher embeddings, got {s.shape[-1]} / {t.shape[-1]}')
    if self.student_width != self.teacher_width:
      s = EmbeddingTransform(self.teacher_width, name='embed')(s, train)
    sums = self.variable('state', 'class_sums',
                         lambda: jnp.zeros((self.num_classes, self.teacher_width), jnp.float32))
    # The batch joins the sums before its loss (while accumulating): its classes have a centre.
    updated = feature_losses.class_sums_update(sums.value, t, inputs.labels)
    current = jnp.where(accumulate > 0, updated, sums.value)
    if train and not self.is_initializing():
      sums.value = current
    nd = jnp.mean(feature_losses.nd_loss(s, t, current[inputs.labels]))
    return {'kdpp_kd': self.kd_weight * warmup * kd, 'kdpp_nd': self.nd_weight * nd}


TERM = KDPP
PRESETS = {
    # ImageNet/train_kd.py defaults (--cls_loss_factor 1, --kd_loss_factor 1, --nd_loss_factor 1,
    # --t 1, --warm_up 5); the published pairs' factors are in kdjax.recipes.kdpp.
    'kdpp': {'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0,
             'feature.loss': 'kdpp', 'feature.weight': 1.0, 'kdpp.kd_weight': 1.0,
             'kdpp.nd_weight': 1.0, 'kdpp.temperature': 1.0, 'kdpp.warmup_epochs': 5.0,
             'kdpp.center_epochs': 1},
}
