"""ViTKD (Yang et al., "ViTKD: Practical Guidelines for ViT feature knowledge distillation", 2022).

A feature term for vision transformers: the student *mimics* the teacher's shallow blocks and
*generates* the teacher's deep block from a masked copy of its own:

    loss = ce_weight * CE + feature.weight * (mean mimic + mean generation)
    mimic      = alpha * sum_{l in {0, 1}} ||A_l(s_l) - t_l||^2
    generation = beta / lambda * sum_{masked tokens} ||G(mask(A(s_L), lambda)) - t_L||^2

as yzd-v/cls_KD releases it (``mmcls/models/dis_losses/vitkd.py`` ``ViTKDLoss``, called by
``mmcls/models/classifiers/distiller.py`` ``ClassificationDistiller.loss`` on the backbones'
``[low_f, high_f]``, ``mmcls/models/backbones/vision_transformer.py`` and ``deit3.py``):

* the tokens: the patch tokens only (the class token is left out), ``s_0, s_1`` / ``t_0, t_1``
  after the first two blocks (shallow), ``s_L`` / ``t_L`` after the last block and the final
  LayerNorm (deep); ``feature_losses`` has the two losses (per example; their batch means are
  the reference's ``loss_lr`` and ``loss_gen``, summed there into one ``loss_vitkd``);
* the projections ``A_0``, ``A_1`` (one per shallow block) and ``A`` (deep): linear layers with
  bias from the student's width to the teacher's, absent (identity) when the widths are equal;
* the mask: per example, ``N - int(N * (1 - lambda))`` of the ``N`` deep tokens chosen at random
  are replaced by a learned mask token (zeros at the start);
* the generation block ``G``: the tokens on their ``sqrt(N) x sqrt(N)`` grid, a 3x3 convolution
  (padding 1, bias), ReLU, a 3x3 convolution, at the teacher's width; its loss counts the
  masked tokens only and divides by lambda, not by the fraction masked;
* PyTorch's default initialisation of the linear layers and convolutions (the distiller's
  ``init_weights`` initialises the student only); they train with the student, and the mask token
  (``[1, 1, D]``) is weight-decayed under ``weight_decay_mask='no_bias_norm'`` as mmcls's
  ``paramwise_cfg`` decays it (its ``flat_decay_mult`` 0 spares one-dimensional parameters only).

``alpha`` 3e-5, ``beta`` 3e-6, ``lambda`` 0.5 are ``ViTKDLoss``'s defaults and every DeiT config's
(``configs/distillers/imagenet/deit-s3_distill_deit-t_img.py`` and its siblings); the distiller
adds ``loss_vitkd`` to the student's own loss unweighted (``feature.weight`` 1).

The mask is drawn in the step from ``make_rng('sample')`` (the trainer derives it from the seed,
epoch and step, the same on any number of devices); ``__call__``'s ``mask`` argument gives it
instead (tests). The models must sow their block outputs (``Features.feats``: ``[B, 1 + N, D]``,
class token first, block 0 first, the last after the final LayerNorm: ``kdjax.models.vit``).
"""

from __future__ import annotations

import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from kdjax import feature_losses
from kdjax import models
from kdjax.methods import base
from kdjax.models import layers

Array = jax.Array
SHALLOW_BLOCKS = (0, 1)  # cls_KD backbones: low_f = the patch tokens after blocks 0 and 1


def reference_tokens(features: models.Features) -> tuple[tuple[Array, ...], Array]:
  """The patch tokens ViTKD reads from one model's ``Features``: ``(shallow, deep)``.

  ``shallow``: ``[B, N, D]`` after each of ``SHALLOW_BLOCKS``; ``deep``: ``[B, N, D]`` after the
  last block and the final LayerNorm. A kdjax ViT's ``feats`` are those blocks' outputs with the
  last one normed, as cls_KD's backbones collect them (they norm the last block's output before
  taking its tokens, so with two blocks the second shallow one is the normed one too). The class
  token (first) is left out.
  """
  blocks = tuple(features.feats)
  if len(blocks) < len(SHALLOW_BLOCKS) or any(block.ndim != 3 for block in blocks):
    raise ValueError(f'ViTKD needs the block tokens [B, 1 + N, D] of a vision transformer with at '
                     f'least {len(SHALLOW_BLOCKS)} blocks (kdjax.models.vit); got feats of shapes '
                     f'{[tuple(block.shape) for block in blocks]}')
  patches = tuple(block[:, 1:] for block in blocks)
  return tuple(patches[i] for i in SHALLOW_BLOCKS), patches[-1]


