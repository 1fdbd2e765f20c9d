"""VGG with BatchNorm for CIFAR (vgg8, vgg11, vgg13, vgg16, vgg19), as in RepDistiller.

Simonyan, Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015, with BatchNorm (Ioffe, Szegedy, ICML 2015) and a global-average-pool head, in the
layout of RepDistiller's ``models/vgg.py`` and mdistiller's ``mdistiller/models/cifar/vgg.py``
(the ``*_bn`` constructors). Five stages ``block0..block4``; inside a stage the keys are torch
Sequential indices (conv 0, BN 1, ReLU 2, conv 3, ...), and each stage stops at its last BN
(its ReLU is applied by the network). Convs have a bias (zero-initialised) and
normal(0, sqrt(2 / (k*k*out))) weights; the ``classifier`` is normal(0, 0.01) with a zero bias.

Features, as mdistiller reports them: ``feats`` = the five activated stage outputs
``relu(blockS(..))`` (before the following max-pool); ``preact_feats`` = [the ACTIVATED stage 0
output (the reference has no pre-ReLU feature for stage 0), then stages 1..4 before their ReLU
(their last BN's output)]; ``pooled_feat`` = the mean of stage 4's activated output.
``bn_before_relu`` is the last BN of stages 1..4 (matching ``preact_feats[1:]``).
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
  conv_batch_chunks: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    for j, width in enumerate(self.widths):
      if j:
        x = nn.relu(x)
      x = layers.conv(width, 3, padding=1, use_bias=True, kernel_init=layers.fan_out_normal_init,
                      dtype=self.dtype, conv_batch_chunks=self.conv_batch_chunks,
                      name=str(3 * j))(x)
      x = layers.BatchNorm(dtype=self.dtype, name=str(3 * j + 1))(x, train)
    return x


class VGG(nn.Module):
  """VGG-BN with a global-average-pool head; the 4th max-pool is applied only to 64x64 inputs.

  Sows five ``feats`` / ``preact_feats`` and ``pooled_feat`` (see the module docstring).

  Attributes:
    stage_widths: conv widths of the five stages (see ``CONFIGS``).
    num_classes: logits.
    dtype: computation dtype (parameters and BN statistics stay float32).
    conv_batch_chunks: batch slices every convolution is computed in
      (``layers.batch_chunked_conv``; same result and parameters).
  """

  stage_widths: Sequence[Sequence[int]]
  num_classes: int
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  def bn_before_relu_paths(self) -> tuple[tuple[str, ...], ...]:
    """Paths of the reference's ``get_bn_before_relu``: the last BN of stages 1..4."""
    return tuple((f"block{index}", str(3 * (len(widths) - 1) + 1))
                 for index, widths in enumerate(self.stage_widths) if index >= 1)

  def classifier_path(self) -> tuple[str, ...]:
    """Path of the final linear layer."""
    return ("classifier",)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    height = x.shape[1]
    x = x.astype(self.dtype)
    feats, preacts = [], []
    for index, widths in enumerate(self.stage_widths):
      if index in (1, 2, 3) or (index == 4 and height == 64):
        x = layers.max_pool(x, 2, 2)
      preact = VGGStage(tuple(widths), dtype=self.dtype, conv_batch_chunks=self.conv_batch_chunks,
                        name=f"block{index}")(x, train)
      x = nn.relu(preact)
      feats.append(x)
      # The reference reports the activated output of stage 0 as its "preact" feature.
      preacts.append(x if index == 0 else preact)
    pooled = layers.global_avg_pool(x)
    layers.sow_features(self, feats, preacts, pooled, head_map=x)
    logits = layers.linear(pooled, self.num_classes, kernel_init=layers.classifier_normal_init,
                           bias_init=layers.zeros_init, dtype=self.dtype, name="classifier")
    return logits.astype(jnp.float32)
