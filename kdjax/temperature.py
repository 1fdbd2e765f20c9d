"""Temperature policies for logit-based distillation: logit standardization (Sun et al. 2024),
CTKD (Li et al. 2023) and the max-logit temperature (Matsuyama et al. 2025).

Every policy returns a temperature: a scalar or a per-example array of shape
``logits.shape[:-1]``. Every loss in :mod:`kdjax.losses` takes such a
temperature, so any policy feeds any base loss (as the LS and max-logit papers combine them):

  =====================  =====================================================
  policy                 call
  =====================  =====================================================
  fixed T                ``T = 4.0``
  LS (z-score, base T)   ``z, v = zscore(z), zscore(v)`` then ``T = tau``
  CTKD global            ``T = GlobalTemperature().apply(variables, lambda_)``
  CTKD instance-wise     ``T = InstanceTemperature().apply(variables, z, v, lambda_)``
  max-logit (seed 000)   ``z, v = zscore(z), zscore(v)``; ``T = max_logit(z_raw, v_raw)``
  TTM power transform    ``gamma = 1 / T`` (see ``kdjax.losses.ttm``)
  =====================  =====================================================

All functions take logits with the class axis last and any leading batch shape,
compute in at least float32 and are pure (usable under ``jit``/``grad``/``vmap``).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
ArrayLike = Any

_SQRT3_FACTOR = (1.0 + math.sqrt(3.0)) / 2.0  # Taylor radius of convergence, order 2


def compute_dtype(*arrays: ArrayLike) -> jnp.dtype:
  """The dtype losses compute in: float32, or the widest floating input dtype if wider."""
  dtypes = [jnp.asarray(a).dtype for a in arrays]
  return jnp.result_type(jnp.float32, *[d for d in dtypes if jnp.issubdtype(d, jnp.floating)])


def check_logits(name: str, logits: ArrayLike, *, min_classes: int = 1) -> Array:
  """Returns ``logits`` as a floating array of rank >= 1, or raises ``ValueError``."""
  logits = jnp.asarray(logits)
  if logits.ndim == 0:
    raise ValueError(
        f"{name} must have a class axis (rank >= 1, classes last); got a scalar. "
        "Pass logits of shape [..., num_classes].")
  if not jnp.issubdtype(logits.dtype, jnp.floating):
    raise ValueError(f"{name} must be floating point; got dtype {logits.dtype}.")
  if logits.shape[-1] < min_classes:
    raise ValueError(
        f"{name} needs at least {min_classes} classes on its last axis; got shape "
        f"{logits.shape}.")
  return logits


def check_pair(student_logits: ArrayLike, teacher_logits: ArrayLike,
               *, min_classes: int = 1) -> tuple[Array, Array]:
  """Checks a (student, teacher) pair: rank >= 1 and equal shapes; casts both to the compute dtype."""
  student_logits = check_logits("student_logits", student_logits, min_classes=min_classes)
  teacher_logits = check_logits("teacher_logits", teacher_logits, min_classes=min_classes)
  if student_logits.shape != teacher_logits.shape:
    raise ValueError(
        f"student_logits {student_logits.shape} and teacher_logits "
        f"{teacher_logits.shape} must have the same shape [..., num_classes].")
  dtype = compute_dtype(student_logits, teacher_logits)
  return student_logits.astype(dtype), teacher_logits.astype(dtype)


def _safe_std(x: Array, *, ddof: int) -> Array:
  """Standard deviation over the last axis with a finite gradient at zero variance."""
  k = x.shape[-1]
  centred = x - jnp.mean(x, axis=-1, keepdims=True)
  var = jnp.sum(jnp.square(centred), axis=-1, keepdims=True) / (k - ddof)
  positive = var > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, var, 1.0)), 0.0)


def zscore(logits: ArrayLike, *, ddof: int = 1, eps: float = 1e-7, center: bool = True,
           scale: bool = True) -> Array:
  """Logit standardisation "LS" (Sun et al. 2024, Algorithm 1).

  ``Z(x) = (x - mean(x)) / (eps + std(x))`` over the class axis. The released
  code (which produced the published numbers) uses the unbiased ``std``
  (``ddof=1``); the paper's Algorithm 1 writes the biased one (``ddof=0``).
  Gradients flow through the mean and std; the std has a finite (zero)
  gradient for constant logits, where the result is 0.

  ``center=False`` (``x / (eps + std)``) and ``scale=False`` (``x - mean``) are
  the two partial pre-processes of the LS paper's ablation (seed 001 Table 4,
  columns "z / std" and "z - mean").

  Args:
    logits: ``[..., K]`` logits, ``K > ddof``.
    ddof: delta degrees of freedom of the standard deviation (1 = unbiased).
    eps: added to the standard deviation (keeps constant logits finite).
    center: subtract the per-sample mean.
    scale: divide by ``eps`` + the per-sample standard deviation.

  Returns:
    ``[..., K]`` standardised logits in the compute dtype (float32 or wider).
  """
  logits = check_logits("logits", logits)
  if logits.shape[-1] <= ddof:
    raise ValueError(
        f"zscore with ddof={ddof} needs more than {ddof} classes; got shape {logits.shape}.")
  logits = logits.astype(compute_dtype(logits))
  if center:
    logits_out = logits - jnp.mean(logits, axis=-1, keepdims=True)
  else:
    logits_out = logits
  if scale:
    logits_out = logits_out / (eps + _safe_std(logits, ddof=ddof))
  return logits_out


def max_logit(student_logits: ArrayLike, teacher_logits: ArrayLike, *, order: int = 2,
              teacher_only: bool = False, stop_gradient: bool = True, ddof: int = 1,
              eps: float = 1e-7, min_temperature: float = 1e-3) -> Array:
  """Per-sample max-logit temperature (Matsuyama et al. 2025, Algorithms 1-3).

  ``m = max(max_k Z(v), max_k Z(z))`` (``max_k Z(v)`` if ``teacher_only``) and
  ``tau = f_a(m)`` with ``f_1(m) = m`` and ``f_2(m) = m (1 + sqrt(3)) / 2`` (the
  radius of convergence of the order-``a`` Taylor approximation). Use it with
  z-scored logits: ``kd(zscore(z), zscore(v), temperature=max_logit(z, v))``.

  The temperature is invariant to positive affine maps of either logit vector.
  A non-constant z-scored vector has ``max >= 1/sqrt(K)``, so the floor
  ``min_temperature`` only acts on constant logits (where ``m = 0``).

  Args:
    student_logits: ``[..., K]`` raw student logits (z-scored inside).
    teacher_logits: ``[..., K]`` raw teacher logits (z-scored inside).
    order: Taylor order ``a``, 1 or 2 (default 2, as the paper).
    teacher_only: use the teacher's maximum only (the abstract's variant; it can
      be precomputed before distillation). Default: both, as Algorithm 1.
    stop_gradient: treat ``tau`` as a constant (default, as the paper).
    ddof: ``ddof`` of the z-score (default 1, as LS).
    eps: ``eps`` of the z-score (default 1e-7, as LS).
    min_temperature: lower bound on ``tau`` (constant logits only).

  Returns:
    ``[...]`` per-example temperatures, shape ``logits.shape[:-1]``.
  """
  if order not in (1, 2):
    raise ValueError(f"max_logit order must be 1 or 2; got {order!r}.")
  student_logits, teacher_logits = check_pair(student_logits, teacher_logits)
  m = jnp.max(zscore(teacher_logits, ddof=ddof, eps=eps), axis=-1)
  if not teacher_only:
    m = jnp.maximum(m, jnp.max(zscore(student_logits, ddof=ddof, eps=eps), axis=-1))
  tau = m if order == 1 else m * _SQRT3_FACTOR
  tau = jnp.maximum(tau, min_temperature)
  return jax.lax.stop_gradient(tau) if stop_gradient else tau


def logit_correlation(student_logits: ArrayLike, teacher_logits: ArrayLike) -> Array:
  """Per-sample Pearson correlation between student and teacher logits (seed 000, Fig. 1).

  ``r = sum_k (z_k - mean z)(v_k - mean v) / sqrt(sum_k (z_k - mean z)^2 sum_k (v_k - mean v)^2)``,
  equal to ``mean_k(Z0(z) Z0(v))`` with the biased (``ddof=0``) z-score and to the
  cosine similarity of z-scored logits. Constant logits give 0.

  Returns:
    ``[...]`` correlations in ``[-1, 1]``, shape ``logits.shape[:-1]``.
  """
  student_logits, teacher_logits = check_pair(student_logits, teacher_logits)
  zs = student_logits - jnp.mean(student_logits, axis=-1, keepdims=True)
  zt = teacher_logits - jnp.mean(teacher_logits, axis=-1, keepdims=True)
  norm_s = _safe_std(zs, ddof=0)[..., 0]
  norm_t = _safe_std(zt, ddof=0)[..., 0]
  covariance = jnp.mean(zs * zt, axis=-1)
  denominator = norm_s * norm_t
  return jnp.where(denominator > 0, covariance / jnp.where(denominator > 0, denominator, 1.0), 0.0)


# ----------------------------------------------------------------------------- CTKD (section 4)


@jax.custom_vjp
def gradient_reversal(x: ArrayLike, scale: ArrayLike) -> Array:
  """Gradient "reversal" layer of CTKD (Li et al. 2023).

  Identity in the forward pass; the backward pass multiplies the incoming
  gradient by ``scale``. As in the released code it does NOT negate: the
  reversal comes from ``scale = lambda <= 0``. ``scale`` gets no gradient and may
  be a traced value (a new lambda each epoch does not retrace a jitted step).
  """
  del scale
  return jnp.asarray(x)


def _gradient_reversal_fwd(x, scale):
  return jnp.asarray(x), jnp.asarray(scale)


def _gradient_reversal_bwd(scale, g):
  return (g * scale.astype(g.dtype), jnp.zeros_like(scale))


gradient_reversal.defvjp(_gradient_reversal_fwd, _gradient_reversal_bwd)


def _temperature_from_raw(raw: Array, lambda_: ArrayLike, t_start: float, t_range: float) -> Array:
  """``T = t_start + t_range * sigmoid(GRL(raw, lambda))`` (CTKD, Li et al. 2023)."""
  return t_start + t_range * jax.nn.sigmoid(gradient_reversal(raw, lambda_))


class GlobalTemperature(nn.Module):
  """CTKD's learnable global temperature (the variant of the released code).

  ``T = t_start + t_range * sigmoid(GRL(theta, lambda))`` with one scalar
  parameter ``theta`` (initialised to 1.0); with the defaults ``T`` starts at
  ``1 + 20 * sigmoid(1) = 15.6212``. Put ``theta`` in the student's optimiser
  (same SGD, schedule, momentum and weight decay as the student, as the CTKD code does).

  Attributes:
    t_start: lowest temperature.
    t_range: width of the temperature range.
    init_value: initial ``theta``.
  """
  t_start: float = 1.0
  t_range: float = 20.0
  init_value: float = 1.0

  @nn.compact
  def __call__(self, lambda_: ArrayLike) -> Array:
    """Returns the scalar temperature; ``lambda_`` scales the gradient reaching ``theta``."""
    theta = self.param("theta", nn.initializers.constant(self.init_value), (), jnp.float32)
    return _temperature_from_raw(theta, lambda_, self.t_start, self.t_range)


class InstanceTemperature(nn.Module):
  """CTKD's instance-wise temperature: a 2-layer MLP on each sample's logits.

  ``T_i = t_start + t_range * sigmoid(GRL(mlp([z_i, v_i]), lambda))``; the MLP is
  ``Dense(hidden_width) -> ReLU -> Dense(1)`` on the concatenated student and
  teacher logits. The last layer starts at zero weights and bias ``init_value``,
  so every sample starts at the global variant's initial temperature.
  The paper describes this variant but its code was never released: there are
  NO reference numbers for it.

  Attributes:
    hidden_width: width of the hidden layer.
    t_start: lowest temperature.
    t_range: width of the temperature range.
    init_value: initial pre-sigmoid output.
    stop_gradient_inputs: do not backpropagate from the MLP into the logits
      (default: the temperature module does not steer the student).
  """
  hidden_width: int = 64
  t_start: float = 1.0
  t_range: float = 20.0
  init_value: float = 1.0
  stop_gradient_inputs: bool = True

  @nn.compact
  def __call__(self, student_logits: ArrayLike, teacher_logits: ArrayLike,
               lambda_: ArrayLike) -> Array:
    """Returns per-example temperatures of shape ``logits.shape[:-1]``."""
    student_logits, teacher_logits = check_pair(student_logits, teacher_logits)
    inputs = jnp.concatenate([student_logits, teacher_logits], axis=-1)
    if self.stop_gradient_inputs:
      inputs = jax.lax.stop_gradient(inputs)
    hidden = nn.relu(nn.Dense(self.hidden_width, name="hidden")(inputs))
    raw = nn.Dense(1, kernel_init=nn.initializers.zeros,
                   bias_init=nn.initializers.constant(self.init_value), name="output")(hidden)
    return _temperature_from_raw(raw[..., 0], lambda_, self.t_start, self.t_range)


def cosine_lambda(epoch: ArrayLike, *, lambda_max: float = 0.0, lambda_min: float = -1.0,
                  num_epochs: int = 10) -> Array:
  """CTKD's cosine GRL schedule (Li et al. 2023), evaluated once per epoch (from 1).

  ``lambda(e) = l_min + (l_max - l_min) * (1 + cos(pi * min(e, N) / N)) / 2``:
  -0.0245 at epoch 1, -0.5 at 5, -1 from 10 on (defaults).
  """
  progress = jnp.clip(jnp.asarray(epoch, jnp.float32), 0, num_epochs) / num_epochs
  return lambda_min + (lambda_max - lambda_min) * (1.0 + jnp.cos(jnp.pi * progress)) / 2.0


def linear_lambda(epoch: ArrayLike, *, lambda_max: float = 0.0, lambda_min: float = -1.0,
                  num_epochs: int = 10) -> Array:
  """CTKD's linear GRL schedule: ``l_max + (l_min - l_max) * min(e, N) / N``."""
  progress = jnp.clip(jnp.asarray(epoch, jnp.float32), 0, num_epochs) / num_epochs
  return lambda_max + (lambda_min - lambda_max) * progress
