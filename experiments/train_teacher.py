r"""Trains a teacher with cross-entropy (method ``ce``) and saves it as a kdjax teacher directory.

  python -m experiments.train_teacher --model=resnet32x4 --output=teachers/resnet32x4 \
      --config.data_dir=DATA
  python -m experiments.cifar100 --config=method:kd,teacher=resnet32x4,student=resnet8x4,teachers=teachers

The result (``kdjax.convert.save_teacher``) is what ``teacher_checkpoint`` and ``teachers=DIR``
accept. ``--config`` defaults to ``experiments/configs/method.py:ce`` (the CIFAR-100 protocol);
``--config.<field>`` overrides it (``--config.epochs``, ``--config.dataset=digits``...). The
teacher is the final epoch's model, as the released ``ckpt_epoch_240.pth`` teachers.
"""

from __future__ import annotations

import os
from typing import Any

import ml_collections
from absl import flags

from experiments import cli
from kdjax import config as config_lib
from kdjax import convert
from kdjax import logs
from kdjax import parallel
from kdjax import train



def define_flags() -> None:
  cli.define_config_flag(os.path.join(cli.CONFIG_DIR, 'method.py') + ':ce',
                         'config file[:argument] of the CE run')
  flags.DEFINE_string('model', 'resnet32x4', 'teacher architecture (a kdjax.models name)')
  flags.DEFINE_string('output', None, 'teacher directory (default: <workdir>/teacher)')
  flags.DEFINE_string('workdir', None,
                      'run directory (default: runs/<dataset>/teacher-<model>-seed<seed>)')
  flags.DEFINE_bool('overwrite', False, 'replace an existing teacher directory')


def teacher_config(model: str, *, config: ml_collections.ConfigDict | None = None
                   ) -> ml_collections.ConfigDict:
  """``config`` (default: the schema) set up for CE training of ``model``, validated."""
  config = config_lib.apply_preset(config_lib.get_config() if config is None else config, 'ce')
  config.teacher, config.student = '', model
  return config_lib.validate(config)


def train_teacher(config: ml_collections.ConfigDict, workdir: str, output: str, *,
                  overwrite: bool = False, progress: Any = None
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
  """Trains ``config.student`` with CE in ``workdir`` and saves it to ``output``.

  Returns:
    ``(summary, metadata)``: the run summary and the saved teacher's metadata.

  Raises:
    ValueError: ``config`` is not a CE-only config.
  """
  config_lib.validate(config)
  if config.method != 'ce':
    raise ValueError(f'a teacher is trained with CE only (method ce), got method {config.method!r}')
  result = train.train_and_evaluate(config, workdir, progress=progress)
  variables = parallel.to_host({'params': result.state.params['student'],
                                'batch_stats': result.state.batch_stats['student']})
  metadata = convert.save_teacher(
      output, config.student, result.summary['num_classes'], variables, overwrite=overwrite,
      source=f'experiments.train_teacher {config.dataset} epoch {result.summary["epochs_done"]} '
             f'seed {config.seed} top-1 {result.summary["last_top1"]}')
  return result.summary, metadata


def main(argv):
  del argv
  fv = flags.FLAGS
  config = teacher_config(fv.model, config=fv.config)
  workdir = fv.workdir or os.path.join('runs', config.dataset, f'teacher-{fv.model}-seed{config.seed}')
  output = fv.output or os.path.join(workdir, 'teacher')
  print(cli.describe_run(config, workdir), flush=True)
  if fv.dry_run:
    print(f'dry run: nothing trained (the teacher would be saved to {output})', flush=True)
    return
  if not fv.overwrite:
    convert.check_output_directory(output, overwrite=False)
  summary, metadata = train_teacher(config, workdir, output, overwrite=fv.overwrite)
  print(logs.format_summary(summary))
  print(f'teacher {metadata["model"]} ({metadata["param_count"]} parameters) saved to {output}',
        flush=True)


if __name__ == '__main__':
  define_flags()
  cli.run(main, 'experiments.train_teacher')
