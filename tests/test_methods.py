"""kdjax.methods: each preset's objective (``methods.build(config)``) against the numpy formulas.

The loss of a config is ``methods.build(config).apply(variables, StepInputs(...))``; every value
is checked against the float64 references of ``tests/references.py`` with the weights of the
presets and recipes (``kdjax/methods/logit.py``, ``kdjax/recipes/``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import references as ref
from kdjax import config as config_lib
from kdjax import losses
from kdjax import methods
from kdjax import recipes
from kdjax.methods import logit as logit_lib

B, K = 6, 10
PAIR = ('resnet32x4', 'resnet8x4')


@pytest.fixture(scope='module')
def batch():
  k1, k2, k3, k4 = jax.random.split(jax.random.key(0), 4)
  z = 2.0 * jax.random.normal(k1, (B, K))
  v = 3.0 * jax.random.normal(k2, (B, K)) + 1.0
  y = jax.random.randint(k3, (B,), 0, K)
  z_strong = z + 0.5 * jax.random.normal(k4, (B, K))
  return z, v, y, z_strong, 0.8 * v


def _inputs(z, v, y, *, strong=None, scalars=None):
  return methods.StepInputs(
      student=methods.Outputs(jnp.asarray(z)), labels=jnp.asarray(y),
      teacher=None if v is None else methods.Outputs(jnp.asarray(v)),
      student_strong=None if strong is None else methods.Outputs(jnp.asarray(strong[0])),
      teacher_strong=None if strong is None else methods.Outputs(jnp.asarray(strong[1])),
      scalars={k: jnp.float32(s) for k, s in (scalars or {}).items()})


def _config(method, teacher=PAIR[0], student=PAIR[1]):
  """The recipe's config with ``method`` left to be derived again (switches may change)."""
  config = recipes.method_config(method, teacher, student)
  config.method = None
  return config


def _loss(config, z, v, y, *, strong=None, scalars=None, key=1):
  """``(loss, metrics)`` of ``config``'s objective (variables initialised from ``key``)."""
  distillation = methods.build(config)
  inputs = _inputs(z, v, y, strong=strong, scalars=scalars)
  variables = distillation.init(jax.random.key(key), inputs)
  return distillation.apply(variables, inputs)


def test_ce_only(batch):
  z, v, y, *_ = batch
  config = _config('ce', '', 'resnet8x4')
  distillation = methods.build(config)
  assert distillation.logit is None and not distillation.needs.teacher
  loss, terms = _loss(config, z, None, y)
  np.testing.assert_allclose(loss, ref.cross_entropy(z, y).mean(), rtol=1e-6)
  assert set(terms) == {'ce'}


def test_kd_is_point_one_ce_plus_point_nine_t4_kd(batch):
  z, v, y, *_ = batch
  loss, terms = _loss(_config('kd'), z, v, y)
  expected = 0.1 * ref.cross_entropy(z, y).mean() + 0.9 * ref.kd(z, v, 4.0).mean()
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  np.testing.assert_allclose(terms['ce'] + terms['kd'], loss, rtol=1e-6)
  assert float(terms['temperature_mean']) == 4.0
  np.testing.assert_allclose(terms['logit_correlation'], ref.correlation(z, v).mean(), rtol=1e-5)


def test_kd_ls_standardizes_both_with_tau_2_and_weight_9(batch):
  z, v, y, *_ = batch
  loss, _ = _loss(_config('kd_ls'), z, v, y)
  expected = (0.1 * ref.cross_entropy(z, y).mean()
              + 9.0 * ref.kd(ref.zscore(z), ref.zscore(v), 2.0).mean())
  np.testing.assert_allclose(loss, expected, rtol=1e-5)


@pytest.mark.parametrize('center, scale, name', [(True, False, 'kd_lscenter'),
                                                 (False, True, 'kd_lsscale')])
