"""Interleaved timing for benchmarks on shared machines: rounds of A, B, C..., medians, ratios.

Timing each candidate in its own block makes a ratio depend on what the other
jobs of the machine did meanwhile; timing them in interleaved rounds
(ABC ABC ...) and comparing medians exposes every candidate to the same load.
Used by ``experiments.benchmark`` and ``experiments.bench_losses``.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any, Callable, Mapping

import jax


def interleaved_times(calls: Mapping[str, Callable[[], Any]], *, repeats: int, inner: int,
                      warmup: int = 1) -> dict[str, list[float]]:
  """Seconds per call of each candidate, one entry per round.

  Args:
    calls: name -> zero-argument callable doing one unit of work (e.g. one
      train step; stateful candidates keep their state in a closure). Its
      result is passed to ``jax.block_until_ready`` after the round's last call,
      so asynchronous JAX work is included; other frameworks must return once
      their work is done.
    repeats: interleaved rounds; round ``r`` starts at candidate ``r mod n`` (ABC, BCA,
      CAB, ...), so that no candidate always runs first in its round.
    inner: calls per candidate per round (the round's time is divided by it).
    warmup: untimed calls of each candidate before the first round (compilation).

  Returns:
    name -> ``repeats`` per-call times in seconds.
  """
  if repeats < 1 or inner < 1:
    raise ValueError(f'repeats and inner must be >= 1, got {repeats} and {inner}')
  for call in calls.values():
    for _ in range(warmup):
      jax.block_until_ready(call())
  times = {name: [] for name in calls}
  names = list(calls)
  for round_ in range(repeats):
    for name in names[round_ % len(names):] + names[:round_ % len(names)]:
      call = calls[name]
      start = time.perf_counter()
      for _ in range(inner):
        out = call()
      jax.block_until_ready(out)
      times[name].append((time.perf_counter() - start) / inner)
  return times


def median_ratios(times: Mapping[str, list[float]], reference: str) -> dict[str, dict[str, float]]:
  """``{name: {'median_s', 'ratio'}}``: each median and its ratio to ``reference``'s median."""
  if reference not in times:
    raise KeyError(f'reference {reference!r} is not among the timed candidates {sorted(times)}')
  base = statistics.median(times[reference])
  return {name: {'median_s': statistics.median(t), 'ratio': statistics.median(t) / base}
          for name, t in times.items()}


def load_average() -> list[float] | None:
  """The 1/5/15-minute load averages (None where the OS does not report them)."""
  try:
    return [round(v, 2) for v in os.getloadavg()]
  except OSError:
    return None
