"""Logit-based distillation losses: KD, DKD, MLKD, TTM/WTTM, DIST and cross-entropy.

Conventions (as optax losses): class axis last, any leading batch shape,
per-example outputs of shape ``logits.shape[:-1]`` (averaging is the caller's),
keyword-only hyperparameters, pure functions. Inputs are computed in float32 or
the wider input dtype (bfloat16 is upcast). Teacher logits are expected to be
constants: the trainer applies ``jax.lax.stop_gradient`` to them.

A temperature is an argument: a scalar or a per-example array broadcastable to
``logits.shape[:-1]``, so every policy of :mod:`kdjax.temperature` feeds every
loss. The published combinations are calls (``Z = temperature.zscore``):

  ==================  ==========================================================
  KD                  ``kd(z, v, temperature=4)``
  KD+LS               ``kd(Z(z), Z(v), temperature=2)``
  CTKD (+LS)          ``kd(z, v, temperature=T)`` (``kd(Z(z), Z(v), ...)``),
                      ``T = GlobalTemperature().apply(vars, lambda_)``
  DKD                 ``dkd(z, v, y, alpha=1, beta=8, temperature=4)``
  DKD+LS              ``dkd(Z(z), Z(v), y, alpha=9, beta=8 * 9, temperature=2)``
  MLKD (+LS)          ``mlkd(..., temperature=4, standardize=False)`` (``2, True``)
  TTM / WTTM          ``ttm(z, v, gamma=0.1)`` / ``wttm(z, v, gamma=0.1)``
  DIST                ``dist(z, v, beta=1, gamma=1, temperature=4)`` (a batch scalar)
  zKD+max-logit       ``kd(Z(z), Z(v), temperature=max_logit(z, v))``
  zDKD+max-logit      ``dkd(Z(z), Z(v), y, ..., temperature=max_logit(z, v))``
  ==================  ==========================================================

For TTM/WTTM a temperature ``T`` enters as ``gamma = 1 / T``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from kdjax import mlkd as mlkd_lib
from kdjax import temperature as temperature_lib

Array = jax.Array
ArrayLike = Any

NCKD_MASK = 1000.0  # DKD's reference subtracts 1000 * onehot AFTER dividing by T.
MLKD_EXTRA_TEMPERATURES = (3.0, 5.0, 2.0, 6.0)  # TS = [T0, 3, 5, 2, 6] (released MLKD)
MLKD_MASKINGS = ("released", "per_sample")
DIST_EPS = 1e-8  # DIST's cosine-similarity eps (zkxufo/TTM distiller_zoo/dist.py)


class NonFiniteError(ValueError):
  """An input or a loss holds NaN or inf."""


# ----------------------------------------------------------------------------- helpers


def _per_example(name: str, value: ArrayLike, batch_shape: tuple[int, ...], dtype) -> Array:
  """``value`` as an array broadcastable to ``batch_shape`` (scalar or per-example)."""
  value = jnp.asarray(value)
  try:
    broadcast = jnp.broadcast_shapes(value.shape, batch_shape)
  except ValueError:
    broadcast = None
  if broadcast != tuple(batch_shape):
    raise ValueError(
        f"{name} of shape {value.shape} must be a scalar or broadcastable to the "
        f"per-example shape logits.shape[:-1] = {tuple(batch_shape)}.")
  return value.astype(dtype)


def _check_labels(labels: ArrayLike, batch_shape: tuple[int, ...]) -> Array:
  labels = jnp.asarray(labels)
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise ValueError(f"labels must be integer class indices; got dtype {labels.dtype}.")
  if labels.shape != tuple(batch_shape):
    raise ValueError(
        f"labels of shape {labels.shape} must have the per-example shape "
        f"logits.shape[:-1] = {tuple(batch_shape)}.")
  return labels


def _kl(log_p: Array, log_q: Array) -> Array:
  """``KL(p || q) = sum_k p_k (log p_k - log q_k)`` from finite log-probabilities.

  ``p_k = 0`` (underflow) contributes exactly 0, as ``0 * log 0 = 0``.
  """
  return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)


def _temperatures(student_logits, temperature, teacher_temperature, loss_scale):
  """Per-example student/teacher temperatures and loss scale (default ``T_student^2``)."""
  batch_shape, dtype = student_logits.shape[:-1], student_logits.dtype
  t_student = _per_example("temperature", temperature, batch_shape, dtype)
  t_teacher = t_student if teacher_temperature is None else _per_example(
      "teacher_temperature", teacher_temperature, batch_shape, dtype)
  scale = jnp.square(t_student) if loss_scale is None else _per_example(
      "loss_scale", loss_scale, batch_shape, dtype)
  return t_student, t_teacher, scale


# ----------------------------------------------------------------------------- CE and KD


def cross_entropy(logits: ArrayLike, labels: ArrayLike) -> Array:
  """Softmax cross-entropy with integer labels: ``-log softmax(logits)[y]``.

  Args:
    logits: ``[..., K]`` logits.
    labels: ``[...]`` integer labels in ``[0, K)`` (see :func:`check_labels`).

  Returns:
    ``[...]`` per-example losses.
  """
  logits = temperature_lib.check_logits("logits", logits)
  logits = logits.astype(temperature_lib.compute_dtype(logits))
  labels = _check_labels(labels, logits.shape[:-1])
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]


def soft_cross_entropy(logits: ArrayLike, targets: ArrayLike) -> Array:
  """Softmax cross-entropy with a distribution per example: ``-sum_k t_k log softmax(z)_k``.

  ``optax.softmax_cross_entropy``'s convention: the loss of Mixup/CutMix and label-smoothed
  targets (timm ``SoftTargetCrossEntropy``); one-hot targets give :func:`cross_entropy`.

  Args:
    logits: ``[..., K]`` logits.
    targets: ``[..., K]`` class probabilities (rows summing to 1).

  Returns:
    ``[...]`` per-example losses.
  """
  logits = temperature_lib.check_logits("logits", logits)
  logits = logits.astype(temperature_lib.compute_dtype(logits))
  targets = jnp.asarray(targets)
  if targets.shape != logits.shape or not jnp.issubdtype(targets.dtype, jnp.floating):
    raise ValueError(
        f"targets must be float class probabilities of the logits' shape {logits.shape}; got "
        f"{targets.dtype} {targets.shape} (integer labels: use cross_entropy).")
  return -jnp.sum(targets.astype(logits.dtype) * jax.nn.log_softmax(logits, axis=-1), axis=-1)


def kd(student_logits: ArrayLike, teacher_logits: ArrayLike, *, temperature: ArrayLike,
       teacher_temperature: ArrayLike | None = None, loss_scale: ArrayLike | None = None) -> Array:
  """Vanilla KD (Hinton et al. 2015).

  ``kd = T^2 * KL(softmax(v / T) || softmax(z / T))`` per example. ``T`` carries
  gradient through both ``1/T`` and ``T^2`` (CTKD). With
  ``teacher_temperature`` the teacher uses its own temperature and ``loss_scale``
  replaces ``T^2``; LS is then the call
  ``kd(z, v, temperature=tau*(eps+std(z)), teacher_temperature=tau*(eps+std(v)), loss_scale=tau**2)``.

  Args:
    student_logits: ``[..., K]`` student logits ``z``.
    teacher_logits: ``[..., K]`` teacher logits ``v``.
    temperature: ``T``, scalar or per-example (broadcastable to ``[...]``).
    teacher_temperature: the teacher's temperature (default: ``temperature``).
    loss_scale: multiplier of the KL (default: ``temperature ** 2``).

  Returns:
    ``[...]`` per-example losses.
  """
  z, v = temperature_lib.check_pair(student_logits, teacher_logits)
  t_student, t_teacher, scale = _temperatures(z, temperature, teacher_temperature, loss_scale)
  log_p_teacher = jax.nn.log_softmax(v / t_teacher[..., None], axis=-1)
  log_p_student = jax.nn.log_softmax(z / t_student[..., None], axis=-1)
  return scale * _kl(log_p_teacher, log_p_student)


# ----------------------------------------------------------------------------- DKD


def _dkd_terms(student_logits, teacher_logits, labels, temperature, teacher_temperature,
               loss_scale) -> tuple[Array, Array]:
  """Returns per-example ``(TCKD, NCKD)`` of DKD (Zhao et al. 2022)."""
  z, v = temperature_lib.check_pair(student_logits, teacher_logits, min_classes=2)
  labels = _check_labels(labels, z.shape[:-1])
  t_student, t_teacher, scale = _temperatures(z, temperature, teacher_temperature, loss_scale)
  target = jax.nn.one_hot(labels, z.shape[-1], dtype=jnp.bool_)
  z, v = z / t_student[..., None], v / t_teacher[..., None]

  def binary_log_masses(scaled_logits):
    # log b = [log sum_k p G, log sum_k p (1-G)]: the reference's plain log of the
    # masses, evaluated stably (finite where the reference's log(0) gives -inf).
    log_p = jax.nn.log_softmax(scaled_logits, axis=-1)
    return jnp.stack([jax.nn.logsumexp(log_p, axis=-1, where=target),
                      jax.nn.logsumexp(log_p, axis=-1, where=~target)], axis=-1)

  tckd = scale * _kl(binary_log_masses(v), binary_log_masses(z))
  masked = NCKD_MASK * target.astype(z.dtype)
  nckd = scale * _kl(jax.nn.log_softmax(v - masked, axis=-1),
                     jax.nn.log_softmax(z - masked, axis=-1))
  return tckd, nckd


def tckd(student_logits: ArrayLike, teacher_logits: ArrayLike, labels: ArrayLike, *,
         temperature: ArrayLike, teacher_temperature: ArrayLike | None = None,
         loss_scale: ArrayLike | None = None) -> Array:
  """Target-class KD of DKD (Zhao et al. 2022).

  ``TCKD = T^2 * KL(b_t || b_s)`` with ``b = [p_target, 1 - p_target]`` of
  ``p = softmax(logits / T)``. Arguments as :func:`dkd`; returns ``[...]``.
  """
  return _dkd_terms(student_logits, teacher_logits, labels, temperature,
                    teacher_temperature, loss_scale)[0]


def nckd(student_logits: ArrayLike, teacher_logits: ArrayLike, labels: ArrayLike, *,
         temperature: ArrayLike, teacher_temperature: ArrayLike | None = None,
         loss_scale: ArrayLike | None = None) -> Array:
  """Non-target-class KD of DKD (Zhao et al. 2022).

  ``NCKD = T^2 * KL(softmax(v/T - 1000 G) || softmax(z/T - 1000 G))`` with ``G``
  the one-hot label (1000 subtracted after dividing by ``T``, as the reference):
  the KL of the renormalised non-target distributions. With ``K = 2`` the
  non-target distribution is a single class and NCKD is 0 (finite, not NaN).
  Arguments as :func:`dkd`; returns ``[...]``.
  """
  return _dkd_terms(student_logits, teacher_logits, labels, temperature,
                    teacher_temperature, loss_scale)[1]


def dkd(student_logits: ArrayLike, teacher_logits: ArrayLike, labels: ArrayLike, *,
        alpha: ArrayLike, beta: ArrayLike, temperature: ArrayLike,
        teacher_temperature: ArrayLike | None = None,
        loss_scale: ArrayLike | None = None) -> Array:
  """Decoupled KD (Zhao et al. 2022).

  ``dkd = alpha * TCKD + beta * NCKD`` (see :func:`tckd`, :func:`nckd`). The
  identity ``KL(p_t||p_s) = KL(b_t||b_s) + p_t,nontarget * KL(p^_t||p^_s)``
  holds without the ``T^2`` factors. DKD's warm-up ``min(epoch/20, 1)``
  is the caller's.

  Args:
    student_logits: ``[..., K]`` student logits, ``K >= 2``.
    teacher_logits: ``[..., K]`` teacher logits.
    labels: ``[...]`` integer labels.
    alpha: weight of TCKD.
    beta: weight of NCKD.
    temperature: ``T``, scalar or per-example.
    teacher_temperature: the teacher's temperature (default: ``temperature``).
    loss_scale: multiplier replacing ``T^2`` (default: ``temperature ** 2``).

  Returns:
    ``[...]`` per-example losses.
  """
  tckd_value, nckd_value = _dkd_terms(student_logits, teacher_logits, labels, temperature,
                                      teacher_temperature, loss_scale)
  return alpha * tckd_value + beta * nckd_value


# ----------------------------------------------------------------------------- TTM / WTTM


def _ttm_terms(student_logits, teacher_logits, gamma) -> tuple[Array, Array]:
  """Per-example ``(KL(p~ || softmax(z)), log U)`` (Zheng & Yang 2024, Eq. 9)."""
  z, v = temperature_lib.check_pair(student_logits, teacher_logits)
  gamma = _per_example("gamma", gamma, z.shape[:-1], z.dtype)
  powered = gamma[..., None] * jax.nn.log_softmax(v, axis=-1)   # log(softmax(v)^gamma)
  log_u = jax.nn.logsumexp(powered, axis=-1)                      # log U
  log_p_tilde = powered - log_u[..., None]                        # == log_softmax(gamma v)
  return _kl(log_p_tilde, jax.nn.log_softmax(z, axis=-1)), log_u


def ttm(student_logits: ArrayLike, teacher_logits: ArrayLike, *, gamma: ArrayLike) -> Array:
  """Transformed teacher matching (Zheng & Yang 2024).

  ``ttm = KL(p~ || softmax(z))`` with ``p~ = softmax(v)^gamma / U == softmax(gamma v)``
  (Eq. 9), ``gamma = 1/T``. No temperature on the student, no ``T^2``.

  Args:
    student_logits: ``[..., K]`` student logits.
    teacher_logits: ``[..., K]`` teacher logits.
    gamma: power exponent ``1/T``, scalar or per-example.

  Returns:
    ``[...]`` per-example losses.
  """
  return _ttm_terms(student_logits, teacher_logits, gamma)[0]


def wttm(student_logits: ArrayLike, teacher_logits: ArrayLike, *, gamma: ArrayLike) -> Array:
  """Weighted TTM (Zheng & Yang 2024).

  ``wttm = U * KL(p~ || softmax(z))`` with the power sum
  ``U = sum_k softmax(v)_k^gamma`` computed as ``exp(logsumexp(gamma * log_softmax(v)))``;
  ``1 <= U <= K^(1-gamma)``. Arguments and result as :func:`ttm`.
  """
  kl, log_u = _ttm_terms(student_logits, teacher_logits, gamma)
  return jnp.exp(log_u) * kl


# ----------------------------------------------------------------------------- DIST


def _centered_cosine(a: Array, b: Array) -> Array:
  """Pearson correlation over the last axis as DIST computes it: ``cos(a - a_bar, b - b_bar)``.

  ``sum(a' b') / (||a'|| ||b'|| + DIST_EPS)``; the norms have a zero (not NaN)
  gradient at 0, where the value is 0 as in the reference.
  """
  a = a - jnp.mean(a, axis=-1, keepdims=True)
  b = b - jnp.mean(b, axis=-1, keepdims=True)

  def norm(x):
    squared = jnp.sum(jnp.square(x), axis=-1)
    positive = squared > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)

  return jnp.sum(a * b, axis=-1) / (norm(a) * norm(b) + DIST_EPS)


def dist(student_logits: ArrayLike, teacher_logits: ArrayLike, *, beta: ArrayLike = 1.0,
         gamma: ArrayLike = 1.0, temperature: ArrayLike = 1.0) -> Array:
  """DIST (Huang, You, Wang, Qian, Xu, "Knowledge Distillation from A Stronger
  Teacher", NeurIPS 2022): relations instead of exact matches of predictions.

  Batch-level by nature (the intra-class term correlates each class across the
  batch): takes ``[B, K]`` logits and returns a scalar. With
  ``Y = softmax(logits / tau)`` (``[B, K]``) and
  ``rho(a, b) = sum(a' b') / (||a'|| ||b'|| + 1e-8)``, ``a' = a - mean(a)``::

    inter = tau^2 * (1 - mean_b rho(Y_s[b, :], Y_t[b, :]))   (per sample, over classes)
    intra = tau^2 * (1 - mean_k rho(Y_s[:, k], Y_t[:, k]))   (per class, over the batch)
    dist  = beta * inter + gamma * intra

  Matches zkxufo/TTM ``distiller_zoo/dist.py`` (``DIST``; the eps 1e-8 sits in
  its ``cosine_similarity`` denominator, both terms are means). 0 when the
  student's and teacher's softened predictions are equal (up to the eps).
  The TTM repository's CIFAR default is ``tau = 4`` (``--dist_tau``).

  Args:
    student_logits: ``[B, K]`` student logits.
    teacher_logits: ``[B, K]`` teacher logits.
    beta: weight of the inter-class term.
    gamma: weight of the intra-class term.
    temperature: ``tau``, a scalar (the ``tau^2`` scales batch means).

  Returns:
    Scalar loss.
  """
  z, v = temperature_lib.check_pair(student_logits, teacher_logits)
  if z.ndim != 2:
    raise ValueError(
        f"dist couples the batch (intra-class relation): logits must be [batch, num_classes]; "
        f"got shape {z.shape}. Flatten leading axes into the batch axis.")
  if jnp.ndim(temperature) != 0:
    raise ValueError(
        f"dist's temperature must be a scalar (tau^2 scales batch means); got shape "
        f"{jnp.shape(temperature)}.")
  tau = jnp.asarray(temperature, z.dtype)
  y_s, y_t = jax.nn.softmax(z / tau, axis=-1), jax.nn.softmax(v / tau, axis=-1)
  inter = jnp.square(tau) * (1.0 - jnp.mean(_centered_cosine(y_s, y_t)))
  intra = jnp.square(tau) * (1.0 - jnp.mean(_centered_cosine(y_s.T, y_t.T)))
  return beta * inter + gamma * intra


# ----------------------------------------------------------------------------- MLKD


def mlkd(student_weak: ArrayLike, student_strong: ArrayLike, teacher_weak: ArrayLike,
         teacher_strong: ArrayLike, labels: ArrayLike, *, temperature: ArrayLike,
         ce_weight: float, kd_weight: float, standardize: bool, masking: str = "released",
         ddof: int = 1, eps: float = 1e-7) -> dict[str, Array]:
  """Multi-level logit distillation as released (Jin et al. 2023).

  Batch-level by nature (class/batch consistency and the confidence medians
  couple the samples): takes ``[B, K]`` logits and returns scalars. With
  ``TS = [T0, 3, 5, 2, 6]``, ``w = kd_weight``, ``inst = mean_batch kd`` (on
  z-scored logits if ``standardize``), fractions ``f_s, f_c`` of selected
  samples / classes (:func:`kdjax.mlkd.confidence_masks`):

    ce = ce_weight * (CE(z_w) + CE(z_s))
    kd = sum_T w inst(z_w, v_w; T) f_s
         + w [inst(z_s,v_s;T0) + inst(z_s,v_s;3) + inst(z_s,v_s;5) + inst(z_w,v_w;2) + inst(z_w,v_w;6)]
    cc = sum_T w cc(z_w, v_w; T) f_c,   bc = sum_T w bc(z_w, v_w; T) f_s

  The last two strong terms use the weak view and the released code reduces
  each term to a scalar before multiplying by the mask (hence ``f``): both
  quirks are kept, the published numbers come from them.
  ``masking="per_sample"`` is the paper's intended masking instead: the weak
  instance term averages ``mask_i * kd_i`` over the batch, and cc/bc weight
  each class / sample column by its mask.

  Args:
    student_weak, student_strong, teacher_weak, teacher_strong: ``[B, K]`` logits.
    labels: ``[B]`` integer labels.
    temperature: ``T0``, a scalar or per-example ``[B]`` (e.g. max-logit).
    ce_weight: CE weight (0.1).
    kd_weight: weight ``w`` of every distillation term (0.9; 9 with LS).
    standardize: z-score the instance-level term's logits (LS; cc/bc never).
    masking: ``"released"`` (default) or ``"per_sample"``.
    ddof, eps: z-score options (as :func:`kdjax.temperature.zscore`).

  Returns:
    ``{"ce", "kd", "cc", "bc"}`` scalars; their sum is the loss.
  """
  if masking not in MLKD_MASKINGS:
    raise ValueError(f"masking must be one of {MLKD_MASKINGS}; got {masking!r}.")
  shapes = {name: jnp.shape(x) for name, x in [("student_weak", student_weak),
                                               ("student_strong", student_strong),
                                               ("teacher_weak", teacher_weak),
                                               ("teacher_strong", teacher_strong)]}
  if len(set(shapes.values())) != 1 or len(shapes["student_weak"]) != 2:
    raise ValueError(f"MLKD needs four [B, K] logit arrays of one shape; got {shapes}.")
  labels = _check_labels(labels, shapes["student_weak"][:1])

  def prepare(logits):
    return temperature_lib.zscore(logits, ddof=ddof, eps=eps) if standardize else logits

  def instance(student, teacher, t, mask=None):
    per_example = kd(prepare(student), prepare(teacher), temperature=t)
    return jnp.mean(per_example if mask is None else per_example * mask)

  sample_mask, class_mask = mlkd_lib.confidence_masks(teacher_weak)
  frac_samples, frac_classes = jnp.mean(sample_mask), jnp.mean(class_mask)
  t0 = temperature
  t3, t5, t2, t6 = MLKD_EXTRA_TEMPERATURES
  ce = ce_weight * (jnp.mean(cross_entropy(student_weak, labels))
                    + jnp.mean(cross_entropy(student_strong, labels)))
  kd_weak = cc = bc = 0.0
  for t in (t0, t3, t5, t2, t6):
    if masking == "released":
      kd_weak += kd_weight * instance(student_weak, teacher_weak, t) * frac_samples
      cc += kd_weight * mlkd_lib.class_consistency(
          student_weak, teacher_weak, temperature=t) * frac_classes
      bc += kd_weight * mlkd_lib.batch_consistency(
          student_weak, teacher_weak, temperature=t) * frac_samples
    else:
      kd_weak += kd_weight * instance(student_weak, teacher_weak, t, sample_mask)
      cc += kd_weight * mlkd_lib.class_consistency(
          student_weak, teacher_weak, temperature=t, class_weights=class_mask)
      bc += kd_weight * mlkd_lib.batch_consistency(
          student_weak, teacher_weak, temperature=t, sample_weights=sample_mask)
  kd_strong = kd_weight * (instance(student_strong, teacher_strong, t0)
                           + instance(student_strong, teacher_strong, t3)
                           + instance(student_strong, teacher_strong, t5)
                           + instance(student_weak, teacher_weak, t2)
                           + instance(student_weak, teacher_weak, t6))
  return {"ce": ce, "kd": kd_weak + kd_strong, "cc": cc, "bc": bc}


# ----------------------------------------------------------------------------- input checks


def all_finite(*arrays: ArrayLike) -> Array:
  """Scalar bool: every entry of every array is finite. Jittable, no host sync."""
  leaves = jax.tree_util.tree_leaves(arrays)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def check_finite(**arrays: ArrayLike) -> None:
  """Host-side check for the trainer: raises :class:`NonFiniteError` naming non-finite inputs.

  Call it outside ``jit`` (it syncs with the device), e.g. on the logits or the
  step's metrics at logging time: ``check_finite(loss=metrics["loss"])``.
  """
  bad = {}
  for name, value in arrays.items():
    value = np.asarray(value, dtype=np.float64)
    count = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
    if count:
      bad[name] = f"{count} of {np.size(value)} entries NaN/inf"
  if bad:
    raise NonFiniteError(
        f"non-finite values: {bad}. The losses are finite for finite logits, so "
        "look upstream: the model's forward pass, the learning rate, or the input data.")


def check_labels(labels: ArrayLike, num_classes: int) -> None:
  """Host-side check: integer labels in ``[0, num_classes)`` (else ``ValueError``)."""
  labels = np.asarray(labels)
  if not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"labels must be integers; got dtype {labels.dtype}.")
  if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    raise ValueError(
        f"labels must lie in [0, {num_classes}); got min {labels.min()}, max {labels.max()}.")
