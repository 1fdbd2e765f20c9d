"""The training loop and its pieces: optimizer, batching, metrics, the train step, and its wiring.

The wiring tests recompute, outside the trainer, what a run must have logged (per-step losses
weighted by their batch sizes, accuracies in percent, top-5 as well as top-1, MLKD's losses on
its two views) and compare with the logs, so that a mistake in how the loop passes values
around fails a test even when everything still runs.
"""

import functools
import json
import logging
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from kdjax import config as config_lib
from kdjax import losses
from kdjax import methods
from kdjax import recipes
from kdjax import temperature as temperature_lib
from kdjax import metrics
from kdjax import optim
from kdjax import parallel
from kdjax import steps
from kdjax import teachers
from kdjax import train
from kdjax.data import batching
from kdjax.data import sources
from tests import method_checks


def _optim_config(**overrides):
  c = ml_collections.ConfigDict(dict(lr=0.05, student='resnet8', lr_decay_epochs=(150, 180, 210),
                                     lr_decay_rate=0.1, momentum=0.9, weight_decay=5e-4))
  c.update(overrides)
  return c


def test_learning_rate_schedule_counts_epochs_from_one_with_the_partial_batch():
  spe = 782  # CIFAR-100 at batch 64, last batch of 16 counted.
  schedule = optim.learning_rate_schedule(0.05, (150, 180, 210), 0.1, spe)
  counts = [0, 150 * spe - 1, 150 * spe, 180 * spe - 1, 180 * spe, 210 * spe, 240 * spe - 1]
  np.testing.assert_allclose([float(schedule(c)) for c in counts],
                             [0.05, 0.05, 0.005, 0.005, 5e-4, 5e-5, 5e-5], rtol=1e-6)
  c = config_lib.get_config()
  assert [optim.learning_rate_at_epoch(c, e) for e in (1, 150, 151, 181, 211)] == pytest.approx(
      [0.05, 0.05, 0.005, 5e-4, 5e-5])
  c.student = 'MobileNetV2'
  assert optim.learning_rate_at_epoch(c, 1) == 0.01


def _params_and_grads():
  rng = np.random.default_rng(0)
  params = {'student': {'conv': {'kernel': rng.normal(size=(3, 3, 2, 4)).astype(np.float32)},
                        'bn': {'scale': np.ones(4, np.float32), 'bias': np.zeros(4, np.float32)}},
            'method': {'temperature': {'theta': np.float32(1.0)}}}
  grads = [jax.tree.map(lambda p: rng.normal(size=np.shape(p)).astype(np.float32), params)
           for _ in range(3)]
  return params, grads


def test_one_sgd_step_is_torch_style_by_hand():
  params, grads = _params_and_grads()
  tx = optim.create_optimizer(_optim_config(), steps_per_epoch=10)
  updates, _ = tx.update(grads[0], tx.init(params), params)
  new = jax.tree.map(lambda p, u: p + u, params, updates)
  # torch: buf = g + wd * p (first step); p <- p - lr * buf, for EVERY parameter.
  expected = jax.tree.map(lambda p, g: p - 0.05 * (g + 5e-4 * p), params, grads[0])
  for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(expected)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  # Weight decay reaches BN scales and a method's parameters even with a zero gradient.
  zero = jax.tree.map(np.zeros_like, params)
  updates, _ = tx.update(zero, tx.init(params), params)
  np.testing.assert_allclose(updates['student']['bn']['scale'], -0.05 * 5e-4 * np.ones(4), rtol=1e-6)
  np.testing.assert_allclose(updates['method']['temperature']['theta'], -0.05 * 5e-4, rtol=1e-6)


