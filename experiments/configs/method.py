r"""Any method on any teacher/student pair, with its paper's recipe: the config of ad-hoc runs.

  python -m experiments.cifar100 \
      --config=experiments/configs/method.py:kd_ls,teacher=resnet32x4,student=resnet8x4,teachers=teachers \
      --workdir=runs/r32x4-r8x4-kd_ls
  python -m experiments.cifar100 --config=method:dkd,teacher=resnet14,student=resnet8,runlocal
  python -m experiments.cifar100 --config=method:kd,teacher=resnet32x4,student=resnet8x4 \
      --config.teacher_checkpoint=resnet32x4_vanilla/ckpt_epoch_240.pth --config.logit.standardize=True

The argument is ``<method>[,teacher=T][,student=S][,recipe=R][,teachers=DIR][,dataset=D][,runlocal]``:
``<method>`` is a preset (``kdjax.methods.presets()``: ce, kd, kd_ls, ctkd, ctkd_ls, dkd, dkd_ls,
mlkd, mlkd_ls, ttm, wttm, kd_maxlogit, dkd_maxlogit, ...), applied with the pair's published values
(``kdjax.recipes.resolve``: the method's own paper, or ``recipe=seed001|seed002|seed000|imagenet``);
``teachers=DIR`` takes the teacher from a directory of teachers (converted or released layout);
``runlocal`` shrinks the run to two epochs of two steps on random data. Every field can then be
overridden with ``--config.<field>=<value>``; the method's name is derived from the resulting switches.
"""

from __future__ import annotations

import ml_collections

from kdjax import config as kdjax_config
from kdjax import recipes
from kdjax import teachers as teachers_lib

_KEYS = ('teacher', 'student', 'recipe', 'teachers', 'dataset')


def parse_arg(arg: str | None) -> tuple[str, dict[str, str], bool]:
  """``(method, {key: value}, runlocal)`` of ``<method>[,key=value...][,runlocal]``."""
  parts = [p.strip() for p in (arg or 'kd').split(',') if p.strip()]
  method, options, runlocal = parts[0], {}, False
  for part in parts[1:]:
    if part in ('runlocal', 'smoke'):
      runlocal = True
      continue
    key, sep, value = part.partition('=')
    if not sep or key not in _KEYS:
      raise ValueError(f'unknown option {part!r} in {arg!r}; expected <method> then any of '
                       f'{", ".join(k + "=..." for k in _KEYS)} and runlocal')
    options[key] = value
  return method, options, runlocal


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The config of ``arg`` (see the module docstring); default ``kd`` on resnet32x4 -> resnet8x4."""
  method, options, runlocal = parse_arg(arg)
  teacher = options.get('teacher', 'resnet32x4' if method != 'ce' else '')
  student = options.get('student', 'resnet8x4')
  config = recipes.resolve(method, teacher, student, recipe=options.get('recipe')).config
  if 'dataset' in options:
    config.dataset = options['dataset']
  if options.get('teachers') and teacher:
    config.teacher_checkpoint = teachers_lib.find_teacher(options['teachers'], teacher)
  if runlocal:
    config = kdjax_config.smoke_config(config)
  config.method = None  # derived again after any --config.<field> override
  return config
