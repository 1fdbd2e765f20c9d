"""Composition (methods.md section 8): every published combination, and two new ones, as calls.

Each combination is built only from kdjax.losses / kdjax.temperature calls and checked against
a direct numpy formula written out here.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kdjax import losses
from kdjax import temperature as tl

B, K = 7, 10   # odd B: the sample and class mask fractions differ (4/7 vs 1/2)
CTKD_T0 = 1 + 20 / (1 + math.exp(-1))          # 15.6212


def np_log_softmax(x):
  x = np.asarray(x, np.float64)
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def np_softmax(x):
  return np.exp(np_log_softmax(x))


def np_z(x):
  x = np.asarray(x, np.float64)
  return (x - x.mean(-1, keepdims=True)) / (1e-7 + x.std(-1, ddof=1, keepdims=True))


def np_kd(z, v, t):
  """t^2 sum p_t log(p_t / p_s), t scalar or [B]."""
  t = np.asarray(t, np.float64)[..., None]
  p_t = np_softmax(v / t)
  return t[..., 0] ** 2 * np.sum(p_t * (np.log(p_t) - np_log_softmax(z / t)), -1)


def np_dkd(z, v, y, alpha, beta, t):
  """DKD as decoupled in the paper: alpha*TCKD + beta*KL of the renormalised non-target parts."""
  t = np.asarray(t, np.float64)[..., None]
  p_s, p_t = np_softmax(z / t), np_softmax(v / t)
  rows = np.arange(len(y))
  b_s = np.stack([p_s[rows, y], 1 - p_s[rows, y]], -1)
  b_t = np.stack([p_t[rows, y], 1 - p_t[rows, y]], -1)
  tckd = np.sum(b_t * np.log(b_t / b_s), -1)
  keep = np.ones_like(p_s, bool)
  keep[rows, y] = False
  hat_s = p_s[keep].reshape(len(y), -1)
  hat_t = p_t[keep].reshape(len(y), -1)
  hat_s, hat_t = hat_s / hat_s.sum(-1, keepdims=True), hat_t / hat_t.sum(-1, keepdims=True)
  nckd = np.sum(hat_t * np.log(hat_t / hat_s), -1)
  return t[..., 0] ** 2 * (alpha * tckd + beta * nckd)


def np_wttm(z, v, gamma, weighted=True):
  p = np_softmax(v) ** gamma
  u = p.sum(-1)
  p = p / u[:, None]
  kl = np.sum(p * (np.log(p) - np_log_softmax(z)), -1)
  return u * kl if weighted else kl


def np_max_logit(z, v):
  return np.maximum(np_z(z).max(-1), np_z(v).max(-1)) * (1 + math.sqrt(3)) / 2


def np_mlkd_total(sw, ss, tw, ts, y, t0, ce_w, kd_w, standardize):
  """Released MLKD total loss (CE + kd_weak + kd_strong + cc + bc), t0 scalar or [B]."""
  prep = np_z if standardize else (lambda x: np.asarray(x, np.float64))
  inst = lambda s, t, temp: np_kd(prep(s), prep(t), temp).mean()
  def gram_terms(temp):
    temp = np.asarray(temp, np.float64).reshape(-1, 1)
    ps, pt = np_softmax(sw / temp), np_softmax(tw / temp)
    cc = np.sum((pt.T @ pt - ps.T @ ps) ** 2) / K
    bc = np.sum((pt @ pt.T - ps @ ps.T) ** 2) / B
    return cc, bc
  p = np_softmax(tw)
  frac_s = np.mean(p.max(-1) <= np.percentile(p.max(-1), 50))
  frac_c = np.mean(p.sum(0) <= np.percentile(p.sum(0), 50))
  rows = np.arange(B)
  total = -ce_w * (np_log_softmax(sw)[rows, y].mean() + np_log_softmax(ss)[rows, y].mean())
  for temp in (t0, 3.0, 5.0, 2.0, 6.0):
    cc, bc = gram_terms(temp)
    total += kd_w * (inst(sw, tw, temp) * frac_s + cc * frac_c + bc * frac_s)
  for s, t, temp in ((ss, ts, t0), (ss, ts, 3.0), (ss, ts, 5.0), (sw, tw, 2.0), (sw, tw, 6.0)):
    total += kd_w * inst(s, t, temp)
  return total


@pytest.fixture(scope="module")
def data():
  rng = np.random.default_rng(0)
  arrays = [(rng.normal(size=(B, K)) * s + o).astype(np.float32)
            for s, o in ((1.5, 0.0), (2.0, 1.0), (3.0, -2.0), (2.5, 0.5))]
  return (*arrays, rng.integers(0, K, size=B).astype(np.int32))


@pytest.fixture(scope="module")
def ctkd_temperature():
  module = tl.GlobalTemperature()
  variables = module.init(jax.random.PRNGKey(0), 0.0)
  return module.apply(variables, tl.cosine_lambda(1))


Z = tl.zscore


def published_and_new(z, v, y, views, ctkd_t):
  """(kdjax composition, numpy formula) for every combination; views = (sw, ss, tw, ts)."""
  tau = tl.max_logit(z, v)
  mlkd_total = lambda **kw: sum(losses.mlkd(*views, y, ce_weight=0.1, **kw).values())
  return {
      "KD": (losses.kd(z, v, temperature=4.0), np_kd(z, v, 4.0)),
      "KD+LS": (losses.kd(Z(z), Z(v), temperature=2.0), np_kd(np_z(z), np_z(v), 2.0)),
      "CTKD": (losses.kd(z, v, temperature=ctkd_t), np_kd(z, v, CTKD_T0)),
      "CTKD+LS": (losses.kd(Z(z), Z(v), temperature=ctkd_t), np_kd(np_z(z), np_z(v), CTKD_T0)),
      "DKD": (losses.dkd(z, v, y, alpha=1.0, beta=8.0, temperature=4.0),
              np_dkd(z, v, y, 1.0, 8.0, 4.0)),
      "DKD+LS": (losses.dkd(Z(z), Z(v), y, alpha=9.0, beta=8.0 * 9, temperature=2.0),
                 np_dkd(np_z(z), np_z(v), y, 9.0, 72.0, 2.0)),
      "MLKD": (mlkd_total(temperature=4.0, kd_weight=0.9, standardize=False),
               np_mlkd_total(*views, y, 4.0, 0.1, 0.9, False)),
      "MLKD+LS": (mlkd_total(temperature=2.0, kd_weight=9.0, standardize=True),
                  np_mlkd_total(*views, y, 2.0, 0.1, 9.0, True)),
      "TTM": (losses.ttm(z, v, gamma=0.1), np_wttm(z, v, 0.1, weighted=False)),
      "WTTM": (losses.wttm(z, v, gamma=0.1), np_wttm(z, v, 0.1)),
      "zKD+max-logit": (losses.kd(Z(z), Z(v), temperature=tau),
                        np_kd(np_z(z), np_z(v), np_max_logit(z, v))),
      "zDKD+max-logit": (losses.dkd(Z(z), Z(v), y, alpha=1.0, beta=8.0, temperature=tau),
                         np_dkd(np_z(z), np_z(v), y, 1.0, 8.0, np_max_logit(z, v))),
      # Two combinations no paper ran:
      "WTTM+LS": (losses.wttm(Z(z), Z(v), gamma=0.3), np_wttm(np_z(z), np_z(v), 0.3)),
      "MLKD+max-logit": (
          mlkd_total(temperature=tl.max_logit(views[0], views[2]), kd_weight=9.0, standardize=True),
          np_mlkd_total(*views, y, np_max_logit(views[0], views[2]), 0.1, 9.0, True)),
  }


def test_every_combination_matches_its_formula(data, ctkd_temperature):
  sw, ss, tw, ts, y = data
  combos = published_and_new(sw, tw, y, (sw, ss, tw, ts), ctkd_temperature)
  assert len(combos) == 14
  for name, (ours, expected) in combos.items():
    np.testing.assert_allclose(ours, expected, rtol=2e-4, atol=1e-5, err_msg=name)
  # The temperature policies do matter (the combinations are not all the same number).
  assert not np.allclose(combos["KD+LS"][0], combos["zKD+max-logit"][0], rtol=1e-2)


def test_ls_is_kd_with_per_sample_teacher_and_student_temperatures(data):
  z, _, v, _, _ = data
  tau, eps = 2.0, 1e-7
  std = lambda x: jnp.std(x, axis=-1, ddof=1)
  ls = lambda z: losses.kd(Z(z), Z(v), temperature=tau)
  distinct = lambda z: losses.kd(z, v, temperature=tau * (eps + std(z)),
                                 teacher_temperature=tau * (eps + std(v)), loss_scale=tau ** 2)
  np.testing.assert_allclose(distinct(z), ls(z), rtol=1e-5)
  grad_ls = jax.grad(lambda z: ls(z).sum())(z)
  grad_distinct = jax.grad(lambda z: distinct(z).sum())(z)
  np.testing.assert_allclose(grad_distinct, grad_ls, rtol=1e-4, atol=1e-6)


def test_toy_case_ls_ignores_affine_maps_kd_prefers_wrong_argmax():
  teacher = jnp.array([4.0, 3.0, 0.5, -1.0])
  affine = teacher / 4 + 1.0                     # same ranking, other scale and shift
  wrong = jnp.array([3.0, 4.0, 0.5, -1.0])       # argmax 1, the teacher's is 0
  kd = lambda s: float(losses.kd(s, teacher, temperature=4.0))
  ls = lambda s: float(losses.kd(Z(s), Z(teacher), temperature=2.0))
  assert ls(affine) < 1e-6 < ls(wrong)
  assert kd(wrong) < kd(affine)                   # vanilla KD ranks the wrong student better
  assert float(jnp.argmax(wrong)) != float(jnp.argmax(teacher))


def test_ctkd_gradient_reaches_theta_through_grl(data):
  z, _, v, _, _ = data
  module = tl.GlobalTemperature()
  lambda_ = tl.cosine_lambda(5)                  # -0.5
  with jax.enable_x64(True):   # dL/dT is a small difference of large terms at T = 15.6: use float64
    z64, v64 = jnp.asarray(z, jnp.float64), jnp.asarray(v, jnp.float64)
    variables = module.init(jax.random.PRNGKey(0), 0.0)

    def loss(params, z):
      t = module.apply(params, lambda_)
      return jnp.mean(losses.kd(Z(z), Z(v64), temperature=t))

    grads = jax.jit(jax.grad(loss, argnums=(0, 1)))(variables, z64)
  step = 1e-3   # d loss / d T by a float64 central difference of the numpy formula
  d_loss_d_t = (np_kd(np_z(z), np_z(v), CTKD_T0 + step).mean()
                - np_kd(np_z(z), np_z(v), CTKD_T0 - step).mean()) / (2 * step)
  sigmoid_grad = 20 / (1 + math.exp(-1)) * (1 - 1 / (1 + math.exp(-1)))
  assert float(grads[0]["params"]["theta"]) == pytest.approx(
      -0.5 * float(d_loss_d_t) * sigmoid_grad, rel=1e-4)
  assert np.abs(np.asarray(grads[1])).sum() > 0


@pytest.mark.parametrize("base", ["kd", "dkd", "ttm", "wttm"])
def test_per_example_temperature_equals_row_by_row_calls(data, base):
  z, _, v, _, y = data
  call = {
      "kd": lambda z, v, y, t: losses.kd(z, v, temperature=t),
      "dkd": lambda z, v, y, t: losses.dkd(z, v, y, alpha=1.0, beta=2.0, temperature=t),
      "ttm": lambda z, v, y, t: losses.ttm(z, v, gamma=1 / t),
      "wttm": lambda z, v, y, t: losses.wttm(z, v, gamma=1 / t),
  }[base]
  for temperature in (tl.max_logit(z, v), jnp.linspace(1.0, 6.0, B)):
    batched = call(z, v, y, temperature)
    rows = [call(z[i], v[i], y[i], temperature[i]) for i in range(B)]
    np.testing.assert_allclose(batched, np.stack(rows), rtol=1e-5, atol=1e-7)


def test_trainer_style_composition_is_a_few_lines(data):
  """A config picks standardize x policy x base loss; the composition needs no new loss code."""
  z, _, v, _, y = data
  instance = tl.InstanceTemperature(hidden_width=4)
  inst_vars = instance.init(jax.random.PRNGKey(1), z, v, 0.0)
  policies = {
      "fixed": lambda z, v: 4.0,
      "ctkd_instance": lambda z, v: instance.apply(inst_vars, z, v, -1.0),
      "max_logit": tl.max_logit,
  }
  bases = {
      "kd": lambda z, v, t: losses.kd(z, v, temperature=t),
      "dkd": lambda z, v, t: losses.dkd(z, v, y, alpha=1.0, beta=8.0, temperature=t),
      "wttm": lambda z, v, t: losses.wttm(z, v, gamma=1 / jnp.asarray(t)),
  }
  for policy_name, policy in policies.items():
    for base_name, base in bases.items():
      for standardize in (False, True):
        t = policy(z, v)
        zs, vs = (Z(z), Z(v)) if standardize else (z, v)
        value = base(zs, vs, t)
        assert value.shape == (B,), (policy_name, base_name)
        assert np.all(np.isfinite(value)) and np.all(np.asarray(value) >= -1e-6)


def test_standardized_compositions_finite_for_extreme_constant_and_bfloat16(data):
  """LS and max-logit (z-score inside) stay finite: eps keeps std 0 finite, tau has a floor."""
  _, _, _, _, y = data
  ctkd = tl.GlobalTemperature()
  params = ctkd.init(jax.random.PRNGKey(0), 0.0)

  def total(z, v, params):
    t = ctkd.apply(params, -1.0)
    tau = tl.max_logit(z, v)
    return jnp.sum(losses.kd(Z(z), Z(v), temperature=tau)
                   + losses.dkd(Z(z), Z(v), y, alpha=1.0, beta=8.0, temperature=tau)
                   + losses.kd(Z(z), Z(v), temperature=t)
                   + losses.wttm(Z(z), Z(v), gamma=0.3))

  value_and_grad = jax.jit(jax.value_and_grad(total, argnums=(0, 2)))
  rng = np.random.default_rng(5)
  z, v = rng.normal(size=(B, K)).astype(np.float32), rng.normal(size=(B, K)).astype(np.float32)
  cases = {
      "magnitude 1e4": (1e4 * z, 1e4 * v),
      "constant": (np.full_like(z, 3.0), np.full_like(v, -7.0)),
      "constant student only": (np.full_like(z, 3.0), v),
      "bfloat16": (jnp.asarray(z, jnp.bfloat16), jnp.asarray(v, jnp.bfloat16)),
  }
  for case, (zc, vc) in cases.items():
    value, (grad_z, grad_params) = value_and_grad(zc, vc, params)
    assert np.isfinite(float(value)), case
    assert np.all(np.isfinite(np.asarray(grad_z, np.float32))), case
    assert np.isfinite(float(grad_params["params"]["theta"])), case
