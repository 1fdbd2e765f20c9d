"""The commands: --config files and overrides, brief errors, every method end to end (smoke), teachers,
runs from any directory, and the main job."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from absl import flags
from ml_collections import config_flags

from experiments import cli
from experiments import sweep
from experiments import train_teacher
from experiments.configs import method as method_file
from kdjax import checkpointing
from kdjax import config as config_lib
from kdjax import convert

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _parse(argv, default=os.path.join(cli.CONFIG_DIR, 'method.py')):
  """``--config`` and its overrides parsed as ``experiments.cifar100`` defines them."""
  argv = cli.resolve_config_argv(['prog', *argv])
  fv = flags.FlagValues()
  config_flags.DEFINE_config_file('config', default, flag_values=fv, lock_config=True,
                                  sys_argv=argv)
  fv(argv)
  return fv.config


def _env():
  return dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]),
              JAX_DISABLE_MOST_OPTIMIZATIONS='true', JAX_PLATFORMS='cpu')


def _command(args, *, cwd=REPO, timeout=600):
  """Runs ``python -m <args>`` (the repository on the path, cheaper XLA compilations)."""
  return subprocess.run([sys.executable, '-m', *args], env=_env(), cwd=cwd, capture_output=True,
                        text=True, timeout=timeout)


# ------------------------------------------------------------------------------------------------
# --config and --config.<field> overrides (in process, as the commands parse them).
def test_command_line_overrides_then_the_method_is_derived():
  """``--config.*`` overrides apply before validate derives the name: kd + LS switch = kd_ls."""
  c = _parse(['--config=experiments/configs/method.py:kd,teacher=resnet8,student=resnet8',
              '--config.logit.standardize=True', '--config.logit.weight=3'])
  assert c.method is None
  assert config_lib.validate(c).method == 'kd_ls' and c.logit.weight == 3.0
  assert cli.default_workdir(c) == os.path.join('runs', 'cifar100', 'resnet8-resnet8-kd_ls-seed0')
  c = _parse(['--config=method:kd_ls,teacher=resnet110,student=resnet20',
              '--config.ctkd.t_start=2', '--config.lr_decay_epochs=(100,200)'])
  assert (c.logit.standardize, c.logit.temperature, c.logit.weight) == (True, 4.0, 12.0)  # pair row
  assert (c.ctkd.t_start, tuple(c.lr_decay_epochs)) == (2.0, (100, 200))
  assert config_lib.validate(c).method == 'kd_ls'
  default = config_lib.validate(_parse([]))
  assert (default.method, default.teacher, default.student) == ('kd', 'resnet32x4', 'resnet8x4')
  assert cli.default_workdir(default) == os.path.join(
      'runs', 'cifar100', 'resnet32x4-resnet8x4-kd-seed0')
  cell = _parse(['--config=seed001_table2:vgg13-vgg8-kd', '--config.logit.standardize=True'])
  assert cell.method is None and config_lib.validate(cell).method == 'kd_ls'
  with pytest.raises(ValueError, match="method 'kd' does not match its switches, which give 'kd_ls'"):
    config_lib.validate(_parse(['--config=method:kd', '--config.method=kd',
                                '--config.logit.standardize=True']))


@pytest.mark.parametrize('config_arg', ['method:kd,teacher=resnet8,student=resnet8,runlocal',
                                        'seed001_table2:vgg13-vgg8-dkd'])
def test_unset_placeholders_can_be_overridden(config_arg):
  """``--config.data_dir=DATA`` (every real run needs it) works on recipe and cell configs."""
  c = _parse([f'--config={config_arg}', '--config.data_dir=/data', '--config.image_size=12',
              '--config.eval_ttm_gamma=0.5', '--config.method=kd'])
  assert (c.data_dir, c.image_size, c.eval_ttm_gamma, c.method) == ('/data', 12, 0.5, 'kd')


def test_config_file_of_the_user_with_overrides(tmp_path):
  path = tmp_path / 'cells.py'
  path.write_text(
      'from kdjax import recipes\n'
      'def get_config(cell):\n'
      '  method, teacher, student = cell.split("/")\n'
      '  config = recipes.resolve(method, teacher, student, strict=True).config\n'
      '  config.method = None\n'
      '  return config\n')
  c = _parse([f'--config={path}:dkd_ls/resnet56/resnet20', '--config.seed=3', '--config.epochs=7'])
  assert (c.logit.temperature, c.logit.weight, c.dkd.beta) == (3.0, 18.0, 2.0)
  assert (c.seed, c.epochs, config_lib.validate(c).method) == (3, 7, 'dkd_ls')
  changed = _parse([f'--config={path}:dkd/resnet56/resnet20', '--config.logit.loss=kd',
                    '--config.logit.weight=0.9'])
  assert (config_lib.validate(changed).method, changed.teacher, changed.logit.temperature) == (
      'kd', 'resnet56', 4.0)


def test_train_config_derives_the_name_after_the_overrides(monkeypatch, capsys):
  """``cli.train_config`` (what the commands call) trains the derived method in its workdir."""
  from kdjax import train  # pylint: disable=import-outside-toplevel
  seen = []

  def fake_train(config, workdir):
    seen.append((config.method, workdir))
    return train.RunResult(state=None, summary=dict(method=config.method, student='resnet8',
                                                    teacher='resnet8', seed=0, best_top1=1.0))

  monkeypatch.setattr(train, 'train_and_evaluate', fake_train)
  c = _parse(['--config=method:kd,teacher=resnet8,student=resnet8,runlocal',
              '--config.logit.standardize=True'])
  cli.train_config(c, None)
  assert seen == [('kd_ls', os.path.join('runs', 'cifar100',
                                         'resnet8-resnet8-kd_ls-seed0-smoke'))]
  out = capsys.readouterr().out.splitlines()
  assert out[0].startswith('kd_ls resnet8 -> resnet8, cifar100, seed 0, 2 epochs: new run in')
  assert '  logit.standardize = True' in out  # the settings that differ from the defaults
  assert out[-1].startswith('kd_ls resnet8 -> resnet8 seed 0: best top-1 1.00')


def test_config_paths_resolve_from_any_directory(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  configs = os.path.join(REPO, 'experiments', 'configs')
  for given in ('experiments/configs/method.py', 'method', 'method.py', 'seed001_table2'):
    resolved = cli.resolve_config_path(f'{given}:kd,runlocal')
    path, arg = resolved.split(':', 1)
    assert os.path.samefile(os.path.dirname(path), configs) and arg == 'kd,runlocal', given
  (tmp_path / 'mine.py').write_text('')
  assert cli.resolve_config_path('mine.py:x') == f'{tmp_path / "mine.py"}:x'  # a local file wins
  assert cli.resolve_config_path('nowhere.py:x') == 'nowhere.py:x'  # left to the flag's error


# ------------------------------------------------------------------------------------------------
# Bad input through the commands: exit status 2, one short message naming the problem.
def _brief_error(result, *messages):
  assert result.returncode == cli.USER_ERROR_EXIT, result.stderr
  assert 'Traceback' not in result.stderr
  lines = result.stderr.strip().splitlines()
  assert lines[-1] == '(--debug shows the traceback)', result.stderr
  error = [i for i, line in enumerate(lines) if ': error: ' in line]
  assert len(error) == 1, result.stderr
  message = '\n'.join(lines[error[0]:-1])
  for text in messages:
    assert text in message, (text, result.stderr)
  return message


R8 = 'teacher=resnet8,student=resnet8'


def test_user_errors_are_found_behind_the_config_flag_wrappers():
  """absl / ml_collections wrap a config file's error; ``cli.user_error`` finds the original."""
  with pytest.raises(flags.IllegalFlagValueError) as wrapped:  # ValueError of get_config
    _parse(['--config=method:fitnesse'])
  cause = cli.user_error(wrapped.value)
  assert isinstance(cause, ValueError) and str(cause).startswith("unknown method 'fitnesse'")  # noqa
  with pytest.raises(KeyError) as raw:  # KeyError of get_config: not wrapped
    _parse(['--config=seed001_table2:vgg13-vgg9-kd'])
  assert cli.user_error(raw.value) is raw.value
  deferred = _parse([f'--config=method:kd,{R8},teachers=/nonexistent/teachers'])
  with pytest.raises(OSError, match='Configuration is not available') as late:  # IOError: deferred
    _ = deferred.seed
  cause = cli.user_error(late.value)
  assert type(cause).__name__ == 'TeacherNotFoundError'
  assert str(cause).startswith('no resnet8 teacher in /nonexistent/teachers')
  assert cli.user_error(RuntimeError('a bug')) is None  # shown with its traceback
  assert cli.user_error(ZeroDivisionError()) is None


