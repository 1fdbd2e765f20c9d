"""Tests for kdjax.temperature: z-score (LS), max-logit, correlation, GRL, CTKD modules, schedules."""

import math

import chex
import hypothesis
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kdjax import temperature as tl

SETTINGS = hypothesis.settings(deadline=None, max_examples=30, derandomize=True)
ELEMENTS = st.floats(-20, 20, width=32, allow_subnormal=False)
SHAPES = st.sampled_from([(4, 6), (2, 3)])
LOGITS = SHAPES.flatmap(lambda shape: hnp.arrays(np.float32, shape, elements=ELEMENTS, unique=True))
PAIRS = SHAPES.flatmap(lambda shape: st.tuples(
    *[hnp.arrays(np.float32, shape, elements=ELEMENTS, unique=True)] * 2))


def np_zscore(x, ddof=1, eps=1e-7):
  x = np.asarray(x, np.float64)
  return (x - x.mean(-1, keepdims=True)) / (eps + x.std(-1, ddof=ddof, keepdims=True))


def non_constant(x):
  return np.all(np.ptp(x, axis=-1) > 1e-2)


# ----------------------------------------------------------------------------- zscore


def test_zscore_hand_computed():
  # x = [1, 2, 3]: mean 2, unbiased std 1, biased std sqrt(2/3).
  np.testing.assert_allclose(tl.zscore(jnp.array([1.0, 2.0, 3.0])), [-1, 0, 1], rtol=1e-6)
  np.testing.assert_allclose(tl.zscore(jnp.array([1.0, 2.0, 3.0]), ddof=0),
                             np.array([-1, 0, 1]) / math.sqrt(2 / 3), rtol=1e-6)


