"""experiments.figures on tiny runs produced by the trainer: every PNG + JSON, their numbers, bad workdirs."""

import json
import os
import shutil

from absl import flags
import jax
from matplotlib import image as mpimg
import numpy as np
import pytest

from experiments import figures
from kdjax import analysis
from kdjax import config as config_lib
from kdjax import convert
from kdjax import models
from kdjax import plots
from kdjax import recipes
from kdjax import train

EPOCHS = 3
LOGIT_FIGURES = ('logit_mean_std', 'class_pair_difference', 'sample_logits', 'temperatures')
LOG_FIGURES = ('loss_correlation', 'wall_time', 'test_accuracy', 'entropy_kl')


def np_zscore(x):
  x = np.asarray(x, np.float64)
  return (x - x.mean(-1, keepdims=True)) / (1e-7 + x.std(-1, ddof=1, keepdims=True))


def np_log_softmax(x):
  x = np.asarray(x, np.float64) - np.max(x, -1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """Two KD runs (seeds 0 and 1: one compilation) of the real trainer at smoke size, digits-shaped data.

  Returns:
    `[(workdir, final TrainState)]` per run.
  """
  root = tmp_path_factory.mktemp('runs')
  config = config_lib.smoke_config(recipes.method_config('kd', 'resnet8', 'resnet8'))
  config.update(dict(dataset='digits', epochs=EPOCHS, smoke_examples=40, eval_batch_size=40,
                     checkpoint_keep=EPOCHS))
  config.method = None
  out = []
  for seed in (0, 1):
    config.seed = seed
    workdir = str(root / f'kd_seed{seed}')
    out.append((workdir, train.train_and_evaluate(config, workdir).state))
  return out


@pytest.fixture(scope='module')
def runs(trained):
  return [workdir for workdir, _ in trained]


@pytest.fixture(scope='module')
def command(runs, tmp_path_factory):
  """The command, with its own parsed flags: `--workdir A --against B --out DIR`."""
  out = str(tmp_path_factory.mktemp('figures'))
  flag_values = flags.FlagValues()
  figures.define_flags(flag_values)
  flag_values(['figures', f'--workdir={runs[0]}', f'--against={runs[1]}', f'--out={out}'])
  index = figures.run_command(flag_values)
  return index, out


def read_json(out, name):
  with open(os.path.join(out, f'{name}.json')) as f:
    return json.load(f)


@pytest.mark.slow
def test_command_writes_every_png_and_json(command):
  index, out = command
  assert sorted(index['written']) == sorted(LOGIT_FIGURES + LOG_FIGURES)
  assert index['skipped'] == {}
  for name in LOGIT_FIGURES + LOG_FIGURES:
    pixels = mpimg.imread(os.path.join(out, f'{name}.png'))
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 200, name
    assert pixels.std() > 0.01, name  # not a blank canvas
    read_json(out, name)
  with open(os.path.join(out, 'index.json')) as f:
    assert json.load(f)['epoch'] == EPOCHS


@pytest.mark.slow
def test_logits_are_the_runs_models(runs, trained, command):
  """The restored student is the trainer's final state; the logits are its and the teacher's outputs."""
  run = figures.load_run(runs[0])
  context = figures.run_context(run.config)
  restored = figures.student_variables(run, EPOCHS, context)
  final = trained[0][1]
  for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(
      {'params': final.params['student'], 'batch_stats': final.batch_stats['student']})):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
  pair = figures.run_logits(run, epoch=EPOCHS)
  images = np.asarray(context.test.images, np.float32) / 255.0
  x = (images - np.asarray(context.mean, np.float32)) / np.asarray(context.std, np.float32)
  direct = context.student.apply(
      {'params': final.params['student'], 'batch_stats': final.batch_stats['student']}, x,
      train=False)
  np.testing.assert_allclose(pair['student'], np.asarray(direct), rtol=1e-5, atol=1e-5)
  assert pair['student_top1'] == pytest.approx(run.rows[-1]['test_top1'], abs=100 / 40 + 1e-6)
  assert pair['teacher_top1'] == pytest.approx(run.summary['teacher_top1'], abs=100 / 40 + 1e-6)
  index, _ = command
  assert index['student_top1'] == pytest.approx(pair['student_top1'])