def test_partial_ls_preprocesses_of_the_ablation(batch, center, scale, name):
  """Seed 001 Table 4's "z - mean" (center only) and "z / std" (scale only) columns."""
  z, v, y, *_ = batch
  c = _config('kd_ls')
  c.ls.center, c.ls.scale = center, scale
  assert config_lib.validate(c).method == name
  loss, _ = _loss(c, z, v, y)
  pre = lambda x: ref.zscore(x, center=center, scale=scale)
  expected = 0.1 * ref.cross_entropy(z, y).mean() + 9.0 * ref.kd(pre(z), pre(v), 2.0).mean()
  np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_ls_ddof_and_eps_reach_the_term(batch):
  """``ls.ddof`` 0 is the paper's Algorithm 1 (biased std); 1 (default) the release's."""
  z, v, y, *_ = batch
  c = _config('kd_ls')
  c.ls.ddof, c.ls.eps = 0, 0.5
  _, terms = _loss(c, z, v, y)
  pre = lambda x: ref.zscore(x, ddof=0, eps=0.5)
  np.testing.assert_allclose(terms['kd'], 9.0 * ref.kd(pre(z), pre(v), 2.0).mean(), rtol=1e-5)


def test_kd_ls_is_invariant_to_affine_teacher_maps(batch):
  z, v, y, *_ = batch
  loss_a, _ = _loss(_config('kd_ls'), z, v, y)
  loss_b, _ = _loss(_config('kd_ls'), z, 3.0 * v + 7.0, y)
  np.testing.assert_allclose(loss_a, loss_b, rtol=1e-5)


def test_dkd_warmup_scales_only_the_dkd_term(batch):
  z, v, y, *_ = batch
  config = _config('dkd')
  full, terms_full = _loss(config, z, v, y, scalars={'dkd_warmup': 1.0})
  half, terms_half = _loss(config, z, v, y, scalars={'dkd_warmup': 0.05})
  np.testing.assert_allclose(terms_half['ce'], terms_full['ce'], rtol=1e-7)
  np.testing.assert_allclose(terms_half['kd'], 0.05 * terms_full['kd'], rtol=1e-5)
  expected = ref.cross_entropy(z, y).mean() + ref.dkd(z, v, y, 1.0, 8.0, 4.0).mean()
  np.testing.assert_allclose(full, expected, rtol=1e-5)
  no_scalar, _ = _loss(config, z, v, y)  # no warm-up scalar given: factor 1
  np.testing.assert_allclose(no_scalar, full, rtol=1e-7)


def test_dkd_ls_multiplies_alpha_and_beta_by_w(batch):
  """resnet56 -> resnet20 DKD+LS: tau 3, w 18, beta0 2 (LS logs/DKD/dkd,resnet56,resnet20,3,18,2.0)."""
  z, v, y, *_ = batch
  loss, terms = _loss(_config('dkd_ls', 'resnet56', 'resnet20'), z, v, y)
  dkd = ref.dkd(ref.zscore(z), ref.zscore(v), y, 18.0, 36.0, 3.0).mean()
  np.testing.assert_allclose(terms['kd'], dkd, rtol=1e-5)
  np.testing.assert_allclose(loss, ref.cross_entropy(z, y).mean() + dkd, rtol=1e-5)


@pytest.mark.parametrize('method, fn, gamma, beta', [('ttm', ref.ttm, 0.3, 7.0),
                                                     ('wttm', ref.wttm, 0.3, 1.5)])
def test_ttm_and_wttm_are_ce_plus_beta_times_mean(batch, method, fn, gamma, beta):
  """resnet56 -> resnet20 (Zheng & Yang 2024, Appendix A.4): TTM (0.3, 7), WTTM (0.3, 1.5)."""
  z, v, y, *_ = batch
  loss, terms = _loss(_config(method, 'resnet56', 'resnet20'), z, v, y)
  expected = ref.cross_entropy(z, y).mean() + beta * np.mean(fn(z, v, gamma))
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  np.testing.assert_allclose(terms['temperature_mean'], 1.0 / gamma, rtol=1e-6)


def test_dist_is_its_relations_times_the_weight(batch):
  z, v, y, *_ = batch
  c = _config('kd')
  c.logit.loss, c.dist.beta, c.dist.gamma = 'dist', 2.0, 0.5
  assert config_lib.validate(c).method == 'dist'
  loss, terms = _loss(c, z, v, y)
  expected = 0.9 * ref.dist(z, v, beta=2.0, gamma=0.5, tau=4.0)
  np.testing.assert_allclose(terms['kd'], expected, rtol=1e-5)
  np.testing.assert_allclose(loss, 0.1 * ref.cross_entropy(z, y).mean() + expected, rtol=1e-5)


