"""OFD: connectors, margins and stage alignment vs mdistiller, presets, recipes, refused models."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kdjax import feature_losses
from kdjax import methods
from kdjax import models
from kdjax import recipes
from kdjax.methods import ofd
from tests import feature_inputs
from tests import method_checks


def _bn_variables(name, rng):
  """Teacher variables holding only the bn_before_relu BNs of ``name`` (random scale / bias)."""
  shapes = models.feature_shapes(name).preact_feats
  paths = models.bn_before_relu_paths(name)
  variables = {'params': {}, 'batch_stats': {}}
  for path, feat in zip(paths, shapes[len(shapes) - len(paths):]):
    c = feat.shape[-1]
    leaves = {'params': {'scale': rng.normal(size=c), 'bias': rng.normal(size=c)},
              'batch_stats': {'mean': np.zeros(c), 'var': np.ones(c)}}
    for collection, values in leaves.items():
      node = variables[collection]
      for key in path:
        node = node.setdefault(key, {})
      node.update({k: jnp.asarray(v, jnp.float32) for k, v in values.items()})
  return variables


def _inputs(teacher, student, seed=0):
  rng = np.random.default_rng(seed)
  return feature_inputs.step_inputs(feature_inputs.model_features(rng, student),
                                    feature_inputs.model_features(rng, teacher),
                                    teacher_variables=_bn_variables(teacher, rng))


def test_term_aligns_the_last_stages_and_halves_the_weights():
  # vgg8 has four preact_feats[1:] stages and four margins, resnet8 three: the last three pair.
  config = method_checks.smoke('ofd', 'vgg8', 'resnet8', **{'feature.weight': 0.5})
  distillation = methods.build(config, feature_inputs.context('vgg8', 'resnet8'))
  inputs = _inputs('vgg8', 'resnet8')
  variables = feature_inputs.init(distillation, inputs)
  loss, metrics = feature_inputs.apply(distillation, variables, inputs, train=True)

  @jax.jit
  def expected_loss(variables, inputs):
    student = inputs.student.features.preact_feats[1:]
    teacher = inputs.teacher.features.preact_feats[2:]
    bns = models.bn_before_relu('vgg8', inputs.teacher_variables)[1:]
    total = 0.0
    for i, (f_s, f_t, bn) in enumerate(zip(student, teacher, bns)):
      connector = {c: variables[c]['feature'][f'connector{i}'] for c in ('params', 'batch_stats')}
      out, _ = ofd.Connector(f_t.shape[-1]).apply(connector, f_s, True, mutable=['batch_stats'])
      margin = feature_losses.ofd_margin(bn['scale'], bn['bias'])
      total += jnp.mean(feature_losses.ofd(out, f_t, margin)) / 2 ** (2 - i)
    return total

  expected = expected_loss(variables, inputs)
  np.testing.assert_allclose(metrics['ofd'], 0.5 * expected, rtol=1e-5)
  np.testing.assert_allclose(loss, metrics['ce'] + metrics['ofd'], rtol=1e-6)


# (teacher, student, which student / teacher stages pair, how many margins): the stages written
# out from the reference models. resnet8: preact_feats[1:], three stages, three margins.
# MobileNetV2 (mdistiller/models/cifar/mobilenetv2.py): no preact_feats; its feats f1..f4 are the
# outputs of blocks 1, 2, 4, 6, each ending in the BatchNorm get_bn_before_relu names (no ReLU
# after it), so they pair with vgg13's four preact_feats[1:] and four margins. ImageNet
# ResNet34 -> ResNet18 (mdistiller/models/imagenet/resnet.py): get_bn_before_relu returns
# layer2-4 only, so layer2-4 (preact_feats[2:]) pair with those three margins.
_OFD_PAIRS = [
    ('resnet8', 'resnet8', lambda f: f.preact_feats[1:], lambda f: f.preact_feats[1:], 3),
    ('vgg13', 'MobileNetV2', lambda f: f.feats[1:], lambda f: f.preact_feats[1:], 4),
    ('resnet34', 'resnet18', lambda f: f.preact_feats[2:], lambda f: f.preact_feats[2:], 3),
]


@pytest.mark.parametrize('teacher, student, student_stages, teacher_stages, n', _OFD_PAIRS,
                         ids=[f'{t}-{s}' for t, s, *_ in _OFD_PAIRS])
def test_term_matches_mdistiller_ofd(teacher, student, student_stages, teacher_stages, n):
  """mdistiller's ConnectorConvBN (train-mode BN), scipy margins and feat_loss, same weights."""
  torch = pytest.importorskip('torch')
  norm = pytest.importorskip('scipy.stats').norm
  F = torch.nn.functional

  def feat_loss(source, target, margin):  # mdistiller/distillers/OFD.py
    loss = ((source - margin) ** 2 * ((source > margin) & (target <= margin)).float()
            + (source - target) ** 2 * ((source > target) & (target > margin)
                                        & (target <= 0)).float()
            + (source - target) ** 2 * (target > 0).float())
    return torch.abs(loss).mean(dim=0).sum()

  def get_margin(std, mean):  # OFD.init_ofd_modules
    margin = []
    for s, m in zip(std, mean):
      s, m = abs(float(s)), float(m)
      if norm.cdf(-m / s) > 0.001:
        margin.append(-s * math.exp(-((m / s) ** 2) / 2) / math.sqrt(2 * math.pi)
                      / norm.cdf(-m / s) + m)
      else:
        margin.append(-3 * s)
    return torch.FloatTensor(margin).view(1, -1, 1, 1)

  inputs = _inputs(teacher, student, seed=3)
  out, variables = feature_inputs.apply_term(
      ofd.OFD(teacher_model=teacher, student_model=student), inputs, True, 1)
  nchw = lambda f: torch.from_numpy(np.asarray(f).transpose(0, 3, 1, 2).copy())
  bns = models.bn_before_relu(teacher, inputs.teacher_variables)
  student, teacher = student_stages(inputs.student.features), teacher_stages(inputs.teacher.features)
  assert len(student) == len(teacher) == len(bns) == n
  expected = 0.0
  for i, (f_s, f_t, bn) in enumerate(zip(student, teacher, bns)):
    kernel = np.asarray(variables['params'][f'connector{i}']['conv']['kernel'])
    conv = torch.nn.Conv2d(kernel.shape[2], kernel.shape[3], 1, bias=False)
    with torch.no_grad():
      conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
    connector = torch.nn.Sequential(conv, torch.nn.BatchNorm2d(kernel.shape[3])).train()
    margin = get_margin(np.asarray(bn['scale']), np.asarray(bn['bias']))
    with torch.no_grad():
      source = connector(nchw(f_s))
      target = F.adaptive_avg_pool2d(nchw(f_t), source.shape[-2:])
      expected += feat_loss(source, target, margin).item() / 2 ** (n - 1 - i)
  # float32 sums over up to 512 x 56 x 56 terms per stage on both sides: rtol 1e-4.
  np.testing.assert_allclose(out['ofd'], expected, rtol=1e-4)


