"""Tests of experiments/sweep.py: runs per cell, task shares, collecting made-up metrics and writing the
measured-vs-published table, `--show`, and the command end to end (slow)."""

import json
import math
import os
import re
import subprocess
import sys

import jax
import ml_collections
import pytest

from experiments import published
from experiments import sweep
from experiments.configs import common
from kdjax import recipes
from kdjax import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
  assert w3[4] == 'best'  # the statistic seed 000 reports
  assert w3[5] == f'82.00 ± {math.sqrt(8):.2f}'  # best: 80, 84
  assert w3[6] == f'80.00 ± {math.sqrt(8):.2f}'  # last: 78, 82
  assert w3[7] == '2'
  assert w3[8] == f'{82.0 - 73.42:+.2f}'
  w12 = _row(markdown, 'w12')
  assert w12[3:9] == ['76.27', 'best', '61.50', '61.50', '1', f'{61.5 - 76.27:+.2f}']
  w9 = _row(markdown, 'w9')  # no runs at all.
  assert w9[3:9] == ['75.90', 'best', '-', '-', '0', '-']
  # Every cell of the table has exactly one row, in the order of the published table.
  cells = [line.split('|')[1].strip() for line in markdown.splitlines() if line.startswith('| w')]
  assert cells == [c.cell for c in published.cells_of(table)]


def test_format_markdown_imagenet_top5_columns():
  cells = published.cells_of('imagenet')
  kd, wttm = cells[0], cells[8]
  runs = [sweep.RunSummary(100, 71.0, 70.5, 90.0), sweep.RunSummary(100, 71.2, 70.9, 90.2)]
  results = [sweep.aggregate(kd, runs), sweep.aggregate(wttm, [])]
  markdown = sweep.format_markdown('imagenet', results, [0, 1])
  row = _row(markdown, kd.cell)
  assert row[3] == '71.03' and row[5] == f'71.10 ± {math.sqrt(0.02):.2f}' and row[9] == '90.05'
  assert row[10] == f'90.10 ± {math.sqrt(0.02):.2f}'
  assert _row(markdown, wttm.cell)[9:11] == ['-', '-']  # no published top-5 for WTTM, no runs.


def test_comparison_uses_the_statistic_the_table_reports():
  """A CRD-paper cell (last epoch) is compared at the last epoch, a TTM cell at the best."""
  runs = [sweep.RunSummary(240, 76.0, 75.0), sweep.RunSummary(240, 76.4, 75.4)]
  crd = sweep.aggregate(published.lookup('seed002_table1', 'resnet32x4-resnet8x4-crd'), runs)
  ttm = sweep.aggregate(published.lookup('seed002_table1', 'resnet32x4-resnet8x4-ttm'), runs)
  assert crd.cell.statistic == 'last' and ttm.cell.statistic == 'best'
  assert crd.difference == pytest.approx(75.2 - 75.51) and ttm.difference == pytest.approx(76.2 - 76.17)
  markdown = sweep.format_markdown('seed002_table1', [crd, ttm], [0, 1])
  assert _row(markdown, crd.cell.cell)[4] == 'last' and _row(markdown, ttm.cell.cell)[4] == 'best'
  assert published.TABLE_STATISTICS['seed002_table1'] in markdown


def test_collect_lists_unfinished_cells_in_table_order(tmp_path):
  cells = sweep.select_cells('seed001_table4', ['center-w9', 'zscore-w9'])
  assert [c.cell for c in cells] == ['center-w9', 'zscore-w9']  # table order, not argument order
  results = sweep.collect(str(tmp_path), cells, [0], smoke=True)
  assert [r.status for r in results] == ['', ''] and all(r.best is None for r in results)
  markdown = sweep.format_markdown('seed001_table4', results, [0])
  assert _row(markdown, 'center-w9')[3] == '73.94'  # published "z - mean" column at w_kd 9


def test_select_cells_rejects_unknown_names():
  with pytest.raises(published.UnknownCellError,
                     match=r"no cell 'w4'; its 7 cells: python -m experiments.sweep --table=seed000_table4 --show"):
    sweep.select_cells('seed000_table4', ['w4'])


def test_read_records_reports_the_broken_line(tmp_path):
  (tmp_path / sweep.METRICS_FILE).write_text('{"epoch": 1, "test_top1": 3.0}\nnot json\n')
  with pytest.raises(sweep.MetricsError, match=':2 is not JSON'):
    sweep.read_records(str(tmp_path))
  assert sweep.read_records(str(tmp_path / 'missing')) == []


@pytest.mark.slow
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
  # Columns: cell, pair, column, published, stat, best, last, n, diff. The baselines' from-scratch
  # numbers are last-epoch ones, so diff is last - published.
  assert row[3] == '69.06' and row[4] == 'last' and row[7] == '1'
  assert row[5] == f"{summary['best_top1']:.2f}" and row[6] == f"{summary['last_top1']:.2f}"
  assert row[8] == f"{summary['last_top1'] - 69.06:+.2f}"
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
  assert [line.split(':')[0] for line in lines if line.startswith('FAIL')] == ['FAIL w3 seed 0',
                                                                               'FAIL w3 seed 1']
  assert _row((tmp_path / 'seed000_table4.md').read_text(), 'w3')[7] == '0'


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
    sweep.run_table('imagenet', str(tmp_path), [0], smoke=True, teacher_cache=cache,
                    trainer=recording_trainer)
  assert seen == [('seed0', cache), ('seed1', cache)]  # refused before any ImageNet run


