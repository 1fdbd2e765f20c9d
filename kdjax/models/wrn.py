"""Pre-activation Wide ResNets (wrn_16_1, wrn_16_2, wrn_40_1, wrn_40_2, wrn_28_2, ...).

Zagoruyko, Komodakis, "Wide Residual Networks", BMVC 2016. Keys mirror the reference
``WideResNet`` (RepDistiller ``models/wrn.py``, mdistiller ``mdistiller/models/cifar/wrn.py``):
``conv1``, groups ``block1..3`` whose blocks sit under ``blockG.layer.J`` (``bn1``, ``conv1``,
``bn2``, ``conv2``, ``convShortcut``), then ``bn1`` and ``fc``. Convs are initialised
normal(0, sqrt(2 / (k*k*out))), the fc bias zero.

Features, as mdistiller's ``mdistiller/models/cifar/wrn.py`` reports them: ``feats`` = [the raw
``conv1`` output (no BN, no ReLU), ``block1``, ``block2``, ``block3``] (pre-activation network:
group outputs are sums, not activated); ``preact_feats`` = [the same ``conv1`` output, then the
BN that the next ReLU reads: ``block2.layer.0.bn1(block1)``, ``block3.layer.0.bn1(block2)``,
``bn1(block3)``]; ``pooled_feat`` = the mean of ``relu(bn1(block3))``. ``bn_before_relu`` is
those three BNs (matching ``preact_feats[1:]``). The reference computes the three
pre-activation features by calling those BNs a second time after the forward pass, which in
train mode updates their running statistics twice per step; kdjax computes each once (the
feature values are the same; the running statistics are updated once, as by the logit-only
RepDistiller forward).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from kdjax.models import layers

Dtype = layers.Dtype


def _conv(features: int, kernel_size: int, dtype: Dtype, chunks: int, **kwargs) -> nn.Conv:
  return layers.conv(features, kernel_size, kernel_init=layers.fan_out_normal_init, dtype=dtype,
                     conv_batch_chunks=chunks, **kwargs)


class WideBasicBlock(nn.Module):
  """BN-ReLU-conv3x3(stride)-BN-ReLU-conv3x3, + shortcut (no final ReLU).

  When the width changes, both ``conv1`` and the 1x1 ``convShortcut`` read the activated input;
  otherwise the shortcut is the raw input. Returns ``(out, bn1(x))``; the latter is the
  pre-activation feature the reference model reports for the previous group.
  """

  out_planes: int
  stride: int = 1
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    bn = functools.partial(layers.BatchNorm, dtype=self.dtype)
    preact = bn(name="bn1")(x, train)
    activated = nn.relu(preact)
    conv = functools.partial(_conv, dtype=self.dtype, chunks=self.conv_batch_chunks)
    out = conv(self.out_planes, 3, stride=self.stride, padding=1, name="conv1")(activated)
    out = nn.relu(bn(name="bn2")(out, train))
    out = conv(self.out_planes, 3, padding=1, name="conv2")(out)
    if x.shape[-1] == self.out_planes:
      shortcut = x
    else:
      shortcut = conv(self.out_planes, 1, stride=self.stride, name="convShortcut")(activated)
    return out + shortcut, preact


class _WideLayer(nn.Module):
  """The ``layer`` Sequential of a group: blocks ``'0'..'n-1'``; returns (out, first bn1 output)."""

  num_blocks: int
  out_planes: int
  stride: int
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    first_preact = x
    for i in range(self.num_blocks):
      block = WideBasicBlock(self.out_planes, self.stride if i == 0 else 1, dtype=self.dtype,
                             conv_batch_chunks=self.conv_batch_chunks, name=str(i))
      x, preact = block(x, train)
      if i == 0:
        first_preact = preact
    return x, first_preact


class WideGroup(nn.Module):
  """A ``NetworkBlock``: holds the Sequential ``layer``."""

  num_blocks: int
  out_planes: int
  stride: int
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    return _WideLayer(self.num_blocks, self.out_planes, self.stride, dtype=self.dtype,
                      conv_batch_chunks=self.conv_batch_chunks, name="layer")(x, train)


class WideResNet(nn.Module):
  """WRN-depth-widen_factor for 32x32 inputs (depth = 6n + 4).

  Sows ``feats`` / ``preact_feats`` / ``pooled_feat`` as described in the module docstring
  (four entries each: ``conv1``, then the three groups).

  Attributes:
    depth: total depth; ``n = (depth - 4) / 6`` blocks per group.
    widen_factor: widths are ``[16, 16k, 32k, 64k]``.
    num_classes: logits.
    dtype: computation dtype (parameters and BN statistics stay float32).
    conv_batch_chunks: batch slices every convolution is computed in
      (``layers.batch_chunked_conv``; same result and parameters).
  """

  depth: int
  widen_factor: int
  num_classes: int
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  def bn_before_relu_paths(self) -> tuple[tuple[str, ...], ...]:
    """Paths of the reference's ``get_bn_before_relu``: the BNs of ``preact_feats[1:]``."""
    return (("block2", "layer", "0", "bn1"), ("block3", "layer", "0", "bn1"), ("bn1",))

  def classifier_path(self) -> tuple[str, ...]:
    """Path of the final linear layer."""
    return ("fc",)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    if (self.depth - 4) % 6:
      raise ValueError(f"WRN depth must be 6n+4, got {self.depth}")
    n = (self.depth - 4) // 6
    widths = [16 * self.widen_factor, 32 * self.widen_factor, 64 * self.widen_factor]
    x = _conv(16, 3, self.dtype, self.conv_batch_chunks, padding=1,
              name="conv1")(x.astype(self.dtype))
    feats, preacts = [x], [x]
    group_preacts = []
    for index, (width, stride) in enumerate(zip(widths, (1, 2, 2))):
      x, first_preact = WideGroup(n, width, stride, dtype=self.dtype,
                                  conv_batch_chunks=self.conv_batch_chunks,
                                  name=f"block{index + 1}")(x, train)
      group_preacts.append(first_preact)
      feats.append(x)
    # The reference's pre-activation features of groups 1 and 2 are bn1 of the next group's
    # first block (computed once here, so running statistics are updated once per step).
    preacts += group_preacts[1:]
    last_preact = layers.BatchNorm(dtype=self.dtype, name="bn1")(x, train)
    preacts.append(last_preact)
    head = nn.relu(last_preact)
    pooled = layers.global_avg_pool(head)
    layers.sow_features(self, feats, preacts, pooled, head_map=head)
    logits = layers.linear(pooled, self.num_classes, bias_init=layers.zeros_init,
                           dtype=self.dtype, name="fc")
    return logits.astype(jnp.float32)
