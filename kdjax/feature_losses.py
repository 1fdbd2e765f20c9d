"""Feature-based distillation losses: FitNet, AT, RKD, PKT, OFD, VID, CRD, ReviewKD, ITRD, CAT-KD,
SRRL, KD++ (ND), ViTKD.

Conventions (as :mod:`kdjax.losses`): pure functions, student first and teacher
second, keyword-only hyperparameters. Feature maps are NHWC ``[B, H, W, C]``;
pooled features are ``[B, D]``. Inputs are computed in float32, or the wider
input dtype (bfloat16/float16 are upcast). Teacher features are expected to be
constants: the trainer applies ``jax.lax.stop_gradient`` to them.

A loss that decomposes over examples and whose reference averages over the
batch (FitNet, AT, OFD, VID, ViTKD) returns per-example values of shape ``[B]`` whose
batch MEAN equals the reference's scalar; where the reference averages over
every element of the batch (MSE over ``B*H*W*C``), the per-example value is the
mean over that example's elements. The others return the reference's scalar:
RKD, PKT and ITRD couple the batch; CRD, ReviewKD and CAT-KD are the
references' batch sums and means.

  ===========================  ==================================================================
  method                       functions, paper
  ===========================  ==================================================================
  FitNet                       :func:`fitnet`; Romero et al., "FitNets: Hints for Thin Deep
                               Nets", ICLR 2015
  AT                           :func:`attention_transfer`; Zagoruyko & Komodakis, "Paying More
                               Attention to Attention", ICLR 2017
  RKD                          :func:`rkd`; Park et al., "Relational Knowledge Distillation",
                               CVPR 2019
  PKT                          :func:`pkt`; Passalis & Tefas, "Learning Deep Representations
                               with Probabilistic Knowledge Transfer", ECCV 2018
  OFD                          :func:`ofd_margin`, :func:`ofd`; Heo et al., "A Comprehensive
                               Overhaul of Feature Distillation", ICCV 2019
  VID                          :func:`vid`, :func:`vid_log_scale_init`; Ahn et al.,
                               "Variational Information Distillation for Knowledge Transfer",
                               CVPR 2019
  CRD                          :func:`crd_scores`, :func:`crd_normalizer`,
                               :func:`crd_contrast`, :func:`crd_memory_update`; Tian et al.,
                               "Contrastive Representation Distillation", ICLR 2020
  ReviewKD                     :func:`review_hcl`; Chen et al., "Distilling Knowledge via
                               Knowledge Review", CVPR 2021
  ITRD                         :func:`itrd_correlation`, :func:`itrd_mutual`; Miles et al.,
                               "Information Theoretic Representation Distillation", BMVC 2022
  CAT-KD                       :func:`class_activation_maps`, :func:`cat_kd`; Guo et al.,
                               "Class Attention Transfer Based Knowledge Distillation", CVPR 2023
  SRRL                         :func:`srrl_feature`, :func:`srrl_regression`; Yang et al.,
                               "Knowledge Distillation via Softmax Regression Representation
                               Learning", ICLR 2021
  KD++ (ND loss)               :func:`nd_loss`, :func:`class_sums_update`; Wang et al.,
                               "Improving Knowledge Distillation via Regularizing Feature Norm
                               and Direction", ICCV 2023
  ViTKD                        :func:`vitkd_mimic`, :func:`vitkd_generation`,
                               :func:`vitkd_token_mask`, :func:`vitkd_mask_tokens`; Yang et al.,
                               "ViTKD: Practical Guidelines for ViT feature knowledge
                               distillation", 2022
  ===========================  ==================================================================

Reference implementations (each function's docstring names the file and its
differences): ``megvii-research/mdistiller`` (FitNet, AT, RKD, PKT, OFD, VID,
ReviewKD; the numbers the papers cite), ``HobbitLong/RepDistiller`` (CRD's
memory and NCE loss; the same FitNet, AT, RKD, PKT, VID), ``zkxufo/TTM`` and
``roymiles/ITRD`` (ITRD), ``GzyAftermath/CAT-KD`` (CAT-KD), ``jingyang2017/KD_SRRL``
(SRRL), ``WangYZ1608/Knowledge-Distillation-via-ND`` (KD++).
:func:`adaptive_avg_pool2d` is PyTorch's adaptive average pooling (same bins)
for NHWC maps; the losses that resize a map use it.

The trainable parts of these methods are the caller's, and these functions
receive their outputs: FitNet's ConvReg, VID's regressors and log-scales,
OFD's connectors, CRD's embedding heads (its memory banks are state, updated by
:func:`crd_memory_update`), ReviewKD's ABF fusion modules, ITRD's embedding,
CAT-KD's classifier (turned into CAMs by :func:`class_activation_maps`) and ViTKD's
projections, mask token and generation block (its random mask is an argument).
Multi-stage sums and stage weights (AT and VID sum stages, OFD halves the
weight per stage towards the input) are also the caller's; :func:`review_hcl`
sums over the pairs it is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm as jnorm

from kdjax import temperature as temperature_lib

Array = jax.Array
ArrayLike = Any

HIGHEST = jax.lax.Precision.HIGHEST  # matmuls, einsums and pooling in full float32 on TPU/GPU
NORMALIZE_EPS = 1e-12   # torch.nn.functional.normalize: x / max(||x||, 1e-12)

# What the inputs must be, as the input errors say it.
_NHWC = "an NHWC feature map [B, H, W, C]"
_POOLED = "pooled features [B, D] (reshape(B, -1))"
_PER_CHANNEL = "a per-channel vector [C]"

__all__ = [
    "adaptive_avg_pool2d", "attention_transfer", "cat_kd", "class_activation_maps",
    "crd_contrast", "crd_memory_update", "crd_normalizer", "crd_scores", "fitnet",
    "class_sums_update", "itrd_correlation", "itrd_mutual", "nd_loss", "ofd", "ofd_margin", "pkt",
    "review_hcl", "rkd", "srrl_feature", "srrl_regression", "vid", "vid_log_scale_init",
    "vitkd_generation", "vitkd_kept_tokens", "vitkd_mask_tokens", "vitkd_mimic", "vitkd_token_mask",
]


# ----------------------------------------------------------------------------- input checks


def _floating(name: str, x: ArrayLike, *, rank: int | range, layout: str) -> Array:
  """``x`` as a floating array of rank ``rank`` (an int or a range), or a ``ValueError``."""
  x = jnp.asarray(x)
  ranks = range(rank, rank + 1) if isinstance(rank, int) else rank
  if x.ndim not in ranks:
    expected = f"{ranks[0]}" if len(ranks) == 1 else f"{ranks[0]} to {ranks[-1]}"
    raise ValueError(f"{name} must be {layout} of rank {expected}; got shape {x.shape}.")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise ValueError(f"{name} must be floating point; got dtype {x.dtype}.")
  return x


def _checked_pair(student: ArrayLike, teacher: ArrayLike, *, rank: int | range, layout: str,
                  names: tuple[str, str] = ("student", "teacher")) -> tuple[Array, Array]:
  """Both as floating arrays of rank ``rank`` with the same batch size (axis 0)."""
  s = _floating(names[0], student, rank=rank, layout=layout)
  t = _floating(names[1], teacher, rank=rank, layout=layout)
  if s.shape[0] != t.shape[0]:
    raise ValueError(
        f"{names[0]} and {names[1]} must have the same batch size (axis 0); got shapes "
        f"{s.shape} and {t.shape}. Pass the two networks' features for the same examples.")
  return s, t


def _require_same_shape(name_a: str, a: Array, name_b: str, b: Array) -> None:
  if a.shape != b.shape:
    raise ValueError(
        f"{name_a} {a.shape} and {name_b} {b.shape} must have the same shape; project or "
        "pool one of them to the other's shape first.")


def _require_min_batch(loss: str, x: Array, why: str) -> None:
  if x.shape[0] < 2:
    raise ValueError(
        f"{loss} needs a batch of at least 2 examples (B >= 2: {why}); got shape {x.shape}.")


def _require_positive_int(name: str, value: Any) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
    raise ValueError(f"{name} must be a positive Python int; got {value!r}.")
  return int(value)


def _upcast(*arrays: Array) -> tuple[Array, ...]:
  """The arrays in their common compute dtype (float32 or the widest floating input)."""
  dtype = temperature_lib.compute_dtype(*arrays)
  return tuple(a.astype(dtype) for a in arrays)


# ----------------------------------------------------------------------------- norms and pooling


def _l2_norm(x: Array, axis: int | tuple[int, ...]) -> Array:
  """``||x||_2`` over ``axis`` (kept), with a zero, not NaN, gradient at ``x = 0``."""
  squared = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
  positive = squared > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)


def _normalize(x: Array, axis: int | tuple[int, ...] = -1) -> Array:
  """``torch.nn.functional.normalize(x, dim=axis)``: ``x / max(||x||_2, 1e-12)``."""
  return x / jnp.maximum(_l2_norm(x, axis), NORMALIZE_EPS)


def _pool_matrix(size_in: int, size_out: int) -> np.ndarray:
  """``[size_out, size_in]`` averaging weights of PyTorch's adaptive average pooling.

  Bin ``o`` covers ``[floor(o * n / m), ceil((o + 1) * n / m))`` of the ``n``
  inputs (bins overlap when ``m`` does not divide ``n``; ``m > n`` repeats inputs).
  """
  weights = np.zeros((size_out, size_in), np.float64)
  for o in range(size_out):
    start = (o * size_in) // size_out
    end = -((-(o + 1) * size_in) // size_out)
    weights[o, start:end] = 1.0 / (end - start)
  return weights


def adaptive_avg_pool2d(x: ArrayLike, output_size: int | tuple[int, int]) -> Array:
  """``torch.nn.functional.adaptive_avg_pool2d`` for NHWC ``x`` (same bins, exact weights).

  Args:
    x: ``[B, H, W, C]``.
    output_size: ``s`` for ``(s, s)``, or ``(H_out, W_out)``; positive Python ints.

  Returns:
    ``[B, H_out, W_out, C]`` in the compute dtype; ``x`` itself when the size is unchanged.
  """
  (x,) = _upcast(_floating("x", x, rank=4, layout=_NHWC))
  if isinstance(output_size, (int, np.integer)):
    output_size = (output_size, output_size)
  h_out, w_out = (_require_positive_int("output_size", s) for s in output_size)
  _, h, w, _ = x.shape
  if (h, w) == (h_out, w_out):
    return x
  pool_h = jnp.asarray(_pool_matrix(h, h_out), x.dtype)
  pool_w = jnp.asarray(_pool_matrix(w, w_out), x.dtype)
  return jnp.einsum("oh,bhwc,pw->bopc", pool_h, x, pool_w, precision=HIGHEST)


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
  s, t = _checked_pair(student, teacher, rank=range(2, 8), layout="a batch of features [B, ...]")
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
  s, t = _upcast(*_checked_pair(student, teacher, rank=4, layout=_NHWC))
  size = (min(s.shape[1], t.shape[1]), min(s.shape[2], t.shape[2]))
  s, t = adaptive_avg_pool2d(s, size), adaptive_avg_pool2d(t, size)
  return jnp.mean(jnp.square(_attention_map(s, p) - _attention_map(t, p)), axis=-1)


# ----------------------------------------------------------------------------- RKD


RKD_PDIST_EPS = 1e-12   # mdistiller cfg.RKD.PDIST.EPSILON (squared distances clamped to it)


def _smooth_l1(x: Array, y: Array) -> Array:
  """Elementwise ``torch.nn.functional.smooth_l1_loss`` with ``beta = 1`` (Huber)."""
  diff = jnp.abs(x - y)
  return jnp.where(diff < 1.0, 0.5 * jnp.square(diff), diff - 0.5)


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
  """``cos`` of the angle at ``e_i`` between ``e_j`` and ``e_k``: ``[B, B, B]``.

  0 where ``j`` or ``k`` is ``i``.
  """
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
  s, t = _checked_pair(student, teacher, rank=2, layout=_POOLED)
  _require_min_batch("rkd", s, "it compares pairs")
  s, t = _upcast(s, t)
  loss_d = jnp.mean(_smooth_l1(_rkd_normalized_distances(s), _rkd_normalized_distances(t)))
  loss_a = jnp.mean(_smooth_l1(_rkd_angles(s), _rkd_angles(t)))
  return distance_weight * loss_d + angle_weight * loss_a


# ----------------------------------------------------------------------------- PKT


PKT_EPS = 1e-7          # pkt_loss(..., eps=1e-7)


def _pkt_probabilities(f: Array) -> Array:
  """Row-normalised shifted cosine similarities ``[B, B]``."""
  f = f / (_l2_norm(f, axis=1) + PKT_EPS)
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
  s, t = _upcast(*_checked_pair(student, teacher, rank=2, layout=_POOLED))
  p_s, p_t = _pkt_probabilities(s), _pkt_probabilities(t)
  return jnp.mean(p_t * (jnp.log(p_t + PKT_EPS) - jnp.log(p_s + PKT_EPS)))


# ----------------------------------------------------------------------------- OFD


OFD_MIN_CDF = 1e-3      # get_margin: closed form when Phi(-bias/scale) > 0.001, else -3*scale


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
  scale = _floating("bn_scale", bn_scale, rank=1, layout=_PER_CHANNEL)
  bias = _floating("bn_bias", bn_bias, rank=1, layout=_PER_CHANNEL)
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
  s, t = _checked_pair(student, teacher, rank=4, layout=_NHWC)
  m = _floating("margin", margin, rank=1, layout=f"{_PER_CHANNEL} (ofd_margin)")
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


VID_EPS = 1e-5          # cfg.VID.EPS: variance = softplus(log_scale) + 1e-5


def vid_log_scale_init(init_pred_var: float = 5.0, eps: float = VID_EPS) -> float:
  """The reference's initial log-scale ``softplus^-1(init_pred_var - eps)``.

  With it the variance ``softplus(log_scale) + eps`` starts at ``init_pred_var``.
  """
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
  mu, t = _checked_pair(pred_mean, teacher, rank=4, layout=_NHWC, names=("pred_mean", "teacher"))
  a = _floating("log_scale", log_scale, rank=1, layout=_PER_CHANNEL)
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


# ----------------------------------------------------------------------------- CRD


CRD_EPS = 1e-7          # RepDistiller crd/criterion.py: eps in the NCE denominators


def crd_scores(embedding: ArrayLike, memory_rows: ArrayLike, *, temperature: ArrayLike,
               normalizer: ArrayLike) -> Array:
  """CRD memory scores ``exp(<e_b, m_bk> / T) / Z``.

  As ``ContrastMemory.forward``: the memory rows are constants (the reference
  ``.detach()``es them) and ``Z`` is a number (``.item()``), so both are under
  ``stop_gradient``; only ``embedding`` carries gradient. The student's scores
  use the TEACHER memory's rows and vice versa. Computed as
  ``exp(<e, m>/T - log Z)``.

  To fix ``Z`` from the first batch as the reference does, call with
  ``normalizer=1.0`` to get the raw scores, then :func:`crd_normalizer`.

  Paper: Tian, Krishnan & Isola, "Contrastive Representation Distillation",
  ICLR 2020 (the memory-bank critic ``h(T, S)``, Sec. 3.4).

  Reference: ``HobbitLong/RepDistiller crd/memory.py`` (``ContrastMemory``).

  Args:
    embedding: ``[B, D]`` L2-normalised embeddings (the anchor side).
    memory_rows: ``[B, K+1, D]`` rows of the other side's memory bank,
      ``memory[contrast_idx]`` with the positive (the sample's own index) first.
    temperature: ``T`` (``nce_t``, 0.07).
    normalizer: ``Z`` (scalar, > 0).

  Returns:
    ``[B, K+1]`` scores.
  """
  embedding = _floating("embedding", embedding, rank=2, layout="an embedding matrix [B, D]")
  memory_rows = _floating("memory_rows", memory_rows, rank=3,
                          layout="gathered memory rows [B, K+1, D]")
  if memory_rows.shape[0] != embedding.shape[0] or memory_rows.shape[2] != embedding.shape[1]:
    raise ValueError(
        f"memory_rows {memory_rows.shape} must be [batch, 1 + num_negatives, dim] with "
        f"batch, dim of embedding {embedding.shape}; gather them as memory[contrast_idx].")
  if jnp.ndim(temperature) or jnp.ndim(normalizer):
    raise ValueError("temperature and normalizer must be scalars.")
  embedding, memory_rows = _upcast(embedding, jax.lax.stop_gradient(memory_rows))
  log_z = jnp.log(jax.lax.stop_gradient(jnp.asarray(normalizer, embedding.dtype)))
  dots = jnp.einsum("bkd,bd->bk", memory_rows, embedding, precision=HIGHEST)
  return jnp.exp(dots / temperature - log_z)


def crd_normalizer(raw_exp_scores: ArrayLike, *, num_data: int) -> Array:
  """CRD's normalisation constant ``Z = mean(exp(<e, m>/T)) * num_data``.

  ``ContrastMemory`` (``HobbitLong/RepDistiller crd/memory.py``) sets ``Z``
  once, from the first batch's raw scores (mean over all ``B * (K+1)``
  entries), and keeps it for the rest of training; one ``Z`` per side (student
  scores, teacher scores). Returned under ``stop_gradient`` (the reference
  stores ``.item()``).

  Args:
    raw_exp_scores: ``[B, K+1]`` unnormalised ``exp(<e, m>/T)``
      (:func:`crd_scores` with ``normalizer=1.0``).
    num_data: the training-set size.

  Returns:
    Scalar ``Z``.
  """
  raw = _floating("raw_exp_scores", raw_exp_scores, rank=2, layout="a score matrix [B, K+1]")
  num_data = _require_positive_int("num_data", num_data)
  (raw,) = _upcast(raw)
  return jax.lax.stop_gradient(jnp.mean(raw) * num_data)


def crd_contrast(scores: ArrayLike, *, num_data: int) -> Array:
  """CRD's NCE loss on memory scores.

  With ``P_n = 1/num_data`` (uniform noise), ``K = scores.shape[1] - 1``
  negatives, ``c = K * P_n`` and ``eps = 1e-7``::

    log D1 = log(P_pos / (P_pos + c + eps))           (column 0)
    log D0 = log(c / (P_neg + c + eps))               (columns 1..K)
    loss   = -(sum_b log D1 + sum_{b,k} log D0) / B

  evaluated as ``-log1p((c + eps) / P_pos)`` and ``-log1p((P_neg + eps) / c)``.
  CRD uses two of these: one on the student scores, one on the teacher scores
  (see :func:`crd_scores`), summed.

  Paper: Tian, Krishnan & Isola, "Contrastive Representation Distillation",
  ICLR 2020, Eq. (18).

  Reference: ``HobbitLong/RepDistiller crd/criterion.py`` (``ContrastLoss``),
  and the copies in ``megvii-research/mdistiller mdistiller/distillers/CRD.py``
  and ``zkxufo/TTM distiller_zoo/crd.py``.

  Args:
    scores: ``[B, K+1]`` normalised scores ``exp(<e, m>/T) / Z`` (positive first, > 0).
    num_data: the training-set size (rows of the memory bank).

  Returns:
    Scalar loss (a sum over the batch's pairs divided by ``B``).
  """
  scores = _floating("scores", scores, rank=2, layout="a score matrix [B, K+1] (positive first)")
  num_data = _require_positive_int("num_data", num_data)
  if scores.shape[0] < 1 or scores.shape[1] < 1:
    raise ValueError(f"scores needs a batch and a positive column; got shape {scores.shape}.")
  (scores,) = _upcast(scores)
  batch, num_negatives = scores.shape[0], scores.shape[1] - 1
  noise = num_negatives / float(num_data)
  positive, negatives = scores[:, 0], scores[:, 1:]
  log_d1 = -jnp.log1p((noise + CRD_EPS) / positive)
  log_d0 = -jnp.log1p((negatives + CRD_EPS) / noise) if num_negatives else jnp.zeros((batch, 0))
  return -(jnp.sum(log_d1) + jnp.sum(log_d0)) / batch


def crd_memory_update(memory: ArrayLike, indices: ArrayLike, embeddings: ArrayLike, *,
                      momentum: ArrayLike) -> Array:
  """CRD's momentum update of one memory bank, as a pure function.

  ``ContrastMemory.forward`` (``HobbitLong/RepDistiller crd/memory.py``), under no-grad::

    r = memory[idx] * m + e * (1 - m);   memory[idx] = r / ||r||_2

  Only the rows ``indices`` change. The student's embeddings update the
  student bank, the teacher's the teacher bank. Indices must be distinct
  (dataset indices of one batch); with duplicates which write wins is
  unspecified, as in the reference's ``index_copy_``. A zero row stays zero
  (the reference divides 0/0).

  Args:
    memory: ``[N, D]`` bank (``N`` the training-set size).
    indices: ``[B]`` integer dataset indices of the batch.
    embeddings: ``[B, D]`` the batch's embeddings for this bank.
    momentum: ``m`` (``nce_m``, 0.5).

  Returns:
    The new ``[N, D]`` bank (dtype of ``memory``).
  """
  memory_in = _floating("memory", memory, rank=2, layout="a memory bank [N, D]")
  embeddings = _floating("embeddings", embeddings, rank=2, layout="an embedding matrix [B, D]")
  indices = jnp.asarray(indices)
  if not jnp.issubdtype(indices.dtype, jnp.integer):
    raise ValueError(f"indices must be integer dataset indices; got dtype {indices.dtype}.")
  if indices.shape != embeddings.shape[:1] or embeddings.shape[1] != memory_in.shape[1]:
    raise ValueError(
        f"indices {indices.shape} must be [batch] and embeddings {embeddings.shape} "
        f"[batch, dim] with dim = memory.shape[1] = {memory_in.shape[1]}.")
  if jnp.ndim(momentum):
    raise ValueError("momentum must be a scalar.")
  memory_f, embeddings = _upcast(*jax.lax.stop_gradient((memory_in, embeddings)))
  rows = memory_f[indices] * momentum + embeddings * (1.0 - momentum)
  norm = _l2_norm(rows, axis=1)
  rows = rows / jnp.where(norm > 0, norm, 1.0)
  return memory_f.at[indices].set(rows).astype(memory_in.dtype)


# ----------------------------------------------------------------------------- ReviewKD


REVIEW_HCL_LEVELS = (4, 2, 1)   # hcl_loss: pooled sizes, each used when smaller than H


def review_hcl(student_feats: Sequence[ArrayLike], teacher_feats: Sequence[ArrayLike]) -> Array:
  """ReviewKD's hierarchical context loss (HCL), summed over pairs of feature maps.

  Per pair of NHWC maps of height ``H``: the full-size MSE plus, for each level
  ``l`` in ``(4, 2, 1)`` with ``l < H`` (levels with ``l >= H`` are skipped),
  the MSE after adaptive average pooling to ``l x l``. The used levels get
  weights ``1/2, 1/4, 1/8`` in order of use (the full size weight 1), and the
  weighted sum is divided by the sum of the weights used::

    H >= 5: (mse + mse_4/2 + mse_2/4 + mse_1/8) / 1.875
    H in 3..4: (mse + mse_2/2 + mse_1/4) / 1.75;  H = 2: (mse + mse_1/2) / 1.5;  H = 1: mse

  summed over the pairs.

  Paper: Chen, Liu, Zhao & Jia, "Distilling Knowledge via Knowledge Review",
  CVPR 2021 (HCL, Sec. 3.3).

  Reference: ``megvii-research/mdistiller mdistiller/distillers/ReviewKD.py``
  (``hcl_loss``; only ``H`` is tested against ``l``, not ``W``; MSEs are means
  over all elements).

  Args:
    student_feats: sequence of ``[B, H_i, W_i, C_i]`` student maps (after the ABFs).
    teacher_feats: sequence of teacher maps of the same shapes, same order.

  Returns:
    Scalar loss.
  """
  if isinstance(student_feats, (jax.Array, np.ndarray)) or isinstance(
      teacher_feats, (jax.Array, np.ndarray)):
    raise ValueError("student_feats and teacher_feats must be sequences (lists) of NHWC "
                     "maps; wrap a single map as [x].")
  student_feats, teacher_feats = list(student_feats), list(teacher_feats)
  if len(student_feats) != len(teacher_feats) or not student_feats:
    raise ValueError(
        f"review_hcl needs equally long, non-empty sequences; got {len(student_feats)} "
        f"student and {len(teacher_feats)} teacher maps.")
  total = 0.0
  for i, pair in enumerate(zip(student_feats, teacher_feats)):
    names = (f"student_feats[{i}]", f"teacher_feats[{i}]")
    fs, ft = _checked_pair(*pair, rank=4, layout=_NHWC, names=names)
    _require_same_shape(names[0], fs, names[1], ft)
    fs, ft = _upcast(fs, ft)
    height = fs.shape[1]
    loss, weight, weight_sum = jnp.mean(jnp.square(fs - ft)), 1.0, 1.0
    for level in REVIEW_HCL_LEVELS:
      if level >= height:
        continue
      weight /= 2.0
      pooled = adaptive_avg_pool2d(fs - ft, level)   # pooling is linear: pool(a) - pool(b)
      loss = loss + weight * jnp.mean(jnp.square(pooled))
      weight_sum += weight
    total = total + loss / weight_sum
  return jnp.asarray(total)


# ----------------------------------------------------------------------------- ITRD


def _batch_standardize(x: Array) -> Array:
  """``(x - mean_b x) / std_b x`` with the unbiased std (``Tensor.std(0)``), no eps.

  A constant column (std 0, where the reference divides 0/0) maps to 0.
  """
  centered = x - jnp.mean(x, axis=0, keepdims=True)
  std = _l2_norm(centered, axis=0) / math.sqrt(x.shape[0] - 1)
  return jnp.where(std > 0, centered / jnp.where(std > 0, std, 1.0), 0.0)


def itrd_correlation(student: ArrayLike, teacher: ArrayLike, *, alpha: ArrayLike = 1.5) -> Array:
  """ITRD's correlation loss on batch-standardised features (a scalar).

  Both features are standardised over the batch without affine parameters,
  ``f^ = (f - mean_b f) / std_b f`` (unbiased std, no eps), then with the
  diagonal of the cross-correlation ``c_d = (1/B) sum_b s^_bd t^_bd``::

    loss = log2( sum_d (|c_d - 1|^2)^alpha )

  With the unbiased std, identical inputs give ``c_d = (B-1)/B`` and
  ``log2(D) - 2 alpha log2(B)``.

  Paper: Miles, Lopez Rodriguez & Mikolajczyk, "Information Theoretic
  Representation Distillation", BMVC 2022 (arXiv 2112.00459).

  Reference: ``zkxufo/TTM distiller_zoo/itrd.py``
  (``ITLoss.forward_correlation_it``), the same code as ``roymiles/ITRD
  distiller_zoo/IT.py``. The reference always passes the student through its
  linear embedding here.

  Args:
    student: ``[B, D]`` pooled student features, embedded to the teacher's width.
    teacher: ``[B, D]`` pooled teacher features. ``B >= 2``.
    alpha: Renyi's order (``--alpha_it``, 1.5).

  Returns:
    Scalar loss (``-inf`` if every ``c_d`` is exactly 1).
  """
  s, t = _checked_pair(student, teacher, rank=2, layout=_POOLED)
  _require_same_shape("student", s, "teacher", t)
  _require_min_batch("itrd_correlation", s, "unbiased std")
  s, t = _upcast(s, t)
  corr = jnp.sum(_batch_standardize(s) * _batch_standardize(t), axis=0) / s.shape[0]
  powered = jnp.power(jnp.square(corr - 1.0), alpha)
  return jnp.log(jnp.sum(powered)) / math.log(2.0)


def itrd_mutual(student: ArrayLike, teacher: ArrayLike) -> Array:
  """ITRD's mutual-information loss on Gram matrices (a scalar).

  Rows L2-normalised (``F.normalize``, eps 1e-12), ``G_s = S S^T``,
  ``G_t = T T^T``, ``G_st = G_s * G_t`` (elementwise), each of ``G_s, G_st``
  divided by its trace::

    loss = sum_ij (G_s/tr G_s)_ij^2 - (G_st/tr G_st)_ij^2

  The Gram matrices are ``[B, B]``, so the widths may differ.

  Paper: Miles, Lopez Rodriguez & Mikolajczyk, "Information Theoretic
  Representation Distillation", BMVC 2022.

  Reference: ``zkxufo/TTM distiller_zoo/itrd.py`` (``ITLoss.forward_mutual_it``),
  as ``roymiles/ITRD distiller_zoo/IT.py``; the reference embeds the student
  only when its width differs from the teacher's.

  Args:
    student: ``[B, D_s]`` pooled student features.
    teacher: ``[B, D_t]`` pooled teacher features.

  Returns:
    Scalar loss.
  """
  s, t = _upcast(*_checked_pair(student, teacher, rank=2, layout=_POOLED))
  s, t = _normalize(s, axis=1), _normalize(t, axis=1)
  gram_s = jnp.matmul(s, s.T, precision=HIGHEST)
  gram_st = gram_s * jnp.matmul(t, t.T, precision=HIGHEST)
  gram_s = gram_s / jnp.trace(gram_s)
  gram_st = gram_st / jnp.trace(gram_st)
  return jnp.sum(jnp.square(gram_s) - jnp.square(gram_st))


# ----------------------------------------------------------------------------- CAT-KD


def class_activation_maps(features: ArrayLike, classifier_kernel: ArrayLike,
                          classifier_bias: ArrayLike | None = None) -> Array:
  """Class activation maps ``CAM[b,h,w,k] = sum_d F[b,h,w,d] W[d,k] (+ b_k)``.

  CAT-KD turns the classifier into a 1x1 convolution on the last feature map.
  ``classifier_bias=None`` (default) is the reference, which drops the bias.
  With a bias it is added at every position, so the spatial mean of the CAM
  equals the Dense layer's logits on the mean-pooled features.

  Paper: Guo, Yan, Li & Lin, "Class Attention Transfer Based Knowledge
  Distillation", CVPR 2023.

  Reference: ``GzyAftermath/CAT-KD`` (``conv_test``, ``bias=False``, in
  ``mdistiller/models/*/*.py``'s ``*_test`` models; the teacher's
  ``fc.weight`` is copied in ``tools/train.py`` and its bias dropped).

  Args:
    features: ``[B, H, W, D]`` last feature map (after its ReLU, as the
      classifier sees it before pooling).
    classifier_kernel: ``[D, K]`` Flax ``Dense`` kernel.
    classifier_bias: optional ``[K]`` bias.

  Returns:
    ``[B, H, W, K]`` CAMs.
  """
  features = _floating("features", features, rank=4, layout="a feature map [B, H, W, D]")
  kernel = _floating("classifier_kernel", classifier_kernel, rank=2,
                     layout="a Flax Dense kernel [D, K]")
  if kernel.shape[0] != features.shape[-1]:
    raise ValueError(
        f"classifier_kernel {kernel.shape} must be [D, K] with D = features.shape[-1] = "
        f"{features.shape[-1]} (a torch Linear weight [K, D] must be transposed).")
  features, kernel = _upcast(features, kernel)
  cams = jnp.einsum("bhwd,dk->bhwk", features, kernel, precision=HIGHEST)
  if classifier_bias is not None:
    bias = _floating("classifier_bias", classifier_bias, rank=1, layout="a bias [K]")
    if bias.shape[0] != kernel.shape[1]:
      raise ValueError(f"classifier_bias {bias.shape} must be [K] = [{kernel.shape[1]}].")
    cams = cams + bias.astype(cams.dtype)
  return cams


def cat_kd(student_cam: ArrayLike, teacher_cam: ArrayLike, *, resolution: int = 2,
           normalize: bool = True) -> Array:
  """CAT-KD's class attention transfer (CAT) loss (a scalar).

  Both CAMs are adaptive-average-pooled to ``resolution x resolution``; with
  ``normalize`` each map (per sample, per class) is divided by its L2 norm over
  the spatial positions (``F.normalize(dim=(2, 3))``, eps 1e-12); then the MSE
  (mean over all ``B * r * r * K`` entries)::

    loss = mean( (norm(pool(CAM_s)) - norm(pool(CAM_t)))^2 )

  Paper: Guo, Yan, Li & Lin, "Class Attention Transfer Based Knowledge
  Distillation", CVPR 2023.

  Reference: ``GzyAftermath/CAT-KD mdistiller/distillers/CAT_KD.py``
  (``CAT_loss``, without the distiller's optional binarisation / class subset).
  The distiller multiplies by ``CAT_loss_weight``.

  Args:
    student_cam: ``[B, H_s, W_s, K]`` student CAMs (channels = classes), e.g.
      :func:`class_activation_maps`.
    teacher_cam: ``[B, H_t, W_t, K]`` teacher CAMs (spatial size may differ).
    resolution: pooled size (``CAM_RESOLUTION``, 2).
    normalize: ``IF_NORMALIZE``.

  Returns:
    Scalar loss.
  """
  s, t = _checked_pair(student_cam, teacher_cam, rank=4, layout="CAMs [B, H, W, K]",
                       names=("student_cam", "teacher_cam"))
  if s.shape[-1] != t.shape[-1]:
    raise ValueError(
        f"student_cam {s.shape} and teacher_cam {t.shape} must share the batch and class "
        "axes [B, ., ., K].")
  resolution = _require_positive_int("resolution", resolution)
  s, t = _upcast(s, t)
  s, t = adaptive_avg_pool2d(s, resolution), adaptive_avg_pool2d(t, resolution)
  if normalize:
    s, t = _normalize(s, axis=(1, 2)), _normalize(t, axis=(1, 2))
  return jnp.mean(jnp.square(s - t))


# ----------------------------------------------------------------------------- SRRL


def srrl_feature(student: ArrayLike, teacher: ArrayLike) -> Array:
  """SRRL's feature matching loss on the spatial means of two maps.

  ``fm = mean_c (mean_{h,w} s[h,w,c] - mean_{h,w} t[h,w,c])^2`` per example, where
  ``student`` is the connected student map (SRRL's connector: 1x1 conv, BN, ReLU, to the
  teacher's channels) and ``teacher`` the teacher's last map (the one its classifier pools);
  the spatial sizes may differ.

  Paper: Yang, Martinez, Bulat & Tzimiropoulos, "Knowledge Distillation via Softmax Regression
  Representation Learning", ICLR 2021 (the feature matching loss ``L_FM``).

  Reference: ``jingyang2017/KD_SRRL distiller_zoo/AIN.py`` ``statm_loss.forward`` (the mean over
  the spatial positions, the squared gap averaged over channels, then over the batch); the same
  as ``yzd-v/cls_KD mmcls/models/dis_losses/srrl.py`` ``SRRLLoss`` (``fm_loss``). The batch
  mean of the result equals their scalar.

  Args:
    student: NHWC ``[B, H_s, W_s, C]`` connected student map.
    teacher: NHWC ``[B, H_t, W_t, C]`` teacher map.

  Returns:
    ``[B]`` per-example losses.
  """
  s, t = _checked_pair(student, teacher, rank=4, layout=_NHWC)
  if s.shape[-1] != t.shape[-1]:
    raise ValueError(
        f"student {s.shape} and teacher {t.shape} must have the same channels: connect the "
        "student's map to the teacher's width first (SRRL's 1x1 conv connector).")
  s, t = _upcast(s, t)
  return jnp.mean(jnp.square(jnp.mean(s, axis=(1, 2)) - jnp.mean(t, axis=(1, 2))), axis=-1)


def srrl_regression(student_logits: ArrayLike, teacher_logits: ArrayLike) -> Array:
  """SRRL's softmax regression loss: the teacher's classifier on the student's feature.

  ``sr = mean_k (W_t h_s + b_t - v)_k^2`` per example, where ``student_logits`` is the
  teacher's (frozen) classifier applied to the pooled connected student feature ``h_s`` and
  ``teacher_logits`` ``v`` the teacher's own logits.

  Paper: Yang et al., ICLR 2021 (the softmax regression loss ``L_SR``; the released ImageNet code,
  below, regresses the logits by their mean squared error).

  Reference: ``jingyang2017/KD_SRRL train_imagenet_distillation.py`` ``train``
  (``F.mse_loss(pred_sc, pred_t)``, ``pred_sc = net_t(x=None, feat_s=feat_s)``: the teacher's
  ``avgpool`` and ``fc`` on the connected map). The batch mean of the result equals that scalar
  (mean over ``B * K``).

  Args:
    student_logits: ``[B, K]`` teacher-classifier logits of the connected student feature.
    teacher_logits: ``[B, K]`` the teacher's logits.

  Returns:
    ``[B]`` per-example losses.
  """
  s, t = _checked_pair(student_logits, teacher_logits, rank=2, layout="logits [B, K]",
                       names=("student_logits", "teacher_logits"))
  _require_same_shape("student_logits", s, "teacher_logits", t)
  s, t = _upcast(s, t)
  return jnp.mean(jnp.square(s - t), axis=-1)


# ----------------------------------------------------------------------------- KD++ (ND loss)


def nd_loss(student: ArrayLike, teacher: ArrayLike, centers: ArrayLike) -> Array:
  """KD++'s norm-and-direction (ND) loss on embedding features.

  ``nd = 1 - <s, c / ||c||> / max(||s||, ||t||)`` per example, where ``s`` is the student's
  embedding (its pooled feature, through KD++'s embedding transform when the widths differ),
  ``t`` the teacher's and ``c`` the teacher's class mean of the example's label. Minimising it
  turns ``s`` towards its class centre and enlarges its norm up to the teacher's (and beyond:
  while ``||s|| > ||t||`` the projection over ``||s||`` no longer grows with the norm). The
  gradient flows through ``||s||`` when it is the larger norm, as in the reference.

  Paper: Wang et al., "Improving Knowledge Distillation via Regularizing Feature Norm and
  Direction", ICCV 2023 (the ND loss).

  Reference: ``WangYZ1608/Knowledge-Distillation-via-ND ImageNet/utils.py`` ``DirectNormLoss``
  (``project_center``: the per-example sum, divided by the batch size in ``forward``). The
  batch mean of the result equals its scalar (before ``nd_loss_factor``). A zero pair of norms
  is floored at 1e-12 (the reference divides by zero).

  Args:
    student: ``[B, D]`` student embeddings.
    teacher: ``[B, D]`` teacher embeddings.
    centers: ``[B, D]`` the class centre (or any positive multiple of it: only its direction
      counts) of each example's label.

  Returns:
    ``[B]`` per-example losses.
  """
  s, t = _checked_pair(student, teacher, rank=2, layout=_POOLED)
  c = _floating("centers", centers, rank=2, layout="class centres [B, D] (one per example)")
  _require_same_shape("student", s, "teacher", t)
  _require_same_shape("student", s, "centers", c)
  s, t, c = _upcast(s, t, c)
  direction = _normalize(c, axis=-1)
  max_norm = jnp.maximum(_l2_norm(s, axis=-1), _l2_norm(t, axis=-1))[..., 0]
  projection = jnp.sum(s * direction, axis=-1)
  return 1.0 - projection / jnp.maximum(max_norm, NORMALIZE_EPS)


def class_sums_update(sums: ArrayLike, embeddings: ArrayLike, labels: ArrayLike) -> Array:
  """Adds each embedding to its label's row: the running class sums of KD++'s class centres.

  ``sums[k] += sum_{i: labels[i] = k} embeddings[i]``, without gradient. KD++ reads only the
  direction of a class mean, which is the direction of its sum, so the sums stand for the
  means (``WangYZ1608/Knowledge-Distillation-via-ND ImageNet/emb_fea_distribution.py``: the
  teacher's per-class mean embedding over the training set).

  Args:
    sums: ``[K, D]`` class sums.
    embeddings: ``[B, D]`` the batch's teacher embeddings.
    labels: ``[B]`` integer class labels in ``[0, K)``.

  Returns:
    The new ``[K, D]`` sums (dtype of ``sums``).
  """
  sums_in = _floating("sums", sums, rank=2, layout="class sums [K, D]")
  embeddings = _floating("embeddings", embeddings, rank=2, layout=_POOLED)
  labels = jnp.asarray(labels)
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise ValueError(f"labels must be integer class labels; got dtype {labels.dtype}.")
  if labels.shape != embeddings.shape[:1] or embeddings.shape[1] != sums_in.shape[1]:
    raise ValueError(
        f"labels {labels.shape} must be [batch] and embeddings {embeddings.shape} "
        f"[batch, dim] with dim = sums.shape[1] = {sums_in.shape[1]}.")
  sums_f, embeddings = _upcast(*jax.lax.stop_gradient((sums_in, embeddings)))
  added = jax.ops.segment_sum(embeddings, labels, num_segments=sums_f.shape[0])
  return (sums_f + added).astype(sums_in.dtype)


# ----------------------------------------------------------------------------- ViTKD


def vitkd_kept_tokens(tokens: int, mask_ratio: float) -> int:
  """How many of ``tokens`` tokens ViTKD's generation keeps: ``int(tokens * (1 - mask_ratio))``
  (cls_KD ``ViTKDLoss.random_masking``'s ``len_keep``, Python's truncation); the others are
  masked."""
  tokens = _require_positive_int("tokens", tokens)
  if not 0.0 < float(mask_ratio) < 1.0:
    raise ValueError(f"mask_ratio (ViTKD's lambda) must be in (0, 1); got {mask_ratio!r}.")
  return int(tokens * (1 - float(mask_ratio)))


def vitkd_token_mask(key: Array, batch: int, tokens: int, *, mask_ratio: float) -> Array:
  """ViTKD's random token mask: per example, ``tokens - vitkd_kept_tokens(tokens, mask_ratio)``
  tokens chosen uniformly at random are masked.

  As cls_KD's ``ViTKDLoss.random_masking`` (MAE's per-sample shuffling): uniform noise per
  token, the ``len_keep`` tokens of the smallest noise are kept. The mask is a function of
  ``key`` alone (the same for any sharding of the batch).

  Args:
    key: a JAX PRNG key.
    batch: ``B``.
    tokens: ``N``, the patch tokens (class token excluded).
    mask_ratio: ViTKD's lambda, in (0, 1).

  Returns:
    bool ``[B, N]``, True where a token is masked (the reference's ``mask`` 1).
  """
  keep = vitkd_kept_tokens(tokens, mask_ratio)
  noise = jax.random.uniform(key, (_require_positive_int("batch", batch), tokens))
  rank = jnp.argsort(jnp.argsort(noise, axis=1), axis=1)  # each token's place in the shuffle
  return rank >= keep


def vitkd_mask_tokens(tokens: ArrayLike, mask: ArrayLike, mask_token: ArrayLike) -> Array:
  """The tokens with the masked ones replaced by the (learned) mask token.

  Equals cls_KD ``ViTKDLoss.forward``'s keep / concatenate mask tokens / unshuffle (``gather``
  with ``ids_restore``): a kept token stays in its place, a masked one becomes ``mask_token``.

  Args:
    tokens: ``[B, N, D]`` (the projected student tokens).
    mask: bool ``[B, N]``, True where masked (:func:`vitkd_token_mask`).
    mask_token: ``[D]`` (or any shape broadcasting to ``[1, 1, D]``, e.g. ``[1, 1, D]``).

  Returns:
    ``[B, N, D]`` in the compute dtype.
  """
  x = _floating("tokens", tokens, rank=3, layout="tokens [B, N, D]")
  mask = jnp.asarray(mask)
  if mask.shape != x.shape[:2] or mask.dtype != jnp.bool_:
    raise ValueError(f"mask must be bool [B, N] = {list(x.shape[:2])}; got {mask.dtype} "
                     f"{mask.shape} (see vitkd_token_mask).")
  token = _floating("mask_token", mask_token, rank=range(1, 4), layout="a mask token [D]")
  if token.size != x.shape[-1]:
    raise ValueError(f"mask_token {token.shape} must hold D = {x.shape[-1]} values.")
  x, token = _upcast(x, token)
  return jnp.where(mask[..., None], token.reshape(1, 1, -1), x)


def vitkd_mimic(student: ArrayLike, teacher: ArrayLike, *, alpha: ArrayLike = 3e-5) -> Array:
  """ViTKD's mimicking loss of the shallow blocks, per example.

  ``alpha * sum_{blocks, tokens, channels} (p(s) - t)^2``: the squared error summed over the
  example's tokens of the mimicked (shallow) blocks, the student's projected to the teacher's
  width (or as they are when the widths match).

  Paper: Yang, Li, Zeng, Li, Yuan & Li, "ViTKD: Practical Guidelines for ViT feature knowledge
  distillation", 2022 (arXiv 2209.02432), the mimicking loss of the first two layers.

  Reference: ``yzd-v/cls_KD mmcls/models/dis_losses/vitkd.py`` ``ViTKDLoss.forward``
  (``MSELoss(reduction='sum')(xc, low_t) / B * alpha_vitkd``): the batch mean of the result
  equals it.

  Args:
    student: ``[B, L, N, D]`` the projected student tokens of the ``L`` shallow blocks (or
      ``[B, N, D]`` for one block; any ``[B, ...]``).
    teacher: the teacher's tokens of the same blocks, same shape.
    alpha: the loss weight (``alpha_vitkd``).

  Returns:
    ``[B]`` per-example losses.
  """
  s, t = _checked_pair(student, teacher, rank=range(2, 8), layout="a batch of tokens [B, ...]")
  _require_same_shape("student", s, "teacher", t)
  s, t = _upcast(s, t)
  return alpha * jnp.sum(jnp.square(s - t), axis=tuple(range(1, s.ndim)))


def vitkd_generation(generated: ArrayLike, teacher: ArrayLike, mask: ArrayLike, *,
                     beta: ArrayLike = 3e-6, mask_ratio: ArrayLike = 0.5) -> Array:
  """ViTKD's generation loss of the deep block, per example.

  ``beta / lambda * sum_{masked tokens, channels} (g - t)^2``: the squared error of the
  generated tokens ``g`` (the generation block's output on the masked, projected student
  tokens) summed over the example's masked tokens, divided by the mask ratio ``lambda`` (the
  nominal one, as the reference does, not the fraction actually masked).

  Paper: Yang et al., "ViTKD: Practical Guidelines for ViT feature knowledge distillation",
  2022 (arXiv 2209.02432), the generation loss of the last layer.

  Reference: ``yzd-v/cls_KD mmcls/models/dis_losses/vitkd.py`` ``ViTKDLoss.forward``
  (``MSELoss(reduction='sum')(x * mask, high_t * mask) / B * beta_vitkd / lambda_vitkd``):
  the batch mean of the result equals it.

  Args:
    generated: ``[B, N, D]`` generated tokens.
    teacher: ``[B, N, D]`` the teacher's tokens of its last block.
    mask: bool ``[B, N]``, True where the student's token was masked (:func:`vitkd_token_mask`).
    beta: the loss weight (``beta_vitkd``).
    mask_ratio: ``lambda`` (``lambda_vitkd``), the ratio the mask was drawn with.

  Returns:
    ``[B]`` per-example losses.
  """
  g, t = _checked_pair(generated, teacher, rank=3, layout="tokens [B, N, D]",
                       names=("generated", "teacher"))
  _require_same_shape("generated", g, "teacher", t)
  mask = jnp.asarray(mask)
  if mask.shape != g.shape[:2] or mask.dtype != jnp.bool_:
    raise ValueError(f"mask must be bool [B, N] = {list(g.shape[:2])}; got {mask.dtype} "
                     f"{mask.shape} (see vitkd_token_mask).")
  g, t = _upcast(g, t)
  squared = jnp.where(mask[..., None], jnp.square(g - t), 0.0)
  return beta / mask_ratio * jnp.sum(squared, axis=(1, 2))