@pytest.mark.slow
def test_logit_figure_numbers_equal_direct_computation(runs, command):
  _, out = command
  pair = figures.run_logits(figures.load_run(runs[0]))
  z, v, labels = pair['student'].astype(np.float64), pair['teacher'].astype(np.float64), pair['labels']
  k = z.shape[1]

  heat = read_json(out, 'class_pair_difference')
  for key, (zz, vv) in (('raw', (z, v)), ('zscored', (np_zscore(z), np_zscore(v)))):
    expected = np.full((k, k), np.nan)
    for i in set(labels.tolist()):
      expected[i] = np.abs((zz[labels == i] - vv[labels == i]).mean(0))
      expected[i, i] = 0.0
    matrix = np.array(heat[key]['matrix'], dtype=np.float64)  # None (absent class) -> nan
    np.testing.assert_allclose(matrix, expected, rtol=1e-4, atol=1e-5)
    assert heat[key]['summary']['mean'] == pytest.approx(np.nanmean(expected), rel=1e-4)
    assert heat[key]['summary']['max'] == pytest.approx(np.nanmax(expected), rel=1e-4)

  hist = read_json(out, 'logit_mean_std')
  for who, x in (('teacher', v), ('student', z)):
    counts, _, _ = np.histogram2d(x.mean(-1), x.std(-1, ddof=1), bins=[hist['mean_edges'], hist['std_edges']])
    np.testing.assert_array_equal(hist[f'{who}_counts'], counts)
    assert np.sum(hist[f'{who}_counts']) == len(labels)
    assert hist['summary'][f'{who}_std_mean'] == pytest.approx(x.std(-1, ddof=1).mean(), rel=1e-4)

  temps = read_json(out, 'temperatures')['policies']
  maxlogit = np.maximum(np_zscore(v).max(-1), np_zscore(z).max(-1)) * (1 + np.sqrt(3)) / 2
  assert temps['max-logit tau (order 2)']['mean'] == pytest.approx(maxlogit.mean(), rel=1e-4)
  assert temps['max-logit tau (order 2)']['fraction_above']['2'] == pytest.approx(np.mean(maxlogit > 2))
  assert temps['LS teacher 2*std(v)']['mean'] == pytest.approx(2 * v.std(-1, ddof=1).mean(), rel=1e-4)

  sample = read_json(out, 'sample_logits')
  np.testing.assert_allclose(sample['student'], z[0], rtol=1e-6)
  np.testing.assert_allclose(sample['teacher_zscored'], np_zscore(v[0]), rtol=1e-4, atol=1e-6)
  assert sample['label'] == labels[0]


@pytest.mark.slow
def test_log_figure_numbers_equal_the_metrics_logs(runs, command):
  index, out = command
  rows = {run: figures.load_run(run).rows for run in runs}
  names = {run: figures.load_run(run).name for run in runs}
  accuracy = read_json(out, 'test_accuracy')['runs']
  wall = read_json(out, 'wall_time')['runs']
  for run in runs:
    assert accuracy[names[run]]['value'] == [r['test_top1'] for r in rows[run]]
    np.testing.assert_allclose(wall[names[run]]['value'], np.cumsum([r['epoch_seconds'] for r in rows[run]]))
  loss = read_json(out, 'loss_correlation')
  assert loss['train_loss'] == [r['train_loss'] for r in rows[runs[0]]]
  assert loss['train_logit_correlation'] == [r['train_logit_correlation'] for r in rows[runs[0]]]

  # The trainer logged the entropy/KL entries at every evaluation (config.eval_statistics):
  # each epoch's value is the statistic of that epoch's checkpoint against the teacher.
  entropy_kl = read_json(out, 'entropy_kl')
  assert entropy_kl['source'] == 'metrics logs' and entropy_kl['gamma'] == pytest.approx(index['gamma'])
  run = figures.load_run(runs[0])
  entropy = entropy_kl['student_entropy'][names[runs[0]]]
  kl = entropy_kl['kl_transformed_teacher'][names[runs[0]]]
  assert entropy['epoch'] == kl['epoch'] == list(range(1, EPOCHS + 1))
  for epoch in range(1, EPOCHS + 1):
    pair = figures.run_logits(run, epoch=epoch)
    log_q = np_log_softmax(pair['student'])
    log_p = np_log_softmax(index['gamma'] * pair['teacher'].astype(np.float64))
    assert entropy['value'][epoch - 1] == pytest.approx(-(np.exp(log_q) * log_q).sum(-1).mean(), rel=1e-4)
    assert kl['value'][epoch - 1] == pytest.approx((np.exp(log_p) * (log_p - log_q)).sum(-1).mean(),
                                                   rel=1e-4, abs=1e-6)
    direct = analysis.epoch_statistics(pair['student'], pair['teacher'], gamma=index['gamma'],
                                       ls_tau=float(run.config.logit.temperature))
    logged = run.rows[epoch - 1]
    for name in analysis.EPOCH_STATISTICS:
      assert logged[f'test_{name}'] == pytest.approx(float(direct[name]), rel=1e-4, abs=1e-6), name


