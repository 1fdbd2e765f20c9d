"""Feature-based distillation losses (FitNet, AT, RKD, PKT, OFD, VID).

Conventions (as :mod:`kdjax.losses`): pure functions, student first and teacher
second, keyword-only hyperparameters. Feature maps are NHWC ``[B, H, W, C]``;
pooled features are ``[B, D]``. Inputs are computed in float32, or the wider
input dtype (bfloat16/float16 are upcast). Teacher features are expected to be
constants: the trainer applies ``jax.lax.stop_gradient`` to them.

A loss that decomposes over examples returns per-example values of shape
``[B]`` whose batch MEAN equals the scalar of the reference implementation
(``megvii-research/mdistiller``, whose numbers the papers cite); a loss that
couples the batch (RKD, PKT) returns that scalar. Where the reference averages
over every element of the batch (MSE over ``B*H*W*C``), the per-example value
is the mean over that example's elements.

The trainable parts of these methods (FitNet's ConvReg, VID's regressors and
log-scales, OFD's connectors) are the caller's; these functions receive their
outputs. Multi-stage sums and stage weights (AT and VID sum stages, OFD halves
the weight per stage towards the input) are also the caller's.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm as jnorm

from kdjax import temperature as temperature_lib

Array = jax.Array
ArrayLike = Any

HIGHEST = jax.lax.Precision.HIGHEST  # Gram matrices and pooling in full float32 on TPU/GPU.
NORMALIZE_EPS = 1e-12   # torch.nn.functional.normalize: x / max(||x||, 1e-12)
RKD_PDIST_EPS = 1e-12   # mdistiller cfg.RKD.PDIST.EPSILON (squared distances clamped to it)
PKT_EPS = 1e-7          # pkt_loss(..., eps=1e-7)
VID_EPS = 1e-5          # cfg.VID.EPS: variance = softplus(log_scale) + 1e-5
OFD_MIN_CDF = 1e-3      # get_margin: closed form when Phi(-bias/scale) > 0.001, else -3*scale


# ----------------------------------------------------------------------------- helpers


def _floating(name: str, x: ArrayLike, *, ranks: Sequence[int], layout: str) -> Array:
  """``x`` as a floating array whose rank is in ``ranks``, or a ``ValueError``."""
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise ValueError(f"{name} must be floating point; got dtype {x.dtype}.")
  if x.ndim not in ranks:
    raise ValueError(f"{name} must be {layout}; got shape {x.shape} (rank {x.ndim}).")
  return x


def _same_batch(student: Array, teacher: Array, student_name: str = "student",
                teacher_name: str = "teacher") -> None:
  if student.shape[0] != teacher.shape[0]:
    raise ValueError(
        f"{student_name} and {teacher_name} must have the same batch size (axis 0); got "
        f"shapes {student.shape} and {teacher.shape}. Pass the two networks' features for "
        "the same examples.")


def _upcast(*arrays: Array) -> tuple[Array, ...]:
  dtype = temperature_lib.compute_dtype(*arrays)
  return tuple(a.astype(dtype) for a in arrays)


def _pool_matrix(size_in: int, size_out: int) -> np.ndarray:
  """``[size_out, size_in]`` averaging weights of PyTorch's adaptive average pooling.

  Bin ``o`` covers ``[floor(o * n / m), ceil((o + 1) * n / m))`` of the ``n`` inputs.
  """
  weights = np.zeros((size_out, size_in), np.float64)
  for o in range(size_out):
    start = (o * size_in) // size_out
    end = -((-(o + 1) * size_in) // size_out)
    weights[o, start:end] = 1.0 / (end - start)
  return weights


def adaptive_avg_pool2d(x: ArrayLike, output_size: tuple[int, int]) -> Array:
  """``torch.nn.functional.adaptive_avg_pool2d`` for NHWC ``x`` (same bins, exact weights).

  Args:
    x: ``[B, H, W, C]``.
    output_size: ``(H_out, W_out)``.

  Returns:
    ``[B, H_out, W_out, C]``; ``x`` itself when the size is unchanged.
  """
  x = _floating("x", x, ranks=(4,), layout="an NHWC feature map [B, H, W, C]")
  h_out, w_out = (int(s) for s in output_size)
  if h_out < 1 or w_out < 1:
    raise ValueError(f"output_size must be positive; got {output_size}.")
  _, h, w, _ = x.shape
  if (h, w) == (h_out, w_out):
    return x
  pool_h = jnp.asarray(_pool_matrix(h, h_out), x.dtype)
  pool_w = jnp.asarray(_pool_matrix(w, w_out), x.dtype)
  return jnp.einsum("oh,bhwc,pw->bopc", pool_h, x, pool_w, precision=HIGHEST)


def _safe_norm(x: Array, axis: int, min_norm: float) -> Array:
  """``max(||x||_2, min_norm)`` along ``axis`` (kept), with a finite gradient at ``x = 0``."""
  squared = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
  return jnp.sqrt(jnp.maximum(squared, min_norm * min_norm))


def _normalize(x: Array, axis: int = -1) -> Array:
  """``torch.nn.functional.normalize(x, dim=axis)``: ``x / max(||x||_2, 1e-12)``."""
  return x / _safe_norm(x, axis, NORMALIZE_EPS)


def _smooth_l1(x: Array, y: Array) -> Array:
  """Elementwise ``torch.nn.functional.smooth_l1_loss`` with ``beta = 1`` (Huber)."""
  diff = jnp.abs(x - y)
  return jnp.where(diff < 1.0, 0.5 * jnp.square(diff), diff - 0.5)


# ----------------------------------------------------------------------------- FitNet


def fitnet(student: ArrayLike, teacher: ArrayLike) -> Array:
  """FitNet hint loss: mean squared error to the teacher's hint feature.

  ``fitnet = mean_{h,w,c} (r(s) - t)^2`` per example, where ``student`` is the
  output ``r(s)`` of the regressor (mdistiller's ConvReg) applied to the
  student's guided layer and ``teacher`` the teacher's hint layer.

  Paper: Romero, Ballas, Kahou, Chassang, Gatta & Bengio, "FitNets: Hints for
  Thin Deep Nets", ICLR 2015, Eq. (2) (the hint loss ``1/2 ||u_h - r(v_g)||^2``;
  the implementations use the mean instead of ``1/2`` times the sum).

  Reference: ``megvii-research/mdistiller mdistiller/distillers/FitNet.py``
  (``F.mse_loss(conv_reg(f_s), f_t)``) and ``HobbitLong/RepDistiller
  distiller_zoo/FitNet.py`` (``nn.MSELoss``), identical. The batch mean of the
  result equals their scalar (mean over ``B*C*H*W``).

  Args:
    student: ``[B, ...]`` regressed student hint, e.g. NHWC ``[B, H, W, C]``.
    teacher: the teacher's hint feature, same shape.

  Returns:
    ``[B]`` per-example mean squared errors.
  """
  s = _floating("student", student, ranks=range(2, 8), layout="a batch of features [B, ...]")
  t = _floating("teacher", teacher, ranks=range(2, 8), layout="a batch of features [B, ...]")
  if s.shape != t.shape:
    raise ValueError(
        f"student {s.shape} and teacher {t.shape} must have the same shape: regress the "
        "student's feature to the teacher's shape first (mdistiller's ConvReg).")
  s, t = _upcast(s, t)
  return jnp.mean(jnp.square(s - t), axis=tuple(range(1, s.ndim)))


# ----------------------------------------------------------------------------- AT


def _attention_map(f: Array, p: ArrayLike) -> Array:
  """``normalize(mean_c |f|^p)`` flattened to ``[B, H*W]``."""
  if isinstance(p, (int, float)) and p == 2:
    powered = jnp.square(f)
  else:
    powered = jnp.abs(f) ** p
  am = jnp.mean(powered, axis=-1).reshape(f.shape[0], -1)
  return _normalize(am, axis=-1)


def attention_transfer(student: ArrayLike, teacher: ArrayLike, *, p: ArrayLike = 2.0) -> Array:
  """Attention transfer on one pair of feature maps.

  With the spatial attention map ``a(f) = vec(mean_c |f_c|^p) / ||vec(mean_c |f_c|^p)||_2``
  (``[H*W]`` per example; ``||.||`` floored at 1e-12 like ``F.normalize``):

    ``at = mean_{hw} (a(s) - a(t))^2`` per example.

  When the spatial sizes differ, the larger map is first adaptively
  average-pooled to the smaller one's size (both maps end at
  ``(min H, min W)``; pooling to the same size is the identity). Channels may
  differ: the map averages them away.

  Paper: Zagoruyko & Komodakis, "Paying More Attention to Attention: Improving
  the Performance of Convolutional Neural Networks via Attention Transfer",
  ICLR 2017, Eq. (2) with ``F^p_sum`` (Sec. 3.1). The paper's loss is
  ``beta/2 * ||a(s) - a(t)||_2`` (a norm, not squared); the implementations use
  the mean squared difference, as here (the mean over channels instead of the
  sum is irrelevant after normalisation).

  Reference: ``megvii-research/mdistiller mdistiller/distillers/AT.py``
  (``single_stage_at_loss``), same as ``HobbitLong/RepDistiller
  distiller_zoo/AT.py``. The batch mean of the result equals their scalar
  (mean over ``B*H*W``). Differences: the reference raises ``f`` to the power
  ``p`` without ``abs`` (identical for ``p = 2`` and for post-ReLU features,
  NaN there for fractional ``p`` and negative inputs); it decides which map to
  pool by the height only and pools to a square ``(H, H)``, which equals this
  for square maps.

  Args:
    student: ``[B, H_s, W_s, C_s]`` student feature map.
    teacher: ``[B, H_t, W_t, C_t]`` teacher feature map.
    p: the power ``p`` (mdistiller ``cfg.AT.P = 2``).

  Returns:
    ``[B]`` per-example losses.
  """
  s = _floating("student", student, ranks=(4,), layout="an NHWC feature map [B, H, W, C]")
  t = _floating("teacher", teacher, ranks=(4,), layout="an NHWC feature map [B, H, W, C]")
  _same_batch(s, t)
  s, t = _upcast(s, t)
  size = (min(s.shape[1], t.shape[1]), min(s.shape[2], t.shape[2]))
  s, t = adaptive_avg_pool2d(s, size), adaptive_avg_pool2d(t, size)
  return jnp.mean(jnp.square(_attention_map(s, p) - _attention_map(t, p)), axis=-1)


# ----------------------------------------------------------------------------- RKD


def _rkd_distances(e: Array) -> Array:
  """Pairwise Euclidean distances, squared distances floored at 1e-12, zero diagonal."""
  squared_norms = jnp.sum(jnp.square(e), axis=1)
  gram = jnp.matmul(e, e.T, precision=HIGHEST)
  squared = squared_norms[:, None] + squared_norms[None, :] - 2.0 * gram
  distances = jnp.sqrt(jnp.maximum(squared, RKD_PDIST_EPS))
  return jnp.where(jnp.eye(e.shape[0], dtype=bool), 0.0, distances)


def _rkd_normalized_distances(e: Array) -> Array:
  """Distances divided by their mean over the positive entries (the off-diagonal ones)."""
  d = _rkd_distances(e)
  positive = d > 0
  mean = jnp.sum(jnp.where(positive, d, 0.0)) / jnp.sum(positive)
  return d / mean


def _rkd_angles(e: Array) -> Array:
  """``cos`` of the angle at ``e_i`` between ``e_j`` and ``e_k``: ``[B, B, B]`` (0 where j or k is i)."""
  unit = _normalize(e[None, :, :] - e[:, None, :], axis=-1)   # [i, j] = unit(e_j - e_i)
  return jnp.einsum("ijd,ikd->ijk", unit, unit, precision=HIGHEST)


def rkd(student: ArrayLike, teacher: ArrayLike, *, distance_weight: ArrayLike = 25.0,
        angle_weight: ArrayLike = 50.0) -> Array:
  """Relational KD: distance-wise plus angle-wise loss over the batch (a scalar).

  With ``psi_D(i, j) = ||e_i - e_j|| / mu`` (``mu`` the mean distance over the
  ``B(B-1)`` pairs ``i != j``, the diagonal being 0) and
  ``psi_A(i, j, k) = <u_ij, u_ik>``, ``u_ij = (e_j - e_i) / ||e_j - e_i||``
  (0 for ``j = i``), and the Huber loss ``l_1`` (smooth L1, ``beta = 1``):

    ``rkd = distance_weight * mean_{i,j} l_1(psi_D^s, psi_D^t)
          + angle_weight * mean_{i,j,k} l_1(psi_A^s, psi_A^t)``

  the means running over all ``B^2`` and ``B^3`` entries, diagonals included.
  Distances are ``sqrt(max(squared distance, 1e-12))`` from the Gram matrix,
  so they are never 0 off the diagonal (identical examples sit at 1e-6).

  Paper: Park, Kim, Lu & Cho, "Relational Knowledge Distillation", CVPR 2019,
  Eqs. (3)-(5) (distance-wise), (6) (Huber), (7)-(8) (angle-wise); weights
  ``lambda_D = 25``, ``lambda_A = 50`` as in the paper's experiments.

  Reference: ``megvii-research/mdistiller mdistiller/distillers/RKD.py``
  (``rkd_loss`` with ``cfg.RKD.PDIST.SQUARED = False``, ``EPSILON = 1e-12``),
  identical to ``HobbitLong/RepDistiller distiller_zoo/RKD.py``. The reference
  computes the teacher's terms under ``no_grad``; here they carry gradient to
  ``teacher`` only, which the trainer stops.

  Args:
    student: ``[B, D_s]`` pooled student features (flatten with ``reshape(B, -1)``).
    teacher: ``[B, D_t]`` pooled teacher features; ``B >= 2``.
    distance_weight: weight of the distance-wise term (mdistiller ``cfg.RKD.DISTANCE_WEIGHT``).
    angle_weight: weight of the angle-wise term (mdistiller ``cfg.RKD.ANGLE_WEIGHT``).

  Returns:
    A scalar.
  """
  s = _floating("student", student, ranks=(2,), layout="pooled features [B, D] (reshape(B, -1))")
  t = _floating("teacher", teacher, ranks=(2,), layout="pooled features [B, D] (reshape(B, -1))")
  _same_batch(s, t)
  if s.shape[0] < 2:
    raise ValueError(f"rkd needs a batch of at least 2 examples (it compares pairs); got {s.shape}.")
  s, t = _upcast(s, t)
  loss_d = jnp.mean(_smooth_l1(_rkd_normalized_distances(s), _rkd_normalized_distances(t)))
  loss_a = jnp.mean(_smooth_l1(_rkd_angles(s), _rkd_angles(t)))
  return distance_weight * loss_d + angle_weight * loss_a


# ----------------------------------------------------------------------------- PKT


def _pkt_probabilities(f: Array) -> Array:
  """Row-normalised shifted cosine similarities ``[B, B]``."""
  squared = jnp.sum(jnp.square(f), axis=1, keepdims=True)
  positive = squared > 0
  norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)
  f = f / (norm + PKT_EPS)
  similarity = (jnp.matmul(f, f.T, precision=HIGHEST) + 1.0) / 2.0
  return similarity / jnp.sum(similarity, axis=1, keepdims=True)


def pkt(student: ArrayLike, teacher: ArrayLike) -> Array:
  """Probabilistic knowledge transfer over the batch (a scalar).

  With ``x_i = f_i / (||f_i|| + 1e-7)``, ``K_ij = (<x_i, x_j> + 1) / 2`` and
  ``P_ij = K_ij / sum_j K_ij`` for both networks:

    ``pkt = mean_{i,j} P^t_ij * (log(P^t_ij + 1e-7) - log(P^s_ij + 1e-7))``

  the mean over all ``B^2`` entries (diagonal included), i.e. ``1/B`` times the
  average over rows of ``KL(P^t_i || P^s_i)`` with the eps inside the logs.

  Paper: Passalis & Tefas, "Learning Deep Representations with Probabilistic
  Knowledge Transfer", ECCV 2018, Sec. 3 (cosine-similarity kernel, KL
  between the conditional probability distributions).

  Reference: ``megvii-research/mdistiller mdistiller/distillers/PKT.py``
  (``pkt_loss``), identical to ``HobbitLong/RepDistiller distiller_zoo/PKT.py``.
  The reference also replaces NaNs of the normalised features by 0; with the
  eps in the denominator that only fires on NaN inputs, which propagate here.

  Args:
    student: ``[B, D_s]`` pooled student features.
    teacher: ``[B, D_t]`` pooled teacher features.

  Returns:
    A scalar.
  """
  s = _floating("student", student, ranks=(2,), layout="pooled features [B, D] (reshape(B, -1))")
  t = _floating("teacher", teacher, ranks=(2,), layout="pooled features [B, D] (reshape(B, -1))")
  _same_batch(s, t)
  s, t = _upcast(s, t)
  p_s, p_t = _pkt_probabilities(s), _pkt_probabilities(t)
  return jnp.mean(p_t * (jnp.log(p_t + PKT_EPS) - jnp.log(p_s + PKT_EPS)))


# ----------------------------------------------------------------------------- OFD


def ofd_margin(bn_scale: ArrayLike, bn_bias: ArrayLike) -> Array:
  """Per-channel OFD margins from the teacher's BatchNorm before ReLU.

  The margin is the expected negative response ``E[x | x < 0]`` of
  ``x ~ N(beta, gamma^2)`` (BN shift ``beta``, scale ``|gamma|``), with
  ``z = -beta / |gamma|``:

    ``m = beta - |gamma| * phi(z) / Phi(z)``   if ``Phi(z) > 0.001``,
    ``m = -3 |gamma|``                         otherwise (almost no negative mass).

  Paper: Heo, Kim, Yun, Park, Kwak & Choi, "A Comprehensive Overhaul of
  Feature Distillation", ICCV 2019 (the margin-ReLU teacher transform).

  Reference: ``megvii-research/mdistiller mdistiller/distillers/OFD.py``
  (``OFD.init_ofd_modules``, the reference's per-channel loop, computed there
  in float64 with scipy; float32 here). A zero scale makes the reference raise
  ``ZeroDivisionError``; here it gives the limit: ``beta`` for ``beta < 0``,
  ``0`` otherwise.

  Args:
    bn_scale: ``[C]`` BatchNorm scale ``gamma`` (its sign is ignored).
    bn_bias: ``[C]`` BatchNorm shift ``beta``.

  Returns:
    ``[C]`` margins (all ``<= 0``).
  """
  scale = _floating("bn_scale", bn_scale, ranks=(1,), layout="a per-channel vector [C]")
  bias = _floating("bn_bias", bn_bias, ranks=(1,), layout="a per-channel vector [C]")
  if scale.shape != bias.shape:
    raise ValueError(
        f"bn_scale {scale.shape} and bn_bias {bias.shape} must have the same shape [C]: pass "
        "the scale and bias of the same BatchNorm layer.")
  scale, bias = _upcast(scale, bias)
  scale = jnp.abs(scale)
  positive = scale > 0
  limit = jnp.where(bias > 0, -jnp.inf, jnp.where(bias < 0, jnp.inf, 0.0))
  z = jnp.where(positive, -bias / jnp.where(positive, scale, 1.0), limit)
  cdf = jnorm.cdf(z)
  closed_form = cdf > OFD_MIN_CDF
  ratio = jnorm.pdf(z) / jnp.where(closed_form, cdf, 1.0)
  return jnp.where(closed_form, bias - scale * ratio, -3.0 * scale)


def ofd(student: ArrayLike, teacher: ArrayLike, margin: ArrayLike) -> Array:
  """OFD partial L2 distance to the margin-ReLU'd teacher (pre-ReLU features).

  With ``t' = max(t, m)`` (margin ReLU, ``m`` per channel), the reference's three
  terms per element are

    ``(s - m)^2 [s > m and t <= m] + (s - t)^2 [s > t and m < t <= 0] + (s - t)^2 [t > 0]``

  i.e. for ``m <= 0`` the partial L2 ``(s - t')^2`` except where
  ``s <= t' <= 0``; summed over ``(h, w, c)`` per example:

    ``ofd = sum_{h,w,c} ...`` (``[B]``).

  The teacher map is adaptively average-pooled to the student's spatial size
  first, as the reference does (the identity when the sizes match).

  Paper: Heo, Kim, Yun, Park, Kwak & Choi, "A Comprehensive Overhaul of
  Feature Distillation", ICCV 2019 (margin ReLU and the partial L2 distance).

  Reference: ``megvii-research/mdistiller mdistiller/distillers/OFD.py``
  (``feat_loss`` and the pooling in ``OFD.ofd_loss``); ``feat_loss`` is
  ``mean over the batch, sum over (C, H, W)``, which equals the batch mean of
  this result. The stage weights ``1 / 2^(n - i - 1)`` and ``cfg.OFD.LOSS.FEAT_WEIGHT``
  are the caller's.

  Args:
    student: ``[B, H, W, C]`` connector output (conv + BN of the student's pre-ReLU feature).
    teacher: ``[B, H_t, W_t, C]`` the teacher's pre-ReLU feature.
    margin: ``[C]`` margins from :func:`ofd_margin`.

  Returns:
    ``[B]`` per-example losses.
  """
  s = _floating("student", student, ranks=(4,), layout="an NHWC feature map [B, H, W, C]")
  t = _floating("teacher", teacher, ranks=(4,), layout="an NHWC feature map [B, H, W, C]")
  m = _floating("margin", margin, ranks=(1,), layout="a per-channel vector [C] (ofd_margin)")
  _same_batch(s, t)
  if s.shape[-1] != t.shape[-1]:
    raise ValueError(
        f"student {s.shape} and teacher {t.shape} must have the same channels: map the "
        "student's feature to the teacher's channels first (OFD's conv+BN connector).")
  if m.shape != (s.shape[-1],):
    raise ValueError(
        f"margin of shape {m.shape} must have one entry per channel, shape ({s.shape[-1]},): "
        "compute it with ofd_margin from the teacher's BatchNorm of this stage.")
  s, t, m = _upcast(s, t, m)
  t = adaptive_avg_pool2d(t, s.shape[1:3])
  below_margin = (s > m) & (t <= m)
  negative = (s > t) & (t > m) & (t <= 0)
  loss = (jnp.where(below_margin, jnp.square(s - m), 0.0)
          + jnp.where(negative, jnp.square(s - t), 0.0)
          + jnp.where(t > 0, jnp.square(s - t), 0.0))
  return jnp.sum(loss, axis=(1, 2, 3))


# ----------------------------------------------------------------------------- VID


def vid_log_scale_init(init_pred_var: float = 5.0, eps: float = VID_EPS) -> float:
  """The reference's initial log-scale: ``softplus^-1(init_pred_var - eps)``, so the variance starts at ``init_pred_var``."""
  return math.log(math.expm1(init_pred_var - eps))


def vid(pred_mean: ArrayLike, log_scale: ArrayLike, teacher: ArrayLike) -> Array:
  """VID: Gaussian negative log-likelihood of the teacher feature (per-channel variance).

  With ``var_c = softplus(log_scale_c) + 1e-5`` and ``mu`` the regressor's
  prediction from the student feature:

    ``vid = mean_{h,w,c} 0.5 * ((mu - t)^2 / var_c + log var_c)`` per example

  (the constant ``0.5 log 2 pi`` dropped). A teacher map larger than
  ``pred_mean`` is adaptively average-pooled to its size, as the reference
  does; the reference pools a larger STUDENT map before the regressor, which
  is the caller's (this raises if ``pred_mean`` is the larger).

  Paper: Ahn, Hu, Damianou, Lawrence & Dai, "Variational Information
  Distillation for Knowledge Transfer", CVPR 2019, Sec. 3 (heteroscedastic
  Gaussian with a per-channel variance through a softplus).

  Reference: ``megvii-research/mdistiller mdistiller/distillers/VID.py``
  (``vid_loss``), identical formula in ``HobbitLong/RepDistiller
  distiller_zoo/VID.py``; ``log(1 + exp(x))`` there is ``softplus`` here (no
  overflow). The batch mean of the result equals their scalar (mean over
  ``B*C*H*W``). Note: mdistiller keeps its log-scales in a plain Python list,
  so they are not trained (variance fixed at ``INIT_PRED_VAR = 5``);
  RepDistiller trains them. Initialise with :func:`vid_log_scale_init`.

  Args:
    pred_mean: ``[B, H, W, C]`` regressor output ``mu``.
    log_scale: ``[C]`` per-channel variance parameter.
    teacher: ``[B, H_t, W_t, C]`` teacher feature, ``H_t >= H`` and ``W_t >= W``.

  Returns:
    ``[B]`` per-example losses.
  """
  mu = _floating("pred_mean", pred_mean, ranks=(4,), layout="an NHWC feature map [B, H, W, C]")
  t = _floating("teacher", teacher, ranks=(4,), layout="an NHWC feature map [B, H, W, C]")
  a = _floating("log_scale", log_scale, ranks=(1,), layout="a per-channel vector [C]")
  _same_batch(mu, t, "pred_mean")
  if mu.shape[-1] != t.shape[-1] or a.shape != (t.shape[-1],):
    raise ValueError(
        f"pred_mean {mu.shape}, log_scale {a.shape} and teacher {t.shape} must share the "
        "channel count C (pred_mean [B, H, W, C], log_scale [C]): the regressor maps the "
        "student to the teacher's channels.")
  if mu.shape[1] > t.shape[1] or mu.shape[2] > t.shape[2]:
    raise ValueError(
        f"pred_mean {mu.shape} is spatially larger than teacher {t.shape}: pool the student "
        "feature to the teacher's size BEFORE the regressor (adaptive_avg_pool2d), as the "
        "reference does.")
  mu, a, t = _upcast(mu, a, t)
  t = adaptive_avg_pool2d(t, mu.shape[1:3])
  var = jax.nn.softplus(a) + VID_EPS
  nll = 0.5 * (jnp.square(mu - t) / var + jnp.log(var))
  return jnp.mean(nll, axis=(1, 2, 3))
