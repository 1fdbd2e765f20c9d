r"""Runs one published table (cells x seeds) and writes its measured-vs-published markdown.

  python -m experiments.sweep --table=seed001_table2 --workdir=/tmp/sweeps/seed001_table2 \
      [--seeds=0,1,2] [--cells=resnet32x4-resnet8x4-kd,vgg13-vgg8-kd] [--smoke] [--teachers=DIR]
  python -m experiments.sweep --table=seed001_table2 --show            # every cell's settings + sources
  python -m experiments.sweep --table=seed001_table2 --workdir=W --task_index=3 --num_tasks=16
  python -m experiments.sweep --table=seed001_table2 --workdir=W --collect_only

Each run lives in `<workdir>/<cell>/seed<k>` and is resumable: the trainer restarts from its last
checkpoint, and a run whose metrics already show the final epoch is skipped. By default each cell runs as
many seeds as its published number averages (the paper's protocol: 4 for seed 001's tables, 5 / 3 for seed
002's same / cross-architecture pairs, 1 for seed 000 and ImageNet); `--seeds` overrides. Across machines,
`--task_index=i --num_tasks=n` runs only the i-th of every n runs (any job array or cluster runner starts
the tasks; no scheduler of ours), and `--collect_only` gathers the table once they are done. After the runs
the finished runs are collected into `<workdir>/<table>.md`: per cell the best-epoch and last-epoch top-1,
mean +- sample std over the finished seeds (n runs), beside the published number, and the difference
between the mean of the statistic the paper reports for that cell (`PublishedCell.statistic`: best or last
epoch, `published.TABLE_STATISTICS`) and the published number.

Collecting and formatting are pure functions of per-epoch metric records (`summarize_run`, `aggregate`,
`format_markdown`) so that they can be tested on made-up metrics.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Callable, Iterable, Mapping, Sequence

from absl import flags

from experiments import cli
from experiments import published
from experiments.configs import common
from kdjax import config as kdjax_config
from kdjax import logs
from kdjax import recipes

METRICS_FILE = logs.JSONL_FILE  # one JSON record per epoch, written by kdjax.logs.MetricWriter.


class MetricsError(ValueError):
  """A run's metrics file is malformed."""


@dataclasses.dataclass(frozen=True)
class RunSummary:
  """One run's evaluation history, reduced.

  Attributes:
    last_epoch: the last evaluated epoch.
    best_top1: the best test top-1 over the evaluated epochs.
    last_top1: the test top-1 of the last evaluated epoch.
    best_top5: top-5 at the best top-1 epoch (None when not recorded).
  """
  last_epoch: int
  best_top1: float
  last_top1: float
  best_top5: float | None = None


@dataclasses.dataclass(frozen=True)
class Stat:
  """Mean and sample standard deviation (ddof 1; 0 for a single run) of n values."""
  mean: float
  std: float
  n: int


@dataclasses.dataclass(frozen=True)
class CellResult:
  """A published cell beside what the finished runs measured (None: no finished run)."""
  cell: published.PublishedCell
  best: Stat | None
  last: Stat | None
  best_top5: Stat | None = None
  status: str = ''  # e.g. 'needs a trainer option' for cells that cannot run.

  @property
  def compared(self) -> Stat | None:
    """The measurement of the statistic the published number is (``cell.statistic``: best or last)."""
    return self.last if self.cell.statistic == 'last' else self.best

  @property
  def difference(self) -> float | None:
    """Mean of the cell's statistic (best or last epoch) minus the published number."""
    return None if self.compared is None else self.compared.mean - self.cell.top1