def _dense(features: int, fan_in: int, name: str) -> nn.Dense:
  """A linear layer with PyTorch's default initialisation (``nn.Linear``)."""
  return nn.Dense(features, kernel_init=layers.torch_default_kernel_init,
                  bias_init=layers.torch_default_bias_init(fan_in), name=name)


class Generation(nn.Module):
  """cls_KD's ``generation``: conv 3x3 (pad 1) - ReLU - conv 3x3 (pad 1), ``D -> D``, biases,
  PyTorch's default initialisation; on ``[B, H, W, D]`` token grids."""
  dim: int

  @nn.compact
  def __call__(self, x: Array) -> Array:
    for index in range(2):
      if index:
        x = nn.relu(x)
      x = nn.Conv(self.dim, (3, 3), padding=[(1, 1), (1, 1)],
                  kernel_init=layers.torch_default_kernel_init,
                  bias_init=layers.torch_default_bias_init(9 * x.shape[-1]),
                  name=f'conv{index}')(x)
    return x


class ViTKD(base.Term):
  """The ViTKD term (see the module docstring)."""
  NAME: ClassVar[str] = 'vitkd'
  NEEDS: ClassVar[base.Needs] = base.Needs(teacher=True, features=True)
  TERM_NAMES: ClassVar[tuple[str, ...]] = ('vitkd_mimic', 'vitkd_generation')

  alpha: float = 3e-5
  beta: float = 3e-6
  mask_ratio: float = 0.5

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(
        alpha=3e-5,  # the mimicking weight: ViTKDLoss(alpha_vitkd=0.00003), cls_KD vitkd.py
        beta=3e-6,  # the generation weight: ViTKDLoss(beta_vitkd=0.000003), cls_KD vitkd.py
        mask_ratio=0.5,  # lambda, the masked fraction: ViTKDLoss(lambda_vitkd=0.5)
    ))

  @classmethod
  def from_config(cls, config, context=None) -> 'ViTKD':
    del context
    return cls(alpha=float(config.vitkd.alpha), beta=float(config.vitkd.beta),
               mask_ratio=float(config.vitkd.mask_ratio))

  @classmethod
  def check_config(cls, config, context) -> list[str]:
    problems = []
    for name in ('alpha', 'beta'):
      if config.vitkd[name] < 0:
        problems.append(f'vitkd.{name} must be >= 0, got {config.vitkd[name]}')
    if not 0 < config.vitkd.mask_ratio < 1:
      problems.append(f'vitkd.mask_ratio (lambda) must be in (0, 1), got '
                      f'{config.vitkd.mask_ratio}')
    if context is None or problems:
      return problems
    shapes = {}
    for role, name in (('teacher', context.teacher), ('student', context.student)):
      if name not in models.names():
        problems.append(f'ViTKD: unknown {role} model {name!r}')
        continue
      feats = models.feature_shapes(name, context.image_shape).feats
      if len(feats) < len(SHALLOW_BLOCKS) or any(len(f.shape) != 3 for f in feats):
        problems.append(f'ViTKD needs a vision transformer {role} that sows its block tokens '
                        f'[B, 1 + N, D] (at least {len(SHALLOW_BLOCKS)} blocks); {name!r} is not '
                        f'one (kdjax.models.vit)')
        continue
      shapes[role] = feats[-1].shape
    if len(shapes) == 2:
      tokens = shapes['student'][1] - 1
      if tokens != shapes['teacher'][1] - 1:
        problems.append(f'ViTKD compares token by token: the student has {tokens} patch tokens, '
                        f'the teacher {shapes["teacher"][1] - 1}; use models with the same '
                        f'patch grid on these images')
      elif math.isqrt(tokens) ** 2 != tokens:
        problems.append(f'ViTKD\'s generation block convolves the tokens on a square grid; '
                        f'{tokens} patch tokens are not one')
    return problems

  @nn.compact
  def __call__(self, inputs: base.StepInputs, train: bool = True,
               mask: Array | None = None) -> dict[str, Array]:
    """The two loss terms; ``mask`` (bool ``[B, N]``, True: masked) replaces the drawn one."""
    del train  # no layer of the term behaves differently in training
    s_shallow, s_deep = reference_tokens(inputs.student.features)
    t_shallow, t_deep = jax.lax.stop_gradient(reference_tokens(inputs.teacher.features))
    s_shallow = [s.astype(jnp.float32) for s in s_shallow]
    s_deep = s_deep.astype(jnp.float32)
    t_shallow = jnp.stack(t_shallow, axis=1).astype(jnp.float32)
    t_deep = t_deep.astype(jnp.float32)
    s_dim, t_dim = s_deep.shape[-1], t_deep.shape[-1]
    if s_dim != t_dim:  # cls_KD: align2 (one per shallow block) and align, only then
      s_shallow = [_dense(t_dim, s_dim, f'shallow_projection_{i}')(s)
                   for i, s in enumerate(s_shallow)]
      s_deep = _dense(t_dim, s_dim, 'deep_projection')(s_deep)
    mimic = feature_losses.vitkd_mimic(jnp.stack(s_shallow, axis=1), t_shallow, alpha=self.alpha)

    batch, tokens, _ = s_deep.shape
    if mask is None:
      mask = feature_losses.vitkd_token_mask(self.make_rng('sample'), batch, tokens,
                                             mask_ratio=self.mask_ratio)
    mask_token = self.param('mask_token', nn.initializers.zeros, (1, 1, t_dim), jnp.float32)
    x = feature_losses.vitkd_mask_tokens(s_deep, mask, mask_token)
    side = math.isqrt(tokens)
    if side * side != tokens:
      raise ValueError(f'ViTKD\'s generation block needs a square grid of tokens, got {tokens}')
    generated = Generation(t_dim, name='generation')(x.reshape(batch, side, side, t_dim))
    generation = feature_losses.vitkd_generation(
        generated.reshape(batch, tokens, t_dim), t_deep, mask, beta=self.beta,
        mask_ratio=self.mask_ratio)
    return {'vitkd_mimic': jnp.mean(mimic), 'vitkd_generation': jnp.mean(generation)}


