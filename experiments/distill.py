r"""The offline main job: every headline method on scikit-learn's digits, tuned on validation data.

  python -m experiments.distill                          # about 3.5 minutes on 2 CPU cores
  python -m experiments.distill --methods=kd,wttm --seeds=0,1 --workdir=/tmp/job

No download: the data are scikit-learn's 8x8 handwritten digits (10 classes,
``kdjax.data.load('digits')``) at their native size: 1,347 training images, of
which 270 are held out as a validation split, and 450 test images.

The protocol (printed under the table):

1. a teacher (resnet14) is trained with cross-entropy on the training images;
2. each distillation method starts from its CIFAR-100 recipe (the values of the
   closest published pair, ``PROXY_PAIR`` = resnet56 -> resnet20) and its
   distillation weight is tuned for this 10-class problem: the same grid of
   multipliers (``--grid``, 1/3, 1, 3) for every method, one run each (seed 0),
   scored by the last epoch's validation accuracy;
3. the chosen setting is trained with every seed; the test set is touched once
   per run, at its last epoch (seed 0's tuning run is evaluated on it after the
   choice), so no choice looks at it; the table gives test top-1 mean +- std;
4. cross-entropy alone (``ce``) is trained and tested the same way.

The schedule (``--epochs``, 12; learning rate 0.1, x0.1 at 150/180/210 of 240
scaled to it) is long enough for every method's training loss to flatten. The
train crop is shifted by at most one pixel and never mirrored (a mirrored digit
is another symbol). The runs of a method share one compilation (weights and
temperatures are step inputs) and two methods train at a time, one per core.

Every run is an ordinary resumable workdir under ``--workdir`` (default
``runs/main_job``): rerunning the job skips finished runs and resumes the others.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import sys
import time
from typing import Any, Sequence

import ml_collections
import numpy as np
from absl import flags

from experiments import cli
from kdjax import config as config_lib
from kdjax import logs
from kdjax import recipes

DEFAULT_METHODS = ('ce', 'kd', 'kd_ls', 'dkd', 'ttm', 'wttm', 'kd_maxlogit')
PROXY_PAIR = ('resnet56', 'resnet20')
DEFAULT_WORKDIR = os.path.join('runs', 'main_job')


def define_flags() -> None:
  flags.DEFINE_string('workdir', DEFAULT_WORKDIR, 'where the runs go (rerunning resumes)')
  flags.DEFINE_list('methods', list(DEFAULT_METHODS), 'methods (kdjax.methods.presets())')
  flags.DEFINE_list('seeds', ['0', '1', '2'], 'student seeds (the first one tunes)')
  flags.DEFINE_list('grid', ['0.3333333', '1', '3'], 'multipliers of each method\'s weight')
  flags.DEFINE_integer('epochs', 12, 'student epochs')
  flags.DEFINE_integer('teacher_epochs', 20, 'teacher epochs')
  flags.DEFINE_string('teacher', 'resnet14', 'teacher architecture')
  flags.DEFINE_string('student', 'resnet8', 'student architecture')
  flags.DEFINE_integer('batch_size', 64, 'batch size')
  flags.DEFINE_integer('image_size', 8, 'digits side in pixels (8: native)')
  flags.DEFINE_integer('validation_examples', 270, 'training images held out to tune on')
  flags.DEFINE_float('lr', 0.1, 'base learning rate (teacher and students)')
  flags.DEFINE_integer('workers', 2, 'methods trained at a time')


@dataclasses.dataclass(frozen=True)
class Job:
  """What the job runs (the flags)."""
  workdir: str = DEFAULT_WORKDIR
  methods: tuple[str, ...] = DEFAULT_METHODS
  seeds: tuple[int, ...] = (0, 1, 2)
  grid: tuple[float, ...] = (1 / 3, 1.0, 3.0)
  epochs: int = 12
  teacher_epochs: int = 20
  teacher: str = 'resnet14'
  student: str = 'resnet8'
  batch_size: int = 64
  image_size: int = 8
  validation_examples: int = 270
  lr: float = 0.1
  workers: int = 2

  def images_per_epoch(self) -> int:
    from kdjax.data import digits  # pylint: disable=import-outside-toplevel
    train = digits.NUM_TRAIN - self.validation_examples
    return train // self.batch_size * self.batch_size

  def total_images(self) -> int:
    distilled = [m for m in self.methods if m != 'ce']
    runs = len(distilled) * (len(self.grid) + len(self.seeds) - 1)
    runs += len(self.seeds) if 'ce' in self.methods else 0
    return self.images_per_epoch() * (self.teacher_epochs + runs * self.epochs)


def base_config(job: Job, epochs: int) -> ml_collections.ConfigDict:
  """The digits protocol: the CIFAR recipe with its schedule compressed to ``epochs``."""
  config = config_lib.get_config()
  config.update(dict(
      dataset='digits', image_size=job.image_size, augment_padding=1, augment_flip=False,
      validation_examples=job.validation_examples, epochs=epochs, batch_size=job.batch_size,
      drop_remainder=True, eval_batch_size=512, lr=job.lr, progress_bar=False,
      lr_decay_epochs=tuple(sorted({max(1, round(epochs * s / 240)) for s in (150, 180, 210)})),
      eval_every=epochs, log_every=10_000))
  return config


def teacher_config(job: Job) -> ml_collections.ConfigDict:
  from experiments import train_teacher  # pylint: disable=import-outside-toplevel
  config = train_teacher.teacher_config(job.teacher, config=base_config(job, job.teacher_epochs))
  config.eval_split = 'validation'
  return config


def student_config(job: Job, method: str, seed: int, multiplier: float, *,
                   eval_split: str) -> ml_collections.ConfigDict:
  """One student run: ``method``'s recipe for ``PROXY_PAIR``, its weight times ``multiplier``."""
  base = base_config(job, job.epochs)
  config = recipes.resolve(method, *PROXY_PAIR, config=base).config
  for field in ('epochs', 'lr', 'batch_size', 'lr_decay_epochs', 'precision'):
    config[field] = base[field]
  config.teacher, config.student, config.seed = job.teacher, job.student, seed
  config.eval_split = eval_split
  config.dkd.warmup_epochs = max(1, round(job.epochs * 20 / 240))
  config.ctkd.lambda_epochs = max(1, round(job.epochs * 10 / 240))
  if method != 'ce':
    config.teacher_checkpoint = os.path.join(job.workdir, 'teacher', 'model')
    weight = 'logit.weight' if config.logit.loss != 'none' else 'feature.weight'
    config.update_from_flattened_dict({weight: config_lib.flatten(config.to_dict())[weight]
                                       * multiplier})
  config.method = None
  return config_lib.validate(config)


