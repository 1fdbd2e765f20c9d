"""Runs that survive: exact resume, fallback past an unreadable checkpoint, config guard."""

import json
import logging
import os
import shutil

import jax
import numpy as np
import pytest

from kdjax import checkpointing
from kdjax import config as config_lib
from kdjax import train


class Interrupted(Exception):
  """Stands in for a preemption after an epoch."""


@pytest.fixture(scope='module')
def config():
  return config_lib.smoke_config(config_lib.method_config('kd', 'resnet14', 'resnet8'))


@pytest.fixture(scope='module')
def uninterrupted(config, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('uninterrupted'))
  result = train.train_and_evaluate(config, workdir)
  return workdir, jax.device_get(result.state), result.summary


def _rows(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def _assert_same_state(a, b):
  leaves_a, tree_a = jax.tree.flatten(jax.device_get(a))
  leaves_b, tree_b = jax.tree.flatten(jax.device_get(b))
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(x, y)


def _copy(workdir, tmp_path):
  target = str(tmp_path / 'copy')
  shutil.copytree(workdir, target)
  return target


def _corrupt(workdir, epoch):
  root = os.path.join(workdir, 'checkpoints', str(epoch))
  for folder, _, files in os.walk(root):
    for name in files:
      with open(os.path.join(folder, name), 'wb') as f:
        f.write(b'not a checkpoint')


def test_interrupted_run_resumes_to_exactly_the_same_parameters(config, uninterrupted, tmp_path):
  reference_dir, reference_state, reference_summary = uninterrupted
  workdir = str(tmp_path / 'run')

  def stop_after_first_epoch(epoch, row):
    del row
    if epoch == 1:
      raise Interrupted

  with pytest.raises(Interrupted):
    train.train_and_evaluate(config, workdir, epoch_callback=stop_after_first_epoch)
  assert [r['epoch'] for r in _rows(workdir)] == [1]
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['1']
  epochs_run = []
  result = train.train_and_evaluate(config, workdir,
                                    epoch_callback=lambda epoch, _: epochs_run.append(epoch))
  assert epochs_run == [2]  # Resumed, not restarted.
  _assert_same_state(result.state, reference_state)
  rows, reference_rows = _rows(workdir), _rows(reference_dir)
  assert [r['epoch'] for r in rows] == [1, 2]
  for row, reference in zip(rows, reference_rows):
    for key in ('train_loss', 'train_kd', 'test_top1', 'best_top1', 'lr'):
      assert row[key] == reference[key], key
  for key in ('best_top1', 'best_epoch', 'last_top1', 'epochs_done'):
    assert result.summary[key] == reference_summary[key], key


def test_unreadable_newest_checkpoint_falls_back_with_a_warning(config, uninterrupted, tmp_path,
                                                                 caplog):
  reference_dir, reference_state, _ = uninterrupted
  workdir = _copy(reference_dir, tmp_path)
  _corrupt(workdir, 2)
  epochs_run = []
  with caplog.at_level(logging.WARNING):
    result = train.train_and_evaluate(config, workdir,
                                      epoch_callback=lambda epoch, _: epochs_run.append(epoch))
  assert epochs_run == [2]
  assert 'checkpoint of epoch 2' in caplog.text and 'unreadable' in caplog.text
  assert os.path.isdir(os.path.join(workdir, 'unreadable_checkpoints', '2'))
  _assert_same_state(result.state, reference_state)  # Epoch 2 was trained again, identically.
  assert [r['epoch'] for r in _rows(workdir)] == [1, 2]


def test_no_readable_checkpoint_is_an_error_not_a_silent_restart(config, uninterrupted, tmp_path):
  workdir = _copy(uninterrupted[0], tmp_path)
  for epoch in os.listdir(os.path.join(workdir, 'checkpoints')):
    _corrupt(workdir, epoch)
  with pytest.raises(checkpointing.NoReadableCheckpointError, match='refusing to restart'):
    train.train_and_evaluate(config, workdir)


def test_a_different_config_in_the_workdir_is_refused(config, uninterrupted, tmp_path):
  workdir = _copy(uninterrupted[0], tmp_path)
  other = config_lib.from_mapping(config.to_dict())
  other.kd_weight = 0.5
  with pytest.raises(checkpointing.ConfigMismatchError, match=r'kd_weight: workdir has 0\.9'):
    train.train_and_evaluate(other, workdir)
  relaxed = config_lib.from_mapping(config.to_dict())
  relaxed.log_every = 7  # Bookkeeping fields may change between restarts.
  assert checkpointing.check_config(workdir, relaxed)


def test_restarting_a_finished_run_trains_nothing(config, uninterrupted, tmp_path):
  reference_dir, reference_state, reference_summary = uninterrupted
  workdir = _copy(reference_dir, tmp_path)
  epochs_run = []
  result = train.train_and_evaluate(config, workdir,
                                    epoch_callback=lambda epoch, _: epochs_run.append(epoch))
  assert epochs_run == []
  _assert_same_state(result.state, reference_state)
  assert len(_rows(workdir)) == 2
  assert result.summary['best_top1'] == reference_summary['best_top1']


def test_keeps_the_last_checkpoints_and_the_best(tmp_path):
  checkpoints = checkpointing.Checkpoints(str(tmp_path), keep=2)
  state = {'w': np.arange(3.0)}
  for epoch, top1 in enumerate([50.0, 90.0, 10.0, 20.0, None], start=1):
    checkpoints.save(epoch, {'w': state['w'] + epoch}, {'epoch': epoch}, top1)
  checkpoints.wait()
  assert checkpoints.steps() == [2, 4, 5]
  restored, meta = checkpoints.restore(2, state)
  np.testing.assert_array_equal(restored['w'], np.arange(3.0) + 2)
  assert meta == {'epoch': 2}
  checkpoints.close()
