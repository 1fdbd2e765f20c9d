"""kdjax.train: schedule, torch-style SGD, batching, the train step's BN passes, metrics files."""

import json
import logging
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from kdjax import config as config_lib
from kdjax import data
from kdjax import parallel
from kdjax import train


def _config(**overrides):
  c = ml_collections.ConfigDict(dict(lr=0.05, student='resnet8', lr_decay_epochs=(150, 180, 210),
                                     lr_decay_rate=0.1, momentum=0.9, weight_decay=5e-4))
  c.update(overrides)
  return c


def test_learning_rate_schedule_counts_epochs_from_one_with_the_partial_batch():
  spe = 782  # CIFAR-100 at batch 64, last batch of 16 counted.
  schedule = train.learning_rate_schedule(0.05, (150, 180, 210), 0.1, spe)
  counts = [0, 150 * spe - 1, 150 * spe, 180 * spe - 1, 180 * spe, 210 * spe, 240 * spe - 1]
  np.testing.assert_allclose([float(schedule(c)) for c in counts],
                             [0.05, 0.05, 0.005, 0.005, 5e-4, 5e-5, 5e-5], rtol=1e-6)
  c = config_lib.get_config()
  assert [train.learning_rate_at_epoch(c, e) for e in (1, 150, 151, 181, 211)] == pytest.approx(
      [0.05, 0.05, 0.005, 5e-4, 5e-5])
  c.student = 'MobileNetV2'
  assert train.learning_rate_at_epoch(c, 1) == 0.01


def _params_and_grads():
  rng = np.random.default_rng(0)
  params = {'student': {'conv': {'kernel': rng.normal(size=(3, 3, 2, 4)).astype(np.float32)},
                        'bn': {'scale': np.ones(4, np.float32), 'bias': np.zeros(4, np.float32)}},
            'temperature': {'theta': np.float32(1.0)}}
  grads = [jax.tree.map(lambda p: rng.normal(size=np.shape(p)).astype(np.float32), params)
           for _ in range(3)]
  return params, grads


def test_one_sgd_step_is_torch_style_by_hand():
  params, grads = _params_and_grads()
  tx = train.create_optimizer(_config(), steps_per_epoch=10)
  updates, _ = tx.update(grads[0], tx.init(params), params)
  new = jax.tree.map(lambda p, u: p + u, params, updates)
  # torch: buf = g + wd * p (first step); p <- p - lr * buf, for EVERY parameter.
  expected = jax.tree.map(lambda p, g: p - 0.05 * (g + 5e-4 * p), params, grads[0])
  for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(expected)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  # Weight decay reaches BN scales and the CTKD theta even with a zero gradient.
  zero = jax.tree.map(np.zeros_like, params)
  updates, _ = tx.update(zero, tx.init(params), params)
  np.testing.assert_allclose(updates['student']['bn']['scale'], -0.05 * 5e-4 * np.ones(4), rtol=1e-6)
  np.testing.assert_allclose(updates['temperature']['theta'], -0.05 * 5e-4, rtol=1e-6)


def test_three_sgd_steps_match_torch_with_the_lr_drop():
  torch = pytest.importorskip('torch')
  params, grads = _params_and_grads()
  tx = train.create_optimizer(_config(lr_decay_epochs=(1,)), steps_per_epoch=2)
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


def test_steps_per_epoch_keeps_or_drops_the_last_partial_batch(caplog):
  c = config_lib.get_config()
  assert train.steps_per_epoch(50_000, c, 1) == (782, 16)
  assert train.steps_per_epoch(1347, c, 1) == (22, 3)
  with caplog.at_level(logging.WARNING):
    assert train.steps_per_epoch(1347, c, 2) == (21, 64)
  assert 'dropping the last partial batch' in caplog.text
  assert train.steps_per_epoch(50_000, c, 4) == (782, 16)
  c.drop_remainder = True
  assert train.steps_per_epoch(1347, c, 1) == (21, 64)
  assert train.steps_per_epoch(1280, c, 1) == (20, 64)
  c.drop_remainder = False
  with pytest.raises(ValueError, match='does not split over 3 devices'):
    train.steps_per_epoch(50_000, c, 3)
  smoke = config_lib.smoke_config(c)
  assert train.steps_per_epoch(16, smoke, 1) == (2, 8)
  assert train.steps_per_epoch(100, smoke, 1) == (2, 8)


def test_topk_hits_with_mask():
  logits = jnp.asarray([[0., 1., 2., 3., 4., 5.], [5., 4., 3., 2., 1., 0.], [0., 1., 9., 2., 3., -1.]])
  hits = lambda labels, mask=jnp.ones(3): np.asarray(train.topk_hits(logits, jnp.asarray(labels), mask))
  np.testing.assert_array_equal(hits([5, 5, 5]), [1.0, 1.0])
  np.testing.assert_array_equal(hits([5, 0, 2]), [3.0, 3.0])
  np.testing.assert_array_equal(hits([5, 0, 2], jnp.asarray([1., 0., 1.])), [2.0, 2.0])
  np.testing.assert_array_equal(hits([4, 1, 1]), [0.0, 3.0])


def _setup(method, **overrides):
  c = config_lib.smoke_config(config_lib.method_config(method, 'resnet14', 'resnet8'))
  c.update(overrides)
  mesh = parallel.create_mesh()
  mean, std = data.stats('cifar100')
  setup = train.Setup.from_config(c, num_classes=100, image_shape=(32, 32, 3), mean=mean, std=std,
                                  steps_per_epoch=2, mesh=mesh)
  return c, setup, mesh