def _summary(workdir: str) -> dict[str, Any] | None:
  path = os.path.join(workdir, logs.SUMMARY_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def run(config: ml_collections.ConfigDict, workdir: str, progress: logs.Progress) -> dict[str, Any]:
  """Trains one run (or reads the summary of a finished one)."""
  from kdjax import train  # pylint: disable=import-outside-toplevel
  summary = _summary(workdir)
  if summary is not None and summary.get('epochs_done') == config.epochs:
    progress.advance(config.epochs * _images(config))
    return summary
  summary = train.train_and_evaluate(config, workdir, progress=progress).summary
  line = f'{workdir}: {logs.format_summary(summary)}'  # one line per run, beside the table
  if progress.enabled:
    progress.write(line)
  else:
    print(line, file=sys.stderr, flush=True)
  return summary


def _images(config: ml_collections.ConfigDict) -> int:
  from kdjax.data import digits  # pylint: disable=import-outside-toplevel
  return (digits.NUM_TRAIN - config.validation_examples) // config.batch_size * config.batch_size


def test_accuracy(config: ml_collections.ConfigDict, workdir: str) -> float:
  """The test top-1 of a finished run's last checkpoint (its config evaluated on the test split)."""
  path = os.path.join(workdir, 'test_top1.json')
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)['test_top1']
  from kdjax import checkpointing  # pylint: disable=import-outside-toplevel
  from kdjax import evaluation  # pylint: disable=import-outside-toplevel
  from kdjax import train  # pylint: disable=import-outside-toplevel
  test = config_lib.copy_config(config)
  test.eval_split = 'test'
  prepared = train.prepare_run(test)
  checkpoints = checkpointing.Checkpoints(workdir, asynchronous=False)
  try:
    state, _ = checkpoints.restore_latest(prepared.program.init(np.uint32(test.seed)))
  finally:
    checkpoints.close()
  top1 = evaluation.evaluate(prepared.program, state, prepared.teacher_vars, prepared.test_arrays,
                             prepared.source, test.eval_batch_size, prepared.mesh)['top1']
  with open(path, 'w') as f:
    json.dump({'test_top1': top1}, f)
  return top1