@pytest.mark.parametrize('kernel', [1, 3])
def test_connector_initialisation(kernel):
  x = jnp.ones((2, 4, 4, 64))
  connector = ofd.Connector(256, kernel)
  variables = jax.jit(lambda key: connector.init(key, x, False))(jax.random.key(0))
  weight = variables['params']['conv']['kernel']
  assert weight.shape == (kernel, kernel, 64, 256)
  assert sorted(variables['params']['conv']) == ['kernel']  # no bias
  # normal(0, sqrt(2 / (k * k * t_C))), not truncated
  np.testing.assert_allclose(np.std(weight), math.sqrt(2 / (kernel * kernel * 256)), rtol=0.03)
  assert np.max(np.abs(weight)) > 3 * math.sqrt(2 / (kernel * kernel * 256))
  np.testing.assert_array_equal(variables['params']['bn']['scale'], 1.0)
  np.testing.assert_array_equal(variables['params']['bn']['bias'], 0.0)
  assert connector.apply(variables, x, False).shape == (2, 4, 4, 256)


def test_needs_teacher_variables_and_train_mode_batchnorm():
  config = method_checks.smoke('ofd')
  needs = methods.build(config).needs
  assert needs.teacher_variables and needs.teacher_train_bn and needs.features
  config.ofd.teacher_train_bn = False
  assert not methods.build(config).needs.teacher_train_bn
  # Initialisation runs without the teacher's variables (only shapes matter); a step cannot.
  inputs = _inputs('resnet8', 'resnet8').replace(teacher_variables=None)
  term = ofd.OFD(teacher_model='resnet8')
  variables = feature_inputs.init(term, inputs)
  with pytest.raises(ValueError, match='teacher_variables'):
    term.apply(variables, inputs, False)


