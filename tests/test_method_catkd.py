"""CAT-KD: the term against the pure functions, binarisation, the models' head maps, recipes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kdjax import config as config_lib
from kdjax import feature_losses
from kdjax import methods
from kdjax import models
from kdjax import recipes
from kdjax.methods import catkd
from tests import method_checks

RNG = np.random.default_rng(0)


def _normal(*shape):
  return jnp.asarray(RNG.normal(size=shape), jnp.float32)


def _outputs(head_map, classes):
  return methods.Outputs(logits=_normal(head_map.shape[0], classes), features=models.Features(
      feats=(head_map,), preact_feats=(), pooled=jnp.mean(head_map, axis=(1, 2)),
      head_map=head_map))


def _head(width, classes):
  return {'params': {'fc': {'kernel': _normal(width, classes), 'bias': _normal(classes)}}}


@pytest.mark.parametrize('resolution, normalize, binarize', [(2, False, False), (4, True, True)])
def test_term_is_cat_kd_of_bias_free_cams(resolution, normalize, binarize):
  s_map, t_map = jnp.abs(_normal(3, 8, 8, 6)), jnp.abs(_normal(3, 4, 4, 5))
  student_vars, teacher_vars = _head(6, 7), _head(5, 7)
  inputs = methods.StepInputs(student=_outputs(s_map, 7), teacher=_outputs(t_map, 7),
                              labels=jnp.zeros(3, jnp.int32), student_variables=student_vars,
                              teacher_variables=teacher_vars)
  term = catkd.CATKD(teacher='resnet8', student='resnet8', resolution=resolution,
                     normalize=normalize, binarize=binarize)

  def run(inputs):
    value = term.apply({}, inputs)['catkd']
    grads = jax.grad(lambda v: term.apply({}, inputs.replace(student_variables=v))['catkd'])(
        inputs.student_variables)
    return value, grads

  value, grads = method_checks.run_once(run, inputs)
  cam_s = np.einsum('bhwd,dk->bhwk', s_map, student_vars['params']['fc']['kernel'])  # no bias
  cam_t = np.einsum('bhwd,dk->bhwk', t_map, teacher_vars['params']['fc']['kernel'])
  if binarize:  # the reference: relu(tea - ||tea||_1 / (h * w)).bool()
    cam_t = (cam_t - np.abs(cam_t).sum(axis=(1, 2), keepdims=True) / 16 > 0).astype(np.float32)
  expected = feature_losses.cat_kd(cam_s, cam_t, resolution=resolution, normalize=normalize)
  np.testing.assert_allclose(value, expected, rtol=1e-4, atol=1e-6)
  # The CAT loss trains the student's classifier kernel (the reference's conv_test), not its bias.
  assert float(jnp.max(jnp.abs(grads['params']['fc']['kernel']))) > 0
  assert float(jnp.max(jnp.abs(grads['params']['fc']['bias']))) == 0


def test_binarize_matches_the_reference():
  torch = pytest.importorskip('torch')
  cams = RNG.normal(size=(2, 3, 3, 4)).astype(np.float32)
  tea = torch.from_numpy(cams.transpose(0, 3, 1, 2).copy())
  n, c, h, w = tea.shape
  threshold = torch.norm(tea, dim=(2, 3), keepdim=True, p=1) / (h * w)
  expected = (torch.relu(tea - threshold).bool() * torch.ones_like(tea)).numpy()
  np.testing.assert_array_equal(catkd.binarize_cams(cams), expected.transpose(0, 2, 3, 1))


def test_head_maps_are_where_the_test_models_put_their_cams():
  # conv_test reads the map the classifier pools: after conv2 for MobileNetV2 / ShuffleV2,
  # relu(bn1(block3)) for WRN, the last stage for the ResNets.
  # (Every model's head map pools to its classifier's input: tests/test_models.py.)
  for name, shape in (('MobileNetV2', (2, 2, 1280)), ('ShuffleV2', (4, 4, 1024)),
                      ('wrn_40_2', (8, 8, 128))):
    features = models.feature_shapes(name)
    assert features.head_map.shape[1:] == shape, name
    assert features.pooled.shape[-1] == shape[-1]


def test_presets_and_per_pair_configs():
  config = method_checks.smoke('catkd')
  assert (config.method, config.ce_weight, config.feature.loss, config.catkd.resolution,
          config.catkd.normalize, config.catkd.binarize) == ('catkd', 1.0, 'catkd', 2, True, False)
  expected = {  # GzyAftermath/CAT-KD configs/cifar100/CAT_KD/*.yaml
      ('resnet32x4', 'resnet8x4'): (15.0, 2, False, 0.05),
      ('resnet110', 'resnet32'): (1.8, 2, False, 0.05),
      ('resnet56', 'resnet20'): (0.7, 2, False, 0.05), ('vgg13', 'vgg8'): (4.5, 2, False, 0.05),
      ('wrn_40_2', 'wrn_16_2'): (12.0, 2, False, 0.05),
      ('wrn_40_2', 'wrn_40_1'): (1.5, 2, False, 0.05),
      ('resnet32x4', 'ShuffleV1'): (600.0, 4, True, 0.01),
      ('resnet32x4', 'ShuffleV2'): (600.0, 4, True, 0.01),
      ('wrn_40_2', 'ShuffleV1'): (80.0, 4, True, 0.01),
      ('ResNet50', 'MobileNetV2'): (40.0, 2, True, 0.01),
      ('vgg13', 'MobileNetV2'): (15.0, 2, True, 0.01)}
  for (teacher, student), values in expected.items():
    resolved = recipes.resolve('catkd', teacher, student, strict=True)
    c = resolved.config
    assert (c.feature.weight, c.catkd.resolution, c.catkd.normalize, c.lr) == values
    assert (c.ce_weight, c.epochs, c.batch_size) == (1.0, 240, 64)
    assert resolved.sources['feature.weight'].startswith('GzyAftermath/CAT-KD configs/cifar100/')
  fallback = recipes.resolve('catkd', 'wrn_40_2', 'resnet8x4')
  # No released config for this pair: the nearest released one (wrn_40_2 -> wrn_16_2), marked.
  assert (fallback.config.feature.weight, fallback.config.catkd.resolution,
          fallback.config.catkd.normalize) == (12.0, 2, False)
  assert fallback.sources['feature.weight'].startswith('default:')
  assert 'wrn_40_2_wrn_16_2' in fallback.sources['feature.weight']
  # A pair of no table: CAT-KD's cfg.py defaults, marked; strict resolution refuses it.
  other = recipes.resolve('catkd', 'resnet56', 'resnet8')
  assert (other.config.feature.weight, other.config.catkd.resolution,
          other.config.catkd.normalize) == (400.0, 2, True)
  assert other.sources['feature.weight'].startswith('default:')
  with pytest.raises(KeyError, match='no published setting'):
    recipes.resolve('catkd', 'resnet56', 'resnet8', strict=True)
  seed000 = recipes.resolve('catkd', 'resnet32x4', 'resnet8x4', recipe='seed000')
  assert seed000.config.feature.weight == 15.0
  assert all(seed000.sources[f].startswith('default:') for f in ('feature.weight', 'ce_weight'))


def test_imagenet_configs_and_their_quirks():
  r18 = recipes.resolve('catkd', 'resnet34', 'resnet18')
  c = r18.config
  assert (c.feature.weight, c.catkd.resolution, c.catkd.normalize, c.batch_size, c.lr,
          c.epochs, tuple(c.lr_decay_epochs), c.weight_decay) == (
              0.5, 4, False, 512, 0.2, 100, (30, 60, 90), 1e-4)
  assert 'BATCH_SIZE 2' in r18.sources['batch_size'] and 'unregistered' in r18.sources['lr']
  mv1 = recipes.resolve('catkd', 'resnet50', 'MobileNetV1').config
  assert (mv1.feature.weight, mv1.catkd.resolution, mv1.catkd.normalize) == (10.0, 2, True)


def test_unmatched_maps_and_bad_settings_are_refused_before_compiling():
  config = method_checks.smoke('catkd', student='MobileNetV2')
  config.catkd.resolution = 4  # MobileNetV2's CAMs are 2x2
  context = methods.Context(teacher='resnet8', student='MobileNetV2', num_classes=100,
                            num_examples=64, image_shape=(32, 32, 3))
  with pytest.raises(ValueError, match='larger than the 2x2 class activation maps'):
    methods.build(config, context)
  config.catkd.resolution = 0
  with pytest.raises(ValueError, match='catkd.resolution must be an int >= 1'):
    config_lib.validate(config)


def test_needs_both_models_variables():
  assert catkd.CATKD.NEEDS.student_variables and catkd.CATKD.NEEDS.teacher_variables
  inputs = methods.StepInputs(student=_outputs(_normal(2, 2, 2, 3), 4),
                              teacher=_outputs(_normal(2, 2, 2, 3), 4),
                              labels=jnp.zeros(2, jnp.int32))
  with pytest.raises(ValueError, match='variables'):
    catkd.CATKD(teacher='resnet8', student='resnet8').apply({}, inputs)


@pytest.mark.slow
def test_trains_and_resumes_exactly(tmp_path):
  config = method_checks.smoke('catkd', **{'feature.weight': 15.0, 'catkd.normalize': False})
  result = method_checks.assert_resumes_exactly(config, tmp_path)
  assert result.state.params['method'] == {}
  rows = method_checks.metric_rows(str(tmp_path / 'uninterrupted'))
  assert all(np.isfinite(r['train_catkd']) and r['train_catkd'] > 0 for r in rows)
  assert result.summary['evaluated_head'] == 'student'
