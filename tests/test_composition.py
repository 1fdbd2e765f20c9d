"""Composition of policies and losses: every published combination, and two new ones, as calls.

Each combination is built only from kdjax.losses / kdjax.temperature calls and checked against
the float64 numpy formulas of ``tests/references.py``.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import references as ref
from kdjax import config as config_lib
from kdjax import losses
from kdjax import methods
from kdjax import temperature as tl

B, K = 7, 10   # odd B: the sample and class mask fractions differ (4/7 vs 1/2)
CTKD_T0 = ref.ctkd_temperature(1.0)            # 1 + 20 sigmoid(1) = 15.6212


def np_mlkd_total(sw, ss, tw, ts, y, t0, ce_w, kd_w, standardize):
  """Released MLKD total loss (CE + kd_weak + kd_strong + cc + bc), t0 scalar or [B]."""
  return sum(ref.mlkd(sw, ss, tw, ts, y, t0=t0, ce_weight=ce_w, kd_weight=kd_w,
                      standardize=standardize).values())


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
rZ = ref.zscore


def _mlkd_total(views, y, **kw):
  return sum(losses.mlkd(*views, y, ce_weight=0.1, **kw).values())


# name: (kdjax composition, numpy formula), both of (z, v, y, views, ctkd_t); views = (sw, ss, tw, ts).
COMBINATIONS = {
    "KD": (lambda z, v, y, views, t: losses.kd(z, v, temperature=4.0),
           lambda z, v, y, views: ref.kd(z, v, 4.0)),
    "KD+LS": (lambda z, v, y, views, t: losses.kd(Z(z), Z(v), temperature=2.0),
              lambda z, v, y, views: ref.kd(rZ(z), rZ(v), 2.0)),
    "CTKD": (lambda z, v, y, views, t: losses.kd(z, v, temperature=t),
             lambda z, v, y, views: ref.kd(z, v, CTKD_T0)),
    "CTKD+LS": (lambda z, v, y, views, t: losses.kd(Z(z), Z(v), temperature=t),
                lambda z, v, y, views: ref.kd(rZ(z), rZ(v), CTKD_T0)),
    "DKD": (lambda z, v, y, views, t: losses.dkd(z, v, y, alpha=1.0, beta=8.0, temperature=4.0),
            lambda z, v, y, views: ref.dkd(z, v, y, 1.0, 8.0, 4.0)),
    "DKD+LS": (lambda z, v, y, views, t: losses.dkd(Z(z), Z(v), y, alpha=9.0, beta=8.0 * 9,
                                                    temperature=2.0),
               lambda z, v, y, views: ref.dkd(rZ(z), rZ(v), y, 9.0, 72.0, 2.0)),
    "MLKD": (lambda z, v, y, views, t: _mlkd_total(views, y, temperature=4.0, kd_weight=0.9,
                                                   standardize=False),
             lambda z, v, y, views: np_mlkd_total(*views, y, 4.0, 0.1, 0.9, False)),
    "MLKD+LS": (lambda z, v, y, views, t: _mlkd_total(views, y, temperature=2.0, kd_weight=9.0,
                                                      standardize=True),
                lambda z, v, y, views: np_mlkd_total(*views, y, 2.0, 0.1, 9.0, True)),
    "TTM": (lambda z, v, y, views, t: losses.ttm(z, v, gamma=0.1),
            lambda z, v, y, views: ref.ttm(z, v, 0.1)),
    "WTTM": (lambda z, v, y, views, t: losses.wttm(z, v, gamma=0.1),
             lambda z, v, y, views: ref.wttm(z, v, 0.1)),
    "zKD+max-logit": (lambda z, v, y, views, t: losses.kd(Z(z), Z(v), temperature=tl.max_logit(z, v)),
                      lambda z, v, y, views: ref.kd(rZ(z), rZ(v), ref.max_logit(z, v))),
    "zDKD+max-logit": (lambda z, v, y, views, t: losses.dkd(Z(z), Z(v), y, alpha=1.0, beta=8.0,
                                                            temperature=tl.max_logit(z, v)),
                       lambda z, v, y, views: ref.dkd(rZ(z), rZ(v), y, 1.0, 8.0, ref.max_logit(z, v))),
    # Two combinations no paper ran:
    "WTTM+LS": (lambda z, v, y, views, t: losses.wttm(Z(z), Z(v), gamma=0.3),
                lambda z, v, y, views: ref.wttm(rZ(z), rZ(v), 0.3)),
    "MLKD+max-logit": (
        lambda z, v, y, views, t: _mlkd_total(views, y, temperature=tl.max_logit(views[0], views[2]),
                                              kd_weight=9.0, standardize=True),
        lambda z, v, y, views: np_mlkd_total(*views, y, ref.max_logit(views[0], views[2]), 0.1, 9.0,
                                             True)),
}


@pytest.mark.parametrize('name', COMBINATIONS)
def test_every_combination_matches_its_formula(data, ctkd_temperature, name):
  sw, ss, tw, ts, y = data
  ours, formula = COMBINATIONS[name]
  np.testing.assert_allclose(ours(sw, tw, y, (sw, ss, tw, ts), ctkd_temperature),
                             formula(sw, tw, y, (sw, ss, tw, ts)), rtol=2e-4, atol=1e-5)


def test_the_temperature_policies_matter(data):
  """The combinations are not all the same number: LS's tau 2 vs the max-logit tau."""
  sw, _, tw, _, y = data
  ls = COMBINATIONS["KD+LS"][0](sw, tw, y, None, None)
  max_logit = COMBINATIONS["zKD+max-logit"][0](sw, tw, y, None, None)
  assert len(COMBINATIONS) == 14
  assert not np.allclose(ls, max_logit, rtol=1e-2)


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
  d_loss_d_t = (ref.kd(rZ(z), rZ(v), CTKD_T0 + step).mean()
                - ref.kd(rZ(z), rZ(v), CTKD_T0 - step).mean()) / (2 * step)
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