@dataclasses.dataclass
class MethodResult:
  method: str
  multiplier: float | None = None
  weight: float | None = None
  validation: dict[float, float] = dataclasses.field(default_factory=dict)
  test: list[float] = dataclasses.field(default_factory=list)


def run_method(job: Job, method: str, progress: logs.Progress) -> MethodResult:
  """Tunes ``method``'s weight on the validation split (seed 0), then tests every seed."""
  root = os.path.join(job.workdir, method)
  result = MethodResult(method)
  first, *others = job.seeds
  if method == 'ce':
    for seed in job.seeds:
      config = student_config(job, method, seed, 1.0, eval_split='test')
      result.test.append(run(config, os.path.join(root, f'seed{seed}'), progress)['last_top1'])
    return result
  for multiplier in job.grid:
    config = student_config(job, method, first, multiplier, eval_split='validation')
    summary = run(config, os.path.join(root, f'x{multiplier:.3g}', f'seed{first}'), progress)
    result.validation[multiplier] = summary['last_top1']
  # The best validation accuracy; ties go to the multiplier closest to the recipe's (1).
  best = max(job.grid, key=lambda m: (result.validation[m], -abs(np.log(m))))
  result.multiplier = best
  chosen = os.path.join(root, f'x{best:.3g}')
  config = student_config(job, method, first, best, eval_split='validation')
  result.weight = config_lib.flatten(config.to_dict())[
      'logit.weight' if config.logit.loss != 'none' else 'feature.weight']
  result.test.append(test_accuracy(config, os.path.join(chosen, f'seed{first}')))
  for seed in others:
    config = student_config(job, method, seed, best, eval_split='test')
    result.test.append(run(config, os.path.join(chosen, f'seed{seed}'), progress)['last_top1'])
  return result


def _mean_std(values: Sequence[float]) -> str:
  values = np.asarray(values, np.float64)
  std = values.std(ddof=1) if values.size > 1 else 0.0
  return f'{values.mean():6.2f} +- {std:4.2f}'


def format_table(job: Job, teacher: dict[str, Any], results: Sequence[MethodResult]) -> str:
  """The job's table and its protocol line."""
  ce = next((r for r in results if r.method == 'ce'), None)
  ce_mean = np.mean(ce.test) if ce else None
  lines = [f"{'method':<14} {'weight (x grid)':>17} {'val top-1':>10} {'test top-1':>16} {'vs ce':>7}",
           '-' * 68,
           f"{'teacher ' + job.teacher:<14} {'':>17} {teacher['best_top1']:>10.2f} "
           f"{teacher['test_top1']:>16.2f}"]
  for r in results:
    weight = '' if r.weight is None else f'{r.weight:.3g} (x{r.multiplier:.3g})'
    val = '' if r.multiplier is None else f'{r.validation[r.multiplier]:.2f}'
    delta = '' if ce_mean is None else f'{np.mean(r.test) - ce_mean:+7.2f}'
    lines.append(f'{r.method:<14} {weight:>17} {val:>10} {_mean_std(r.test):>16} {delta:>7}')
  from kdjax.data import digits  # pylint: disable=import-outside-toplevel
  train = digits.NUM_TRAIN - job.validation_examples
  lines.append('')
  lines.append(
      f'protocol: digits {job.image_size}x{job.image_size}, {train} training images '
      f'({job.validation_examples} held out for validation), test 450; teacher '
      f'{job.teacher}, student {job.student}, {job.epochs} epochs; each method\'s weight tuned '
      f'on validation over x{{{", ".join(f"{m:.3g}" for m in job.grid)}}} (seed {job.seeds[0]}, '
      f'last epoch), then test top-1 at the last epoch, mean +- std over seeds '
      f'{",".join(map(str, job.seeds))}; the test set is read once per run.')
  return '\n'.join(lines)


def check_methods(names: Sequence[str]) -> None:
  """Refuses unknown method names, suggesting the closest ones."""
  for name in names:
    if name not in config_lib.METHODS:
      raise ValueError(f'unknown method {name!r}{config_lib.did_you_mean(name, config_lib.METHODS)}'
                       f'; choose from {sorted(config_lib.METHODS)}')


