"""ResNets: CIFAR resnet8..110 and x4, CIFAR "resnetv2" ResNet18/50, ImageNet (torchvision).

He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016. All three share
the post-activation basic/bottleneck blocks (stride on the 3x3 conv) and differ only in stem,
widths, and the names PyTorch gave the shortcut (``downsample`` / ``shortcut``) and classifier
(``fc`` / ``linear``). Convs use kaiming-normal fan-out, BN scale 1 / bias 0, the classifier
PyTorch's default init, as in the reference code.

Features (``'intermediates'``, see ``kdjax.models.features``) follow the reference models of
mdistiller (github.com/megvii-research/mdistiller):

* CIFAR ResNets (``mdistiller/models/cifar/resnet.py``, from RepDistiller's ``models/resnet.py``):
  ``feats`` = [stem ``relu(bn1(conv1(x)))``, ``layer1``, ``layer2``, ``layer3``];
  ``preact_feats`` = [the same ACTIVATED stem (the reference has no pre-ReLU stem feature),
  then each stage's last block before its final ReLU (``bn2`` output + shortcut)];
  ``pooled_feat`` = the mean of ``layer3`` over H, W. ``bn_before_relu``: ``layerS.<last>.bn2``
  of stages 1..3, matching ``preact_feats[1:]``.
* resnetv2 ResNet18/50 (``mdistiller/models/cifar/resnetv2.py``): the same with four stages
  (five entries each); ``bn_before_relu`` is ``bn2`` (BasicBlock) or ``bn3`` (Bottleneck) of
  the last block of stages 1..4. The reference's ``get_stage_channels`` returns
  ``[256, 512, 1024, 2048]`` for both models (no stem entry, bottleneck widths even for
  ResNet18); ``kdjax.models.stage_channels`` gives the true channels of all five ``feats``.
* ImageNet resnet18/34/50 (``mdistiller/models/imagenet/resnet.py``): the reference moves each
  block's final ReLU to the start of the next block (the same function as torchvision) and
  reports ``feats`` = ReLU of [stem ``bn1(conv1(x))`` (before the max-pool), ``layer1..4``] and
  ``preact_feats`` = [stem, ``layer1..4`` before the ReLU]. Its stem "preact" is, however, the
  ACTIVATED stem: it keeps the BN output and then applies ``nn.ReLU(inplace=True)`` to that very
  tensor. kdjax follows the reference (it used to sow the true pre-ReLU stem). ``pooled_feat`` is
  the global mean of ``relu(layer4)`` (the reference's ``AvgPool2d(7)`` at 224 x 224).
  ``bn_before_relu`` covers stages 2..4 only (the reference comments ``layer1`` out), matching
  ``preact_feats[2:]``; the reference's ``get_stage_channels`` is ``[256, 512, 1024, 2048]``
  for every depth.
"""

from __future__ import annotations

import functools
from typing import ClassVar, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from kdjax.models import layers

Dtype = layers.Dtype


def _conv(features: int, kernel_size: int, dtype: Dtype, chunks: int, **kwargs) -> nn.Conv:
  return layers.conv(features, kernel_size, kernel_init=layers.fan_out_normal_init, dtype=dtype,
                     conv_batch_chunks=chunks, **kwargs)


def _shortcut(x: jax.Array, features: int, stride: int, name: str, dtype: Dtype, chunks: int,
              train: bool) -> jax.Array:
  """Identity, or a 1x1-conv + BN projection when the stride or the width changes."""
  if stride == 1 and x.shape[-1] == features:
    return x
  projection = layers.ConvBN(features, 1, stride=stride, kernel_init=layers.fan_out_normal_init,
                             dtype=dtype, conv_batch_chunks=chunks, name=name)
  return projection(x, train)


class BasicBlock(nn.Module):
  """conv3x3(stride)-BN-ReLU-conv3x3-BN, + shortcut, ReLU. Returns ``(out, preact)``."""

  planes: int
  stride: int = 1
  shortcut_name: str = "downsample"
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1
  expansion: ClassVar[int] = 1
  last_bn: ClassVar[str] = "bn2"  # the BN whose output (+ shortcut) precedes the final ReLU

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    bn = functools.partial(layers.BatchNorm, dtype=self.dtype)
    conv = functools.partial(_conv, dtype=self.dtype, chunks=self.conv_batch_chunks)
    out = conv(self.planes, 3, stride=self.stride, padding=1, name="conv1")(x)
    out = nn.relu(bn(name="bn1")(out, train))
    out = conv(self.planes, 3, padding=1, name="conv2")(out)
    out = bn(name="bn2")(out, train)
    preact = out + _shortcut(x, self.planes, self.stride, self.shortcut_name, self.dtype,
                             self.conv_batch_chunks, train)
    return nn.relu(preact), preact


