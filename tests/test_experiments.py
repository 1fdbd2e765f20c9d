"""The commands: every method trains end to end in --smoke mode; teachers; flags; the main job."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from absl import flags

from experiments import cifar100
from experiments import train_teacher
from kdjax import config as config_lib
from kdjax import convert

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = ['--teacher=resnet14', '--student=resnet8', '--smoke']


def _flags(argv, define=cifar100.define_flags):
  fv = flags.FlagValues()
  define(fv, argv=['prog', *argv])
  fv(['prog', *argv])
  return fv


def _rows(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


@pytest.mark.parametrize('method', config_lib.METHODS)
def test_every_method_trains_end_to_end_in_smoke_mode(method, tmp_path, capsys):
  workdir = str(tmp_path / method)
  result = cifar100.run(_flags([f'--method={method}', f'--workdir={workdir}', *SMOKE]))
  assert 'best top-1' in capsys.readouterr().out
  rows = _rows(workdir)
  assert [r['epoch'] for r in rows] == [1, 2]
  for row in rows:
    assert all(np.isfinite(v) for v in row.values())
  names = {'none': ('train_ce',), 'mlkd': ('train_ce', 'train_kd', 'train_cc', 'train_bc')}
  for name in names.get(config_lib.method_config(method, 'a', 'b').loss, ('train_ce', 'train_kd')):
    assert name in rows[0], name
  assert result.summary['epochs_done'] == 2 and int(result.state.step) == 4
  if method != 'ce':
    assert result.summary['teacher_top1'] is not None
  if method.startswith('dkd'):  # Smoke warm-up of 2 epochs: factor min(e / 2, 1).
    assert [r['dkd_warmup'] for r in rows] == [0.5, 1.0]
  if method.startswith('ctkd'):  # Smoke lambda ramp of 2 epochs: cosine 0 -> -1.
    np.testing.assert_allclose([r['ctkd_lambda'] for r in rows], [-0.5, -1.0], atol=1e-6)
    assert rows[0]['train_temperature_mean'] != rows[1]['train_temperature_mean']
  if method.endswith('maxlogit'):
    assert rows[0]['train_temperature_min'] < rows[0]['train_temperature_max']


def test_flags_override_the_method_preset():
  c = cifar100.config_from_flags(_flags(['--method=kd_ls', '--teacher=resnet110',
                                         '--student=resnet20', '--kd_weight=3', '--ctkd_t_start=2',
                                         '--lr_decay_epochs=100,200']))
  assert (c.method, c.standardize, c.temperature) == ('kd_ls', True, 4.0)  # Per-pair tau 4.
  assert (c.kd_weight, c.ctkd.t_start, tuple(c.lr_decay_epochs)) == (3.0, 2.0, (100, 200))
  default = cifar100.config_from_flags(_flags([]))
  assert (default.method, default.teacher, default.student) == ('kd', 'resnet32x4', 'resnet8x4')
  assert cifar100.default_workdir(default) == os.path.join(
      'runs', 'cifar100', 'resnet32x4-resnet8x4-kd-seed0')


def test_config_file_flag_with_overrides(tmp_path):
  path = tmp_path / 'cells.py'
  path.write_text(
      'from kdjax import config\n'
      'def get_config(cell):\n'
      '  method, teacher, student = cell.split("/")\n'
      '  return config.for_cell(teacher, student, method)\n')
  c = cifar100.config_from_flags(_flags([f'--config={path}:dkd_ls/resnet56/resnet20',
                                         '--config.seed=3', '--epochs=7']))
  assert (c.method, c.temperature, c.kd_weight, c.dkd_beta) == ('dkd_ls', 3.0, 18.0, 2.0)
  assert (c.seed, c.epochs) == (3, 7)
  smoke = cifar100.config_from_flags(_flags([f'--config={path}:dkd/resnet56/resnet20', '--smoke',
                                             '--batch_size=4']))
  assert smoke.smoke and (smoke.batch_size, smoke.epochs, smoke.dkd_beta) == (4, 2, 2.0)
  changed = cifar100.config_from_flags(_flags([f'--config={path}:dkd/resnet56/resnet20',
                                               '--method=kd']))
  assert (changed.method, changed.teacher, changed.temperature) == ('kd', 'resnet56', 4.0)


def test_trained_teacher_is_saved_and_used_by_the_student_run(tmp_path, capsys):
  output = str(tmp_path / 'teacher')
  argv = ['--model=resnet14', '--smoke', '--epochs=1', f'--workdir={tmp_path / "t"}']
  fv = _flags(argv, define=train_teacher.define_flags)
  config = cifar100.config_from_flags(fv, base=train_teacher.teacher_config(fv.model))
  assert (config.method, config.student, config.epochs) == ('ce', 'resnet14', 1)
  summary, metadata = train_teacher.train_teacher(config, fv.workdir, output)
  assert metadata['model'] == 'resnet14' and metadata['num_classes'] == 100
  _, variables = convert.load_teacher(output)
  assert set(variables) == {'params', 'batch_stats'}
  result = cifar100.run(_flags(['--method=kd', f'--teacher_checkpoint={output}', '--epochs=1',
                                f'--workdir={tmp_path / "s"}', *SMOKE]))
  # Same seed -> same random smoke test set: the loaded teacher scores what it scored when saved.
  assert result.summary['teacher_top1'] == summary['last_top1']
  assert 'teacher top-1' in capsys.readouterr().out


def test_main_job_prints_the_table(tmp_path):
  command = [sys.executable, '-m', 'experiments.distill', f'--workdir={tmp_path}',
             '--methods=ce,kd_ls', '--seeds=0,1', '--epochs=1', '--teacher_epochs=1',
             '--teacher=resnet8', '--student=resnet8']
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]))
  out = subprocess.run(command, env=env, cwd=REPO, check=True, capture_output=True, text=True,
                       timeout=900).stdout
  lines = out.splitlines()
  header = next(i for i, line in enumerate(lines) if line.startswith('model / method'))
  table = lines[header:header + 5]
  assert table[2].startswith('teacher resnet8')
  for line, method in zip(table[3:], ('ce', 'kd_ls')):
    assert line.split()[:2] == [method, '2'] and '+-' in line
  assert 'total wall time' in out
  assert os.path.exists(tmp_path / 'results.txt')
  assert sorted(os.listdir(tmp_path / 'kd_ls')) == ['seed0', 'seed1']