# Errors found while parsing the flags (the config file's get_config): fast, no jax import.
@pytest.mark.parametrize('args, messages', [
    (['experiments.cifar100', '--config=experiments/configs/method.py:fitnesse,' + R8],
     ["experiments.cifar100: error: unknown method 'fitnesse' (did you mean fitnet?); choose one "
      "of ['"]),
    (['experiments.cifar100', '--config=experiments/configs/seed001_table2.py:vgg13-vgg9-kd'],
     ["experiments.cifar100: error: table 'seed001_table2' has no cell 'vgg13-vgg9-kd' (did you "
      'mean vgg13-vgg8-kd', '; its 112 cells: python -m experiments.sweep --table=seed001_table2 '
      '--show']),
    (['experiments.cifar100', '--config=method:kd,teacher=resnet8,student=resnet99,runlocal'],
     ["experiments.cifar100: error: unknown model 'resnet99'; choose one of: resnet8,"]),
    (['experiments.imagenet', '--config=imagenet:resnet34-resnet18-fitnet'],
     ["experiments.imagenet: error: table 'imagenet' has no cell 'resnet34-resnet18-fitnet'"]),
], ids=['method', 'cell', 'model', 'imagenet_cell'])
def test_bad_config_is_one_message_with_exit_status_2(args, messages, tmp_path):
  message = _brief_error(_command([*args, f'--workdir={tmp_path}/run'], cwd=tmp_path), *messages)
  assert len(message.splitlines()) == 1
  assert not (tmp_path / 'run').exists()


