"""RKD: the term's value on the pooled features, presets, recipes, bad settings, resume."""

import numpy as np
import pytest

from kdjax import feature_losses
from kdjax import methods
from kdjax import recipes
from tests import feature_inputs
from tests import method_checks


def _inputs(batch=6, seed=0):
  rng = np.random.default_rng(seed)
  shapes = [(4, 4, 3), (4, 4, 3)]
  return feature_inputs.step_inputs(
      feature_inputs.random_features(rng, shapes, pooled=5, batch=batch),
      feature_inputs.random_features(rng, shapes, pooled=9, batch=batch))


def test_term_is_rkd_of_the_pooled_features():
  config = method_checks.smoke('rkd', **{'rkd.distance_weight': 10.0, 'rkd.angle_weight': 3.0,
                                         'feature.weight': 2.0})
  distillation = methods.build(config)
  inputs = _inputs()
  assert feature_inputs.init(distillation, inputs) == {}  # no variables
  loss, metrics = feature_inputs.apply(distillation, {}, inputs)
  expected = feature_losses.rkd(inputs.student.features.pooled, inputs.teacher.features.pooled,
                                distance_weight=10.0, angle_weight=3.0)
  np.testing.assert_allclose(metrics['rkd'], 2.0 * expected, rtol=1e-6)
  np.testing.assert_allclose(loss, metrics['ce'] + metrics['rkd'], rtol=1e-6)


def test_preset_and_recipes():
  config = method_checks.smoke('rkd')
  assert (config.method, config.ce_weight, config.feature.weight, config.rkd.distance_weight,
          config.rkd.angle_weight) == ('rkd', 1.0, 1.0, 25.0, 50.0)
  for recipe, repo in (('seed001', recipes.MDISTILLER), ('seed002', recipes.CRD_REPO)):
    resolved = recipes.resolve('rkd', 'resnet32x4', 'resnet8x4', recipe=recipe)
    c = resolved.config
    assert (c.ce_weight, c.feature.weight, c.rkd.distance_weight, c.rkd.angle_weight) == (
        1.0, 1.0, 25.0, 50.0)
    for field in ('ce_weight', 'feature.weight', 'rkd.distance_weight', 'rkd.angle_weight'):
      assert resolved.sources[field].startswith(repo), (recipe, field)
  assert 'distiller_zoo/RKD.py' in recipes.resolve(
      'rkd', 'resnet32x4', 'resnet8x4', recipe='seed002').sources['rkd.angle_weight']
  for recipe in ('seed000', 'imagenet'):
    student = 'resnet18' if recipe == 'imagenet' else 'resnet8x4'
    teacher = 'resnet34' if recipe == 'imagenet' else 'resnet32x4'
    resolved = recipes.resolve('rkd', teacher, student, recipe=recipe)
    assert resolved.sources['feature.weight'].startswith('default:'), recipe
  assert 'has no rkd config' in recipes.resolve('rkd', 'resnet34', 'resnet18').sources['ce_weight']


@pytest.mark.parametrize('field, value, message', [
    ('batch_size', 1, 'RKD compares the examples of a batch'),
    ('rkd.angle_weight', -1.0, 'rkd.angle_weight must be >= 0')])
def test_bad_settings_fail_at_build(field, value, message):
  config = method_checks.smoke('rkd')
  config.update_from_flattened_dict({field: value})
  with pytest.raises(ValueError, match=message):
    methods.build(config, feature_inputs.context('resnet8', 'resnet8'))


@pytest.mark.slow
def test_trains_and_resumes_exactly(tmp_path):
  result = method_checks.assert_resumes_exactly(method_checks.smoke('rkd'), tmp_path)
  assert result.state.params['method'] == {}
