"""Faults that must lose nothing and say what happened: a diverging run, two processes on one
workdir, flipped bytes in a checkpoint, links and damaged files in the workdir, a full disk, a
corrupt JPEG, bad labels, an empty split, a lost multi-host peer.

Smoke runs (resnet8, random data, 2 epochs of 2 steps): checkpoint ids are optimizer-update
counts, so with ``checkpoint_every_steps=1`` a run saves 1 (epoch 1, step 1), 2 (end of epoch 1),
3 (epoch 2, step 1) and 4 (end of epoch 2), keeping the last two.
"""

import dataclasses
import io
import json
import logging
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest
from PIL import Image

from experiments.configs import method as method_file
from kdjax import checkpointing
from kdjax import config as config_lib
from kdjax import train
from kdjax import workdir as workdir_lib
from kdjax.data import arrays
from kdjax.data import cifar
from kdjax.data import imagenet
from kdjax.data import sources

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI_RUN = ['--config=method:ce,student=resnet8,runlocal', '--config.checkpoint_every_steps=1']


def _env(**extra):
  return dict(os.environ, JAX_PLATFORMS='cpu',
              PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]), **extra)


def _cli(workdir, *extra, cwd=None, timeout=600):
  return subprocess.run([sys.executable, '-m', 'experiments.cifar100', *CLI_RUN, *extra,
                         f'--workdir={workdir}'], cwd=cwd or REPO, env=_env(),
                        capture_output=True, text=True, timeout=timeout)


def _rows(workdir):
  path = os.path.join(workdir, 'metrics.jsonl')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _assert_same_state(a, b):
  leaves_a, tree_a = jax.tree.flatten(jax.device_get(a))
  leaves_b, tree_b = jax.tree.flatten(jax.device_get(b))
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(x, y)


@pytest.fixture(scope='module')
def config():
  c = method_file.get_config('ce,student=resnet8,runlocal')  # the config of CLI_RUN
  c.checkpoint_every_steps = 1
  return config_lib.validate(c)


@pytest.fixture(scope='module')
def uninterrupted(config, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('uninterrupted'))
  result = train.train_and_evaluate(config, workdir)
  return workdir, jax.device_get(result.state), result.summary


# ------------------------------------------------------------------------------------------------
# 1. A diverging run saves nothing non-finite and names the last good checkpoint.
@pytest.mark.slow
def test_nan_mid_epoch_is_not_saved_and_the_rerun_resumes_from_the_last_good_checkpoint(
    config, uninterrupted, tmp_path):
  """The step of epoch 2 returns a state with a NaN weight (as a diverging update would): the
  real save path (a checkpoint every step) sees it, refuses it, keeps checkpoints 1 and 2, and
  names 2; the rerun resumes from 2 and ends exactly as the uninterrupted run."""
  _, reference_state, reference_summary = uninterrupted
  workdir = str(tmp_path / 'run')
  real_train_epoch = train.train_epoch

  def nan_in_epoch_two(run, state, epoch, position, **kwargs):
    if epoch == 2:
      real_step = run.program.train_step

      def step_to_nan(state, *args, **kw):
        state, acc = real_step(state, *args, **kw)
        params = jax.tree.map(lambda x: x, state.params)
        leaves, tree = jax.tree.flatten(params)
        leaves[0] = leaves[0].at[(0,) * leaves[0].ndim].set(np.nan)
        return dataclasses.replace(state, params=jax.tree.unflatten(tree, leaves)), acc

      run = dataclasses.replace(run, program=dataclasses.replace(run.program,
                                                                 train_step=step_to_nan))
    return real_train_epoch(run, state, epoch, position, **kwargs)

  train.train_epoch = nan_in_epoch_two
  try:
    with pytest.raises(checkpointing.DivergedError) as stopped:
      train.train_and_evaluate(config, workdir)
  finally:
    train.train_epoch = real_train_epoch
  message = str(stopped.value)
  assert message.startswith('the run diverged: the train state holds NaN/inf at epoch 2, step 1 '
                            '(not saved); the last good checkpoint, 2 (the end of epoch 1), is '
                            f'kept in {workdir}/checkpoints: running the same command resumes')
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['1', '2']  # none deleted
  assert [r['epoch'] for r in _rows(workdir)] == [1]
  epochs_run = []
  result = train.train_and_evaluate(config, workdir,
                                    epoch_callback=lambda epoch, _: epochs_run.append(epoch))
  assert epochs_run == [2]
  _assert_same_state(result.state, reference_state)  # nothing lost
  assert result.summary['best_top1'] == reference_summary['best_top1']


