"""What a user reads: typos with the closest names, --help / --config_help / --dry_run, the
settings printed at start, one plain line per epoch without a terminal, "resumed from", a run
extended by more epochs, the benchmark without PyTorch, and the main job's own signal handling."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from experiments import cli
from experiments import distill
from experiments import published
from experiments.benchmark import report
from experiments.benchmark import runner
from kdjax import checkpointing
from kdjax import config as config_lib
from tests import method_checks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
R8 = '--config=method:kd,teacher=resnet8,student=resnet8,runlocal'


def _env():
  return dict(os.environ, JAX_PLATFORMS='cpu',
              PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]))


def _command(args, cwd, timeout=600):
  return subprocess.run([sys.executable, '-m', *args], env=_env(), cwd=cwd, capture_output=True,
                        text=True, timeout=timeout)


# ------------------------------------------------------------------------------------------------
# Mistyped names: one error line with the closest names, exit status 2.
def test_typos_are_one_error_line_with_the_closest_names(tmp_path):
  cases = [
      (['experiments.cifar100', R8, '--config.epoch=2'],
       "experiments.cifar100: error: --config.epoch: the config has no field 'epoch' (did you "
       "mean --config.epochs?); --config_help lists the fields"),
      # A mistyped flag beside any --config.<field>: absl's message, not "defined twice".
      (['experiments.cifar100', R8, '--config.epochs=2', '--wrkdir=x'],
       "experiments.cifar100: error: Unknown command line flag 'wrkdir'. Did you mean: workdir ?"),
      (['experiments.cifar100', '--config=method:kdd,teacher=resnet8,student=resnet8'],
       "experiments.cifar100: error: unknown method 'kdd' (did you mean kd, "),
      (['experiments.sweep', '--table=seed001_table2', '--show',
        '--cells=resnet32x4-resnet8x4-kdd'],
       "experiments.sweep: error: table 'seed001_table2' has no cell 'resnet32x4-resnet8x4-kdd' "
       "(did you mean resnet32x4-resnet8x4-kd, "),
  ]
  for args, first in cases:
    result = _command([*args, f'--workdir={tmp_path}/run'], cwd=tmp_path)
    assert result.returncode == cli.USER_ERROR_EXIT, (args, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(first), (first, result.stderr)
    assert len(lines) <= 2 and 'Traceback' not in result.stderr and not result.stdout, lines
    assert 'defined twice' not in result.stderr
  assert not (tmp_path / 'run').exists()


def test_unknown_names_suggest_close_matches_without_listing_every_cell():
  with pytest.raises(published.UnknownCellError) as error:
    published.lookup('seed001_table2', 'vgg13-vgg9-kd')
  message = error.value.args[0]
  assert "(did you mean vgg13-vgg8-kd" in message and len(message) < 300, message
  assert message.endswith('its 112 cells: python -m experiments.sweep --table=seed001_table2 --show')
  with pytest.raises(ValueError, match=r"unknown method 'kd_sl' \(did you mean kd_ls"):
    distill.check_methods(['kd', 'kd_sl'])
  assert cli.unknown_config_fields(['p', '--config.epoch=2', '--config.logit.weight=1',
                                    '--config.logit', '--noconfig.smok']) == ['epoch', 'smok']


def test_help_lists_the_config_fields_and_dry_run_shows_the_run(tmp_path):
  helped = _command(['experiments.cifar100', R8, '--help'], cwd=tmp_path)
  assert helped.returncode == 0, helped.stderr
  assert '  --workdir: run directory' in helped.stdout and '--[no]dry_run: ' in helped.stdout
  epochs = next(line for line in helped.stdout.splitlines() if '--config.epochs ' in line)
  assert epochs.split()[1:] == ['2', 'training', 'epochs.']  # the value of this --config
  assert 'the term\'s weight' in helped.stdout  # --config.logit.weight's meaning
  fields = _command(['experiments.cifar100', R8, '--config_help'], cwd=tmp_path)
  assert fields.returncode == 0 and fields.stdout.startswith('config fields')
  assert '--workdir' not in fields.stdout
  # The resolved run; a repeated tuple override replaces (ml_collections would append).
  dry = _command(['experiments.cifar100', R8, '--dry_run', '--config.epochs=3',
                  '--config.lr_decay_epochs=1,2', '--config.lr_decay_epochs=2',
                  f'--workdir={tmp_path}/run'], cwd=tmp_path)
  assert dry.returncode == 0, dry.stderr
  lines = dry.stdout.splitlines()
  assert lines[0] == f'kd resnet8 -> resnet8, cifar100, seed 0, 3 epochs: new run in {tmp_path}/run'
  assert lines[1] == 'settings that differ from the defaults (kdjax.config):'
  assert '  epochs = 3' in lines and '  lr_decay_epochs = (2,)' in lines
  assert lines[-1] == 'dry run: nothing trained' and not (tmp_path / 'run').exists()


def test_last_repeated_override_wins():
  argv = ['p', '--config=x', '--config.lr_decay_epochs=1,2', '--config.seed=1',
          '--config.lr_decay_epochs=5', '--workdir=w']
  assert cli.last_overrides_win(argv) == ['p', '--config=x', '--config.seed=1',
                                          '--config.lr_decay_epochs=5', '--workdir=w']


def test_extends_only_when_epochs_alone_grows():
  config = config_lib.validate(method_checks.smoke('kd'))
  stored = json.loads(config_lib.to_json(config))
  longer = config_lib.copy_config(config)
  longer.epochs = 5
  assert checkpointing.extends(stored, longer)
  shorter = config_lib.copy_config(config)
  shorter.epochs = 1
  assert not checkpointing.extends(stored, shorter)
  changed = config_lib.copy_config(longer)
  changed.lr = 0.1
  assert not checkpointing.extends(stored, changed)
  assert not checkpointing.extends(stored, config)  # the same run: nothing to extend


def test_benchmark_skips_a_section_without_pytorch_with_one_line(monkeypatch, capsys):
  monkeypatch.setitem(sys.modules, 'torch', None)  # `import torch` raises ImportError
  monkeypatch.setattr(runner.Context, 'create', classmethod(lambda cls, options: None))
  results = report.run(runner.Options.smoke_options(sections=('torch',)))
  line = "skipped: needs torch, which is not installed (pip install 'kdjax[test]')"
  assert results['sections'] == {'torch': {'skipped': line}}
  assert capsys.readouterr().out == f'[torch] {line}\n'
  assert report.format_report(results).splitlines()[-1] == f'[torch] {line}'


# ------------------------------------------------------------------------------------------------
# Runs (slow): what a log file receives, resume and extension.
@pytest.mark.slow
def test_log_gets_settings_one_line_per_epoch_and_resumed_from(tmp_path):
  """Output not a terminal: the settings, one plain line per epoch, no carriage returns; rerun
  with more epochs: "resumed from epoch 2, step 0" and only epoch 2 trained."""
  base = ['experiments.cifar100', R8, f'--workdir={tmp_path}/run', '--config.lr_decay_epochs=5']
  first = _command([*base, '--config.epochs=1'], cwd=tmp_path)
  assert first.returncode == 0, first.stderr
  lines = first.stdout.splitlines()
  assert lines[0].endswith(f'1 epochs: new run in {tmp_path}/run') and '  epochs = 1' in lines
  epoch = [line for line in lines if line.startswith('epoch ')]
  assert len(epoch) == 1 and epoch[0].startswith('epoch 1/1  lr 0.05  train loss '), lines
  assert ' test top-1 ' in epoch[0] and epoch[0].endswith('s')
  assert '\r' not in first.stdout + first.stderr
  more = _command([*base, '--config.epochs=2'], cwd=tmp_path)
  assert more.returncode == 0, more.stderr
  lines = more.stdout.splitlines()
  assert 'resumes the run' in lines[0]
  assert f'resumed from epoch 2, step 0 ({tmp_path}/run)' in lines
  assert [line.split()[1] for line in lines if line.startswith('epoch ')] == ['2/2']
  rows = [json.loads(line) for line in open(tmp_path / 'run' / 'metrics.jsonl')]
  assert [r['epoch'] for r in rows] == [1, 2]


@pytest.mark.slow
def test_a_finished_run_extended_by_epochs_equals_the_longer_run(tmp_path):
  """Same process, same program: the extended run ends with exactly the longer run's state."""
  from kdjax import train  # pylint: disable=import-outside-toplevel
  short = method_checks.smoke('kd', epochs=1, lr_decay_epochs=(1,))
  longer = method_checks.smoke('kd', epochs=2, lr_decay_epochs=(1,))
  train.train_and_evaluate(short, str(tmp_path / 'extended'))
  extended = train.train_and_evaluate(longer, str(tmp_path / 'extended'))
  reference = train.train_and_evaluate(longer, str(tmp_path / 'reference'))
  method_checks.assert_same_state(extended.state, reference.state)
  assert extended.summary['epochs_done'] == 2
  stored = json.load(open(tmp_path / 'extended' / 'config.json'))
  assert stored['epochs'] == 2  # the workdir now holds the longer run