def test_ctkd_learned_temperature_starts_at_15_62_and_reverses_gradients(batch):
  """Li et al. 2023 (zhengli97/CTKD models/temp_global.py): T = 1 + 20 sigmoid(theta), theta 1."""
  z, v, y, *_ = batch
  distillation = methods.build(_config('ctkd'))

  def loss(variables, lam):
    return distillation.apply(variables, _inputs(z, v, y, scalars={'ctkd_lambda': lam}))

  variables = distillation.init(jax.random.key(0), _inputs(z, v, y))
  assert float(variables['params']['logit']['temperature']['theta']) == 1.0
  value, terms = loss(variables, -1.0)
  np.testing.assert_allclose(terms['temperature_mean'], ref.ctkd_temperature(1.0), rtol=1e-6)
  t = ref.ctkd_temperature(1.0)
  expected = 0.1 * ref.cross_entropy(z, y).mean() + 0.9 * ref.kd(z, v, t).mean()
  np.testing.assert_allclose(value, expected, rtol=1e-5)
  grad = lambda lam: jax.grad(lambda p: loss(p, lam)[0])(variables)[
      'params']['logit']['temperature']['theta']
  g_plus, g_minus, g_zero = grad(1.0), grad(-1.0), grad(0.0)
  assert float(g_plus) != 0.0
  np.testing.assert_allclose(g_minus, -g_plus, rtol=1e-6)
  assert float(g_zero) == 0.0


def test_ctkd_ls_temperature_range_reaches_the_term(batch):
  """CTKD+LS: T = 2 + 40 sigmoid(theta) (the LS logs/CTKD range), 22.6 at theta 1."""
  z, v, y, *_ = batch
  config = _config('ctkd_ls')
  _, terms = _loss(config, z, v, y)
  t = ref.ctkd_temperature(1.0, t_start=2.0, t_range=40.0)
  np.testing.assert_allclose(terms['temperature_mean'], t, rtol=1e-6)
  # float32 at T = 22.6: T^2 = 511 scales a small KL (relative error ~1e-5).
  np.testing.assert_allclose(terms['kd'], 9.0 * ref.kd(ref.zscore(z), ref.zscore(v), t).mean(),
                             rtol=1e-4)


def test_ctkd_instance_variant_gives_per_example_temperatures(batch):
  z, v, y, *_ = batch
  c = _config('ctkd_ls')
  c.ctkd.variant = 'instance'
  distillation = methods.build(c)
  variables = distillation.init(jax.random.key(0), _inputs(z, v, y))
  assert 'hidden' in variables['params']['logit']['temperature']
  loss, terms = distillation.apply(variables, _inputs(z, v, y, scalars={'ctkd_lambda': -0.5}))
  t = ref.ctkd_temperature(1.0, t_start=2.0, t_range=40.0)  # zero last layer: every row at init
  np.testing.assert_allclose(terms['temperature_mean'], t, rtol=1e-5)
  # float32 at T = 22.6: T^2 = 511 scales a small KL (relative error ~1e-5).
  np.testing.assert_allclose(terms['kd'], 9.0 * ref.kd(ref.zscore(z), ref.zscore(v), t).mean(),
                             rtol=1e-4)
  assert np.isfinite(loss)


def test_max_logit_uses_per_sample_tau_on_zscored_logits(batch):
  z, v, y, *_ = batch
  loss, terms = _loss(_config('kd_maxlogit'), z, v, y)
  tau = ref.max_logit(z, v, order=2)
  expected = (0.1 * ref.cross_entropy(z, y).mean()
              + 9.0 * ref.kd(ref.zscore(z), ref.zscore(v), tau).mean())
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  np.testing.assert_allclose(terms['temperature_max'], tau.max(), rtol=1e-6)
  np.testing.assert_allclose(terms['temperature_min'], tau.min(), rtol=1e-6)