def test_imagenet_alignment_and_margins():
  """R50 -> MV1: the last three stages pair, with the teacher's three margins (layer2-4)."""
  teacher, student = models.feature_shapes('resnet50'), models.feature_shapes('MobileNetV1')
  s, t = ofd.aligned(student.preact_feats[1:], teacher.preact_feats[1:])
  assert [(a.shape[1:], b.shape[1:]) for a, b in zip(s, t)] == [
      ((28, 28, 256), (28, 28, 512)), ((14, 14, 512), (14, 14, 1024)),
      ((7, 7, 1024), (7, 7, 2048))]
  module = models.create('resnet50', num_classes=1)
  variables = jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros((1, 224, 224, 3)),
                                                 train=False))
  assert [bn['scale'].shape[0] for bn in models.bn_before_relu('resnet50', variables)] == [
      512, 1024, 2048]
  methods.build(recipes.resolve('ofd', 'resnet50', 'MobileNetV1').config,
                feature_inputs.context('resnet50', 'MobileNetV1'))  # accepted


@pytest.mark.parametrize('teacher, student, message', [
    ('ShuffleV1', 'resnet8', 'teacher ShuffleV1 has none'),
    ('ShuffleV2', 'resnet8', 'teacher ShuffleV2 has none'),
])
def test_unsupported_models_fail_at_build(teacher, student, message):
  config = method_checks.smoke('ofd', teacher, student)
  with pytest.raises(ValueError, match=message) as error:
    methods.build(config, feature_inputs.context(teacher, student))
  assert "OFD (feature.loss='ofd')" in str(error.value) and 'pick ' in str(error.value)


def test_bad_kernel_fails_at_build():
  config = method_checks.smoke('ofd')
  config.ofd.connector_kernel = 0
  with pytest.raises(ValueError, match='ofd.connector_kernel must be an int >= 1'):
    methods.build(config, feature_inputs.context('resnet8', 'resnet8'))


def test_preset_and_recipes():
  config = method_checks.smoke('ofd')
  assert (config.method, config.ce_weight, config.feature.weight, config.ofd.connector_kernel,
          config.ofd.teacher_train_bn) == ('ofd', 1.0, 0.001, 1, True)
  seed001 = recipes.resolve('ofd', 'resnet32x4', 'resnet8x4', recipe='seed001')
  for field in ('ce_weight', 'feature.weight', 'ofd.connector_kernel', 'ofd.teacher_train_bn'):
    assert seed001.sources[field].startswith(recipes.MDISTILLER), field
  assert 'OFD.train()' in seed001.sources['ofd.teacher_train_bn']
  for recipe in ('seed002', 'seed000'):
    resolved = recipes.resolve('ofd', 'resnet32x4', 'resnet8x4', recipe=recipe)
    assert resolved.config.feature.weight == 0.001
    assert resolved.sources['feature.weight'].startswith('default:'), recipe
  imagenet = recipes.resolve('ofd', 'resnet50', 'MobileNetV1')
  c = imagenet.config
  assert (c.batch_size, c.lr, c.epochs, c.weight_decay, c.feature.weight, c.ce_weight) == (
      128, 0.05, 100, 1e-4, 0.0001, 1.0)
  for field in ('batch_size', 'lr', 'feature.weight'):
    assert 'configs/imagenet/r50_mv1/ofd.yaml' in imagenet.sources[field], field


@pytest.mark.slow
def test_trains_and_resumes_exactly(tmp_path):
  result = method_checks.assert_resumes_exactly(method_checks.smoke('ofd'), tmp_path)
  params = result.state.params['method']['feature']
  assert sorted(params) == ['connector0', 'connector1', 'connector2']
  assert sorted(result.state.batch_stats['method']['feature']['connector0']['bn']) == [
      'mean', 'var']
