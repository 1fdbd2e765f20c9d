"""Every published cell of every table builds: its config validates and its train step traces.

A cell that resolves to settings the trainer refuses (a method's ``check_config`` with the
cell's models, e.g. OFD on a student without pre-ReLU stages) or whose objective fails on the
models' shapes could sit in a table unnoticed until someone spends GPU hours on it. This test
takes every cell of ``experiments.published`` (the tables ``experiments.sweep`` runs), builds its
smoke config the way ``--config=experiments/configs/<table>.py:<cell>,runlocal`` does, opens its
(random) data source and creates the trainer's ``Setup`` (``kdjax.methods.build`` runs every
check there). Then, without compiling anything (``jax.eval_shape``):

* the method's objective (``Distillation.init`` and ``apply`` in train mode, as the train step
  calls them) on the shapes of the cell's own student and teacher outputs, once per distinct
  (method structure, student, teacher, input shape); a method structure is the method fields
  less their float values (a weight or gamma is a constant of the same program). A term that
  reads only features sees their shapes, so models with the same output shapes count once; a
  term that reads only logits sees ``[B, classes]`` whatever the models: it is traced once per
  structure. Every model is traced once through its forward (features included);
* the whole train step (``Program.train_step``: views, forwards with features, objective,
  gradients, optimizer) on a real batch of the source, once per distinct ``Needs`` of the
  methods and dataset (the trainer's glue differs only with those).

Tracing every cell's full step costs about 3 s of CPU each (some 500 distinct programs); this
split checks every cell's models against its objective for a fraction of that.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import published
from experiments.configs import common
from kdjax import methods
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


def _method_structure(setup: steps_lib.Setup) -> str:
  """The method fields less their float values (a float, e.g. a weight or gamma, is a constant of
  the same program; ints, strings and bools choose shapes and code paths)."""
  fields = {k: v for k, v in json.loads(setup.method).items() if not isinstance(v, float)}
  return json.dumps(fields, sort_keys=True)


@functools.lru_cache(maxsize=None)
def _model_outputs(name: str, num_classes: int, image_shape: tuple[int, ...], compute_dtype: str):
  """Shapes of a model's ``Outputs`` (features included) on a batch of 2 and of its variables,
  traced once per model (train and inference mode give the same shapes)."""
  module = steps_lib.create_model(name, num_classes, compute_dtype)

  def run(key, x):
    variables = module.init(key, x, train=False)
    variables = {'params': variables['params'], 'batch_stats': variables.get('batch_stats', {})}
    return steps_lib.forward(module, variables, x, train=False, features=True)[0], variables

  x = jax.ShapeDtypeStruct((2, *image_shape), steps_lib.dtype_of(compute_dtype))
  return jax.eval_shape(run, jax.random.key(0), x)


def _feature_shapes(setup: steps_lib.Setup, name: str) -> str:
  """A model's output shapes (features included) as a key."""
  outputs, _ = _model_outputs(name, setup.num_classes, setup.image_shape, setup.compute_dtype)
  return str(jax.tree.map(lambda leaf: leaf.shape, outputs))


def _size(tree) -> int:
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def _trace_objective(setup: steps_lib.Setup, config) -> None:
  """``eval_shape`` of the method's init and train-mode apply on the cell's models' outputs, with
  the inputs the train step passes (``kdjax.steps.build_program``'s ``objective``)."""
  distillation = methods.build(setup.method_config, setup.context)
  needs = distillation.needs
  shape = (setup.num_classes, setup.image_shape, setup.compute_dtype)
  student, student_vars = _model_outputs(setup.student, *shape)
  teacher, teacher_vars = _model_outputs(setup.teacher, *shape) if needs.teacher else (None, None)
  if not needs.features:  # what the step passes a term that reads logits only
    student = methods.Outputs(student.logits)
    teacher = methods.Outputs(teacher.logits) if teacher is not None else None
  scalars = {k: jnp.float32(v) for k, v in steps_lib.scalars_of(config, 1).items()
             if k not in ('seed', 'epoch')}
  key = jax.random.key(0)

  def objective(student, teacher, student_vars, teacher_vars):
    inputs = methods.StepInputs(
        student=student, labels=jnp.zeros((2,), jnp.int32), teacher=teacher,
        student_strong=student if needs.strong_view else None,
        teacher_strong=teacher if needs.strong_view else None,
        indices=jnp.zeros((2,), jnp.int32),
        dataset_labels=jnp.zeros((setup.num_examples,), jnp.int32) if needs.dataset_labels else None,
        scalars=scalars)
    variables = distillation.init({'params': key, 'sample': key}, inputs, train=False)
    inputs = dataclasses.replace(
        inputs, dataset_labels=None, indices=inputs.indices if needs.example_index else None,
        teacher_variables=teacher_vars if needs.teacher_variables else None,
        student_variables={'params': student_vars['params']} if needs.student_variables else None)
    (loss, terms), _ = distillation.apply(variables, inputs, train=True,
                                          mutable=['batch_stats', 'state'], rngs={'sample': key})
    return loss, terms

  loss, terms = jax.eval_shape(objective, student, teacher, student_vars, teacher_vars)
  assert loss.shape == () and all(v.shape == () for v in terms.values()), terms


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
  return {'params': variables['params'], 'batch_stats': variables.get('batch_stats', {})}


