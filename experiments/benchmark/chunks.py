"""``chunks``: convolutions on the whole batch against slices of it (``conv_batch_chunks``)."""

from __future__ import annotations

import inspect
from typing import Any

from experiments.benchmark import runner
from kdjax import models


def models_slice_convolutions() -> bool:
  """Whether ``kdjax.models.create`` takes ``conv_batch_chunks`` (otherwise
  ``kdjax.steps.create_model`` builds every chunking as the whole-batch model)."""
  return 'conv_batch_chunks' in inspect.signature(models.create).parameters


def run(ctx: runner.Context) -> dict[str, Any]:
  """The KD step, and the cached-teacher KD step, with each convolution on batch slices or not.

  ``conv_batch_chunks`` 1 (whole batch) against the trainer's auto setting and
  twice it (``kdjax.steps.resolved_conv_batch_chunks``): same arithmetic, other
  kernel working sets.
  """
  o = ctx.options
  auto = ctx.runner('kd').setup.conv_batch_chunks
  counts = sorted({1, auto, 2 * auto} if o.batch_size % (2 * auto) == 0 else {1, auto})
  calls = {}
  for chunks in counts:
    calls[f'step/{chunks}'] = ctx.runner('kd', conv_batch_chunks=chunks)
    calls[f'cached_step/{chunks}'] = ctx.cached_runner('kd', conv_batch_chunks=chunks)[0]
  rows = runner.timed_rows(calls, 'step/1', repeats=o.repeats, inner=o.inner,
                           images_per_call=o.batch_size)
  return {'auto_chunks': auto, 'chunks': counts,
          'models_slice_convolutions': models_slice_convolutions(), 'rows': rows,
          'auto_over_whole_batch': {
              name: rows[f'{name}/{auto}']['median_s'] / rows[f'{name}/1']['median_s']
              for name in ('step', 'cached_step')}}


def report(c: dict[str, Any]) -> list[str]:
  sliced = '' if c['models_slice_convolutions'] else (
      '; the models do not slice yet, so every row is the same program')
  lines = [f"\n[chunks] convolutions on batch slices (auto {c['auto_chunks']}), time / "
           f"whole-batch KD step{sliced}"]
  lines += [f"{name:<18}{r['ratio']:>8.3f}{r['median_s'] * 1e3:>10.1f} ms"
            for name, r in c['rows'].items()]
  a = c['auto_over_whole_batch']
  lines.append(f"auto / whole batch: step {a['step']:.3f}, cached step {a['cached_step']:.3f}")
  return lines