def run_job(job: Job, progress: logs.Progress | None = None
            ) -> tuple[dict[str, Any], list[MethodResult]]:
  """Trains the teacher, then every method (``job.workers`` at a time); returns the results."""
  from experiments import train_teacher  # pylint: disable=import-outside-toplevel
  check_methods(job.methods)
  progress = progress or logs.Progress(enabled=False, shared=True)
  progress.run_started('main job', 0, 0)
  teacher_dir = os.path.join(job.workdir, 'teacher')
  summary = _summary(teacher_dir)
  config = teacher_config(job)
  if summary is None or not os.path.exists(os.path.join(teacher_dir, 'model')):
    summary, _ = train_teacher.train_teacher(config, teacher_dir,
                                             os.path.join(teacher_dir, 'model'), overwrite=True,
                                             progress=progress)
  else:
    progress.advance(job.teacher_epochs * job.images_per_epoch())
  teacher = dict(summary, test_top1=test_accuracy(config, teacher_dir))
  from kdjax import train  # pylint: disable=import-outside-toplevel
  pool = concurrent.futures.ThreadPoolExecutor(max_workers=job.workers)
  try:
    with train.stop_all_runs_on_signals() as stop:
      futures = [pool.submit(run_method, job, method, progress) for method in job.methods]
      results = _results(job, futures, stop)
  except (KeyboardInterrupt, cli.Terminated) as stopped:  # a second signal: leave at once
    _stopped(job, 'SIGTERM' if isinstance(stopped, cli.Terminated) else 'SIGINT', force=True)
  pool.shutdown()
  return teacher, results


def _results(job: Job, futures: Sequence[concurrent.futures.Future], stop: Any
             ) -> list[MethodResult]:
  """The futures' results; on SIGINT / SIGTERM every running run saves and stops, the
  methods not started are cancelled, and the job exits (``_stopped``)."""
  pending = set(futures)
  while pending and stop.signal_name is None:
    _, pending = concurrent.futures.wait(pending, timeout=0.2,
                                         return_when=concurrent.futures.FIRST_EXCEPTION)
    if any(f.done() and f.exception() is not None for f in futures):
      break
  if stop.signal_name is not None:
    for future in pending:
      future.cancel()
    concurrent.futures.wait(pending)  # the running ones stop after their step, saved
    _stopped(job, stop.signal_name)
  return [f.result() for f in futures]


def _stopped(job: Job, signal_name: str, *, force: bool = False) -> None:
  """Exits 130 / 143 saying that finished runs and checkpoints are kept and how to resume."""
  print(f'\nexperiments.distill: stopped by {signal_name}; finished runs and saved checkpoints '
        f'are kept in {job.workdir}: run the same command again to resume', file=sys.stderr,
        flush=True)
  code = 143 if signal_name == 'SIGTERM' else 130
  if force:  # worker threads still running cannot be interrupted
    os._exit(code)  # pylint: disable=protected-access
  sys.exit(code)


def main(argv: Sequence[str]) -> None:
  del argv
  fv = flags.FLAGS
  # Two runs at a time, one core each: XLA's CPU thread pool would only make them contend.
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '')
                             + ' --xla_cpu_multi_thread_eigen=false').strip()
  job = Job(workdir=fv.workdir, methods=tuple(fv.methods), seeds=tuple(int(s) for s in fv.seeds),
            grid=tuple(float(m) for m in fv.grid), epochs=fv.epochs,
            teacher_epochs=fv.teacher_epochs, teacher=fv.teacher, student=fv.student,
            batch_size=fv.batch_size, image_size=fv.image_size,
            validation_examples=fv.validation_examples, lr=fv.lr, workers=fv.workers)
  start = time.time()
  print(f'digits {job.image_size}x{job.image_size}: teacher {job.teacher}, student {job.student}, '
        f'methods {",".join(job.methods)}, seeds {",".join(map(str, job.seeds))}; runs in '
        f'{job.workdir} (rerun to resume)', flush=True)
  progress = logs.Progress(total_images=job.total_images(), shared=True)  # a bar on a terminal
  try:
    teacher, results = run_job(job, progress)
  finally:
    progress.close()
  table = format_table(job, teacher, results)
  print(table)
  with open(os.path.join(job.workdir, 'results.txt'), 'w') as f:
    f.write(table + '\n')
  print(f'total wall time {time.time() - start:.1f}s', flush=True)


if __name__ == '__main__':
  define_flags()
  cli.run(main, 'experiments.distill')