@pytest.mark.parametrize('order, teacher_only', [(1, False), (2, True)])
def test_max_logit_options_reach_the_term(batch, order, teacher_only):
  z, v, y, *_ = batch
  c = _config('kd_maxlogit')
  c.max_logit.order, c.max_logit.teacher_only = order, teacher_only
  _, terms = _loss(c, z, v, y)
  tau = ref.max_logit(z, v, order=order, teacher_only=teacher_only)
  np.testing.assert_allclose(terms['temperature_mean'], tau.mean(), rtol=1e-6)
  np.testing.assert_allclose(terms['kd'], 9.0 * ref.kd(ref.zscore(z), ref.zscore(v), tau).mean(),
                             rtol=1e-5)


def test_dkd_maxlogit(batch):
  """zDKD+Ours (seed 000 Table 3): CE 1, weight 9 on alpha 1 and the pair's beta (8 here)."""
  z, v, y, *_ = batch
  loss, terms = _loss(_config('dkd_maxlogit'), z, v, y, scalars={'dkd_warmup': 0.5})
  tau = ref.max_logit(z, v)
  dkd = ref.dkd(ref.zscore(z), ref.zscore(v), y, 9.0, 72.0, tau).mean()
  np.testing.assert_allclose(terms['kd'], 0.5 * dkd, rtol=1e-5)
  np.testing.assert_allclose(loss, ref.cross_entropy(z, y).mean() + 0.5 * dkd, rtol=1e-5)


@pytest.mark.parametrize('method', ['mlkd', 'mlkd_ls'])
def test_mlkd_terms_sum_to_the_loss_and_need_two_views(batch, method):
  """Released MLKD: T0 4, CE 0.1, weight 0.9; MLKD+LS: T0 2, weight 9 (resnet32x4 -> resnet8x4)."""
  z, v, y, z_strong, v_strong = batch
  config = _config(method)
  assert methods.build(config).needs.strong_view
  loss, terms = _loss(config, z, v, y, strong=(z_strong, v_strong))
  parts = ref.mlkd(z, z_strong, v, v_strong, y, t0=4.0 if method == 'mlkd' else 2.0,
                   ce_weight=0.1, kd_weight=0.9 if method == 'mlkd' else 9.0,
                   standardize=method == 'mlkd_ls')
  for name in ('ce', 'kd', 'cc', 'bc'):
    np.testing.assert_allclose(terms[name], parts[name], rtol=1e-5, err_msg=name)
  np.testing.assert_allclose(loss, sum(parts.values()), rtol=1e-5)
  with pytest.raises(ValueError, match='strong view'):
    _loss(config, z, v, y)


def test_compositions_beyond_the_papers(batch):
  """WTTM + LS and MLKD + max-logit need no new loss code."""
  z, v, y, z_strong, v_strong = batch
  c = _config('wttm', 'resnet56', 'resnet20')
  c.logit.standardize = True
  assert config_lib.validate(c).method == 'wttm_ls'
  loss, _ = _loss(c, z, v, y)
  expected = (ref.cross_entropy(z, y).mean()
              + 1.5 * np.mean(ref.wttm(ref.zscore(z), ref.zscore(v), 0.3)))
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  c = _config('mlkd_ls')
  c.logit.policy = 'max_logit'
  assert config_lib.validate(c).method == 'mlkd_maxlogit'
  loss, terms = _loss(c, z, v, y, strong=(z_strong, v_strong))
  tau = ref.max_logit(z, v)
  parts = ref.mlkd(z, z_strong, v, v_strong, y, t0=tau, ce_weight=0.1, kd_weight=9.0,
                   standardize=True)
  np.testing.assert_allclose(loss, sum(parts.values()), rtol=1e-5)
  assert float(terms['temperature_min']) < float(terms['temperature_max'])


