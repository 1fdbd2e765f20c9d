"""Evaluation over a run's test split: accuracy, the teacher's one pass, the logged statistics.

The test split is read in padded batches (``Source.eval_batches``; padding rows
have ``mask`` 0). The teacher makes one pass per run (``teacher_pass``): its
top-1 / top-5 and its ``[N, K]`` logits, which every later evaluation of the
student compares against (``kdjax.statistics``: entropy, KL to the transformed
teacher, logit correlation, max-logit and LS temperatures).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from kdjax import metrics as metrics_lib
from kdjax import parallel
from kdjax import statistics
from kdjax.data import sources

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class TeacherPass:
  """The teacher on the test split: accuracy (percent) and float32 logits ``[N, K]`` (host)."""
  top1: float
  top5: float
  logits: np.ndarray


def _to_device(batch: dict[str, np.ndarray], mesh: jax.sharding.Mesh) -> dict[str, Array]:
  """A batch of this process's rows, as global arrays sharded over the mesh."""
  return {name: parallel.local_to_global(values, mesh) for name, values in batch.items()}


def teacher_pass(program: Any, teacher_vars: Any, arrays: dict[str, Array],
                 source: sources.Source, batch_size: int,
                 mesh: jax.sharding.Mesh) -> TeacherPass | None:
  """The teacher's one pass over the test split (None without a teacher).

  Evaluation batch ``i`` holds test examples ``i * B .. (i + 1) * B - 1`` (the
  last one padded), so the valid rows of the replicated logits, in order, are
  the split's logits.
  """
  if program.teacher_test_logits is None:
    return None
  batch = sources.eval_batch_size(batch_size, source.num_test, parallel.num_shards(mesh))
  chunks, hits = [], np.zeros(2, np.float64)
  for i, local in enumerate(source.eval_batches(batch_size, mesh)):
    logits, batch_hits = parallel.to_host(program.teacher_test_logits(
        teacher_vars, arrays, _to_device(local, mesh)))
    chunks.append(logits[:max(0, min(batch, source.num_test - i * batch))])
    hits += batch_hits
  accuracy = metrics_lib.accuracy_percent(hits, source.num_test)
  return TeacherPass(top1=accuracy['top1'], top5=accuracy['top5'],
                     logits=np.concatenate(chunks).astype(np.float32))


def evaluate(program: Any, state: Any, teacher_vars: Any, arrays: dict[str, Array],
             source: sources.Source, batch_size: int, mesh: jax.sharding.Mesh,
             teacher_logits: np.ndarray | None = None, ls_tau: float = 2.0) -> dict[str, float]:
  """``top1`` / ``top5`` (percent) of the student of ``state`` on the test split.

  With the teacher's test logits (``teacher_pass``), also the
  ``statistics.EPOCH_STATISTICS`` of the student against them (``ls_tau``: the base
  temperature of the logged LS temperatures).
  """
  totals = None
  for batch in source.eval_batches(batch_size, mesh):
    if teacher_logits is not None:
      batch = dict(batch, teacher_logits=teacher_logits[batch['index']])
    sums = program.evaluate(state, teacher_vars, arrays, _to_device(batch, mesh),
                            {'ls_tau': np.float32(ls_tau)})
    totals = sums if totals is None else jax.tree.map(lambda a, b: a + b, totals, sums)
  totals = parallel.to_host(totals)
  out = metrics_lib.accuracy_percent(totals.pop('hits'), source.num_test)
  if totals:
    out.update(statistics.statistics_from_sums(totals))
  return out
