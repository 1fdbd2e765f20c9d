r"""The offline main job: train a teacher on the bundled digits, distil a student with every method.

  python -m experiments.distill                       # everything below, a few minutes on 2 cores
  python -m experiments.distill --methods=kd,dkd --seeds=0 --epochs=3

No download: the data is scikit-learn's 8x8 handwritten digits (1,347 train /
450 test, 10 classes, ``kdjax.data.load('digits')``). The job trains the
teacher with cross-entropy (``experiments.train_teacher``), then the student
from scratch with CE only and with each distillation method for every seed,
and prints teacher and student top-1 (mean +- std over seeds, best epoch and
last epoch). Every run is an ordinary resumable workdir under ``--workdir``:
re-running the job skips finished runs and resumes interrupted ones.

The schedule of ``spec/training.md`` is compressed to ``--epochs`` (LR steps at
150/180/210 of 240, the DKD warm-up and the CTKD lambda ramp scaled alike). The
digits pair is in no published table: the per-pair hyperparameters (DKD beta,
KD+LS tau/weight, TTM/WTTM gamma/beta...) are those of the closest published
pair, ``PROXY_PAIR`` = resnet56 -> resnet20 (small CIFAR ResNets). Runs of one
method share one compilation (seeds are arguments of the jitted step); the
last partial batch of each epoch is dropped (``drop_remainder``) so that each
method compiles one step shape only.

Defaults: digits at 16x16, teacher resnet14 (15 epochs), student resnet8
(8 epochs), batch 64, lr 0.1, seeds 0-2. Measured on 2 CPU cores (load
average ~1.5): 186 s wall in all, teacher 94.89 best top-1; students (best
top-1, mean +- std of 3 seeds): CE 89.04 +- 2.06, KD 88.15 +- 1.85, KD+LS
78.44 +- 4.01, DKD 89.48 +- 0.56, TTM 90.96 +- 1.12, WTTM 91.93 +- 1.03,
KD+max-logit 80.15 +- 8.06. Runs are deterministic on one machine and jax
version: the same flags give the same numbers.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Sequence

import ml_collections
import numpy as np
from absl import app
from absl import flags

from experiments import train_teacher
from kdjax import config as config_lib
from kdjax import logs
from kdjax import train

DEFAULT_METHODS = ('ce', 'kd', 'kd_ls', 'dkd', 'ttm', 'wttm', 'kd_maxlogit')
PROXY_PAIR = ('resnet56', 'resnet20')

flags.DEFINE_string('workdir', None, 'where the runs go (default: a new temporary directory)')
flags.DEFINE_list('methods', list(DEFAULT_METHODS), f'student methods, from {config_lib.METHODS}')
flags.DEFINE_list('seeds', ['0', '1', '2'], 'student seeds')
flags.DEFINE_integer('epochs', 8, 'student epochs')
flags.DEFINE_integer('teacher_epochs', 15, 'teacher epochs')
flags.DEFINE_string('teacher', 'resnet14', 'teacher architecture')
flags.DEFINE_string('student', 'resnet8', 'student architecture')
flags.DEFINE_integer('batch_size', 64, 'batch size')
flags.DEFINE_integer('image_size', 16, 'digits side in pixels (8x8 sources upsampled)')
flags.DEFINE_float('lr', 0.1, 'base learning rate (teacher and students)')


def base_config(*, epochs: int, batch_size: int, image_size: int,
                lr: float) -> ml_collections.ConfigDict:
  """The digits protocol: the CIFAR recipe with its schedule compressed to ``epochs``."""
  config = config_lib.get_config()
  config.dataset = 'digits'
  config.image_size = image_size
  config.epochs = epochs
  config.batch_size = batch_size
  config.drop_remainder = True
  config.eval_batch_size = 512
  config.lr = lr
  config.lr_decay_epochs = tuple(sorted({max(1, round(epochs * s / 240)) for s in (150, 180, 210)}))
  config.progress_bar = False
  config.checkpoint_every = epochs  # One checkpoint per run: runs are short.
  config.checkpoint_keep = 1
  config.log_every = 10_000
  return config


def _scale_method_schedules(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  config.dkd.warmup_epochs = max(1, round(config.epochs * 20 / 240))
  config.ctkd.lambda_epochs = max(1, round(config.epochs * 10 / 240))
  return config


def student_config(method: str, seed: int, teacher_dir: str, *, teacher: str, student: str,
                   base: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """One student run: ``method``'s preset (``PROXY_PAIR``'s table entries) on the digits protocol."""
  config = config_lib.method_config(method, *PROXY_PAIR, config=base)
  config.teacher, config.student = teacher, student
  config.seed = seed
  config.lr = base.lr  # MLKD's per-pair lr/epochs are CIFAR settings: keep the job's schedule.
  config.epochs = base.epochs
  config.batch_size = base.batch_size
  config.precision = base.precision
  if config.method != 'ce':
    config.teacher_checkpoint = teacher_dir
  config.method = None
  return config_lib.validate(_scale_method_schedules(config))


def _mean_std(values: Sequence[float]) -> str:
  values = np.asarray([v for v in values if v is not None], np.float64)
  if values.size == 0:
    return 'n/a'
  std = values.std(ddof=1) if values.size > 1 else 0.0
  return f'{values.mean():6.2f} +- {std:4.2f}'


def format_table(teacher: dict[str, Any], results: dict[str, list[dict[str, Any]]]) -> str:
  """The job's table: one row per method, top-1 mean +- std over seeds (best and last epoch).

  The last column is the mean best top-1 minus that of the CE-only student (when run).
  """
  ce = results.get('ce')
  ce_best = np.mean([r['best_top1'] for r in ce]) if ce else None
  lines = [f"{'model / method':<24} {'seeds':>5} {'best top-1':>16} {'last top-1':>16} {'vs ce':>6}",
           '-' * 71,
           f"{'teacher ' + teacher['student']:<24} {1:>5} {teacher['best_top1']:>8.2f}"
           f"{'':>8} {teacher['last_top1']:>8.2f}"]
  for method, runs in results.items():
    best = [r['best_top1'] for r in runs]
    delta = '' if ce_best is None else f'{np.mean(best) - ce_best:+6.2f}'
    lines.append(f"{method:<24} {len(runs):>5} {_mean_std(best):>16} "
                 f"{_mean_std([r['last_top1'] for r in runs]):>16} {delta:>6}")
  return '\n'.join(lines)


def run_job(workdir: str, *, methods: Sequence[str], seeds: Sequence[int], epochs: int,
            teacher_epochs: int, teacher: str, student: str, batch_size: int, image_size: int,
            lr: float) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
  """Trains the teacher, then every (method, seed) student; returns the summaries."""
  unknown = [m for m in methods if m not in config_lib.METHODS]
  if unknown:
    raise ValueError(f'unknown methods {unknown}; choose from {config_lib.METHODS}')
  teacher_base = base_config(epochs=teacher_epochs, batch_size=batch_size, image_size=image_size,
                             lr=lr)
  teacher_dir = os.path.join(workdir, 'teacher', 'model')
  teacher_summary, _ = train_teacher.train_teacher(
      train_teacher.teacher_config(teacher, config=teacher_base),
      os.path.join(workdir, 'teacher'), teacher_dir, overwrite=True)
  print(f"  teacher {teacher}: best {teacher_summary['best_top1']:.2f} "
        f"last {teacher_summary['last_top1']:.2f} ({teacher_summary['train_seconds']:.1f}s)",
        flush=True)
  base = base_config(epochs=epochs, batch_size=batch_size, image_size=image_size, lr=lr)
  results: dict[str, list[dict[str, Any]]] = {}
  for method in methods:
    for seed in seeds:
      config = student_config(method, seed, teacher_dir, teacher=teacher, student=student,
                              base=base)
      summary = train.train_and_evaluate(config, os.path.join(workdir, method, f'seed{seed}')).summary
      print(f"  {method:<14} seed {seed}: best {summary['best_top1']:.2f} "
            f"last {summary['last_top1']:.2f} ({summary['train_seconds']:.1f}s)", flush=True)
      results.setdefault(method, []).append(summary)
  return teacher_summary, results


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  logs.quiet_library_logs()
  fv = flags.FLAGS
  workdir = fv.workdir or tempfile.mkdtemp(prefix='kdjax-distill-')
  start = time.time()
  print(f'digits {fv.image_size}x{fv.image_size}: teacher {fv.teacher} ({fv.teacher_epochs} epochs),'
        f' student {fv.student} ({fv.epochs} epochs), methods {",".join(fv.methods)}, '
        f'seeds {",".join(fv.seeds)}; runs in {workdir}', flush=True)
  teacher_summary, results = run_job(
      workdir, methods=fv.methods, seeds=[int(s) for s in fv.seeds], epochs=fv.epochs,
      teacher_epochs=fv.teacher_epochs, teacher=fv.teacher, student=fv.student,
      batch_size=fv.batch_size, image_size=fv.image_size, lr=fv.lr)
  table = format_table(teacher_summary, results)
  print(table)
  with open(os.path.join(workdir, 'results.txt'), 'w') as f:
    f.write(table + '\n')
  print(f'total wall time {time.time() - start:.1f}s (top-1 in %, test set of 450 digits)',
        flush=True)


if __name__ == '__main__':
  app.run(main)
