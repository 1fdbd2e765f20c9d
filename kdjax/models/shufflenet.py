"""ShuffleNetV1 (groups 3) and ShuffleNetV2 (net size 1) for CIFAR, as in RepDistiller.

ShuffleNetV1: Zhang, Zhou, Lin, Sun, "ShuffleNet: An Extremely Efficient Convolutional Neural
Network for Mobile Devices", CVPR 2018. ShuffleNetV2: Ma, Zhang, Zheng, Sun, "ShuffleNet V2:
Practical Guidelines for Efficient CNN Architecture Design", ECCV 2018. Both in the CIFAR layout
of RepDistiller's ``models/ShuffleNetv1.py`` / ``models/ShuffleNetv2.py`` and mdistiller's
``mdistiller/models/cifar/ShuffleNetv1.py`` / ``ShuffleNetv2.py``: a 1x1 stem 3 -> 24
(``conv1``, ``bn1``) with no stride or pooling, stages ``layer1..3`` and a ``linear`` head, and
PyTorch's default initialisation throughout.

Features, as mdistiller reports them: ``feats`` = [the activated stem ``relu(bn1(conv1(x)))``,
``layer1``, ``layer2``, ``layer3``]; ``preact_feats`` = [the same ACTIVATED stem, then each
stage's last block before its final ReLU]; ``pooled_feat`` = the mean of ``layer3``
(ShuffleNetV1) or of ``relu(bn2(conv2(layer3)))`` (ShuffleNetV2), the reference's
``avg_pool2d(4)`` at 32 x 32. Particulars:

* ShuffleNetV1's last block of a stage is a stride-1 block, so its preact is
  ``bn3(..) + input`` (a stride-2 block would concatenate ``[bn3(..), avg_pool(input)]``).
* ShuffleNetV2's blocks end with a channel shuffle, not a ReLU; the reference's "preact" of a
  stage is ``concat([x1, bn3(..)])`` BEFORE the shuffle, while the feature is
  ``shuffle(concat([x1, relu(bn3(..))]))``, i.e. ``feats[i] == channel_shuffle(relu(
  preact_feats[i]), 2)`` (``x1``, the passed-through half of the input, is already
  non-negative): the two are in different channel orders. kdjax sows exactly these.
* Neither reference model defines ``get_bn_before_relu`` (both raise ``NotImplementedError``:
  "not supported for Overhaul teacher"), so ``kdjax.models.bn_before_relu`` raises for them. The
  ShuffleNetV1 reference has no ``get_stage_channels`` either; ``kdjax.models.stage_channels``
  gives the channels of its ``feats``, (24, 240, 480, 960). ShuffleNetV2's is
  ``[24, 116, 232, 464]``.
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from kdjax.models import layers

Dtype = layers.Dtype


class ShuffleV1Block(nn.Module):
  """ShuffleNetV1 bottleneck. Returns ``(out, preact)``.

  1x1 grouped conv (g = 1 on the 24-channel stem output, else ``groups``)-BN-ReLU, channel
  shuffle, 3x3 depthwise(stride)-BN-ReLU, 1x1 grouped conv-BN; stride 2 concatenates a
  3x3/2 average pool of the input (``[out, pool]``), stride 1 adds the input; then ReLU.
  """

  out_planes: int
  stride: int
  groups: int = 3
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    conv = functools.partial(layers.conv, dtype=self.dtype,
                             conv_batch_chunks=self.conv_batch_chunks)
    bn = functools.partial(layers.BatchNorm, dtype=self.dtype)
    mid = self.out_planes // 4
    first_groups = 1 if x.shape[-1] == 24 else self.groups
    out = conv(mid, 1, groups=first_groups, name="conv1")(x)
    out = nn.relu(bn(name="bn1")(out, train))
    out = layers.channel_shuffle(out, first_groups)
    out = conv(mid, 3, stride=self.stride, padding=1, groups=mid, name="conv2")(out)
    out = nn.relu(bn(name="bn2")(out, train))
    out = bn(name="bn3")(conv(self.out_planes, 1, groups=self.groups, name="conv3")(out), train)
    if self.stride == 2:
      preact = jnp.concatenate([out, layers.avg_pool(x, 3, 2, padding=1)], axis=-1)
    else:
      preact = out + x
    return nn.relu(preact), preact


class ShuffleNetV1(nn.Module):
  """ShuffleNetV1 (``ShuffleV1``: out planes 240/480/960, blocks 4/8/4, groups 3).

  Sows four ``feats`` / ``preact_feats`` (stem, three stages) and ``pooled_feat``.

  Attributes:
    num_classes: logits.
    out_planes: output channels of the three stages.
    num_blocks: blocks per stage (the first has stride 2 and concatenates its shortcut).
    groups: group count of the 1x1 convs.
    dtype: computation dtype (parameters and BN statistics stay float32).
    conv_batch_chunks: batch slices every convolution is computed in
      (``layers.batch_chunked_conv``; same result and parameters).
  """

  num_classes: int
  out_planes: Sequence[int] = (240, 480, 960)
  num_blocks: Sequence[int] = (4, 8, 4)
  groups: int = 3
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  def bn_before_relu_paths(self) -> tuple[tuple[str, ...], ...]:
    """Not defined by the reference model (its ``get_bn_before_relu`` raises)."""
    raise NotImplementedError(
        "ShuffleV1 has no bn_before_relu: the reference model (mdistiller "
        "mdistiller/models/cifar/ShuffleNetv1.py) does not define get_bn_before_relu")

  def classifier_path(self) -> tuple[str, ...]:
    """Path of the final linear layer."""
    return ("linear",)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    x = layers.conv(24, 1, dtype=self.dtype, conv_batch_chunks=self.conv_batch_chunks,
                    name="conv1")(x.astype(self.dtype))
    x = nn.relu(layers.BatchNorm(dtype=self.dtype, name="bn1")(x, train))
    feats, preacts = [x], [x]
    in_planes = 24
    for index, (planes, size) in enumerate(zip(self.out_planes, self.num_blocks)):
      blocks = [
          functools.partial(ShuffleV1Block, planes - (in_planes if i == 0 else 0),
                            2 if i == 0 else 1, self.groups, dtype=self.dtype,
                            conv_batch_chunks=self.conv_batch_chunks)
          for i in range(size)
      ]
      x, preact = layers.Stack(blocks, name=f"layer{index + 1}")(x, train)
      in_planes = planes
      feats.append(x)
      preacts.append(preact)
    pooled = layers.global_avg_pool(x)
    layers.sow_features(self, feats, preacts, pooled, head_map=x)
    logits = layers.linear(pooled, self.num_classes, dtype=self.dtype, name="linear")
    return logits.astype(jnp.float32)


class ShuffleV2DownBlock(nn.Module):
  """Stride-2 unit: left dw3x3/2-BN, 1x1-BN-ReLU; right 1x1-BN-ReLU, dw3x3/2-BN, 1x1-BN-ReLU;
  concatenate ``[left, right]`` and shuffle (2). Returns ``(out, out)``."""

  out_planes: int
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    conv = functools.partial(layers.conv, dtype=self.dtype,
                             conv_batch_chunks=self.conv_batch_chunks)
    bn = functools.partial(layers.BatchNorm, dtype=self.dtype)
    in_planes, mid = x.shape[-1], self.out_planes // 2
    left = conv(in_planes, 3, stride=2, padding=1, groups=in_planes, name="conv1")(x)
    left = bn(name="bn1")(left, train)
    left = nn.relu(bn(name="bn2")(conv(mid, 1, name="conv2")(left), train))
    right = nn.relu(bn(name="bn3")(conv(mid, 1, name="conv3")(x), train))
    right = conv(mid, 3, stride=2, padding=1, groups=mid, name="conv4")(right)
    right = bn(name="bn4")(right, train)
    right = nn.relu(bn(name="bn5")(conv(mid, 1, name="conv5")(right), train))
    out = layers.channel_shuffle(jnp.concatenate([left, right], axis=-1), 2)
    return out, out


class ShuffleV2BasicBlock(nn.Module):
  """Split channels in halves ``[x1, x2]``; x2 -> 1x1-BN-ReLU, dw3x3-BN, 1x1-BN-ReLU; concatenate
  ``[x1, x2']`` and shuffle (2). Returns ``(out, preact)`` (preact unshuffled, as the reference)."""

  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    conv = functools.partial(layers.conv, dtype=self.dtype,
                             conv_batch_chunks=self.conv_batch_chunks)
    bn = functools.partial(layers.BatchNorm, dtype=self.dtype)
    half = int(x.shape[-1] * 0.5)
    x1, x2 = x[..., :half], x[..., half:]
    out = nn.relu(bn(name="bn1")(conv(half, 1, name="conv1")(x2), train))
    out = conv(half, 3, padding=1, groups=half, name="conv2")(out)
    out = bn(name="bn2")(out, train)
    branch_preact = bn(name="bn3")(conv(half, 1, name="conv3")(out), train)
    preact = jnp.concatenate([x1, branch_preact], axis=-1)
    out = jnp.concatenate([x1, nn.relu(branch_preact)], axis=-1)
    return layers.channel_shuffle(out, 2), preact


class ShuffleNetV2(nn.Module):
  """ShuffleNetV2 (``ShuffleV2``: net size 1, channels 116/232/464, head 1024, blocks 3/7/3).

  Sows four ``feats`` / ``preact_feats`` (stem, three stages; the stage preacts unshuffled, see
  the module docstring) and ``pooled_feat``.

  Attributes:
    num_classes: logits.
    out_channels: output channels of the three stages and of the 1x1 head conv ``conv2``.
    num_blocks: basic blocks per stage (after the stride-2 down block ``'0'``).
    dtype: computation dtype (parameters and BN statistics stay float32).
    conv_batch_chunks: batch slices every convolution is computed in
      (``layers.batch_chunked_conv``; same result and parameters).
  """

  num_classes: int
  out_channels: Sequence[int] = (116, 232, 464, 1024)
  num_blocks: Sequence[int] = (3, 7, 3)
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  def bn_before_relu_paths(self) -> tuple[tuple[str, ...], ...]:
    """Not defined by the reference model (its ``get_bn_before_relu`` raises)."""
    raise NotImplementedError(
        "ShuffleV2 has no bn_before_relu: the reference model (mdistiller "
        "mdistiller/models/cifar/ShuffleNetv2.py) does not define get_bn_before_relu")

  def classifier_path(self) -> tuple[str, ...]:
    """Path of the final linear layer."""
    return ("linear",)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    bn = functools.partial(layers.BatchNorm, dtype=self.dtype)
    conv = functools.partial(layers.conv, dtype=self.dtype,
                             conv_batch_chunks=self.conv_batch_chunks)
    x = conv(24, 1, name="conv1")(x.astype(self.dtype))
    x = nn.relu(bn(name="bn1")(x, train))
    feats, preacts = [x], [x]
    for index, (channels, size) in enumerate(zip(self.out_channels, self.num_blocks)):
      blocks = [functools.partial(ShuffleV2DownBlock, channels, dtype=self.dtype,
                                  conv_batch_chunks=self.conv_batch_chunks)]
      blocks += [functools.partial(ShuffleV2BasicBlock, dtype=self.dtype,
                                   conv_batch_chunks=self.conv_batch_chunks)] * size
      x, preact = layers.Stack(blocks, name=f"layer{index + 1}")(x, train)
      feats.append(x)
      preacts.append(preact)
    x = conv(self.out_channels[-1], 1, name="conv2")(x)
    head = nn.relu(bn(name="bn2")(x, train))
    pooled = layers.global_avg_pool(head)
    layers.sow_features(self, feats, preacts, pooled, head_map=head)
    logits = layers.linear(pooled, self.num_classes, dtype=self.dtype, name="linear")
    return logits.astype(jnp.float32)
