"""Per-example statistics of teacher and student logits, logged at every evaluation.

Pure, jittable functions of logits with the class axis last (``[N, K]``; ``z``
student, ``v`` teacher). The evaluation step sums them over padded batches
(``statistic_sums``) and the host turns the sums into the epoch's scalars
(``statistics_from_sums``), named as ``EPOCH_STATISTICS``; ``kdjax.analysis``
builds the papers' figures from the same functions:

* the mean entropy of the student's predictions and the mean KL between the
  power-transformed teacher and the student (Zheng & Yang, ICLR 2024, Figs. 1-2);
* the mean per-sample Pearson correlation of teacher and student logits
  (Matsuyama et al. 2025, Fig. 1) and its max-logit temperatures (Algorithms 1-3);
* the effective LS temperatures ``tau * std`` (Sun et al., CVPR 2024, Sec. 3).
"""

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from kdjax import losses
from kdjax import temperature

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

  LS-KD with base temperature `tau` equals KD with these per-sample temperatures (Sun et al. 2024).

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