# Errors found in main (after jax is imported: a few seconds each).
@pytest.mark.slow
@pytest.mark.parametrize('args, messages', [
    (['experiments.cifar100', '--config=method:kd,' + R8 + ',teachers=/nonexistent/teachers'],
     ['experiments.cifar100: error: no resnet8 teacher in /nonexistent/teachers; looked for',
      '/nonexistent/teachers/resnet8_vanilla/ckpt_epoch_240.pth']),
    (['experiments.cifar100', '--config=method:kd,' + R8, '--config.logit.loss=kl'],
     ["experiments.cifar100: error: invalid config: logit.loss must be one of"]),
    (['experiments.sweep', '--table=seed002_table3', '--cells=vgg13-vgg8-kd'],
     ["experiments.sweep: error: table 'seed002_table3' has no cell 'vgg13-vgg8-kd'"]),
], ids=['teachers_dir', 'override', 'sweep_cell'])
def test_bad_input_found_in_main_is_one_message_with_exit_status_2(args, messages, tmp_path):
  message = _brief_error(_command([*args, f'--workdir={tmp_path}/run'], cwd=tmp_path), *messages)
  assert len(message.splitlines()) <= 7  # the teacher message lists its 4 candidate paths
  assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('args', [
    ['--config=method:fitnesse,' + R8],
    ['--config=seed001_table2:vgg13-vgg9-kd'],
    pytest.param(['--config=method:kd,' + R8 + ',teachers=/nonexistent/teachers'],
                 marks=pytest.mark.slow),
], ids=['method', 'cell', 'teachers_dir'])
def test_debug_shows_the_traceback(args, tmp_path):
  result = _command(['experiments.cifar100', *args, '--debug', f'--workdir={tmp_path}/run'])
  assert result.returncode != 0 and 'Traceback (most recent call last)' in result.stderr
  assert '(--debug shows the traceback)' not in result.stderr


