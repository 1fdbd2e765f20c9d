"""PyTorch state dict -> Flax variables (rename + transpose).

The kdjax models name their submodules after the PyTorch state-dict keys: the key
``layer1.0.conv1.weight`` is the Flax variable ``params/layer1/0/conv1/kernel``.
Conversion is therefore one rule per leaf name:

  ``weight`` (4-D conv, OIHW)  -> ``params/.../kernel`` transposed to HWIO (grouped/depthwise too)
  ``weight`` (2-D linear)      -> ``params/.../kernel`` transposed
  ``weight`` (1-D BatchNorm)   -> ``params/.../scale``
  ``bias``                     -> ``params/.../bias``
  ``running_mean/running_var`` -> ``batch_stats/.../mean`` / ``var``
  ``num_batches_tracked``      -> dropped
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

_STATS = {"running_mean": "mean", "running_var": "var"}


def _to_numpy(value: Any) -> np.ndarray:
  if hasattr(value, "detach"):  # a torch tensor, without importing torch
    value = value.detach().cpu().numpy()
  return np.asarray(value)


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
