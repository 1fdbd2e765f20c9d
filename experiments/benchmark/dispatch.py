"""``dispatch``: k train steps in one ``lax.scan`` dispatch (rolled, unrolled) vs k dispatches."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from experiments.benchmark import runner


def scanned_steps(train_step: Callable, k: int, unroll: bool) -> Callable:
  """``k`` train steps in one jitted ``lax.scan``: batch indices ``[k, B]``, steps ``[k]``."""

  def scanned(state, acc, teacher_vars, arrays, indices, scalars, steps):
    def body(carry, xs):
      index, step = xs
      return train_step(*carry, teacher_vars, arrays, {'index': index},
                        dict(scalars, step=step)), None
    return jax.lax.scan(body, (state, acc), (indices, steps), unroll=k if unroll else 1)[0]

  return jax.jit(scanned, donate_argnums=(0, 1))


def _scan_call(single: runner.StepRunner, k: int, unroll: bool) -> Callable[[], Any]:
  """A call that runs the next ``k`` steps of a twin of ``single`` in one dispatch."""
  fn = scanned_steps(single.program.train_step, k, unroll)
  r = single.twin()

  def call() -> Any:
    steps = [(r.count * k + j) % r.steps for j in range(k)]
    indices = np.stack([r.local_batches[s]['index'] for s in steps])
    r.state, r.acc = fn(r.state, r.acc, r.teacher_vars, r.arrays, jnp.asarray(indices),
                        r.scalars, np.asarray(steps, np.uint32))
    r.count += 1
    return r.acc

  return call


def run(ctx: runner.Context) -> dict[str, Any]:
  """Per-step time of ``k`` steps in one dispatch (``lax.scan``, rolled / unrolled) vs ``k``."""
  o = ctx.options
  single, k = ctx.runner('kd'), o.dispatch_k

  def separate() -> Any:
    for _ in range(k):
      out = single()
    return out

  rows = runner.timed_rows(  # One call is k steps.
      {'separate': separate, 'scan': _scan_call(single, k, False),
       'scan_unrolled': _scan_call(single, k, True)},
      'separate', repeats=o.dispatch_repeats, inner=1, images_per_call=k * o.batch_size)
  return {'k': k, 'per_step_s': {n: r['median_s'] / k for n, r in rows.items()},
          'images_per_s': {n: r['images_per_s'] for n, r in rows.items()},
          'scan_over_separate': rows['scan']['ratio'],
          'scan_unrolled_over_separate': rows['scan_unrolled']['ratio']}


def report(d: dict[str, Any]) -> list[str]:
  return [f"\n[dispatch] {d['k']} steps per dispatch / {d['k']} dispatches: lax.scan "
          f"{d['scan_over_separate']:.3f}, unrolled {d['scan_unrolled_over_separate']:.3f}"]
