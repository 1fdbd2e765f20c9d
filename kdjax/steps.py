"""The compiled functions of a run: state initialisation, the train step, evaluation steps.

``build_program(setup)`` returns the jitted functions of one ``Setup`` (the
hashable description of what gets compiled: models, shapes, the method's
settings, optimizer, precision, mesh); runs with the same Setup (seeds of a
sweep) share the compilations, since seeds, epochs and steps are arguments.

Data parallelism (big_vision style): the batch is sharded over the ``data``
mesh axis, state and teacher are replicated, and ``jax.jit`` inserts the
collectives, so BatchNorm statistics and losses are over the GLOBAL batch and
the same program runs on 1 or N devices (and hosts).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any, Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from kdjax import config as config_lib
from kdjax import methods
from kdjax import metrics as metrics_lib
from kdjax import models
from kdjax import optim
from kdjax import parallel
from kdjax import statistics
from kdjax.data import sources

Array = jax.Array
SAMPLE_STREAM = 2**31 - 1  # fold_in stream of the methods' random draws (sampled negatives).
DROPOUT_STREAM = 2**31 - 2  # fold_in stream of the student's dropout masks.


@flax.struct.dataclass
class TrainState:
  """Everything a checkpoint holds.

  Attributes:
    step: optimizer updates done.
    params: ``{'student', 'method'}``: the student's and the method's trainable
      parameters (a learned temperature, connectors, embeddings), one optimizer.
    batch_stats: ``{'student', 'method'}`` BatchNorm running statistics ({} for a model
      without BatchNorm).
    method_state: the method's non-gradient variables (a memory bank), or {}.
    opt_state: the optimizer state.
  """
  step: Array
  params: Any
  batch_stats: Any
  method_state: Any
  opt_state: Any


@dataclasses.dataclass(frozen=True)
class Setup:
  """The hashable description of a compiled program (same Setup -> same compilations)."""
  student: str
  teacher: str
  num_classes: int
  num_examples: int
  image_shape: tuple[int, int, int]
  views: sources.Views
  compute_dtype: str
  precision: str
  conv_batch_chunks: int
  method: str  # canonical JSON of the config's method fields (config.method_fields()).
  base_lr: float
  lr_decay_epochs: tuple[int, ...]
  lr_decay_rate: float
  momentum: float
  weight_decay: float
  steps_per_epoch: int
  mesh: jax.sharding.Mesh
  # ``statistics.statistic_sums`` options of the evaluation, or () when they are off.
  statistics: tuple[tuple[str, Any], ...] = ()
  # The optimizer and schedule (kdjax.optim.Settings); None: the SGD of the fields above.
  optimization: optim.Settings | None = None

  @classmethod
  def create(cls, config: ml_collections.ConfigDict, source: sources.Source, *,
             steps_per_epoch: int, mesh: jax.sharding.Mesh) -> 'Setup':
    method = method_key(config)
    distillation = objective(method, context(config, source))
    if not distillation.needs.teacher:  # The setup names no teacher, nor does its objective.
      _OBJECTIVES[method, context(config, source, teacher='')] = distillation
    return cls(
        student=config.student, teacher=config.teacher if distillation.needs.teacher else '',
        num_classes=source.num_classes, num_examples=source.num_train,
        image_shape=tuple(source.image_shape),
        views=source.views(strong=distillation.needs.strong_view,
                           padding=config.augment_padding, flip=config.augment_flip,
                           **methods.view_options(config)).with_mixing(config),
        compute_dtype=config.compute_dtype, precision=config.precision,
        conv_batch_chunks=resolved_conv_batch_chunks(config, parallel.num_shards(mesh),
                                                     source.image_shape),
        method=method, base_lr=config_lib.resolved_lr(config),
        lr_decay_epochs=tuple(config.lr_decay_epochs),
        lr_decay_rate=float(config.lr_decay_rate), momentum=float(config.momentum),
        weight_decay=float(config.weight_decay), steps_per_epoch=steps_per_epoch, mesh=mesh,
        statistics=(evaluation_statistics(config)
                    if config.eval_statistics and distillation.needs.teacher else ()),
        optimization=optim.Settings.from_config(config))

  @property
  def method_config(self) -> ml_collections.ConfigDict:
    """The method fields of the run's config (on the schema)."""
    return method_config(self.method, self.teacher, self.student)

  @property
  def context(self) -> methods.Context:
    return methods.Context(teacher=self.teacher, student=self.student,
                           num_classes=self.num_classes, num_examples=self.num_examples,
                           image_shape=self.image_shape)

  def optimizer(self) -> optax.GradientTransformation:
    if self.optimization is not None:
      return optim.create_optimizer(self.optimization, self.steps_per_epoch)
    config = ml_collections.ConfigDict(dict(
        lr=self.base_lr, student=self.student, lr_decay_epochs=self.lr_decay_epochs,
        lr_decay_rate=self.lr_decay_rate, momentum=self.momentum,
        weight_decay=self.weight_decay))
    return optim.create_optimizer(config, self.steps_per_epoch)


