"""Tests of experiments/sweep.py: collecting made-up metrics and writing the measured-vs-published table."""

import json
import math
import os

import jax
import ml_collections
import pytest

from experiments import published
from experiments import sweep
from kdjax import train


def _write_metrics(directory, top1_per_epoch, top5_per_epoch=None):
  """A metrics file like the trainer's: train records between per-epoch eval records."""
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, sweep.METRICS_FILE), 'w') as f:
    for epoch, top1 in enumerate(top1_per_epoch, 1):
      f.write(json.dumps({'epoch': epoch, 'step': epoch * 10, 'train_loss': 1.0 / epoch}) + '\n')
      record = {'epoch': epoch, 'test_top1': top1}
      if top5_per_epoch is not None:
        record['test_top5'] = top5_per_epoch[epoch - 1]
      f.write(json.dumps(record) + '\n')


def _row(markdown, cell):
  rows = [line for line in markdown.splitlines() if line.startswith(f'| {cell} |')]
  assert len(rows) == 1, (cell, rows)
  return [field.strip() for field in rows[0].strip('|').split('|')]


def test_summarize_run_best_last_and_top5_at_best_epoch():
  records = [{'epoch': 1, 'test_top1': 10.0, 'test_top5': 30.0}, {'epoch': 2, 'train_loss': 3.0},
             {'epoch': 3, 'test_top1': 50.0, 'test_top5': 70.0},
             {'epoch': 2, 'test_top1': 60.0, 'test_top5': 65.0}]
  summary = sweep.summarize_run(records)
  assert summary == sweep.RunSummary(last_epoch=3, best_top1=60.0, last_top1=50.0, best_top5=65.0)
  assert sweep.is_finished(summary, 3) and not sweep.is_finished(summary, 4)
  assert sweep.summarize_run([{'epoch': 1, 'train_loss': 2.0}]) is None
  assert not sweep.is_finished(None, 1)


def test_summarize_run_rejects_nan():
  with pytest.raises(sweep.MetricsError, match='non-finite'):
    sweep.summarize_run([{'epoch': 1, 'test_top1': float('nan')}])


def test_mean_std_is_sample_std():
  stat = sweep.mean_std([70.0, 72.0, 74.0])
  assert stat.mean == pytest.approx(72.0) and stat.std == pytest.approx(2.0) and stat.n == 3
  assert sweep.mean_std([71.5]) == sweep.Stat(71.5, 0.0, 1)
  with pytest.raises(ValueError):
    sweep.mean_std([])


def test_collect_and_format_put_each_number_beside_its_published_one(tmp_path):
  """Made-up runs for three cells: the markdown rows carry the right measured and published numbers."""
  table = 'seed000_table4'  # 7 cells, a few epochs each in smoke mode.
  root = str(tmp_path)
  epochs = sweep.cell_config(published.lookup(table, 'w3'), 0, smoke=True, teachers_dir=None).epochs
  assert epochs == 2
  # w3: two finished seeds (best 80/84, last 78/82); seed 2 unfinished (must not count).
  _write_metrics(sweep.run_dir(root, 'w3', 0), [80.0, 78.0])
  _write_metrics(sweep.run_dir(root, 'w3', 1), [84.0, 82.0])
  _write_metrics(sweep.run_dir(root, 'w3', 2), [99.0])
  # w12: one finished seed.
  _write_metrics(sweep.run_dir(root, 'w12', 1), [60.0, 61.5])
  markdown = sweep.run_table(table, root, [0, 1, 2], collect_only=True, smoke=True, log=lambda _: None)
  assert markdown == (tmp_path / f'{table}.md').read_text()

  w3 = _row(markdown, 'w3')
  assert w3[3] == '73.42'  # published w_kd 3
  assert w3[4] == f'82.00 ± {math.sqrt(8):.2f}'  # best: 80, 84
  assert w3[5] == f'80.00 ± {math.sqrt(8):.2f}'  # last: 78, 82
  assert w3[6] == '2'
  assert w3[7] == f'{82.0 - 73.42:+.2f}'
  w12 = _row(markdown, 'w12')
  assert w12[3:8] == ['76.27', '61.50', '61.50', '1', f'{61.5 - 76.27:+.2f}']
  w9 = _row(markdown, 'w9')  # no runs at all.
  assert w9[3:8] == ['75.90', '-', '-', '0', '-']
  # Every cell of the table has exactly one row, in results.md order.
  cells = [line.split('|')[1].strip() for line in markdown.splitlines() if line.startswith('| w')]
  assert cells == [c.cell for c in published.cells_of(table)]