def _trace(setup: steps_lib.Setup, config, source, mesh) -> None:
  """``jax.eval_shape`` of ``program.init``'s state and one ``program.train_step`` on a batch of
  ``source``."""
  program = steps_lib.build_program(setup)
  needs = program.distillation.needs
  labels = jnp.asarray(source.train_labels()) if needs.dataset_labels else None
  state = _state_shapes(program, labels)
  teacher_vars = _teacher_shapes(setup) if needs.teacher else None
  local = next(iter(source.train_batches(config.seed, 0, 1, 0, config.batch_size, mesh,
                                         strong=setup.views.strong)))
  batch = {k: parallel.local_to_global(v, mesh) for k, v in local.items()}
  acc = metrics.empty_accumulator(program.metric_names)
  scalars = dict(steps_lib.scalars_of(config, 1), step=np.uint32(0))  # epochs count from 1
  new_state, acc = jax.eval_shape(program.train_step, state, acc, teacher_vars,
                                  source.device_arrays('train', mesh), batch, scalars)
  assert jax.tree.structure(new_state) == jax.tree.structure(state)
  assert set(acc) >= {'loss', 'top1'}


@pytest.mark.slow
def test_every_published_cell_builds_and_traces_its_train_step():
  mesh = parallel.create_mesh()
  cells = published.all_cells()
  objectives: dict[tuple, tuple] = {}  # (method structure, models, input shape) -> first cell
  forwards: set[tuple] = set()  # the models of logit-only cells
  steps: dict[tuple, list] = {}  # (Needs, dataset) -> its cells
  failures = []
  start, cpu = time.perf_counter(), time.process_time()
  for cell in cells:
    try:
      config = common.config_for(cell, runlocal=True)
      source = _source(config)
      count, _ = sources.epoch_steps(source.num_train, config, parallel.num_shards(mesh))
      setup = steps_lib.Setup.create(config, source, steps_per_epoch=count, mesh=mesh)
    except Exception as error:  # pylint: disable=broad-except
      failures.append(f'{cell.table}:{cell.cell}: config/setup: {error}')
      continue
    entry = (cell, setup, config, source)
    needs = methods.build(setup.method_config, setup.context).needs
    if needs.teacher_variables or needs.student_variables or needs.eval_features:
      objectives.setdefault((_method_structure(setup), setup.student, setup.teacher,
                             setup.image_shape), entry)
    elif needs.features:  # the term sees the features: models with the same shapes are alike
      objectives.setdefault((_method_structure(setup), _feature_shapes(setup, setup.student),
                             _feature_shapes(setup, setup.teacher)), entry)
    else:  # a logit term sees [B, classes] logits whatever the models: once per structure,
      objectives.setdefault((_method_structure(setup), setup.num_classes), entry)
      models_ = {(name, setup.num_classes, setup.image_shape, setup.compute_dtype)
                 for name in (setup.student, setup.teacher) if name}
      forwards.update(models_)  # and each model's forward once
    steps.setdefault((needs, config.dataset, setup.views.strong), []).append(entry)
  for cell, setup, config, _ in objectives.values():
    try:
      _trace_objective(setup, config)
    except Exception as error:  # pylint: disable=broad-except
      failures.append(f'{cell.table}:{cell.cell}: objective: {type(error).__name__}: {error}')
  for name, *shape in sorted(forwards):
    try:
      _model_outputs(name, *shape)
    except Exception as error:  # pylint: disable=broad-except
      failures.append(f'model {name} on {shape}: {type(error).__name__}: {error}')
  for entries in steps.values():
    # The group's cell with the smallest models (the step's glue is what this trace checks).
    cell, setup, config, source = min(entries, key=lambda e: _size(_model_outputs(
        e[1].student, e[1].num_classes, e[1].image_shape, e[1].compute_dtype)[1]))
    try:
      _trace(setup, config, source, mesh)
    except Exception as error:  # pylint: disable=broad-except
      failures.append(f'{cell.table}:{cell.cell}: train step: {type(error).__name__}: {error}')
  print(f'{len(cells)} cells: {len(objectives)} distinct objectives, {len(forwards)} model forwards '
        f'and {len(steps)} train steps traced in {time.perf_counter() - start:.1f} s '
        f'({time.process_time() - cpu:.1f} s CPU)')
  assert not failures, '\n'.join(failures)
  assert len(cells) > len(objectives) > len(steps) > 1
  assert {recipes.is_imagenet(setup.student) for _, setup, *_ in objectives.values()} == {True, False}
