"""ITRD: the term against the pure functions, the embedding, presets, seed 002's WTTM+ITRD rows."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kdjax import config as config_lib
from kdjax import feature_losses
from kdjax import methods
from kdjax import models
from kdjax import recipes
from kdjax.methods import itrd
from tests import method_checks

RNG = np.random.default_rng(0)


def _outputs(pooled):
  return methods.Outputs(logits=jnp.zeros((pooled.shape[0], 10)), features=models.Features(
      feats=(), preact_feats=(), pooled=pooled))


@pytest.mark.parametrize('s_dim, t_dim', [(6, 10), (10, 10)])
def test_term_is_the_weighted_correlation_and_mutual_losses(s_dim, t_dim):
  f_s = jnp.asarray(np.abs(RNG.normal(size=(8, s_dim))), jnp.float32)
  f_t = jnp.asarray(np.abs(RNG.normal(size=(8, t_dim))), jnp.float32)
  inputs = methods.StepInputs(student=_outputs(f_s), teacher=_outputs(f_t),
                              labels=jnp.zeros(8, jnp.int32))
  term = itrd.ITRD(lambda_corr=2.0, lambda_mutual=0.5, alpha=1.01)

  def run(key, inputs):
    variables = term.init(key, inputs)
    return variables, term.apply(variables, inputs)

  variables, out = method_checks.run_once(run, jax.random.key(0), inputs)
  embed = variables['params']['embed']
  assert embed['kernel'].shape == (s_dim, t_dim) and embed['bias'].shape == (t_dim,)
  bound = 1 / math.sqrt(s_dim)  # torch.nn.Linear's default init
  for leaf in (embed['kernel'], embed['bias']):
    assert 0.5 * bound < float(jnp.max(jnp.abs(leaf))) <= bound
  embedded = np.asarray(f_s) @ np.asarray(embed['kernel']) + np.asarray(embed['bias'])
  np.testing.assert_allclose(
      out['itrd_corr'], 2.0 * feature_losses.itrd_correlation(embedded, f_t, alpha=1.01),
      rtol=1e-4)
  # The reference embeds the student for the mutual term only when the widths differ.
  mutual_input = embedded if s_dim != t_dim else f_s
  np.testing.assert_allclose(out['itrd_mutual'],
                             0.5 * feature_losses.itrd_mutual(mutual_input, f_t), rtol=1e-4,
                             atol=1e-7)


def test_composite_weights_the_terms_by_feature_weight():
  config = method_checks.smoke('itrd', **{'feature.weight': 3.0})
  distillation = methods.build(config)
  assert distillation.term_names == ('ce', 'itrd_corr', 'itrd_mutual')
  f_s = jnp.asarray(RNG.normal(size=(4, 64)), jnp.float32)
  inputs = methods.StepInputs(student=_outputs(f_s), teacher=_outputs(f_s + 1.0),
                              labels=jnp.arange(4))

  def run(key, inputs):
    variables = distillation.init(key, inputs, train=False)
    return (distillation.apply(variables, inputs),
            distillation.feature.apply({'params': variables['params']['feature']}, inputs))

  (loss, metrics), raw = method_checks.run_once(run, jax.random.key(0), inputs)
  for name in ('itrd_corr', 'itrd_mutual'):
    np.testing.assert_allclose(metrics[name], 3.0 * raw[name], rtol=1e-6)
  np.testing.assert_allclose(loss, metrics['ce'] + metrics['itrd_corr'] + metrics['itrd_mutual'],
                             rtol=1e-6)


def test_preset_and_seed002_settings():
  config = method_checks.smoke('itrd')
  assert (config.method, config.ce_weight, config.logit.loss, config.feature.weight,
          config.itrd.lambda_corr, config.itrd.lambda_mutual, config.itrd.alpha) == (
              'itrd', 1.0, 'none', 1.0, 2.0, 1.0, 1.5)
  assert recipes.default_recipe('itrd', 'vgg13', 'vgg8') == 'seed002'
  resolved = recipes.resolve('itrd', 'vgg13', 'vgg8')
  # Seed 002 A.5: the ITRD paper's optimal values per pair (same architecture: alpha_it 1.01).
  assert resolved.config.itrd.alpha == 1.01 and 'Appendix A.5' in resolved.sources['itrd.alpha']
  loose = recipes.resolve('itrd', 'resnet14', 'resnet8')
  assert '--lambda_corr 2.0 --lambda_mutual 1.0 --alpha_it 1.50' in loose.sources['itrd.alpha']
  assert 'roymiles/ITRD' in resolved.sources['feature.weight']
  assert resolved.sources['ce_weight'].startswith('zkxufo/TTM')


SEED002_WTTM = {  # pair: (gamma, beta of the WTTM+ITRD row of Appendix A.4 Tables 8-9, ITRD
    # beta_mi, alpha_it of A.5).
    ('wrn_40_2', 'wrn_16_2'): (0.3, 6.0, 1.0, 1.01),
    ('wrn_40_2', 'wrn_40_1'): (0.4, 0.08, 1.0, 1.01),
    ('resnet56', 'resnet20'): (0.5, 5.0, 1.0, 1.01),
    ('resnet110', 'resnet20'): (0.3, 1.5, 1.0, 1.01),
    ('resnet110', 'resnet32'): (0.3, 0.015, 1.0, 1.01),
    ('resnet32x4', 'resnet8x4'): (0.1, 1.5, 1.0, 1.01),
    ('vgg13', 'vgg8'): (0.1, 0.5, 1.0, 1.01),
    ('vgg13', 'MobileNetV2'): (0.3, 0.03, 1.0, 1.5),
    ('ResNet50', 'MobileNetV2'): (0.2, 0.02, 0.0, 1.5),
    ('ResNet50', 'vgg8'): (0.1, 1.0, 0.0, 1.5),
    ('resnet32x4', 'ShuffleV1'): (0.3, 0.6, 1.0, 1.5),
    ('resnet32x4', 'ShuffleV2'): (0.4, 0.8, 1.0, 1.5),
    ('wrn_40_2', 'ShuffleV1'): (0.1, 0.2, 0.0, 1.5),
}


@pytest.mark.parametrize('pair', sorted(SEED002_WTTM))
def test_wttm_itrd_rows_of_seed002(pair):
  gamma, beta, beta_mi, alpha = SEED002_WTTM[pair]
  resolved = recipes.resolve('wttm+itrd', *pair, strict=True)
  c = resolved.config
  assert (c.method, c.ce_weight, c.logit.loss, c.feature.loss, c.feature.weight) == (
      'wttm+itrd', 1.0, 'wttm', 'itrd', 1.0)
  assert (c.ttm.gamma, c.logit.weight) == (gamma, beta)
  assert 'Appendix A.4' in resolved.sources['ttm.gamma']
  assert (c.itrd.lambda_corr, c.itrd.lambda_mutual, c.itrd.alpha) == (2.0, beta_mi, alpha)
  assert 'Appendix A.5' in resolved.sources['itrd.lambda_mutual']
  assert 'mu = 1' in resolved.sources['feature.weight']
  assert c.lr == (0.01 if pair[1] in ('MobileNetV2', 'ShuffleV1', 'ShuffleV2') else 0.05)


def test_wttm_itrd_outside_seed002_is_a_documented_default():
  loose = recipes.resolve('wttm+itrd', 'resnet14', 'resnet8')
  assert loose.sources['itrd.alpha'].startswith('default:')
  with pytest.raises(KeyError, match='no published setting'):
    recipes.resolve('wttm+itrd', 'resnet14', 'resnet8', strict=True)


@pytest.mark.parametrize('field, value, message', [
    ('itrd.alpha', 0.0, 'Renyi'), ('itrd.lambda_mutual', -1.0, 'must be >= 0'),
    ('batch_size', 1, 'batch_size must be >= 2')])
def test_bad_settings_are_refused(field, value, message):
  config = method_checks.smoke('itrd')
  config.update_from_flattened_dict({field: value})
  with pytest.raises(ValueError, match=message):
    config_lib.validate(config)


@pytest.mark.slow
def test_trains_and_resumes_exactly(tmp_path):
  result = method_checks.assert_resumes_exactly(method_checks.smoke('wttm+itrd'), tmp_path)
  assert set(result.state.params['method']['feature']['embed']) == {'kernel', 'bias'}
  rows = method_checks.metric_rows(str(tmp_path / 'uninterrupted'))
  assert all(k in rows[0] for k in ('train_kd', 'train_itrd_corr', 'train_itrd_mutual'))
