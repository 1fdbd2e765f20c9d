"""The model registry: names -> Linen modules and their default input shapes.

Re-exported by ``kdjax.models`` (``create``, ``names``, ``input_shape``, ``init_variables``).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from kdjax.models import layers
from kdjax.models.mobilenet import MobileNetV1, MobileNetV2
from kdjax.models.resnet import (BasicBlock, Bottleneck, cifar_resnet, cifar_resnetv2,
                                 imagenet_resnet)
from kdjax.models.shufflenet import ShuffleNetV1, ShuffleNetV2
from kdjax.models.vgg import CONFIGS as VGG_CONFIGS
from kdjax.models.vgg import VGG
from kdjax.models.vit import DEIT_CONFIGS, deit, vit_toy
from kdjax.models.wrn import WideResNet

Dtype = Any
Builder = Callable[[int, Dtype, int], nn.Module]  # (num_classes, dtype, conv_batch_chunks)
CIFAR_INPUT_SHAPE = (32, 32, 3)
IMAGENET_INPUT_SHAPE = (224, 224, 3)

_SMALL, _X4 = (16, 16, 32, 64), (32, 64, 128, 256)

# name -> (builder(num_classes, dtype, conv_batch_chunks) -> module, default input (H, W, C)).
_REGISTRY: dict[str, tuple[Builder, tuple[int, int, int]]] = {}


def _register(name: str, builder: Builder,
              input_shape: tuple[int, int, int] = CIFAR_INPUT_SHAPE) -> None:
  _REGISTRY[name] = (builder, input_shape)


for _depth in (8, 14, 20, 32, 44, 56, 110):
  _register(f"resnet{_depth}", functools.partial(cifar_resnet, _depth, _SMALL))
_register("resnet8x4", functools.partial(cifar_resnet, 8, _X4))
_register("resnet32x4", functools.partial(cifar_resnet, 32, _X4))
_register("ResNet18", functools.partial(cifar_resnetv2, BasicBlock, (2, 2, 2, 2)))
_register("ResNet50", functools.partial(cifar_resnetv2, Bottleneck, (3, 4, 6, 3)))
for _depth, _width in ((16, 1), (16, 2), (40, 1), (40, 2), (28, 2), (16, 4), (28, 4)):
  _register(f"wrn_{_depth}_{_width}",
            lambda k, dtype, chunks, d=_depth, w=_width: WideResNet(
                d, w, k, dtype=dtype, conv_batch_chunks=chunks))
for _name, _widths in VGG_CONFIGS.items():
  _register(_name, lambda k, dtype, chunks, widths=_widths: VGG(
      widths, k, dtype=dtype, conv_batch_chunks=chunks))
_register("MobileNetV2", lambda k, dtype, chunks: MobileNetV2(
    k, dtype=dtype, conv_batch_chunks=chunks))
_register("ShuffleV1", lambda k, dtype, chunks: ShuffleNetV1(
    k, dtype=dtype, conv_batch_chunks=chunks))
_register("ShuffleV2", lambda k, dtype, chunks: ShuffleNetV2(
    k, dtype=dtype, conv_batch_chunks=chunks))
_register("resnet18", functools.partial(imagenet_resnet, BasicBlock, (2, 2, 2, 2)),
          IMAGENET_INPUT_SHAPE)
_register("resnet34", functools.partial(imagenet_resnet, BasicBlock, (3, 4, 6, 3)),
          IMAGENET_INPUT_SHAPE)
_register("resnet50", functools.partial(imagenet_resnet, Bottleneck, (3, 4, 6, 3)),
          IMAGENET_INPUT_SHAPE)
# Seed 002 Table 7's stronger teachers (torchvision layout, like resnet50; 44,549,160 and
# 60,192,808 parameters, torchvision's published counts).
_register("resnet101", functools.partial(imagenet_resnet, Bottleneck, (3, 4, 23, 3)),
          IMAGENET_INPUT_SHAPE)
_register("resnet152", functools.partial(imagenet_resnet, Bottleneck, (3, 8, 36, 3)),
          IMAGENET_INPUT_SHAPE)
_register("MobileNetV1", lambda k, dtype, chunks: MobileNetV1(
    k, dtype=dtype, conv_batch_chunks=chunks), IMAGENET_INPUT_SHAPE)
# A toy ViT (no BatchNorm, dropout) on 16x16 images, for the trainer's tests (kdjax.models.vit).
_register("vit_toy", vit_toy, (16, 16, 3))
# timm's DeiT and DeiT III (kdjax.models.vit; ViTKD's teachers and students, yzd-v/cls_KD).
for _name in DEIT_CONFIGS:
  _register(_name, functools.partial(deit, _name), IMAGENET_INPUT_SHAPE)


def names() -> list[str]:
  """Registered model names, in registration order (CIFAR models first, then ImageNet)."""
  return list(_REGISTRY)


def _lookup(name: str) -> tuple[Builder, tuple[int, int, int]]:
  try:
    return _REGISTRY[name]
  except KeyError:
    raise ValueError(
        f"unknown model {name!r}; choose one of: {', '.join(names())}") from None


def create(name: str, *, num_classes: int, dtype: Dtype = jnp.float32,
           conv_batch_chunks: int = 1, drop_path_rate: float = 0.0) -> nn.Module:
  """Returns the Linen module ``name`` (e.g. ``'resnet32x4'``, ``'wrn_40_2'``, ``'resnet18'``).

  Args:
    name: a registered name (see ``names()``); names equal the reference checkpoints'.
    num_classes: number of logits (100 for CIFAR-100, 1000 for ImageNet).
    dtype: computation dtype (``jnp.float32`` or ``jnp.bfloat16``); parameters and BatchNorm
      statistics are float32 either way and the logits are returned as float32.
    conv_batch_chunks: every convolution of the model is computed on this many strided
      slices of the batch (``kdjax.models.layers.batch_chunked_conv``): the same result and
      the same parameters; faster on CPU for large activations. A batch it does not divide is
      convolved whole.
    drop_path_rate: stochastic depth of the DeiT / DeiT III models (``DEIT_CONFIGS``): the
      rate of the last block, timm's ``drop_path_rate`` (``kdjax.models.vit``); 0 (the
      default) for every other model, which has none.

  Raises:
    ValueError: unknown name (the message lists the known ones), ``num_classes < 1``,
      ``conv_batch_chunks < 1``, or a ``drop_path_rate`` outside [0, 1] or given to a model
      without stochastic depth.
  """
  builder, _ = _lookup(name)
  if not isinstance(num_classes, int) or num_classes < 1:
    raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
  chunks = layers.check_conv_batch_chunks(conv_batch_chunks)
  if not drop_path_rate:
    return builder(num_classes, dtype, chunks)
  if name not in DEIT_CONFIGS:
    raise ValueError(f"model {name!r} has no stochastic depth: drop_path_rate is for "
                     f"{', '.join(DEIT_CONFIGS)}; leave it 0 for {name!r}")
  if not 0.0 <= drop_path_rate <= 1.0:
    raise ValueError(f"drop_path_rate must be in [0, 1], got {drop_path_rate}")
  return builder(num_classes, dtype, chunks, drop_path_rate=float(drop_path_rate))


def input_shape(name: str) -> tuple[int, int, int]:
  """Default input ``(H, W, C)`` of ``name``: (32, 32, 3) for CIFAR, (224, 224, 3) for ImageNet."""
  return _lookup(name)[1]


def init_variables(module: nn.Module, rng: jax.Array,
                   input_shape: tuple[int, int, int] = CIFAR_INPUT_SHAPE,
                   batch_size: int = 1) -> dict:
  """Initialises ``module`` (jitted) on a zero batch; returns ``{'params', 'batch_stats'}``
  (``batch_stats`` empty for a model without BatchNorm, e.g. ``vit_toy``).

  Args:
    module: a model from ``create``.
    rng: a PRNG key.
    input_shape: ``(H, W, C)``; pass ``input_shape(name)`` for ImageNet models.
    batch_size: size of the dummy batch (the result does not depend on it).
  """
  dummy = jnp.zeros((batch_size, *input_shape), jnp.float32)
  init = jax.jit(lambda key: module.init(key, dummy, train=False)).lower(rng)
  # Initialisation runs once; on CPU, XLA's backend optimisation of the random-number
  # generators dominates its compile time (seconds per model), so it is switched off there.
  options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
  variables = init.compile(compiler_options=options)(rng)
  return {"params": variables["params"], "batch_stats": variables.get("batch_stats", {})}
