"""kdjax.methods: each preset's loss composes kdjax.losses / kdjax.temperature with the spec's weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kdjax import config as config_lib
from kdjax import losses
from kdjax import methods
from kdjax import temperature as temperature_lib

B, K = 6, 10


@pytest.fixture(scope='module')
def batch():
  k1, k2, k3, k4 = jax.random.split(jax.random.key(0), 4)
  z = 2.0 * jax.random.normal(k1, (B, K))
  v = 3.0 * jax.random.normal(k2, (B, K)) + 1.0
  y = jax.random.randint(k3, (B,), 0, K)
  z_strong = z + 0.5 * jax.random.normal(k4, (B, K))
  return z, v, y, z_strong, 0.8 * v


def _loss(method, z, v, y, *, teacher='resnet32x4', student='resnet8x4', config=None, **kwargs):
  c = config or config_lib.method_config(method, teacher, student)
  spec = methods.LossSpec.from_config(c)
  params = methods.init_temperature_params(spec, jax.random.key(1), K)
  return methods.make_loss_fn(spec)(z, v, y, temperature_params=params, **kwargs)


def _kd_by_hand(z, v, t):
  """T^2 KL(softmax(v/T) || softmax(z/T)), numpy float64."""
  z, v = np.asarray(z, np.float64), np.asarray(v, np.float64)
  t = np.asarray(t, np.float64).reshape(-1, 1) if np.ndim(t) else t
  log_p = v / t - np.log(np.exp(v / t).sum(-1, keepdims=True))
  log_q = z / t - np.log(np.exp(z / t).sum(-1, keepdims=True))
  return (np.exp(log_p) * (log_p - log_q)).sum(-1) * np.squeeze(np.asarray(t)) ** 2


def _ce_by_hand(z, y):
  z = np.asarray(z, np.float64)
  log_q = z - np.log(np.exp(z).sum(-1, keepdims=True))
  return -log_q[np.arange(len(y)), np.asarray(y)]


def _zscore(x):
  x = np.asarray(x, np.float64)
  return (x - x.mean(-1, keepdims=True)) / (1e-7 + x.std(-1, ddof=1, keepdims=True))


def test_ce_only(batch):
  z, v, y, *_ = batch
  loss, terms = _loss('ce', z, None, y)
  np.testing.assert_allclose(loss, _ce_by_hand(z, y).mean(), rtol=1e-6)
  assert set(terms) == {'ce'}


def test_kd_is_point_one_ce_plus_point_nine_t4_kd(batch):
  z, v, y, *_ = batch
  loss, terms = _loss('kd', z, v, y)
  expected = 0.1 * _ce_by_hand(z, y).mean() + 0.9 * _kd_by_hand(z, v, 4.0).mean()
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  np.testing.assert_allclose(terms['ce'] + terms['kd'], loss, rtol=1e-6)
  assert float(terms['temperature_mean']) == 4.0


def test_kd_ls_standardizes_both_with_tau_2_and_weight_9(batch):
  z, v, y, *_ = batch
  loss, _ = _loss('kd_ls', z, v, y)
  expected = 0.1 * _ce_by_hand(z, y).mean() + 9.0 * _kd_by_hand(_zscore(z), _zscore(v), 2.0).mean()
  np.testing.assert_allclose(loss, expected, rtol=1e-5)


@pytest.mark.parametrize('center, scale', [(True, False), (False, True)])
def test_partial_ls_preprocesses_of_the_ablation(batch, center, scale):
  z, v, y, *_ = batch
  c = config_lib.method_config('kd_ls', 'resnet32x4', 'resnet8x4')
  c.ls_center, c.ls_scale = center, scale
  loss, _ = _loss(None, z, v, y, config=c)

  def pre(x):  # x - mean (centre) and / (eps + unbiased std) (scale), each optional.
    x = np.asarray(x, np.float64)
    out = x - x.mean(-1, keepdims=True) if center else x
    return out / (1e-7 + x.std(-1, ddof=1, keepdims=True)) if scale else out

  expected = 0.1 * _ce_by_hand(z, y).mean() + 9.0 * _kd_by_hand(pre(z), pre(v), 2.0).mean()
  np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_kd_ls_is_invariant_to_affine_teacher_maps(batch):
  z, v, y, *_ = batch
  loss_a, _ = _loss('kd_ls', z, v, y)
  loss_b, _ = _loss('kd_ls', z, 3.0 * v + 7.0, y)
  np.testing.assert_allclose(loss_a, loss_b, rtol=1e-5)


def test_dkd_warmup_scales_only_the_dkd_term(batch):
  z, v, y, *_ = batch
  full, terms_full = _loss('dkd', z, v, y, warmup=1.0)
  half, terms_half = _loss('dkd', z, v, y, warmup=0.05)
  np.testing.assert_allclose(terms_half['ce'], terms_full['ce'], rtol=1e-7)
  np.testing.assert_allclose(terms_half['kd'], 0.05 * terms_full['kd'], rtol=1e-5)
  dkd = losses.dkd(z, v, y, alpha=1.0, beta=8.0, temperature=4.0)
  np.testing.assert_allclose(full, _ce_by_hand(z, y).mean() + jnp.mean(dkd), rtol=1e-5)


def test_dkd_ls_multiplies_alpha_and_beta_by_w(batch):
  z, v, y, *_ = batch
  loss, terms = _loss('dkd_ls', z, v, y, teacher='resnet56', student='resnet20')  # (3, 18, 2)
  zs, vs = temperature_lib.zscore(z), temperature_lib.zscore(v)
  dkd = losses.dkd(zs, vs, y, alpha=18.0, beta=36.0, temperature=3.0)
  np.testing.assert_allclose(terms['kd'], jnp.mean(dkd), rtol=1e-5)
  np.testing.assert_allclose(loss, _ce_by_hand(z, y).mean() + jnp.mean(dkd), rtol=1e-5)


@pytest.mark.parametrize('method, fn, gamma, beta', [('ttm', losses.ttm, 0.3, 7.0),
                                                     ('wttm', losses.wttm, 0.3, 1.5)])
def test_ttm_and_wttm_are_ce_plus_beta_times_mean(batch, method, fn, gamma, beta):
  z, v, y, *_ = batch
  loss, terms = _loss(method, z, v, y, teacher='resnet56', student='resnet20')
  expected = _ce_by_hand(z, y).mean() + beta * np.mean(fn(z, v, gamma=gamma))
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  np.testing.assert_allclose(terms['temperature_mean'], 1.0 / gamma, rtol=1e-6)


def test_ctkd_learned_temperature_starts_at_15_62_and_reverses_gradients(batch):
  z, v, y, *_ = batch
  c = config_lib.method_config('ctkd', 'resnet32x4', 'resnet8x4')
  spec = methods.LossSpec.from_config(c)
  params = methods.init_temperature_params(spec, jax.random.key(0), K)
  loss_fn = methods.make_loss_fn(spec)

  def loss(p, lam):
    return loss_fn(z, v, y, temperature_params=p, lambda_=lam)

  value, terms = loss(params, -1.0)
  np.testing.assert_allclose(terms['temperature_mean'], 1 + 20 * jax.nn.sigmoid(1.0), rtol=1e-6)
  t = float(terms['temperature_mean'])
  expected = 0.1 * _ce_by_hand(z, y).mean() + 0.9 * _kd_by_hand(z, v, t).mean()
  np.testing.assert_allclose(value, expected, rtol=1e-5)
  grad = lambda lam: jax.grad(lambda p: loss(p, lam)[0])(params)['theta']
  g_plus, g_minus, g_zero = grad(1.0), grad(-1.0), grad(0.0)
  assert float(g_plus) != 0.0
  np.testing.assert_allclose(g_minus, -g_plus, rtol=1e-6)
  assert float(g_zero) == 0.0


def test_ctkd_instance_variant_gives_per_example_temperatures(batch):
  z, v, y, *_ = batch
  c = config_lib.method_config('ctkd_ls', 'resnet32x4', 'resnet8x4')
  c.ctkd.variant = 'instance'
  spec = methods.LossSpec.from_config(c)
  params = methods.init_temperature_params(spec, jax.random.key(0), K)
  assert 'hidden' in params
  loss, terms = methods.make_loss_fn(spec)(z, v, y, temperature_params=params, lambda_=-0.5)
  assert np.isfinite(loss)
  np.testing.assert_allclose(terms['temperature_mean'], 1 + 20 * jax.nn.sigmoid(1.0), rtol=1e-5)


def test_max_logit_uses_per_sample_tau_on_zscored_logits(batch):
  z, v, y, *_ = batch
  loss, terms = _loss('kd_maxlogit', z, v, y)
  tau = temperature_lib.max_logit(z, v, order=2)
  expected = 0.1 * _ce_by_hand(z, y).mean() + 9.0 * _kd_by_hand(_zscore(z), _zscore(v), tau).mean()
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  np.testing.assert_allclose(terms['temperature_max'], jnp.max(tau), rtol=1e-6)
  np.testing.assert_allclose(terms['temperature_min'], jnp.min(tau), rtol=1e-6)


def test_dkd_maxlogit(batch):
  z, v, y, *_ = batch
  loss, terms = _loss('dkd_maxlogit', z, v, y, warmup=0.5)
  tau = temperature_lib.max_logit(z, v)
  dkd = losses.dkd(temperature_lib.zscore(z), temperature_lib.zscore(v), y, alpha=9.0, beta=72.0,
                   temperature=tau)
  np.testing.assert_allclose(terms['kd'], 0.5 * jnp.mean(dkd), rtol=1e-5)


@pytest.mark.parametrize('method', ['mlkd', 'mlkd_ls'])
def test_mlkd_terms_sum_to_the_loss_and_need_two_views(batch, method):
  z, v, y, z_strong, v_strong = batch
  loss, terms = _loss(method, z, v, y, student_strong=z_strong, teacher_strong=v_strong)
  parts = losses.mlkd(z, z_strong, v, v_strong, y, temperature=4.0 if method == 'mlkd' else 2.0,
                      ce_weight=0.1, kd_weight=0.9 if method == 'mlkd' else 9.0,
                      standardize=method == 'mlkd_ls')
  for name in ('ce', 'kd', 'cc', 'bc'):
    np.testing.assert_allclose(terms[name], parts[name], rtol=1e-6)
  np.testing.assert_allclose(loss, sum(parts.values()), rtol=1e-6)
  with pytest.raises(ValueError, match='two views'):
    _loss(method, z, v, y)


def test_compositions_beyond_the_papers(batch):
  """WTTM + LS and MLKD + max-logit need no new loss code (methods.md section 8)."""
  z, v, y, z_strong, v_strong = batch
  c = config_lib.method_config('wttm', 'resnet56', 'resnet20')
  c.standardize = True
  loss, _ = _loss(None, z, v, y, config=c)
  expected = _ce_by_hand(z, y).mean() + 1.5 * np.mean(
      losses.wttm(temperature_lib.zscore(z), temperature_lib.zscore(v), gamma=0.3))
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  c = config_lib.method_config('mlkd_ls', 'resnet32x4', 'resnet8x4')
  c.temperature_policy = 'max_logit'
  loss, terms = _loss(None, z, v, y, config=c, student_strong=z_strong, teacher_strong=v_strong)
  assert np.isfinite(loss) and float(terms['temperature_min']) < float(terms['temperature_max'])


@pytest.mark.parametrize('method', config_lib.METHODS)
def test_term_names_match_and_jit_equals_eager(batch, method):
  z, v, y, z_strong, v_strong = batch
  kwargs = dict(lambda_=-0.5, warmup=0.5, student_strong=z_strong, teacher_strong=v_strong)
  eager, terms = _loss(method, z, v, y, **kwargs)
  jitted, _ = jax.jit(lambda z, v: _loss(method, z, v, y, **kwargs))(z, v)
  assert tuple(sorted(terms)) == tuple(sorted(methods.term_names(
      methods.LossSpec.from_config(config_lib.method_config(method, 'resnet32x4', 'resnet8x4')))))
  np.testing.assert_allclose(eager, jitted, rtol=1e-5)
  parts = sum(terms[n] for n in ('ce', 'kd', 'cc', 'bc') if n in terms)
  np.testing.assert_allclose(parts, eager, rtol=1e-5)


def test_dkd_warmup_factor_per_epoch():
  c = config_lib.method_config('dkd', 'resnet32x4', 'resnet8x4')
  assert [methods.dkd_warmup(c, e) for e in (1, 10, 20, 21, 240)] == [0.05, 0.5, 1.0, 1.0, 1.0]
  assert float(methods.epoch_scalars(c, 1)['warmup']) == np.float32(0.05)
  assert float(methods.epoch_scalars(config_lib.method_config('kd', 'a', 'b'), 1)['warmup']) == 1.0
  with pytest.raises(ValueError, match='counted from 1'):
    methods.dkd_warmup(c, 0)


def test_ctkd_lambda_per_epoch():
  c = config_lib.method_config('ctkd', 'resnet32x4', 'resnet8x4')
  lambdas = [methods.ctkd_lambda(c, e) for e in (1, 5, 10, 11, 240)]
  np.testing.assert_allclose(lambdas, [-0.0245, -0.5, -1.0, -1.0, -1.0], atol=1e-4)
  c.ctkd.schedule = 'linear'
  np.testing.assert_allclose(methods.ctkd_lambda(c, 5), -0.5, atol=1e-6)
  np.testing.assert_allclose(methods.ctkd_lambda(c, 1), -0.1, atol=1e-6)
  assert float(methods.epoch_scalars(config_lib.get_config(), 3)['lambda_']) == 0.0


def test_check_finite_names_the_bad_metric():
  losses.check_finite(**{'loss': 1.0})
  with pytest.raises(losses.NonFiniteError, match='train_kd'):
    losses.check_finite(**{'train_loss': 1.0, 'train_kd': float('nan')})