@pytest.mark.slow
def test_a_diverging_command_stops_with_one_line_and_exit_status_2(tmp_path):
  """lr=1e30: the parameters overflow in epoch 1; the command names where and what is kept."""
  workdir = tmp_path / 'run'
  result = _cli(workdir, '--config.lr=1e30', cwd=str(tmp_path))
  assert result.returncode == 2, result.stderr[-3000:]
  lines = result.stderr.strip().splitlines()
  assert lines[0].startswith('experiments.cifar100: error: the run diverged: ') and len(lines) == 2
  assert 'holds NaN/inf at' in lines[0] and 'the last good checkpoint, 1 (epoch 1, step 1)' in lines[0]
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['1']  # only the finite one was saved
  import orbax.checkpoint as ocp  # pylint: disable=import-outside-toplevel
  saved = ocp.StandardCheckpointer().restore(str(workdir / 'checkpoints' / '1' / 'state'))
  floats = [np.asarray(x) for x in jax.tree.leaves(saved)
            if np.issubdtype(np.asarray(x).dtype, np.floating)]
  assert floats and all(np.isfinite(x).all() for x in floats)


def test_save_refuses_a_non_finite_state_and_keeps_the_good_ones(tmp_path):
  checkpoints = checkpointing.Checkpoints(str(tmp_path), keep=1, asynchronous=False)
  good = {'w': np.arange(4, dtype=np.float32), 'count': np.array(3, np.int32)}
  checkpoints.save(2, good, {'epoch': 1, 'step': 0}, None)
  with pytest.raises(checkpointing.DivergedError, match=r'at epoch 2, step 1 \(not saved\); '
                     r'the last good checkpoint, 2 \(the end of epoch 1\)'):
    checkpoints.save(3, {'w': good['w'] + np.inf, 'count': np.array(4, np.int32)},
                     {'epoch': 1, 'step': 1}, None)
  with pytest.raises(checkpointing.DivergedError, match="the epoch's sums of train_loss"):
    checkpoints.save(3, good, {'epoch': 1, 'step': 1,
                               'accumulator': {'train_loss': float('nan'), 'count': 8.0}}, None)
  assert checkpoints.steps() == [2]  # keep=1, yet the good one was not replaced
  restored, meta = checkpoints.restore(2, good)
  np.testing.assert_array_equal(restored['w'], good['w'])
  assert meta == {'epoch': 1, 'step': 0}
  checkpoints.close()


# ------------------------------------------------------------------------------------------------
# 2. One process per workdir.
def test_a_held_workdir_is_refused_and_released_on_exit(tmp_path):
  first = workdir_lib.Lock(str(tmp_path)).acquire()
  with pytest.raises(workdir_lib.WorkdirInUseError) as refused:
    workdir_lib.Lock(str(tmp_path)).acquire()
  assert (f'{tmp_path} is in use by process {os.getpid()} on host {socket.gethostname()}'
          in str(refused.value)) and 'use another --workdir' in str(refused.value)
  first.release()
  assert not os.path.exists(tmp_path / workdir_lib.LOCK_FILE)
  workdir_lib.Lock(str(tmp_path)).acquire().release()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
  dead = subprocess.Popen([sys.executable, '-c', 'pass'])
  dead.wait()
  (tmp_path / workdir_lib.LOCK_FILE).write_text(json.dumps(
      {'host': socket.gethostname(), 'pid': dead.pid, 'since': 'earlier'}))
  lock = workdir_lib.Lock(str(tmp_path)).acquire()
  assert lock.owner()['pid'] == os.getpid()
  lock.release()


def test_a_lock_of_another_host_is_refused_with_how_to_clear_it(tmp_path):
  (tmp_path / workdir_lib.LOCK_FILE).write_text(json.dumps(
      {'host': 'elsewhere.example', 'pid': 12345, 'since': 'earlier'}))
  with pytest.raises(workdir_lib.WorkdirInUseError,
                     match=r'locked by process 12345 on host elsewhere.example .* if that run has '
                           r'ended, delete .*kdjax.lock'):
    workdir_lib.Lock(str(tmp_path)).acquire()
  assert json.loads((tmp_path / workdir_lib.LOCK_FILE).read_text())['pid'] == 12345


