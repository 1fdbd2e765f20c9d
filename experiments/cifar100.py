r"""Trains one run: any method, any teacher/student pair, CIFAR-100 or digits (or a table cell).

  python -m experiments.cifar100 \
      --config=experiments/configs/method.py:kd_ls,teacher=resnet32x4,student=resnet8x4 \
      --config.teacher_checkpoint=teachers/resnet32x4 --config.data_dir=DATA --workdir=runs/kd_ls
  python -m experiments.cifar100 --config=experiments/configs/seed001_table2.py:resnet32x4-resnet8x4-kd_ls
  python -m experiments.cifar100 --config=method:dkd,teacher=resnet14,student=resnet8,runlocal

``--config`` is a config file and its argument (``experiments/configs/method.py:<method>,...`` for
any method and pair, ``experiments/configs/<table>.py:<cell>`` for a published cell; found from any
directory); ``--config.<field>=<value>`` overrides any field (``--config.logit.weight=3``,
``--config.epochs=10``). The run goes to ``--workdir`` (default
``runs/<dataset>/<teacher>-<student>-<method>-seed<seed>``); the same command resumes it.
"""

from __future__ import annotations

import os

from absl import flags

from experiments import cli


def define_flags() -> None:
  cli.define_config_flag(
      os.path.join(cli.CONFIG_DIR, 'method.py'),
      'config file[:argument], e.g. experiments/configs/method.py:kd_ls,teacher=resnet32x4,'
      'student=resnet8x4 or experiments/configs/<table>.py:<cell>')
  flags.DEFINE_string('workdir', None,
                      'run directory (default: runs/<dataset>/<pair>-<method>-seed<seed>)')


def main(argv):
  del argv
  cli.train_config(flags.FLAGS.config, flags.FLAGS.workdir, dry_run=flags.FLAGS.dry_run)


if __name__ == '__main__':
  define_flags()
  cli.run(main, 'experiments.cifar100')
