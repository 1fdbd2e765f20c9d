"""Statistics of teacher and student logits behind the papers' analysis figures.

Every function here is pure and takes logits with the class axis last (`[N, K]`; `z` student, `v` teacher,
as in the papers). Per-example statistics are jittable JAX functions (the trainer can log them at eval
time through `epoch_statistics`); the figure-level summaries (histograms, class-pair tables) are host-side
numpy functions that validate their input and raise `ValueError` naming the problem.

What each figure of the papers reads:

* seed 001 (Logit Standardization) Fig. 5: a bivariate histogram of the per-sample logit mean and standard
  deviation, teacher vs student (`logit_moments`, `mean_std_histogram`).
* seed 001 Fig. 3: a heatmap of the teacher-student logit difference per class pair, raw and after z-score
  (`class_mean_logits`, `class_pair_difference`, `difference_summary`).
* seed 000 (max-logit temperature) Fig. 1: the per-sample Pearson correlation of teacher and student logits
  (`kdjax.temperature.logit_correlation`) against the training loss; and its claim that its per-sample
  temperatures are higher than the usual static ones (`maxlogit_temperatures`, `ls_temperatures`,
  `temperature_histogram`).
* seed 002 (TTM) Figs. 1-2: the mean entropy of the student's predictions (`prediction_entropy`) and the mean
  KL between the power-transformed teacher and the student (`transformed_teacher_kl`).
"""

from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from kdjax import temperature
from kdjax.statistics import (EPOCH_STATISTICS, _check_labels, _check_logits, _check_pair,
                              epoch_statistics, logit_moments, ls_temperatures,
                              maxlogit_temperatures, per_example_statistics, prediction_entropy,
                              statistic_sums, statistics_from_sums, transformed_teacher_kl)

__all__ = [  # the per-example statistics live in kdjax.statistics and are re-exported here
    'EPOCH_STATISTICS', 'STATIC_TEMPERATURES', 'class_mean_logits', 'class_pair_difference',
    'cumulative_wall_time', 'difference_summary', 'epoch_statistics', 'logit_moments',
    'ls_temperatures', 'maxlogit_temperatures', 'mean_std_histogram', 'per_example_statistics',
    'prediction_entropy', 'statistic_sums', 'statistics_from_sums', 'temperature_histogram',
    'to_python', 'transformed_teacher_kl']

STATIC_TEMPERATURES = (1.0, 2.0, 4.0, 8.0)


# ----------------------------------------------------------------------------------------------------------
# Figure-level summaries (host-side numpy).


def mean_std_histogram(student_logits, teacher_logits, *, bins: int = 30,
                       ddof: int = 1) -> dict[str, np.ndarray]:
  """Bivariate histograms of per-sample logit (mean, std), teacher and student on shared bins.

  Seed 001, Fig. 5.

  Args:
    student_logits: `[N, K]`.
    teacher_logits: `[N, K]`.
    bins: number of bins along each axis.
    ddof: standard-deviation estimator.

  Returns:
    `mean_edges` `[bins+1]`, `std_edges` `[bins+1]`, `teacher_counts` and `student_counts` `[bins, bins]`
    (rows: mean bins, columns: std bins; `np.histogram2d` convention), and the per-sample `teacher_mean`,
    `teacher_std`, `student_mean`, `student_std` `[N]`.
  """
  _check_pair(student_logits, teacher_logits)
  if bins < 1:
    raise ValueError(f'bins must be >= 1; got {bins}.')
  teacher, student = np.asarray(teacher_logits, np.float64), np.asarray(student_logits, np.float64)
  t_mean, t_std = teacher.mean(-1), teacher.std(-1, ddof=ddof)  # float64 on the host, like the bin edges
  s_mean, s_std = student.mean(-1), student.std(-1, ddof=ddof)
  mean_edges = np.histogram_bin_edges(np.concatenate([t_mean, s_mean]), bins=bins)
  std_edges = np.histogram_bin_edges(np.concatenate([t_std, s_std]), bins=bins)
  t_counts, _, _ = np.histogram2d(t_mean, t_std, bins=[mean_edges, std_edges])
  s_counts, _, _ = np.histogram2d(s_mean, s_std, bins=[mean_edges, std_edges])
  return {'mean_edges': mean_edges, 'std_edges': std_edges,
          'teacher_counts': t_counts.astype(np.int64), 'student_counts': s_counts.astype(np.int64),
          'teacher_mean': t_mean, 'teacher_std': t_std, 'student_mean': s_mean, 'student_std': s_std}


def class_mean_logits(logits, labels, *, num_classes: int | None = None) -> np.ndarray:
  """`M[i, j]` = mean over the examples of true class `i` of logit `j`.

  Args:
    logits: `[N, K]`.
    labels: `[N]` integer labels in `[0, K)`.
    num_classes: K (defaults to `logits.shape[-1]`).

  Returns:
    `[K, K]` float64; the row of a class without any example is NaN (undefined).
  """
  _check_logits(logits)
  logits = np.asarray(logits, np.float64)
  k = logits.shape[-1] if num_classes is None else num_classes
  if k != logits.shape[-1]:
    raise ValueError(f'num_classes={k} but the logits have {logits.shape[-1]} classes.')
  labels = _check_labels(labels, logits.shape[0], k)
  counts = np.bincount(labels, minlength=k).astype(np.float64)
  sums = np.zeros((k, k))
  np.add.at(sums, labels, logits)
  with np.errstate(invalid='ignore', divide='ignore'):
    return sums / counts[:, None]