@pytest.mark.slow
def test_missing_teacher_checkpoint_is_one_message(tmp_path):
  result = _command(['experiments.cifar100', '--config=method:kd,' + R8 + ',runlocal',
                     '--config.teacher_checkpoint=/nonexistent/resnet8.pth',
                     f'--workdir={tmp_path}/run'])
  _brief_error(result, 'experiments.cifar100: error: no teacher checkpoint (file or directory) at '
                       '/nonexistent/resnet8.pth')


@pytest.mark.slow
def test_workdir_holding_another_config_is_refused(tmp_path):
  workdir = str(tmp_path / 'run')
  other = method_file.get_config('dkd,' + R8 + ',runlocal')
  checkpointing.check_config(workdir, config_lib.validate(other))
  before = (tmp_path / 'run' / checkpointing.CONFIG_FILE).read_text()
  result = _command(['experiments.cifar100', '--config=method:kd,' + R8 + ',runlocal',
                     f'--workdir={workdir}'])
  message = _brief_error(result, f'experiments.cifar100: error: {workdir} holds a run with a '
                                 'different config; refusing to resume or overwrite it',
                         "logit.loss: workdir has 'dkd', this run has 'kd'")
  assert len(message.splitlines()) < 20
  assert (tmp_path / 'run' / checkpointing.CONFIG_FILE).read_text() == before
  assert os.listdir(workdir) == [checkpointing.CONFIG_FILE]


# ------------------------------------------------------------------------------------------------
# Training end to end.
@pytest.fixture(scope='module')
def fast_compiles():
  """Cheaper XLA compilations (the numbers of a 2-step smoke run do not matter, its code paths do)."""
  previous = jax.config.read('jax_disable_most_optimizations')
  jax.config.update('jax_disable_most_optimizations', True)
  yield
  jax.config.update('jax_disable_most_optimizations', previous)


