"""CAT-KD (Guo, Yan, Li & Lin, "Class Attention Transfer Based Knowledge Distillation", CVPR 2023).

Class activation maps (CAMs) of student and teacher, each model's classifier applied at every
position of its last feature map, are average-pooled to a small resolution, optionally
normalised per (sample, class), and matched by MSE:

    loss = ce_weight * CE + feature.weight * mean (norm(pool(CAM_s)) - norm(pool(CAM_t)))^2

as GzyAftermath/CAT-KD trains it (``mdistiller/distillers/CAT_KD.py``; ``tools/train.py`` with
``if_test: True``, the ``*_test`` models of ``mdistiller/models``):

* CAMs (``feature_losses.class_activation_maps``) on ``Features.head_map``, the map the
  classifier pools (the ``_test`` models' ``conv_test`` input: after ``layer3`` for the CIFAR
  ResNets, ``relu(bn1(block3))`` for WRN, after the final 1x1 ``conv2`` for MobileNetV2 /
  ShuffleV2, ``relu(layer4)`` for the ImageNet ResNets, the last unit for MobileNetV1). The
  reference turns each classifier into a bias-free 1x1 conv (the teacher's ``fc.weight`` copied,
  its bias dropped): both CAMs here use the classifier's kernel without its bias. The student's
  kernel comes from ``StepInputs.student_variables`` (differentiable: the CAT loss trains it, as
  it trains the reference student's ``conv_test``); the teacher's from its variables (frozen).
* ``catkd.binarize`` (``IF_BINARIZE``): the teacher's CAM becomes ``1[CAM > mean |CAM|]`` per
  (sample, class), at full resolution, before pooling.
* ``catkd.resolution`` (``CAM_RESOLUTION``), ``catkd.normalize`` (``IF_NORMALIZE``),
  ``feature.weight`` (``CAT_loss_weight``), ``ce_weight`` (``CE_WEIGHT``; the configs' ``onlyCAT``
  is ``ce_weight`` 0): per pair in ``kdjax.recipes`` (``configs/cifar100/CAT_KD/*.yaml``,
  ``configs/imagenet/CAT-KD/*.yaml``).

Differences from the reference, by design:

* the student keeps its classifier's bias (kdjax models have one; the reference's ``_test``
  student has none and its logits are the spatial mean of its CAMs): the CE trains it, the CAT
  loss never sees it;
* the class-subset options ``IF_OnlyTransferPartialCAMs`` / ``CAMs_Nums`` / ``Strategy`` (one
  ablation config, ``configs/cifar100/CAT/CAT_Only_Transfer_Certain_Classes``) are not
  implemented: the reference keeps ``n - 1`` classes for Strategy 0 (strictly above the
  ``n``-th largest logit) and ``n + 1`` for Strategy 1 (``sorted[:, 99 - n]``, hard-coded to
  100 classes), and silently falls back to all classes when ties make the counts uneven;
* a ``resolution`` larger than a CAM is refused (the reference's adaptive pooling would
  repeat positions; no config does it).
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import ml_collections

from kdjax import feature_losses
from kdjax import models
from kdjax.methods import base

Array = jax.Array


def binarize_cams(cams: Array) -> Array:
  """CAT-KD's ``IF_BINARIZE``: ``1[CAM > mean_{h,w} |CAM|]`` per (sample, class), float.

  The reference's threshold is the spatial L1 norm over ``h * w``
  (``torch.norm(tea, dim=(2, 3), p=1) / (h * w)``) and ``relu(tea - threshold).bool()``.
  """
  threshold = jnp.mean(jnp.abs(cams), axis=(1, 2), keepdims=True)
  return (cams > threshold).astype(cams.dtype)


def _kernel(variables, head_path: tuple[str, ...]) -> Array:
  """The ``[D, K]`` kernel of the classifier at ``head_path`` of a model's variables."""
  params = variables['params'] if 'params' in variables else variables
  for key in head_path:
    params = params[key]
  return params['kernel']