TERM = ViTKD
# cls_KD's ViTKD configs run every DeiT pair with the student's own loss (CE) plus loss_vitkd,
# unweighted (mmcls/models/classifiers/distiller.py); ViTKD alone is those configs with
# ``nkd = False``, NKD+ViTKD them as released (``nkd = True``, NKDLoss temp 1.0, gamma 1.0).
# WTTM+ViTKD (Zheng & Yang 2024, Table 13) is the same sum with WTTM as the logit term; its
# (gamma, beta) are the DeiT recipe's (kdjax.recipes.deit, marked as defaults there).
_VITKD = {'feature.loss': 'vitkd', 'feature.weight': 1.0, 'vitkd.alpha': 3e-5,
          'vitkd.beta': 3e-6, 'vitkd.mask_ratio': 0.5}
PRESETS = {
    'vitkd': {'ce_weight': 1.0, 'logit.loss': 'none', 'logit.weight': 0.0, **_VITKD},
    'nkd+vitkd': {'ce_weight': 1.0, 'logit.loss': 'nkd', 'logit.weight': 1.0,
                  'nkd.temperature': 1.0, 'nkd.gamma': 1.0, **_VITKD},
    'wttm+vitkd': {'ce_weight': 1.0, 'logit.loss': 'wttm', **_VITKD},
}
