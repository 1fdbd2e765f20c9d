"""``methods``: each method's full train step relative to plain KD's (interleaved rounds)."""

from __future__ import annotations

from typing import Any

from experiments.benchmark import runner
from kdjax.data import batching


def run(ctx: runner.Context) -> dict[str, Any]:
  """Median step time of every method and its ratio to KD's.

  ``kd_control`` is KD again (a second runner of the same compiled step): its
  distance from 1 shows how precise the ratios of this run are.
  """
  o = ctx.options
  names = ('kd',) + tuple(m for m in o.methods if m != 'kd')
  calls = {m: ctx.runner(m) for m in names}
  calls['kd_control'] = calls['kd'].twin()
  rows = runner.timed_rows(calls, 'kd', repeats=o.methods_repeats, inner=o.inner,
                           images_per_call=o.batch_size)
  steps_per_epoch = batching.num_batches(runner.CIFAR_TRAIN_EXAMPLES, o.batch_size)
  return {'pair': f'{o.teacher}->{o.student}', 'batch_size': o.batch_size, 'rows': rows,
          'kd_projected_240_epochs_hours': (rows['kd']['median_s'] * steps_per_epoch *
                                            o.projected_epochs / 3600)}


def report(m: dict[str, Any]) -> list[str]:
  lines = [f"\n[methods] {m['pair']} batch {m['batch_size']}: train step / KD step "
           f"(median of interleaved rounds)",
           f"{'method':<14}{'ratio':>8}{'ms/step':>10}{'img/s':>9}"]
  lines += [f"{name:<14}{r['ratio']:>8.3f}{r['median_s'] * 1e3:>10.1f}{r['images_per_s']:>9.1f}"
            for name, r in m['rows'].items()]
  lines.append(f"KD 240 epochs at this rate: {m['kd_projected_240_epochs_hours']:.1f} h")
  return lines
