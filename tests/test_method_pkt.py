"""PKT: the term's value on the pooled features, presets, recipes, bad settings, resume."""

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


def test_term_is_pkt_of_the_pooled_features():
  distillation = methods.build(method_checks.smoke('pkt'))
  inputs = _inputs()
  assert feature_inputs.init(distillation, inputs) == {}  # no variables
  loss, metrics = feature_inputs.apply(distillation, {}, inputs)
  expected = feature_losses.pkt(inputs.student.features.pooled, inputs.teacher.features.pooled)
  np.testing.assert_allclose(metrics['pkt'], 30000.0 * expected, rtol=1e-6)
  np.testing.assert_allclose(loss, metrics['ce'] + metrics['pkt'], rtol=1e-6)


def test_preset_and_recipes():
  config = method_checks.smoke('pkt')
  assert (config.method, config.ce_weight, config.feature.weight) == ('pkt', 1.0, 30000.0)
  for recipe, repo in (('seed001', recipes.MDISTILLER), ('seed002', recipes.CRD_REPO)):
    resolved = recipes.resolve('pkt', 'resnet32x4', 'resnet8x4', recipe=recipe)
    assert (resolved.config.ce_weight, resolved.config.feature.weight) == (1.0, 30000.0)
    for field in ('ce_weight', 'feature.weight'):
      assert resolved.sources[field].startswith(repo), (recipe, field)
  assert recipes.resolve('pkt', 'resnet32x4', 'resnet8x4', recipe='seed002').sources[
      'feature.weight'].endswith('scripts/run_cifar_distill.sh (--distill pkt -b 30000)')
  for recipe, teacher, student in (('seed000', 'resnet32x4', 'resnet8x4'),
                                   ('imagenet', 'resnet34', 'resnet18')):
    resolved = recipes.resolve('pkt', teacher, student, recipe=recipe)
    assert resolved.sources['feature.weight'].startswith('default:'), recipe


def test_bad_settings_fail_at_build():
  config = method_checks.smoke('pkt')
  config.batch_size = 1
  with pytest.raises(ValueError, match='PKT compares the examples of a batch'):
    methods.build(config, feature_inputs.context('resnet8', 'resnet8'))


@pytest.mark.slow
def test_trains_and_resumes_exactly(tmp_path):
  result = method_checks.assert_resumes_exactly(method_checks.smoke('pkt'), tmp_path)
  assert result.state.params['method'] == {}