# ------------------------------------------------------------------------------------------------
# Runs per cell and task shares.
def test_runs_per_cell_are_the_published_protocols():
  """Seed 001: "average over 4 trials" (its Sec. 5); seed 002: 5 runs for its same-architecture
  Tables 1, 2 and 6 (ITRD and WTTM+ITRD: 3, as its Table 2 marks them), 3 for the
  distinct-architecture Tables 3, 4; seed 000, ImageNet and the baselines: single runs."""
  for cell in published.all_cells():
    if cell.table in ('seed002_table1', 'seed002_table2', 'seed002_table6'):
      expected = 3 if cell.method in ('itrd', 'wttm+itrd') else 5
      assert recipes.family(cell.teacher) == recipes.family(cell.student), cell
    elif cell.table in ('seed002_table3', 'seed002_table4'):
      expected = 3
      assert recipes.family(cell.teacher) != recipes.family(cell.student), cell
    else:
      expected = {'seed001': 4, 'seed000': 1, 'imagenet': 1, 'dist_imagenet': 1, 'deit_imagenet': 1,
                  'scratch': 1}[cell.recipe]
    assert cell.runs == expected, cell
    table_recipe = cell.table.split('_')[0]
    if cell.table == 'baselines' or (cell.method == 'ce' and cell.table.startswith('seed000')):
      table_recipe = 'scratch'
    elif cell.table == 'seed002_table7' and cell.method == 'kd':  # DIST's "KD (T=4)"
      table_recipe = 'dist_imagenet'
    elif cell.table in ('seed002_table5', 'seed002_table7'):
      table_recipe = 'imagenet'
    elif cell.table == 'seed002_table13':  # yzd-v/cls_KD's DeiT recipe
      table_recipe = 'deit_imagenet'
    assert cell.recipe == table_recipe, cell
  assert published.lookup('seed002_table1', 'vgg13-vgg8-ttm').runs == 5
  assert published.lookup('seed002_table3', 'resnet32x4-ShuffleV2-wttm').runs == 3
  assert published.lookup('seed002_table2', 'vgg13-vgg8-itrd').runs == 3


def test_run_list_uses_the_published_runs_unless_seeds_are_given():
  cells = sweep.select_cells('seed002_table1', ['vgg13-vgg8-ttm']) + sweep.select_cells(
      'seed002_table3', ['ResNet50-vgg8-ttm'])
  runs = [(c.cell, seed) for c, seed in sweep.run_list(cells, None)]
  assert runs == [('vgg13-vgg8-ttm', s) for s in range(5)] + [('ResNet50-vgg8-ttm', s) for s in range(3)]
  runs = [(c.cell, seed) for c, seed in sweep.run_list(cells, [7, 9])]
  assert runs == [('vgg13-vgg8-ttm', 7), ('vgg13-vgg8-ttm', 9), ('ResNet50-vgg8-ttm', 7),
                  ('ResNet50-vgg8-ttm', 9)]
  one = sweep.select_cells('seed001_table2', ['vgg13-vgg8-kd'])
  assert [s for _, s in sweep.run_list(one, None)] == [0, 1, 2, 3]
  assert [s for _, s in sweep.run_list(sweep.select_cells('imagenet', [f'{IN}-kd']), None)] == [0]


IN = 'resnet34-resnet18'
TASK_TABLE = 'seed002_table2'  # 5 runs of WTTM+CRD, 3 of ITRD and WTTM+ITRD
TASK_CELLS = ['vgg13-vgg8-wttm+crd', 'resnet56-resnet20-wttm+crd', 'vgg13-vgg8-itrd', 'vgg13-vgg8-wttm+itrd']


def test_tasks_split_the_runs_into_disjoint_shares_whose_union_is_the_run_list(tmp_path):
  root = str(tmp_path)
  expected = [(c.cell, seed) for c, seed in sweep.run_list(sweep.select_cells(TASK_TABLE, TASK_CELLS),
                                                           None)]
  assert len(expected) == 5 + 5 + 3 + 3
  for num_tasks in (1, 2, 3, 5, 17):
    shares = []
    for task in range(num_tasks):
      ran = []

      def recording_trainer(config, workdir, ran=ran):
        cell, seed_dir = os.path.relpath(workdir, root).split(os.sep)
        assert seed_dir == f'seed{config.seed}' and config.smoke
        ran.append((cell, config.seed))

      sweep.run_table(TASK_TABLE, root, cells=TASK_CELLS, smoke=True, task_index=task,
                      num_tasks=num_tasks, log=lambda _: None, trainer=recording_trainer)
      shares.append(ran)
    every = [run for share in shares for run in share]
    assert sorted(every) == sorted(expected) and len(set(every)) == len(every), num_tasks
    assert max(map(len, shares)) - min(map(len, shares)) <= 1, num_tasks  # balanced
    assert shares[0][0] == expected[0] and (num_tasks == 1 or shares[1][0] == expected[1])
  for task_index, num_tasks in ((2, 2), (-1, 2), (0, 0)):
    with pytest.raises(ValueError, match='task_index must be in'):
      sweep.run_table(TASK_TABLE, root, cells=TASK_CELLS, task_index=task_index, num_tasks=num_tasks)


