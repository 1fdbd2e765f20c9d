"""Runs that survive: exact resume (at epoch ends and mid-epoch), fallback past an unreadable
checkpoint with one warning, the config guard.

Checkpoint ids are optimizer-update counts: a smoke run's epochs have 2 steps, so its epoch-end
checkpoints are 2 and 4.
"""

import dataclasses
import json
import logging
import os
import shutil

import jax
import numpy as np
import pytest

from kdjax import checkpointing
from kdjax import config as config_lib
from kdjax import recipes
from kdjax import train


class Interrupted(Exception):
  """Stands in for a preemption after an epoch."""


@pytest.fixture(scope='module')
def config():
  return config_lib.validate(config_lib.smoke_config(
      recipes.method_config('kd', 'resnet14', 'resnet8')))


@pytest.fixture(scope='module')
def uninterrupted(config, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('uninterrupted'))
  result = train.train_and_evaluate(config, workdir)
  return workdir, jax.device_get(result.state), result.summary


def _rows(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def _assert_same_state(a, b):
  # Bit-identical, on any CPU: the resumed and the uninterrupted run execute the same compiled
  # program in this process on the same (restored) bits, and XLA's CPU programs are
  # deterministic for given inputs; no summation order differs, so no rounding does.
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


@pytest.mark.slow
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
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['2']
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


@pytest.mark.slow
def test_unreadable_newest_checkpoint_falls_back_with_a_warning(config, uninterrupted, tmp_path,
                                                                 caplog):
  reference_dir, reference_state, _ = uninterrupted
  workdir = _copy(reference_dir, tmp_path)
  _corrupt(workdir, 4)
  epochs_run = []
  with caplog.at_level(logging.WARNING):
    result = train.train_and_evaluate(config, workdir,
                                      epoch_callback=lambda epoch, _: epochs_run.append(epoch))
  assert epochs_run == [2]
  warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
  assert len(warnings) == 1, [r.getMessage() for r in warnings]
  message = warnings[0].getMessage()
  assert 'unreadable checkpoint(s) 4 moved to' in message and 'unreadable_checkpoints' in message
  assert 'resuming from checkpoint 2 at epoch 2, step 0' in message
  assert os.path.isdir(os.path.join(workdir, 'unreadable_checkpoints', '4'))
  _assert_same_state(result.state, reference_state)  # Epoch 2 was trained again, identically.
  assert [r['epoch'] for r in _rows(workdir)] == [1, 2]


@pytest.mark.slow
def test_no_readable_checkpoint_is_an_error_not_a_silent_restart(config, uninterrupted, tmp_path):
  workdir = _copy(uninterrupted[0], tmp_path)
  for epoch in os.listdir(os.path.join(workdir, 'checkpoints')):
    _corrupt(workdir, epoch)
  with pytest.raises(checkpointing.NoReadableCheckpointError, match='refusing to restart'):
    train.train_and_evaluate(config, workdir)


@pytest.mark.slow
def test_a_different_config_in_the_workdir_is_refused(config, uninterrupted, tmp_path):
  workdir = _copy(uninterrupted[0], tmp_path)
  other = config_lib.from_mapping(config.to_dict())
  other.logit.weight = 0.5
  with pytest.raises(checkpointing.ConfigMismatchError, match=r'logit.weight: workdir has 0\.9'):
    train.train_and_evaluate(other, workdir)
  relaxed = config_lib.from_mapping(config.to_dict())
  relaxed.log_every = 7  # Bookkeeping fields may change between restarts.
  assert checkpointing.check_config(workdir, relaxed)


@pytest.mark.slow
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


@pytest.mark.slow
def test_mid_epoch_checkpoint_resumes_to_exactly_the_same_run(config, uninterrupted, tmp_path):
  """checkpoint_every_steps=1: a run killed in the middle of epoch 2 loses one step, not an epoch."""
  reference_dir, reference_state, reference_summary = uninterrupted
  mid = config_lib.from_mapping(config.to_dict())
  mid.checkpoint_every_steps = 1  # a resumable (bookkeeping) field: the runs are comparable
  workdir = str(tmp_path / 'run')
  calls = {'n': 0}
  real_train_epoch = train.train_epoch

  def crash_in_epoch_two(run, state, epoch, position, **kwargs):
    if epoch == 2:
      program = run.program
      real_step = program.train_step

      def step_then_crash(*args, **kw):
        calls['n'] += 1
        if calls['n'] == 2:  # the second step of epoch 2, after the first one was saved
          raise Interrupted
        return real_step(*args, **kw)
      run = dataclasses.replace(run, program=dataclasses.replace(program,
                                                                 train_step=step_then_crash))
    return real_train_epoch(run, state, epoch, position, **kwargs)

  train.train_epoch = crash_in_epoch_two
  try:
    with pytest.raises(Interrupted):
      train.train_and_evaluate(mid, workdir)
  finally:
    train.train_epoch = real_train_epoch
  checkpoints = checkpointing.Checkpoints(workdir)
  meta = checkpoints.read_meta(checkpoints.steps()[-1])
  checkpoints.close()
  assert (meta['epoch'], meta['step']) == (1, 1) and meta['accumulator']['count'] == 8.0
  result = train.train_and_evaluate(mid, workdir)
  _assert_same_state(result.state, reference_state)
  rows, reference_rows = _rows(workdir), _rows(reference_dir)
  assert [r['epoch'] for r in rows] == [1, 2]
  for key in ('train_loss', 'train_kd', 'train_top1', 'test_top1'):
    assert rows[1][key] == reference_rows[1][key], key  # the partial epoch's sums were kept
  assert result.summary['best_top1'] == reference_summary['best_top1']


def test_a_workdir_of_an_earlier_version_resumes_when_new_fields_keep_their_defaults(config,
                                                                                   tmp_path):
  """A field added to the schema after a run started (e.g. ``optimizer``) is absent from its
  ``config.json``: it compares as the schema default, so the run resumes; a non-default value
  of it is a difference, named."""
  stored = json.loads(config_lib.to_json(config))
  del stored['optimizer'], stored['mixup_alpha']
  with open(tmp_path / 'config.json', 'w') as f:
    json.dump(stored, f)
  assert checkpointing.check_config(str(tmp_path), config_lib.from_mapping(config.to_dict()))
  other = config_lib.from_mapping(config.to_dict())
  other.optimizer = 'adamw'
  with pytest.raises(checkpointing.ConfigMismatchError,
                     match=r"optimizer: workdir has 'sgd', this run has 'adamw'"):
    checkpointing.check_config(str(tmp_path), other)