@pytest.mark.parametrize('method, passes', [('kd', 1), ('mlkd', 2)])
def test_train_step_updates_batch_stats_once_per_student_pass(method, passes):
  """MLKD runs the student twice in train mode: the stats of the 2nd pass are kept, as in torch."""
  c, setup, mesh = _setup(method, lr=0.0)
  program = train.build_program(setup)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
  labels = rng.integers(0, 100, (16,), dtype=np.int32)
  teacher_vars = train.load_teacher_variables(c, 100, (32, 32, 3))
  state = program.init(np.uint32(0))
  before = jax.tree.map(np.asarray, {'params': state.params['student'],
                                     'batch_stats': state.batch_stats})
  idx = np.arange(3, 11, dtype=np.int32)
  acc = parallel.put_replicated(train.empty_accumulator(program.metric_names), mesh)
  state, acc = program.train_step(state, acc, teacher_vars, jnp.asarray(images), jnp.asarray(labels),
                                  parallel.global_batch(idx, mesh), np.uint32(0), np.uint32(1),
                                  np.uint32(0), np.float32(0.0), np.float32(1.0))
  # lr = 0: the parameters do not move, only the running statistics.
  for a, b in zip(jax.tree.leaves(state.params['student']), jax.tree.leaves(before['params'])):
    np.testing.assert_array_equal(a, b)
  keys = data.example_keys(0, 1, 0, 8)
  view_fns = [data.train_view, data.strong_view][:passes]
  views = [jax.jit(fn, static_argnums=(2, 3))(keys, jnp.asarray(images[idx]), setup.mean, setup.std)
           for fn in view_fns]
  apply = jax.jit(lambda variables, x: program.student.apply(variables, x, train=True,
                                                             mutable=['batch_stats'])[1])
  stats = before['batch_stats']
  for view in views:
    stats = apply({'params': before['params'], 'batch_stats': stats}, view)['batch_stats']
  for a, b in zip(jax.tree.leaves(state.batch_stats), jax.tree.leaves(stats)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  metrics = train.epoch_metrics(parallel.to_host(acc))
  assert metrics['train_loss'] > 0 and float(parallel.to_host(acc)['count']) == 8.0


@pytest.fixture(scope='module')
def ce_run(tmp_path_factory):
  """A bfloat16 CE run with a partial last batch: 20 examples at batch 8 = 8 + 8 + 4."""
  c = config_lib.smoke_config(config_lib.method_config('ce', '', 'resnet8'))
  c.update(smoke_examples=20, smoke_steps=3, compute_dtype='bfloat16')
  workdir = str(tmp_path_factory.mktemp('ce_run'))
  return c, workdir, train.train_and_evaluate(c, workdir)


def test_partial_last_batch_is_trained(ce_run):
  _, _, result = ce_run
  assert int(result.state.step) == 2 * 3
  assert result.summary['epochs_done'] == 2


def test_bfloat16_compute_keeps_float32_params_and_losses(ce_run):
  _, workdir, result = ce_run
  dtypes = {leaf.dtype for leaf in jax.tree.leaves(result.state.params)}
  assert dtypes == {jnp.dtype(jnp.float32)}
  assert {leaf.dtype for leaf in jax.tree.leaves(result.state.batch_stats)} == {jnp.dtype('float32')}
  assert {leaf.dtype for leaf in jax.tree.leaves(result.state.opt_state)
          if jnp.issubdtype(leaf.dtype, jnp.floating)} == {jnp.dtype('float32')}
  assert np.isfinite(result.summary['last_top1'])


def test_metrics_files_are_written(ce_run):
  c, workdir, result = ce_run
  rows = [json.loads(line) for line in open(os.path.join(workdir, 'metrics.jsonl'))]
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
  assert json.load(open(os.path.join(workdir, 'config.json')))['method'] == 'ce'


def test_distillation_without_teacher_checkpoint_is_a_clear_error(tmp_path):
  c = config_lib.method_config('kd', 'resnet14', 'resnet8')
  c.update(dataset='digits', epochs=1)
  with pytest.raises(FileNotFoundError, match='teacher_checkpoint'):
    train.train_and_evaluate(c, str(tmp_path))


@pytest.mark.parametrize('batch, shards, side, chunks, expected', [
    (64, 1, 32, 0, 4),    # CPU auto: slices of 16 examples per device...
    (128, 1, 32, 0, 4),   # ...at most 4 of them,
    (32, 1, 32, 0, 2),
    (64, 2, 32, 0, 2),    # per device,
    (64, 1, 16, 0, 1),    # not for small images (the digits main job),
    (8, 1, 32, 0, 1),     # nor when 16 does not divide the device batch.
    (64, 1, 16, 3, 3),    # An explicit setting is kept.
])
def test_conv_batch_chunks_auto_setting(batch, shards, side, chunks, expected):
  assert jax.default_backend() == 'cpu'
  config = _config(batch_size=batch, conv_batch_chunks=chunks)
  assert train.resolved_conv_batch_chunks(config, shards, (side, side, 3)) == expected


def test_padded_batches_cover_the_split_in_order_and_mask_the_padding():
  mesh = parallel.create_mesh()
  batches = [(np.asarray(parallel.to_host(i)), np.asarray(parallel.to_host(m)))
             for i, m in train.padded_batches(10, 4, mesh)]
  assert [i.tolist() for i, _ in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 0]]
  assert [m.tolist() for _, m in batches] == [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0]]
  (only, mask), = [(np.asarray(parallel.to_host(i)), parallel.to_host(m))
                   for i, m in train.padded_batches(3, 100, mesh)]  # Batch capped at the size.
  assert only.tolist() == [0, 1, 2] and np.all(np.asarray(mask) == 1)