# ------------------------------------------------------------------------------------------------
# --show: every setting with its numbered source.
def _show_blocks(text):
  """``({cell: {field: (value, source)}}, [header lines], {number: source})`` of ``--show``."""
  blocks, legend_text = text.split('\nsources:\n')
  legend = dict(re.findall(r'^\[(\d+)\] (.*)$', legend_text, re.M))
  statistic, *blocks = blocks.strip().split('\n\n')
  assert ': published statistic: ' in statistic  # the table's best / last epoch statement
  cells, headers = {}, []
  for block in blocks:
    header, *lines = block.splitlines()
    headers.append(header)
    name = header.split()[0].split(':')[1]
    cells[name] = {}
    for line in lines:
      if line.startswith('  note: '):
        continue
      field, value, number = re.match(r'^  (\S+)\s+(.+?)\s+\[(\d+)\]$', line).groups()
      cells[name][field] = (value, legend[number])
  return cells, headers, legend


def _check_show(text):
  cells, headers, legend = _show_blocks(text)
  assert set(cells) == {'resnet32x4-resnet8x4-ctkd_ls', 'vgg13-vgg8-mlkd_ls'}
  assert 'method ctkd_ls' in headers[0] and 'published 76.67 (best epoch), mean of 4 run(s)' in headers[0]
  value, source = cells['resnet32x4-resnet8x4-ctkd_ls']['ctkd.t_start']
  assert value == '2.0' and 'logs/CTKD/ctkd,*,2,9.txt' in source
  assert cells['resnet32x4-resnet8x4-ctkd_ls']['ctkd.t_range'][0] == '40.0'
  value, source = cells['vgg13-vgg8-mlkd_ls']['lr']
  assert value == '0.01' and 'logs/MLKD/mlkd,vgg13,vgg8,2,6.txt' in source
  value, source = cells['vgg13-vgg8-mlkd_ls']['precision']
  assert value == "'highest'" and source.startswith('kdjax: full float32')
  assert len(legend) == len(set(legend.values()))  # each source numbered once


def test_show_numbers_every_source():
  _check_show(common.show('seed001_table2', ('resnet32x4-resnet8x4-ctkd_ls', 'vgg13-vgg8-mlkd_ls')))


def _command(args, **kwargs):
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]),
             JAX_DISABLE_MOST_OPTIMIZATIONS='true', JAX_PLATFORMS='cpu')
  kwargs.setdefault('cwd', REPO)
  return subprocess.run([sys.executable, '-m', *args], env=env, capture_output=True, text=True,
                        timeout=600, **kwargs)


@pytest.mark.slow
def test_show_command_prints_each_cells_settings_with_sources():
  out = _command(['experiments.sweep', '--table=seed001_table2', '--show',
                  '--cells=resnet32x4-resnet8x4-ctkd_ls,vgg13-vgg8-mlkd_ls'])
  assert out.returncode == 0, out.stderr
  _check_show(out.stdout)


@pytest.mark.slow
def test_two_tasks_then_collect_only(tmp_path):
  """Two `--task_index` commands share two cells' runs; `--collect_only` gathers both."""
  args = ['experiments.sweep', '--table=baselines', '--cells=resnet20-ce,wrn_16_2-ce', '--smoke',
          f'--workdir={tmp_path}', '--num_tasks=2']
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]),
             JAX_DISABLE_MOST_OPTIMIZATIONS='true', JAX_PLATFORMS='cpu')
  tasks = [subprocess.Popen([sys.executable, '-m', *args, f'--task_index={i}'], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (0, 1)]
  outputs = [task.communicate(timeout=600) for task in tasks]
  for task, (stdout, stderr) in zip(tasks, outputs):
    assert task.returncode == 0, stderr
  runs = [[line.split(' -> ')[0] for line in stdout.splitlines() if line.startswith('run ')]
          for stdout, _ in outputs]
  assert runs == [['run  resnet20-ce seed 0'], ['run  wrn_16_2-ce seed 0']]
  collected = _command([*args[:-1], '--collect_only'])
  assert collected.returncode == 0, collected.stderr
  assert 'run ' not in collected.stdout
  markdown = (tmp_path / 'baselines.md').read_text()
  for cell, published_top1 in (('resnet20-ce', '69.06'), ('wrn_16_2-ce', '73.26')):
    summary = json.loads((tmp_path / cell / 'seed0' / 'summary.json').read_text())
    assert summary['epochs_done'] == 2 and summary['student'] == cell.split('-')[0]
    row = _row(markdown, cell)
    assert row[3] == published_top1 and row[4] == 'last' and row[7] == '1'
    assert row[5] == f"{summary['best_top1']:.2f}" and row[6] == f"{summary['last_top1']:.2f}"
