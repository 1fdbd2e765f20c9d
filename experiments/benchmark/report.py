"""Runs the sections (``run``), writes their JSON and formats the table (``format_report``)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import time
from types import ModuleType
from typing import Any

import jax

from experiments import timing
from experiments.benchmark import SECTIONS
from experiments.benchmark import runner
from kdjax import config as config_lib


def section(name: str) -> ModuleType:
  """The module of section ``name`` (``run(ctx) -> dict``, ``report(result) -> lines``)."""
  return importlib.import_module(f'experiments.benchmark.{name}')


def missing_requirement(module: ModuleType) -> str | None:
  """Why section ``module`` cannot run here (a package of its ``REQUIRES`` is missing), or None.

  PyTorch is the ``test`` extra of kdjax: ``pip install 'kdjax[test]'``.
  """
  for package, extra in getattr(module, 'REQUIRES', ()):
    try:
      importlib.import_module(package)
    except ImportError:
      return (f'skipped: needs {package}, which is not installed '
              f"(pip install 'kdjax[{extra}]')")
  return None


def write_json(path: str, results: dict[str, Any]) -> None:
  with open(path, 'w') as f:
    json.dump(results, f, indent=1, default=float)


def run(options: runner.Options, out: str | None = None) -> dict[str, Any]:
  """Runs the sections of ``options``; returns ``{'meta', 'sections'}`` (JSON-compatible).

  With ``out``, the results so far are written there as JSON after every section.
  """
  unknown = [s for s in options.sections if s not in SECTIONS]
  if unknown:
    raise ValueError(f'unknown sections {unknown}; choose from {SECTIONS}')
  for name in options.methods:
    if name not in config_lib.METHODS:
      raise ValueError(f'unknown method {name!r}{config_lib.did_you_mean(name, config_lib.METHODS)}'
                       f'; choose from {config_lib.METHODS}')
  ctx = runner.Context.create(options)
  meta = {'device': str(jax.devices()[0]), 'backend': jax.default_backend(),
          'num_devices': jax.device_count(), 'cpu_count': os.cpu_count(),
          'jax_version': jax.__version__, 'options': dataclasses.asdict(options),
          'load_average_start': timing.load_average()}
  results = {'meta': meta, 'sections': {}}
  for name in options.sections:
    skipped = missing_requirement(section(name))
    if skipped:
      results['sections'][name] = {'skipped': skipped}
      print(f'[{name}] {skipped}', flush=True)
      continue
    start, load = time.time(), timing.load_average()
    result = section(name).run(ctx)
    result['load_average_before_after'] = [load, timing.load_average()]
    result['wall_seconds'] = time.time() - start
    results['sections'][name] = result
    print(f'[{name}] done in {result["wall_seconds"]:.1f}s', flush=True)
    meta['load_average_end'] = timing.load_average()
    if out:
      write_json(out, results)
  meta['load_average_end'] = timing.load_average()
  return results


def format_report(results: dict[str, Any]) -> str:
  """The human-readable table of ``run``'s results (sections in ``SECTIONS`` order)."""
  meta, sections = results['meta'], results['sections']
  lines = [f"device {meta['device']} ({meta['cpu_count']} CPUs), jax {meta['jax_version']}, "
           f"load average start {meta['load_average_start']} end {meta['load_average_end']}"]
  for name in SECTIONS:
    if name in sections and 'skipped' in sections[name]:
      lines.append(f"\n[{name}] {sections[name]['skipped']}")
    elif name in sections:
      lines += section(name).report(sections[name])
  return '\n'.join(lines)
