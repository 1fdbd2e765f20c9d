"""Torch-faithful building blocks shared by the kdjax model zoo.

Every layer here reproduces its PyTorch counterpart bit-for-bit in layout and up to float
rounding in value: symmetric explicit padding (PyTorch ``padding=p``), BatchNorm with eps 1e-5,
running-average momentum 0.1 (0.9 in Flax terms) and an UNBIASED running variance, and the
initialisers of the reference CIFAR KD code (RepDistiller, github.com/HobbitLong/RepDistiller,
Tian et al., "Contrastive Representation Distillation", ICLR 2020; mdistiller,
github.com/megvii-research/mdistiller, Zhao et al., "Decoupled Knowledge Distillation",
CVPR 2022). Parameters and batch statistics are always float32; ``dtype`` is the computation
dtype.

Convolutions on batch slices: every model takes ``conv_batch_chunks`` (``kdjax.models.create``)
and passes it to each ``conv``, whose ``conv_general_dilated`` (``batch_chunked_conv``) then
convolves that many strided slices of the batch separately: the same result and parameters,
a smaller working set for XLA's CPU convolutions. It is a field of the modules, so what a
``model.apply`` compiles depends on the model alone.

Features (``sow_features``; packed by ``kdjax.models.apply_with_features``). Every model sows
what its mdistiller reference model returns next to the logits (``mdistiller/models/cifar/`` and
``mdistiller/models/imagenet/``); "stem" is the activated stem, "sK" the output of stage K,
"sK pre" stage K before its final ReLU:

* resnet8..110, resnet8x4/32x4 (``cifar/resnet.py``): feats = stem, s1, s2, s3; preacts =
  stem, s1..s3 pre; bn_before_relu of s1..s3.
* ResNet18/50 (``cifar/resnetv2.py``): feats = stem, s1..s4; preacts = stem, s1..s4 pre;
  bn_before_relu of s1..s4.
* wrn_D_W (``cifar/wrn.py``): feats = ``conv1`` (no BN, no ReLU), g1, g2, g3 (group outputs,
  not activated); preacts = ``conv1``, then the BN that follows each group
  (``block2.layer.0.bn1``, ``block3.layer.0.bn1``, ``bn1``), which are the bn_before_relu.
* vgg8..19 (``cifar/vgg.py``): feats = relu(block0..block4); preacts = relu(block0), then
  block1..4 (their last BN's output); bn_before_relu of s1..s4.
* MobileNetV2 (``cifar/mobilenetv2.py``): feats = stem, groups 1, 2, 4, 6; no preacts;
  bn_before_relu = the last BN of groups 1, 2, 4, 6.
* ShuffleV1 (``cifar/ShuffleNetv1.py``), ShuffleV2 (``cifar/ShuffleNetv2.py``): feats = stem,
  s1, s2, s3; preacts = stem, s1..s3 pre (ShuffleV2's before its channel shuffle); no
  bn_before_relu.
* resnet18/34/50 (``imagenet/resnet.py``): feats = stem (before the max-pool), s1..s4; preacts =
  stem (activated, as the reference's in-place ReLU makes it), s1..s4 pre; bn_before_relu of
  s2..s4.
* MobileNetV1 (``imagenet/mobilenetv1.py``): feats = units 3, 5, 11, 13 (no stem); preacts =
  the same before their last ReLU; bn_before_relu of all four.

``pooled_feat`` is the global average of the last activated feature map (what the classifier
reads); ``head_map`` is that map itself (``feats[-1]`` for most models; for WRN the activated
``relu(bn1(block3))``, for MobileNetV2 / ShuffleV2 the output of their final 1x1 ``conv2``, which
no ``feats`` entry holds).

bn_before_relu names the stages of the reference's ``get_bn_before_relu`` BNs (OFD's margins; ``kdjax.models.bn_before_relu``), which are the last entries of ``preact_feats`` (of
``feats`` for MobileNetV2). Each model's docstring gives the details and where the reference
differs from what one might expect (an activated "preact" stem, MobileNetV2 without preacts,
ShuffleNetV2's unshuffled preacts, WRN's features computed by re-applying BNs).

Papers of the architectures: He et al., "Deep Residual Learning for Image Recognition", CVPR
2016; Zagoruyko, Komodakis, "Wide Residual Networks", BMVC 2016; Simonyan, Zisserman, "Very
Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015; Sandler et al.,
"MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018; Howard et al.,
"MobileNets", arXiv:1704.04861; Zhang et al., "ShuffleNet", CVPR 2018; Ma et al., "ShuffleNet
V2", ECCV 2018.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Dtype = Any
Initializer = Callable[..., jax.Array]
ModuleDef = Any

# PyTorch's default Conv2d / Linear weight init, kaiming_uniform(a=sqrt(5)):
# U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels / groups * kh * kw.
torch_default_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")
# kaiming_normal(mode='fan_out', nonlinearity='relu') == normal(0, sqrt(2 / (kh * kw * out))):
# the conv init of the ResNet, WRN, VGG and MobileNetV2 reference code (not truncated).
fan_out_normal_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
# normal(0, 0.01): the VGG / MobileNetV2 classifier weights.
classifier_normal_init = nn.initializers.normal(stddev=0.01)
zeros_init = nn.initializers.zeros


def torch_default_bias_init(fan_in: int) -> Initializer:
  """PyTorch's default Conv2d / Linear bias init, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / float(fan_in) ** 0.5

  def init(key: jax.Array, shape: Sequence[int], dtype: Dtype = jnp.float32) -> jax.Array:
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def _batch_chunked_conv(lhs: jax.Array, rhs: jax.Array, *args, chunks: int,
                        **kwargs) -> jax.Array:
  """``lax.conv_general_dilated`` over ``chunks`` strided slices of the batch (NHWC).

  Slice ``j`` holds the examples ``j, j + chunks, ...``, so a batch sharded in
  contiguous blocks over devices is sliced on every device alike (no transfer).
  A batch that ``chunks`` does not divide is convolved whole.
  """
  batch = lhs.shape[0]
  if chunks == 1 or batch % chunks:
    return jax.lax.conv_general_dilated(lhs, rhs, *args, **kwargs)
  strided = lhs.reshape(batch // chunks, chunks, *lhs.shape[1:])
  parts = [jax.lax.conv_general_dilated(strided[:, j], rhs, *args, **kwargs)
           for j in range(chunks)]
  return jnp.stack(parts, axis=1).reshape(batch, *parts[0].shape[1:])


def check_conv_batch_chunks(chunks: int) -> int:
  """Returns ``chunks`` if it is a valid ``conv_batch_chunks`` (an int >= 1), else raises."""
  if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1:
    raise ValueError(f"conv_batch_chunks must be an int >= 1, got {chunks!r}")
  return chunks


def batch_chunked_conv(chunks: int = 1) -> Callable[..., jax.Array]:
  """The ``conv_general_dilated`` of a ``conv`` layer that convolves ``chunks`` batch slices.

  ``chunks == 1`` returns ``jax.lax.conv_general_dilated`` itself. Otherwise every
  convolution is computed on ``chunks`` strided slices of the batch (slice ``j`` holds the
  examples ``j, j + chunks, ...``) and the outputs are interleaved back: the same convolution
  (each example's output depends on that example only; BatchNorm and everything else still
  see the whole batch), only the kernel's working set shrinks, which XLA's CPU convolutions
  reward (``experiments.benchmark``'s ``chunks`` section). A batch that ``chunks`` does not
  divide is convolved whole.
  """
  if check_conv_batch_chunks(chunks) == 1:
    return jax.lax.conv_general_dilated
  return functools.partial(_batch_chunked_conv, chunks=chunks)


def conv(
    features: int,
    kernel_size: int,
    *,
    stride: int = 1,
    padding: int = 0,
    groups: int = 1,
    use_bias: bool = False,
    kernel_init: Initializer = torch_default_kernel_init,
    dtype: Dtype = jnp.float32,
    conv_batch_chunks: int = 1,
    name: str | None = None,
) -> nn.Conv:
  """A ``nn.Conv`` equal to ``torch.nn.Conv2d(.., kernel_size, stride, padding, groups=groups)``.

  Padding is explicit and symmetric (PyTorch semantics), never ``'SAME'``. The conv bias (VGG
  only) is zero-initialised, as in every reference model that has one. ``conv_batch_chunks``
  convolves that many strided slices of the batch separately (``batch_chunked_conv``; the
  parameters do not depend on it).
  """
  return nn.Conv(
      features,
      (kernel_size, kernel_size),
      strides=(stride, stride),
      padding=((padding, padding), (padding, padding)),
      feature_group_count=groups,
      use_bias=use_bias,
      kernel_init=kernel_init,
      bias_init=zeros_init,
      dtype=dtype,
      param_dtype=jnp.float32,
      conv_general_dilated=batch_chunked_conv(conv_batch_chunks),
      name=name,
  )


def linear(
    x: jax.Array,
    features: int,
    *,
    kernel_init: Initializer = torch_default_kernel_init,
    bias_init: Initializer | None = None,
    dtype: Dtype = jnp.float32,
    name: str | None = None,
) -> jax.Array:
  """Applies a ``torch.nn.Linear(x.shape[-1], features)``-equivalent ``nn.Dense`` to ``x``.

  Args:
    x: input ``[..., in_features]``.
    features: output features.
    kernel_init: weight initialiser (PyTorch default unless given).
    bias_init: bias initialiser; ``None`` means PyTorch's default U(+-1/sqrt(in_features)).
    dtype: computation dtype.
    name: submodule name (the PyTorch attribute name, e.g. ``'fc'``).
  """
  if bias_init is None:
    bias_init = torch_default_bias_init(x.shape[-1])
  return nn.Dense(
      features,
      kernel_init=kernel_init,
      bias_init=bias_init,
      dtype=dtype,
      param_dtype=jnp.float32,
      name=name,
  )(x)


class BatchNorm(nn.Module):
  """``torch.nn.BatchNorm2d`` over the last (channel) axis.

  Train mode normalises with the biased batch variance and updates the running statistics as
  ``r <- momentum * r + (1 - momentum) * s`` with the batch mean and the UNBIASED batch variance
  ``var * n / (n - 1)`` (n = elements per channel), exactly like PyTorch. Inference mode uses the
  running statistics. Statistics are reduced in float32 whatever ``dtype`` is; under ``jax.jit``
  with a sharded batch the means are over the global batch.

  Attributes:
    momentum: running-average decay (0.9 == PyTorch ``momentum=0.1``).
    epsilon: added to the variance (PyTorch default 1e-5).
    dtype: output dtype.
  """

  momentum: float = 0.9
  epsilon: float = 1e-5
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    features = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (features,), jnp.float32)
    bias = self.param("bias", zeros_init, (features,), jnp.float32)
    running_mean = self.variable(
        "batch_stats", "mean", lambda: jnp.zeros((features,), jnp.float32))
    running_var = self.variable(
        "batch_stats", "var", lambda: jnp.ones((features,), jnp.float32))
    x32 = x.astype(jnp.float32)
    if train:
      axes = tuple(range(x.ndim - 1))
      mean = jnp.mean(x32, axes)
      var = jnp.mean(jnp.square(x32 - mean), axes)  # biased: used to normalise
      if not self.is_initializing():
        n = x.size // features
        unbiased_var = var * (n / max(n - 1, 1))
        running_mean.value = self.momentum * running_mean.value + (1 - self.momentum) * mean
        running_var.value = (
            self.momentum * running_var.value + (1 - self.momentum) * unbiased_var)
    else:
      mean, var = running_mean.value, running_var.value
    y = (x32 - mean) * (scale * jax.lax.rsqrt(var + self.epsilon)) + bias
    return y.astype(self.dtype)