@pytest.mark.slow
def test_a_second_process_on_a_workdir_is_refused_at_once(tmp_path):
  """While a run trains, the same command in the same workdir exits 2 with one line; the first
  run is undisturbed (SIGTERM later stops it cleanly, every epoch logged once)."""
  workdir = str(tmp_path / 'run')
  first = subprocess.Popen([sys.executable, '-m', 'experiments.cifar100', *CLI_RUN,
                            '--config.epochs=3000', f'--workdir={workdir}'], cwd=str(tmp_path),
                           env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.time() + 600
    while not _rows(workdir) and time.time() < deadline and first.poll() is None:
      time.sleep(0.2)
    assert first.poll() is None, first.communicate()[1][-2000:]
    start = time.time()
    second = _cli(workdir, '--config.epochs=3000', cwd=str(tmp_path))
    assert second.returncode == 2, second.stderr[-2000:]
    lines = second.stderr.strip().splitlines()
    assert lines[0] == (f'experiments.cifar100: error: {workdir} is in use by process '
                        f'{first.pid} on host {socket.gethostname()} (since '
                        + lines[0].split('(since ')[1])
    assert 'One process per workdir' in lines[0] and len(lines) == 2
    assert time.time() - start < 120  # refused before compiling anything
    assert first.poll() is None  # the first run goes on
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=300)
  finally:
    if first.poll() is None:
      first.kill()
  assert first.returncode == 143, err[-2000:]
  rows = _rows(workdir)
  assert [r['epoch'] for r in rows] == list(range(1, len(rows) + 1))  # no duplicated rows
  assert not os.path.exists(os.path.join(workdir, workdir_lib.LOCK_FILE))


# ------------------------------------------------------------------------------------------------
# 3. Verified checkpoints.
def test_a_checkpoint_whose_state_changed_on_disk_is_moved_aside(tmp_path, caplog):
  """Checkpoint 2's arrays replaced by checkpoint 1's (readable, but not what was written)."""
  checkpoints = checkpointing.Checkpoints(str(tmp_path), asynchronous=False)
  target = {'w': np.zeros(5, np.float32)}
  checkpoints.save(1, {'w': np.full(5, 1.0, np.float32)}, {'epoch': 1}, None)
  checkpoints.save(2, {'w': np.full(5, 2.0, np.float32)}, {'epoch': 2}, None)
  checkpoints.close()
  state_2 = tmp_path / 'checkpoints' / '2' / 'state'
  shutil.rmtree(state_2)
  shutil.copytree(tmp_path / 'checkpoints' / '1' / 'state', state_2)
  checkpoints = checkpointing.Checkpoints(str(tmp_path), asynchronous=False)
  with caplog.at_level(logging.WARNING):
    state, meta = checkpoints.restore_latest(target)
  checkpoints.close()
  np.testing.assert_array_equal(state['w'], np.full(5, 1.0, np.float32))
  assert meta['epoch'] == 1
  warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
  assert len(warnings) == 1 and 'unreadable checkpoint(s) 2 moved to' in warnings[0]
  assert 'ChecksumMismatchError: checksum mismatch' in warnings[0]
  assert os.path.isdir(tmp_path / 'unreadable_checkpoints' / '2')


def test_the_checksum_sees_every_single_bit(tmp_path):
  """Each one-bit change of a float32 array changes its word checksum (odd weights mod 2**32)."""
  x = np.random.default_rng(0).standard_normal(64).astype(np.float32)
  _, base = checkpointing.inspect_state({'x': x})
  bits = x.view(np.uint32)
  for position in (0, 17, 63):
    for bit in (0, 9, 22, 31):
      flipped = bits.copy()
      flipped[position] ^= np.uint32(1 << bit)
      _, changed = checkpointing.inspect_state({'x': flipped.view(np.float32)})
      assert changed[0][3] != base[0][3], (position, bit)
  swapped = x.copy()
  swapped[[3, 4]] = swapped[[4, 3]]
  assert checkpointing.inspect_state({'x': swapped})[1][0][3] != base[0][3]
  # The word checksum is sum_i bits_i * (2 i + 1) mod 2**32, computed here in numpy.
  expected = int(np.sum(bits.astype(np.uint64) * (2 * np.arange(64, dtype=np.uint64) + 1))
                 % (1 << 32))
  assert base[0][3] == expected


