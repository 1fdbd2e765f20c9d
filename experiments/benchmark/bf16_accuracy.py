"""``bf16_accuracy``: test top-1 of float32 vs bfloat16 students on the digits main job."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Any

import numpy as np

from experiments.benchmark import runner
from kdjax import train


def main_job(o: runner.Options):
  """The digits main job's settings (``experiments.distill.Job`` defaults), then ``o``'s."""
  from experiments import distill  # pylint: disable=g-import-not-at-top
  job = distill.Job(workdir='')
  changes = {name: getattr(o, f'digits_{name}') for name in
             ('seeds', 'epochs', 'teacher_epochs', 'teacher', 'student')
             if getattr(o, f'digits_{name}') is not None}
  if o.digits_batch is not None:
    changes['batch_size'] = o.digits_batch
  return dataclasses.replace(job, **changes)


def run(ctx: runner.Context) -> dict[str, Any]:
  """Test top-1 of float32 vs bfloat16 students of the digits main job (same float32 teacher)."""
  from experiments import distill  # pylint: disable=g-import-not-at-top
  from experiments import train_teacher  # pylint: disable=g-import-not-at-top
  o = ctx.options
  with tempfile.TemporaryDirectory() as root:
    job = dataclasses.replace(main_job(o), workdir=root)
    out = {'method': o.digits_method, 'teacher': job.teacher, 'student': job.student,
           'epochs': job.epochs, 'image_size': job.image_size, 'batch_size': job.batch_size,
           'seeds': list(job.seeds)}
    teacher_dir = os.path.join(root, 'teacher')
    teacher_summary, _ = train_teacher.train_teacher(
        distill.teacher_config(job), teacher_dir, os.path.join(teacher_dir, 'model'),
        overwrite=True)
    out['teacher_top1'] = teacher_summary['last_top1']
    for dtype in ('float32', 'bfloat16'):
      runs = []
      for seed in job.seeds:
        config = distill.student_config(job, o.digits_method, seed, 1.0, eval_split='test')
        config.compute_dtype = dtype
        summary = train.train_and_evaluate(config, os.path.join(root, dtype, str(seed))).summary
        runs.append({k: summary[k] for k in ('seed', 'last_top1', 'train_seconds')})
      last = [r['last_top1'] for r in runs]
      out[dtype] = {'runs': runs, 'last_top1_mean': float(np.mean(last)),
                    'last_top1_std': float(np.std(last, ddof=1)) if len(last) > 1 else 0.0}
  out['last_top1_bf16_minus_fp32'] = (out['bfloat16']['last_top1_mean'] -
                                      out['float32']['last_top1_mean'])
  return out


def report(b: dict[str, Any]) -> list[str]:
  return [f"\n[bf16_accuracy] digits {b['method']} {b['teacher']}->{b['student']}, "
          f"{b['epochs']} epochs, seeds {b['seeds']}: test top-1 fp32 "
          f"{b['float32']['last_top1_mean']:.2f} +- {b['float32']['last_top1_std']:.2f}, "
          f"bf16 {b['bfloat16']['last_top1_mean']:.2f} +- "
          f"{b['bfloat16']['last_top1_std']:.2f} (teacher {b['teacher_top1']:.2f})"]