@pytest.mark.slow
def test_main_job_started_by_a_script_stops_on_sigint_and_saves(tmp_path):
  """A shell script's background job starts with SIGINT ignored; the job handles it anyway:
  every running run saves a checkpoint after its step, exit status 130, one message."""
  job = (f'{sys.executable} -m experiments.distill --workdir={tmp_path} --methods=kd --seeds=0 '
         '--grid=1 --epochs=60 --teacher_epochs=1 --teacher=resnet8 --student=resnet8 --workers=1')
  # As a script's background job: SIGINT ignored (``trap '' INT``), inherited through exec.
  proc = subprocess.Popen(['sh', '-c', f"trap '' INT; exec {job}"], cwd=REPO, env=_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  run = tmp_path / 'kd' / 'x1' / 'seed0'
  deadline = time.time() + 600
  while proc.poll() is None and time.time() < deadline:
    if (run / 'metrics.jsonl').exists() and len(open(run / 'metrics.jsonl').readlines()) >= 2:
      break
    time.sleep(0.2)
  assert proc.poll() is None, proc.communicate()[1][-2000:]
  proc.send_signal(signal.SIGINT)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 130, err[-2000:]
  assert 'experiments.distill: stopped by SIGINT; finished runs and saved checkpoints are kept' in err
  assert 'Traceback' not in err
  logged = len(open(run / 'metrics.jsonl').readlines())
  saved = [int(name) for name in os.listdir(run / 'checkpoints') if name.isdigit()]
  assert 2 <= logged < 60 and saved and max(saved) >= logged * 16  # 16 steps per epoch