@pytest.mark.slow
def test_flipped_bytes_in_a_checkpoint_fall_back_with_one_warning_line(uninterrupted, tmp_path):
  """A few bytes of the newest checkpoint's largest array file flipped: the command moves it
  aside with one warning line, retrains the last step from checkpoint 3, and ends as before."""
  reference_dir, _, reference_summary = uninterrupted
  workdir = str(tmp_path / 'run')
  shutil.copytree(reference_dir, workdir)
  data = os.path.join(workdir, 'checkpoints', '4', 'state', 'ocdbt.process_0', 'd')
  biggest = max(os.listdir(data), key=lambda n: os.path.getsize(os.path.join(data, n)))
  raw = bytearray(open(os.path.join(data, biggest), 'rb').read())
  for k in range(4):
    raw[len(raw) // 2 + 97 * k] ^= 0xFF
  with open(os.path.join(data, biggest), 'wb') as f:
    f.write(bytes(raw))
  result = _cli(workdir, cwd=str(tmp_path))
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr[-3000:]
  assert 'unreadable checkpoint(s) 4 moved to' in lines[0]
  assert 'resuming from checkpoint 3 at epoch 2, step 1' in lines[0]  # the one before 4
  summary = json.load(open(os.path.join(workdir, 'summary.json')))
  for key in ('best_top1', 'last_top1', 'epochs_done'):
    assert summary[key] == reference_summary[key], key
  assert [r['epoch'] for r in _rows(workdir)] == [1, 2]


# ------------------------------------------------------------------------------------------------
# 4. The workdir stays the workdir.
@pytest.mark.parametrize('name', ['metrics.jsonl', 'config.json', 'checkpoints', 'summary.json'])
def test_a_link_inside_the_workdir_is_refused_before_anything_is_written(config, tmp_path, name):
  outside = tmp_path / 'outside'
  outside.mkdir()
  target = outside / 'precious'
  target.write_text('keep me\n') if name != 'checkpoints' else target.mkdir()
  workdir = tmp_path / 'run'
  workdir.mkdir()
  os.symlink(target, workdir / name)
  with pytest.raises(workdir_lib.WorkdirError,
                     match=rf'{workdir}/{name} is a symbolic link \(to {target}\); a run writes '
                           r'only inside its workdir'):
    train.train_and_evaluate(config, str(workdir))
  assert sorted(os.listdir(workdir)) == [name]
  if name != 'checkpoints':
    assert target.read_text() == 'keep me\n'
  else:
    assert os.listdir(target) == []


def test_a_link_created_during_a_run_is_not_followed(tmp_path):
  outside = tmp_path / 'outside.txt'
  outside.write_text('keep me\n')
  os.symlink(outside, tmp_path / 'metrics.jsonl')
  with pytest.raises(workdir_lib.WorkdirError, match='is a symbolic link'):
    workdir_lib.append_text(str(tmp_path / 'metrics.jsonl'), '{"epoch": 1}\n')
  workdir_lib.write_text(str(tmp_path / 'metrics.jsonl'), '{"epoch": 1}\n')  # replaces the link
  assert not os.path.islink(tmp_path / 'metrics.jsonl')
  assert outside.read_text() == 'keep me\n'


@pytest.mark.parametrize('text, problem', [
    ('[1, 2]', 'holds a JSON list, not an object'),
    ('{"method": "ce", ', 'is not valid JSON'),
])
def test_a_damaged_config_file_is_one_clear_error(config, tmp_path, text, problem):
  (tmp_path / 'config.json').write_text(text)
  with pytest.raises(workdir_lib.WorkdirError, match=rf'config.json {problem}.*the workdir is '
                                                     r'damaged'):
    checkpointing.check_config(str(tmp_path), config)
  assert (tmp_path / 'config.json').read_text() == text


def test_damaged_metrics_are_one_clear_error_and_a_cut_last_row_is_dropped(tmp_path):
  from kdjax import logs  # pylint: disable=import-outside-toplevel
  path = tmp_path / 'metrics.jsonl'
  path.write_text('{"epoch": 1, "loss": 2.0}\n{"epoch": 2, "loss": 1.5}\n{"epoch": 3, "lo')
  assert [r['epoch'] for r in logs.read_metrics(str(tmp_path))] == [1, 2]
  path.write_text('{"epoch": 1, "loss": 2.0}\n["not", "a row"]\n{"epoch": 3}\n')
  with pytest.raises(workdir_lib.WorkdirError, match=r'metrics.jsonl line 2 is not a metrics row'):
    logs.MetricWriter(str(tmp_path), resume_epoch=3)
  assert path.read_text().startswith('{"epoch": 1, "loss": 2.0}\n["not"')  # left as it was


def test_checkpoint_metadata_of_the_wrong_type_or_an_impossible_step(tmp_path, caplog):
  target = {'w': np.zeros(2, np.float32)}
  checkpoints = checkpointing.Checkpoints(str(tmp_path), asynchronous=False)
  checkpoints.save(1, target, {'epoch': 0, 'step': 1}, None)
  checkpoints.save(2, target, {'epoch': 'one', 'step': 0}, None)  # the wrong type
  with caplog.at_level(logging.WARNING):
    _, meta = checkpoints.restore_latest(target, steps_per_epoch=2)
  assert meta == {'epoch': 0, 'step': 1}
  warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
  assert len(warnings) == 1 and "metadata epoch='one' is not a count" in warnings[0]
  checkpoints.save(9, target, {'epoch': 2, 'step': 5}, None)  # step 5 of 2-step epochs
  with pytest.raises(workdir_lib.WorkdirError, match=r'checkpoint 9 in .* cannot belong to this '
                     r'run \(metadata step=5 is impossible with 2 steps per epoch\)'):
    checkpoints.restore_latest(target, steps_per_epoch=2)
  checkpoints.close()


# ------------------------------------------------------------------------------------------------
# 5. A full disk.
@pytest.fixture
def small_disk(tmp_path):
  mount = tmp_path / 'disk'
  mount.mkdir()
  result = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', str(mount)],
                          capture_output=True, text=True)
  if result.returncode:
    pytest.skip(f'cannot mount a small tmpfs here (needs root / CAP_SYS_ADMIN): '
                f'{result.stderr.strip()}')
  try:
    yield mount
  finally:
    subprocess.run(['umount', '-l', str(mount)], check=False)


