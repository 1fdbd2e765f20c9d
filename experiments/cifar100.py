r"""CIFAR-100 distillation: one run of one (teacher, student, method).

Every field of ``kdjax.config.get_config()`` is a flag (nested fields joined by
``_``: ``--ctkd_t_start``, ``--max_logit_order``); ``--method`` applies the
method's preset and per-pair hyperparameters of ``spec/training.md`` first, and
explicitly given flags override them. A config file works too, big_vision style,
with ``--config.<field>`` overrides::

  python -m experiments.cifar100 --teacher=resnet32x4 --student=resnet8x4 --method=kd_ls \
      --teacher_checkpoint=teachers/resnet32x4_vanilla/ckpt_epoch_240.pth --workdir=runs/kd_ls
  python -m experiments.cifar100 --config=experiments/configs/seed001_table1.py:<cell> \
      --workdir=runs/<cell>
  python -m experiments.cifar100 --method=dkd --teacher=resnet14 --student=resnet8 --smoke

Precedence: the ``--config`` file (else the schema defaults), then the preset of
``--method/--teacher/--student`` when one of them is given (or when there is no
file), then ``--smoke`` (2 epochs x 2 steps at batch 8 on random CIFAR-shaped
data, random-init teacher unless ``--teacher_checkpoint``), then every other
flag given on the command line. Restarting with the same ``--workdir`` resumes.
"""

from __future__ import annotations

import os
from typing import Any

import ml_collections
from absl import app
from absl import flags
from ml_collections import config_flags

from kdjax import config as config_lib
from kdjax import logs
from kdjax import train

IDENTITY_FIELDS = ('method', 'teacher', 'student')


def flag_name(field: str) -> str:
  """Flag of a (dotted) config field: ``'ctkd.t_start'`` -> ``'ctkd_t_start'``."""
  return field.replace('.', '_')


def _schema_fields() -> dict[str, tuple[Any, type]]:
  """``{dotted field: (default, type)}`` of the config schema."""
  schema = config_lib.get_config()
  fields = {}
  for field, default in config_lib.flatten(schema.to_dict()).items():
    parent, _, leaf = field.rpartition('.')
    node = schema if not parent else schema[parent]
    fields[field] = (default, node.get_type(leaf))
  return fields


def define_flags(flag_values: flags.FlagValues = flags.FLAGS, *, exclude: tuple[str, ...] = (),
                 argv: list[str] | None = None) -> None:
  """Defines ``--workdir``, ``--config`` and one flag per schema field (except ``exclude``).

  Args:
    flag_values: where to define the flags.
    exclude: schema fields without a flag.
    argv: the command line that will be parsed, when it is not ``sys.argv``
      (``--config.<field>`` overrides are registered from it).
  """
  flags.DEFINE_string('workdir', None, 'run directory (default: runs/<dataset>/<cell>-seed<seed>)',
                      flag_values=flag_values)
  config_flags.DEFINE_config_file('config', None, 'a config file, e.g. '
                                  'experiments/configs/<table>.py:<cell>', flag_values=flag_values,
                                  lock_config=False, sys_argv=argv)
  for field, (default, kind) in _schema_fields().items():
    if field in exclude:
      continue
    name, help_text = flag_name(field), f'config.{field}'
    if kind is bool:
      flags.DEFINE_bool(name, default, help_text, flag_values=flag_values)
    elif kind is int:
      flags.DEFINE_integer(name, default, help_text, flag_values=flag_values)
    elif kind is float:
      flags.DEFINE_float(name, default, help_text, flag_values=flag_values)
    elif kind is str:
      flags.DEFINE_string(name, default, help_text, flag_values=flag_values)
    elif kind in (tuple, list):
      flags.DEFINE_list(name, [str(v) for v in default], f'{help_text} (comma-separated)',
                        flag_values=flag_values)
    else:
      raise TypeError(f'config field {field} of type {kind} has no flag type')


def _flag_value(field: str, kind: type, value: Any) -> Any:
  if kind in (tuple, list):
    return tuple(int(v) if str(v).lstrip('-').isdigit() else float(v) for v in value)
  return value


def config_from_flags(flag_values: flags.FlagValues = flags.FLAGS, *,
                      base: ml_collections.ConfigDict | None = None) -> ml_collections.ConfigDict:
  """The run's config from parsed flags (precedence in the module docstring).

  Args:
    flag_values: parsed flags defined by ``define_flags``.
    base: starting config instead of ``--config`` / the schema defaults.
  """
  if base is None and 'config' in flag_values and flag_values['config'].value is not None:
    base = flag_values['config'].value
  fields = {f: kind for f, (_, kind) in _schema_fields().items() if flag_name(f) in flag_values}
  given = {f: _flag_value(f, kind, flag_values[flag_name(f)].value)
           for f, kind in fields.items() if flag_values[flag_name(f)].present}
  config = config_lib.get_config() if base is None else ml_collections.ConfigDict(base.to_dict())
  if base is None or any(f in given for f in IDENTITY_FIELDS):
    config = config_lib.method_config(given.get('method', config.method),
                                      given.get('teacher', config.teacher),
                                      given.get('student', config.student), config=config)
  if given.get('smoke'):
    config = config_lib.smoke_config(config)
  overrides = {f: v for f, v in given.items() if f not in IDENTITY_FIELDS + ('smoke',)}
  config.update_from_flattened_dict(overrides)
  config_lib.validate(config)
  return config


def default_workdir(config: ml_collections.ConfigDict) -> str:
  """``runs/<dataset>/<teacher>-<student>-<method>-seed<seed>`` (``-smoke`` in smoke mode)."""
  smoke = '-smoke' if config.smoke else ''
  name = f'{config.teacher or "none"}-{config.student}-{config.method}-seed{config.seed}{smoke}'
  return os.path.join('runs', config.dataset, name)


def run(flag_values: flags.FlagValues = flags.FLAGS) -> train.RunResult:
  """Trains the run described by ``flag_values`` and prints its summary."""
  config = config_from_flags(flag_values)
  workdir = flag_values['workdir'].value or default_workdir(config)
  result = train.train_and_evaluate(config, workdir)
  print(logs.format_summary(result.summary), flush=True)
  return result


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  logs.quiet_library_logs()
  run(flags.FLAGS)


if __name__ == '__main__':
  define_flags(flags.FLAGS)
  app.run(main)
