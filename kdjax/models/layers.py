"""Torch-faithful building blocks shared by the kdjax model zoo.

Every layer here reproduces its PyTorch counterpart bit-for-bit in layout and up to float
rounding in value: symmetric explicit padding (PyTorch ``padding=p``), BatchNorm with eps 1e-5,
running-average momentum 0.1 (0.9 in Flax terms) and an UNBIASED running variance, and the
initialisers of the reference CIFAR KD code (RepDistiller / mdistiller). Parameters and batch
statistics are always float32; ``dtype`` is the computation dtype.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Callable, Iterator, Sequence

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


# Batch slices each convolution is computed in (``conv_batch_chunks``); read at trace time.
_CONV_BATCH_CHUNKS = contextvars.ContextVar('kdjax_conv_batch_chunks', default=1)


@contextlib.contextmanager
def conv_batch_chunks(chunks: int) -> Iterator[None]:
  """Within the block, every ``conv`` layer convolves ``chunks`` slices of the batch separately.

  The result is the same convolution (each example's output depends on that
  example only; BatchNorm and everything else still see the whole batch); only
  the kernel's working set shrinks, which XLA's CPU convolutions reward
  (``experiments.benchmark``'s ``chunks`` section). Use it inside the function
  that is traced (the setting is read when ``jax.jit`` traces, so a jitted
  function must set it itself to stay consistent with its cached compilation).
  A batch that ``chunks`` does not divide is convolved whole.
  """
  if chunks < 1:
    raise ValueError(f'conv_batch_chunks must be >= 1, got {chunks}')
  token = _CONV_BATCH_CHUNKS.set(chunks)
  try:
    yield
  finally:
    _CONV_BATCH_CHUNKS.reset(token)


def _batch_chunked_conv(lhs: jax.Array, rhs: jax.Array, *args, **kwargs) -> jax.Array:
  """``lax.conv_general_dilated`` over ``conv_batch_chunks`` slices of the batch (NHWC).

  Slice ``j`` holds the examples ``j, j + chunks, ...``, so a batch sharded in
  contiguous blocks over devices is sliced on every device alike (no transfer).
  """
  chunks, batch = _CONV_BATCH_CHUNKS.get(), lhs.shape[0]
  if chunks == 1 or batch % chunks:
    return jax.lax.conv_general_dilated(lhs, rhs, *args, **kwargs)
  strided = lhs.reshape(batch // chunks, chunks, *lhs.shape[1:])
  parts = [jax.lax.conv_general_dilated(strided[:, j], rhs, *args, **kwargs)
           for j in range(chunks)]
  return jnp.stack(parts, axis=1).reshape(batch, *parts[0].shape[1:])


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
    name: str | None = None,
) -> nn.Conv:
  """A ``nn.Conv`` equal to ``torch.nn.Conv2d(.., kernel_size, stride, padding, groups=groups)``.

  Padding is explicit and symmetric (PyTorch semantics), never ``'SAME'``. The conv bias (VGG
  only) is zero-initialised, as in every reference model that has one.
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
      conv_general_dilated=_batch_chunked_conv,
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

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    x = conv(self.features, self.kernel_size, stride=self.stride, padding=self.padding,
             kernel_init=self.kernel_init, dtype=self.dtype, name="0")(x)
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
) -> None:
  """Sows the reference models' feature dict into the ``'intermediates'`` collection.

  After ``apply(..., mutable=['intermediates'])`` the collection holds ``feats`` (tuple of stage
  outputs), ``preact_feats`` (the same stages before their final ReLU, where the reference model
  defines them) and ``pooled_feat`` (1-tuple: the pooled feature fed to the classifier). When the
  collection is not mutable this records nothing and costs nothing.
  """
  for feat in feats:
    module.sow("intermediates", "feats", feat)
  for feat in preact_feats or ():
    module.sow("intermediates", "preact_feats", feat)
  module.sow("intermediates", "pooled_feat", pooled_feat)


__all__ = [
    "BatchNorm", "ConvBN", "Stack", "avg_pool", "channel_shuffle", "classifier_normal_init",
    "conv", "fan_out_normal_init", "global_avg_pool", "linear", "max_pool", "sow_features",
    "torch_default_bias_init", "torch_default_kernel_init", "zeros_init",
]