# ----------------------------------------------------------------------------------------------------------
# Pure functions.
def eval_records(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
  """The records that carry a test evaluation (`epoch` and `test_top1`), in epoch order."""
  evals = [r for r in records if 'test_top1' in r and 'epoch' in r]
  return sorted(evals, key=lambda r: r['epoch'])


def summarize_run(records: Iterable[Mapping[str, Any]]) -> RunSummary | None:
  """Best and last top-1 of one run's metric records (None when nothing was evaluated yet).

  Raises:
    MetricsError: a top-1 value is not a finite number.
  """
  evals = eval_records(records)
  if not evals:
    return None
  top1 = [float(r['test_top1']) for r in evals]
  if not all(math.isfinite(v) for v in top1):
    raise MetricsError(f'non-finite test_top1 in the metrics: {top1}')
  best = max(range(len(evals)), key=lambda i: (top1[i], -i))  # earliest epoch among ties.
  top5 = evals[best].get('test_top5')
  return RunSummary(last_epoch=int(evals[-1]['epoch']), best_top1=top1[best], last_top1=top1[-1],
                    best_top5=None if top5 is None else float(top5))


def is_finished(summary: RunSummary | None, num_epochs: int) -> bool:
  """Whether a run's metrics show its final epoch."""
  return summary is not None and summary.last_epoch >= num_epochs


def mean_std(values: Sequence[float]) -> Stat:
  """Mean and sample standard deviation (ddof 1, 0 for n = 1).

  Raises:
    ValueError: no values.
  """
  if not values:
    raise ValueError('mean_std needs at least one value')
  n = len(values)
  mean = sum(values) / n
  var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
  return Stat(mean=mean, std=math.sqrt(var), n=n)


def aggregate(cell: published.PublishedCell, finished: Sequence[RunSummary], status: str = '') -> CellResult:
  """Reduces the finished runs of one cell over seeds."""
  if not finished:
    return CellResult(cell=cell, best=None, last=None, status=status)
  top5 = [s.best_top5 for s in finished if s.best_top5 is not None]
  return CellResult(cell=cell, best=mean_std([s.best_top1 for s in finished]),
                    last=mean_std([s.last_top1 for s in finished]),
                    best_top5=mean_std(top5) if top5 else None, status=status)


def _stat(stat: Stat | None) -> str:
  if stat is None:
    return '-'
  return f'{stat.mean:.2f}' if stat.n == 1 else f'{stat.mean:.2f} ± {stat.std:.2f}'


def format_markdown(table: str, results: Sequence[CellResult], seeds: Sequence[int] | None) -> str:
  """The measured-vs-published markdown of one table."""
  with_top5 = any(r.cell.top5 is not None for r in results)
  lines = [
      f'# {table}: measured vs published', '', common.TITLES.get(table, ''), '',
      f'Measured: test top-1 (%) at the best and at the last epoch, mean ± sample std over the finished '
      f'runs of seeds {",".join(map(str, seeds)) if seeds else "0 .. runs - 1 (the published runs)"} '
      f'(n = finished runs); diff = mean of the statistic the published number is (stat: best or last '
      f'epoch) - published. Published statistic: {published.TABLE_STATISTICS.get(table, "best epoch")}.', '',
      '| cell | teacher -> student | column | published | stat | best | last | n | diff |'
      + (' published top-5 | top-5 at best |' if with_top5 else ''),
      '|---|---|---|---|---|---|---|---|---|' + ('---|---|' if with_top5 else ''),
  ]
  for r in results:
    c = r.cell
    n = str(r.best.n) if r.best else (r.status or '0')
    diff = '-' if r.difference is None else f'{r.difference:+.2f}'
    row = (f'| {c.cell} | {c.pair} | {c.column} | {published.format_number(c.top1)} | {c.statistic} | '
           f'{_stat(r.best)} | {_stat(r.last)} | {n} | {diff} |')
    if with_top5:
      row += f' {published.format_number(c.top5) if c.top5 is not None else "-"} | {_stat(r.best_top5)} |'
    lines.append(row)
  return '\n'.join(lines) + '\n'


# ----------------------------------------------------------------------------------------------------------
# Files.
def read_records(run_dir: str) -> list[dict[str, Any]]:
  """The metric records of one run directory ([] when it has none yet).

  Raises:
    MetricsError: a line of the metrics file is not a JSON object.
  """
  path = os.path.join(run_dir, METRICS_FILE)
  if not os.path.exists(path):
    return []
  records = []
  with open(path) as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except json.JSONDecodeError as e:
        raise MetricsError(f'{path}:{number} is not JSON ({e}); delete the run directory to rerun it') from e
      if not isinstance(record, dict):
        raise MetricsError(f'{path}:{number} is not a JSON object')
      records.append(record)
  return records


def run_dir(root: str, cell: str, seed: int) -> str:
  """`<root>/<cell>/seed<k>`."""
  return os.path.join(root, cell, f'seed{seed}')


def select_cells(table: str, names: Sequence[str] | None) -> list[published.PublishedCell]:
  """The table's cells, or the named subset in table order.

  Raises:
    published.UnknownCellError: a name is not a cell of the table.
  """
  cells = published.cells_of(table)
  if not names:
    return list(cells)
  for name in names:
    published.lookup(table, name)  # Raises with the list of valid names.
  return [c for c in cells if c.cell in set(names)]


def cell_config(cell: published.PublishedCell, seed: int, *, smoke: bool, teachers_dir: str | None):
  """The trainer config of one run (``method`` derived)."""
  config = common.config_for(cell, runlocal=smoke, teachers_dir=teachers_dir)
  config.seed = seed
  return kdjax_config.validate(config)


def cell_seeds(cell: published.PublishedCell, seeds: Sequence[int] | None) -> list[int]:
  """The seeds of a cell: ``seeds``, or as many as its published number averages (0 .. runs - 1)."""
  return list(seeds) if seeds else list(range(cell.runs))


def run_list(cells: Sequence[published.PublishedCell], seeds: Sequence[int] | None
             ) -> list[tuple[published.PublishedCell, int]]:
  """Every (cell, seed) run of a table, in a fixed order (task ``i`` of ``n`` runs items i, i+n, ...)."""
  return [(cell, seed) for cell in cells for seed in cell_seeds(cell, seeds)]


def collect(root: str, cells: Sequence[published.PublishedCell], seeds: Sequence[int] | None, *,
            smoke: bool) -> list[CellResult]:
  """Collects the finished runs of `cells` x their seeds under `root`."""
  results = []
  for cell in cells:
    num_epochs = cell_config(cell, 0, smoke=smoke, teachers_dir=None).epochs
    summaries = [summarize_run(read_records(run_dir(root, cell.cell, s)))
                 for s in cell_seeds(cell, seeds)]
    results.append(aggregate(cell, [s for s in summaries if is_finished(s, num_epochs)]))
  return results


def run_table(table: str, root: str, seeds: Sequence[int] | None = None, *,
              cells: Sequence[str] | None = None, smoke: bool = False, collect_only: bool = False,
              teachers_dir: str | None = None, teacher_cache: str = '', task_index: int = 0,
              num_tasks: int = 1, log: Callable[[str], None] = print,
              trainer: Callable[[Any, str], Any] | None = None) -> str:
  """Runs the unfinished runs of a table (this task's share), then writes `<root>/<table>.md`.

  Args:
    table: a name of `published.table_names()`.
    root: the sweep directory; runs go to `<root>/<cell>/seed<k>`.
    seeds: one run per cell and seed (default: as many as each published number averages).
    cells: only these cells (default: all of the table).
    smoke: the configs' runlocal variant (2 epochs of 2 steps on random data).
    collect_only: run nothing, only collect the finished runs.
    teachers_dir: a directory of teachers (`kdjax.teachers.find_teacher`: converted or released).
    teacher_cache: a directory for the teacher-logit cache (`kdjax.teacher_cache`) shared by the
      table's CIFAR runs: the first run of a (teacher, seed) fills it, the other cells read it.
    task_index, num_tasks: run only the runs `task_index, task_index + num_tasks, ...` of
      `run_list` (to split a table over machines; collect once all tasks are done).
    log: progress lines.
    trainer: `train_and_evaluate(config, workdir)` to call (default `kdjax.train`'s).

  Raises:
    RuntimeError: some runs failed (the markdown is still written; the message names the runs).
    ValueError: a ``teacher_cache`` for the ImageNet table (refused before any run), or a task
      index outside ``[0, num_tasks)``.
  """
  if not 0 <= task_index < num_tasks:
    raise ValueError(f'task_index must be in [0, num_tasks={num_tasks}), got {task_index}')
  if teacher_cache and any(cell.recipe in recipes.IMAGENET_RECIPES for cell in published.cells_of(table)):
    raise ValueError('the teacher-logit cache is for the CIFAR tables (ImageNet crops are made on '
                     'the host, kdjax.teacher_cache): drop --teacher_cache')
  selected = select_cells(table, cells)
  failures = []
  if not collect_only:
    from kdjax import train  # pylint: disable=import-outside-toplevel
    train_and_evaluate = trainer or train.train_and_evaluate
    for cell, seed in run_list(selected, seeds)[task_index::num_tasks]:
      config = cell_config(cell, seed, smoke=smoke, teachers_dir=teachers_dir)
      config.teacher_cache = teacher_cache
      directory = run_dir(root, cell.cell, seed)
      if is_finished(summarize_run(read_records(directory)), config.epochs):
        log(f'done {cell.cell} seed {seed}')
        continue
      log(f'run  {cell.cell} seed {seed} -> {directory}')
      os.makedirs(directory, exist_ok=True)
      try:
        train_and_evaluate(config, directory)
      except Exception as e:  # pylint: disable=broad-except  (reported below, the sweep goes on)
        log(f'FAIL {cell.cell} seed {seed}: {type(e).__name__}: {e}')
        failures.append(f'{cell.cell}/seed{seed}')
  markdown = format_markdown(table, collect(root, selected, seeds, smoke=smoke), seeds)
  os.makedirs(root, exist_ok=True)
  with open(os.path.join(root, f'{table}.md'), 'w') as f:
    f.write(markdown)
  if failures:
    raise RuntimeError(f'{len(failures)} run(s) failed: {", ".join(failures)} (see the log above); '
                       f'the table was written with the finished runs only')
  return markdown


def _define_flags() -> None:
  """The command-line flags (defined only when run as a program: importing the module defines none)."""
  flags.DEFINE_enum('table', None, published.table_names(), 'The table to run.', required=True)
  flags.DEFINE_list('seeds', None, 'Seeds, one run each per cell (default: as many as the '
                    'published number averages).')
  flags.DEFINE_string('workdir', None, 'Root directory: runs go to <workdir>/<cell>/seed<k>.')
  flags.DEFINE_list('cells', None, 'Only these cells (default: all of the table).')
  flags.DEFINE_bool('smoke', False, "2 epochs x 2 steps on random data (the configs' runlocal variant).")
  flags.DEFINE_bool('collect_only', False, 'Only collect finished runs and write the markdown.')
  flags.DEFINE_bool('show', False, "Print every cell's resolved settings and their sources, run nothing.")
  flags.DEFINE_string('teachers', None, 'Directory of teachers (converted <dir>/<name>/ or released '
                      '<dir>/<name>_vanilla/ckpt_epoch_240.pth).')
  flags.DEFINE_string('teacher_cache', '', 'Directory of a teacher-logit cache the runs share (CIFAR tables).')
  flags.DEFINE_integer('task_index', 0, 'This task (0-based) of --num_tasks splitting the runs.')
  flags.DEFINE_integer('num_tasks', 1, 'Tasks (machines) the runs are split over.')


def main(argv: Sequence[str]) -> None:
  del argv
  f = flags.FLAGS
  if f.show:
    select_cells(f.table, f.cells)  # an unknown cell is an error, not an empty listing
    print(common.show(f.table, tuple(f.cells or ())), end='')
    return
  if not f.workdir:
    raise ValueError('--workdir is required to run or collect a table (or use --show)')
  seeds = [int(s) for s in f.seeds] if f.seeds else None
  markdown = run_table(f.table, f.workdir, seeds, cells=f.cells, smoke=f.smoke,
                       collect_only=f.collect_only, teachers_dir=f.teachers,
                       teacher_cache=f.teacher_cache, task_index=f.task_index,
                       num_tasks=f.num_tasks)
  print(markdown)


if __name__ == '__main__':
  _define_flags()
  cli.run(main, 'experiments.sweep')