@pytest.mark.slow
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


POLICIES = ('fixed', 'ctkd', 'max_logit')
BASES = ('kd', 'dkd', 'wttm')


def _composed_config(policy, base, standardize):
  """A config selecting LS x policy x base loss (weight 2, CE 0.3, T 3 / gamma 0.25, beta 8)."""
  config = config_lib.get_config()
  config.logit.loss, config.logit.policy, config.logit.standardize = base, policy, standardize
  config.logit.weight, config.ce_weight, config.logit.temperature = 2.0, 0.3, 3.0
  config.ttm.gamma = 0.25
  config.ctkd.variant = 'instance'  # per-example T, 1 + 20 sigmoid(1) for every row at init
  return config_lib.validate(config)


def test_every_composition_has_its_own_name():
  names = {(p, b, s): _composed_config(p, b, s).method
           for p in POLICIES for b in BASES for s in (False, True)}
  assert len(set(names.values())) == len(names) == 18
  assert names['ctkd', 'wttm', True] == 'ctkd_wttm_ls'
  assert names['max_logit', 'wttm', False] == 'wttm_maxlogit_raw'


@pytest.mark.parametrize('standardize', [False, True], ids=['raw', 'ls'])
@pytest.mark.parametrize('base', BASES)
@pytest.mark.parametrize('policy', POLICIES)
def test_config_composition_is_the_formula(data, policy, base, standardize):
  """``methods.build(config)``: CE 0.3 + 2 * mean(base(LS?(z), LS?(v); T of the policy)).

  kdjax/methods/logit.py: the term's weight multiplies DKD's alpha and beta (the LS release's
  convention) and is TTM/WTTM's beta; TTM's gamma is 1 / T; max-logit's T comes from the raw
  logits (z-scored inside); CTKD's instance MLP starts at T = 1 + 20 sigmoid(1) for every row.
  """
  z, _, v, _, y = data
  config = _composed_config(policy, base, standardize)
  distillation = methods.build(config)
  inputs = methods.StepInputs(student=methods.Outputs(jnp.asarray(z)), labels=jnp.asarray(y),
                              teacher=methods.Outputs(jnp.asarray(v)))
  variables = distillation.init(jax.random.key(0), inputs)
  loss, metrics = distillation.apply(variables, inputs)
  t = {'fixed': 1 / 0.25 if base == 'wttm' else 3.0, 'ctkd': np.full(B, CTKD_T0),
       'max_logit': ref.max_logit(z, v)}[policy]
  zs, vs = (rZ(z), rZ(v)) if standardize else (z, v)
  per_example = {'kd': lambda: ref.kd(zs, vs, t),
                 'dkd': lambda: ref.dkd(zs, vs, y, 1.0, 8.0, t),  # w dkd(1, 8) = dkd(w, 8w)
                 'wttm': lambda: ref.wttm(zs, vs, 1 / np.asarray(t))}[base]()
  expected_kd = 2.0 * per_example.mean()
  np.testing.assert_allclose(metrics['kd'], expected_kd, rtol=2e-5)
  np.testing.assert_allclose(loss, 0.3 * ref.cross_entropy(z, y).mean() + expected_kd, rtol=2e-5)
  np.testing.assert_allclose(metrics['temperature_mean'], np.mean(t), rtol=1e-5)
