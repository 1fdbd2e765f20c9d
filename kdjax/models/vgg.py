"""VGG with BatchNorm for CIFAR (vgg8, vgg11, vgg13, vgg16, vgg19), as in RepDistiller.

Five stages ``block0..block4``; inside a stage the keys are torch Sequential indices (conv 0,
BN 1, ReLU 2, conv 3, ...), and each stage stops at its last BN (its ReLU is applied by the
network). Convs have a bias (zero-initialised) and normal(0, sqrt(2 / (k*k*out))) weights; the
``classifier`` is normal(0, 0.01) with a zero bias.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from kdjax.models import layers

Dtype = layers.Dtype

# Conv widths per stage.
CONFIGS: dict[str, tuple[tuple[int, ...], ...]] = {
    "vgg8": ((64,), (128,), (256,), (512,), (512,)),
    "vgg11": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "vgg13": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "vgg19": ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


class VGGStage(nn.Module):
  """conv3x3(+bias)-BN-ReLU, ..., conv3x3-BN: returns the last BN's output (pre-activation)."""

  widths: Sequence[int]
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    for j, width in enumerate(self.widths):
      if j:
        x = nn.relu(x)
      x = layers.conv(width, 3, padding=1, use_bias=True, kernel_init=layers.fan_out_normal_init,
                      dtype=self.dtype, name=str(3 * j))(x)
      x = layers.BatchNorm(dtype=self.dtype, name=str(3 * j + 1))(x, train)
    return x


class VGG(nn.Module):
  """VGG-BN with a global-average-pool head; the 4th max-pool is applied only to 64x64 inputs.

  Attributes:
    stage_widths: conv widths of the five stages (see ``CONFIGS``).
    num_classes: logits.
    dtype: computation dtype (parameters and BN statistics stay float32).
  """

  stage_widths: Sequence[Sequence[int]]
  num_classes: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    height = x.shape[1]
    x = x.astype(self.dtype)
    feats, preacts = [], []
    for index, widths in enumerate(self.stage_widths):
      if index in (1, 2, 3) or (index == 4 and height == 64):
        x = layers.max_pool(x, 2, 2)
      preact = VGGStage(tuple(widths), dtype=self.dtype, name=f"block{index}")(x, train)
      x = nn.relu(preact)
      feats.append(x)
      # The reference reports the activated output of stage 0 as its "preact" feature.
      preacts.append(x if index == 0 else preact)
    pooled = layers.global_avg_pool(x)
    layers.sow_features(self, feats, preacts, pooled)
    logits = layers.linear(pooled, self.num_classes, kernel_init=layers.classifier_normal_init,
                           bias_init=layers.zeros_init, dtype=self.dtype, name="classifier")
    return logits.astype(jnp.float32)