def _rows(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


@pytest.mark.slow
@pytest.mark.parametrize('method', config_lib.LOGIT_METHODS)
def test_every_method_trains_end_to_end_in_smoke_mode(method, tmp_path, capsys, fast_compiles):
  """One run per logit code path on CIFAR-100 (loss x policy x LS: the 13 presets; the
  feature methods train in their own tests/test_method_*.py)."""
  del fast_compiles
  workdir = str(tmp_path / method)
  config = method_file.get_config(f'{method},teacher=resnet8,student=resnet8,runlocal')
  result = cli.train_config(config, workdir)
  assert f'{method} resnet8' in capsys.readouterr().out
  rows = _rows(workdir)
  assert [r['epoch'] for r in rows] == [1, 2]
  for row in rows:
    assert all(np.isfinite(v) for v in row.values())
  names = {'none': ('train_ce',), 'mlkd': ('train_ce', 'train_kd', 'train_cc', 'train_bc')}
  for name in names.get(config.logit.loss, ('train_ce', 'train_kd')):
    assert name in rows[0], name
  assert result.summary['epochs_done'] == 2 and int(result.state.step) == 4
  assert result.summary['method'] == method
  assert (result.summary['teacher_top1'] is None) == (method == 'ce')
  if method.startswith('dkd'):  # Smoke warm-up of 2 epochs: factor min(e / 2, 1).
    assert [r['dkd_warmup'] for r in rows] == [0.5, 1.0]
  if method.startswith('ctkd'):  # Smoke lambda ramp of 2 epochs: cosine 0 -> -1.
    np.testing.assert_allclose([r['ctkd_lambda'] for r in rows], [-0.5, -1.0], atol=1e-6)
    assert rows[0]['train_temperature_mean'] != rows[1]['train_temperature_mean']
  if method.endswith('maxlogit'):
    assert rows[0]['train_temperature_min'] < rows[0]['train_temperature_max']
  summary = sweep.summarize_run(sweep.read_records(workdir))
  assert sweep.is_finished(summary, config.epochs)
  assert (summary.best_top1, summary.last_top1) == (result.summary['best_top1'],
                                                    result.summary['last_top1'])


@pytest.mark.slow
def test_trained_teacher_is_saved_and_used_by_the_student_run(tmp_path, capsys, fast_compiles):
  del fast_compiles
  output = str(tmp_path / 'teachers' / 'resnet14')  # a directory of teachers (teachers=DIR)
  base = _parse(['--config=method:ce,runlocal', '--config.epochs=1'])
  config = train_teacher.teacher_config('resnet14', config=base)
  assert (config.method, config.teacher, config.student, config.epochs) == ('ce', '', 'resnet14', 1)
  summary, metadata = train_teacher.train_teacher(config, str(tmp_path / 't'), output)
  assert metadata['model'] == 'resnet14' and metadata['num_classes'] == 100
  _, variables = convert.load_teacher(output)
  assert set(variables) == {'params', 'batch_stats'}
  student = _parse([f'--config=method:kd,teacher=resnet14,student=resnet8,runlocal,'
                    f'teachers={tmp_path / "teachers"}', '--config.epochs=1'])
  assert student.teacher_checkpoint == output
  result = cli.train_config(student, str(tmp_path / 's'))
  # Same seed -> same random smoke test set: the loaded teacher scores what it scored when saved.
  assert result.summary['teacher_top1'] == summary['last_top1']
  assert f"teacher top-1 {summary['last_top1']:.2f}" in capsys.readouterr().out


def _summary_line(stdout):
  lines = [line for line in stdout.splitlines() if ' best top-1 ' in line]
  assert len(lines) == 1, stdout
  return lines[0]


@pytest.mark.slow
def test_method_config_runs_from_any_directory_and_derives_its_name(tmp_path):
  """``--config=experiments/configs/method.py:...`` from another directory; the LS switch makes kd
  train (and be named) kd_ls; the default workdir is relative to where the command runs."""
  result = _command(['experiments.cifar100',
                     '--config=experiments/configs/method.py:kd,' + R8 + ',runlocal',
                     '--config.logit.standardize=True'], cwd=tmp_path)
  assert result.returncode == 0, result.stderr
  assert _summary_line(result.stdout).startswith('kd_ls resnet8 -> resnet8 seed 0: best top-1')
  workdir = tmp_path / 'runs' / 'cifar100' / 'resnet8-resnet8-kd_ls-seed0-smoke'
  summary = json.loads((workdir / 'summary.json').read_text())
  assert (summary['method'], summary['teacher'], summary['student']) == ('kd_ls', 'resnet8', 'resnet8')
  assert summary['epochs_done'] == 2 and summary['teacher_top1'] is not None
  stored = json.loads((workdir / checkpointing.CONFIG_FILE).read_text())
  assert stored['method'] == 'kd_ls' and stored['logit']['standardize'] and stored['smoke']


@pytest.mark.slow
def test_table_cell_runs_from_any_directory(tmp_path):
  result = _command(['experiments.cifar100', '--config=seed001_table2:resnet32x4-resnet8x4-kd,runlocal',
                     f'--workdir={tmp_path / "cell"}'], cwd=tmp_path)
  assert result.returncode == 0, result.stderr
  summary = json.loads((tmp_path / 'cell' / 'summary.json').read_text())
  assert (summary['method'], summary['teacher'], summary['student']) == ('kd', 'resnet32x4', 'resnet8x4')
  assert summary['epochs_done'] == 2 and summary['dataset'] == 'cifar100'
  assert _summary_line(result.stdout).startswith('kd resnet32x4 -> resnet8x4 seed 0: best top-1 '
                                                 f"{summary['best_top1']:.2f}")


@pytest.mark.slow
def test_main_job_tunes_on_validation_tests_once_and_resumes(tmp_path):
  args = ['experiments.distill', f'--workdir={tmp_path}', '--methods=ce,kd_ls', '--seeds=0,1',
          '--grid=0.5,2', '--epochs=1', '--teacher_epochs=1', '--teacher=resnet8',
          '--student=resnet8']
  result = _command(args, timeout=900)
  assert result.returncode == 0, result.stderr
  lines = result.stdout.splitlines()
  header = next(i for i, line in enumerate(lines) if line.startswith('method'))
  table = lines[header:header + 5]
  assert table[2].startswith('teacher resnet8') and table[3].startswith('ce ')
  assert table[4].startswith('kd_ls ') and '+-' in table[4]
  protocol = next(line for line in lines if line.startswith('protocol:'))
  assert 'tuned on validation over x{0.5, 2}' in protocol and 'read once per run' in protocol
  assert (tmp_path / 'results.txt').read_text().strip().startswith('\n'.join(table))
  # Tuning: one validation run per multiplier (seed 0), the better one chosen.
  val = {m: json.loads((tmp_path / 'kd_ls' / f'x{m}' / 'seed0' / 'summary.json').read_text())
         for m in ('0.5', '2')}
  configs = {m: json.loads((tmp_path / 'kd_ls' / f'x{m}' / 'seed0' / 'config.json').read_text())
             for m in ('0.5', '2')}
  assert {c['eval_split'] for c in configs.values()} == {'validation'}
  assert (configs['0.5']['logit']['weight'], configs['2']['logit']['weight']) == (4.5, 18.0)
  chosen = max(('0.5', '2'), key=lambda m: (val[m]['last_top1'], -abs(np.log(float(m)))))
  assert f'(x{chosen})' in table[4]
  # Testing: seed 0's chosen run read the test split once, after the choice; seed 1 trained
  # for it with the test split as its only evaluation.
  assert (tmp_path / 'kd_ls' / f'x{chosen}' / 'seed0' / 'test_top1.json').exists()
  other = 'x2' if chosen == '0.5' else 'x0.5'
  assert not (tmp_path / 'kd_ls' / other / 'seed0' / 'test_top1.json').exists()
  seed1 = json.loads((tmp_path / 'kd_ls' / f'x{chosen}' / 'seed1' / 'config.json').read_text())
  assert seed1['eval_split'] == 'test' and seed1['seed'] == 1
  assert not (tmp_path / 'kd_ls' / other / 'seed1').exists()
  # Rerunning finds everything finished: nothing is trained again, the table is the same.
  again = _command(args, timeout=900)
  assert again.returncode == 0, again.stderr
  assert again.stdout.splitlines()[header:header + 5] == table


def test_main_job_configs_follow_the_protocol():
  from experiments import distill  # pylint: disable=import-outside-toplevel
  job = distill.Job(workdir='/tmp/unused')
  tuning = distill.student_config(job, 'wttm', 0, 3.0, eval_split='validation')
  assert (tuning.dataset, tuning.image_size, tuning.augment_padding, tuning.augment_flip) == (
      'digits', 8, 1, False)
  assert tuning.validation_examples == 270 and tuning.eval_split == 'validation'
  assert tuning.logit.weight == 3 * 1.5  # resnet56 -> resnet20's WTTM beta, x3
  assert tuning.ttm.gamma == 0.3 and tuning.eval_every == tuning.epochs == 12
  assert tuning.lr_decay_epochs == (8, 9, 10) and tuning.teacher == 'resnet14'
  ce = distill.student_config(job, 'ce', 2, 3.0, eval_split='test')
  assert ce.method == 'ce' and ce.ce_weight == 1.0 and ce.seed == 2
  assert job.total_images() == 1024 * (20 + 6 * (3 + 2) * 12 + 3 * 12)