@pytest.mark.parametrize('method', config_lib.LOGIT_METHODS)
def test_term_names_match_and_jit_equals_eager(batch, method):
  z, v, y, z_strong, v_strong = batch
  config = _config(method, '' if method == 'ce' else PAIR[0], PAIR[1])
  distillation = methods.build(config)
  inputs = _inputs(z, v, y, strong=(z_strong, v_strong),
                   scalars={'ctkd_lambda': -0.5, 'dkd_warmup': 0.5})
  variables = distillation.init(jax.random.key(0), inputs)
  eager, terms = distillation.apply(variables, inputs)
  jitted, _ = jax.jit(distillation.apply)(variables, inputs)
  assert set(terms) == set(distillation.term_names) | set(distillation.stat_names)
  np.testing.assert_allclose(eager, jitted, rtol=1e-5)
  np.testing.assert_allclose(sum(terms[n] for n in distillation.term_names), eager, rtol=1e-5)
  assert distillation.needs.teacher == (method != 'ce')
  assert distillation.needs.strong_view == method.startswith('mlkd')


def test_dkd_warmup_factor_per_epoch():
  """Zhao et al. 2022: min(epoch / 20, 1), epochs counted from 1."""
  c = _config('dkd')
  assert [logit_lib.dkd_warmup(c, e) for e in (1, 10, 20, 21, 240)] == [0.05, 0.5, 1.0, 1.0, 1.0]
  assert methods.epoch_scalars(c, 1) == {'dkd_warmup': 0.05}
  assert methods.epoch_scalars(_config('kd'), 1) == {}  # no warm-up: the term's factor is 1
  with pytest.raises(ValueError, match='counted from 1'):
    logit_lib.dkd_warmup(c, 0)


def test_ctkd_lambda_per_epoch():
  """CTKD's cosine schedule 0 -> -1 over 10 epochs (-0.0245 at epoch 1, -0.5 at 5)."""
  c = _config('ctkd')
  lambdas = [logit_lib.ctkd_lambda(c, e) for e in (1, 5, 10, 11, 240)]
  np.testing.assert_allclose(lambdas, [-0.0245, -0.5, -1.0, -1.0, -1.0], atol=1e-4)
  np.testing.assert_allclose(methods.epoch_scalars(c, 5)['ctkd_lambda'], -0.5, atol=1e-6)
  c.ctkd.schedule = 'linear'
  np.testing.assert_allclose(logit_lib.ctkd_lambda(c, 5), -0.5, atol=1e-6)
  np.testing.assert_allclose(logit_lib.ctkd_lambda(c, 1), -0.1, atol=1e-6)
  assert 'ctkd_lambda' not in methods.epoch_scalars(config_lib.get_config(), 3)
  c.logit.loss = 'dkd'  # ctkd_dkd: both scalars
  assert set(methods.epoch_scalars(c, 3)) == {'ctkd_lambda', 'dkd_warmup'}


def test_build_refuses_inconsistent_method_settings():
  c = config_lib.get_config()
  c.logit.loss, c.feature.loss = 'kl', 'nope'
  with pytest.raises(ValueError, match=r"logit.loss must be one of .*feature.loss must be none"):
    methods.build(c)


def test_check_finite_names_the_bad_metric():
  losses.check_finite(**{'loss': 1.0})
  with pytest.raises(losses.NonFiniteError, match='train_kd'):
    losses.check_finite(**{'train_loss': 1.0, 'train_kd': float('nan')})


def test_registries_refuse_a_name_or_group_taken_or_missing():
  """A divergence/policy registers under a new name; it declares a new group or reads a declared one."""
  taken = type('Again', (logit_lib.Divergence,), {'NAME': 'kd'})
  with pytest.raises(ValueError, match="new, unique NAME, got 'kd'"):
    logit_lib.register_divergence(taken)
  twice = type('Twice', (logit_lib.Divergence,), {
      'NAME': 'dkd2', 'GROUP': 'dkd', 'default_config': staticmethod(lambda: None)})
  with pytest.raises(ValueError, match="declares the config group 'dkd'"):
    logit_lib.register_divergence(twice)
  orphan = type('Orphan', (logit_lib.Policy,), {'NAME': 'orphan', 'GROUP': 'nowhere'})
  with pytest.raises(ValueError, match='reads config.nowhere, which no component declares'):
    logit_lib.register_policy(orphan)
  assert set(logit_lib.divergences()) >= {'kd', 'dkd', 'mlkd', 'ttm', 'wttm', 'dist'}
  assert tuple(logit_lib.policies()) == ('fixed', 'ctkd', 'max_logit')
