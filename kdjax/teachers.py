"""Finding and loading the frozen teacher of a run.

A teacher is given as ``config.teacher_checkpoint``: a PyTorch ``.pth`` or
``.safetensors`` file (converted on load, ``kdjax.convert``) or a kdjax teacher
directory (``experiments.convert_teacher`` / ``experiments.train_teacher``).
A directory of teachers (``teachers=DIR`` of the table configs and sweeps) is
searched in both layouts, ``find_teacher``:

* ``DIR/<name>/`` holding ``kdjax_teacher.json`` (converted or trained by kdjax);
* ``DIR/<name>_vanilla/ckpt_epoch_240.pth`` (how the CRD / mdistiller CIFAR-100
  teachers are released);
* ``DIR/<name>.pth`` or ``DIR/<name>.safetensors`` (a single file per teacher,
  e.g. torchvision's ImageNet weights renamed to the model's name).
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections

from kdjax import models

SMOKE_TEACHER_SEED_OFFSET = 1_000_003


class TeacherNotFoundError(FileNotFoundError):
  """No teacher of the requested model where the run looked."""


def candidate_paths(directory: str, name: str) -> list[str]:
  """Where ``find_teacher`` looks for teacher ``name`` under ``directory``, in order."""
  from kdjax import convert  # pylint: disable=import-outside-toplevel
  directory = os.fspath(directory)
  return [os.path.join(directory, name, convert.METADATA_FILE),
          os.path.join(directory, f'{name}_vanilla', 'ckpt_epoch_240.pth'),
          os.path.join(directory, f'{name}.pth'),
          os.path.join(directory, f'{name}.safetensors')]


def find_teacher(directory: str, name: str) -> str:
  """The checkpoint of teacher ``name`` in a directory of teachers (either layout).

  Returns:
    A kdjax teacher directory or a checkpoint file, for ``config.teacher_checkpoint``.

  Raises:
    TeacherNotFoundError: none of ``candidate_paths`` exists (the message lists them).
  """
  for path in candidate_paths(directory, name):
    if os.path.isfile(path):
      return os.path.dirname(path) if path.endswith('kdjax_teacher.json') else path
  looked = '\n  '.join(candidate_paths(directory, name))
  raise TeacherNotFoundError(
      f'no {name} teacher in {directory}; looked for\n  {looked}\n'
      f'Convert a released one with `python -m experiments.convert_teacher --model {name} '
      f'--checkpoint <{name}_vanilla/ckpt_epoch_240.pth> --out {os.path.join(directory, name)}` '
      f'or train one with `python -m experiments.train_teacher --model={name} '
      f'--output={os.path.join(directory, name)}`.')


@functools.lru_cache(maxsize=16)
def _random_init(name: str, num_classes: int, image_shape: tuple[int, int, int]) -> Callable:
  """A jitted random initialiser of model ``name`` (one compilation per model)."""
  module = models.create(name, num_classes=num_classes)
  options = {'xla_backend_optimization_level': 0} if jax.default_backend() == 'cpu' else None
  return jax.jit(lambda key: module.init(key, jnp.zeros((1, *image_shape), jnp.float32),
                                         train=False),
                 compiler_options=options)


def load_variables(config: ml_collections.ConfigDict, num_classes: int,
                   image_shape: tuple[int, int, int], *, needed: bool = True) -> Any:
  """The frozen teacher's ``{'params', 'batch_stats'}`` (None when the method needs none).

  From ``config.teacher_checkpoint``; in smoke mode without a checkpoint, a
  randomly initialised teacher (seeded by the run's seed).

  Raises:
    TeacherNotFoundError: a distillation run without a teacher checkpoint.
  """
  if not needed:
    return None
  if config.teacher_checkpoint:
    from kdjax import convert  # pylint: disable=import-outside-toplevel
    _, variables = convert.load_teacher(config.teacher_checkpoint, config.teacher,
                                        num_classes=num_classes)
    return {'params': variables['params'], 'batch_stats': variables['batch_stats']}
  if config.smoke:
    variables = _random_init(config.teacher, num_classes, tuple(image_shape))(
        jax.random.key(config.seed + SMOKE_TEACHER_SEED_OFFSET))
    # A model without BatchNorm (the DeiTs, vit_toy) initialises no batch_stats collection.
    return {'params': variables['params'], 'batch_stats': variables.get('batch_stats', {})}
  raise TeacherNotFoundError(
      f'method {config.method!r} distils from teacher {config.teacher!r} but no teacher '
      f'checkpoint was given: set --config.teacher_checkpoint=<.pth file or kdjax teacher '
      f'directory>, add teachers=DIR to a table config, or train one with '
      f'`python -m experiments.train_teacher --model={config.teacher}`')