def test_three_sgd_steps_match_torch_with_the_lr_drop():
  torch = pytest.importorskip('torch')
  params, grads = _params_and_grads()
  tx = optim.create_optimizer(_optim_config(lr_decay_epochs=(1,)), steps_per_epoch=2)
  state, current = tx.init(params), params
  for g in grads:
    updates, state = tx.update(g, state, current)
    current = jax.tree.map(lambda p, u: p + u, current, updates)
  leaves = [torch.tensor(np.array(p), requires_grad=True) for p in jax.tree.leaves(params)]
  sgd = torch.optim.SGD(leaves, lr=0.05, momentum=0.9, weight_decay=5e-4)
  for i, g in enumerate(grads):
    if i == 2:  # Epoch 2 starts at step 2 (steps_per_epoch = 2): lr * 0.1.
      sgd.param_groups[0]['lr'] = 0.005
    for leaf, grad in zip(leaves, jax.tree.leaves(g)):
      leaf.grad = torch.tensor(np.array(grad))
    sgd.step()
  for ours, theirs in zip(jax.tree.leaves(current), leaves):
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_epoch_steps_keep_or_drop_the_last_partial_batch(caplog):
  c = config_lib.get_config()
  assert sources.epoch_steps(50_000, c, 1) == (782, 16)
  assert sources.epoch_steps(1347, c, 1) == (22, 3)
  with caplog.at_level(logging.WARNING):
    assert sources.epoch_steps(1347, c, 2) == (21, 64)
  assert 'dropping the last partial batch' in caplog.text
  assert sources.epoch_steps(50_000, c, 4) == (782, 16)
  c.drop_remainder = True
  assert sources.epoch_steps(1347, c, 1) == (21, 64)
  assert sources.epoch_steps(1280, c, 1) == (20, 64)
  c.drop_remainder = False
  with pytest.raises(ValueError, match='does not split over 3 devices'):
    sources.epoch_steps(50_000, c, 3)
  smoke = config_lib.smoke_config(c)
  assert sources.epoch_steps(16, smoke, 1) == (2, 8)
  assert sources.epoch_steps(100, smoke, 1) == (2, 8)


def test_topk_hits_with_mask():
  logits = jnp.asarray([[0., 1., 2., 3., 4., 5.], [5., 4., 3., 2., 1., 0.], [0., 1., 9., 2., 3., -1.]])
  hits = lambda labels, mask=jnp.ones(3): np.asarray(metrics.topk_hits(logits, jnp.asarray(labels), mask))
  np.testing.assert_array_equal(hits([5, 5, 5]), [1.0, 1.0])
  np.testing.assert_array_equal(hits([5, 0, 2]), [3.0, 3.0])
  np.testing.assert_array_equal(hits([5, 0, 2], jnp.asarray([1., 0., 1.])), [2.0, 2.0])
  np.testing.assert_array_equal(hits([4, 1, 1]), [0.0, 3.0])


def test_epoch_means_weigh_each_step_by_its_examples_and_report_percent():
  acc = metrics.empty_accumulator(('loss', 'top1', 'temperature_min', 'temperature_max'))
  for loss, top1, t, count in ((1.0, 0.5, 3.0, 8), (3.0, 0.25, 2.0, 8), (10.0, 1.0, 5.0, 4)):
    acc = metrics.accumulate(acc, dict(loss=loss, top1=top1, temperature_min=t, temperature_max=t),
                             np.float32(count))
  out = metrics.epoch_means(parallel.to_host(acc))
  assert out['train_loss'] == pytest.approx((8 * 1 + 8 * 3 + 4 * 10) / 20)  # not (1 + 3 + 10) / 3
  assert out['train_top1'] == pytest.approx(100 * (8 * .5 + 8 * .25 + 4 * 1) / 20)
  assert (out['train_temperature_min'], out['train_temperature_max']) == (2.0, 5.0)