@SETTINGS
@hypothesis.given(LOGITS, st.sampled_from([0, 1]), st.sampled_from([1.0, 2.0, 4.0]))
def test_zscore_properties(x, ddof, tau):
  hypothesis.assume(non_constant(x))
  k = x.shape[-1]
  out = np.asarray(tl.zscore(x, ddof=ddof), np.float64) / tau
  np.testing.assert_allclose(out, np_zscore(x, ddof) / tau, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(out.mean(-1), 0.0, atol=1e-5)                       # zero mean
  np.testing.assert_allclose(out.std(-1, ddof=ddof), 1 / tau, rtol=1e-4)        # std 1/tau
  if ddof == 1:                                                                  # biased std
    np.testing.assert_allclose(out.std(-1), math.sqrt((k - 1) / k) / tau, rtol=1e-4)
  assert np.all(np.abs(out) <= math.sqrt(k - 1) / tau + 1e-5)                    # bound
  order = np.argsort(x, axis=-1, kind="stable")                                  # monotone
  assert np.all(np.diff(np.take_along_axis(out, order, -1), axis=-1) >= -1e-6)


def test_zscore_partial_preprocesses_of_the_ablation():
  # seed 001 Table 4: "z - mean" (center only) and "z / std" (scale only).
  x = np.array([[1.0, 2.0, 6.0], [0.5, -1.0, 3.0]], np.float32)
  std = x.std(-1, ddof=1, keepdims=True)
  np.testing.assert_allclose(tl.zscore(x, scale=False), x - x.mean(-1, keepdims=True), rtol=1e-6)
  np.testing.assert_allclose(tl.zscore(x, center=False), x / (1e-7 + std), rtol=1e-6)
  np.testing.assert_allclose(tl.zscore(x, center=False, scale=False), x)


def test_zscore_constant_logits_are_finite_with_finite_gradient():
  x = jnp.full((2, 4), 3.0)
  np.testing.assert_array_equal(tl.zscore(x), np.zeros((2, 4)))
  grad = jax.grad(lambda x: jnp.sum(tl.zscore(x) * jnp.arange(4.0)))(x)
  assert np.all(np.isfinite(grad))


def test_zscore_dtypes_and_errors():
  assert tl.zscore(jnp.ones((2, 3), jnp.bfloat16) * jnp.arange(3)).dtype == jnp.float32
  with jax.enable_x64(True):
    assert tl.zscore(jnp.arange(3.0, dtype=jnp.float64)).dtype == jnp.float64
  with pytest.raises(ValueError, match="class axis"):
    tl.zscore(jnp.float32(1.0))
  with pytest.raises(ValueError, match="ddof=1"):
    tl.zscore(jnp.ones((4, 1)))


# ----------------------------------------------------------------------------- max-logit


def np_max_logit(z, v, order=2, teacher_only=False):
  m = np_zscore(v).max(-1)
  if not teacher_only:
    m = np.maximum(m, np_zscore(z).max(-1))
  return m if order == 1 else m * (1 + math.sqrt(3)) / 2


@SETTINGS
@hypothesis.given(PAIRS, st.floats(0.1, 10), st.floats(-5, 5), st.booleans())
def test_max_logit_formula_and_affine_invariance(pair, scale, shift, teacher_only):
  z, v = pair
  hypothesis.assume(non_constant(z) and non_constant(v))
  tau = tl.max_logit(z, v, teacher_only=teacher_only)
  np.testing.assert_allclose(tau, np_max_logit(z, v, 2, teacher_only), rtol=1e-4)
  np.testing.assert_allclose(tl.max_logit(scale * z + shift, v, teacher_only=teacher_only),
                             tau, rtol=1e-4)
  np.testing.assert_allclose(tl.max_logit(z, scale * v + shift, teacher_only=teacher_only),
                             tau, rtol=1e-4)
  np.testing.assert_allclose(tl.max_logit(z, v, order=1, teacher_only=teacher_only) * (1 + 3 ** 0.5) / 2,
                             tau, rtol=1e-5)


def test_max_logit_uses_both_maxima_by_default():
  v = jnp.array([1.0, 0.0, 0.0, 0.0])         # teacher max z-score 1.5
  z = jnp.array([1.0, 1.0, 1.0, 0.0])         # student max z-score 0.5
  assert float(tl.max_logit(-z, v, order=1)) == pytest.approx(1.5, rel=1e-5)
  assert float(tl.max_logit(v, z, order=1)) == pytest.approx(1.5, rel=1e-5)
  assert float(tl.max_logit(v, z, order=1, teacher_only=True)) == pytest.approx(0.5, rel=1e-5)


def test_max_logit_stop_gradient_option():
  z, v = jnp.array([[2.0, 0.0, 0.1]]), jnp.array([[1.0, 0.0, 0.5]])  # student max dominates
  grad_sg = jax.grad(lambda z: jnp.sum(tl.max_logit(z, v)))(z)
  grad = jax.grad(lambda z: jnp.sum(tl.max_logit(z, v, stop_gradient=False)))(z)
  np.testing.assert_array_equal(grad_sg, 0.0)
  assert np.abs(np.asarray(grad)).sum() > 1e-2
  eps = 1e-2
  finite_diff = (tl.max_logit(z.at[0, 1].add(eps), v) - tl.max_logit(z.at[0, 1].add(-eps), v)) / (2 * eps)
  np.testing.assert_allclose(grad[0, 1], finite_diff[0], rtol=1e-2)


def test_max_logit_constant_logits_and_errors():
  c = jnp.ones((2, 5))
  tau = tl.max_logit(c, c)
  assert np.all(np.isfinite(tau)) and np.all(np.asarray(tau) > 0)
  with pytest.raises(ValueError, match="order"):
    tl.max_logit(c, c, order=3)
  with pytest.raises(ValueError, match="same shape"):
    tl.max_logit(c, jnp.ones((2, 4)))


# ----------------------------------------------------------------------------- correlation


@SETTINGS
@hypothesis.given(PAIRS)
def test_logit_correlation_is_pearson_and_mean_of_zscores(pair):
  z, v = pair
  hypothesis.assume(non_constant(z) and non_constant(v))
  r = np.asarray(tl.logit_correlation(z, v))
  expected = [np.corrcoef(a.astype(np.float64), b.astype(np.float64))[0, 1] for a, b in zip(z, v)]
  np.testing.assert_allclose(r, expected, atol=1e-4)
  np.testing.assert_allclose(r, np.mean(np_zscore(z, 0, 0) * np_zscore(v, 0, 0), -1), atol=1e-4)
  zs, zt = np_zscore(z), np_zscore(v)
  cosine = np.sum(zs * zt, -1) / np.linalg.norm(zs, axis=-1) / np.linalg.norm(zt, axis=-1)
  np.testing.assert_allclose(r, cosine, atol=1e-4)


def test_logit_correlation_constant_is_zero():
  np.testing.assert_array_equal(tl.logit_correlation(jnp.ones((3,)), jnp.arange(3.0)), 0.0)


# ----------------------------------------------------------------------------- GRL and schedules


@pytest.mark.parametrize("scale", [-1.0, -0.25, 0.0, 2.0])
def test_gradient_reversal_scales_gradient_without_negating(scale):
  x = jnp.array([0.5, -2.0, 3.0])
  np.testing.assert_array_equal(tl.gradient_reversal(x, scale), x)
  grad = jax.grad(lambda x: jnp.sum(jnp.sin(tl.gradient_reversal(x, scale))))(x)
  np.testing.assert_allclose(grad, scale * np.cos(np.asarray(x)), rtol=1e-6)


def test_gradient_reversal_traced_scale_does_not_retrace():
  @jax.jit
  @chex.assert_max_traces(n=1)
  def grad_fn(x, scale):
    return jax.grad(lambda x: jnp.sum(tl.gradient_reversal(x, scale) ** 2))(x)

  chex.clear_trace_counter()
  x = jnp.array([1.0, 2.0])
  np.testing.assert_allclose(grad_fn(x, jnp.float32(-0.5)), [-1.0, -2.0])
  np.testing.assert_allclose(grad_fn(x, jnp.float32(-1.0)), [-2.0, -4.0])


def test_cosine_and_linear_lambda_schedules():
  assert float(tl.cosine_lambda(1)) == pytest.approx(-0.0245, abs=1e-4)
  assert float(tl.cosine_lambda(5)) == pytest.approx(-0.5, abs=1e-6)
  for epoch in (10, 11, 240):
    assert float(tl.cosine_lambda(epoch)) == pytest.approx(-1.0, abs=1e-6)
  assert float(tl.cosine_lambda(0)) == pytest.approx(0.0, abs=1e-6)
  values = [float(tl.cosine_lambda(e)) for e in range(11)]
  assert all(a > b for a, b in zip(values, values[1:]))
  assert float(tl.cosine_lambda(5, lambda_max=1.0, lambda_min=-3.0, num_epochs=20)) == pytest.approx(
      -3 + 4 * (1 + math.cos(math.pi / 4)) / 2, rel=1e-6)
  np.testing.assert_allclose([float(tl.linear_lambda(e)) for e in (0, 1, 5, 10, 30)],
                             [0.0, -0.1, -0.5, -1.0, -1.0], atol=1e-6)


# ----------------------------------------------------------------------------- CTKD modules


def test_global_temperature_initial_value_and_gradient():
  module = tl.GlobalTemperature()
  variables = module.init(jax.random.PRNGKey(0), -0.5)
  assert jax.tree_util.tree_map(jnp.shape, variables) == {"params": {"theta": ()}}
  assert float(module.apply(variables, 0.0)) == pytest.approx(15.6212, abs=1e-4)
  sigmoid_grad = 1 / (1 + math.exp(-1)) * (1 - 1 / (1 + math.exp(-1)))
  for lambda_ in (-1.0, -0.3):
    grad = jax.grad(lambda p: module.apply(p, lambda_))(variables)["params"]["theta"]
    assert float(grad) == pytest.approx(lambda_ * 20 * sigmoid_grad, rel=1e-5)
  shifted = tl.GlobalTemperature(t_start=2.0, t_range=4.0, init_value=0.0)
  assert float(shifted.apply(shifted.init(jax.random.PRNGKey(0), 0.0), 0.0)) == pytest.approx(4.0)


def test_instance_temperature_shapes_range_and_grl():
  module = tl.InstanceTemperature(hidden_width=8)
  z = jax.random.normal(jax.random.PRNGKey(1), (2, 3, 5))
  v = jax.random.normal(jax.random.PRNGKey(2), (2, 3, 5))
  variables = module.init(jax.random.PRNGKey(0), z, v, 0.0)
  t = module.apply(variables, z, v, -1.0)
  assert t.shape == (2, 3)
  np.testing.assert_allclose(t, 1 + 20 / (1 + math.exp(-1)), rtol=1e-6)  # starts as global T
  # After a perturbation of the output layer, samples get distinct temperatures in range.
  params = jax.tree_util.tree_map(lambda x: x + 0.3, variables)
  t = np.asarray(module.apply(params, z, v, -1.0))
  assert np.ptp(t) > 1e-3 and np.all((t > 1) & (t < 21))
  grad_fn = jax.jit(jax.grad(lambda p, lam: jnp.sum(module.apply(p, z, v, lam))))
  grad_pos = grad_fn(params, 1.0)
  grad_neg = grad_fn(params, -0.5)
  chex.assert_trees_all_close(jax.tree_util.tree_map(lambda g: -0.5 * g, grad_pos), grad_neg,
                              rtol=1e-5, atol=1e-7)
  assert float(jnp.abs(grad_pos["params"]["hidden"]["kernel"]).sum()) > 0
  grad_logits = jax.grad(lambda z: jnp.sum(module.apply(params, z, v, 1.0)))(z)
  np.testing.assert_array_equal(grad_logits, 0.0)
  free = tl.InstanceTemperature(hidden_width=8, stop_gradient_inputs=False)
  grad_logits = jax.grad(lambda z: jnp.sum(free.apply(params, z, v, 1.0)))(z)
  assert float(jnp.abs(grad_logits).sum()) > 0