class ConvBN(nn.Module):
  """A conv and its BatchNorm as two children named like a torch ``nn.Sequential``.

  Used for projection shortcuts (``downsample.0`` / ``downsample.1``) and the MobileNet stems
  (``conv1.0`` / ``conv1.1``). No activation.
  """

  features: int
  kernel_size: int = 1
  stride: int = 1
  padding: int = 0
  kernel_init: Initializer = torch_default_kernel_init
  dtype: Dtype = jnp.float32
  conv_batch_chunks: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    x = conv(self.features, self.kernel_size, stride=self.stride, padding=self.padding,
             kernel_init=self.kernel_init, dtype=self.dtype,
             conv_batch_chunks=self.conv_batch_chunks, name="0")(x)
    return BatchNorm(dtype=self.dtype, name="1")(x, train)


class Stack(nn.Module):
  """Blocks named ``'0'``, ``'1'``, ... applied in order (a torch ``nn.Sequential`` of blocks).

  Every block is called as ``block(x, train)`` and returns ``(out, preact)``; the stack returns
  the last block's pair.

  Attributes:
    blocks: one module constructor (e.g. a ``functools.partial``) per block.
  """

  blocks: Sequence[ModuleDef]

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    preact = x
    for index, block in enumerate(self.blocks):
      x, preact = block(name=str(index))(x, train)
    return x, preact


