"""What a user sees from the commands: clean interrupts that resume, quiet output, the README's
convert-then-run sequence end to end."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'tests'))


def _env():
  return dict(os.environ, JAX_PLATFORMS='cpu',
              PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]))


def _train_command(workdir, *extra):
  return [sys.executable, '-m', 'experiments.cifar100',
          '--config=method:kd,teacher=resnet8,student=resnet8,runlocal', '--config.epochs=30',
          '--config.checkpoint_every_steps=1', f'--workdir={workdir}', *extra]


def _rows(workdir):
  path = os.path.join(workdir, 'metrics.jsonl')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _start_and_signal(workdir, cwd, sig, after_rows):
  """Runs the command until ``after_rows`` epochs are logged, then sends ``sig``."""
  proc = subprocess.Popen(_train_command(workdir), cwd=cwd, env=_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 600
  while len(_rows(workdir)) < after_rows and time.time() < deadline and proc.poll() is None:
    time.sleep(0.2)
  assert proc.poll() is None, proc.communicate()[1][-2000:]
  proc.send_signal(sig)
  _, err = proc.communicate(timeout=300)
  return proc.returncode, err


@pytest.mark.slow
def test_signals_stop_cleanly_save_and_the_same_command_resumes(tmp_path):
  """Ctrl-C (exit 130), then SIGTERM as schedulers send it (exit 143), then the same command
  finishes the run: every epoch logged once."""
  workdir = str(tmp_path / 'run')
  stopped_at = 0
  for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
    returncode, err = _start_and_signal(workdir, str(tmp_path), sig, stopped_at + 2)
    assert returncode == code, err[-2000:]
    name = signal.Signals(sig).name
    assert f'stopped by {name} at epoch' in err and 'run the same command again to resume' in err
    assert 'Traceback' not in err and len(err.strip().splitlines()) <= 3, err
    rows = _rows(workdir)
    assert [r['epoch'] for r in rows] == list(range(1, len(rows) + 1))
    assert stopped_at + 2 <= len(rows) < 30
    stopped_at = len(rows)
  done = subprocess.run(_train_command(workdir), cwd=str(tmp_path), env=_env(),
                        capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, done.stderr[-2000:]
  rows = _rows(workdir)
  assert [r['epoch'] for r in rows] == list(range(1, 31))  # each epoch logged once
  assert 'kd resnet8 -> resnet8 seed 0' in done.stdout


@pytest.mark.slow
def test_a_run_prints_its_summary_once_and_no_library_noise(tmp_path):
  done = subprocess.run([sys.executable, '-m', 'experiments.cifar100',
                         '--config=method:ce,student=resnet8,runlocal',
                         f'--workdir={tmp_path / "run"}'], cwd=str(tmp_path), env=_env(),
                        capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]
  assert not done.stderr.strip(), done.stderr  # no library noise
  lines = done.stdout.strip().splitlines()
  assert lines[0].startswith('ce resnet8, cifar100, seed 0, 2 epochs: new run in')
  settings = lines.index('settings that differ from the defaults (kdjax.config):')
  epochs = [line for line in lines if line.startswith('epoch ')]
  assert len(epochs) == 2 and lines[settings + 1:-3] == [l for l in lines[settings + 1:-3]
                                                         if l.startswith('  ')]
  assert lines[-3:-1] == epochs  # one plain line per epoch (output is not a terminal)
  assert lines[-1].startswith('ce resnet8 (no teacher) seed 0: best top-1')  # the summary, once
  assert sum('best top-1' in line for line in lines) == 1
  verbose = subprocess.run([sys.executable, '-m', 'experiments.cifar100',
                            '--config=method:ce,student=resnet8,runlocal', '--verbosity=0',
                            f'--workdir={tmp_path / "run"}'], cwd=str(tmp_path), env=_env(),
                           capture_output=True, text=True, timeout=600)
  assert verbose.returncode == 0
  assert 'resuming' in verbose.stderr  # --verbosity=0 brings the INFO logs back


@pytest.mark.slow
def test_convert_then_run_a_table_cell_with_teachers_dir(tmp_path):
  """README: convert a released teacher into DIR/<name>, then run a cell with teachers=DIR."""
  torch = pytest.importorskip('torch')
  import torch_models  # pylint: disable=import-outside-toplevel
  torch.manual_seed(0)
  released = tmp_path / 'released' / 'resnet56_vanilla'
  released.mkdir(parents=True)
  torch.save({'model': torch_models.build('resnet56', 100).state_dict(), 'epoch': 240},
             str(released / 'ckpt_epoch_240.pth'))
  teachers = tmp_path / 'teachers'
  convert = subprocess.run(
      [sys.executable, '-m', 'experiments.convert_teacher', '--model', 'resnet56',
       '--checkpoint', str(released / 'ckpt_epoch_240.pth'), '--out', str(teachers / 'resnet56')],
      cwd=str(tmp_path), env=_env(), capture_output=True, text=True, timeout=600)
  assert convert.returncode == 0, convert.stderr[-2000:]
  assert convert.stdout.startswith('model: resnet56') and convert.stderr.strip() == ''
  for directory in (teachers, tmp_path / 'released'):  # both layouts
    run = subprocess.run(
        [sys.executable, '-m', 'experiments.cifar100',
         f'--config=seed001_table2:resnet56-resnet20-kd,runlocal,teachers={directory}',
         f'--workdir={tmp_path / directory.name}'], cwd=str(tmp_path), env=_env(),
        capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    config = json.load(open(tmp_path / directory.name / 'config.json'))
    expected = (str(teachers / 'resnet56') if directory == teachers
                else str(released / 'ckpt_epoch_240.pth'))
    assert config['teacher_checkpoint'] == expected
  summaries = [json.load(open(tmp_path / d / 'summary.json')) for d in ('teachers', 'released')]
  assert summaries[0]['teacher_top1'] == summaries[1]['teacher_top1']  # the same teacher
  assert np.isfinite(summaries[0]['best_top1'])
