"""The kdjax model zoo: Flax Linen ports of the PyTorch models used by the KD literature.

Every model's submodules are named after its PyTorch state-dict keys, so
``kdjax.convert.state_dict_to_variables(state_dict)`` yields exactly its ``init`` variables
(``{'params', 'batch_stats'}``), and its logits equal the PyTorch model's on the same weights.
Models take NHWC images, ``train`` selects batch statistics (then ``batch_stats`` must be
mutable), and return float32 logits ``[N, num_classes]``. ``create(..., conv_batch_chunks=k)``
computes every convolution on ``k`` slices of the batch (same result and parameters; faster
on CPU, see ``layers.batch_chunked_conv``).

Stage features (what the reference models of mdistiller, github.com/megvii-research/mdistiller,
return next to their logits, for the feature-based KD methods) are sown into the
``'intermediates'`` collection; ``apply_with_features`` returns them as ``Features`` (``feats``,
``preact_feats``, ``pooled``), and ``stage_channels``, ``feature_shapes``, ``bn_before_relu``,
``classifier`` and ``classify`` describe them (``kdjax.models.features``; the per-model table is
in ``kdjax.models.layers``). ``init_variables`` initialises a model (jitted) and returns its
``{'params', 'batch_stats'}``.

Example::

  model = kdjax.models.create('resnet8x4', num_classes=100)
  variables = kdjax.models.init_variables(model, jax.random.key(0))
  logits = model.apply(variables, images)                       # inference
  logits, state = model.apply(variables, images, train=True, mutable=['batch_stats'])
  logits, features, state = kdjax.models.apply_with_features(
      model, variables, images, train=True, mutable=['batch_stats'])
  features.feats[1:], features.preact_feats, features.pooled
"""

from __future__ import annotations

from kdjax.models import layers
from kdjax.models.features import (Features, apply_with_features, bn_before_relu,
                                   bn_before_relu_paths, classifier, classifier_path, classify,
                                   feature_shapes, features_from_intermediates, stage_channels)
from kdjax.models.mobilenet import MobileNetV1, MobileNetV2
from kdjax.models.registry import (CIFAR_INPUT_SHAPE, IMAGENET_INPUT_SHAPE, create,
                                   init_variables, input_shape, names)
from kdjax.models.resnet import BasicBlock, Bottleneck, ResNet
from kdjax.models.shufflenet import ShuffleNetV1, ShuffleNetV2
from kdjax.models.vgg import VGG
from kdjax.models.vit import VisionTransformer
from kdjax.models.wrn import WideResNet

__all__ = [
    "BasicBlock", "Bottleneck", "CIFAR_INPUT_SHAPE", "Features", "IMAGENET_INPUT_SHAPE",
    "MobileNetV1", "MobileNetV2", "ResNet", "ShuffleNetV1", "ShuffleNetV2", "VGG", "VisionTransformer", "WideResNet",
    "apply_with_features", "bn_before_relu", "bn_before_relu_paths", "classifier",
    "classifier_path", "classify", "create", "feature_shapes", "features_from_intermediates",
    "init_variables", "input_shape", "layers", "names", "stage_channels",
]
