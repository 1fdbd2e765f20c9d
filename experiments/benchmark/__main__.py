"""``python -m experiments.benchmark [--sections=...] [--smoke] [--out=bench.json]``."""

from __future__ import annotations

import os
from typing import Any

from absl import app
from absl import flags

from experiments import cli

from experiments.benchmark import SECTIONS
from experiments.benchmark import report
from experiments.benchmark import runner
from kdjax import logs


def define_flags() -> None:
  """The command-line flags (defined only when run as a program, so the package imports cleanly)."""
  flags.DEFINE_bool('smoke', False, 'tiny models and batches, one round: seconds (CI)')
  flags.DEFINE_string('out', None, 'write the results as JSON to this path')
  flags.DEFINE_list('sections', list(SECTIONS), f'sections to run, from {SECTIONS}')
  flags.DEFINE_list('kd_methods', None, 'methods of the methods section (default: all; smoke: 2)')
  flags.DEFINE_string('pair', None, 'teacher,student (default resnet32x4,resnet8x4)')
  flags.DEFINE_integer('batch', None, 'batch size (default 64; smoke 8)')
  flags.DEFINE_integer('repeats', None, 'interleaved timing rounds (default 5; smoke 1)')
  flags.DEFINE_integer('inner', None, 'calls per candidate per round (default 2; smoke 1)')
  flags.DEFINE_float('peak_tflops', None, 'peak TFLOP/s of the device (default: a table by GPU)')


def options_from_flags(fv: flags.FlagValues) -> runner.Options:
  """``Options.full()`` or ``smoke_options()`` with the given flags applied."""
  overrides: dict[str, Any] = {'sections': tuple(fv.sections)}
  if fv.kd_methods:
    overrides['methods'] = tuple(fv.kd_methods)
  if fv.pair:
    overrides['teacher'], overrides['student'] = fv.pair.split(',')
  for name, field in (('batch', 'batch_size'), ('repeats', 'repeats'), ('inner', 'inner'),
                      ('peak_tflops', 'peak_tflops')):
    if fv[name].value is not None:
      overrides[field] = fv[name].value
  options = runner.Options.smoke_options if fv.smoke else runner.Options.full
  return options(**overrides)


def compile_fast() -> None:
  """Smoke mode: XLA backend optimisation at level 1 (compiles faster; the steps are tiny).

  Takes effect because ``main`` calls it before anything creates the JAX backend
  (importing the package does not).
  """
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                             ' --xla_backend_optimization_level=1').strip()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  fv = flags.FLAGS
  logs.quiet_library_logs()
  if fv.smoke:
    compile_fast()
  results = report.run(options_from_flags(fv), fv.out)
  print(report.format_report(results), flush=True)
  if fv.out:
    print(f'wrote {fv.out}')


if __name__ == '__main__':
  define_flags()
  cli.run(main, 'experiments.benchmark')
