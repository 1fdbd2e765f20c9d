"""MLKD's class- and batch-level terms and confidence masks (Jin et al. 2023).

These terms couple the samples of a batch: they take ``[B, K]`` logits and return
scalars, so they are batch-level by nature (``vmap`` over samples does not apply).
The full released combination is :func:`kdjax.losses.mlkd`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from kdjax import temperature as temperature_lib

Array = jax.Array
ArrayLike = Any


def _batch_pair(student_logits: ArrayLike, teacher_logits: ArrayLike) -> tuple[Array, Array]:
  student_logits, teacher_logits = temperature_lib.check_pair(student_logits, teacher_logits)
  if student_logits.ndim != 2:
    raise ValueError(
        "MLKD's class/batch terms act on a batch of logits [B, K]; got shape "
        f"{student_logits.shape}. Reshape to [batch, num_classes].")
  return student_logits, teacher_logits


def _probabilities(logits: Array, temperature: ArrayLike) -> Array:
  """``softmax(logits / T)``; ``T`` is a scalar or a per-example ``[B]`` array."""
  temperature = jnp.asarray(temperature, logits.dtype)
  if temperature.ndim == 1:
    temperature = temperature[:, None]
  return jax.nn.softmax(logits / temperature, axis=-1)


def class_consistency(student_logits: ArrayLike, teacher_logits: ArrayLike, *,
                      temperature: ArrayLike, class_weights: ArrayLike | None = None) -> Array:
  """Class-level consistency ``cc`` (MLKD, Jin et al. 2023).

  With ``P = softmax(logits / T)`` of shape ``[B, K]``:
  ``cc = sum_{k,l} w_l (P_t^T P_t - P_s^T P_s)_{kl}^2 / K`` (``w = 1`` unless
  ``class_weights`` ``[K]`` is given: the per-class masking option). No ``T^2``
  factor, never standardised (as released).

  Returns:
    A scalar.
  """
  student_logits, teacher_logits = _batch_pair(student_logits, teacher_logits)
  p_s = _probabilities(student_logits, temperature)
  p_t = _probabilities(teacher_logits, temperature)
  squared = jnp.square(p_t.T @ p_t - p_s.T @ p_s)
  if class_weights is not None:
    squared = squared * jnp.asarray(class_weights, squared.dtype)
  return jnp.sum(squared) / student_logits.shape[-1]


def batch_consistency(student_logits: ArrayLike, teacher_logits: ArrayLike, *,
                      temperature: ArrayLike, sample_weights: ArrayLike | None = None) -> Array:
  """Batch-level consistency ``bc`` (MLKD, Jin et al. 2023).

  With ``P = softmax(logits / T)`` of shape ``[B, K]``:
  ``bc = sum_{i,j} w_j (P_t P_t^T - P_s P_s^T)_{ij}^2 / B`` (``w = 1`` unless
  ``sample_weights`` ``[B]`` is given: the per-sample masking option). No ``T^2``
  factor, never standardised (as released).

  Returns:
    A scalar.
  """
  student_logits, teacher_logits = _batch_pair(student_logits, teacher_logits)
  p_s = _probabilities(student_logits, temperature)
  p_t = _probabilities(teacher_logits, temperature)
  squared = jnp.square(p_t @ p_t.T - p_s @ p_s.T)
  if sample_weights is not None:
    squared = squared * jnp.asarray(sample_weights, squared.dtype)
  return jnp.sum(squared) / student_logits.shape[0]


def confidence_masks(teacher_logits: ArrayLike) -> tuple[Array, Array]:
  """MLKD's confidence masks from the weak-view teacher at ``T = 1`` (as released).

  Selected samples: max-probability ``<=`` its batch median; selected classes:
  summed probability over the batch ``<=`` its median over classes (medians as
  ``numpy.percentile(., 50)``, linear interpolation). Both masks are constants.

  Args:
    teacher_logits: ``[B, K]`` weak-view teacher logits.

  Returns:
    ``(sample_mask [B], class_mask [K])`` as 0/1 floats.
  """
  teacher_logits = temperature_lib.check_logits("teacher_logits", teacher_logits)
  if teacher_logits.ndim != 2:
    raise ValueError(f"teacher_logits must be [B, K]; got shape {teacher_logits.shape}.")
  teacher_logits = teacher_logits.astype(temperature_lib.compute_dtype(teacher_logits))
  probabilities = jax.lax.stop_gradient(jax.nn.softmax(teacher_logits, axis=-1))
  confidence = jnp.max(probabilities, axis=-1)
  class_confidence = jnp.sum(probabilities, axis=0)
  sample_mask = confidence <= jnp.percentile(confidence, 50.0)
  class_mask = class_confidence <= jnp.percentile(class_confidence, 50.0)
  return sample_mask.astype(teacher_logits.dtype), class_mask.astype(teacher_logits.dtype)