def test_eval_batches_cover_the_split_in_order_and_mask_the_padding():
  mesh = parallel.create_mesh()
  images = np.zeros((10, 4, 4, 3), np.uint8)
  source = sources.InMemorySource(
      *(sources.ArrayDataset(images, np.arange(10, dtype=np.int32), 10, f'x/{s}')
        for s in ('train', 'test')), (0.5,) * 3, (0.5,) * 3)
  batches = list(source.eval_batches(4, mesh))
  assert [b['index'].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 0]]
  assert [b['mask'].tolist() for b in batches] == [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0]]
  (only,) = list(source.eval_batches(100, mesh))  # The batch is capped at the split's size.
  assert only['index'].tolist() == list(range(10)) and np.all(only['mask'] == 1)


@pytest.mark.parametrize('batch, shards, side, chunks, expected', [
    (64, 1, 32, 0, 4),    # CPU auto: slices of 16 examples per device...
    (128, 1, 32, 0, 4),   # ...at most 4 of them,
    (32, 1, 32, 0, 2),
    (64, 2, 32, 0, 2),    # per device,
    (64, 1, 16, 0, 1),    # not for small images (the digits main job),
    (8, 1, 32, 0, 1),     # nor when 16 does not divide the device batch.
    (64, 1, 16, 3, 3),    # An explicit setting is kept.
])
@pytest.mark.skipif(jax.default_backend() != 'cpu', reason='the auto setting is 1 off CPU')
def test_conv_batch_chunks_auto_setting(batch, shards, side, chunks, expected):
  config = _optim_config(batch_size=batch, conv_batch_chunks=chunks)
  assert steps.resolved_conv_batch_chunks(config, shards, (side, side, 3)) == expected


def test_distillation_without_teacher_checkpoint_is_a_clear_error(tmp_path):
  c = recipes.method_config('kd', 'resnet14', 'resnet8')
  c.update(dataset='digits', epochs=1)
  with pytest.raises(teachers.TeacherNotFoundError, match='teacher_checkpoint'):
    train.train_and_evaluate(c, str(tmp_path))


# ---------------------------------------------------------------------------------------------
# Wiring: what the trainer logs, recomputed outside it.
def _program(config):
  run = train.prepare_run(config)
  return run, run.program


def _student(config, num_classes):
  return steps.create_model(config.student, num_classes, config.compute_dtype)


@pytest.fixture(scope='module')
def frozen_kd_run(tmp_path_factory):
  """KD with lr 0 (the parameters never move): 20 examples at batch 8 = steps of 8, 8 and 4,
  one epoch, on the 10-class digits so that top-5 and top-1 differ."""
  c = method_checks.smoke('kd', 'resnet8', 'resnet8', dataset='digits', lr=0.0, epochs=1,
                          smoke_examples=20, smoke_steps=3, image_size=16)
  workdir = str(tmp_path_factory.mktemp('frozen_kd'))
  result = train.train_and_evaluate(c, workdir)
  return c, workdir, result


def _step_views(config, run, step, epoch=1):
  perm = batching.epoch_permutation(config.seed, epoch, run.source.num_train)
  idx = batching.batch_indices(perm, step, config.batch_size)
  keys = batching.example_keys(config.seed, epoch, step, len(idx))
  data = {'images': jnp.asarray(run.source.train.images),
          'labels': jnp.asarray(run.source.train.labels)}
  # One compiled program rather than op-by-op dispatch (each op compiled on its own on CPU).
  weak, strong, labels = method_checks.run_once(
      lambda data, batch, keys: run.program.setup.views.train(data, batch, keys, jnp.float32),
      data, {'index': jnp.asarray(idx)}, keys)
  return weak, strong, labels, idx