# Method values passed to the step as inputs (``scalars_of``) rather than compiled in, so that
# the runs of a sweep over them (weights, the fixed temperature) share one compilation.
RUNTIME_FIELDS = {'ce_weight': 'ce_weight', 'logit.weight': 'logit_weight',
                  'logit.temperature': 'logit_temperature', 'feature.weight': 'feature_weight'}


def method_key(config: ml_collections.ConfigDict) -> str:
  """Canonical JSON of the compiled method fields of ``config`` (part of the Setup).

  The ``RUNTIME_FIELDS`` are left out (schema defaults in the key): they reach the step as
  inputs.
  """
  copy = config_lib.copy_config(config)
  fields = ml_collections.ConfigDict({name: copy[name] for name in config_lib.method_fields()})
  schema = config_lib.get_config()
  for field in RUNTIME_FIELDS:
    group, _, leaf = field.rpartition('.')
    (fields[group] if group else fields)[leaf] = (schema[group] if group else schema)[leaf]
  return json.dumps(json.loads(fields.to_json()), sort_keys=True)


def method_config(method: str, teacher: str, student: str) -> ml_collections.ConfigDict:
  """The schema with the method fields of ``method`` (a ``method_key``) and the models."""
  config = config_lib.get_config()
  config.update_from_flattened_dict(config_lib.flatten(json.loads(method)))
  config.teacher, config.student = teacher, student
  return config


_OBJECTIVES: dict[tuple[str, methods.Context], methods.Distillation] = {}


def objective(method: str, context_: methods.Context) -> methods.Distillation:
  """The ``methods.Distillation`` of a ``method_key`` on a run's models and data, checked and
  built once (``Setup.create`` and ``build_program`` share it, as do the runs of a sweep)."""
  key = (method, context_)
  if key not in _OBJECTIVES:
    _OBJECTIVES[key] = methods.build(method_config(method, context_.teacher, context_.student),
                                     context_)
  return _OBJECTIVES[key]


def context(config: ml_collections.ConfigDict, source: sources.Source, *,
            teacher: str | None = None) -> methods.Context:
  """What a method may be built from besides its settings (models, classes, train size);
  ``teacher``: instead of ``config.teacher``."""
  return methods.Context(teacher=config.teacher if teacher is None else teacher,
                         student=config.student,
                         num_classes=source.num_classes, num_examples=source.num_train,
                         image_shape=tuple(source.image_shape))


def evaluation_statistics(config: ml_collections.ConfigDict) -> tuple[tuple[str, Any], ...]:
  """``statistics.statistic_sums`` options compiled into a run's evaluation, as the methods
  declare them (``methods.evaluation_options``; the rest are inputs of the evaluation,
  ``methods.evaluation_inputs``)."""
  return methods.evaluation_options(config)


# CPU auto setting of conv_batch_chunks: slices of 16 examples per device, at most 4 of them,
# for images of at least 32 pixels a side (experiments.benchmark's chunks section).
CPU_CONV_CHUNK, CPU_MAX_CONV_CHUNKS, CPU_CHUNK_MIN_SIDE = 16, 4, 32


