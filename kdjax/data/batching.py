"""Reproducible, resumable batching and per-example randomness.

Everything random is a pure function of `(seed, epoch, step, index in the
global batch)`: the epoch's order comes from `epoch_permutation(seed, epoch, n)`
and each example's augmentation key from `example_keys(seed, epoch, step, B)`.
A run restarted at any step therefore sees the same batches and the same
augmentations, whatever the number of devices the global batch is split over.
"""

from __future__ import annotations

import operator

import jax
import jax.numpy as jnp
import numpy as np


def epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
  """The order in which epoch `epoch` visits the examples.

  Args:
    seed: run seed (non-negative integer).
    epoch: epoch number (non-negative integer; any numbering, used as given).
    num_examples: dataset size.

  Returns:
    int32 `[num_examples]` permutation drawn by `np.random.default_rng((seed, epoch))`.
  """
  seed, epoch, num_examples = (_non_negative(v, n) for v, n in (
      (seed, 'seed'), (epoch, 'epoch'), (num_examples, 'num_examples')))
  rng = np.random.default_rng((seed, epoch))
  return rng.permutation(num_examples).astype(np.int32)


def num_batches(num_examples: int, batch_size: int, drop_remainder: bool = False) -> int:
  """Steps per epoch: `ceil(N / B)`, or `floor(N / B)` with `drop_remainder`.

  CIFAR-100 at batch 64 keeps the last partial batch: 782 steps, the last of 16.
  """
  num_examples = _non_negative(num_examples, 'num_examples')
  batch_size = _non_negative(batch_size, 'batch_size')
  if batch_size == 0:
    raise ValueError('batch_size must be positive, got 0.')
  if drop_remainder:
    return num_examples // batch_size
  return -(-num_examples // batch_size)


def batch_indices(perm: np.ndarray, step: int, batch_size: int) -> np.ndarray:
  """The example indices of batch `step` of an epoch ordered by `perm`.

  Args:
    perm: the epoch's permutation (from `epoch_permutation`).
    step: batch number within the epoch, `0 <= step < num_batches(len(perm), B)`.
    batch_size: global batch size `B`.

  Returns:
    `perm[step * B:(step + 1) * B]`: `B` indices, fewer for the last batch.
  """
  step = _non_negative(step, 'step')
  steps = num_batches(len(perm), batch_size)
  if step >= steps:
    raise IndexError(
        f'step {step} is past the end of the epoch: {len(perm)} examples at batch '
        f'{batch_size} give {steps} steps (0..{steps - 1}).')
  return perm[step * batch_size:(step + 1) * batch_size]


def example_keys(seed, epoch, step, batch_size: int) -> jax.Array:
  """One PRNG key per example of a global batch (jittable).

  `key_i = fold_in(fold_in(fold_in(key(seed), epoch), step), i)` for the example
  at position `i` of the global batch, so an example's key does not depend on
  how the batch is split over devices or on the batch's other examples.

  Args:
    seed, epoch, step: integers or traced integer scalars.
    batch_size: static global batch size `B`.

  Returns:
    Typed PRNG keys, shape `[B]` (`jax.random.key_data` gives raw uint32).
  """
  batch_size = operator.index(batch_size)
  if batch_size < 1:
    raise ValueError(f'batch_size must be positive, got {batch_size}.')
  key = jax.random.key(seed)
  key = jax.random.fold_in(jax.random.fold_in(key, epoch), step)
  return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(
      key, jnp.arange(batch_size, dtype=jnp.uint32))


def _non_negative(value, name: str) -> int:
  try:
    value = operator.index(value)
  except TypeError as err:
    raise TypeError(f'{name} must be an integer, got {value!r}.') from err
  if value < 0:
    raise ValueError(f'{name} must be non-negative, got {value}.')
  return value
