"""VID: regressors and log-scales vs the references, the term's value, presets, recipes, resume."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kdjax import feature_losses
from kdjax import methods
from kdjax import recipes
from kdjax.methods import vid
from tests import feature_inputs
from tests import method_checks

# Stage 1: same size; stage 2: teacher larger (pooled inside vid); stage 3: student larger
# (pooled before the regressor). The teacher's fourth stage is left out by the zip.
STUDENT = [(8, 8, 3), (8, 8, 4), (4, 4, 6), (2, 2, 8)]
TEACHER = [(8, 8, 3), (8, 8, 5), (8, 8, 7), (1, 1, 9), (1, 1, 9)]


def _inputs(seed=0):
  rng = np.random.default_rng(seed)
  student = feature_inputs.random_features(rng, STUDENT)
  # Post-ReLU features, as the models' feats are.
  student = student.replace(feats=tuple(jax.nn.relu(f) for f in student.feats))
  return feature_inputs.step_inputs(student, feature_inputs.random_features(rng, TEACHER))


def test_variables_and_initialisation():
  inputs = _inputs()
  for train_log_scale in (False, True):
    variables = feature_inputs.init(vid.VID(train_log_scale=train_log_scale), inputs)
    assert sorted(variables['params']) == ['stage0', 'stage1', 'stage2']
    for i, (s_c, t_c) in enumerate(((4, 5), (6, 7), (8, 9))):
      stage = variables['params'][f'stage{i}']
      kernels = [stage['regressor'][k]['kernel'] for k in ('0', '2', '4')]
      assert [k.shape for k in kernels] == [(1, 1, s_c, t_c), (1, 1, t_c, t_c), (1, 1, t_c, t_c)]
      for kernel in kernels:  # PyTorch's default init: U(+-1/sqrt(fan_in)), no bias
        assert np.max(np.abs(kernel)) <= 1 / math.sqrt(kernel.shape[2])
      assert sorted(stage['regressor']['0']) == ['kernel']
      collection = variables['params' if train_log_scale else 'state'][f'stage{i}']
      log_scale = collection['log_scale']
      np.testing.assert_allclose(jax.nn.softplus(log_scale) + feature_losses.VID_EPS, 5.0,
                                 rtol=1e-6)
      assert log_scale.shape == (t_c,)
      assert ('log_scale' in stage) == train_log_scale
    assert ('state' in variables) == (not train_log_scale)


def test_term_is_the_sum_of_stage_nlls():
  config = method_checks.smoke('vid', **{'feature.weight': 2.0})
  distillation = methods.build(config)
  inputs = _inputs()
  variables = feature_inputs.init(distillation, inputs)
  loss, metrics = feature_inputs.apply(distillation, variables, inputs)

  @jax.jit
  def expected_loss(variables, inputs):
    total = 0.0
    for i in range(3):
      f_s, f_t = inputs.student.features.feats[i + 1], inputs.teacher.features.feats[i + 1]
      if f_s.shape[1] > f_t.shape[1]:
        f_s = jnp.mean(f_s, axis=(1, 2), keepdims=True)  # to the teacher's 1x1
      mean = vid.VIDRegressor(f_t.shape[-1]).apply(
          {'params': variables['params']['feature'][f'stage{i}']['regressor']}, f_s)
      log_scale = variables['state']['feature'][f'stage{i}']['log_scale']
      total += jnp.mean(feature_losses.vid(mean, log_scale, f_t))
    return total

  expected = expected_loss(variables, inputs)
  np.testing.assert_allclose(metrics['vid'], 2.0 * expected, rtol=1e-5)
  np.testing.assert_allclose(loss, metrics['ce'] + metrics['vid'], rtol=1e-6)


@pytest.mark.parametrize('train_log_scale', [False, True])
def test_term_matches_the_reference_vid_loss(train_log_scale):
  """mdistiller's ``vid_loss`` (= RepDistiller's ``VIDLoss.forward``) with the same weights."""
  torch = pytest.importorskip('torch')
  F = torch.nn.functional

  def vid_loss(regressor, log_scale, f_s, f_t, eps=1e-5):  # mdistiller/distillers/VID.py
    s_h, t_h = f_s.shape[2], f_t.shape[2]
    if s_h > t_h:
      f_s = F.adaptive_avg_pool2d(f_s, (t_h, t_h))
    elif s_h < t_h:
      f_t = F.adaptive_avg_pool2d(f_t, (s_h, s_h))
    pred_mean = regressor(f_s)
    pred_var = torch.log(1.0 + torch.exp(log_scale)) + eps
    pred_var = pred_var.view(1, -1, 1, 1).to(pred_mean)
    return torch.mean(0.5 * ((pred_mean - f_t) ** 2 / pred_var + torch.log(pred_var)))

  inputs = _inputs(1)
  out, variables = feature_inputs.apply_term(vid.VID(train_log_scale=train_log_scale), inputs,
                                             seed=2)
  nchw = lambda f: torch.from_numpy(np.asarray(f).transpose(0, 3, 1, 2).copy())
  expected = 0.0
  for i in range(3):
    layers = []
    for k in ('0', '2', '4'):
      kernel = np.asarray(variables['params'][f'stage{i}']['regressor'][k]['kernel'])
      conv = torch.nn.Conv2d(kernel.shape[2], kernel.shape[3], 1, bias=False)
      with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
      layers += [conv, torch.nn.ReLU()]
    regressor = torch.nn.Sequential(*layers[:-1])
    log_scale = torch.tensor(np.log(np.exp(5.0 - 1e-5) - 1.0)) * torch.ones(
        inputs.teacher.features.feats[i + 1].shape[-1])
    with torch.no_grad():
      expected += vid_loss(regressor, log_scale, nchw(inputs.student.features.feats[i + 1]),
                           nchw(inputs.teacher.features.feats[i + 1])).item()
  np.testing.assert_allclose(out['vid'], expected, rtol=1e-5)


def test_preset_and_recipes():
  config = method_checks.smoke('vid')
  assert (config.method, config.ce_weight, config.feature.weight, config.vid.train_log_scale,
          config.vid.init_pred_var) == ('vid', 1.0, 1.0, False, 5.0)
  seed001 = recipes.resolve('vid', 'resnet32x4', 'resnet8x4', recipe='seed001')
  assert seed001.config.vid.train_log_scale is False
  assert 'mdistiller/distillers/VID.py' in seed001.sources['vid.train_log_scale']
  for field in ('ce_weight', 'feature.weight', 'vid.init_pred_var'):
    assert seed001.sources[field].startswith(recipes.MDISTILLER), field
  seed002 = recipes.resolve('vid', 'resnet32x4', 'resnet8x4', recipe='seed002')
  assert seed002.config.vid.train_log_scale is True
  assert (seed002.config.ce_weight, seed002.config.feature.weight) == (1.0, 1.0)
  for field in ('ce_weight', 'feature.weight', 'vid.init_pred_var', 'vid.train_log_scale'):
    assert seed002.sources[field].startswith(recipes.CRD_REPO), field
  seed000 = recipes.resolve('vid', 'resnet32x4', 'resnet8x4', recipe='seed000')
  assert seed000.config.vid.train_log_scale is False
  assert seed000.sources['vid.train_log_scale'].startswith('default:')
  imagenet = recipes.resolve('vid', 'resnet34', 'resnet18')
  assert imagenet.sources['feature.weight'].startswith('default:')


def test_bad_settings_fail_at_build():
  config = method_checks.smoke('vid')
  config.vid.init_pred_var = 0.0
  with pytest.raises(ValueError, match='vid.init_pred_var must be >'):
    methods.build(config, feature_inputs.context('resnet8', 'resnet8'))


@pytest.mark.slow
def test_trains_and_resumes_exactly(tmp_path):
  """mdistiller's VID: the log-scales are constants in the method state, untouched by training."""
  config = method_checks.smoke('vid')
  result = method_checks.assert_resumes_exactly(config, tmp_path)
  params, state = result.state.params['method']['feature'], result.state.method_state['feature']
  assert sorted(params) == ['stage0', 'stage1', 'stage2']
  assert 'log_scale' not in params['stage0']
  for stage in state.values():
    np.testing.assert_array_equal(stage['log_scale'],
                                  np.float32(feature_losses.vid_log_scale_init()))
