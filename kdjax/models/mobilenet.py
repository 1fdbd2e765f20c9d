"""MobileNetV2 for CIFAR (width 0.5, "MobileNetV2" in the KD tables) and MobileNetV1 for ImageNet.

MobileNetV2: Sandler, Howard, Zhu, Zhmoginov, Chen, "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", CVPR 2018, in the CIFAR layout of RepDistiller's ``models/mobilenetv2.py`` and
mdistiller's ``mdistiller/models/cifar/mobilenetv2.py`` (``mobile_half``). Keys: ``conv1.{0,1}``,
``blocks.G.J.conv.{0,1,3,4,6,7}``, ``conv2.{0,1}``, ``classifier.0``; convs
normal(0, sqrt(2 / (k*k*out))), classifier normal(0, 0.01), zero bias.

MobileNetV1: Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile
Vision Applications", arXiv:1704.04861, 2017, in the layout of mdistiller's
``mdistiller/models/imagenet/mobilenetv1.py``. Keys: ``model.0.{0,1}``, ``model.U.{0,1,3,4}``
(U = 1..13), ``fc``; PyTorch default initialisation throughout.

Features, as mdistiller reports them:

* MobileNetV2: ``feats`` = [the activated stem ``conv1``, the outputs of block groups 1, 2, 4
  and 6] (groups are 0-based; block outputs are linear bottlenecks, never followed by a ReLU);
  NO ``preact_feats`` (the reference model defines none, so kdjax sows none and
  ``Features.preact_feats`` is empty); ``pooled_feat`` = the mean of ``relu(conv2(..))``.
  ``bn_before_relu`` is the projection BN ``conv.7`` of the last block of groups 1, 2, 4, 6
  (the reference's ``get_bn_before_relu``; no ReLU follows them, and in residual blocks the
  feature is that BN's output plus the block input); it matches ``feats[1:]``.
* MobileNetV1: no stem entry; ``feats`` = the ReLU outputs of units 3, 5, 11 and 13;
  ``preact_feats`` = the same units before their last ReLU (the output of their last BN
  ``model.U.4``, which is ``bn_before_relu``); ``pooled_feat`` = the global mean of unit 13's
  output (the reference's ``AvgPool2d(7)`` at 224 x 224).
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
# The units (1-based, as the ``model`` Sequential's indices) whose outputs are the features.
MOBILENETV1_FEATURE_UNITS = (3, 5, 11, 13)


class _InvertedResidualConv(nn.Module):
  """The ``conv`` Sequential: 1x1 expand-BN-ReLU, 3x3 depthwise(stride)-BN-ReLU, 1x1 project-BN."""

  hidden: int
  out_planes: int
  stride: int
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    conv = functools.partial(layers.conv, kernel_init=layers.fan_out_normal_init,
                             dtype=self.dtype, conv_batch_chunks=self.conv_batch_chunks)
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
  conv_batch_chunks: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    in_planes = x.shape[-1]
    out = _InvertedResidualConv(in_planes * self.expand_ratio, self.out_planes, self.stride,
                                dtype=self.dtype, conv_batch_chunks=self.conv_batch_chunks,
                                name="conv")(x, train)
    if self.stride == 1 and in_planes == self.out_planes:
      out = x + out
    return out, out


class _InvertedResidualGroups(nn.Module):
  """The ``blocks`` ModuleList of groups ``'0'..'6'``; returns every group's output."""

  settings: Sequence[tuple[int, int, int, int]]
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> list[jax.Array]:
    outputs = []
    for index, (t, c, n, s) in enumerate(self.settings):
      blocks = [functools.partial(InvertedResidual, c, s if i == 0 else 1, t, dtype=self.dtype,
                                  conv_batch_chunks=self.conv_batch_chunks)
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

  Sows five ``feats`` (stem, groups 1, 2, 4, 6), no ``preact_feats``, and ``pooled_feat``.

  Attributes:
    num_classes: logits.
    width_mult: channel multiplier of stem and blocks (0.5 for the KD benchmark model).
    expand_ratio: expansion t of groups 2..7.
    dtype: computation dtype (parameters and BN statistics stay float32).
    conv_batch_chunks: batch slices every convolution is computed in
      (``layers.batch_chunked_conv``; same result and parameters).
  """

  num_classes: int
  width_mult: float = 0.5
  expand_ratio: int = 6
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  # The block groups whose outputs are ``feats[1:]`` (0-based, as the reference's ``blocks``).
  FEATURE_GROUPS = (1, 2, 4, 6)

  def bn_before_relu_paths(self) -> tuple[tuple[str, ...], ...]:
    """Paths of the reference's ``get_bn_before_relu``: the last BN (``conv.7``) of the last
    block of groups 1, 2, 4, 6."""
    return tuple(("blocks", str(group), str(MOBILENETV2_SETTINGS[group][2] - 1), "conv", "7")
                 for group in self.FEATURE_GROUPS)

  def classifier_path(self) -> tuple[str, ...]:
    """Path of the final linear layer (the ``classifier`` Sequential's ``0``)."""
    return ("classifier", "0")

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    settings = tuple((t if index == 0 else self.expand_ratio, int(c * self.width_mult), n, s)
                     for index, (t, c, n, s) in enumerate(MOBILENETV2_SETTINGS))
    last_channel = int(1280 * self.width_mult) if self.width_mult > 1.0 else 1280
    conv_bn = functools.partial(layers.ConvBN, kernel_init=layers.fan_out_normal_init,
                                dtype=self.dtype, conv_batch_chunks=self.conv_batch_chunks)
    x = conv_bn(int(32 * self.width_mult), 3, stride=2, padding=1,
                name="conv1")(x.astype(self.dtype), train)
    x = nn.relu(x)
    groups = _InvertedResidualGroups(settings, dtype=self.dtype,
                                     conv_batch_chunks=self.conv_batch_chunks,
                                     name="blocks")(x, train)
    feats = [x] + [groups[group] for group in self.FEATURE_GROUPS]
    x = conv_bn(last_channel, 1, name="conv2")(groups[-1], train)
    head = nn.relu(x)
    pooled = layers.global_avg_pool(head)
    layers.sow_features(self, feats, None, pooled, head_map=head)
    logits = _Classifier(self.num_classes, dtype=self.dtype, name="classifier")(pooled)
    return logits.astype(jnp.float32)


class DepthwiseSeparable(nn.Module):
  """3x3 depthwise(stride)-BN-ReLU, 1x1 pointwise-BN-ReLU. Returns ``(out, preact)``."""

  out_planes: int
  stride: int
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    bn = functools.partial(layers.BatchNorm, dtype=self.dtype)
    conv = functools.partial(layers.conv, dtype=self.dtype,
                             conv_batch_chunks=self.conv_batch_chunks)
    in_planes = x.shape[-1]
    x = conv(in_planes, 3, stride=self.stride, padding=1, groups=in_planes, name="0")(x)
    x = nn.relu(bn(name="1")(x, train))
    preact = bn(name="4")(conv(self.out_planes, 1, name="3")(x), train)
    return nn.relu(preact), preact


class _MobileNetV1Body(nn.Module):
  """The ``model`` Sequential; returns the output and the preacts of units 3, 5, 11, 13."""

  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, list[jax.Array]]:
    x = layers.ConvBN(32, 3, stride=2, padding=1, dtype=self.dtype,
                      conv_batch_chunks=self.conv_batch_chunks, name="0")(x, train)
    x = nn.relu(x)
    preacts = []
    for unit, (width, stride) in enumerate(MOBILENETV1_UNITS, start=1):
      x, preact = DepthwiseSeparable(width, stride, dtype=self.dtype,
                                     conv_batch_chunks=self.conv_batch_chunks,
                                     name=str(unit))(x, train)
      if unit in MOBILENETV1_FEATURE_UNITS:
        preacts.append(preact)
    return x, preacts


class MobileNetV1(nn.Module):
  """ImageNet MobileNetV1 (224x224 input, 7x7 average pool, ``fc``).

  Sows four ``feats`` / ``preact_feats`` (units 3, 5, 11, 13; no stem) and ``pooled_feat``.

  Attributes:
    num_classes: logits.
    dtype: computation dtype (parameters and BN statistics stay float32).
    conv_batch_chunks: batch slices every convolution is computed in
      (``layers.batch_chunked_conv``; same result and parameters).
  """

  num_classes: int
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  def bn_before_relu_paths(self) -> tuple[tuple[str, ...], ...]:
    """Paths of the reference's ``get_bn_before_relu``: the pointwise BN of units 3, 5, 11, 13."""
    return tuple(("model", str(unit), "4") for unit in MOBILENETV1_FEATURE_UNITS)

  def classifier_path(self) -> tuple[str, ...]:
    """Path of the final linear layer."""
    return ("fc",)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    x, preacts = _MobileNetV1Body(dtype=self.dtype, conv_batch_chunks=self.conv_batch_chunks,
                                  name="model")(x.astype(self.dtype), train)
    pooled = layers.global_avg_pool(x)
    layers.sow_features(self, [nn.relu(p) for p in preacts], preacts, pooled, head_map=x)
    logits = layers.linear(pooled, self.num_classes, dtype=self.dtype, name="fc")
    return logits.astype(jnp.float32)