def resolved_conv_batch_chunks(config: ml_collections.ConfigDict, num_shards: int,
                               image_shape: tuple[int, ...]) -> int:
  """``config.conv_batch_chunks``, with 0 (auto) resolved for the backend, batch and images.

  Auto is 1 on GPU/TPU, whose convolution libraries want the whole batch. On
  CPU, XLA's convolutions of large activations run faster on slices of the
  batch, so auto slices each device's batch into chunks of ``CPU_CONV_CHUNK``
  examples when it divides (at most ``CPU_MAX_CONV_CHUNKS``) for images of at
  least ``CPU_CHUNK_MIN_SIDE`` pixels a side.
  """
  if config.conv_batch_chunks:
    return int(config.conv_batch_chunks)
  per_device = config.batch_size // max(num_shards, 1)
  if (jax.default_backend() != 'cpu' or per_device % CPU_CONV_CHUNK
      or min(image_shape[:2]) < CPU_CHUNK_MIN_SIDE):
    return 1
  return min(per_device // CPU_CONV_CHUNK, CPU_MAX_CONV_CHUNKS)


def dtype_of(name: str):
  return {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}[name]


@functools.lru_cache(maxsize=64)
def create_model(name: str, num_classes: int, compute_dtype: str,
                 conv_batch_chunks: int = 1) -> nn.Module:
  """The registry model ``name`` (cached, so that jitted functions can be shared)."""
  return models.create(name, num_classes=num_classes, dtype=dtype_of(compute_dtype),
                       conv_batch_chunks=conv_batch_chunks)


def forward(module: nn.Module, variables: Any, x: Array, *, train: bool,
            features: bool, rngs: Any = None) -> tuple[methods.Outputs, Any]:
  """``(Outputs, batch_stats updates or None)`` of one model on one view.

  The updates are None in inference mode and for a model without BatchNorm; ``rngs`` are the
  model's random streams (the ``'dropout'`` key of a model with dropout in train mode).
  """
  mutable = (['batch_stats'] if train else []) + (['intermediates'] if features else [])
  if not mutable:
    return methods.Outputs(logits=module.apply(variables, x, train=train, rngs=rngs)), None
  logits, updates = module.apply(variables, x, train=train, mutable=mutable, rngs=rngs)
  out = methods.Outputs(
      logits=logits,
      features=models.features_from_intermediates(updates['intermediates']) if features
      else None)
  return out, updates.get('batch_stats')


def _precision(name: str) -> str | None:
  return None if name == 'default' else name


def _with_precision(fn: Callable[..., Any], precision: str) -> Callable[..., Any]:
  """``fn`` traced under ``jax.default_matmul_precision(precision)`` (a property of the program)."""
  @functools.wraps(fn)
  def wrapped(*args, **kwargs):
    with jax.default_matmul_precision(_precision(precision)):
      return fn(*args, **kwargs)
  return wrapped


@dataclasses.dataclass(frozen=True)
class Program:
  """The jitted functions of one Setup.

  Attributes:
    setup: what was compiled.
    distillation: the run's objective (``kdjax.methods.Distillation``).
    init: ``init(seed, dataset_labels=None) -> TrainState`` (replicated; the train labels for
      a method that ``Needs.dataset_labels``).
    train_step: ``(state, acc, teacher_vars, arrays, batch, scalars, cached_teacher=None)
      -> (state, acc)``; ``batch`` is sharded over the mesh, ``scalars`` holds ``seed``,
      ``epoch``, ``step`` (uint32) and the methods' per-epoch values; ``cached_teacher =
      (epoch_logits, offset)`` replaces the teacher's forward by rows ``offset:offset + B`` of
      the epoch's cached ``[rows, views, K]`` logits (``kdjax.teacher_cache``).
    teacher_logits: ``(teacher_vars, arrays, batch, scalars) -> [B, views, K]`` float32
      logits of the teacher on the batch's train views (what the cache stores), or None.
    evaluate: ``(state, teacher_vars, arrays, batch, inputs) -> sums``: the top-1 / top-5 hit
      counts of the student on a padded test batch (``hits``) and, when the batch carries the
      teacher's logits, the ``statistics.statistic_sums`` against them (``inputs``: the
      statistics' options passed as arrays, ``methods.evaluation_inputs``).
    teacher_test_logits: ``(teacher_vars, arrays, batch) -> ([B, K] float32 logits, [2] hits)``
      of the teacher on a padded test batch (replicated), or None.
    metric_names: the names the train step accumulates.
  """
  setup: Setup
  distillation: methods.Distillation
  init: Callable[..., TrainState]
  train_step: Callable[..., tuple[TrainState, dict[str, Array]]]
  teacher_logits: Callable[..., Array] | None
  evaluate: Callable[..., dict[str, Array]]
  teacher_test_logits: Callable[..., Array] | None
  metric_names: tuple[str, ...]


def _run_once_compiler_options() -> dict[str, Any] | None:
  """XLA options of functions run once per run (initialisers): no backend optimisation on CPU,
  where optimising the random-number generators dominates their compile time."""
  return {'xla_backend_optimization_level': 0} if jax.default_backend() == 'cpu' else None


@functools.lru_cache(maxsize=32)
def _student_init(student: str, num_classes: int, compute_dtype: str,
                  image_shape: tuple[int, int, int]) -> Callable[[Array], Any]:
  """Jitted ``key -> {'params', 'batch_stats'}`` of a student (shared by every method)."""
  module = create_model(student, num_classes, compute_dtype)

  def init(key):
    dummy = jnp.zeros((1, *image_shape), dtype_of(compute_dtype))
    variables = module.init(key, dummy, train=False)
    return {'params': variables['params'], 'batch_stats': variables.get('batch_stats', {})}

  return jax.jit(init, compiler_options=_run_once_compiler_options())


def example_inputs(setup: Setup, distillation: methods.Distillation,
                   dataset_labels: Any = None) -> methods.StepInputs:
  """Zero ``StepInputs`` of the shapes the step will pass (what a method's ``init`` sees)."""
  needs = distillation.needs
  batch = 2
  dtype = dtype_of(setup.compute_dtype)
  x = jax.ShapeDtypeStruct((batch, *setup.image_shape), dtype)

  def outputs(name: str, train: bool) -> methods.Outputs:
    module = create_model(name, setup.num_classes, setup.compute_dtype)

    def run(key, x):
      variables = module.init(key, x, train=False)
      variables = {'params': variables['params'],
                   'batch_stats': variables.get('batch_stats', {})}
      return forward(module, variables, x, train=train, features=needs.features,
                     rngs={'dropout': key})[0]

    shapes = jax.eval_shape(run, jax.random.key(0), x)
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

  student = outputs(setup.student, True)
  teacher = outputs(setup.teacher, False) if needs.teacher else None
  return methods.StepInputs(
      student=student, labels=jnp.zeros((batch,), jnp.int32), teacher=teacher,
      student_strong=student if needs.strong_view else None,
      teacher_strong=teacher if needs.strong_view else None,
      indices=jnp.zeros((batch,), jnp.int32), dataset_labels=dataset_labels,
      scalars={name: jnp.float32(0.0) for name in methods.scalar_names(setup.method_config)})


def _method_variables(variables: Any) -> tuple[Any, Any, Any]:
  """``(params, batch_stats, state)`` collections of a method's variables ({} when absent)."""
  return (dict(variables.get('params', {})), dict(variables.get('batch_stats', {})),
          dict(variables.get('state', {})))


@functools.lru_cache(maxsize=64)
def build_program(setup: Setup) -> Program:
  """Builds (once per Setup) the jitted init, train and evaluation functions."""
  dtype = dtype_of(setup.compute_dtype)
  distillation = objective(setup.method, setup.context)
  needs = distillation.needs
  student = create_model(setup.student, setup.num_classes, setup.compute_dtype,
                         setup.conv_batch_chunks)
  teacher = (create_model(setup.teacher, setup.num_classes, setup.compute_dtype,
                          setup.conv_batch_chunks) if needs.teacher else None)
  tx = setup.optimizer()
  mesh, views = setup.mesh, setup.views
  replicated, batch_sharding = parallel.replicated(mesh), parallel.data_sharding(mesh)
  metric_names = distillation.term_names + distillation.stat_names + ('loss', 'top1')
  student_init = _student_init(setup.student, setup.num_classes, setup.compute_dtype,
                               setup.image_shape)
  method_init = jax.jit(distillation.init, static_argnames='train',
                        compiler_options=_run_once_compiler_options())

  def init(seed, dataset_labels=None):
    """The initial state; ``dataset_labels`` (the train labels) when the method needs them."""
    if needs.dataset_labels and dataset_labels is None:
      raise ValueError(f'method {distillation.term_names} needs the training labels at init: '
                       f'pass init(seed, dataset_labels=source.train_labels())')
    student_key, method_key_ = jax.random.split(jax.random.key(seed))
    student_vars = student_init(student_key)
    example = example_inputs(setup, distillation, jnp.asarray(dataset_labels, jnp.int32)
                             if needs.dataset_labels else None)
    method_vars = method_init({'params': method_key_, 'sample': method_key_}, example,
                              train=False)
    method_params, method_stats, method_state = _method_variables(method_vars)
    params = {'student': student_vars['params'], 'method': method_params}
    state = TrainState(step=jnp.zeros((), jnp.int32), params=params,
                       batch_stats={'student': student_vars['batch_stats'],
                                    'method': method_stats},
                       method_state=method_state, opt_state=tx.init(params))
    return jax.device_put(state, replicated)

  def keys_of(batch, scalars):
    return sources.example_keys(scalars['seed'], scalars['epoch'], scalars['step'],
                                batch['index'].shape[0], batch_sharding)

  def teacher_views(teacher_vars, weak, strong):
    """The teacher's Outputs on the views (inference mode, constants; with ``teacher_train_bn``
    its BatchNorms use the batch's statistics and their running statistics are discarded)."""
    outs = [forward(teacher, teacher_vars, x, train=needs.teacher_train_bn,
                    features=needs.features)[0]
            for x in (weak, strong) if x is not None]
    outs = jax.lax.stop_gradient(outs)
    return outs[0], (outs[1] if strong is not None else None)

  def teacher_logits(teacher_vars, arrays, batch, scalars):
    batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
    keys = keys_of(batch, scalars)
    weak, strong, labels = views.train(arrays, batch, keys, dtype)
    weak, strong, _ = views.mix(keys, weak, strong, labels, setup.num_classes)
    t_weak, t_strong = teacher_views(teacher_vars, weak, strong)
    logits = [t.logits for t in (t_weak, t_strong) if t is not None]
    return jnp.stack(logits, axis=1).astype(jnp.float32)

  def train_step(state, acc, teacher_vars, arrays, batch, scalars, cached_teacher=None):
    batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
    keys = keys_of(batch, scalars)
    weak, strong, labels = views.train(arrays, batch, keys, dtype)
    weak, strong, targets = views.mix(keys, weak, strong, labels, setup.num_classes)
    if targets is not None:  # The terms' int labels: the soft targets' argmax.
      labels = jnp.argmax(targets, axis=-1).astype(labels.dtype)
    t_weak = t_strong = None
    if teacher is not None:
      if cached_teacher is None:
        t_weak, t_strong = teacher_views(teacher_vars, weak, strong)
      else:  # This batch's rows of the epoch's cached logits (storage dtype -> float32).
        epoch_logits, offset = cached_teacher
        rows = jax.lax.with_sharding_constraint(jax.lax.dynamic_slice_in_dim(
            epoch_logits, offset, labels.shape[0]).astype(jnp.float32), batch_sharding)
        t_weak = methods.Outputs(logits=rows[:, 0])
        t_strong = methods.Outputs(logits=rows[:, 1]) if needs.strong_view else None
    sample_key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(
        jax.random.key(scalars['seed']), scalars['epoch']), scalars['step']), SAMPLE_STREAM)
    dropout_key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(
        jax.random.key(scalars['seed']), scalars['epoch']), scalars['step']), DROPOUT_STREAM)
    method_scalars = {k: v for k, v in scalars.items() if k not in ('seed', 'epoch', 'step')}

    def objective(params):
      variables = {'params': params['student'], 'batch_stats': state.batch_stats['student']}
      out, student_stats = forward(student, variables, weak, train=True,
                                   features=needs.features, rngs={'dropout': dropout_key})
      out_strong = None
      if strong is not None:  # Second BN pass: running statistics updated twice, as in torch.
        variables = {'params': params['student'], 'batch_stats': (
            state.batch_stats['student'] if student_stats is None else student_stats)}
        out_strong, student_stats = forward(
            student, variables, strong, train=True, features=needs.features,
            rngs={'dropout': jax.random.fold_in(dropout_key, 1)})
      inputs = methods.StepInputs(
          student=out, labels=labels, teacher=t_weak, student_strong=out_strong,
          teacher_strong=t_strong, indices=batch['index'] if needs.example_index else None,
          teacher_variables=teacher_vars if needs.teacher_variables else None,
          student_variables={'params': params['student']} if needs.student_variables else None,
          targets=targets, scalars=method_scalars)
      method_vars = {'params': params['method'], 'batch_stats': state.batch_stats['method'],
                     'state': state.method_state}
      (loss, terms), method_updates = distillation.apply(
          method_vars, inputs, train=True, mutable=['batch_stats', 'state'],
          rngs={'sample': sample_key})
      return loss, (terms, student_stats, method_updates, out.logits)

    (loss, (terms, student_stats, method_updates, logits)), grads = jax.value_and_grad(
        objective, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    _, method_stats, method_state = _method_variables(method_updates)
    new_state = TrainState(
        step=state.step + 1, params=optax.apply_updates(state.params, updates),
        batch_stats={'student': (state.batch_stats['student'] if student_stats is None
                                 else student_stats), 'method': method_stats or
                     state.batch_stats['method']},
        method_state=method_state or state.method_state, opt_state=opt_state)
    step_metrics = dict(terms, loss=loss,
                        top1=jnp.mean(jnp.argmax(logits, -1) == labels).astype(jnp.float32))
    return new_state, metrics_lib.accumulate(acc, step_metrics,
                                             jnp.float32(labels.shape[0]))

  def evaluate(state, teacher_vars, arrays, batch, inputs):
    batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
    x, labels = views.test(arrays, batch, dtype)
    variables = {'params': state.params['student'], 'batch_stats': state.batch_stats['student']}
    out, _ = forward(student, variables, x, train=False, features=needs.eval_features)
    logits = distillation.apply(
        {'params': state.params['method'], 'batch_stats': state.batch_stats['method'],
         'state': state.method_state}, out, teacher_vars,
        method=methods.Distillation.eval_logits).astype(jnp.float32)
    sums = {'hits': metrics_lib.topk_hits(logits, labels, batch['mask'])}
    if 'teacher_logits' in batch:
      sums.update(statistics.statistic_sums(logits, batch['teacher_logits'], batch['mask'],
                                            **inputs, **dict(setup.statistics)))
    return sums

  def teacher_test_logits(teacher_vars, arrays, batch):
    batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
    x, labels = views.test(arrays, batch, dtype)
    logits = teacher.apply(teacher_vars, x, train=False).astype(jnp.float32)
    return logits, metrics_lib.topk_hits(logits, labels, batch['mask'])

  def jit(fn, **kwargs):
    return jax.jit(_with_precision(fn, setup.precision), **kwargs)

  return Program(
      setup=setup, distillation=distillation, init=init,
      train_step=jit(train_step, out_shardings=(replicated, replicated), donate_argnums=(0, 1)),
      teacher_logits=(jit(teacher_logits, out_shardings=replicated)
                      if teacher is not None else None),
      evaluate=jit(evaluate, out_shardings=replicated),
      teacher_test_logits=(jit(teacher_test_logits, out_shardings=replicated)
                           if teacher is not None else None),
      metric_names=metric_names)


def scalars_of(config: ml_collections.ConfigDict, epoch: int,
               epoch_scalars: dict[str, float] | None = None) -> dict[str, np.ndarray]:
  """The step's per-epoch inputs: the seed, the epoch, the ``RUNTIME_FIELDS`` and every
  method's epoch scalars (``epoch_scalars``: those of ``methods.epoch_scalars(config, epoch)``
  when the caller has them already)."""
  values = {'seed': np.uint32(config.seed), 'epoch': np.uint32(epoch)}
  flat = config_lib.flatten(config.to_dict())
  values.update({name: np.float32(flat[field]) for field, name in RUNTIME_FIELDS.items()})
  if epoch_scalars is None:
    epoch_scalars = methods.epoch_scalars(config, epoch)
  values.update({k: np.float32(v) for k, v in epoch_scalars.items()})
  return values