class Bottleneck(nn.Module):
  """1x1-BN-ReLU, 3x3(stride)-BN-ReLU, 1x1(4x)-BN, + shortcut, ReLU. Returns ``(out, preact)``."""

  planes: int
  stride: int = 1
  shortcut_name: str = "downsample"
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1
  expansion: ClassVar[int] = 4
  last_bn: ClassVar[str] = "bn3"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    bn = functools.partial(layers.BatchNorm, dtype=self.dtype)
    conv = functools.partial(_conv, dtype=self.dtype, chunks=self.conv_batch_chunks)
    width = self.planes * self.expansion
    out = conv(self.planes, 1, name="conv1")(x)
    out = nn.relu(bn(name="bn1")(out, train))
    out = conv(self.planes, 3, stride=self.stride, padding=1, name="conv2")(out)
    out = nn.relu(bn(name="bn2")(out, train))
    out = conv(width, 1, name="conv3")(out)
    out = bn(name="bn3")(out, train)
    preact = out + _shortcut(x, width, self.stride, self.shortcut_name, self.dtype,
                             self.conv_batch_chunks, train)
    return nn.relu(preact), preact


class ResNet(nn.Module):
  """A post-activation ResNet; see the module docstring and ``kdjax.models.create``.

  Sows ``feats`` (stem, then every stage), ``preact_feats`` (the stem ACTIVATED, as in every
  reference ResNet, then every stage before its final ReLU) and ``pooled_feat``.

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
    conv_batch_chunks: batch slices every convolution is computed in
      (``layers.batch_chunked_conv``; same result and parameters).
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
  conv_batch_chunks: int = 1

  def bn_before_relu_paths(self) -> tuple[tuple[str, ...], ...]:
    """Paths of the reference's ``get_bn_before_relu`` BNs: each stage's last block's last BN
    (stages 2.. only for the ImageNet models, whose reference leaves ``layer1`` out)."""
    first = 1 if self.imagenet_stem else 0
    return tuple((f"layer{index + 1}", str(size - 1), self.block_cls.last_bn)
                 for index, size in enumerate(self.stage_sizes) if index >= first)

  def classifier_path(self) -> tuple[str, ...]:
    """Path of the final linear layer (``fc`` or ``linear``)."""
    return (self.head_name,)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    chunks = self.conv_batch_chunks
    x = x.astype(self.dtype)
    if self.imagenet_stem:
      x = _conv(self.stem_width, 7, self.dtype, chunks, stride=2, padding=3, name="conv1")(x)
    else:
      x = _conv(self.stem_width, 3, self.dtype, chunks, padding=1, name="conv1")(x)
    x = nn.relu(layers.BatchNorm(dtype=self.dtype, name="bn1")(x, train))
    # Every reference ResNet reports the activated stem as its stem "preact" (the ImageNet one
    # through an in-place ReLU on the tensor it kept), and the stem before any max-pool.
    feats, preacts = [x], [x]
    if self.imagenet_stem:
      x = layers.max_pool(x, 3, 2, padding=1)
    for index, (size, planes, stride) in enumerate(
        zip(self.stage_sizes, self.stage_planes, self.stage_strides)):
      blocks = [
          functools.partial(self.block_cls, planes, stride if i == 0 else 1,
                            shortcut_name=self.shortcut_name, dtype=self.dtype,
                            conv_batch_chunks=chunks)
          for i in range(size)
      ]
      x, preact = layers.Stack(blocks, name=f"layer{index + 1}")(x, train)
      feats.append(x)
      preacts.append(preact)
    pooled = layers.global_avg_pool(x)
    layers.sow_features(self, feats, preacts, pooled, head_map=x)
    logits = layers.linear(pooled, self.num_classes, dtype=self.dtype, name=self.head_name)
    return logits.astype(jnp.float32)


def cifar_resnet(depth: int, widths: Sequence[int], num_classes: int,
                 dtype: Dtype = jnp.float32, conv_batch_chunks: int = 1) -> ResNet:
  """RepDistiller's CIFAR ResNet-``depth`` (6n+2); ``widths = [stem, stage1, stage2, stage3]``."""
  if (depth - 2) % 6:
    raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
  n = (depth - 2) // 6
  return ResNet(BasicBlock, (n, n, n), tuple(widths[1:]), (1, 2, 2), widths[0], num_classes,
                dtype=dtype, conv_batch_chunks=conv_batch_chunks)


def cifar_resnetv2(block_cls: type, stage_sizes: Sequence[int], num_classes: int,
                   dtype: Dtype = jnp.float32, conv_batch_chunks: int = 1) -> ResNet:
  """The CIFAR "resnetv2" ResNet18/50: 3x3 stem of 64, ``shortcut.*`` keys, ``linear`` head."""
  return ResNet(block_cls, tuple(stage_sizes), (64, 128, 256, 512), (1, 2, 2, 2), 64,
                num_classes, shortcut_name="shortcut", head_name="linear", dtype=dtype,
                conv_batch_chunks=conv_batch_chunks)


def imagenet_resnet(block_cls: type, stage_sizes: Sequence[int], num_classes: int,
                    dtype: Dtype = jnp.float32, conv_batch_chunks: int = 1) -> ResNet:
  """A torchvision-layout ImageNet ResNet (7x7/2 stem, 3x3/2 max-pool, ``downsample``, ``fc``)."""
  return ResNet(block_cls, tuple(stage_sizes), (64, 128, 256, 512), (1, 2, 2, 2), 64,
                num_classes, imagenet_stem=True, dtype=dtype, conv_batch_chunks=conv_batch_chunks)