def class_pair_difference(student_logits, teacher_logits, labels, *, standardize: bool = False,
                          ddof: int = 1, eps: float = 1e-7, zero_diagonal: bool = True) -> np.ndarray:
  """Teacher-student logit difference per class pair (seed 001, Fig. 3).

  Definition (as the LS authors' visualisation script, following DKD's): for true class `i` and logit `j`,

      D[i, j] = | mean_{n: y_n = i} z_nj  -  mean_{n: y_n = i} v_nj |

  i.e. the absolute value of the average (over the examples of class `i`) of the teacher-student difference at
  logit `j` - the sign is taken after averaging, so per-sample differences of opposite sign cancel. The
  diagonal (`j == i`, the target logit) is set to 0 by default, as in that script, and `difference_summary`
  averages over all `K^2` entries including it. With `standardize=True` both logit vectors are z-scored per
  sample first (`kdjax.temperature.zscore`, seed 001 Eq. 7 / Algorithm 1). Rows of classes without any
  example are NaN (and ignored by `difference_summary`).

  Args:
    student_logits: `[N, K]`.
    teacher_logits: `[N, K]`.
    labels: `[N]` true classes.
    standardize: z-score both logit vectors before averaging.
    ddof: z-score estimator.
    eps: z-score epsilon.
    zero_diagonal: set `D[i, i] = 0`.

  Returns:
    `[K, K]` float64.
  """
  _check_pair(student_logits, teacher_logits)
  z, v = student_logits, teacher_logits
  if standardize:
    z = temperature.zscore(jnp.asarray(z, jnp.float32), ddof=ddof, eps=eps)
    v = temperature.zscore(jnp.asarray(v, jnp.float32), ddof=ddof, eps=eps)
  diff = np.abs(class_mean_logits(z, labels) - class_mean_logits(v, labels))
  if zero_diagonal:
    present = np.isfinite(np.diag(diff))
    diff[np.flatnonzero(present), np.flatnonzero(present)] = 0.0
  return diff


def difference_summary(diff: np.ndarray) -> dict[str, object]:
  """Mean and max of a class-pair difference matrix, where the max is, and the classes without examples.

  The mean is over all entries of the classes present (`K^2` when every class occurs), zeroed diagonal
  included: the numbers seed 001's Fig. 3 prints.
  """
  diff = np.asarray(diff, np.float64)
  if diff.ndim != 2 or diff.shape[0] != diff.shape[1]:
    raise ValueError(f'expected a square [K, K] matrix; got shape {diff.shape}.')
  missing = np.flatnonzero(~np.all(np.isfinite(diff), axis=1))
  if len(missing) == len(diff):
    raise ValueError('no class has an example: the difference matrix is undefined.')
  i, j = np.unravel_index(int(np.nanargmax(diff)), diff.shape)
  return {'mean': float(np.nanmean(diff)), 'max': float(np.nanmax(diff)), 'argmax_class': int(i),
          'argmax_logit': int(j), 'classes_without_examples': missing.tolist()}


def temperature_histogram(values, *, bins: int = 30, static: Sequence[float] = STATIC_TEMPERATURES,
                          edges: np.ndarray | None = None) -> dict[str, object]:
  """Histogram of per-sample temperatures and their position against static values (seed 000's claim).

  Args:
    values: `[N]` temperatures.
    bins: number of bins (ignored when `edges` is given).
    static: static temperatures to compare with (e.g. 1, 2, 4, 8).
    edges: explicit bin edges (to share bins between policies).

  Returns:
    `counts`, `edges`, `mean`, `median`, `std`, `min`, `max`, and `fraction_above` (a dict `T -> fraction of
    samples with temperature > T`, keys formatted like `'4'`).
  """
  values = np.asarray(values, np.float64).reshape(-1)
  if values.size == 0 or not np.all(np.isfinite(values)):
    raise ValueError('temperatures must be a non-empty array of finite values.')
  counts, edges = np.histogram(values, bins=bins if edges is None else edges)
  return {'counts': counts, 'edges': edges, 'mean': float(values.mean()), 'median': float(np.median(values)),
          'std': float(values.std()), 'min': float(values.min()), 'max': float(values.max()),
          'fraction_above': {f'{t:g}': float(np.mean(values > t)) for t in static}}


def cumulative_wall_time(epoch_times) -> np.ndarray:
  """Cumulative training wall time after each epoch (seed 000, Fig. 2): `cumsum(epoch_times)`."""
  times = np.asarray(epoch_times, np.float64).reshape(-1)
  if not np.all(np.isfinite(times)) or np.any(times < 0):
    raise ValueError('epoch times must be finite and non-negative.')
  return np.cumsum(times)


def to_python(tree: Mapping | Sequence | np.ndarray | jax.Array | float):
  """Converts nested dicts/lists of arrays and numpy scalars to JSON-ready values (NaN/inf -> None)."""
  if isinstance(tree, Mapping):
    return {str(k): to_python(v) for k, v in tree.items()}
  if isinstance(tree, (list, tuple)):
    return [to_python(v) for v in tree]
  if isinstance(tree, (np.ndarray, jax.Array)):
    return to_python(np.asarray(tree).tolist())
  if isinstance(tree, np.generic):
    tree = tree.item()
  if isinstance(tree, float) and not np.isfinite(tree):
    return None  # strict JSON has no NaN/inf
  return tree