def test_format_markdown_imagenet_top5_columns():
  cells = published.cells_of('imagenet')
  kd, wttm = cells[0], cells[8]
  runs = [sweep.RunSummary(100, 71.0, 70.5, 90.0), sweep.RunSummary(100, 71.2, 70.9, 90.2)]
  results = [sweep.aggregate(kd, runs), sweep.aggregate(wttm, [])]
  markdown = sweep.format_markdown('imagenet', results, [0, 1])
  row = _row(markdown, kd.cell)
  assert row[3] == '71.03' and row[4] == f'71.10 ± {math.sqrt(0.02):.2f}' and row[8] == '90.05'
  assert row[9] == f'90.10 ± {math.sqrt(0.02):.2f}'
  assert _row(markdown, wttm.cell)[8:10] == ['-', '-']  # no published top-5 for WTTM, no runs.


def test_collect_lists_unfinished_cells_in_table_order(tmp_path):
  cells = sweep.select_cells('seed001_table4', ['center-w9', 'zscore-w9'])
  assert [c.cell for c in cells] == ['center-w9', 'zscore-w9']  # table order, not argument order
  results = sweep.collect(str(tmp_path), cells, [0], smoke=True)
  assert [r.status for r in results] == ['', ''] and all(r.best is None for r in results)
  markdown = sweep.format_markdown('seed001_table4', results, [0])
  assert _row(markdown, 'center-w9')[3] == '73.94'  # published "z - mean" column at w_kd 9


def test_select_cells_rejects_unknown_names():
  with pytest.raises(published.UnknownCellError, match='w3'):
    sweep.select_cells('seed000_table4', ['w4'])


def test_read_records_reports_the_broken_line(tmp_path):
  (tmp_path / sweep.METRICS_FILE).write_text('{"epoch": 1, "test_top1": 3.0}\nnot json\n')
  with pytest.raises(sweep.MetricsError, match=':2 is not JSON'):
    sweep.read_records(str(tmp_path))
  assert sweep.read_records(str(tmp_path / 'missing')) == []


def test_sweep_runs_the_real_trainer_then_skips_finished_runs(tmp_path):
  """A baselines cell through kdjax.train (resnet8 in place of resnet20, 2 epochs x 1 step on random data)."""
  calls = []

  def tiny_trainer(config, workdir):
    calls.append(workdir)
    config = ml_collections.ConfigDict(config.to_dict())
    config.student, config.smoke_steps = 'resnet8', 1
    return train.train_and_evaluate(config, workdir)

  root = str(tmp_path)
  kwargs = dict(cells=['resnet20-ce'], smoke=True, log=lambda _: None, trainer=tiny_trainer)
  previous = jax.config.read('jax_disable_most_optimizations')
  jax.config.update('jax_disable_most_optimizations', True)  # Cheaper compilation of the smoke run.
  try:
    markdown = sweep.run_table('baselines', root, [3], **kwargs)
  finally:
    jax.config.update('jax_disable_most_optimizations', previous)
  assert calls == [sweep.run_dir(root, 'resnet20-ce', 3)]
  summary = json.loads((tmp_path / 'resnet20-ce' / 'seed3' / 'summary.json').read_text())
  row = _row(markdown, 'resnet20-ce')
  assert row[3] == '69.06' and row[6] == '1'
  assert row[4] == f"{summary['best_top1']:.2f}" and row[5] == f"{summary['last_top1']:.2f}"
  assert sum(line.startswith('| resnet') for line in markdown.splitlines()) == 1  # only the selected cell
  assert sweep.run_table('baselines', root, [3], **kwargs) == markdown
  assert len(calls) == 1  # finished: not run again.


def test_failed_runs_are_reported_after_the_table_is_written(tmp_path):
  def broken_trainer(config, workdir):
    raise FloatingPointError(f'diverged in {workdir} at lr {config.lr}')

  lines = []
  with pytest.raises(RuntimeError, match=r'2 run\(s\) failed: w3/seed0, w3/seed1'):
    sweep.run_table('seed000_table4', str(tmp_path), [0, 1], cells=['w3'], smoke=True, log=lines.append,
                    trainer=broken_trainer)
  assert [line.split(':')[0] for line in lines if line.startswith('FAIL')] == ['FAIL w3 seed 0', 'FAIL w3 seed 1']
  assert _row((tmp_path / 'seed000_table4.md').read_text(), 'w3')[6] == '0'


def test_teacher_cache_reaches_every_cifar_run_and_is_refused_for_imagenet(tmp_path):
  seen = []

  def recording_trainer(config, workdir):
    seen.append((os.path.basename(workdir), config.teacher_cache))
    raise RuntimeError('stop here')

  cache = str(tmp_path / 'cache')
  with pytest.raises(RuntimeError, match='2 run'):
    sweep.run_table('seed000_table4', str(tmp_path), [0, 1], cells=['w3'], smoke=True, log=lambda _: None,
                    trainer=recording_trainer, teacher_cache=cache)
  assert seen == [('seed0', cache), ('seed1', cache)]
  with pytest.raises(ValueError, match='CIFAR tables'):
    sweep.run_table('imagenet', str(tmp_path), [0], smoke=True, teacher_cache=cache, trainer=recording_trainer)