def test_entropy_kl_is_recomputed_for_another_gamma(runs, tmp_path):
  index = figures.make_figures(runs[0], str(tmp_path), gamma=0.5)
  entropy_kl = read_json(str(tmp_path), 'entropy_kl')
  assert 'recomputed from the kept checkpoints' in entropy_kl['source'] and entropy_kl['gamma'] == 0.5
  assert 'logged another gamma' in entropy_kl['source'] and index['gamma'] == 0.5
  pair = figures.run_logits(figures.load_run(runs[0]), epoch=EPOCHS)
  log_q = np_log_softmax(pair['student'])
  log_p = np_log_softmax(0.5 * pair['teacher'].astype(np.float64))
  kl = entropy_kl['kl_transformed_teacher'][figures.load_run(runs[0]).name]
  assert kl['value'][-1] == pytest.approx((np.exp(log_p) * (log_p - log_q)).sum(-1).mean(), rel=1e-4)


def test_entropy_kl_from_logged_epoch_statistics(tmp_path):
  rows = [{'epoch': e, 'test_student_entropy': 2.0 / e, 'test_kl_transformed_teacher': 0.5 / e,
           'epoch_seconds': 1.0, 'test_top1': 10.0 * e} for e in (1, 2, 3)]
  written, skipped = plots.log_figures({'ttm seed 0': rows}, str(tmp_path))
  assert 'entropy_kl' in written and 'loss_correlation' in skipped
  data = json.loads((tmp_path / 'entropy_kl.json').read_text())
  assert data['source'] == 'metrics logs'
  assert data['student_entropy']['ttm seed 0']['value'] == [2.0, 1.0, 2.0 / 3]
  assert data['kl_transformed_teacher']['ttm seed 0']['epoch'] == [1, 2, 3]


def test_epoch_selection(runs):
  run = figures.load_run(runs[0])
  assert figures.resolve_epoch(run, 'last') == EPOCHS
  best = max(run.rows, key=lambda r: (r['test_top1'], -r['epoch']))['epoch']
  assert figures.resolve_epoch(run, 'best') == best
  with pytest.raises(figures.RunNotFoundError,
                     match=r'no checkpoint of epoch 7; kept checkpoints: \[1, 2, 3\]'):
    figures.resolve_epoch(run, 7)


def copy_run(source, target, **config_changes):
  shutil.copytree(source, target)
  if config_changes:
    path = os.path.join(target, 'config.json')
    with open(path) as f:
      values = json.load(f)
    values.update(config_changes)
    with open(path, 'w') as f:
      json.dump(values, f)
  return str(target)


