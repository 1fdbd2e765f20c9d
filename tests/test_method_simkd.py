"""SimKD: the projector against the reference, the term's value, the reused head, export."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kdjax import config as config_lib
from kdjax import methods
from kdjax import models
from kdjax import recipes
from kdjax.methods import simkd
from tests import method_checks


RNG = np.random.default_rng(0)


def _normal(*shape):
  return jnp.asarray(RNG.normal(size=shape), jnp.float32)


def _outputs(feats_map, classes=10):
  """Outputs whose last feature map (and head map) is ``feats_map``."""
  return methods.Outputs(
      logits=_normal(feats_map.shape[0], classes),
      features=models.Features(feats=(feats_map,), preact_feats=(),
                               pooled=jnp.mean(feats_map, axis=(1, 2)), head_map=feats_map))


def _teacher_head(width, classes=10):
  return {'params': {'fc': {'kernel': _normal(width, classes), 'bias': _normal(classes)}}}


def test_projector_layout_init_and_forward_match_the_reference():
  torch = pytest.importorskip('torch')
  projector = simkd.Projector(channels=12, factor=2)
  x = np.random.default_rng(0).normal(size=(2, 5, 5, 7)).astype(np.float32)

  def run(key, x):
    variables = projector.init(key, x, False)
    return variables, projector.apply(variables, x, True, mutable=['batch_stats'])

  variables, (got, updates) = method_checks.run_once(run, jax.random.key(0), x)
  params = variables['params']
  # SimKD models/util.py: transfer = conv1x1(s_n, t_n/f), BN, ReLU, conv3x3(t_n/f, t_n/f), BN,
  # ReLU, conv1x1(t_n/f, t_n), BN, ReLU; no conv bias.
  assert {k: v['kernel'].shape for k, v in params.items() if 'kernel' in v} == {
      '0': (1, 1, 7, 6), '3': (3, 3, 6, 6), '6': (1, 1, 6, 12)}
  assert sorted(k for k, v in params.items() if 'scale' in v) == ['1', '4', '7']
  assert all('bias' not in params[k] for k in ('0', '3', '6'))
  for name, fan_in in (('0', 7), ('3', 54), ('6', 6)):  # PyTorch's default U(+-1/sqrt(fan_in))
    kernel = np.asarray(params[name]['kernel'])
    assert np.max(np.abs(kernel)) <= 1 / math.sqrt(fan_in)
    assert np.max(np.abs(kernel)) > 0.8 / math.sqrt(fan_in)
  ref = torch.nn.Sequential(
      torch.nn.Conv2d(7, 6, 1, bias=False), torch.nn.BatchNorm2d(6), torch.nn.ReLU(),
      torch.nn.Conv2d(6, 6, 3, padding=1, bias=False), torch.nn.BatchNorm2d(6), torch.nn.ReLU(),
      torch.nn.Conv2d(6, 12, 1, bias=False), torch.nn.BatchNorm2d(12), torch.nn.ReLU())
  with torch.no_grad():
    for index in (0, 3, 6):
      ref[index].weight.copy_(torch.from_numpy(
          np.asarray(params[str(index)]['kernel']).transpose(3, 2, 0, 1).copy()))
    ref.train()
    expected = ref(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy().transpose(0, 2, 3, 1)
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(updates['batch_stats']['7']['mean'], ref[7].running_mean.numpy(),
                             rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('student_hw, teacher_hw', [(4, 2), (2, 4)])
def test_term_is_the_projected_mse_and_eval_is_the_teacher_head(student_hw, teacher_hw):
  student = _outputs(_normal(4, student_hw, student_hw, 5))
  teacher = _outputs(jnp.abs(_normal(4, teacher_hw, teacher_hw, 8)))
  head = _teacher_head(8)
  term = simkd.SimKD(teacher='resnet8', student='resnet8', factor=2,
                     teacher_shape=(teacher_hw, teacher_hw, 8))
  inputs = methods.StepInputs(student=student, labels=jnp.arange(4) % 10, teacher=teacher,
                              teacher_variables=head)
  projector = simkd.Projector(8, 2)
  f_s, f_t = student.features.feats[-1], teacher.features.feats[-1]
  # The reference's alignment: the larger map (by height) is pooled to the smaller.
  pool = lambda x, size: np.asarray(x).reshape(  # noqa: E731  (exact halving here)
      x.shape[0], size, x.shape[1] // size, size, x.shape[2] // size, -1).mean(axis=(2, 4))
  source = pool(f_s, teacher_hw) if student_hw > teacher_hw else np.asarray(f_s)
  target = np.asarray(f_t) if student_hw > teacher_hw else pool(f_t, student_hw)

  def run(key, inputs):  # One compilation: the term, then the projector on its own.
    variables = term.init(key, inputs, train=False)
    out, updates = term.apply(variables, inputs, train=True, mutable=['batch_stats'])
    logits = term.apply(variables, inputs.student, head, method=simkd.SimKD.eval_logits)
    proj_vars = {'params': variables['params']['projector'],
                 'batch_stats': variables['batch_stats']['projector']}
    projected, stats = projector.apply(proj_vars, source, True, mutable=['batch_stats'])
    return out, updates, logits, projected, stats, projector.apply(proj_vars, source, False)

  out, updates, logits, projected, stats, eval_projected = method_checks.run_once(
      run, jax.random.key(0), inputs)
  assert projected.shape == target.shape
  np.testing.assert_allclose(out['simkd'], np.mean((np.asarray(projected) - target) ** 2),
                             rtol=1e-5)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-7),
               updates['batch_stats']['projector'], stats['batch_stats'])
  kernel, bias = (np.asarray(head['params']['fc'][k]) for k in ('kernel', 'bias'))
  train_logits = np.mean(projected, axis=(1, 2)) @ kernel + bias
  np.testing.assert_allclose(out['simkd_top1'], 100 * np.mean(
      np.argmax(train_logits, -1) == np.arange(4) % 10))
  # Evaluation: the teacher's classifier on the pooled projection (inference-mode BN).
  np.testing.assert_allclose(logits, np.mean(eval_projected, axis=(1, 2)) @ kernel + bias,
                             rtol=1e-5, atol=1e-5)
  assert models.classifier_path('resnet8') == ('fc',)  # what the term reads of the teacher


def test_distillation_evaluates_through_the_reused_head():
  config = method_checks.smoke('simkd')
  distillation = methods.build(config)
  assert distillation.evaluated_head == simkd.SimKD.EVAL_HEAD
  assert distillation.needs.eval_features and distillation.needs.teacher_variables
  assert distillation.term_names == ('ce', 'simkd')
  student = _outputs(_normal(2, 8, 8, 64), classes=100)
  teacher = _outputs(_normal(2, 8, 8, 64), classes=100)
  assert models.classifier_path('resnet8') == ('fc',)
  head = _teacher_head(64, classes=100)
  inputs = methods.StepInputs(student=student, labels=jnp.zeros(2, jnp.int32), teacher=teacher,
                              teacher_variables=head)
  def run(key, inputs):
    variables = distillation.init(key, inputs, train=False)
    loss, metrics = distillation.apply(variables, inputs, train=False)
    logits = distillation.apply(variables, inputs.student, head,
                                method=methods.Distillation.eval_logits)
    direct = distillation.feature.apply(
        {'params': variables['params']['feature'],
         'batch_stats': variables['batch_stats']['feature']},
        inputs.student, head, method=simkd.SimKD.eval_logits)
    return loss, metrics, logits, direct

  loss, metrics, logits, direct = method_checks.run_once(run, jax.random.key(0), inputs)
  assert float(metrics['ce']) == 0.0 and float(loss) == float(metrics['simkd'])
  np.testing.assert_array_equal(logits, direct)
  assert not np.allclose(logits, student.logits)


def test_reference_maps_of_the_model_families():
  # The CRD codebase's feat[-2]: the last stage (activated); WRN's is relu(bn1(block3)).
  assert simkd.map_shape('resnet32x4') == (8, 8, 256)
  assert simkd.map_shape('wrn_40_2') == (8, 8, 128)
  assert simkd.map_shape('MobileNetV2') == (2, 2, 160)  # group 6, before conv2 (1280)
  assert simkd.map_shape('ShuffleV2') == (4, 4, 464)  # stage 3, before conv2 (1024)
  assert simkd.map_shape('resnet18', (32, 32, 3)) == (1, 1, 512)
  shapes = models.feature_shapes('wrn_16_2')
  assert shapes.feats[-1].shape == shapes.head_map.shape  # raw group 3 vs relu(bn1(group 3))
  assert simkd.reference_map('wrn_16_2', shapes) is shapes.head_map
  assert simkd.reference_map('resnet8', models.feature_shapes('resnet8')).shape == (1, 8, 8, 64)


def test_preset_recipes_and_name():
  config = method_checks.smoke('simkd')
  assert (config.method, config.ce_weight, config.logit.loss, config.feature.loss,
          config.feature.weight, config.simkd.factor) == ('simkd', 0.0, 'none', 'simkd', 1.0, 2)
  resolved = recipes.resolve('simkd', 'resnet32x4', 'resnet8x4')
  assert recipes.default_recipe('simkd', 'resnet32x4', 'resnet8x4') == 'seed001'
  for field in ('ce_weight', 'feature.weight', 'logit.loss'):
    assert 'DefangChen/SimKD' in resolved.sources[field] and '-c 0 -d 0 -b 1' in \
        resolved.sources[field]
  assert '--factor' in resolved.sources['simkd.factor']
  imagenet = recipes.resolve('simkd', 'resnet34', 'resnet18')
  c = imagenet.config
  assert (c.batch_size, c.epochs, c.lr, tuple(c.lr_decay_epochs), c.weight_decay) == (
      256, 120, 0.1, (30, 60, 90), 1e-4)
  assert 'ImageNet command' in imagenet.sources['epochs']
  seed000 = recipes.resolve('simkd', 'wrn_40_2', 'wrn_16_2', recipe='seed000')
  assert seed000.config.ce_weight == 0.0
  assert all(seed000.sources[f].startswith('default:') for f in ('ce_weight', 'feature.weight',
                                                                  'simkd.factor'))
  # SimKD is published without a cross-entropy: adding one is named, not the plain method.
  config.ce_weight = 1.0
  assert methods.method_name(config) == 'simkd_ce'
  config.logit.loss = 'kd'
  assert methods.method_name(config) == 'kd+simkd'


@pytest.mark.parametrize('teacher', ['MobileNetV2', 'ShuffleV2'])
def test_teacher_whose_classifier_reads_another_layer_is_refused_before_compiling(teacher):
  config = method_checks.smoke('simkd')
  config.teacher = teacher
  context = methods.Context(teacher=teacher, student='resnet8', num_classes=100,
                            num_examples=64, image_shape=(32, 32, 3))
  with pytest.raises(ValueError, match='classifier cannot be reused'):
    methods.build(config, context)
  config.teacher, config.simkd.factor = 'resnet8', 0
  with pytest.raises(ValueError, match='simkd.factor must be an int >= 1'):
    config_lib.validate(config)


def test_export_needs_a_simkd_run():
  with pytest.raises(ValueError, match='needs a SimKD run'):
    simkd.export(None, None, method_checks.smoke('kd'))


@pytest.mark.slow
def test_trains_resumes_and_is_evaluated_by_the_exported_model(tmp_path):
  from kdjax import train  # pylint: disable=import-outside-toplevel
  from kdjax import parallel  # pylint: disable=import-outside-toplevel
  config = method_checks.smoke('simkd')
  result = method_checks.assert_resumes_exactly(config, tmp_path)
  assert result.summary['evaluated_head'] == simkd.SimKD.EVAL_HEAD
  assert 'projector' in result.state.params['method']['feature']
  assert 'projector' in result.state.batch_stats['method']['feature']
  run = train.prepare_run(config)
  model = simkd.export(result.state, run.teacher_vars, config, run.source.image_shape)
  projector = sum(x.size for x in jax.tree.leaves(model.variables['projector']['params']))
  assert model.num_params() == projector + sum(
      x.size for x in jax.tree.leaves(result.state.params['student'])) + 64 * 100 + 100
  views, dtype = run.program.setup.views, jnp.float32
  hits, count = 0, 0
  for batch in run.source.eval_batches(config.eval_batch_size, run.mesh):
    device_batch = {k: parallel.local_to_global(v, run.mesh) for k, v in batch.items()}
    images, labels = views.test(run.test_arrays, device_batch, dtype)
    logits = jax.jit(model.apply)(model.variables, images)
    # The trainer's evaluation logits on the same images.
    module = models.create(config.student, num_classes=run.source.num_classes)
    _, features, _ = models.apply_with_features(
        module, {'params': result.state.params['student'],
                 'batch_stats': result.state.batch_stats['student']}, images, train=False)
    trainer_logits = run.program.distillation.apply(
        {'params': result.state.params['method'], 'batch_stats': result.state.batch_stats['method'],
         'state': result.state.method_state}, methods.Outputs(jnp.zeros_like(logits), features),
        run.teacher_vars, method=methods.Distillation.eval_logits)
    np.testing.assert_allclose(logits, trainer_logits, rtol=1e-5, atol=1e-5)
    mask = np.asarray(batch['mask']).astype(bool)
    hits += int(np.sum((np.argmax(np.asarray(logits), -1) == np.asarray(labels))[mask]))
    count += int(mask.sum())
  rows = method_checks.metric_rows(str(tmp_path / 'uninterrupted'))
  assert rows[-1]['test_top1'] == pytest.approx(100.0 * hits / count)
  assert result.summary['last_top1'] == pytest.approx(100.0 * hits / count)
