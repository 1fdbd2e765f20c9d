"""Training and evaluation metrics: on-device accumulation and the epoch's logged values.

A train step adds its metrics to an accumulator of weighted sums (weight: the
step's number of examples, so an epoch's mean weighs the last, smaller batch by
its size) and of running minima / maxima (names ending in ``_min`` / ``_max``).
The host reads the accumulator once per log interval (``epoch_means``).
Accuracies are logged in percent.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
COUNT = 'count'


def reduction(name: str) -> str:
  """How a metric accumulates over an epoch: ``'min'``, ``'max'`` or ``'mean'`` (weighted)."""
  if name.endswith('_min'):
    return 'min'
  if name.endswith('_max'):
    return 'max'
  return 'mean'


def empty_accumulator(names: tuple[str, ...]) -> dict[str, np.ndarray]:
  """Host zeros of an accumulator over ``names`` (+-inf for minima / maxima) and its count."""
  fill = {'mean': 0.0, 'min': np.inf, 'max': -np.inf}
  acc = {name: np.float32(fill[reduction(name)]) for name in names}
  acc[COUNT] = np.float32(0.0)
  return acc


def accumulate(acc: Mapping[str, Array], metrics: Mapping[str, Array],
               count: Array) -> dict[str, Array]:
  """``acc`` plus one step's ``metrics`` (batch means) over ``count`` examples (jittable)."""
  out = {COUNT: acc[COUNT] + count}
  for name, value in metrics.items():
    how = reduction(name)
    if how == 'min':
      out[name] = jnp.minimum(acc[name], value)
    elif how == 'max':
      out[name] = jnp.maximum(acc[name], value)
    else:
      out[name] = acc[name] + value * count
  return out


def epoch_means(acc: Mapping[str, np.ndarray], prefix: str = 'train_') -> dict[str, float]:
  """The logged values of a host accumulator: example-weighted means, minima, maxima.

  Every name gets ``prefix`` (``loss`` -> ``train_loss``); ``top1`` is in percent.
  """
  count = max(float(acc[COUNT]), 1.0)
  out = {}
  for name, value in acc.items():
    if name == COUNT:
      continue
    value = float(value) / count if reduction(name) == 'mean' else float(value)
    out[prefix + name] = 100.0 * value if name == 'top1' else value
  return out


def topk_hits(logits: Array, labels: Array, mask: Array) -> Array:
  """``[2]`` float32 masked counts of top-1 and top-5 hits (top-K when K < 5)."""
  k = min(5, logits.shape[-1])
  _, top = jax.lax.top_k(logits, k)
  hits = top == labels[:, None]
  top1 = jnp.sum(hits[:, 0] * mask)
  top5 = jnp.sum(jnp.any(hits, axis=-1) * mask)
  return jnp.stack([top1, top5]).astype(jnp.float32)


def accuracy_percent(hits: np.ndarray, count: int) -> dict[str, float]:
  """``{'top1', 'top5'}`` in percent from summed ``topk_hits`` over ``count`` examples."""
  if count <= 0:
    raise ValueError('no examples were evaluated (empty split)')
  return {'top1': 100.0 * float(hits[0]) / count, 'top5': 100.0 * float(hits[1]) / count}