def test_bad_workdirs_give_clear_errors(runs, tmp_path):
  out = str(tmp_path / 'out')
  with pytest.raises(figures.RunNotFoundError, match='no run directory at .*experiments.distill'):
    figures.make_figures(str(tmp_path / 'missing'), out)
  (tmp_path / 'empty').mkdir()
  with pytest.raises(figures.RunNotFoundError, match='has no config.json: it is not a kdjax run workdir'):
    figures.make_figures(str(tmp_path / 'empty'), out)

  no_metrics = copy_run(runs[0], tmp_path / 'no_metrics')
  os.remove(os.path.join(no_metrics, 'metrics.jsonl'))
  with pytest.raises(figures.RunNotFoundError, match='no per-epoch metrics .* run or resume it'):
    figures.make_figures(no_metrics, out)

  no_checkpoints = copy_run(runs[0], tmp_path / 'no_checkpoints')
  shutil.rmtree(os.path.join(no_checkpoints, 'checkpoints'))
  with pytest.raises(figures.RunNotFoundError, match='has no student checkpoint'):
    figures.make_figures(no_checkpoints, out)

  with pytest.raises(figures.RunNotFoundError, match='no run directory'):
    figures.make_figures(runs[0], out, against=[str(tmp_path / 'missing_against')])
  assert not os.path.exists(os.path.join(out, 'index.json'))


def test_wrong_teacher_gives_clear_errors(runs, tmp_path):
  # A teacher checkpoint of another architecture than the run's resnet8.
  other = models.create('resnet14', num_classes=10)
  shapes = jax.eval_shape(lambda key: other.init(key, np.zeros((1, 16, 16, 3), np.float32), train=False),
                          jax.random.key(0))
  variables = jax.tree.map(lambda s: np.full(s.shape, 0.01, s.dtype), shapes)  # tracing only: no eager init
  convert.save_teacher(str(tmp_path / 'resnet14_teacher'), 'resnet14', 10, variables)
  wrong_arch = copy_run(runs[0], tmp_path / 'wrong_arch',
                        teacher_checkpoint=str(tmp_path / 'resnet14_teacher'))
  with pytest.raises(figures.TeacherMismatchError, match="is not a 'resnet8' with 10 classes"):
    figures.run_logits(figures.load_run(wrong_arch))

  missing = copy_run(runs[0], tmp_path / 'missing_teacher', teacher_checkpoint=str(tmp_path / 'nowhere'))
  with pytest.raises(figures.RunNotFoundError, match='teacher of run .* is missing'):
    figures.run_logits(figures.load_run(missing))

  # The right architecture but not the teacher the run recorded (its summary's teacher top-1 differs).
  other_weights = copy_run(runs[0], tmp_path / 'other_weights')
  summary_path = os.path.join(other_weights, 'summary.json')
  with open(summary_path) as f:
    summary = json.load(f)
  summary['teacher_top1'] += 30.0
  with open(summary_path, 'w') as f:
    json.dump(summary, f)
  with pytest.raises(figures.TeacherMismatchError, match='not the teacher the run distilled from'):
    figures.run_logits(figures.load_run(other_weights))

  ce_only = copy_run(runs[0], tmp_path / 'ce_only', method='ce', logit={'loss': 'none'})
  with pytest.raises(figures.TeacherMismatchError, match='CE only .* has no teacher'):
    figures.run_logits(figures.load_run(ce_only))


def test_epoch_statistics_names_are_what_the_figures_read():
  """The trainer logs `analysis.epoch_statistics` as `test_<name>`; the figures look those names up."""
  rows = [{'epoch': 1, **{f'test_{name}': 0.5 for name in analysis.EPOCH_STATISTICS}}]
  for name in analysis.EPOCH_STATISTICS:
    assert plots.metric_series(rows, name, plots.METRIC_PREFIXES) is not None


def test_notebook_is_valid_without_outputs_and_compiles():
  """The digits notebook (executed by hand: it trains) is nbformat v4, output-free; its cells compile."""
  import nbformat  # pylint: disable=g-import-not-at-top
  path = os.path.join(os.path.dirname(__file__), '..', 'experiments', 'figures_digits.ipynb')
  notebook = nbformat.read(path, as_version=4)
  nbformat.validate(notebook)
  assert notebook.nbformat == 4
  code = [cell for cell in notebook.cells if cell.cell_type == 'code']
  assert code and all(not cell.outputs and cell.execution_count is None for cell in code)
  for cell in code:
    compile(cell.source, path, 'exec')
  assert any('figures.make_figures(' in cell.source for cell in code)
