"""Every published cell of every table builds: its config validates and its train step traces.

A cell that resolves to settings the trainer refuses (a method's ``check_config`` with the
cell's models, e.g. OFD on a student without pre-ReLU stages) or whose objective fails on the
models' shapes could sit in a table unnoticed until someone spends GPU hours on it. This test
takes every cell of ``experiments.published`` (the tables ``experiments.sweep`` runs), builds its
smoke config the way ``--config=experiments/configs/<table>.py:<cell>,runlocal`` does, opens its
(random) data source, creates the trainer's ``Setup`` (``kdjax.methods.build`` runs every check
there) and traces ``Program.init`` and ``Program.train_step`` with ``jax.eval_shape`` on a real
batch of the source: the whole step (augmentation, student and teacher forwards with features,
the method's terms, gradients, optimizer) is built and shape-checked without compiling.

Cells that compile to the same program (same student, teacher, method fields and views: the
``Setup`` less its schedule numbers) are traced once; the count of distinct structures is
asserted against the cells so that a change in deduplication shows.
"""

from __future__ import annotations

import dataclasses
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import published
from experiments.configs import common
from kdjax import metrics
from kdjax import models
from kdjax import parallel
from kdjax import recipes
from kdjax import steps as steps_lib
from kdjax.data import imagenet
from kdjax.data import sources


def _source(config) -> sources.Source:
  """The cell's smoke source; ImageNet cells at their real 224 crop (random records), since the
  smoke crop (32 px) is smaller than what some methods need (CAT-KD's 4 x 4 maps)."""
  if config.dataset != imagenet.TFDS_NAME:
    return sources.open_source(config)
  crop, resize = sources.IMAGENET_SIZES['full']
  records = sources.smoke_records(config.smoke_examples, config.seed, imagenet.NUM_CLASSES)
  return sources.StreamingSource(records, records, name='random imagenet', image_size=crop,
                                 num_classes=imagenet.NUM_CLASSES, resize_size=resize,
                                 mean=imagenet.IMAGENET_MEAN, std=imagenet.IMAGENET_STD)


def _structure(setup: steps_lib.Setup) -> tuple:
  """What decides the traced program's shapes: models, views, input shape and the method fields
  that are not floats (a float, e.g. a weight or gamma, is a constant of the same program)."""
  fields = {k: v for k, v in json.loads(setup.method).items() if not isinstance(v, float)}
  return (setup.student, setup.teacher, setup.image_shape, setup.views, setup.num_examples,
          json.dumps(fields, sort_keys=True))


def _state_shapes(program: steps_lib.Program, labels) -> steps_lib.TrainState:
  """Shapes of ``program.init``'s state: the same student / method initialisers and optimizer.

  (``program.init`` itself calls initialisers jitted with CPU compiler options, which JAX refuses
  inside ``eval_shape``; these are the functions they wrap.)
  """
  setup, distillation = program.setup, program.distillation
  student = steps_lib.create_model(setup.student, setup.num_classes, setup.compute_dtype)

  def init(key):
    x = jnp.zeros((1, *setup.image_shape), steps_lib.dtype_of(setup.compute_dtype))
    student_vars = student.init(key, x, train=False)
    example = steps_lib.example_inputs(setup, distillation, labels)
    method_vars = distillation.init({'params': key, 'sample': key}, example, train=False)
    params = {'student': student_vars['params'], 'method': dict(method_vars.get('params', {}))}
    return steps_lib.TrainState(
        step=jnp.zeros((), jnp.int32), params=params,
        batch_stats={'student': student_vars['batch_stats'],
                     'method': dict(method_vars.get('batch_stats', {}))},
        method_state=dict(method_vars.get('state', {})), opt_state=setup.optimizer().init(params))

  return jax.eval_shape(init, jax.random.key(0))


def _teacher_shapes(setup: steps_lib.Setup):
  module = models.create(setup.teacher, num_classes=setup.num_classes)
  variables = jax.eval_shape(
      lambda key: module.init(key, jnp.zeros((1, *setup.image_shape)), train=False),
      jax.random.key(0))
  return {'params': variables['params'], 'batch_stats': variables['batch_stats']}


def _trace(setup: steps_lib.Setup, config, source, mesh) -> None:
  """``jax.eval_shape`` of one train step of the program on a batch of ``source``."""
  program = steps_lib.build_program(setup)
  needs = program.distillation.needs
  labels = jnp.asarray(source.train_labels()) if needs.dataset_labels else None
  state = _state_shapes(program, labels)
  teacher_vars = _teacher_shapes(setup) if needs.teacher else None
  local = next(iter(source.train_batches(config.seed, 0, 1, 0, config.batch_size, mesh,
                                         strong=setup.views.strong)))
  batch = {k: parallel.local_to_global(v, mesh) for k, v in local.items()}
  acc = metrics.empty_accumulator(program.metric_names)
  scalars = dict(steps_lib.scalars_of(config, 0), step=np.uint32(0))
  new_state, acc = jax.eval_shape(program.train_step, state, acc, teacher_vars,
                                  source.device_arrays('train', mesh), batch, scalars)
  assert jax.tree.structure(new_state) == jax.tree.structure(state)
  assert set(acc) >= {'loss', 'top1'}


@pytest.mark.slow
def test_every_published_cell_builds_and_traces_its_train_step():
  mesh = parallel.create_mesh()
  cells = published.all_cells()
  structures: dict[tuple, tuple] = {}
  failures = []
  start = time.perf_counter()
  for cell in cells:
    try:
      config = common.config_for(cell, runlocal=True)
      source = _source(config)
      steps, _ = sources.epoch_steps(source.num_train, config, parallel.num_shards(mesh))
      setup = steps_lib.Setup.create(config, source, steps_per_epoch=steps, mesh=mesh)
    except Exception as error:  # pylint: disable=broad-except
      failures.append(f'{cell.table}:{cell.cell}: config/setup: {error}')
      continue
    structures.setdefault(_structure(setup), (cell, setup, config, source))
  built = time.perf_counter()
  for cell, setup, config, source in structures.values():
    try:
      _trace(setup, config, source, mesh)
    except Exception as error:  # pylint: disable=broad-except
      failures.append(f'{cell.table}:{cell.cell}: train step: {type(error).__name__}: {error}')
  print(f'{len(cells)} cells ({built - start:.1f} s to validate and set up), '
        f'{len(structures)} distinct structures traced in {time.perf_counter() - built:.1f} s')
  assert not failures, '\n'.join(failures)
  # Every cell was set up; each distinct structure traced once (and a CIFAR and an ImageNet
  # recipe among them).
  assert len(cells) > len(structures)
  assert {recipes.is_imagenet(c.student) for c, *_ in structures.values()} == {True, False}
