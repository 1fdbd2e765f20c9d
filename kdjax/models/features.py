"""Stage features, BN margins and classifier heads of the kdjax models, for feature-based KD.

The feature-based distillation methods (FitNet, AT, RKD, PKT, VID, OFD, CRD, ReviewKD, SimKD,
CAT-KD) read, from every model, what the reference models of mdistiller
(github.com/megvii-research/mdistiller, ``mdistiller/models/cifar/*.py`` and
``mdistiller/models/imagenet/*.py``) return next to their logits. Every kdjax model sows these
into its ``'intermediates'`` collection (``layers.sow_features``), and this module packs them:

* ``Features.feats``: the stage features, stem first where the reference reports one (see the
  table in ``kdjax.models.layers`` and each model's docstring). FitNet reads one hint entry, AT
  and VID ``feats[1:]``.
* ``Features.preact_feats``: the same stages before their final ReLU, as the reference defines
  them (for several models its first entry is the ACTIVATED stem; MobileNetV2 has none, so the
  tuple is empty). OFD reads ``preact_feats[1:]``, ReviewKD the teacher's ``preact_feats[1:]``.
* ``Features.pooled``: the globally pooled feature the classifier reads (CRD, RKD, PKT; SimKD
  and CAT-KD feed features to the teacher's head through ``classify``).
* ``Features.head_map``: the map ``pooled`` is the global mean of (CAT-KD's class activation
  maps are the classifier applied at every position of it). It is ``feats[-1]`` except for WRN
  (``relu(bn1(block3))``, whose ``feats[-1]`` is the raw group output) and MobileNetV2 /
  ShuffleV2 (the output of their final 1x1 ``conv2``, after ``feats[-1]``).

``apply_with_features`` runs a model with the collection mutable; callers that only need logits
keep calling ``module.apply`` (nothing is sown, nothing is paid). ``stage_channels`` and
``feature_shapes`` give the channels and shapes of ``feats`` (the reference's
``get_stage_channels`` / ``get_feat_shapes``), ``bn_before_relu`` the BatchNorm parameters and
statistics of the reference's ``get_bn_before_relu`` (OFD's margins, Heo et al., "A
Comprehensive Overhaul of Feature Distillation", ICCV 2019), and ``classifier`` / ``classify``
the final linear layer.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

from kdjax.models import registry

Array = jax.Array
INTERMEDIATES = "intermediates"


@flax.struct.dataclass
class Features:
  """The features of one forward pass (a pytree; NHWC arrays).

  Attributes:
    feats: stage features, stem first where the reference reports one.
    preact_feats: the stages before their final ReLU, as the reference defines them (empty for
      MobileNetV2, whose reference defines none).
    pooled: ``[N, D]``, the pooled feature fed to the classifier.
    head_map: ``[N, H, W, D]``, the map whose spatial mean is ``pooled`` (None when a model
      sows none, e.g. hand-built Features).
  """

  feats: tuple[Array, ...]
  preact_feats: tuple[Array, ...]
  pooled: Array
  head_map: Array | None = None


def features_from_intermediates(intermediates: Any) -> Features:
  """Packs a model's ``'intermediates'`` collection (``feats``, ``preact_feats``,
  ``pooled_feat``, ``head_map``, as ``layers.sow_features`` writes it) into ``Features``."""
  if "pooled_feat" not in intermediates:
    raise ValueError(
        "no 'pooled_feat' in the intermediates: not a kdjax model, or it was applied without "
        f"the {INTERMEDIATES!r} collection mutable (use apply_with_features)")
  pooled = intermediates["pooled_feat"]
  if len(pooled) != 1:
    raise ValueError(f"expected one sown pooled_feat, got {len(pooled)} (was the model applied "
                     f"with variables that already held an {INTERMEDIATES!r} collection?)")
  head_map = intermediates.get("head_map", ())
  return Features(feats=tuple(intermediates.get("feats", ())),
                  preact_feats=tuple(intermediates.get("preact_feats", ())), pooled=pooled[0],
                  head_map=head_map[0] if len(head_map) == 1 else None)


def apply_with_features(
    module: nn.Module,
    variables: Any,
    x: Array,
    *,
    train: bool,
    mutable: str | Sequence[str] | bool = (),
) -> tuple[Array, Features, dict]:
  """``module.apply`` that also returns the model's stage features.

  Args:
    module: a model from ``kdjax.models.create``.
    variables: its ``{'params', 'batch_stats'}`` (an ``'intermediates'`` entry is ignored).
    x: NHWC images.
    train: batch statistics (and, with ``mutable=['batch_stats']``, their update) or running
      statistics.
    mutable: the collections to update besides ``'intermediates'`` (e.g. ``['batch_stats']``
      in training), as for ``module.apply``.

  Returns:
    ``(logits, features, updates)``: float32 logits ``[N, K]``, the ``Features``, and the
    updated mutable collections without ``'intermediates'`` (``{}`` when ``mutable`` is empty).
  """
  if isinstance(mutable, str):
    mutable = (mutable,)
  collections = (True if mutable is True else
                 [c for c in (mutable or ()) if c != INTERMEDIATES] + [INTERMEDIATES])
  variables = {k: v for k, v in variables.items() if k != INTERMEDIATES}
  logits, state = module.apply(variables, x, train=train, mutable=collections)
  updates = {k: v for k, v in state.items() if k != INTERMEDIATES}
  return logits, features_from_intermediates(state.get(INTERMEDIATES, {})), updates


def feature_shapes(name: str, input_shape: Sequence[int] | None = None,
                   batch_size: int = 1) -> Features:
  """The ``Features`` of model ``name`` as ``jax.ShapeDtypeStruct``s (traced, nothing computed;
  the reference's ``get_feat_shapes``).

  Args:
    name: a registered model name.
    input_shape: ``(H, W, C)``; the model's default (``kdjax.models.input_shape``) if None.
    batch_size: the leading dimension.
  """
  shape = tuple(int(d) for d in (input_shape or registry.input_shape(name)))
  return _feature_shapes(name, shape, int(batch_size))


@functools.lru_cache(maxsize=None)
def _feature_shapes(name: str, input_shape: tuple[int, ...], batch_size: int) -> Features:
  module = registry.create(name, num_classes=1)
  x = jax.ShapeDtypeStruct((batch_size, *input_shape), jnp.float32)
  variables = jax.eval_shape(functools.partial(module.init, train=False, mutable=True),
                             jax.random.key(0), x)
  return features_from_intermediates(variables[INTERMEDIATES])


def stage_channels(name: str) -> tuple[int, ...]:
  """Channels of each ``feats`` entry of model ``name`` (the reference's ``get_stage_channels``).

  Computed from the model. Where the reference's list is not that (resnetv2 and the ImageNet
  ResNets: ``[256, 512, 1024, 2048]`` whatever the depth, without the stem; ShuffleV1: not
  defined), this returns the true channels of every ``feats`` entry; see the model docstrings.
  """
  return tuple(int(f.shape[-1]) for f in feature_shapes(name).feats)


def bn_before_relu_paths(name: str) -> tuple[tuple[str, ...], ...]:
  """Variable paths of the BNs the reference's ``get_bn_before_relu`` returns, in its order.

  They belong to the LAST ``len(paths)`` entries of ``preact_feats`` (of ``feats`` for
  MobileNetV2, which has no ``preact_feats``): ``preact_feats[1:]`` for the CIFAR ResNets,
  resnetv2, WRN and VGG, ``preact_feats[2:]`` for the ImageNet ResNets (the reference leaves
  ``layer1`` out), all four for MobileNetV1.

  Raises:
    NotImplementedError: ShuffleV1 / ShuffleV2, whose reference models do not define it.
  """
  return tuple(registry.create(name, num_classes=1).bn_before_relu_paths())


def _at(tree: Any, path: Sequence[str], what: str) -> Any:
  node = tree
  for key in path:
    try:
      node = node[key]
    except (KeyError, TypeError):
      raise KeyError(f"{what} has no {'/'.join(path)!r} (missing {key!r}); are these the "
                     "variables of this model?") from None
  return node


def bn_before_relu(name: str, variables: Any) -> tuple[dict[str, Array], ...]:
  """The reference's ``get_bn_before_relu`` BatchNorms of model ``name``, from its variables.

  Args:
    name: a registered model name (not ShuffleV1 / ShuffleV2, see ``bn_before_relu_paths``).
    variables: the model's ``{'params', 'batch_stats'}``.

  Returns:
    One ``{'scale', 'bias', 'mean', 'var'}`` dict per BN (``scale``/``bias`` are torch's
    ``weight``/``bias``, ``mean``/``var`` its running statistics), aligned with the last
    entries of ``preact_feats`` as ``bn_before_relu_paths`` describes.
  """
  result = []
  for path in bn_before_relu_paths(name):
    params = _at(variables["params"], path, "params")
    stats = _at(variables["batch_stats"], path, "batch_stats")
    result.append({"scale": params["scale"], "bias": params["bias"], "mean": stats["mean"],
                   "var": stats["var"]})
  return tuple(result)


def classifier_path(name: str) -> tuple[str, ...]:
  """Parameter path of model ``name``'s final linear layer (e.g. ``('fc',)``)."""
  return tuple(registry.create(name, num_classes=1).classifier_path())


def classifier(name: str, variables: Any) -> tuple[Array, Array]:
  """The final linear layer of model ``name``: ``(kernel [D, K], bias [K])``.

  ``variables`` is ``{'params': ...}`` (other collections are ignored) or the params alone.
  """
  params = variables["params"] if "params" in variables else variables
  head = _at(params, classifier_path(name), "params")
  return head["kernel"], head["bias"]


def classify(name: str, variables: Any, pooled: Array) -> Array:
  """Model ``name``'s classifier applied to pooled features ``[..., D]``: float32 logits.

  Equals the model's logits on its own ``Features.pooled`` (computed in float32; a model in
  bfloat16 computes its head in bfloat16).
  """
  kernel, bias = classifier(name, variables)
  return (jnp.dot(pooled.astype(jnp.float32), kernel) + bias).astype(jnp.float32)


__all__ = [
    "Features", "INTERMEDIATES", "apply_with_features", "bn_before_relu", "bn_before_relu_paths",
    "classifier", "classifier_path", "classify", "feature_shapes", "features_from_intermediates",
    "stage_channels",
]
