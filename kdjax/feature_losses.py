"""Feature-based distillation losses: CRD, ReviewKD, ITRD, CAT-KD.

Pure, jit-able functions; feature maps are NHWC, pooled features ``[B, D]``.
Inputs are computed in float32 (or a wider floating input dtype). Learnable
parts (embedding heads, ABF fusion modules, the CRD memory as state) are the
caller's; these functions are the losses and the pure state updates.
"""

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
ArrayLike = Any

CRD_EPS = 1e-7            # RepDistiller crd/criterion.py: eps in the NCE denominators
F_NORMALIZE_EPS = 1e-12   # torch.nn.functional.normalize's default eps
REVIEW_HCL_LEVELS = (4, 2, 1)
_HIGHEST = jax.lax.Precision.HIGHEST


# ----------------------------------------------------------------------------- helpers


def _as_float_rank(name: str, value: ArrayLike, ndim: int, layout: str) -> Array:
  """``value`` as a floating array of rank ``ndim`` in the compute dtype, else ``ValueError``."""
  value = jnp.asarray(value)
  if value.ndim != ndim:
    raise ValueError(
        f"{name} must have rank {ndim} ({layout}); got shape {value.shape}. "
        f"Reshape it to {layout}.")
  if not jnp.issubdtype(value.dtype, jnp.floating):
    raise ValueError(f"{name} must be floating point; got dtype {value.dtype}.")
  return value.astype(jnp.result_type(jnp.float32, value.dtype))


def _require_same_shape(name_a: str, a: Array, name_b: str, b: Array) -> None:
  if a.shape != b.shape:
    raise ValueError(
        f"{name_a} {a.shape} and {name_b} {b.shape} must have the same shape; project or "
        "pool one of them to the other's shape first.")


def _require_positive_int(name: str, value: Any) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
    raise ValueError(f"{name} must be a positive Python int; got {value!r}.")
  return int(value)


def _l2_norm_safe_grad(x: Array, axis) -> Array:
  """``sqrt(sum x^2)`` over ``axis`` (keepdims) with a zero, not NaN, gradient at 0."""
  squared = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
  positive = squared > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)


def _torch_normalize(x: Array, axis, eps: float = F_NORMALIZE_EPS) -> Array:
  """``x / max(||x||_2, eps)`` over ``axis``: ``torch.nn.functional.normalize``."""
  return x / jnp.maximum(_l2_norm_safe_grad(x, axis), eps)


def _torch_adaptive_pool_matrix(size: int, out: int) -> np.ndarray:
  """``[out, size]`` averaging matrix of PyTorch's adaptive average pooling.

  Bin ``i`` averages ``[floor(i*size/out), ceil((i+1)*size/out))`` (bins may
  overlap when ``out`` does not divide ``size``; ``out > size`` repeats inputs).
  """
  matrix = np.zeros((out, size), np.float64)
  for i in range(out):
    start, end = (i * size) // out, -((-(i + 1) * size) // out)
    matrix[i, start:end] = 1.0 / (end - start)
  return matrix