def test_logged_epoch_means_are_example_weighted_over_unequal_batches(frozen_kd_run):
  config, workdir, result = frozen_kd_run
  run = train.prepare_run(config)
  student = _student(config, run.source.num_classes)
  teacher = student
  state = result.state  # lr 0: the initial parameters, updated BN statistics unused in train mode
  variables = {'params': state.params['student'], 'batch_stats': state.batch_stats['student']}
  teacher_vars = teachers.load_variables(config, run.source.num_classes, run.source.image_shape)

  def loss_and_hits(variables, teacher_vars, weak, labels):
    z, _ = student.apply(variables, weak, train=True, mutable=['batch_stats'])
    v = teacher.apply(teacher_vars, weak, train=False)
    ce = config.ce_weight * jnp.mean(losses.cross_entropy(z, labels))
    kd = config.logit.weight * jnp.mean(losses.kd(z, v, temperature=config.logit.temperature))
    return ce + kd, jnp.mean(jnp.argmax(z, -1) == labels)

  per_step, sizes, hits = [], [], []
  for step in range(run.steps):
    weak, _, labels, idx = _step_views(config, run, step)
    loss, hit = method_checks.run_once(loss_and_hits, variables, teacher_vars, weak, labels)
    per_step.append(float(loss))
    hits.append(float(hit))
    sizes.append(len(idx))
  assert sizes == [8, 8, 4]
  row = method_checks.metric_rows(workdir)[0]
  weighted = np.dot(per_step, sizes) / np.sum(sizes)
  assert row['train_loss'] == pytest.approx(weighted, rel=1e-5)
  assert abs(weighted - np.mean(per_step)) > 1e-4  # the weighting matters for this test
  assert row['train_top1'] == pytest.approx(100 * np.dot(hits, sizes) / np.sum(sizes), rel=1e-5)


def test_logged_test_accuracies_are_top1_and_top5_in_percent(frozen_kd_run):
  config, workdir, result = frozen_kd_run
  run = train.prepare_run(config)
  student = _student(config, run.source.num_classes)
  variables = {'params': result.state.params['student'],
               'batch_stats': result.state.batch_stats['student']}
  x = sources.augment.test_view(jnp.asarray(run.source.test.images), run.source.mean,
                                run.source.std)
  logits = np.asarray(student.apply(variables, x, train=False))
  labels = run.source.test.labels
  top5 = np.argsort(-logits, axis=-1)[:, :5]
  expected_top1 = 100 * np.mean(top5[:, 0] == labels)
  expected_top5 = 100 * np.mean(np.any(top5 == labels[:, None], axis=-1))
  row = method_checks.metric_rows(workdir)[0]
  assert row['test_top1'] == pytest.approx(expected_top1)
  assert row['test_top5'] == pytest.approx(expected_top5)
  assert expected_top5 > expected_top1  # 10 classes, an untrained student: they must differ
  assert result.summary['last_top5'] == pytest.approx(expected_top5)


def test_mlkd_strong_view_reaches_teacher_and_student(tmp_path):
  """One MLKD step at lr 0: the logged terms equal losses.mlkd on the two views' logits."""
  c = method_checks.smoke('mlkd', 'resnet8', 'resnet8', lr=0.0, epochs=1, smoke_steps=1,
                          progress_bar=False)
  workdir = str(tmp_path / 'mlkd')
  result = train.train_and_evaluate(c, workdir)
  run = train.prepare_run(c)
  model = _student(c, run.source.num_classes)
  init = run.program.init(np.uint32(c.seed))
  variables = {'params': init.params['student'], 'batch_stats': init.batch_stats['student']}
  teacher_vars = teachers.load_variables(c, run.source.num_classes, run.source.image_shape)
  weak, strong, labels, _ = _step_views(c, run, 0)

  def expected_and_wrong(variables, teacher_vars, weak, strong, labels):
    z_w, updated = model.apply(variables, weak, train=True, mutable=['batch_stats'])
    z_s, _ = model.apply({'params': variables['params'], 'batch_stats': updated['batch_stats']},
                         strong, train=True, mutable=['batch_stats'])
    v_w = model.apply(teacher_vars, weak, train=False)
    v_s = model.apply(teacher_vars, strong, train=False)
    mlkd = functools.partial(losses.mlkd, temperature=c.logit.temperature,
                             ce_weight=c.ce_weight, kd_weight=c.logit.weight, standardize=False)
    return mlkd(z_w, z_s, v_w, v_s, labels), mlkd(z_w, z_s, v_w, v_w, labels)

  expected, wrong = method_checks.run_once(expected_and_wrong, variables, teacher_vars, weak,
                                           strong, labels)
  row = method_checks.metric_rows(workdir)[0]
  for name in ('ce', 'kd', 'cc', 'bc'):
    assert row[f'train_{name}'] == pytest.approx(float(expected[name]), rel=1e-4), name
  assert abs(float(wrong['kd']) - float(expected['kd'])) > 1e-3 * abs(float(expected['kd']))
  # The strong view draws its own crop: it differs from the weak view's crop before RandAugment.
  assert not np.allclose(np.asarray(weak), np.asarray(strong))
  assert result.summary['epochs_done'] == 1


