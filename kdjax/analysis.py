"""Statistics of teacher and student logits behind the papers' analysis figures.

Every function here is pure and takes logits with the class axis last (`[N, K]`; `z` student, `v` teacher,
as in `methods.md`). Per-example statistics are jittable JAX functions (the trainer can log them at eval
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

from kdjax import losses
from kdjax import temperature

STATIC_TEMPERATURES = (1.0, 2.0, 4.0, 8.0)

EPOCH_STATISTICS = (
    'student_entropy',
    'kl_transformed_teacher',
    'logit_correlation',
    'maxlogit_tau_mean',
    'maxlogit_tau_std',
    'ls_teacher_temperature_mean',
    'ls_student_temperature_mean',
)


def _check_logits(logits, name: str = 'logits') -> None:
  """Raises ValueError unless `logits` is `[N, K]` with N >= 1, K >= 2 (and finite when concrete)."""
  if jnp.ndim(logits) != 2:
    raise ValueError(f'{name} must have shape [num_examples, num_classes]; got shape {jnp.shape(logits)}.')
  n, k = jnp.shape(logits)
  if n < 1 or k < 2:
    raise ValueError(f'{name} needs at least 1 example and 2 classes; got shape {(n, k)}.')
  try:
    values = np.asarray(logits, np.float64)
  except jax.errors.TracerArrayConversionError:
    return  # under jit: shapes only (no host sync)
  if not np.all(np.isfinite(values)):
    raise ValueError(f'{name} contain NaN or inf values; evaluate a finite model (check the checkpoint).')


def _check_pair(student_logits, teacher_logits) -> None:
  _check_logits(student_logits, 'student_logits')
  _check_logits(teacher_logits, 'teacher_logits')
  if jnp.shape(student_logits) != jnp.shape(teacher_logits):
    raise ValueError(
        f'student and teacher logits must have the same shape; got {jnp.shape(student_logits)} and '
        f'{jnp.shape(teacher_logits)} (do teacher and student predict the same classes of the same '
        'examples?).')


def _check_labels(labels, num_examples: int, num_classes: int) -> np.ndarray:
  labels = np.asarray(labels)
  if labels.shape != (num_examples,) or not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(
        f'labels must be integers of shape ({num_examples},); got {labels.dtype} {labels.shape}.')
  if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    raise ValueError(f'labels must lie in [0, {num_classes}); got range [{labels.min()}, {labels.max()}].')
  return labels


# ----------------------------------------------------------------------------------------------------------
# Per-example statistics (jittable).


def logit_moments(logits: jax.Array, *, ddof: int = 1) -> tuple[jax.Array, jax.Array]:
  """Per-sample mean and standard deviation of the logits over classes (seed 001, Fig. 5).

  Args:
    logits: `[N, K]`.
    ddof: delta degrees of freedom of the standard deviation (1: unbiased, as the LS code; 0: the 1/K form).

  Returns:
    `(mean, std)`, each `[N]`.
  """
  _check_logits(logits)
  logits = jnp.asarray(logits, jnp.float32)
  return jnp.mean(logits, axis=-1), jnp.std(logits, axis=-1, ddof=ddof)


def prediction_entropy(logits: jax.Array) -> jax.Array:
  """Shannon entropy (nats) of `softmax(logits)`: `H(p) = -sum_k p_k log p_k` (seed 002, Fig. 1).

  Args:
    logits: `[N, K]`.

  Returns:
    `[N]` entropies, in `[0, log K]`.
  """
  _check_logits(logits)
  log_p = jax.nn.log_softmax(jnp.asarray(logits, jnp.float32), axis=-1)
  return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)


def transformed_teacher_kl(student_logits: jax.Array, teacher_logits: jax.Array, *,
                           gamma: float) -> jax.Array:
  """`KL(p~ || softmax(z))` with `p~ = softmax(v)^gamma / U = softmax(gamma v)` (seed 002 Eq. 9, Fig. 2).

  This is exactly the per-sample TTM loss (`kdjax.losses.ttm`): the figure shows how far the student is from
  the power-transformed teacher.

  Args:
    student_logits: `[N, K]`.
    teacher_logits: `[N, K]`.
    gamma: power of the transform, `1/T`.

  Returns:
    `[N]` KL divergences (nats).
  """
  _check_pair(student_logits, teacher_logits)
  return losses.ttm(jnp.asarray(student_logits, jnp.float32), jnp.asarray(teacher_logits, jnp.float32),
                    gamma=gamma)


def maxlogit_temperatures(student_logits: jax.Array, teacher_logits: jax.Array, *, order: int = 2,
                          teacher_only: bool = False, ddof: int = 1, eps: float = 1e-7) -> jax.Array:
  """Per-sample max-logit temperature `tau_i = f_a(max(max Z(v), max Z(z)))` (seed 000, Alg. 1-3).

  A thin wrapper of `kdjax.temperature.max_logit` that validates its input.

  Returns:
    `[N]` temperatures.
  """
  _check_pair(student_logits, teacher_logits)
  return temperature.max_logit(jnp.asarray(student_logits, jnp.float32),
                               jnp.asarray(teacher_logits, jnp.float32), order=order,
                               teacher_only=teacher_only, ddof=ddof, eps=eps)


def ls_temperatures(logits: jax.Array, *, tau: float, ddof: int = 1, eps: float = 1e-7) -> jax.Array:
  """Effective per-sample temperature of logit standardization, `tau * (eps + std(x))` (seed 001, Sec. 2).

  LS-KD with base temperature `tau` equals KD with these per-sample temperatures (methods.md, section 2).

  Returns:
    `[N]` temperatures.
  """
  _check_logits(logits)
  return tau * (eps + jnp.std(jnp.asarray(logits, jnp.float32), axis=-1, ddof=ddof))


def per_example_statistics(student_logits: jax.Array, teacher_logits: jax.Array, *, gamma: float,
                           ls_tau: float = 2.0, order: int = 2, teacher_only: bool = False,
                           ddof: int = 1, eps: float = 1e-7) -> dict[str, jax.Array]:
  """The per-example quantities behind `epoch_statistics` (sum them over batches to accumulate).

  Returns:
    A dict of `[N]` arrays: `student_entropy`, `kl_transformed_teacher`, `logit_correlation`, `maxlogit_tau`,
    `ls_teacher_temperature`, `ls_student_temperature`.
  """
  _check_pair(student_logits, teacher_logits)
  z = jnp.asarray(student_logits, jnp.float32)
  v = jnp.asarray(teacher_logits, jnp.float32)
  return {
      'student_entropy': prediction_entropy(z),
      'kl_transformed_teacher': transformed_teacher_kl(z, v, gamma=gamma),
      'logit_correlation': temperature.logit_correlation(z, v),
      'maxlogit_tau': maxlogit_temperatures(z, v, order=order, teacher_only=teacher_only, ddof=ddof, eps=eps),
      'ls_teacher_temperature': ls_temperatures(v, tau=ls_tau, ddof=ddof, eps=eps),
      'ls_student_temperature': ls_temperatures(z, tau=ls_tau, ddof=ddof, eps=eps),
  }


def epoch_statistics(student_logits: jax.Array, teacher_logits: jax.Array, *, gamma: float,
                     ls_tau: float = 2.0, order: int = 2, teacher_only: bool = False,
                     ddof: int = 1, eps: float = 1e-7) -> dict[str, jax.Array]:
  """Scalars to log once per epoch from the student's and teacher's logits on the evaluation set.

  Jittable (static keyword arguments); pass all evaluation logits at once.

  Args:
    student_logits: `[N, K]` student logits.
    teacher_logits: `[N, K]` teacher logits of the same examples.
    gamma: TTM power `1/T` of the transformed teacher (seed 002; e.g. the run's `ttm_gamma`).
    ls_tau: base temperature of the LS effective temperatures `tau * std`.
    order: Taylor order of the max-logit temperature (1 or 2).
    teacher_only: max-logit temperature from the teacher's maximum only.
    ddof: z-score / standard-deviation estimator (1, as the LS and max-logit defaults).
    eps: z-score epsilon.

  Returns:
    Scalars named as `EPOCH_STATISTICS`: `student_entropy` (mean `H(softmax(z))`, seed 002 Fig. 1),
    `kl_transformed_teacher` (mean `KL(softmax(gamma v) || softmax(z))`, seed 002 Fig. 2),
    `logit_correlation` (mean per-sample Pearson correlation, seed 000 Fig. 1), `maxlogit_tau_mean` and
    `maxlogit_tau_std` (population std over samples) of the max-logit temperatures, and
    `ls_teacher_temperature_mean` / `ls_student_temperature_mean` (mean `ls_tau * std` of each).
  """
  stats = per_example_statistics(student_logits, teacher_logits, gamma=gamma, ls_tau=ls_tau, order=order,
                                 teacher_only=teacher_only, ddof=ddof, eps=eps)
  return {
      'student_entropy': jnp.mean(stats['student_entropy']),
      'kl_transformed_teacher': jnp.mean(stats['kl_transformed_teacher']),
      'logit_correlation': jnp.mean(stats['logit_correlation']),
      'maxlogit_tau_mean': jnp.mean(stats['maxlogit_tau']),
      'maxlogit_tau_std': jnp.std(stats['maxlogit_tau']),
      'ls_teacher_temperature_mean': jnp.mean(stats['ls_teacher_temperature']),
      'ls_student_temperature_mean': jnp.mean(stats['ls_student_temperature']),
  }


def statistic_sums(student_logits: jax.Array, teacher_logits: jax.Array, mask: jax.Array, *, gamma: float,
                   ls_tau: float = 2.0, order: int = 2, teacher_only: bool = False, ddof: int = 1,
                   eps: float = 1e-7) -> dict[str, jax.Array]:
  """Masked sums over one (padded) evaluation batch; add them up and pass them to `statistics_from_sums`.

  `epoch_statistics` of the whole set equals `statistics_from_sums` of the summed batch sums, for any batching
  (padding rows have `mask == 0`). Jittable.

  Args:
    student_logits: `[B, K]`.
    teacher_logits: `[B, K]`.
    mask: `[B]` 1 for real examples, 0 for padding.
    gamma, ls_tau, order, teacher_only, ddof, eps: as `epoch_statistics`.

  Returns:
    Scalars: `count`, the sum of each per-example statistic, and `maxlogit_tau_squared`.
  """
  stats = per_example_statistics(student_logits, teacher_logits, gamma=gamma, ls_tau=ls_tau, order=order,
                                 teacher_only=teacher_only, ddof=ddof, eps=eps)
  mask = jnp.asarray(mask, jnp.float32)
  sums = {name: jnp.sum(jnp.where(mask > 0, value, 0.0)) for name, value in stats.items()}
  sums['maxlogit_tau_squared'] = jnp.sum(jnp.where(mask > 0, jnp.square(stats['maxlogit_tau']), 0.0))
  sums['count'] = jnp.sum(mask)
  return sums


def statistics_from_sums(sums: Mapping[str, float]) -> dict[str, float]:
  """The `EPOCH_STATISTICS` scalars from summed `statistic_sums` (host-side, float64)."""
  count = float(sums['count'])
  if count <= 0:
    raise ValueError('statistics_from_sums needs at least one example (count is 0).')
  mean = {name: float(value) / count for name, value in sums.items() if name != 'count'}
  variance = max(mean['maxlogit_tau_squared'] - mean['maxlogit_tau'] ** 2, 0.0)
  return {
      'student_entropy': mean['student_entropy'],
      'kl_transformed_teacher': mean['kl_transformed_teacher'],
      'logit_correlation': mean['logit_correlation'],
      'maxlogit_tau_mean': mean['maxlogit_tau'],
      'maxlogit_tau_std': variance ** 0.5,
      'ls_teacher_temperature_mean': mean['ls_teacher_temperature'],
      'ls_student_temperature_mean': mean['ls_student_temperature'],
  }


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