def adaptive_avg_pool_nhwc(x: ArrayLike, size: int | tuple[int, int]) -> Array:
  """Adaptive average pooling of an NHWC map to ``size`` (``F.adaptive_avg_pool2d``).

  Args:
    x: ``[N, H, W, C]`` feature map.
    size: output ``s`` or ``(s_h, s_w)``.

  Returns:
    ``[N, s_h, s_w, C]``, bins as PyTorch's (exact reshape-mean when the sizes divide).
  """
  x = _as_float_rank("x", x, 4, "[N, H, W, C]")
  out_h, out_w = (size, size) if isinstance(size, (int, np.integer)) else size
  out_h, out_w = _require_positive_int("size", out_h), _require_positive_int("size", out_w)
  n, h, w, c = x.shape
  if h % out_h == 0 and w % out_w == 0:
    return x.reshape(n, out_h, h // out_h, out_w, w // out_w, c).mean(axis=(2, 4))
  pool_h = jnp.asarray(_torch_adaptive_pool_matrix(h, out_h), x.dtype)
  pool_w = jnp.asarray(_torch_adaptive_pool_matrix(w, out_w), x.dtype)
  return jnp.einsum("ih,nhwc,jw->nijc", pool_h, x, pool_w, precision=_HIGHEST)


# ----------------------------------------------------------------------------- CRD


def crd_contrast(scores: ArrayLike, *, num_data: int) -> Array:
  """CRD's NCE loss on memory scores (Tian, Krishnan, Isola, "Contrastive
  Representation Distillation", ICLR 2020, Eq. 18).

  With ``P_n = 1/num_data`` (uniform noise), ``K = scores.shape[1] - 1``
  negatives, ``c = K * P_n`` and ``eps = 1e-7``::

    log D1 = log(P_pos / (P_pos + c + eps))           (column 0)
    log D0 = log(c / (P_neg + c + eps))               (columns 1..K)
    loss   = -(sum_b log D1 + sum_{b,k} log D0) / B

  evaluated as ``-log1p((c + eps) / P_pos)`` and ``-log1p((P_neg + eps) / c)``.
  Matches RepDistiller ``crd/criterion.py`` ``ContrastLoss`` (and the copies in
  mdistiller ``mdistiller/distillers/CRD.py``, zkxufo/TTM ``distiller_zoo/crd.py``).
  CRD uses two of these: one on the student scores, one on the teacher scores
  (see :func:`crd_scores`), summed.

  Args:
    scores: ``[B, K+1]`` normalised scores ``exp(<e, m>/T) / Z`` (positive first, > 0).
    num_data: the training-set size (rows of the memory bank).

  Returns:
    Scalar loss (a sum over the batch's pairs divided by ``B``).
  """
  scores = _as_float_rank("scores", scores, 2, "[batch, 1 + num_negatives], positive first")
  num_data = _require_positive_int("num_data", num_data)
  if scores.shape[0] < 1 or scores.shape[1] < 1:
    raise ValueError(f"scores needs a batch and a positive column; got shape {scores.shape}.")
  batch, num_negatives = scores.shape[0], scores.shape[1] - 1
  noise = num_negatives / float(num_data)
  positive, negatives = scores[:, 0], scores[:, 1:]
  log_d1 = -jnp.log1p((noise + CRD_EPS) / positive)
  log_d0 = -jnp.log1p((negatives + CRD_EPS) / noise) if num_negatives else jnp.zeros((batch, 0))
  return -(jnp.sum(log_d1) + jnp.sum(log_d0)) / batch


def crd_scores(embedding: ArrayLike, memory_rows: ArrayLike, *, temperature: ArrayLike,
               normalizer: ArrayLike) -> Array:
  """CRD memory scores ``exp(<e_b, m_bk> / T) / Z`` (RepDistiller ``crd/memory.py``).

  As ``ContrastMemory.forward``: the memory rows are constants (the reference
  ``.detach()``es them) and ``Z`` is a number (``.item()``), so both are under
  ``stop_gradient``; only ``embedding`` carries gradient. The student's scores
  use the TEACHER memory's rows and vice versa. Computed as
  ``exp(<e, m>/T - log Z)``.

  To fix ``Z`` from the first batch as the reference does, call with
  ``normalizer=1.0`` to get the raw scores, then :func:`crd_normalizer`.

  Args:
    embedding: ``[B, D]`` L2-normalised embeddings (the anchor side).
    memory_rows: ``[B, K+1, D]`` rows of the other side's memory bank,
      ``memory[contrast_idx]`` with the positive (the sample's own index) first.
    temperature: ``T`` (``nce_t``, 0.07).
    normalizer: ``Z`` (scalar, > 0).

  Returns:
    ``[B, K+1]`` scores.
  """
  embedding = _as_float_rank("embedding", embedding, 2, "[batch, dim]")
  memory_rows = _as_float_rank("memory_rows", memory_rows, 3, "[batch, 1 + num_negatives, dim]")
  if memory_rows.shape[0] != embedding.shape[0] or memory_rows.shape[2] != embedding.shape[1]:
    raise ValueError(
        f"memory_rows {memory_rows.shape} must be [batch, 1 + num_negatives, dim] with "
        f"batch, dim of embedding {embedding.shape}; gather them as memory[contrast_idx].")
  if jnp.ndim(temperature) or jnp.ndim(normalizer):
    raise ValueError("temperature and normalizer must be scalars.")
  memory_rows = jax.lax.stop_gradient(memory_rows)
  log_z = jnp.log(jax.lax.stop_gradient(jnp.asarray(normalizer, embedding.dtype)))
  dots = jnp.einsum("bkd,bd->bk", memory_rows, embedding, precision=_HIGHEST)
  return jnp.exp(dots / temperature - log_z)


def crd_normalizer(raw_exp_scores: ArrayLike, *, num_data: int) -> Array:
  """CRD's normalisation constant ``Z = mean(exp(<e, m>/T)) * num_data``.

  ``ContrastMemory`` (RepDistiller ``crd/memory.py``) sets ``Z`` once, from the
  first batch's raw scores (mean over all ``B * (K+1)`` entries), and keeps it
  for the rest of training; one ``Z`` per side (student scores, teacher
  scores). Returned under ``stop_gradient`` (the reference stores ``.item()``).

  Args:
    raw_exp_scores: ``[B, K+1]`` unnormalised ``exp(<e, m>/T)``
      (:func:`crd_scores` with ``normalizer=1.0``).
    num_data: the training-set size.

  Returns:
    Scalar ``Z``.
  """
  raw = _as_float_rank("raw_exp_scores", raw_exp_scores, 2, "[batch, 1 + num_negatives]")
  num_data = _require_positive_int("num_data", num_data)
  return jax.lax.stop_gradient(jnp.mean(raw) * num_data)


def crd_memory_update(memory: ArrayLike, indices: ArrayLike, embeddings: ArrayLike, *,
                      momentum: ArrayLike) -> Array:
  """CRD's momentum update of one memory bank, as a pure function.

  ``ContrastMemory.forward`` (RepDistiller ``crd/memory.py``), under no-grad::

    r = memory[idx] * m + e * (1 - m);   memory[idx] = r / ||r||_2

  Only the rows ``indices`` change. The student's embeddings update the
  student bank, the teacher's the teacher bank. Indices must be distinct
  (dataset indices of one batch); with duplicates which write wins is
  unspecified, as in the reference's ``index_copy_``. A zero row stays zero
  (the reference divides 0/0).

  Args:
    memory: ``[N, D]`` bank.
    indices: ``[B]`` integer dataset indices of the batch.
    embeddings: ``[B, D]`` the batch's embeddings for this bank.
    momentum: ``m`` (``nce_m``, 0.5).

  Returns:
    The new ``[N, D]`` bank (dtype of ``memory``).
  """
  memory_in = jnp.asarray(memory)
  memory_f = _as_float_rank("memory", memory_in, 2, "[num_data, dim]")
  embeddings = _as_float_rank("embeddings", embeddings, 2, "[batch, dim]")
  indices = jnp.asarray(indices)
  if not jnp.issubdtype(indices.dtype, jnp.integer):
    raise ValueError(f"indices must be integer dataset indices; got dtype {indices.dtype}.")
  if indices.shape != embeddings.shape[:1] or embeddings.shape[1] != memory_f.shape[1]:
    raise ValueError(
        f"indices {indices.shape} must be [batch] and embeddings {embeddings.shape} "
        f"[batch, dim] with dim = memory.shape[1] = {memory_f.shape[1]}.")
  if jnp.ndim(momentum):
    raise ValueError("momentum must be a scalar.")
  memory_f, embeddings = jax.lax.stop_gradient(memory_f), jax.lax.stop_gradient(embeddings)
  rows = memory_f[indices] * momentum + embeddings * (1.0 - momentum)
  norm = _l2_norm_safe_grad(rows, axis=1)
  rows = rows / jnp.where(norm > 0, norm, 1.0)
  return memory_f.at[indices].set(rows).astype(memory_in.dtype)


# ----------------------------------------------------------------------------- ReviewKD


def review_hcl(student_feats: Sequence[ArrayLike], teacher_feats: Sequence[ArrayLike]) -> Array:
  """ReviewKD's hierarchical context loss, HCL (Chen, Liu, Zhao, Jia, "Distilling Knowledge
  via Knowledge Review", CVPR 2021).

  Per pair of NHWC maps of height ``H``: the full-size MSE plus, for each level
  ``l`` in ``(4, 2, 1)`` with ``l < H`` (levels with ``l >= H`` are skipped),
  the MSE after adaptive average pooling to ``l x l``. The used levels get
  weights ``1/2, 1/4, 1/8`` in order of use (the full size weight 1), and the
  weighted sum is divided by the sum of the weights used::

    H >= 5: (mse + mse_4/2 + mse_2/4 + mse_1/8) / 1.875
    H in 3..4: (mse + mse_2/2 + mse_1/4) / 1.75;  H = 2: (mse + mse_1/2) / 1.5;  H = 1: mse

  summed over the pairs. Matches mdistiller
  ``mdistiller/distillers/ReviewKD.py`` ``hcl_loss`` (only ``H`` is tested
  against ``l``, not ``W``; MSEs are means over all elements).

  Args:
    student_feats: sequence of ``[N, H_i, W_i, C_i]`` student maps (after the ABFs).
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
  for i, (fs, ft) in enumerate(zip(student_feats, teacher_feats)):
    fs = _as_float_rank(f"student_feats[{i}]", fs, 4, "[N, H, W, C]")
    ft = _as_float_rank(f"teacher_feats[{i}]", ft, 4, "[N, H, W, C]")
    _require_same_shape(f"student_feats[{i}]", fs, f"teacher_feats[{i}]", ft)
    height = fs.shape[1]
    loss, weight, weight_sum = jnp.mean(jnp.square(fs - ft)), 1.0, 1.0
    for level in REVIEW_HCL_LEVELS:
      if level >= height:
        continue
      weight /= 2.0
      pooled = adaptive_avg_pool_nhwc(fs - ft, level)   # pooling is linear: pool(a) - pool(b)
      loss = loss + weight * jnp.mean(jnp.square(pooled))
      weight_sum += weight
    total = total + loss / weight_sum
  return jnp.asarray(total)


# ----------------------------------------------------------------------------- ITRD


def _itrd_checked_pair(student, teacher, same_width: bool):
  student = _as_float_rank("student", student, 2, "[batch, dim]")
  teacher = _as_float_rank("teacher", teacher, 2, "[batch, dim]")
  if same_width:
    _require_same_shape("student", student, "teacher", teacher)
  elif student.shape[0] != teacher.shape[0]:
    raise ValueError(f"student {student.shape} and teacher {teacher.shape} must have the "
                     "same batch size.")
  dtype = jnp.result_type(student.dtype, teacher.dtype)
  return student.astype(dtype), teacher.astype(dtype)


def _itrd_batch_standardize(x: Array) -> Array:
  """``(x - mean_b x) / std_b x`` with the unbiased std (``Tensor.std(0)``), no eps.

  A constant column (std 0, where the reference divides 0/0) maps to 0.
  """
  centered = x - jnp.mean(x, axis=0, keepdims=True)
  std = _l2_norm_safe_grad(centered, axis=0) / math.sqrt(x.shape[0] - 1)
  return jnp.where(std > 0, centered / jnp.where(std > 0, std, 1.0), 0.0)


def itrd_correlation(student: ArrayLike, teacher: ArrayLike, *, alpha: ArrayLike = 1.5) -> Array:
  """ITRD's correlation loss (Miles, Lopez Rodriguez, Mikolajczyk, "Information
  Theoretic Representation Distillation", BMVC 2022; arXiv 2112.00459, 2021).

  Both features are standardised over the batch without affine parameters,
  ``f^ = (f - mean_b f) / std_b f`` (unbiased std, no eps), then with the
  diagonal of the cross-correlation ``c_d = (1/B) sum_b s^_bd t^_bd``::

    loss = log2( sum_d (|c_d - 1|^2)^alpha )

  Matches zkxufo/TTM ``distiller_zoo/itrd.py`` ``ITLoss.forward_correlation_it``
  (same code as roymiles/ITRD ``distiller_zoo/IT.py``). With the unbiased std,
  identical inputs give ``c_d = (B-1)/B`` and ``log2(D) - 2 alpha log2(B)``.
  The reference always passes the student through its linear embedding here.

  Args:
    student: ``[B, D]`` pooled student features, embedded to the teacher's width.
    teacher: ``[B, D]`` pooled teacher features. ``B >= 2``.
    alpha: Renyi's order (``--alpha_it``, 1.5).

  Returns:
    Scalar loss (``-inf`` if every ``c_d`` is exactly 1).
  """
  student, teacher = _itrd_checked_pair(student, teacher, same_width=True)
  if student.shape[0] < 2:
    raise ValueError(f"itrd_correlation needs a batch of >= 2 (unbiased std); got {student.shape}.")
  batch = student.shape[0]
  s_hat, t_hat = _itrd_batch_standardize(student), _itrd_batch_standardize(teacher)
  corr = jnp.sum(s_hat * t_hat, axis=0) / batch
  powered = jnp.power(jnp.square(corr - 1.0), alpha)
  return jnp.log(jnp.sum(powered)) / math.log(2.0)


def itrd_mutual(student: ArrayLike, teacher: ArrayLike) -> Array:
  """ITRD's mutual-information loss on Gram matrices (Miles et al., BMVC 2022).

  Rows L2-normalised (``F.normalize``, eps 1e-12), ``G_s = S S^T``,
  ``G_t = T T^T``, ``G_st = G_s * G_t`` (elementwise), each of ``G_s, G_st``
  divided by its trace::

    loss = sum_ij (G_s/tr G_s)_ij^2 - (G_st/tr G_st)_ij^2

  Matches zkxufo/TTM ``distiller_zoo/itrd.py`` ``ITLoss.forward_mutual_it``
  (roymiles/ITRD ``distiller_zoo/IT.py``). The Gram matrices are ``[B, B]``, so
  the widths may differ; the reference embeds the student only when its width
  differs from the teacher's.

  Args:
    student: ``[B, D_s]`` pooled student features.
    teacher: ``[B, D_t]`` pooled teacher features.

  Returns:
    Scalar loss.
  """
  student, teacher = _itrd_checked_pair(student, teacher, same_width=False)
  s, t = _torch_normalize(student, axis=1), _torch_normalize(teacher, axis=1)
  gram_s = jnp.matmul(s, s.T, precision=_HIGHEST)
  gram_st = gram_s * jnp.matmul(t, t.T, precision=_HIGHEST)
  gram_s = gram_s / jnp.trace(gram_s)
  gram_st = gram_st / jnp.trace(gram_st)
  return jnp.sum(jnp.square(gram_s) - jnp.square(gram_st))


# ----------------------------------------------------------------------------- CAT-KD


def class_activation_maps(features: ArrayLike, classifier_kernel: ArrayLike,
                          classifier_bias: ArrayLike | None = None) -> Array:
  """Class activation maps ``CAM[n,h,w,k] = sum_d F[n,h,w,d] W[d,k] (+ b_k)``.

  CAT-KD (Guo, Yan, Li, Lin, "Class Attention Transfer Based Knowledge
  Distillation", CVPR 2023) turns the classifier into a 1x1
  convolution on the last feature map (GzyAftermath/CAT-KD: ``conv_test``,
  ``bias=False``, in ``mdistiller/models/*/*.py``'s ``*_test`` models; the
  teacher's ``fc.weight`` is copied in ``tools/train.py`` and its bias
  DROPPED). ``classifier_bias=None`` (default) is that reference. With a bias
  it is added at every position, so the spatial mean of the CAM equals the
  Dense layer's logits on the mean-pooled features.

  Args:
    features: ``[N, H, W, D]`` last feature map (after its ReLU, as the
      classifier sees it before pooling).
    classifier_kernel: ``[D, K]`` Flax ``Dense`` kernel.
    classifier_bias: optional ``[K]`` bias.

  Returns:
    ``[N, H, W, K]`` CAMs.
  """
  features = _as_float_rank("features", features, 4, "[N, H, W, D]")
  kernel = _as_float_rank("classifier_kernel", classifier_kernel, 2, "[D, K] (Flax Dense kernel)")
  if kernel.shape[0] != features.shape[-1]:
    raise ValueError(
        f"classifier_kernel {kernel.shape} must be [D, K] with D = features.shape[-1] = "
        f"{features.shape[-1]} (a torch Linear weight [K, D] must be transposed).")
  cams = jnp.einsum("nhwd,dk->nhwk", features, kernel.astype(features.dtype), precision=_HIGHEST)
  if classifier_bias is not None:
    bias = _as_float_rank("classifier_bias", classifier_bias, 1, "[K]")
    if bias.shape[0] != kernel.shape[1]:
      raise ValueError(f"classifier_bias {bias.shape} must be [K] = [{kernel.shape[1]}].")
    cams = cams + bias.astype(cams.dtype)
  return cams


def cat_kd(student_cam: ArrayLike, teacher_cam: ArrayLike, *, resolution: int = 2,
           normalize: bool = True) -> Array:
  """CAT-KD's class attention transfer (CAT) loss (Guo et al., CVPR 2023).

  Both CAMs are adaptive-average-pooled to ``resolution x resolution``; with
  ``normalize`` each map (per sample, per class) is divided by its L2 norm over
  the spatial positions (``F.normalize(dim=(2, 3))``, eps 1e-12); then the MSE
  (mean over all ``N * r * r * K`` entries)::

    loss = mean( (norm(pool(CAM_s)) - norm(pool(CAM_t)))^2 )

  Matches GzyAftermath/CAT-KD ``mdistiller/distillers/CAT_KD.py`` ``CAT_loss``
  (without the distiller's optional binarisation / class subset). The
  distiller multiplies by ``CAT_loss_weight``.

  Args:
    student_cam: ``[N, H_s, W_s, K]`` student CAMs (channels = classes).
    teacher_cam: ``[N, H_t, W_t, K]`` teacher CAMs (spatial size may differ).
    resolution: pooled size (``CAM_RESOLUTION``, 2).
    normalize: ``IF_NORMALIZE``.

  Returns:
    Scalar loss.
  """
  student_cam = _as_float_rank("student_cam", student_cam, 4, "[N, H, W, num_classes]")
  teacher_cam = _as_float_rank("teacher_cam", teacher_cam, 4, "[N, H, W, num_classes]")
  if (student_cam.shape[0], student_cam.shape[-1]) != (teacher_cam.shape[0], teacher_cam.shape[-1]):
    raise ValueError(
        f"student_cam {student_cam.shape} and teacher_cam {teacher_cam.shape} must share "
        "the batch and class axes [N, ., ., K].")
  resolution = _require_positive_int("resolution", resolution)
  pooled_s = adaptive_avg_pool_nhwc(student_cam, resolution)
  pooled_t = adaptive_avg_pool_nhwc(teacher_cam, resolution)
  if normalize:
    pooled_s, pooled_t = _torch_normalize(pooled_s, (1, 2)), _torch_normalize(pooled_t, (1, 2))
  return jnp.mean(jnp.square(pooled_s - pooled_t))