@pytest.fixture(scope='module')
def ce_run(tmp_path_factory):
  """A bfloat16 CE run with a partial last batch: 20 examples at batch 8 = 8 + 8 + 4."""
  c = method_checks.smoke('ce', '', 'resnet8', smoke_examples=20, smoke_steps=3,
                          compute_dtype='bfloat16')
  workdir = str(tmp_path_factory.mktemp('ce_run'))
  return c, workdir, train.train_and_evaluate(c, workdir)


@pytest.mark.slow
def test_partial_last_batch_is_trained(ce_run):
  _, _, result = ce_run
  assert int(result.state.step) == 2 * 3
  assert result.summary['epochs_done'] == 2


@pytest.mark.slow
def test_bfloat16_compute_keeps_float32_params_and_losses(ce_run):
  _, _, result = ce_run
  assert {leaf.dtype for leaf in jax.tree.leaves(result.state.params)} == {jnp.dtype(jnp.float32)}
  assert {leaf.dtype for leaf in jax.tree.leaves(result.state.batch_stats)} == {jnp.dtype('float32')}
  assert {leaf.dtype for leaf in jax.tree.leaves(result.state.opt_state)
          if jnp.issubdtype(leaf.dtype, jnp.floating)} == {jnp.dtype('float32')}
  assert np.isfinite(result.summary['last_top1'])


@pytest.mark.slow
def test_metrics_files_are_written(ce_run):
  c, workdir, result = ce_run
  rows = method_checks.metric_rows(workdir)
  assert [r['epoch'] for r in rows] == [1, 2]
  assert [r['lr'] for r in rows] == pytest.approx([0.05, 0.005])
  for key in ('train_loss', 'train_ce', 'train_top1', 'test_top1', 'test_top5', 'best_top1',
              'epoch_seconds'):
    assert all(np.isfinite(r[key]) for r in rows), key
  np.testing.assert_allclose(rows[0]['train_loss'], rows[0]['train_ce'], rtol=1e-6)
  assert not any(key.startswith('test_student') or key.startswith('test_kl') for key in rows[0])
  with open(os.path.join(workdir, 'metrics.csv')) as f:
    lines = f.read().splitlines()
  assert lines[0].startswith('epoch,') and len(lines) == 3
  events = os.listdir(os.path.join(workdir, 'tensorboard'))
  assert any(name.startswith('events.out.tfevents') for name in events)
  summary = json.load(open(os.path.join(workdir, 'summary.json')))
  assert summary['best_top1'] == max(r['test_top1'] for r in rows)
  assert summary['last_top1'] == rows[-1]['test_top1']
  assert summary['teacher_top1'] is None and summary == result.summary
  assert summary['evaluated_head'] == 'student'
  assert json.load(open(os.path.join(workdir, 'config.json')))['method'] == 'ce'


