"""``cache``: the step reading cached teacher logits against the step running the teacher."""

from __future__ import annotations

from typing import Any

from experiments.benchmark import runner


def run(ctx: runner.Context) -> dict[str, Any]:
  """KD (and MLKD when benchmarked) steps with cached teacher logits vs the teacher forward."""
  o = ctx.options
  out = {}
  for method in [m for m in ('kd', 'mlkd') if m == 'kd' or m in o.methods]:
    uncached = ctx.runner(method)
    cached, costs = ctx.cached_runner(method)
    count = {'n': 0}

    def teacher_forward(runner_=uncached, count_=count):
      count_['n'] += 1
      return runner_.teacher_logits(count_['n'] % runner_.steps)

    rows = runner.timed_rows(
        {'uncached': uncached, 'cached': cached, 'teacher_forward': teacher_forward},
        'uncached', repeats=o.repeats, inner=o.inner, images_per_call=o.batch_size)
    out[method] = {
        'rows': rows, 'cached_over_uncached': rows['cached']['ratio'],
        'bound_1_minus_teacher_share': 1.0 - rows['teacher_forward']['ratio'], **costs}
  return out


def report(s: dict[str, Any]) -> list[str]:
  lines = []
  for method, c in s.items():
    if not isinstance(c, dict) or 'rows' not in c:
      continue
    lines.append(f"\n[cache] {method}: cached / uncached step {c['cached_over_uncached']:.3f} "
                 f"(teacher forward alone {c['rows']['teacher_forward']['ratio']:.3f} of the "
                 f"step; bound {c['bound_1_minus_teacher_share']:.3f}); fill "
                 f"{c['fill_seconds_per_step'] * 1e3:.1f} ms/step, {c['storage_dtype']}")
  return lines
