r"""Trains a teacher with cross-entropy (the distillation pipeline, method ``ce``) and saves it.

The result is a converted-teacher directory (``kdjax.convert.save_teacher``)
that ``--teacher_checkpoint`` of ``experiments.cifar100`` accepts::

  python -m experiments.train_teacher --model=resnet32x4 --workdir=runs/teacher-resnet32x4 \
      --output=teachers/resnet32x4
  python -m experiments.cifar100 --teacher=resnet32x4 --student=resnet8x4 --method=kd \
      --teacher_checkpoint=teachers/resnet32x4

Every training flag of ``experiments.cifar100`` applies (``--epochs``,
``--batch_size``, ``--lr``, ``--dataset``, ``--smoke``...); the teacher is the
final epoch's model (as the released ``ckpt_epoch_240.pth`` teachers).
"""

from __future__ import annotations

import os
from typing import Any

import ml_collections
from absl import app
from absl import flags

from experiments import cifar100
from kdjax import config as config_lib
from kdjax import convert
from kdjax import logs
from kdjax import parallel
from kdjax import train


def define_flags(flag_values: flags.FlagValues = flags.FLAGS, *,
                 argv: list[str] | None = None) -> None:
  """``--model``, ``--output``, ``--overwrite`` and the training flags of ``experiments.cifar100``."""
  flags.DEFINE_string('model', 'resnet32x4', 'teacher architecture (a kdjax.models name)',
                      flag_values=flag_values)
  flags.DEFINE_string('output', None, 'teacher directory (default: <workdir>/teacher)',
                      flag_values=flag_values)
  flags.DEFINE_bool('overwrite', False, 'replace an existing teacher directory',
                    flag_values=flag_values)
  cifar100.define_flags(flag_values, exclude=('method', 'teacher', 'student',
                                              'teacher_checkpoint'), argv=argv)


def teacher_config(model: str, *, config: ml_collections.ConfigDict | None = None
                   ) -> ml_collections.ConfigDict:
  """``config`` (default: the schema) set up for CE training of ``model`` without a teacher."""
  config = config_lib.method_config('ce', '', model, config=config)
  return config


def train_teacher(config: ml_collections.ConfigDict, workdir: str, output: str, *,
                  overwrite: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
  """Trains ``config.student`` with CE in ``workdir`` and saves it to ``output``.

  Returns:
    ``(summary, metadata)``: the run summary and the saved teacher's metadata.

  Raises:
    ValueError: ``config`` is not a CE-only config.
  """
  if config.loss != 'none':
    raise ValueError(f'a teacher is trained with CE only (method ce), got method {config.method!r}')
  result = train.train_and_evaluate(config, workdir)
  variables = parallel.to_host({'params': result.state.params['student'],
                                'batch_stats': result.state.batch_stats})
  metadata = convert.save_teacher(
      output, config.student, result.summary['num_classes'], variables, overwrite=overwrite,
      source=f'experiments.train_teacher {config.dataset} epoch {result.summary["epochs_done"]} '
             f'seed {config.seed} top-1 {result.summary["last_top1"]}')
  return result.summary, metadata


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  logs.quiet_library_logs()
  fv = flags.FLAGS
  base = fv['config'].value or teacher_config(fv.model)
  base = teacher_config(fv.model, config=base)
  config = cifar100.config_from_flags(fv, base=base)
  workdir = fv.workdir or os.path.join('runs', config.dataset, f'teacher-{fv.model}-seed{config.seed}')
  output = fv.output or os.path.join(workdir, 'teacher')
  summary, metadata = train_teacher(config, workdir, output, overwrite=fv.overwrite)
  print(logs.format_summary(summary))
  print(f'teacher {metadata["model"]} ({metadata["param_count"]} parameters) saved to {output}',
        flush=True)


if __name__ == '__main__':
  define_flags(flags.FLAGS)
  app.run(main)
