"""AT: the term's value and stage pairing (the reference's zip), presets, recipes, resume."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kdjax import feature_losses
from kdjax import methods
from kdjax import models
from kdjax import recipes
from kdjax.methods import at
from tests import feature_inputs
from tests import method_checks

# Student with 3 stages after the stem, teacher with 4 (the last is left out by the zip).
STUDENT = [(16, 16, 4), (16, 16, 4), (8, 8, 6), (4, 4, 8)]
TEACHER = [(16, 16, 5), (16, 16, 5), (16, 16, 7), (8, 8, 9), (4, 4, 9)]


def _inputs(seed=0):
  rng = np.random.default_rng(seed)
  return feature_inputs.step_inputs(feature_inputs.random_features(rng, STUDENT),
                                    feature_inputs.random_features(rng, TEACHER))


def test_term_is_the_sum_of_stage_losses_over_the_zip():
  inputs = _inputs()
  distillation = methods.build(method_checks.smoke('at'))
  loss, metrics = feature_inputs.apply(distillation, {}, inputs)
  s, t = inputs.student.features.feats, inputs.teacher.features.feats
  expected = jax.jit(lambda s, t: sum(
      jnp.mean(feature_losses.attention_transfer(s[i], t[i], p=2.0)) for i in (1, 2, 3)))(s, t)
  np.testing.assert_allclose(metrics['at'], 1000.0 * expected, rtol=1e-5)
  np.testing.assert_allclose(loss, metrics['ce'] + metrics['at'], rtol=1e-6)
  assert feature_inputs.init(distillation, inputs) == {}  # no variables


def test_term_matches_mdistiller_at_loss():
  torch = pytest.importorskip('torch')
  F = torch.nn.functional

  def single_stage_at_loss(f_s, f_t, p):  # mdistiller/distillers/AT.py
    def _at(feat, p):
      return F.normalize(feat.pow(p).mean(1).reshape(feat.size(0), -1))
    s_h, t_h = f_s.shape[2], f_t.shape[2]
    if s_h > t_h:
      f_s = F.adaptive_avg_pool2d(f_s, (t_h, t_h))
    elif s_h < t_h:
      f_t = F.adaptive_avg_pool2d(f_t, (s_h, s_h))
    return (_at(f_s, p) - _at(f_t, p)).pow(2).mean()

  inputs = _inputs(1)
  nchw = lambda f: torch.from_numpy(np.asarray(f).transpose(0, 3, 1, 2).copy())
  expected = sum(single_stage_at_loss(nchw(f_s), nchw(f_t), 2) for f_s, f_t in zip(
      inputs.student.features.feats[1:], inputs.teacher.features.feats[1:]))
  out, _ = feature_inputs.apply_term(at.AT(p=2.0), inputs)
  np.testing.assert_allclose(out['at'], expected.item(), rtol=1e-5)


def test_imagenet_stage_pairs_reproduce_the_reference():
  """MobileNetV1 sows no stem: R50 -> MV1 pairs student 28/14/7 with teacher 56/28/14."""
  shapes = lambda name: models.feature_shapes(name).feats
  pairs = at.stage_pairs(shapes('MobileNetV1'), shapes('resnet50'))
  assert [(s.shape[1:], t.shape[1:]) for s, t in pairs] == [
      ((28, 28, 256), (56, 56, 256)), ((14, 14, 512), (28, 28, 512)),
      ((7, 7, 1024), (14, 14, 1024))]
  pairs = at.stage_pairs(shapes('resnet18'), shapes('resnet34'))
  assert [s.shape[1] for s, _ in pairs] == [t.shape[1] for _, t in pairs] == [56, 28, 14, 7]


def test_preset_and_recipes():
  config = method_checks.smoke('at')
  assert (config.method, config.ce_weight, config.feature.weight, config.at.p) == (
      'at', 1.0, 1000.0, 2.0)
  for recipe, repo in (('seed001', recipes.MDISTILLER), ('seed002', recipes.CRD_REPO)):
    resolved = recipes.resolve('at', 'resnet32x4', 'resnet8x4', recipe=recipe)
    assert (resolved.config.ce_weight, resolved.config.feature.weight) == (1.0, 1000.0)
    for field in ('ce_weight', 'feature.weight', 'at.p'):
      assert resolved.sources[field].startswith(repo), (recipe, field)
  assert recipes.resolve('at', 'resnet32x4', 'resnet8x4',
                         recipe='seed002').sources['feature.weight'].endswith(
                             'scripts/run_cifar_distill.sh (--distill attention -b 1000)')
  seed000 = recipes.resolve('at', 'resnet32x4', 'resnet8x4', recipe='seed000')
  assert all(seed000.sources[f].startswith('default:') for f in ('ce_weight', 'feature.weight'))
  for teacher, student in (('resnet34', 'resnet18'), ('resnet50', 'MobileNetV1')):
    resolved = recipes.resolve('at', teacher, student)
    c = resolved.config
    assert (c.batch_size, c.lr, c.epochs, c.weight_decay, c.feature.weight) == (
        512, 0.2, 100, 1e-4, 1000.0)
    assert 'configs/imagenet/r34_r18/at.yaml' in resolved.sources['lr']
  assert recipes.PRESET_SOURCES['at'].startswith(recipes.MDISTILLER)


def test_bad_settings_fail_at_build():
  config = method_checks.smoke('at')
  config.at.p = 0.0
  with pytest.raises(ValueError, match='at.p must be > 0'):
    methods.build(config, feature_inputs.context('resnet8', 'resnet8'))


@pytest.mark.slow
def test_trains_and_resumes_exactly(tmp_path):
  result = method_checks.assert_resumes_exactly(method_checks.smoke('at'), tmp_path)
  assert result.state.params['method'] == {}
