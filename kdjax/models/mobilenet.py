"""MobileNetV2 for CIFAR (width 0.5, "MobileNetV2" in the KD tables) and MobileNetV1 for ImageNet.

MobileNetV2 keys: ``conv1.{0,1}``, ``blocks.G.J.conv.{0,1,3,4,6,7}``, ``conv2.{0,1}``,
``classifier.0``; convs normal(0, sqrt(2 / (k*k*out))), classifier normal(0, 0.01), zero bias.
MobileNetV1 keys: ``model.0.{0,1}``, ``model.U.{0,1,3,4}`` (U = 1..13), ``fc``; PyTorch default
initialisation throughout.
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from kdjax.models import layers

Dtype = layers.Dtype

# (expansion t, output channels c, blocks n, first stride s) at width 1.
MOBILENETV2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
                        (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
# (output channels, stride) of MobileNetV1's 13 depthwise-separable units.
MOBILENETV1_UNITS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
                     (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


class _InvertedResidualConv(nn.Module):
  """The ``conv`` Sequential: 1x1 expand-BN-ReLU, 3x3 depthwise(stride)-BN-ReLU, 1x1 project-BN."""

  hidden: int
  out_planes: int
  stride: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    conv = functools.partial(layers.conv, kernel_init=layers.fan_out_normal_init,
                             dtype=self.dtype)
    bn = functools.partial(layers.BatchNorm, dtype=self.dtype)
    x = nn.relu(bn(name="1")(conv(self.hidden, 1, name="0")(x), train))
    x = conv(self.hidden, 3, stride=self.stride, padding=1, groups=self.hidden, name="3")(x)
    x = nn.relu(bn(name="4")(x, train))
    return bn(name="7")(conv(self.out_planes, 1, name="6")(x), train)


class InvertedResidual(nn.Module):
  """MobileNetV2 block; residual iff stride 1 and in == out. Returns ``(out, out)``."""

  out_planes: int
  stride: int
  expand_ratio: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    in_planes = x.shape[-1]
    out = _InvertedResidualConv(in_planes * self.expand_ratio, self.out_planes, self.stride,
                                dtype=self.dtype, name="conv")(x, train)
    if self.stride == 1 and in_planes == self.out_planes:
      out = x + out
    return out, out


class _InvertedResidualGroups(nn.Module):
  """The ``blocks`` ModuleList of groups ``'0'..'6'``; returns every group's output."""

  settings: Sequence[tuple[int, int, int, int]]
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> list[jax.Array]:
    outputs = []
    for index, (t, c, n, s) in enumerate(self.settings):
      blocks = [functools.partial(InvertedResidual, c, s if i == 0 else 1, t, dtype=self.dtype)
                for i in range(n)]
      x, _ = layers.Stack(blocks, name=str(index))(x, train)
      outputs.append(x)
    return outputs


class _Classifier(nn.Module):
  """The ``classifier`` Sequential holding one Linear ``'0'``."""

  num_classes: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return layers.linear(x, self.num_classes, kernel_init=layers.classifier_normal_init,
                         bias_init=layers.zeros_init, dtype=self.dtype, name="0")


class MobileNetV2(nn.Module):
  """CIFAR MobileNetV2 (stride-2 stem, plain ReLU, 1280-wide head unscaled, no dropout).

  Attributes:
    num_classes: logits.
    width_mult: channel multiplier of stem and blocks (0.5 for the KD benchmark model).
    expand_ratio: expansion t of groups 2..7.
    dtype: computation dtype (parameters and BN statistics stay float32).
  """

  num_classes: int
  width_mult: float = 0.5
  expand_ratio: int = 6
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    settings = tuple((t if index == 0 else self.expand_ratio, int(c * self.width_mult), n, s)
                     for index, (t, c, n, s) in enumerate(MOBILENETV2_SETTINGS))
    last_channel = int(1280 * self.width_mult) if self.width_mult > 1.0 else 1280
    x = layers.ConvBN(int(32 * self.width_mult), 3, stride=2, padding=1,
                      kernel_init=layers.fan_out_normal_init, dtype=self.dtype,
                      name="conv1")(x.astype(self.dtype), train)
    x = nn.relu(x)
    groups = _InvertedResidualGroups(settings, dtype=self.dtype, name="blocks")(x, train)
    feats = [x, groups[1], groups[2], groups[4], groups[6]]
    x = layers.ConvBN(last_channel, 1, kernel_init=layers.fan_out_normal_init, dtype=self.dtype,
                      name="conv2")(groups[-1], train)
    pooled = layers.global_avg_pool(nn.relu(x))
    layers.sow_features(self, feats, None, pooled)
    logits = _Classifier(self.num_classes, dtype=self.dtype, name="classifier")(pooled)
    return logits.astype(jnp.float32)


class DepthwiseSeparable(nn.Module):
  """3x3 depthwise(stride)-BN-ReLU, 1x1 pointwise-BN-ReLU. Returns ``(out, preact)``."""

  out_planes: int
  stride: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    bn = functools.partial(layers.BatchNorm, dtype=self.dtype)
    in_planes = x.shape[-1]
    x = layers.conv(in_planes, 3, stride=self.stride, padding=1, groups=in_planes,
                    dtype=self.dtype, name="0")(x)
    x = nn.relu(bn(name="1")(x, train))
    preact = bn(name="4")(layers.conv(self.out_planes, 1, dtype=self.dtype, name="3")(x), train)
    return nn.relu(preact), preact


class _MobileNetV1Body(nn.Module):
  """The ``model`` Sequential; returns the output and the preacts of units 3, 5, 11, 13."""

  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, list[jax.Array]]:
    x = layers.ConvBN(32, 3, stride=2, padding=1, dtype=self.dtype, name="0")(x, train)
    x = nn.relu(x)
    preacts = []
    for unit, (width, stride) in enumerate(MOBILENETV1_UNITS, start=1):
      x, preact = DepthwiseSeparable(width, stride, dtype=self.dtype, name=str(unit))(x, train)
      if unit in (3, 5, 11, 13):
        preacts.append(preact)
    return x, preacts


class MobileNetV1(nn.Module):
  """ImageNet MobileNetV1 (224x224 input, 7x7 average pool, ``fc``).

  Attributes:
    num_classes: logits.
    dtype: computation dtype (parameters and BN statistics stay float32).
  """

  num_classes: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    x, preacts = _MobileNetV1Body(dtype=self.dtype, name="model")(x.astype(self.dtype), train)
    pooled = layers.global_avg_pool(x)
    layers.sow_features(self, [nn.relu(p) for p in preacts], preacts, pooled)
    logits = layers.linear(pooled, self.num_classes, dtype=self.dtype, name="fc")
    return logits.astype(jnp.float32)