def channel_shuffle(x: jax.Array, groups: int) -> jax.Array:
  """ShuffleNet channel shuffle in NHWC: ``(.., g, C/g) -> (.., C/g, g)``."""
  *batch, channels = x.shape
  x = x.reshape(*batch, groups, channels // groups)
  return jnp.swapaxes(x, -1, -2).reshape(*batch, channels)


def global_avg_pool(x: jax.Array) -> jax.Array:
  """Mean over H and W: ``[N, H, W, C] -> [N, C]``.

  Equals the reference heads (``AvgPool2d(8)`` of the CIFAR ResNets, ``avg_pool2d(4)`` of the
  ShuffleNets, ``AvgPool2d(7)`` of MobileNetV1, adaptive pools) at their default input size.
  """
  return jnp.mean(x, axis=(1, 2))


def max_pool(x: jax.Array, window: int, stride: int, padding: int = 0) -> jax.Array:
  """``torch.nn.MaxPool2d(window, stride, padding)`` (padding never wins the max)."""
  pads = ((padding, padding), (padding, padding))
  return nn.max_pool(x, (window, window), (stride, stride), padding=pads)


def avg_pool(x: jax.Array, window: int, stride: int, padding: int = 0) -> jax.Array:
  """``torch.nn.AvgPool2d(window, stride, padding)`` with ``count_include_pad=True``."""
  pads = ((padding, padding), (padding, padding))
  return nn.avg_pool(x, (window, window), (stride, stride), padding=pads,
                     count_include_pad=True)


def sow_features(
    module: nn.Module,
    feats: Sequence[jax.Array],
    preact_feats: Sequence[jax.Array] | None,
    pooled_feat: jax.Array,
    head_map: jax.Array | None = None,
) -> None:
  """Sows the reference models' feature dict into the ``'intermediates'`` collection.

  After ``apply(..., mutable=['intermediates'])`` the collection holds ``feats`` (tuple of stage
  outputs), ``preact_feats`` (the same stages before their final ReLU, where the reference model
  defines them; nothing is sown for ``None``), ``pooled_feat`` (1-tuple: the pooled feature
  fed to the classifier) and ``head_map`` (1-tuple: the map whose global mean is
  ``pooled_feat``, where CAT-KD's class activation maps are taken); ``kdjax.models.
  apply_with_features`` packs them into ``Features``. When the collection is not mutable this
  records nothing and costs nothing.
  """
  for feat in feats:
    module.sow("intermediates", "feats", feat)
  for feat in preact_feats or ():
    module.sow("intermediates", "preact_feats", feat)
  module.sow("intermediates", "pooled_feat", pooled_feat)
  if head_map is not None:
    module.sow("intermediates", "head_map", head_map)


__all__ = [
    "BatchNorm", "ConvBN", "Stack", "avg_pool", "batch_chunked_conv", "channel_shuffle",
    "check_conv_batch_chunks", "classifier_normal_init", "conv", "fan_out_normal_init",
    "global_avg_pool", "linear", "max_pool", "sow_features", "torch_default_bias_init",
    "torch_default_kernel_init", "zeros_init",
]
