"""kdjax.analysis: every statistic against a direct numpy computation on made-up logits."""

import jax
import numpy as np
import pytest

from kdjax import analysis

N, K = 60, 7


@pytest.fixture(scope='module')
def logits():
  """Made-up (student, teacher, labels) with different per-sample scales and shifts; every class present."""
  rng = np.random.default_rng(0)
  teacher = rng.normal(size=(N, K)) * rng.uniform(0.5, 4.0, size=(N, 1)) + rng.normal(size=(N, 1))
  student = 0.6 * teacher + rng.normal(size=(N, K)) * 0.8 - 1.0
  labels = rng.permutation(np.arange(N) % K)
  return student.astype(np.float32), teacher.astype(np.float32), labels.astype(np.int32)


def np_zscore(x, ddof=1, eps=1e-7):
  x = np.asarray(x, np.float64)
  return (x - x.mean(-1, keepdims=True)) / (eps + x.std(-1, ddof=ddof, keepdims=True))


def np_log_softmax(x):
  x = np.asarray(x, np.float64)
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_logit_moments_match_numpy(logits):
  _, teacher, _ = logits
  for ddof in (0, 1):
    mean, std = analysis.logit_moments(teacher, ddof=ddof)
    np.testing.assert_allclose(mean, teacher.astype(np.float64).mean(-1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std, teacher.astype(np.float64).std(-1, ddof=ddof), rtol=1e-5)


def test_mean_std_histogram_counts(logits):
  student, teacher, _ = logits
  hist = analysis.mean_std_histogram(student, teacher, bins=8)
  t_mean, t_std = teacher.astype(np.float64).mean(-1), teacher.astype(np.float64).std(-1, ddof=1)
  s_mean, s_std = student.astype(np.float64).mean(-1), student.astype(np.float64).std(-1, ddof=1)
  both_mean, both_std = np.concatenate([t_mean, s_mean]), np.concatenate([t_std, s_std])
  np.testing.assert_allclose(hist['mean_edges'], np.linspace(both_mean.min(), both_mean.max(), 9), rtol=1e-5)
  np.testing.assert_allclose(hist['std_edges'], np.linspace(both_std.min(), both_std.max(), 9), rtol=1e-5)
  # Count by hand: bin index of each sample (right edge closed in the last bin, as np.histogram2d; clipped
  # so that float32-vs-float64 rounding of the extreme samples stays in the end bins).
  for who, mean, std in (('teacher', t_mean, t_std), ('student', s_mean, s_std)):
    expected = np.zeros((8, 8), np.int64)
    for m, s in zip(mean, std):
      i = np.clip(np.searchsorted(hist['mean_edges'], m, side='right') - 1, 0, 7)
      j = np.clip(np.searchsorted(hist['std_edges'], s, side='right') - 1, 0, 7)
      expected[i, j] += 1
    np.testing.assert_array_equal(hist[f'{who}_counts'], expected)
    assert hist[f'{who}_counts'].sum() == N


def test_class_mean_logits_loop(logits):
  student, _, labels = logits
  expected = np.stack([student[labels == c].astype(np.float64).mean(0) for c in range(K)])
  np.testing.assert_allclose(analysis.class_mean_logits(student, labels), expected, rtol=1e-6)


@pytest.mark.parametrize('standardize', [False, True])
def test_class_pair_difference_matches_loop(logits, standardize):
  student, teacher, labels = logits
  z = np_zscore(student) if standardize else student.astype(np.float64)
  v = np_zscore(teacher) if standardize else teacher.astype(np.float64)
  expected = np.zeros((K, K))
  for i in range(K):
    for j in range(K):
      if i != j:
        rows = labels == i
        expected[i, j] = abs(np.mean(z[rows, j] - v[rows, j]))
  diff = analysis.class_pair_difference(student, teacher, labels, standardize=standardize)
  np.testing.assert_allclose(diff, expected, rtol=1e-5, atol=1e-6)
  summary = analysis.difference_summary(diff)
  assert summary['mean'] == pytest.approx(expected.sum() / K**2, rel=1e-5)
  assert summary['max'] == pytest.approx(expected.max(), rel=1e-5)
  assert expected[summary['argmax_class'], summary['argmax_logit']] == pytest.approx(expected.max(), rel=1e-5)
  kept = analysis.class_pair_difference(student, teacher, labels, standardize=standardize,
                                        zero_diagonal=False)
  for i in range(K):
    expected_diagonal = abs(np.mean(z[labels == i, i] - v[labels == i, i]))
    assert kept[i, i] == pytest.approx(expected_diagonal, rel=1e-4, abs=1e-6)


def test_class_without_examples_is_a_nan_row_ignored_by_the_summary(logits):
  student, teacher, labels = logits
  labels = np.where(labels == 6, 0, labels)
  diff = analysis.class_pair_difference(student, teacher, labels)
  assert np.all(np.isnan(diff[6])) and np.all(np.isfinite(diff[:6]))
  summary = analysis.difference_summary(diff)
  assert summary['classes_without_examples'] == [6]
  assert summary['mean'] == pytest.approx(diff[:6].mean(), rel=1e-12)
  assert summary['max'] == pytest.approx(diff[:6].max(), rel=1e-12)


def test_standardized_difference_vanishes_for_affine_student(logits):
  _, teacher, labels = logits
  student = 3.0 * teacher + 5.0  # a positive affine map: equal after z-score (seed 001, Fig. 2's point)
  raw = analysis.class_pair_difference(student, teacher, labels)
  standardized = analysis.class_pair_difference(student, teacher, labels, standardize=True)
  assert raw.max() > 1.0
  assert standardized.max() < 1e-4


def test_prediction_entropy(logits):
  student, _, _ = logits
  log_p = np_log_softmax(student)
  np.testing.assert_allclose(analysis.prediction_entropy(student), -(np.exp(log_p) * log_p).sum(-1),
                             rtol=1e-5)
  uniform = analysis.prediction_entropy(np.zeros((1, K), np.float32))
  assert float(uniform[0]) == pytest.approx(np.log(K), rel=1e-6)


@pytest.mark.parametrize('gamma', [0.1, 0.5, 1.0])
def test_transformed_teacher_kl(logits, gamma):
  student, teacher, _ = logits
  log_p = np_log_softmax(gamma * teacher.astype(np.float64))
  expected = (np.exp(log_p) * (log_p - np_log_softmax(student))).sum(-1)
  np.testing.assert_allclose(analysis.transformed_teacher_kl(student, teacher, gamma=gamma), expected,
                             rtol=1e-4, atol=1e-6)


def test_correlation_equals_pearson_cosine_and_biased_zscore_product(logits):
  """seed 000: Pearson correlation == cosine of z-scores == mean_k(zt * zs) with the biased estimator."""
  student, teacher, _ = logits
  pearson = np.array([np.corrcoef(s, t)[0, 1] for s, t in zip(student.astype(np.float64), teacher)])
  zs, zt = np_zscore(student), np_zscore(teacher)
  cosine = (zs * zt).sum(-1) / np.linalg.norm(zs, axis=-1) / np.linalg.norm(zt, axis=-1)
  biased_product = (np_zscore(student, ddof=0, eps=0) * np_zscore(teacher, ddof=0, eps=0)).mean(-1)
  np.testing.assert_allclose(pearson, cosine, atol=1e-10)
  np.testing.assert_allclose(pearson, biased_product, atol=1e-10)
  stats = analysis.per_example_statistics(student, teacher, gamma=0.5)
  np.testing.assert_allclose(stats['logit_correlation'], pearson, atol=1e-5)


def test_temperatures(logits):
  student, teacher, _ = logits
  m = np.maximum(np_zscore(teacher).max(-1), np_zscore(student).max(-1))
  np.testing.assert_allclose(analysis.maxlogit_temperatures(student, teacher), m * (1 + np.sqrt(3)) / 2,
                             rtol=1e-5)
  np.testing.assert_allclose(analysis.maxlogit_temperatures(student, teacher, order=1, teacher_only=True),
                             np_zscore(teacher).max(-1), rtol=1e-5)
  np.testing.assert_allclose(analysis.ls_temperatures(teacher, tau=3.0),
                             3.0 * (1e-7 + teacher.astype(np.float64).std(-1, ddof=1)), rtol=1e-5)


def test_epoch_statistics_against_numpy(logits):
  student, teacher, _ = logits
  gamma, tau = 0.25, 3.0
  stats = analysis.epoch_statistics(student, teacher, gamma=gamma, ls_tau=tau)
  assert tuple(sorted(stats)) == tuple(sorted(analysis.EPOCH_STATISTICS))
  log_q = np_log_softmax(student)
  log_p = np_log_softmax(gamma * teacher.astype(np.float64))
  maxlogit = np.maximum(np_zscore(teacher).max(-1), np_zscore(student).max(-1)) * (1 + np.sqrt(3)) / 2
  expected = {
      'student_entropy': -(np.exp(log_q) * log_q).sum(-1).mean(),
      'kl_transformed_teacher': (np.exp(log_p) * (log_p - log_q)).sum(-1).mean(),
      'logit_correlation': np.mean([np.corrcoef(s, t)[0, 1] for s, t in zip(student, teacher)]),
      'maxlogit_tau_mean': maxlogit.mean(),
      'maxlogit_tau_std': maxlogit.std(),
      'ls_teacher_temperature_mean': (tau * teacher.astype(np.float64).std(-1, ddof=1)).mean(),
      'ls_student_temperature_mean': (tau * student.astype(np.float64).std(-1, ddof=1)).mean(),
  }
  for name, value in expected.items():
    assert float(stats[name]) == pytest.approx(value, rel=1e-4, abs=1e-6), name
  jitted = jax.jit(lambda z, v: analysis.epoch_statistics(z, v, gamma=gamma, ls_tau=tau))(student, teacher)
  for name in expected:
    assert float(jitted[name]) == pytest.approx(float(stats[name]), rel=1e-5, abs=1e-7), name


def test_temperature_histogram_and_static_fractions():
  values = np.array([0.5, 1.5, 1.5, 2.5, 3.0, 5.0, 9.0])
  hist = analysis.temperature_histogram(values, bins=4)
  counts, edges = np.histogram(values, bins=4)
  np.testing.assert_array_equal(hist['counts'], counts)
  np.testing.assert_allclose(hist['edges'], edges)
  assert hist['fraction_above'] == {'1': 6 / 7, '2': 4 / 7, '4': 2 / 7, '8': 1 / 7}
  assert hist['mean'] == pytest.approx(values.mean()) and hist['median'] == 2.5
  shared = analysis.temperature_histogram(values, edges=np.array([0.0, 2.0, 10.0]))
  np.testing.assert_array_equal(shared['counts'], [3, 4])


def test_cumulative_wall_time():
  np.testing.assert_allclose(analysis.cumulative_wall_time([2.0, 1.5, 1.0]), [2.0, 3.5, 4.5])
  with pytest.raises(ValueError, match='non-negative'):
    analysis.cumulative_wall_time([1.0, -1.0])


def test_to_python_is_json_ready():
  out = analysis.to_python({'a': np.arange(3), 'b': (np.float32(1.5), {'c': np.int64(2)}),
                            'n': np.array([1.0, np.nan])})
  assert out == {'a': [0, 1, 2], 'b': [1.5, {'c': 2}], 'n': [1.0, None]}
  assert type(out['b'][0]) is float and type(out['b'][1]['c']) is int


def test_bad_input_errors(logits):
  student, teacher, labels = logits
  with pytest.raises(ValueError, match='same shape'):
    analysis.epoch_statistics(student[:, :5], teacher, gamma=0.5)
  with pytest.raises(ValueError, match=r'shape \[num_examples, num_classes\]'):
    analysis.prediction_entropy(student[0])
  bad = student.copy()
  bad[3, 2] = np.nan
  with pytest.raises(ValueError, match='NaN'):
    analysis.mean_std_histogram(bad, teacher)
  with pytest.raises(ValueError, match='labels must lie'):
    analysis.class_mean_logits(student, labels + 1)
  with pytest.raises(ValueError, match='finite'):
    analysis.temperature_histogram([1.0, np.inf])


def test_batched_sums_equal_epoch_statistics(logits):
  """Padded batches summed with `statistic_sums` give the whole-set `epoch_statistics`."""
  student, teacher, _ = logits
  whole = analysis.epoch_statistics(student, teacher, gamma=0.5)
  step = jax.jit(lambda z, v, m: analysis.statistic_sums(z, v, m, gamma=0.5))
  totals = None
  for start in range(0, N, 25):  # batches of 25, the last one padded with copies of row 0
    idx = np.arange(start, start + 25)
    mask = (idx < N).astype(np.float32)
    idx = np.where(idx < N, idx, 0)
    sums = step(student[idx], teacher[idx], mask)
    totals = sums if totals is None else jax.tree.map(lambda a, b: a + b, totals, sums)
  assert float(totals['count']) == N
  batched = analysis.statistics_from_sums(totals)
  for name in analysis.EPOCH_STATISTICS:
    assert batched[name] == pytest.approx(float(whole[name]), rel=1e-4, abs=1e-5), name
