"""Any model and optimizer through the one trainer: a toy ViT student (no BatchNorm, dropout)
trained with KD by AdamW + cosine warm-up, a weight-decay mask, gradient clipping and
Mixup/CutMix soft targets on the digits dataset, on 1 and 2 devices with equal results, and
resumed exactly."""

import jax
import numpy as np
import pytest

from kdjax import convert
from kdjax import models
from kdjax import optim
from kdjax import train
from tests import method_checks


@pytest.fixture(scope='module')
def config(tmp_path_factory):
  """KD from a randomly initialised resnet8 teacher (saved as a kdjax teacher) into vit_toy, on
  64 training digits (the rest held out) in 2 epochs of 2 steps, evaluated on the test split."""
  teacher_dir = str(tmp_path_factory.mktemp('teacher') / 'resnet8')
  variables = models.init_variables(models.create('resnet8', num_classes=10), jax.random.key(7),
                                    (16, 16, 3))
  convert.save_teacher(teacher_dir, 'resnet8', 10, variables, source='random init (test)')
  c = method_checks.smoke(
      'kd', 'resnet8', 'vit_toy', dataset='digits', smoke=False, teacher_checkpoint=teacher_dir,
      epochs=2, batch_size=32, drop_remainder=True, eval_batch_size=450, augment_flip=False,
      validation_examples=1347 - 64, eval_split='test', eval_statistics=False,
      augment_padding=2, optimizer='adamw', lr=2e-3, weight_decay=0.05, lr_schedule='cosine',
      warmup_epochs=1, warmup_lr=1e-4, min_lr=1e-5, weight_decay_mask='no_bias_norm',
      grad_clip_norm=1.0, mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1,
      log_every=100)
  return c


def _leaves(state):
  """``{leaf path: array}`` of a state, as ``method_checks.run_on_devices`` returns them."""
  return {jax.tree_util.keystr(p): np.asarray(x)
          for p, x in jax.tree_util.tree_leaves_with_path(jax.device_get(state))}


@pytest.fixture(scope='module')
def uninterrupted(config, tmp_path_factory):
  """The run on this process's one device (its compilation shared with the resumed runs)."""
  assert jax.device_count() == 1
  workdir = str(tmp_path_factory.mktemp('uninterrupted'))
  run = train.prepare_run(config)
  initial = run.program.init(np.uint32(config.seed), **train.init_data(run))
  result = train.train_and_evaluate(config, workdir)
  return workdir, result, {'state': _leaves(result.state), 'initial': _leaves(initial),
                           'rows': method_checks.metric_rows(workdir)}


def test_vit_student_trains_on_one_and_two_devices_alike(config, uninterrupted, tmp_path):
  _, result, one = uninterrupted
  two = method_checks.run_on_devices({'vit': config}, 2, tmp_path)
  assert two['devices'] == 2 and two['vit']['replicated']
  two = two['vit']
  assert result.state.batch_stats == {'student': {}, 'method': {}}  # no BatchNorm anywhere
  assert any("['pos_embed']" in key for key in one['state'])
  # 1 vs 2 devices: the same program on a sharded batch, dropout masks and the batch's mixing
  # drawn from keys that do not depend on the split; agreement as float32 guarantees
  # (method_checks.RTOL, argued there).
  method_checks.assert_same_runs(one, two)
  rows = one['rows']
  assert [r['epoch'] for r in rows] == [1, 2]
  assert rows[0]['lr'] == pytest.approx(1e-4)  # warm-up start
  assert rows[1]['lr'] == pytest.approx(optim.learning_rate_at_epoch(config, 2))
  assert rows[1]['lr'] == pytest.approx(2e-3)  # warm-up end: the peak (cosine at 0)


def test_vit_student_resumes_exactly(config, uninterrupted, tmp_path):
  """Stopped after epoch 1 and resumed: bitwise the uninterrupted run (method_checks.
  assert_same_state argues why), and the same logged values."""
  reference_dir, reference, _ = uninterrupted
  workdir = str(tmp_path / 'interrupted')

  def stop(epoch, row):
    del row
    if epoch == 1:
      raise method_checks.StopAfterFirstEpoch

  with pytest.raises(method_checks.StopAfterFirstEpoch):
    train.train_and_evaluate(config, workdir, epoch_callback=stop)
  epochs = []
  resumed = train.train_and_evaluate(config, workdir,
                                     epoch_callback=lambda epoch, _: epochs.append(epoch))
  assert epochs == [2]  # resumed, not restarted
  method_checks.assert_same_state(resumed.state, reference.state)
  rows, reference_rows = (method_checks.metric_rows(w) for w in (workdir, reference_dir))
  assert [r['epoch'] for r in rows] == [1, 2]
  for row, ref in zip(rows, reference_rows):
    for key in ('train_loss', 'train_ce', 'train_kd', 'test_top1', 'lr'):
      assert row[key] == ref[key], (key, row[key], ref[key])
