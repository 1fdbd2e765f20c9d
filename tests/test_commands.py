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


@pytest.mark.slow
@pytest.mark.parametrize('sig, code', [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_cleanly_saves_and_the_same_command_resumes(tmp_path, sig, code):
  workdir = str(tmp_path / 'run')
  proc = subprocess.Popen(_train_command(workdir), cwd=str(tmp_path), env=_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 600
  while len(_rows(workdir)) < 2 and time.time() < deadline and proc.poll() is None:
    time.sleep(0.2)
  assert proc.poll() is None, proc.communicate()[1][-2000:]
  proc.send_signal(sig)
  out, err = proc.communicate(timeout=300)
  assert proc.returncode == code, err[-2000:]
  name = signal.Signals(sig).name
  assert f'stopped by {name} at epoch' in err and 'run the same command again to resume' in err
  assert 'Traceback' not in err and len(err.strip().splitlines()) <= 3, err
  stopped_at = len(_rows(workdir))
  assert 2 <= stopped_at < 30
  done = subprocess.run(_train_command(workdir, '--config.epochs=30'), cwd=str(tmp_path),
                        env=_env(), capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, done.stderr[-2000:]
  rows = _rows(workdir)
  assert [r['epoch'] for r in rows] == list(range(1, 31))  # each epoch logged once
  assert 'kd resnet8 -> resnet8 seed 0' in done.stdout


def test_a_run_prints_its_summary_once_and_no_library_noise(tmp_path):
  done = subprocess.run([sys.executable, '-m', 'experiments.cifar100',
                         '--config=method:ce,student=resnet8,runlocal',
                         f'--workdir={tmp_path / "run"}'], cwd=str(tmp_path), env=_env(),
                        capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]
  lines = (done.stdout + done.stderr).strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('ce resnet8 (no teacher) seed 0: best top-1'), lines
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