def _fill(directory):
  """Writes ``directory/filler`` (unbuffered) until the device is full."""
  fd = os.open(os.path.join(directory, 'filler'), os.O_WRONLY | os.O_CREAT)
  try:
    for size in (1 << 20, 1 << 12, 1):
      try:
        while True:
          os.write(fd, b'\0' * size)
      except OSError:
        pass
  finally:
    os.close(fd)


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_the_same_command_resumes(small_disk, tmp_path):
  """The device fills up after epoch 2: exit 2, one line naming the path and what is intact;
  with space freed, the same command finishes the run, every epoch logged once."""
  workdir = str(small_disk / 'run')
  command = [sys.executable, '-m', 'experiments.cifar100', *CLI_RUN, '--config.epochs=30',
             f'--workdir={workdir}']
  proc = subprocess.Popen(command, cwd=str(tmp_path), env=_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.time() + 600
    while len(_rows(workdir)) < 2 and time.time() < deadline and proc.poll() is None:
      time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGSTOP)  # the device fills up between two of its writes
    _fill(str(small_disk))
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=300)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 2, err[-3000:]
  lines = err.strip().splitlines()
  assert len(lines) == 2 and lines[1] == '(--debug shows the traceback)', err[-3000:]
  assert lines[0].startswith(f'experiments.cifar100: error: no space left on the device writing '
                             f'{workdir}')
  assert 'intact in' in lines[0] and '(the newest complete one)' in lines[0]
  assert 'Free some space and run the same command to resume' in lines[0]
  logged = len(_rows(workdir))
  assert logged >= 2 and f'metrics of epochs 1-{logged}' in lines[0]
  os.unlink(small_disk / 'filler')
  done = subprocess.run(command, cwd=str(tmp_path), env=_env(), capture_output=True, text=True,
                        timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  assert [r['epoch'] for r in _rows(workdir)] == list(range(1, 31))  # nothing lost or doubled


# ------------------------------------------------------------------------------------------------
# Data: a corrupt JPEG, labels, empty splits.
def _jpeg(seed):
  image = np.random.default_rng(seed).integers(0, 256, (48, 40, 3), dtype=np.uint8)
  out = io.BytesIO()
  Image.fromarray(image).save(out, format='JPEG')
  return out.getvalue()


def _records(count, corrupt=()):
  records = [{'image': _jpeg(i), 'label': i % 7, 'file_name': f'img_{i:03d}.JPEG'}
             for i in range(count)]
  for i in corrupt:
    records[i]['image'] = records[i]['image'][:20] + b'\x00garbage' * 4  # a cut, garbled JPEG
  return records


def _streaming(train, test, skip):
  return sources.StreamingSource(train, test, name='test-jpegs', num_classes=1000,
                                 image_size=16, resize_size=18, mean=(0.5,) * 3, std=(0.2,) * 3,
                                 skip_corrupt=skip)


def test_a_corrupt_jpeg_names_its_record_and_file(tmp_path):
  source = _streaming(_records(16, corrupt=[5]), _records(8), skip=False)
  mesh = jax.sharding.Mesh(np.asarray(jax.devices()[:1]), ('data',))
  with pytest.raises(imagenet.CorruptImageError) as failed:
    for _ in source.train_batches(0, 1, 2, 0, 8, mesh):
      pass
  message = str(failed.value)
  assert message.startswith('train record 5 (img_005.JPEG): the image cannot be decoded (')
  assert message.endswith('set --config.skip_corrupt_images=True to skip corrupt images (counted '
                          'and reported)')


def test_corrupt_images_can_be_skipped_and_are_counted(caplog):
  train_records = _records(16, corrupt=[5, 6])
  source = _streaming(train_records, _records(8, corrupt=[3]), skip=True)
  mesh = jax.sharding.Mesh(np.asarray(jax.devices()[:1]), ('data',))
  with caplog.at_level(logging.WARNING):
    batches = list(source.train_batches(0, 1, 2, 0, 8, mesh))
    evaluation = list(source.eval_batches(8, mesh))
  assert source.skipped == {'train': 2, 'test': 1}
  assert all('corrupt' not in b and 'corrupt_reason' not in b for b in batches + evaluation)
  order = np.concatenate([b['index'] for b in batches])
  for row, index in enumerate(order):  # 5 and 6 are replaced by record 7, image and label
    used = 7 if index in (5, 6) else index
    image = np.asarray(Image.open(io.BytesIO(train_records[used]['image'])).convert('RGB'))
    expected = imagenet.train_transform(image, imagenet.example_rng(0, 1, int(used)),
                                        image_size=16)
    np.testing.assert_array_equal(batches[row // 8]['image'][row % 8], expected)
    assert batches[row // 8]['label'][row % 8] == train_records[used]['label']
  np.testing.assert_array_equal(evaluation[0]['mask'], [1, 1, 1, 0, 1, 1, 1, 1])  # a miss
  messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
  assert any('2 skipped in the train split so far' in m for m in messages), messages
  assert any('corrupt test image(s) counted as misses (records 3' in m for m in messages)


def test_labels_must_be_integers_in_range():
  with pytest.raises(arrays.DatasetCorruptError, match=r'labels must be integers, got float64 '
                                                       r'\(e.g. 2.7 at row 1\); refusing to truncate'):
    arrays.integer_labels([1.0, 2.7, 3.0], 10, 'x')
  with pytest.raises(arrays.DatasetCorruptError, match=r'must lie in \[0, 10\), got \[-1, 3\]'):
    arrays.integer_labels(np.array([3, -1]), 10, 'x')
  np.testing.assert_array_equal(arrays.integer_labels(np.array([3, 9], np.int64), 10, 'x'), [3, 9])
  with pytest.raises(arrays.DatasetCorruptError, match=r'record 4: the label 3.5 is not an integer'):
    arrays.record_label({'label': 3.5}, 10, 'train', 4)
  with pytest.raises(arrays.DatasetCorruptError, match=r'record 4: the label 10 is not in \[0, 10\)'):
    arrays.record_label({'label': np.int64(10)}, 10, 'train', 4)
  # A CIFAR pickle whose fine labels are floats is refused, not truncated.
  raw = pickle.dumps({b'data': np.zeros((2, 3072), np.uint8), b'fine_labels': [1.5, 2.0]})
  with pytest.raises(arrays.DatasetCorruptError, match='labels must be integers, got float64'):
    cifar._decode_python('cifar-100-python/train', raw)  # pylint: disable=protected-access
  # A streamed record with a float label is refused in the batch that reads it.
  records = _records(8)
  records[2]['label'] = 2.9
  source = _streaming(records, _records(8), skip=False)
  mesh = jax.sharding.Mesh(np.asarray(jax.devices()[:1]), ('data',))
  with pytest.raises(arrays.DatasetCorruptError, match='train record 2: the label 2.9'):
    list(source.train_batches(0, 1, 1, 0, 8, mesh))


def test_an_empty_split_is_refused_before_training(config, tmp_path):
  empty = arrays.ArrayDataset(np.zeros((0, 8, 8, 3), np.uint8), np.zeros((0,), np.int32), 10,
                              'digits/test')
  full = arrays.ArrayDataset(np.zeros((4, 8, 8, 3), np.uint8), np.zeros((4,), np.int32), 10,
                             'digits/train')
  with pytest.raises(ValueError, match=r'the evaluation split digits/test is empty \(0 examples\)'):
    sources.InMemorySource(full, empty, (0.5,) * 3, (0.2,) * 3)
  with pytest.raises(ValueError, match=r'the training split test-jpegs \(train\) is empty'):
    _streaming([], _records(2), skip=False)
  empty_run = config_lib.from_mapping(config.to_dict())
  empty_run.smoke_examples = 0
  start = time.time()
  with pytest.raises(ValueError, match=r'the training split random-cifar100/train is empty'):
    train.train_and_evaluate(empty_run, str(tmp_path / 'run'))
  assert time.time() - start < 60  # nothing compiled
  assert not (tmp_path / 'run').exists()


# ------------------------------------------------------------------------------------------------
# A lost multi-host peer.
_PEER_SCRIPT = textwrap.dedent('''
    import sys
    from kdjax import config as config_lib, recipes, train
    config = config_lib.smoke_config(recipes.method_config('ce', None, 'resnet8'))
    config.distributed, config.peer_timeout, config.epochs = True, float(sys.argv[2]), 200
    train.train_and_evaluate(config, sys.argv[1])
''')


def _free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_a_killed_peer_stops_the_other_process_with_one_line_within_the_timeout(tmp_path):
  """Two processes (jax.distributed on CPU, peer_timeout=10): process 1 is killed once training
  runs; process 0 stops within about peer_timeout / 2 with one line, exit status 3, its
  checkpoints intact (instead of an abort with a C++ stack trace after JAX's heartbeat timeout)."""
  workdir = str(tmp_path / 'run')
  base = _env(JAX_NUM_CPU_DEVICES='1', JAX_COORDINATOR_ADDRESS=f'localhost:{_free_port()}',
              JAX_NUM_PROCESSES='2')
  procs = [subprocess.Popen([sys.executable, '-c', _PEER_SCRIPT, workdir, '10'],
                            env=dict(base, JAX_PROCESS_ID=str(rank)), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for rank in range(2)]
  try:
    deadline = time.time() + 600
    while len(_rows(workdir)) < 2 and time.time() < deadline and procs[0].poll() is None:
      time.sleep(0.2)
    assert procs[0].poll() is None, procs[0].communicate()[1][-3000:]
    procs[1].kill()
    killed = time.time()
    _, err = procs[0].communicate(timeout=120)
    waited = time.time() - killed
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
  assert procs[0].returncode == 3, err[:6000]
  assert waited < 60, waited  # detection after 5 s of silence (+ one 1.25 s poll)
  ours = [line for line in err.splitlines() if line.startswith('error: process(es) 1 of this')]
  assert len(ours) == 1 and 'gave no sign of life for 5 s (half of peer_timeout=10)' in ours[0]
  assert 'Checkpoints already saved are intact' in ours[0]
  assert 'Check failure stack trace' not in err
  saved = [n for n in os.listdir(os.path.join(workdir, 'checkpoints')) if n.isdigit()]
  assert saved, os.listdir(os.path.join(workdir, 'checkpoints'))
