"""PyTorch checkpoints -> Flax variables, and kdjax's own converted-teacher checkpoints.

The kdjax models name their submodules after the PyTorch state-dict keys: the key
``layer1.0.conv1.weight`` is the Flax variable ``params/layer1/0/conv1/kernel``.
Conversion is therefore one rule per leaf name:

  ``weight`` (4-D conv, OIHW)  -> ``params/.../kernel`` transposed to HWIO (grouped/depthwise too)
  ``weight`` (2-D linear)      -> ``params/.../kernel`` transposed
  ``weight`` (1-D BatchNorm)   -> ``params/.../scale``
  ``bias``                     -> ``params/.../bias``
  ``running_mean/running_var`` -> ``batch_stats/.../mean`` / ``var``
  ``num_batches_tracked``      -> dropped
  ``cls_token``, ``pos_embed``, ``gamma`` (ViT) -> ``params/...`` under the same name, as is

The ViTs (``kdjax.models.vit``) also read the mmcls / mmpretrain layout (``backbone.layers.{i}.ln1``
...), and facebookresearch/deit's DeiT III ``gamma_1``/``gamma_2``: `vit_state_dict` renames them to
timm's names first and names, in one line, a checkpoint of another ViT size.

`from_torch` reads a checkpoint (``torch.save`` file through the code-free reader `kdjax.torch_io`,
a safetensors file, or an in-memory mapping), checks every key and shape against the model and
applies the rule. `save_teacher` / `load_teacher` store converted teachers as an orbax checkpoint
plus ``kdjax_teacher.json``.

Example::

  variables = from_torch('resnet32x4_vanilla/ckpt_epoch_240.pth', 'resnet32x4')
  module, variables = load_teacher('teachers/resnet32x4')   # a directory from save_teacher
  logits = module.apply(variables, images)
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import types
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from kdjax import models
from kdjax import torch_io
from kdjax.torch_io import CheckpointError, CheckpointFormatError, UnsafeCheckpointError

METADATA_FILE = "kdjax_teacher.json"
VARIABLES_DIR = "variables"
_STATS = {"running_mean": "mean", "running_var": "var"}
# Parameters stored under the same name and shape in both frameworks (timm's ViT class token,
# position embedding and LayerScale).
_AS_IS = ("cls_token", "pos_embed", "gamma")
# Checkpoint dicts keep the state dict under 'model' (RepDistiller, mdistiller) or 'state_dict'.
_WRAPPER_KEYS = ("model", "state_dict")
# yzd-v/cls_KD's ``ClassificationDistiller`` (``mmcls/models/classifiers/distiller.py``) holds the
# student, the frozen teacher and the losses' own modules as ``self.student`` / ``self.teacher`` /
# ``self.distill_losses``, so its checkpoints name every key under one of these prefixes; its
# ``pth_transfer.py`` keeps the ``student.`` entries with the prefix removed.
_DISTILLER_STUDENT = "student."
_DISTILLER_PREFIXES = (_DISTILLER_STUDENT, "teacher.", "distill_losses.", "data_preprocessor.")
_LIST_LIMIT = 20  # Keys listed per kind in a mismatch message.

__all__ = [
    "CheckpointError", "CheckpointFormatError", "CheckpointMismatchError", "UnsafeCheckpointError",
    "METADATA_FILE", "VARIABLES_DIR", "check_output_directory", "check_state_dict",
    "checksum_images", "expected_state_dict_shapes", "from_torch", "load_teacher",
    "logits_checksum", "param_count", "read_state_dict", "read_teacher_metadata", "save_teacher",
    "state_dict_to_variables", "vit_state_dict",
]


class CheckpointMismatchError(CheckpointError):
  """A checkpoint whose keys or shapes do not match the requested model."""


def _to_numpy(value: Any) -> np.ndarray:
  if hasattr(value, "detach"):  # a torch tensor, without importing torch
    value = value.detach().cpu()
    value = value.float() if value.is_floating_point() else value  # numpy has no bfloat16
    value = value.numpy()
  return np.array(value, copy=True)  # never alias the caller's tensors


def state_dict_to_variables(state_dict: Mapping[str, Any]) -> dict:
  """Renames and transposes a PyTorch state dict into ``{'params', 'batch_stats'}``."""
  variables: dict = {"params": {}, "batch_stats": {}}
  for key, value in state_dict.items():
    *path, leaf = key.split(".")
    if leaf == "num_batches_tracked":
      continue
    array = _to_numpy(value)
    if leaf in _STATS:
      collection, name = "batch_stats", _STATS[leaf]
    elif leaf in _AS_IS:
      collection, name = "params", leaf
    elif leaf == "bias":
      collection, name = "params", "bias"
    elif leaf == "weight" and array.ndim == 4:
      collection, name, array = "params", "kernel", array.transpose(2, 3, 1, 0)
    elif leaf == "weight" and array.ndim == 2:
      collection, name, array = "params", "kernel", array.T
    elif leaf == "weight" and array.ndim == 1:
      collection, name = "params", "scale"
    else:
      raise ValueError(f"cannot convert state-dict key {key!r} of shape {array.shape}")
    node = variables[collection]
    for part in path:
      node = node.setdefault(part, {})
    node[name] = np.ascontiguousarray(array)
  return variables


def _torch_key_and_shape(collection: str, path: tuple[str, ...],
                         shape: tuple[int, ...]) -> tuple[str, tuple[int, ...]]:
  """The inverse of the rule: a Flax variable -> its PyTorch key and shape."""
  *prefix, leaf = path
  torch_shape = shape
  if collection == "batch_stats" and leaf in ("mean", "var"):
    torch_leaf = {"mean": "running_mean", "var": "running_var"}[leaf]
  elif collection == "params" and leaf in _AS_IS:
    torch_leaf = leaf
  elif collection == "params" and leaf in ("bias", "scale"):
    torch_leaf = "bias" if leaf == "bias" else "weight"
  elif collection == "params" and leaf == "kernel" and len(shape) in (2, 4):
    torch_leaf = "weight"
    torch_shape = tuple(shape[::-1]) if len(shape) == 2 else tuple(shape[i] for i in (3, 2, 0, 1))
  else:
    raise ValueError(f"Flax variable {collection}/{'/'.join(path)} has no PyTorch counterpart")
  return ".".join([*prefix, torch_leaf]), torch_shape


def _abstract_variables(model_name: str, num_classes: int) -> dict:
  """``{'params', 'batch_stats'}`` of the model as ShapeDtypeStructs (traced, never compiled)."""
  module = models.create(model_name, num_classes=num_classes)
  images = jax.ShapeDtypeStruct((1, *models.input_shape(model_name)), jnp.float32)
  shapes = jax.eval_shape(lambda x: module.init(jax.random.key(0), x, train=False), images)
  return {"params": shapes["params"], "batch_stats": shapes.get("batch_stats", {})}


@functools.lru_cache(maxsize=64)
def expected_state_dict_shapes(model_name: str,
                               num_classes: int) -> Mapping[str, tuple[int, ...]]:
  """The PyTorch state dict the model expects: key -> shape (``num_batches_tracked`` omitted).

  Args:
    model_name: a name of `kdjax.models.names()`.
    num_classes: the classifier's output size.
  """
  expected = {}
  for collection, tree in _abstract_variables(model_name, num_classes).items():
    for path, leaf in traverse_util.flatten_dict(tree).items():
      key, shape = _torch_key_and_shape(collection, path, tuple(leaf.shape))
      expected[key] = shape
  return types.MappingProxyType(expected)  # Cached: read-only.


def _default_num_classes(model_name: str) -> int:
  return 1000 if models.input_shape(model_name) == models.IMAGENET_INPUT_SHAPE else 100


def _infer_num_classes(state_dict: Mapping[str, np.ndarray], model_name: str) -> int:
  """The classifier size in ``state_dict``: the axis that moves with num_classes in the model."""
  default = _default_num_classes(model_name)
  base = expected_state_dict_shapes(model_name, default)
  moved = expected_state_dict_shapes(model_name, default + 1)
  for key, shape in base.items():
    if moved[key] != shape and key in state_dict and state_dict[key].ndim == len(shape):
      axis = next(i for i, (a, b) in enumerate(zip(shape, moved[key])) if a != b)
      return int(state_dict[key].shape[axis])
  return default


def _unwrap(obj: Any, origin: str) -> Mapping[str, Any]:
  """Finds the state dict: the object itself, or its ``'model'`` / ``'state_dict'`` entry."""
  while isinstance(obj, Mapping):
    wrapped = [k for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)]
    if not wrapped:
      return obj
    obj = obj[wrapped[0]]
  raise CheckpointFormatError(
      f"{origin}: holds a {type(obj).__name__}, not a state dict (a mapping of key -> tensor, "
      f"possibly under one of {_WRAPPER_KEYS})")


def read_state_dict(source: str | os.PathLike | Mapping[str, Any]) -> dict[str, np.ndarray]:
  """Reads a PyTorch state dict as numpy arrays (floating point -> float32).

  Args:
    source: a ``torch.save`` file (``.pth``/``.pt``/``.tar``, zip or legacy format), a
      ``.safetensors`` file, or a mapping key -> array (numpy or torch tensors). A checkpoint dict
      is unwrapped (``{'model': sd, ...}`` or ``{'state_dict': sd, ...}``) and DataParallel's
      ``module.`` prefixes are removed; a yzd-v/cls_KD distiller checkpoint (keys ``student.*``,
      ``teacher.*``, ``distill_losses.*``) gives its student, as cls_KD's ``pth_transfer.py``.

  Raises:
    FileNotFoundError: no such file.
    CheckpointError: unreadable, unsafe, or no state dict inside (the message names the file).
  """
  if isinstance(source, Mapping):
    origin, obj = "in-memory state dict", source
  elif os.fspath(source).endswith(".safetensors"):
    origin, obj = os.fspath(source), _read_safetensors(os.fspath(source))
  else:
    origin, obj = os.fspath(source), torch_io.load(source)
  state_dict = {}
  for key, value in _unwrap(obj, origin).items():
    if not hasattr(value, "shape"):
      hint = (f"; if the state dict is {key!r}, pass that mapping itself" if isinstance(
          value, Mapping) else "")
      raise CheckpointFormatError(f"{origin}: state-dict entry {key!r} is a "
                                  f"{type(value).__name__}, not a tensor{hint}")
    array = _to_numpy(value)
    key = str(key).removeprefix("module.")  # DataParallel
    if key in state_dict:
      raise CheckpointFormatError(f"{origin}: key {key!r} appears with and without 'module.'")
    state_dict[key] = (
        array.astype(np.float32) if np.issubdtype(array.dtype, np.floating) else array)
  return _distilled_student(state_dict)


def _distilled_student(state_dict: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """The student of a yzd-v/cls_KD distiller checkpoint (every key under one of
  ``_DISTILLER_PREFIXES``, some under ``student.``), its prefix removed as cls_KD's
  ``pth_transfer.py`` does; any other state dict as it is."""
  if not any(k.startswith(_DISTILLER_STUDENT) for k in state_dict) or not all(
      k.startswith(_DISTILLER_PREFIXES) for k in state_dict):
    return state_dict
  return {k.removeprefix(_DISTILLER_STUDENT): v for k, v in state_dict.items()
          if k.startswith(_DISTILLER_STUDENT)}


def _read_safetensors(path: str) -> dict[str, np.ndarray]:
  from safetensors import SafetensorError  # pylint: disable=g-import-not-at-top
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no checkpoint file at {path}")
  try:
    return load_file(path)
  except (SafetensorError, ValueError, TypeError, OSError) as err:
    raise CheckpointFormatError(f"{path}: unreadable safetensors file ({err})") from err


def _listing(items: list[str]) -> str:
  more = f"\n    ... and {len(items) - _LIST_LIMIT} more" if len(items) > _LIST_LIMIT else ""
  return "".join(f"\n    {item}" for item in items[:_LIST_LIMIT]) + more


def check_state_dict(state_dict: Mapping[str, np.ndarray], model_name: str, num_classes: int,
                     origin: str = "checkpoint") -> None:
  """Raises one `CheckpointMismatchError` naming every missing, unexpected and mis-shaped key."""
  expected = expected_state_dict_shapes(model_name, num_classes)
  bn_prefixes = {k[: -len("running_mean")] for k in expected if k.endswith(".running_mean")}
  missing = [k for k in expected if k not in state_dict]
  unexpected = [k for k in state_dict if k not in expected and not (
      k.endswith(".num_batches_tracked") and k[: -len("num_batches_tracked")] in bn_prefixes)]
  wrong = [f"{k}: expected {expected[k]}, found {tuple(state_dict[k].shape)}"
           for k in expected if k in state_dict and tuple(state_dict[k].shape) != expected[k]]
  wrong += [f"{k}: expected floating point, found {state_dict[k].dtype}" for k in expected
            if k in state_dict and not np.issubdtype(state_dict[k].dtype, np.floating)]
  if not (missing or unexpected or wrong):
    return
  found = _infer_num_classes(state_dict, model_name)
  tensors = sum(not k.endswith(".num_batches_tracked") for k in state_dict)
  hint = (f"the checkpoint's classifier has {found} classes: pass num_classes={found} (or leave "
          "it unset to infer it)" if found != num_classes and not (missing or unexpected) else
          f"check that {model_name!r} is the architecture the checkpoint was trained as (it "
          f"expects {len(expected)} tensors, the checkpoint has {tensors}; names: "
          f"kdjax.models.names())")
  parts = [f"{origin} does not match model {model_name!r} with num_classes={num_classes}:"]
  for label, items in (("missing keys", missing), ("unexpected keys", unexpected),
                       ("mis-shaped keys (PyTorch layout)", wrong)):
    if items:
      parts.append(f"  {len(items)} {label}:{_listing(items)}")
  parts.append(f"Fix: {hint}.")
  raise CheckpointMismatchError("\n".join(parts))


# mmcls / mmpretrain ``VisionTransformer`` and ``DeiT3`` (``mmcls/models/backbones/
# vision_transformer.py``, ``deit3.py``; ``VisionTransformerClsHead``) -> timm names. The FFN is
# mmcv's ``layers.0.0`` (Linear in Sequential(Linear, GELU, Dropout)) and ``layers.1``; DeiT III's
# LayerScale is ``attn.gamma1.weight`` / ``ffn.gamma2.weight``; the final norm is ``ln1``. The
# blocks compute ``ln2`` before the FFN as timm, facebookresearch/deit and cls_KD's mmcls do
# (mmpretrain's ``DeiT3TransformerEncoderLayer.forward`` applies ``ln1`` there since its
# ``out_type`` refactor, open-mmlab/mmpretrain#1408, leaving ``ln2`` unused).
_MMCLS_RENAMES = (
    (r"^backbone\.(cls_token|pos_embed)$", r"\1"),
    (r"^backbone\.patch_embed\.projection\.", "patch_embed.proj."),
    (r"^backbone\.layers\.(\d+)\.ln([12])\.", r"blocks.\1.norm\2."),
    (r"^backbone\.layers\.(\d+)\.attn\.(qkv|proj)\.", r"blocks.\1.attn.\2."),
    (r"^backbone\.layers\.(\d+)\.attn\.gamma1\.weight$", r"blocks.\1.ls1.gamma"),
    (r"^backbone\.layers\.(\d+)\.ffn\.layers\.0\.0\.", r"blocks.\1.mlp.fc1."),
    (r"^backbone\.layers\.(\d+)\.ffn\.layers\.1\.", r"blocks.\1.mlp.fc2."),
    (r"^backbone\.layers\.(\d+)\.ffn\.gamma2\.weight$", r"blocks.\1.ls2.gamma"),
    (r"^backbone\.ln1\.", "norm."),
    (r"^head\.layers\.head\.", "head."),
)
# facebookresearch/deit ``models_v2.py`` (DeiT III): ``Layer_scale_init_Block.gamma_1/gamma_2``.
_DEIT3_RENAMES = ((r"^blocks\.(\d+)\.gamma_([12])$", r"blocks.\1.ls\2.gamma"),)
_TIMM_PROBE, _MMCLS_PROBE = "blocks.0.norm1.weight", "backbone.layers.0.ln1.weight"


def _rename(state_dict: Mapping[str, Any], renames: tuple[tuple[str, str], ...]) -> dict:
  """Applies the first matching ``(pattern, replacement)`` to each key; others stay."""
  renamed = {}
  for key, value in state_dict.items():
    for pattern, replacement in renames:
      new_key, count = re.subn(pattern, replacement, key)
      if count:
        key = new_key
        break
    renamed[key] = value
  return renamed


def _vit_architecture(shapes: Mapping[str, tuple[int, ...]]) -> tuple | None:
  """``(embed dim, blocks, patch, LayerScale, position-embedding tokens)`` of a timm-named ViT
  state dict (key -> shape), or None when its embeddings are missing."""
  if "patch_embed.proj.weight" not in shapes or "pos_embed" not in shapes:
    return None
  dim, _, patch, _ = shapes["patch_embed.proj.weight"]
  depth = sum(re.fullmatch(r"blocks\.\d+\.norm1\.weight", k) is not None for k in shapes)
  return (int(dim), depth, int(patch), "blocks.0.ls1.gamma" in shapes,
          int(shapes["pos_embed"][1]))


def _describe(architecture: tuple) -> str:
  dim, depth, patch, layer_scale, tokens = architecture
  return (f"embed dim {dim}, {depth} blocks, patch {patch}, "
          f"{'LayerScale' if layer_scale else 'no LayerScale'}, {tokens} position embeddings")


def _vit_names() -> list[str]:
  return [n for n in models.names()
          if isinstance(models.create(n, num_classes=1), models.VisionTransformer)]


def vit_state_dict(state_dict: Mapping[str, Any], model_name: str,
                   origin: str = "checkpoint") -> dict:
  """A ViT state dict in timm's names, checked to be ``model_name``'s architecture.

  Accepts timm / facebookresearch/deit names (``blocks.0.norm1.weight``; DeiT III's
  ``gamma_1``/``gamma_2`` become ``ls1.gamma``/``ls2.gamma``) and mmcls / mmpretrain names
  (``backbone.layers.0.ln1.weight``, ``head.layers.head``; yzd-v/cls_KD's teachers and students).

  Raises:
    CheckpointMismatchError: (one line) neither layout, or another ViT's sizes (naming it).
  """
  if _MMCLS_PROBE in state_dict:
    state_dict = _rename(state_dict, _MMCLS_RENAMES)
  elif _TIMM_PROBE in state_dict:
    state_dict = _rename(state_dict, _DEIT3_RENAMES)
  else:
    raise CheckpointMismatchError(
        f"{origin} is not a ViT state dict in a known layout (no {_TIMM_PROBE!r} as timm and "
        f"facebookresearch/deit name it, no {_MMCLS_PROBE!r} as mmcls / mmpretrain do); fix: "
        f"pass the checkpoint of a {model_name!r}, or the model name of the architecture it "
        "holds (kdjax.models.names())")
  found = _vit_architecture({k: tuple(np.shape(v)) for k, v in state_dict.items()})
  expected = _vit_architecture(expected_state_dict_shapes(model_name, 1))
  if found is not None and found != expected:
    matches = [n for n in _vit_names()
               if _vit_architecture(expected_state_dict_shapes(n, 1)) == found]
    fix = (f"pass model_name={matches[0]!r}" if matches else
           "no registered model has this architecture (kdjax.models.names())")
    raise CheckpointMismatchError(
        f"{origin} holds a ViT with {_describe(found)}, but {model_name!r} has "
        f"{_describe(expected)}; fix: {fix}")
  return state_dict


def _convert(source: str | os.PathLike | Mapping[str, Any], model_name: str,
             num_classes: int | None) -> tuple[dict, int]:
  models.input_shape(model_name)  # Unknown names fail here, listing the known ones.
  state_dict = read_state_dict(source)
  origin = "in-memory state dict" if isinstance(source, Mapping) else os.fspath(source)
  if isinstance(models.create(model_name, num_classes=1), models.VisionTransformer):
    state_dict = vit_state_dict(state_dict, model_name, origin)
  if num_classes is None:
    num_classes = _infer_num_classes(state_dict, model_name)
  check_state_dict(state_dict, model_name, num_classes, origin)
  return state_dict_to_variables(state_dict), num_classes


def from_torch(source: str | os.PathLike | Mapping[str, Any], model_name: str, *,
               num_classes: int | None = None) -> dict:
  """Converts a PyTorch checkpoint into the Flax variables of ``kdjax.models.create(model_name)``.

  Args:
    source: a ``torch.save`` file (zip or legacy format, read without PyTorch and without running
      pickled code), a ``.safetensors`` file, or a mapping key -> array; see `read_state_dict`.
    model_name: a name of `kdjax.models.names()`, e.g. ``'resnet32x4'``.
    num_classes: the classifier's size; ``None`` reads it from the checkpoint's classifier.

  Returns:
    ``{'params': ..., 'batch_stats': ...}`` of float32 numpy arrays.

  Raises:
    FileNotFoundError: no such file.
    UnsafeCheckpointError: the pickle names a global outside the allowlist (nothing was run).
    CheckpointFormatError: corrupt, truncated or unsupported file.
    CheckpointMismatchError: keys or shapes differ from the model's (all of them are listed).
    ValueError: unknown model name.
  """
  return _convert(source, model_name, num_classes)[0]


def param_count(variables: Mapping[str, Any]) -> int:
  """Number of trainable parameters (the ``params`` collection)."""
  return int(sum(np.size(x) for x in jax.tree.leaves(variables["params"])))


def checksum_images(input_shape: tuple[int, ...]) -> np.ndarray:
  """The fixed checksum input: ``default_rng(0)`` standard-normal images, batch 2, NHWC."""
  return np.random.default_rng(0).standard_normal((2, *input_shape), dtype=np.float32)


def logits_checksum(module: nn.Module, variables: Mapping[str, Any],
                    input_shape: tuple[int, ...]) -> dict[str, Any]:
  """Fingerprints a model by its logits on `checksum_images`, computed at float32 precision.

  Returns:
    ``{'sum', 'abs_sum'}`` of the logits (6 significant digits) and ``'sha256'`` of the logits
    rounded to 4 decimals (float64 bytes).
  """
  with jax.default_matmul_precision("highest"):
    logits = jax.jit(functools.partial(module.apply, train=False))(
        dict(variables), checksum_images(input_shape))
  logits = np.asarray(logits, np.float64)
  rounded = np.round(logits, 4) + 0.0  # + 0.0 turns -0.0 into 0.0
  return {"sum": float(f"{logits.sum():.6g}"), "abs_sum": float(f"{np.abs(logits).sum():.6g}"),
          "sha256": hashlib.sha256(rounded.tobytes()).hexdigest()}


def _check_variables(variables: Mapping[str, Any], model_name: str, num_classes: int) -> None:
  expected = traverse_util.flatten_dict(_abstract_variables(model_name, num_classes), sep="/")
  found = traverse_util.flatten_dict(
      {k: variables.get(k, {}) for k in ("params", "batch_stats")}, sep="/")
  wrong = sorted(set(expected) ^ set(found)) + [
      f"{k}: expected {expected[k].shape}, found {np.shape(found[k])}"
      for k in sorted(set(expected) & set(found)) if tuple(expected[k].shape) != np.shape(found[k])]
  if wrong:
    raise CheckpointMismatchError(
        f"variables do not match model {model_name!r} with num_classes={num_classes}; "
        f"differing variables:{_listing(wrong)}")


def check_output_directory(directory: str | os.PathLike, *, overwrite: bool) -> None:
  """Raises FileExistsError for a file or a non-empty directory, unless ``overwrite``."""
  directory = os.fspath(directory)
  if os.path.exists(directory) and not os.path.isdir(directory):
    raise FileExistsError(f"{directory} exists and is not a directory")
  if os.path.isdir(directory) and os.listdir(directory) and not overwrite:
    raise FileExistsError(
        f"{directory} is not empty; pass overwrite=True (--overwrite) to replace the teacher in it")


def save_teacher(directory: str | os.PathLike, model_name: str, num_classes: int,
                 variables: Mapping[str, Any], *, source: str = "",
                 overwrite: bool = False) -> dict[str, Any]:
  """Writes a teacher as ``DIR/variables`` (orbax) + ``DIR/kdjax_teacher.json``.

  Args:
    directory: output directory; created if absent.
    model_name: a name of `kdjax.models.names()`.
    num_classes: the classifier's size.
    variables: ``{'params', 'batch_stats'}`` matching the model.
    source: where the weights came from (recorded in the metadata).
    overwrite: replace an existing teacher; without it a non-empty directory is refused.

  Returns:
    The metadata written: model, num_classes, param_count, source, logits_checksum.

  Raises:
    FileExistsError: ``directory`` is not empty and ``overwrite`` is False.
    CheckpointMismatchError: ``variables`` do not match the model.
  """
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  directory = os.path.abspath(os.fspath(directory))
  check_output_directory(directory, overwrite=overwrite)
  _check_variables(variables, model_name, num_classes)
  variables = {k: jax.tree.map(np.asarray, dict(variables[k])) for k in ("params", "batch_stats")}
  module = models.create(model_name, num_classes=num_classes)
  metadata = {
      "model": model_name, "num_classes": num_classes, "param_count": param_count(variables),
      "source": source,
      "logits_checksum": logits_checksum(module, variables, models.input_shape(model_name)),
  }
  os.makedirs(directory, exist_ok=True)
  for name in (METADATA_FILE, VARIABLES_DIR):  # Only what a previous save wrote.
    target = os.path.join(directory, name)
    if os.path.isdir(target):
      shutil.rmtree(target)
    elif os.path.exists(target):
      os.remove(target)
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(os.path.join(directory, VARIABLES_DIR), variables)
  with open(os.path.join(directory, METADATA_FILE + ".tmp"), "w") as file:
    json.dump(metadata, file, indent=2)
  os.replace(os.path.join(directory, METADATA_FILE + ".tmp"),
             os.path.join(directory, METADATA_FILE))
  return metadata


def read_teacher_metadata(directory: str | os.PathLike) -> dict[str, Any]:
  """The ``kdjax_teacher.json`` of a directory written by `save_teacher`."""
  path = os.path.join(os.fspath(directory), METADATA_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f"{path} not found: {directory} is not a converted teacher; create one with "
        "`python -m experiments.convert_teacher --model NAME --checkpoint FILE.pth --out DIR`")
  with open(path) as file:
    return json.load(file)


def load_teacher(path: str | os.PathLike, model_name: str | None = None, *,
                 num_classes: int | None = None) -> tuple[nn.Module, dict]:
  """Loads a teacher: a `save_teacher` directory, or a PyTorch/safetensors file (converted).

  Args:
    path: a directory written by `save_teacher` (model and num_classes come from its metadata),
      or a checkpoint file accepted by `from_torch`.
    model_name: required for a file; for a directory, checked against the metadata if given.
    num_classes: for a file, as in `from_torch`; for a directory, checked if given.

  Returns:
    ``(module, variables)`` with ``variables = {'params', 'batch_stats'}``.

  Raises:
    FileNotFoundError: no such file or directory, or a directory without metadata.
    ValueError: ``model_name`` missing for a file, or disagreeing with the directory's metadata.
    CheckpointError: see `from_torch`.
  """
  path = os.fspath(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f"no teacher checkpoint (file or directory) at {path}")
  if not os.path.isdir(path):
    if model_name is None:
      raise ValueError(f"{path}: model_name is required to convert a PyTorch/safetensors file")
    variables, num_classes = _convert(path, model_name, num_classes)
    return models.create(model_name, num_classes=num_classes), variables
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  metadata = read_teacher_metadata(path)
  for name, given in (("model", model_name), ("num_classes", num_classes)):
    if given is not None and given != metadata[name]:
      raise ValueError(f"{path} holds {name}={metadata[name]!r}, but {given!r} was requested")
  model_name, num_classes = metadata["model"], metadata["num_classes"]
  target = _abstract_variables(model_name, num_classes)
  with ocp.StandardCheckpointer() as checkpointer:
    variables = checkpointer.restore(os.path.join(os.path.abspath(path), VARIABLES_DIR), target)
  return models.create(model_name, num_classes=num_classes), dict(variables)
