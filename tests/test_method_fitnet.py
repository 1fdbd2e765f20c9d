"""FitNet: the regressor's shapes and initialisation, the term's value, training, resume, devices."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kdjax import feature_losses
from kdjax import methods
from kdjax import models
from kdjax import recipes
from kdjax.methods import fitnet
from tests import method_checks


@pytest.mark.parametrize('student_hw, teacher_hw, kernel', [
    (16, 8, (3, 3, 4, 6)), (8, 16, (4, 4, 6, 4)), (8, 8, (1, 1, 4, 6)), (10, 8, (3, 3, 4, 6))])
def test_conv_reg_picks_the_reference_regressor(student_hw, teacher_hw, kernel):
  reg = fitnet.ConvReg((teacher_hw, teacher_hw, 6))
  x = jnp.ones((2, student_hw, student_hw, 4))
  variables = reg.init(jax.random.key(0), x, False)
  out = reg.apply(variables, x, False)
  assert out.shape == (2, teacher_hw, teacher_hw, 6)
  assert variables['params']['conv']['kernel'].shape == kernel
  # PyTorch's default init: |w| <= 1 / sqrt(fan_in) (transposed conv: fan_in from out channels).
  fan_in = (6 if student_hw * 2 == teacher_hw else 4) * kernel[0] * kernel[1]
  assert np.max(np.abs(variables['params']['conv']['kernel'])) <= 1 / math.sqrt(fan_in)
  assert np.all(out >= 0)  # ReLU


def test_conv_reg_transposed_matches_torch():
  torch = pytest.importorskip('torch')
  reg = fitnet.ConvReg((8, 8, 3), use_relu=False)
  x = np.random.default_rng(0).normal(size=(2, 4, 4, 5)).astype(np.float32)
  variables = reg.init(jax.random.key(1), x, False)
  conv = torch.nn.ConvTranspose2d(5, 3, 4, 2, 1)
  with torch.no_grad():  # flax transpose_kernel HWIO (I = out) -> torch (in, out, kh, kw)
    conv.weight.copy_(torch.from_numpy(np.asarray(
        variables['params']['conv']['kernel']).transpose(3, 2, 0, 1).copy()))
    conv.bias.copy_(torch.from_numpy(np.asarray(variables['params']['conv']['bias'])))
    expected = conv(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
  # Inference-mode BatchNorm at init is the identity up to 1 / sqrt(1 + eps).
  got = reg.apply(variables, x, False) * np.sqrt(1 + 1e-5)
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_term_is_the_mse_of_the_regressed_hint():
  config = method_checks.smoke('fitnet')
  term = methods.build(config).feature
  rng = np.random.default_rng(0)
  feats = lambda c: models.Features(
      feats=tuple(jnp.asarray(rng.normal(size=(4, 8, 8, c)), jnp.float32) for _ in range(3)),
      preact_feats=(), pooled=jnp.zeros((4, c)))
  student, teacher = feats(5), feats(7)
  inputs = methods.StepInputs(student=methods.Outputs(jnp.zeros((4, 10)), student),
                              labels=jnp.zeros(4, jnp.int32),
                              teacher=methods.Outputs(jnp.zeros((4, 10)), teacher))
  variables = term.init(jax.random.key(0), inputs, False)
  out = term.apply(variables, inputs, False)
  regressed = fitnet.ConvReg((8, 8, 7)).apply({'params': variables['params']['regressor'],
                                               'batch_stats': variables['batch_stats']['regressor']},
                                              student.feats[2], False)
  expected = np.mean((np.asarray(regressed) - np.asarray(teacher.feats[2])) ** 2)
  np.testing.assert_allclose(out['fitnet'], expected, rtol=1e-5)
  np.testing.assert_allclose(out['fitnet'], jnp.mean(feature_losses.fitnet(regressed, teacher.feats[2])))


def test_preset_and_weights():
  config = method_checks.smoke('fitnet')
  assert (config.method, config.ce_weight, config.feature.weight, config.fitnet.hint_layer) == (
      'fitnet', 1.0, 100.0, 2)


def test_recipes():
  for recipe, repo in (('seed001', recipes.MDISTILLER), ('seed002', recipes.CRD_REPO)):
    resolved = recipes.resolve('fitnet', 'resnet32x4', 'resnet8x4', recipe=recipe)
    c = resolved.config
    assert (c.ce_weight, c.feature.weight, c.fitnet.hint_layer) == (1.0, 100.0, 2)
    for field in ('ce_weight', 'feature.weight', 'fitnet.hint_layer'):
      assert resolved.sources[field].startswith(repo), (recipe, field)
  # mdistiller has no ImageNet FitNet config: the CIFAR values, sourced as a default.
  imagenet = recipes.resolve('fitnet', 'resnet34', 'resnet18')
  assert imagenet.config.feature.weight == 100.0
  assert imagenet.sources['feature.weight'].startswith('default:')
  assert 'has no fitnet config' in imagenet.sources['feature.weight']


@pytest.mark.slow
def test_trains_and_resumes_exactly(tmp_path):
  result = method_checks.assert_resumes_exactly(method_checks.smoke('fitnet'), tmp_path)
  params = result.state.params['method']['feature']['regressor']
  assert 'conv' in params and 'bn' in params
  assert 'regressor' in result.state.batch_stats['method']['feature']


@pytest.mark.slow
def test_one_and_two_devices_agree(tmp_path):
  configs = {'fitnet': method_checks.smoke('fitnet', lr=0.005)}  # lr: see method_checks.RTOL
  one = method_checks.run_on_devices(configs, 1, tmp_path)
  two = method_checks.run_on_devices(configs, 2, tmp_path)
  assert (one['devices'], two['devices']) == (1, 2)
  print('largest difference / allowed:', method_checks.assert_same_runs(one['fitnet'],
                                                                        two['fitnet']))
  assert two['fitnet']['replicated']
