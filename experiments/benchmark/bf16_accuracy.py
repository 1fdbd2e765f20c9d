"""``bf16_accuracy``: test top-1 of float32 vs bfloat16 students on the digits main job."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
from absl import flags

from experiments.benchmark import runner
from kdjax import train


def main_job_settings(o: runner.Options) -> dict[str, Any]:
  """The digits main job's settings: ``experiments.distill``'s flag defaults, then ``o``'s."""
  from experiments import distill  # pylint: disable=g-import-not-at-top,unused-import
  default = lambda name: flags.FLAGS[name].default  # Defined by importing distill.
  settings = dict(seeds=tuple(int(v) for v in default('seeds')), epochs=default('epochs'),
                  teacher_epochs=default('teacher_epochs'), teacher=default('teacher'),
                  student=default('student'), batch_size=default('batch_size'),
                  image_size=default('image_size'), lr=default('lr'))
  for name in ('seeds', 'epochs', 'teacher_epochs', 'teacher', 'student'):
    if getattr(o, f'digits_{name}') is not None:
      settings[name] = getattr(o, f'digits_{name}')
  if o.digits_batch is not None:
    settings['batch_size'] = o.digits_batch
  return settings


def run(ctx: runner.Context) -> dict[str, Any]:
  """Top-1 of float32 vs bfloat16 students on the digits main job (same float32 teacher)."""
  from experiments import distill  # pylint: disable=g-import-not-at-top
  from experiments import train_teacher  # pylint: disable=g-import-not-at-top
  o = ctx.options
  job = main_job_settings(o)
  out = {'method': o.digits_method, **{k: job[k] for k in ('teacher', 'student', 'epochs',
                                                          'image_size', 'batch_size')},
         'seeds': list(job['seeds'])}
  with tempfile.TemporaryDirectory() as root:
    common = dict(batch_size=job['batch_size'], image_size=job['image_size'], lr=job['lr'])
    teacher_dir = os.path.join(root, 'teacher', 'model')
    teacher_summary, _ = train_teacher.train_teacher(
        train_teacher.teacher_config(job['teacher'], config=distill.base_config(
            epochs=job['teacher_epochs'], **common)),
        os.path.join(root, 'teacher'), teacher_dir, overwrite=True)
    out['teacher_top1'] = teacher_summary['last_top1']
    base = distill.base_config(epochs=job['epochs'], **common)
    for dtype in ('float32', 'bfloat16'):
      runs = []
      for seed in job['seeds']:
        config = distill.student_config(o.digits_method, seed, teacher_dir,
                                        teacher=job['teacher'], student=job['student'],
                                        base=base)
        config.compute_dtype = dtype
        summary = train.train_and_evaluate(config, os.path.join(root, dtype, str(seed))).summary
        runs.append({k: summary[k] for k in ('seed', 'best_top1', 'last_top1', 'train_seconds')})
      best = [r['best_top1'] for r in runs]
      out[dtype] = {'runs': runs, 'best_top1_mean': float(np.mean(best)),
                    'best_top1_std': float(np.std(best, ddof=1)) if len(best) > 1 else 0.0,
                    'last_top1_mean': float(np.mean([r['last_top1'] for r in runs]))}
  out['best_top1_bf16_minus_fp32'] = (out['bfloat16']['best_top1_mean'] -
                                      out['float32']['best_top1_mean'])
  return out


def report(b: dict[str, Any]) -> list[str]:
  return [f"\n[bf16_accuracy] digits {b['method']} {b['teacher']}->{b['student']}, "
          f"{b['epochs']} epochs, seeds {b['seeds']}: best top-1 fp32 "
          f"{b['float32']['best_top1_mean']:.2f} +- {b['float32']['best_top1_std']:.2f}, "
          f"bf16 {b['bfloat16']['best_top1_mean']:.2f} +- "
          f"{b['bfloat16']['best_top1_std']:.2f} (teacher {b['teacher_top1']:.2f})"]