def head_map_side(model: str, image_shape: tuple[int, ...] | None = None) -> int:
  """The smaller side of ``model``'s head map on ``image_shape`` inputs (traced only)."""
  head = models.feature_shapes(model, image_shape).head_map
  return int(min(head.shape[1:3]))


class CATKD(base.Term):
  """The CAT-KD term (see the module docstring); ``teacher`` / ``student`` are registry names."""
  NAME: ClassVar[str] = 'catkd'
  NEEDS: ClassVar[base.Needs] = base.Needs(teacher=True, features=True, teacher_variables=True,
                                           student_variables=True)
  TERM_NAMES: ClassVar[tuple[str, ...]] = ('catkd',)

  teacher: str = ''
  student: str = ''
  resolution: int = 2
  normalize: bool = True
  binarize: bool = False
  student_head: tuple[str, ...] = ('fc',)  # models.classifier_path(student)
  teacher_head: tuple[str, ...] = ('fc',)  # models.classifier_path(teacher)

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    # CAT-KD mdistiller/engine/cfg.py: CAM_RESOLUTION 2, IF_NORMALIZE True, IF_BINARIZE False.
    return ml_collections.ConfigDict(dict(resolution=2, normalize=True, binarize=False))

  @classmethod
  def from_config(cls, config, context=None) -> 'CATKD':
    teacher, student = ((context.teacher, context.student) if context is not None
                        else (config.teacher, config.student))
    c = config.catkd
    return cls(teacher=teacher, student=student, resolution=int(c.resolution),
               normalize=bool(c.normalize), binarize=bool(c.binarize),
               student_head=models.classifier_path(student),
               teacher_head=models.classifier_path(teacher))

  @classmethod
  def check_config(cls, config, context) -> list[str]:
    resolution = config.catkd.resolution
    if not isinstance(resolution, int) or isinstance(resolution, bool) or resolution < 1:
      return [f'catkd.resolution must be an int >= 1, got {resolution!r}']
    if context is None:
      return []
    problems = []
    for role, name in (('teacher', context.teacher), ('student', context.student)):
      if name not in models.names():
        problems.append(f'CAT-KD: unknown {role} model {name!r}')
        continue
      side = head_map_side(name, context.image_shape)
      if resolution > side:
        problems.append(
            f'catkd.resolution {resolution} is larger than the {side}x{side} class activation '
            f'maps of the {role} {name} (pooling would repeat positions; the CAT-KD configs '
            f'use 2 or 4 on maps at least that large)')
    return problems

  def __call__(self, inputs: base.StepInputs, train: bool = True) -> dict[str, Array]:
    del train
    if inputs.student_variables is None or inputs.teacher_variables is None:
      if self.is_initializing():  # The trainer's init passes none; the term has no variables.
        return {'catkd': jnp.float32(0.0)}
      raise ValueError('CAT-KD needs the student\'s and the teacher\'s variables (their '
                       'classifiers make the CAMs: Needs.student_variables / teacher_variables)')
    s_map, t_map = inputs.student.features.head_map, inputs.teacher.features.head_map
    if s_map is None or t_map is None:
      raise ValueError('CAT-KD needs Features.head_map of both models (the map the classifier '
                       'pools)')
    s_kernel = _kernel(inputs.student_variables, self.student_head)
    t_kernel = _kernel(inputs.teacher_variables, self.teacher_head)
    cam_s = feature_losses.class_activation_maps(s_map.astype(jnp.float32), s_kernel)
    cam_t = jax.lax.stop_gradient(
        feature_losses.class_activation_maps(t_map.astype(jnp.float32), t_kernel))
    if self.binarize:
      cam_t = binarize_cams(cam_t)
    return {'catkd': feature_losses.cat_kd(cam_s, cam_t, resolution=self.resolution,
                                           normalize=self.normalize)}


TERM = CATKD
PRESETS = {
    # CAT-KD mdistiller/engine/cfg.py: CE_WEIGHT 1, CAT_loss_weight 400 (per pair: kdjax.recipes).
    'catkd': {'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0,
              'feature.loss': 'catkd', 'feature.weight': 400.0},
}
