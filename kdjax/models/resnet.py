"""ResNets: CIFAR resnet8..110 and x4, CIFAR "resnetv2" ResNet18/50, ImageNet (torchvision).

All three share the post-activation basic/bottleneck blocks (stride on the 3x3 conv) and
differ only in stem, widths, and the names PyTorch gave the shortcut (``downsample`` /
``shortcut``) and classifier (``fc`` / ``linear``). Convs use kaiming-normal fan-out, BN
scale 1 / bias 0, the classifier PyTorch's default init, as in the reference code.
"""

from __future__ import annotations

import functools
from typing import ClassVar, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from kdjax.models import layers

Dtype = layers.Dtype


def _conv(features: int, kernel_size: int, dtype: Dtype, **kwargs) -> nn.Conv:
  return layers.conv(features, kernel_size, kernel_init=layers.fan_out_normal_init, dtype=dtype,
                     **kwargs)


def _shortcut(x: jax.Array, features: int, stride: int, name: str, dtype: Dtype,
              train: bool) -> jax.Array:
  """Identity, or a 1x1-conv + BN projection when the stride or the width changes."""
  if stride == 1 and x.shape[-1] == features:
    return x
  projection = layers.ConvBN(features, 1, stride=stride, kernel_init=layers.fan_out_normal_init,
                             dtype=dtype, name=name)
  return projection(x, train)


class BasicBlock(nn.Module):
  """conv3x3(stride)-BN-ReLU-conv3x3-BN, + shortcut, ReLU. Returns ``(out, preact)``."""

  planes: int
  stride: int = 1
  shortcut_name: str = "downsample"
  dtype: Dtype = jnp.float32
  expansion: ClassVar[int] = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    bn = functools.partial(layers.BatchNorm, dtype=self.dtype)
    out = _conv(self.planes, 3, self.dtype, stride=self.stride, padding=1, name="conv1")(x)
    out = nn.relu(bn(name="bn1")(out, train))
    out = _conv(self.planes, 3, self.dtype, padding=1, name="conv2")(out)
    out = bn(name="bn2")(out, train)
    preact = out + _shortcut(x, self.planes, self.stride, self.shortcut_name, self.dtype, train)
    return nn.relu(preact), preact


class Bottleneck(nn.Module):
  """1x1-BN-ReLU, 3x3(stride)-BN-ReLU, 1x1(4x)-BN, + shortcut, ReLU. Returns ``(out, preact)``."""

  planes: int
  stride: int = 1
  shortcut_name: str = "downsample"
  dtype: Dtype = jnp.float32
  expansion: ClassVar[int] = 4

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    bn = functools.partial(layers.BatchNorm, dtype=self.dtype)
    width = self.planes * self.expansion
    out = _conv(self.planes, 1, self.dtype, name="conv1")(x)
    out = nn.relu(bn(name="bn1")(out, train))
    out = _conv(self.planes, 3, self.dtype, stride=self.stride, padding=1, name="conv2")(out)
    out = nn.relu(bn(name="bn2")(out, train))
    out = _conv(width, 1, self.dtype, name="conv3")(out)
    out = bn(name="bn3")(out, train)
    preact = out + _shortcut(x, width, self.stride, self.shortcut_name, self.dtype, train)
    return nn.relu(preact), preact


class ResNet(nn.Module):
  """A post-activation ResNet; see the module docstring and ``kdjax.models.create``.

  Attributes:
    block_cls: ``BasicBlock`` or ``Bottleneck``.
    stage_sizes: blocks per stage (stages are ``layer1``, ``layer2``, ...).
    stage_planes: planes per stage (output width is ``planes * block_cls.expansion``).
    stage_strides: stride of each stage's first block.
    stem_width: output channels of ``conv1``.
    num_classes: logits.
    imagenet_stem: 7x7/2 ``conv1`` + 3x3/2 max-pool (torchvision) instead of a 3x3/1 ``conv1``.
    shortcut_name: ``'downsample'`` (CIFAR ResNet, torchvision) or ``'shortcut'`` (resnetv2).
    head_name: ``'fc'`` or ``'linear'`` (resnetv2).
    dtype: computation dtype (parameters and BN statistics stay float32).
  """

  block_cls: type
  stage_sizes: Sequence[int]
  stage_planes: Sequence[int]
  stage_strides: Sequence[int]
  stem_width: int
  num_classes: int
  imagenet_stem: bool = False
  shortcut_name: str = "downsample"
  head_name: str = "fc"
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    x = x.astype(self.dtype)
    if self.imagenet_stem:
      x = _conv(self.stem_width, 7, self.dtype, stride=2, padding=3, name="conv1")(x)
    else:
      x = _conv(self.stem_width, 3, self.dtype, padding=1, name="conv1")(x)
    stem_preact = layers.BatchNorm(dtype=self.dtype, name="bn1")(x, train)
    x = nn.relu(stem_preact)
    # The reference CIFAR models report the activated stem as its "preact" feature.
    feats, preacts = [x], [stem_preact if self.imagenet_stem else x]
    if self.imagenet_stem:
      x = layers.max_pool(x, 3, 2, padding=1)
    for index, (size, planes, stride) in enumerate(
        zip(self.stage_sizes, self.stage_planes, self.stage_strides)):
      blocks = [
          functools.partial(self.block_cls, planes, stride if i == 0 else 1,
                            shortcut_name=self.shortcut_name, dtype=self.dtype)
          for i in range(size)
      ]
      x, preact = layers.Stack(blocks, name=f"layer{index + 1}")(x, train)
      feats.append(x)
      preacts.append(preact)
    pooled = layers.global_avg_pool(x)
    layers.sow_features(self, feats, preacts, pooled)
    logits = layers.linear(pooled, self.num_classes, dtype=self.dtype, name=self.head_name)
    return logits.astype(jnp.float32)


def cifar_resnet(depth: int, widths: Sequence[int], num_classes: int,
                 dtype: Dtype = jnp.float32) -> ResNet:
  """RepDistiller's CIFAR ResNet-``depth`` (6n+2); ``widths = [stem, stage1, stage2, stage3]``."""
  if (depth - 2) % 6:
    raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
  n = (depth - 2) // 6
  return ResNet(BasicBlock, (n, n, n), tuple(widths[1:]), (1, 2, 2), widths[0], num_classes,
                dtype=dtype)


def cifar_resnetv2(block_cls: type, stage_sizes: Sequence[int], num_classes: int,
                   dtype: Dtype = jnp.float32) -> ResNet:
  """The CIFAR "resnetv2" ResNet18/50: 3x3 stem of 64, ``shortcut.*`` keys, ``linear`` head."""
  return ResNet(block_cls, tuple(stage_sizes), (64, 128, 256, 512), (1, 2, 2, 2), 64,
                num_classes, shortcut_name="shortcut", head_name="linear", dtype=dtype)


def imagenet_resnet(block_cls: type, stage_sizes: Sequence[int], num_classes: int,
                    dtype: Dtype = jnp.float32) -> ResNet:
  """A torchvision-layout ImageNet ResNet (7x7/2 stem, 3x3/2 max-pool, ``downsample``, ``fc``)."""
  return ResNet(block_cls, tuple(stage_sizes), (64, 128, 256, 512), (1, 2, 2, 2), 64,
                num_classes, imagenet_stem=True, dtype=dtype)