@pytest.mark.slow
@pytest.mark.parametrize('method, passes', [('kd', 1), ('mlkd', 2)])
def test_train_step_updates_batch_stats_once_per_student_pass(method, passes):
  """MLKD runs the student twice in train mode: the stats of the 2nd pass are kept, as in torch."""
  c = method_checks.smoke(method, 'resnet14', 'resnet8', lr=0.0)
  run = train.prepare_run(c)
  program = run.program
  state = program.init(np.uint32(0))
  before = jax.device_get({'params': state.params['student'],
                           'batch_stats': state.batch_stats['student']})
  idx = np.arange(3, 11, dtype=np.int32)
  acc = parallel.put_replicated(metrics.empty_accumulator(program.metric_names), run.mesh)
  scalars = dict(steps.scalars_of(c, 1), step=np.uint32(0))
  state, acc = program.train_step(state, acc, run.teacher_vars, run.train_arrays,
                                  {'index': parallel.global_batch(idx, run.mesh)}, scalars)
  for a, b in zip(jax.tree.leaves(state.params['student']), jax.tree.leaves(before['params'])):
    np.testing.assert_array_equal(a, b)  # lr 0: only the running statistics move.
  keys = batching.example_keys(0, 1, 0, 8)
  arrays = {'images': jnp.asarray(run.source.train.images),
            'labels': jnp.asarray(run.source.train.labels)}
  weak, strong, _ = program.setup.views.train(arrays, {'index': jnp.asarray(idx)}, keys,
                                              jnp.float32)
  model = _student(c, 100)
  stats = before['batch_stats']
  for view in [weak, strong][:passes]:
    stats = model.apply({'params': before['params'], 'batch_stats': stats}, view, train=True,
                        mutable=['batch_stats'])[1]['batch_stats']
  for a, b in zip(jax.tree.leaves(state.batch_stats['student']), jax.tree.leaves(stats)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  host = parallel.to_host(acc)
  assert metrics.epoch_means(host)['train_loss'] > 0 and float(host['count']) == 8.0


def test_weights_and_temperature_are_step_inputs_so_a_sweep_compiles_once():
  base = method_checks.smoke('kd_ls', 'resnet8', 'resnet8')
  other = method_checks.smoke('kd_ls', 'resnet8', 'resnet8', **{
      'logit.weight': 3.0, 'logit.temperature': 4.0, 'ce_weight': 1.0})
  mesh = parallel.create_mesh()
  source = sources.open_source(base)
  setups = [steps.Setup.create(c, source, steps_per_epoch=2, mesh=mesh) for c in (base, other)]
  assert setups[0] == setups[1]  # one compiled program for both runs...
  assert steps.build_program(setups[0]) is steps.build_program(setups[1])
  s0, s1 = steps.scalars_of(base, 1), steps.scalars_of(other, 1)
  assert (s0['logit_weight'], s0['logit_temperature']) == (9.0, 2.0)
  assert (s1['logit_weight'], s1['logit_temperature'], s1['ce_weight']) == (3.0, 4.0, 1.0)
  # ...and the values reach the loss.
  distillation = steps.build_program(setups[0]).distillation
  rng = np.random.default_rng(0)
  z, v = (jnp.asarray(rng.normal(size=(4, 100)), jnp.float32) for _ in range(2))

  def terms(weight, temperature, ce_weight):
    inputs = methods.StepInputs(
        student=methods.Outputs(z), teacher=methods.Outputs(v), labels=jnp.zeros(4, jnp.int32),
        scalars={'logit_weight': np.float32(weight), 'logit_temperature': np.float32(temperature),
                 'ce_weight': np.float32(ce_weight)})
    return distillation.apply({}, inputs)[1]

  for weight, tau, ce in ((9.0, 2.0, 0.1), (3.0, 4.0, 1.0)):
    got = terms(weight, tau, ce)
    kd = weight * np.mean(np.asarray(losses.kd(temperature_lib.zscore(z), temperature_lib.zscore(v),
                                               temperature=tau)))
    np.testing.assert_allclose(got['kd'], kd, rtol=1e-5)
    ce_ref = ce * np.mean(np.asarray(losses.cross_entropy(z, jnp.zeros(4, jnp.int32))))
    np.testing.assert_allclose(got['ce'], ce_ref, rtol=1e-5)
