"""Distillation training: state, optimizer, schedule, train/eval steps, the epoch loop.

Read top to bottom (flax ``examples/imagenet`` style): ``learning_rate_schedule``
and ``create_optimizer`` (torch-style SGD), ``TrainState``, ``build_program``
(the jitted init / train / eval functions of one setup, cached so that runs
with the same shapes share compilations: seeds, epochs and steps are
arguments), and ``train_and_evaluate`` (the resumable epoch loop).

Data parallelism: the whole uint8 train and test sets live on the devices
(replicated); a step receives the global batch's example indices sharded over
the ``data`` mesh axis, gathers and augments the images on device from
per-example keys ``(seed, epoch, step, i)`` and runs student and teacher on
the sharded batch (BatchNorm statistics over the global batch). State and
teacher are replicated; the state and the metric accumulator are donated.

Batches: the last partial batch of an epoch is kept (CIFAR-100 at 64: 782
steps, the last of 16) and costs one extra compilation for its shape; it is
dropped, with a logged warning, when its size does not split evenly over the
devices (or always, with ``config.drop_remainder``). The LR schedule counts the
steps actually taken per epoch. ``compute_dtype='bfloat16'`` runs the models
in bfloat16 with float32 parameters, BN statistics, logits and losses.

Multi-host: ``config.distributed`` calls ``jax.distributed.initialize()``;
every process loads the same datasets and derives the same batch indices from
``(seed, epoch)``, and feeds only its own rows of each global batch
(``jax.make_array_from_process_local_data`` in ``kdjax.parallel``).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable, Iterator

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging

from kdjax import analysis
from kdjax import checkpointing
from kdjax import config as config_lib
from kdjax import data
from kdjax import logs
from kdjax import losses
from kdjax import methods
from kdjax import models
from kdjax import parallel
from kdjax import teacher_cache

Array = jax.Array


# ---------------------------------------------------------------------------
# Optimizer.
# ---------------------------------------------------------------------------
def learning_rate_schedule(base_lr: float, decay_epochs: tuple[int, ...], decay_rate: float,
                           steps_per_epoch: int) -> optax.Schedule:
  """Step-based ``lr(e) = base_lr * decay_rate ** #{s in decay_epochs : e > s}``.

  ``e = count // steps_per_epoch + 1`` is the epoch (from 1) of the update with
  optimizer count ``count`` (``spec/training.md``; no warm-up).
  """
  boundaries = jnp.asarray([s * steps_per_epoch for s in decay_epochs] or [np.iinfo(np.int32).max],
                           jnp.int32)
  active = jnp.asarray([1.0] * len(decay_epochs) or [0.0], jnp.float32)

  def schedule(count):
    decays = jnp.sum(active * (count >= boundaries))
    return base_lr * decay_rate ** decays

  return schedule


def learning_rate_at_epoch(config: ml_collections.ConfigDict, epoch: int) -> float:
  """The learning rate of every step of ``epoch`` (from 1), for logging."""
  decays = sum(epoch > s for s in config.lr_decay_epochs)
  return config_lib.resolved_lr(config) * config.lr_decay_rate ** decays


def create_optimizer(config: ml_collections.ConfigDict,
                     steps_per_epoch: int) -> optax.GradientTransformation:
  """Torch-style SGD: ``g + wd * p`` on every parameter, momentum (no Nesterov), lr schedule.

  Matches ``torch.optim.SGD(lr, momentum, weight_decay)``: the decay is added to
  the gradient of every trainable leaf (BN scales/biases, biases, the CTKD
  temperature) BEFORE momentum, and the buffer starts at the first gradient.
  """
  schedule = learning_rate_schedule(config_lib.resolved_lr(config), tuple(config.lr_decay_epochs),
                                    config.lr_decay_rate, steps_per_epoch)
  return optax.chain(
      optax.add_decayed_weights(config.weight_decay),
      optax.sgd(schedule, momentum=config.momentum or None, nesterov=False))


# ---------------------------------------------------------------------------
# State and the compiled program of one setup.
# ---------------------------------------------------------------------------
@flax.struct.dataclass
class TrainState:
  """Everything a checkpoint holds: the optimizer step, parameters, BN statistics, optimizer state.

  ``params`` is ``{'student': ..., 'temperature': ...}`` (the CTKD parameters,
  an empty dict for other policies): both are trained by the same optimizer.
  """
  step: Array
  params: Any
  batch_stats: Any
  opt_state: Any


@dataclasses.dataclass(frozen=True)
class Setup:
  """The hashable description of a compiled program (same Setup -> same compilations)."""
  student: str
  teacher: str
  num_classes: int
  image_shape: tuple[int, int, int]
  mean: tuple[float, ...]
  std: tuple[float, ...]
  compute_dtype: str
  conv_batch_chunks: int
  loss: methods.LossSpec
  base_lr: float
  lr_decay_epochs: tuple[int, ...]
  lr_decay_rate: float
  momentum: float
  weight_decay: float
  steps_per_epoch: int
  mesh: jax.sharding.Mesh
  # ``evaluation_statistics`` of the run, or () when the test-set statistics are off.
  statistics: tuple[tuple[str, Any], ...] = ()

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict, *, num_classes: int,
                  image_shape: tuple[int, int, int], mean, std, steps_per_epoch: int,
                  mesh: jax.sharding.Mesh) -> 'Setup':
    return cls(
        student=config.student, teacher=config.teacher if config.loss != 'none' else '',
        num_classes=num_classes, image_shape=tuple(image_shape),
        mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std),
        compute_dtype=config.compute_dtype,
        conv_batch_chunks=resolved_conv_batch_chunks(config, parallel.num_shards(mesh),
                                                     image_shape),
        loss=methods.LossSpec.from_config(config),
        base_lr=config_lib.resolved_lr(config), lr_decay_epochs=tuple(config.lr_decay_epochs),
        lr_decay_rate=float(config.lr_decay_rate), momentum=float(config.momentum),
        weight_decay=float(config.weight_decay), steps_per_epoch=steps_per_epoch, mesh=mesh,
        statistics=(evaluation_statistics(config)
                    if config.eval_statistics and config.loss != 'none' else ()))

  def optimizer(self) -> optax.GradientTransformation:
    """The run's optimizer (``create_optimizer`` of the setup's hyperparameters)."""
    config = ml_collections.ConfigDict(dict(
        lr=self.base_lr, student=self.student, lr_decay_epochs=self.lr_decay_epochs,
        lr_decay_rate=self.lr_decay_rate, momentum=self.momentum, weight_decay=self.weight_decay))
    return create_optimizer(config, self.steps_per_epoch)


@dataclasses.dataclass(frozen=True)
class Program:
  """The jitted functions of one Setup.

  Attributes:
    student: the student module (compute dtype of the setup).
    teacher: the teacher module, or None for CE-only training.
    init: ``init(seed) -> TrainState`` (replicated).
    train_step: ``(state, acc, teacher_vars, images, labels, indices, seed, epoch, step,
      lambda_, warmup, cached_teacher=None) -> (state, acc)``; ``indices`` is the global
      batch, sharded. ``cached_teacher = (epoch_logits, offset)`` replaces the teacher
      forward by rows ``offset:offset + batch`` of the epoch's cached ``[rows, views, K]``
      logits (``kdjax.teacher_cache``).
    teacher_logits: ``(teacher_vars, images, indices, seed, epoch, step) -> [b, views, K]``
      float32 teacher logits of the batch's views (what the cache stores), or None.
    evaluate_student: ``(variables, images, labels, indices, mask, teacher_logits=None)
      -> sums`` of one padded batch: ``hits`` (``[2]`` top-1 / top-5 counts) and, given
      the teacher's ``[N, K]`` logits of the split, the student's
      ``kdjax.analysis.statistic_sums`` against them (``evaluate``).
    test_logits: ``(variables, images, indices) -> [b, K]`` float32 test-view logits of
      the teacher (computed once per run: its accuracy and the evaluation
      statistics), or None.
    metric_names: names of the accumulated training metrics.
  """
  student: nn.Module
  teacher: nn.Module | None
  init: Callable[..., TrainState]
  train_step: Callable[..., tuple[TrainState, dict[str, Array]]]
  teacher_logits: Callable[..., Array] | None
  evaluate_student: Callable[..., Array]
  test_logits: Callable[..., Array] | None
  metric_names: tuple[str, ...]


def _dtype(name: str):
  return {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}[name]


def _reduce(name: str) -> str:
  if name.endswith('_min'):
    return 'min'
  if name.endswith('_max'):
    return 'max'
  return 'sum'


def empty_accumulator(names: tuple[str, ...]) -> dict[str, np.ndarray]:
  """Host zeros of the train-metric accumulator (sums; +-inf for min/max statistics)."""
  fill = {'sum': 0.0, 'min': np.inf, 'max': -np.inf}
  acc = {name: np.float32(fill[_reduce(name)]) for name in names}
  acc['count'] = np.float32(0.0)
  return acc


def accumulate(acc: dict[str, Array], metrics: dict[str, Array], count: Array) -> dict[str, Array]:
  """``acc`` plus one step's ``metrics`` over ``count`` examples (weighted sums; min/max)."""
  out = {'count': acc['count'] + count}
  for name, value in metrics.items():
    how = _reduce(name)
    if how == 'min':
      out[name] = jnp.minimum(acc[name], value)
    elif how == 'max':
      out[name] = jnp.maximum(acc[name], value)
    else:
      out[name] = acc[name] + value * count
  return out


def topk_hits(logits: Array, labels: Array, mask: Array) -> Array:
  """``[2]`` float32: masked counts of top-1 and top-5 (top-K when K < 5) hits."""
  k = min(5, logits.shape[-1])
  _, top = jax.lax.top_k(logits, k)
  hits = top == labels[:, None]
  top1 = jnp.sum(hits[:, 0] * mask)
  top5 = jnp.sum(jnp.any(hits, axis=-1) * mask)
  return jnp.stack([top1, top5]).astype(jnp.float32)


# The CPU auto setting: slices of 16 examples per device, at most 4 of them (each slice is
# another convolution in the compiled program: more slices compile longer, and measured no
# faster), for images of at least 32 pixels a side.
CPU_CONV_CHUNK, CPU_MAX_CONV_CHUNKS, CPU_CHUNK_MIN_SIDE = 16, 4, 32


def resolved_conv_batch_chunks(config: ml_collections.ConfigDict, num_shards: int,
                               image_shape: tuple[int, ...]) -> int:
  """``config.conv_batch_chunks``, with 0 (auto) resolved for the backend, batch and images.

  Auto is 1 on GPU/TPU, whose convolution libraries want the whole batch. On
  CPU, XLA's convolutions of large activations run faster on slices of the
  batch (``experiments.benchmark --sections=chunks``: the resnet32x4 ->
  resnet8x4 KD step about 10% faster, the cached-teacher step about 25%), so
  auto slices each device's batch into chunks of ``CPU_CONV_CHUNK`` examples
  when it divides (at most ``CPU_MAX_CONV_CHUNKS``) for images of at least
  ``CPU_CHUNK_MIN_SIDE`` pixels a side. Smaller images (the 16x16 digits of the
  main job) gain nothing and would only compile longer.
  """
  if config.conv_batch_chunks:
    return int(config.conv_batch_chunks)
  per_device = config.batch_size // max(num_shards, 1)
  if (jax.default_backend() != 'cpu' or per_device % CPU_CONV_CHUNK
      or min(image_shape[:2]) < CPU_CHUNK_MIN_SIDE):
    return 1
  return min(per_device // CPU_CONV_CHUNK, CPU_MAX_CONV_CHUNKS)


@functools.lru_cache(maxsize=32)
def create_model(name: str, num_classes: int, compute_dtype: str,
                 conv_batch_chunks: int = 1) -> nn.Module:
  """The registry model ``name`` in ``compute_dtype``, its convolutions on ``conv_batch_chunks``
  batch slices (cached, so jitted functions can be shared)."""
  return models.create(name, num_classes=num_classes, dtype=_dtype(compute_dtype),
                       conv_batch_chunks=conv_batch_chunks)


@functools.lru_cache(maxsize=32)
def _test_logits_fn(model: str, num_classes: int, compute_dtype: str, conv_batch_chunks: int,
                    mean: tuple[float, ...], std: tuple[float, ...],
                    mesh: jax.sharding.Mesh) -> Callable[..., Array]:
  """Jitted ``(variables, images, indices) -> [b, K]`` float32 logits of the test view."""
  module = create_model(model, num_classes, compute_dtype, conv_batch_chunks)
  batch = parallel.data_sharding(mesh)

  def test_logits(variables, images, indices):
    indices = jax.lax.with_sharding_constraint(indices, batch)
    x = data.test_view(images[indices], mean, std).astype(_dtype(compute_dtype))
    return module.apply(variables, x, train=False).astype(jnp.float32)

  return jax.jit(test_logits, out_shardings=batch)


@functools.lru_cache(maxsize=32)
def _eval_fn(model: str, num_classes: int, compute_dtype: str, conv_batch_chunks: int,
             mean: tuple[float, ...], std: tuple[float, ...], mesh: jax.sharding.Mesh,
             statistics: tuple[tuple[str, Any], ...] = ()) -> Callable[..., dict[str, Array]]:
  """Jitted ``(variables, images, labels, indices, mask, teacher_logits=None) -> sums``.

  ``sums['hits']`` holds the batch's top-1 / top-5 hit counts; with the
  teacher's ``[N, K]`` logits of the split, the other entries are
  ``kdjax.analysis.statistic_sums(student, teacher, mask, **dict(statistics))``.
  """
  logits_fn = _test_logits_fn(model, num_classes, compute_dtype, conv_batch_chunks, mean, std,
                              mesh)

  def evaluate_batch(variables, images, labels, indices, mask, teacher_logits=None):
    logits = logits_fn(variables, images, indices)
    sums = {'hits': topk_hits(logits, labels[indices], mask)}
    if teacher_logits is not None:
      sums.update(analysis.statistic_sums(logits, teacher_logits[indices], mask,
                                          **dict(statistics)))
    return sums

  return jax.jit(evaluate_batch, out_shardings=parallel.replicated(mesh))


def logged_ttm_gamma(config: ml_collections.ConfigDict) -> float:
  """The gamma of a run's logged ``test_kl_transformed_teacher``: ``eval_ttm_gamma`` or ``ttm_gamma``."""
  gamma = config.get('eval_ttm_gamma')
  return float(config.ttm_gamma if gamma is None else gamma)


def evaluation_statistics(config: ml_collections.ConfigDict) -> tuple[tuple[str, Any], ...]:
  """``kdjax.analysis.statistic_sums`` options of a run (hashable): the TTM gamma of its logged
  KL (``logged_ttm_gamma``), its LS base temperature and its max-logit settings."""
  return (('gamma', logged_ttm_gamma(config)), ('ls_tau', float(config.temperature)),
          ('order', int(config.max_logit.order)),
          ('teacher_only', bool(config.max_logit.teacher_only)))


def _run_once_compiler_options() -> dict[str, Any] | None:
  """XLA options for functions run once per run (initialisers).

  On CPU, optimising the random-number generators of an initialiser dominates its
  compile time (about 5 s of 7 for resnet8x4); without backend optimisation it
  compiles in about 2 s and runs once anyway (as in ``models.init_variables``).
  """
  return {'xla_backend_optimization_level': 0} if jax.default_backend() == 'cpu' else None


@functools.lru_cache(maxsize=32)
def _init_fn(setup: Setup) -> Callable[..., TrainState]:
  """Jitted ``init(seed) -> TrainState``; keyed on what the state's structure depends on."""
  student = create_model(setup.student, setup.num_classes, setup.compute_dtype)
  spec, tx = setup.loss, setup.optimizer()

  def init(seed):
    student_key, temperature_key = jax.random.split(jax.random.key(seed))
    dummy = jnp.zeros((1, *setup.image_shape), _dtype(setup.compute_dtype))
    variables = student.init(student_key, dummy, train=False)
    params = {'student': variables['params'],
              'temperature': methods.init_temperature_params(spec, temperature_key,
                                                             setup.num_classes)}
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      batch_stats=variables['batch_stats'], opt_state=tx.init(params))

  return jax.jit(init, out_shardings=parallel.replicated(setup.mesh),
                 compiler_options=_run_once_compiler_options())


def _init_key(setup: Setup) -> Setup:
  """``setup`` with the fields that do not change the initial state normalised away."""
  neutral = methods.LossSpec.from_config(config_lib.get_config())
  policy = 'ctkd' if setup.loss.temperature_policy == 'ctkd' else 'fixed'  # Only CTKD has params.
  loss = dataclasses.replace(
      neutral, temperature_policy=policy,
      ctkd_variant=setup.loss.ctkd_variant, ctkd_hidden=setup.loss.ctkd_hidden,
      ctkd_init=setup.loss.ctkd_init, ctkd_t_start=setup.loss.ctkd_t_start,
      ctkd_t_range=setup.loss.ctkd_t_range)
  return dataclasses.replace(setup, teacher='', mean=(), std=(), loss=loss, base_lr=0.0,
                             conv_batch_chunks=1, lr_decay_epochs=(), lr_decay_rate=0.0,
                             momentum=float(setup.momentum > 0), weight_decay=0.0,
                             steps_per_epoch=1, statistics=())


@functools.lru_cache(maxsize=64)
def build_program(setup: Setup) -> Program:
  """Builds (once per Setup) the jitted init, train and eval functions."""
  dtype = _dtype(setup.compute_dtype)
  spec = setup.loss
  student = create_model(setup.student, setup.num_classes, setup.compute_dtype,
                         setup.conv_batch_chunks)
  teacher = (create_model(setup.teacher, setup.num_classes, setup.compute_dtype,
                          setup.conv_batch_chunks)
             if spec.needs_teacher else None)
  loss_fn = methods.make_loss_fn(spec)
  tx = setup.optimizer()
  mesh = setup.mesh
  replicated, batch = parallel.replicated(mesh), parallel.data_sharding(mesh)
  metric_names = methods.term_names(spec) + ('loss', 'train_top1')
  evaluate_args = (setup.num_classes, setup.compute_dtype, setup.conv_batch_chunks, setup.mean,
                   setup.std, mesh)

  def views(images_all, indices, seed, epoch, step):
    """The batch's weak view and (MLKD) strong view, from per-example keys."""
    keys = jax.lax.with_sharding_constraint(
        data.example_keys(seed, epoch, step, indices.shape[0]), batch)
    images = images_all[indices]
    weak = data.train_view(keys, images, setup.mean, setup.std).astype(dtype)
    strong = (data.strong_view(keys, images, setup.mean, setup.std).astype(dtype)
              if spec.two_views else None)
    return weak, strong

  def teacher_forward(teacher_vars, weak, strong):
    """``[b, views, K]`` float32 logits of the frozen teacher on the views."""
    logits = [teacher.apply(teacher_vars, x, train=False) for x in (weak, strong) if x is not None]
    return jax.lax.stop_gradient(jnp.stack(logits, axis=1).astype(jnp.float32))

  def teacher_logits(teacher_vars, images_all, indices, seed, epoch, step):
    indices = jax.lax.with_sharding_constraint(indices, batch)
    return teacher_forward(teacher_vars, *views(images_all, indices, seed, epoch, step))

  def train_step(state, acc, teacher_vars, images_all, labels_all, indices, seed, epoch, step,
                 lambda_, warmup, cached_teacher=None):
    indices = jax.lax.with_sharding_constraint(indices, batch)
    labels = labels_all[indices]
    weak, strong = views(images_all, indices, seed, epoch, step)
    t_weak = t_strong = None
    if teacher is not None:
      if cached_teacher is None:
        t_all = teacher_forward(teacher_vars, weak, strong)
      else:  # This batch's rows of the epoch's cached logits (storage dtype -> float32).
        epoch_logits, offset = cached_teacher
        t_all = jax.lax.with_sharding_constraint(jax.lax.dynamic_slice_in_dim(
            epoch_logits, offset, indices.shape[0]).astype(jnp.float32), batch)
      t_weak, t_strong = t_all[:, 0], (t_all[:, 1] if spec.two_views else None)

    def objective(params):
      variables = {'params': params['student'], 'batch_stats': state.batch_stats}
      logits, updates = student.apply(variables, weak, train=True, mutable=['batch_stats'])
      logits_strong = None
      if spec.two_views:  # Second BN pass: running statistics updated twice, as in torch.
        variables = {'params': params['student'], 'batch_stats': updates['batch_stats']}
        logits_strong, updates = student.apply(variables, strong, train=True,
                                               mutable=['batch_stats'])
      loss, terms = loss_fn(logits, t_weak, labels, temperature_params=params['temperature'],
                            lambda_=lambda_, warmup=warmup, student_strong=logits_strong,
                            teacher_strong=t_strong)
      return loss, (terms, updates['batch_stats'], logits)

    (loss, (terms, batch_stats, logits)), grads = jax.value_and_grad(
        objective, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new_state = TrainState(step=state.step + 1, params=params, batch_stats=batch_stats,
                           opt_state=opt_state)
    metrics = dict(terms, loss=loss,
                   train_top1=jnp.mean(jnp.argmax(logits, -1) == labels).astype(jnp.float32))
    count = jnp.float32(indices.shape[0])
    return new_state, accumulate(acc, metrics, count)

  return Program(
      student=student, teacher=teacher, init=_init_fn(_init_key(setup)),
      train_step=jax.jit(train_step, out_shardings=(replicated, replicated),
                         donate_argnums=(0, 1)),
      teacher_logits=(jax.jit(teacher_logits, out_shardings=replicated)
                      if teacher is not None else None),
      evaluate_student=_eval_fn(setup.student, *evaluate_args, setup.statistics),
      test_logits=(_test_logits_fn(setup.teacher, *evaluate_args)
                   if teacher is not None else None),
      metric_names=metric_names)


# ---------------------------------------------------------------------------
# Data and teacher of a run.
# ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DeviceData:
  """A split held on every device: uint8 images ``[N, H, W, C]`` and int32 labels ``[N]``."""
  images: Array
  labels: Array
  size: int


def load_datasets(config: ml_collections.ConfigDict) -> tuple[data.ArrayDataset,
                                                              data.ArrayDataset, Any, Any]:
  """Train and test splits plus normalisation ``(mean, std)``; smoke mode: random uint8 data.

  Smoke data has the dataset's image shape and class count (CIFAR-100: 32x32x3,
  100 classes) and ``config.smoke_examples`` examples per split.
  """
  mean, std = data.stats(config.dataset)
  if config.smoke:
    shape, num_classes = _dataset_shape(config.dataset)
    if config.image_size is not None:
      shape = (config.image_size, config.image_size, shape[2])
    rng = np.random.default_rng(config.seed)
    splits = []
    for split in ('train', 'test'):
      n = config.smoke_examples
      splits.append(data.ArrayDataset(
          images=rng.integers(0, 256, (n, *shape), dtype=np.uint8),
          labels=rng.integers(0, num_classes, (n,), dtype=np.int32),
          num_classes=num_classes, name=f'random-{config.dataset}/{split}'))
    return splits[0], splits[1], mean, std
  if config.dataset not in ('cifar100', 'digits'):
    raise ValueError(f'train_and_evaluate holds whole datasets on the devices (cifar100, digits); '
                     f'{config.dataset!r} needs a streaming input pipeline '
                     f'(kdjax.data.make_imagenet_loader) that this loop does not drive yet. '
                     f'--smoke runs work with random data of its shape.')
  kwargs = dict(data_dir=config.data_dir, source=config.data_source)
  if config.image_size is not None:
    kwargs['size'] = config.image_size
  train = data.load(config.dataset, split='train', **kwargs)
  test = data.load(config.dataset, split='test', **kwargs)
  return train, test, mean, std


def _dataset_shape(name: str) -> tuple[tuple[int, int, int], int]:
  shapes = {'cifar100': ((32, 32, 3), 100), 'digits': ((16, 16, 3), 10),
            'imagenet': ((224, 224, 3), 1000), 'imagenet2012': ((224, 224, 3), 1000)}
  if name not in shapes:
    raise ValueError(f'smoke mode knows the datasets {sorted(shapes)}, got {name!r}')
  return shapes[name]


def load_teacher_variables(config: ml_collections.ConfigDict, num_classes: int,
                           image_shape: tuple[int, int, int]) -> Any:
  """The frozen teacher's ``{'params', 'batch_stats'}`` (None for CE-only training).

  From ``config.teacher_checkpoint`` (a ``.pth``/``.safetensors`` file, converted
  on the fly, or a directory written by ``kdjax.convert.save_teacher``); in
  smoke mode without a checkpoint, a randomly initialised teacher.

  Raises:
    FileNotFoundError: a distillation method without a teacher checkpoint.
  """
  if config.loss == 'none':
    return None
  if config.teacher_checkpoint:
    from kdjax import convert  # pylint: disable=g-import-not-at-top
    _, variables = convert.load_teacher(config.teacher_checkpoint, config.teacher,
                                        num_classes=num_classes)
    return {'params': variables['params'], 'batch_stats': variables['batch_stats']}
  if config.smoke:
    init = _random_init(config.teacher, num_classes, tuple(image_shape))
    return init(jax.random.key(config.seed + 1_000_003))
  raise FileNotFoundError(
      f'method {config.method!r} distils from teacher {config.teacher!r} but no '
      f'teacher_checkpoint was given: pass --teacher_checkpoint=<.pth file or converted dir>, '
      f'or train one with `python -m experiments.train_teacher --model={config.teacher}`')


@functools.lru_cache(maxsize=16)
def _random_init(name: str, num_classes: int, image_shape: tuple[int, int, int]) -> Callable:
  """A jitted random initialiser of model ``name`` (cached: one compilation per model)."""
  module = models.create(name, num_classes=num_classes)
  return jax.jit(lambda key: module.init(key, jnp.zeros((1, *image_shape), jnp.float32),
                                         train=False),
                 compiler_options=_run_once_compiler_options())


# ---------------------------------------------------------------------------
# Teacher-logit cache (``config.teacher_cache``).
# ---------------------------------------------------------------------------
def teacher_cache_key(config: ml_collections.ConfigDict, setup: Setup, teacher_vars: Any,
                      split: data.ArrayDataset, *, steps: int) -> teacher_cache.CacheKey:
  """What the teacher logits of ``config``'s run depend on (``kdjax.teacher_cache``).

  The teacher (name, checksum of its variables, compute dtype), the data
  (checksum of the train images and labels), the views' augmentation, the seed,
  the batch size and the epoch's rows (``steps`` batches; the last one partial
  when the epoch keeps it).
  """
  views = ('weak', 'strong') if setup.loss.two_views else ('weak',)
  augmentation = [('views', views), ('mean', setup.mean), ('std', setup.std),
                  ('keys', 'example_keys(seed, epoch, step, i)'),
                  ('weak', 'crop_flip(padding=4), normalize')]
  if setup.loss.two_views:
    augmentation.append(('strong', 'crop_flip, randaugment(num_ops=2), cutout(0.5), normalize'))
  return teacher_cache.CacheKey(
      teacher=setup.teacher, teacher_checksum=teacher_cache.checksum_tree(teacher_vars),
      num_classes=setup.num_classes, compute_dtype=setup.compute_dtype,
      data_checksum=teacher_cache.checksum_arrays(split.images, split.labels),
      num_examples=len(split), augmentation=tuple(augmentation), seed=int(config.seed),
      batch_size=int(config.batch_size), rows=min(len(split), steps * config.batch_size),
      storage_dtype=config.teacher_cache_dtype)


def open_teacher_cache(config: ml_collections.ConfigDict, setup: Setup, teacher_vars: Any,
                       split: data.ArrayDataset, *,
                       steps: int) -> teacher_cache.TeacherCache | None:
  """The run's teacher-logit cache under ``config.teacher_cache`` (None: off, or no teacher)."""
  if not config.teacher_cache or not setup.loss.needs_teacher:
    return None
  cache = teacher_cache.TeacherCache(
      config.teacher_cache, teacher_cache_key(config, setup, teacher_vars, split, steps=steps),
      steps=steps, verify_batches=config.teacher_cache_verify)
  logging.info('teacher logits cached in %s', cache.directory)
  return cache


def steps_per_epoch(num_examples: int, config: ml_collections.ConfigDict,
                    num_devices: int) -> tuple[int, int]:
  """``(steps, last_batch_size)`` of an epoch; the last partial batch is kept (spec).

  It is dropped when ``config.drop_remainder`` is set, or, with a warning, when
  its size does not split over the devices (a batch must shard evenly). Smoke
  mode stops each epoch after ``smoke_steps`` steps.
  """
  batch = config.batch_size
  if batch % num_devices:
    raise ValueError(f'batch_size {batch} does not split over {num_devices} devices: use a '
                     f'multiple of {num_devices}')
  steps = data.num_batches(num_examples, batch)
  last = num_examples - (steps - 1) * batch
  if last != batch and config.drop_remainder:
    steps, last = steps - 1, batch
  elif last % num_devices:
    logging.warning('dropping the last partial batch of each epoch (%d examples do not split '
                    'over %d devices)', last, num_devices)
    steps, last = steps - 1, batch
  if steps < 1:
    raise ValueError(f'{num_examples} training examples give no full batch of {batch}')
  if config.smoke and steps > config.smoke_steps:
    steps, last = config.smoke_steps, batch
  return steps, last


def padded_batches(size: int, batch_size: int,
                   mesh: jax.sharding.Mesh) -> Iterator[tuple[Array, Array]]:
  """``(indices, mask)`` global batches covering ``range(size)`` in order, the last padded.

  The batch is ``min(batch_size, size)`` rounded up to a multiple of the
  devices; padding rows point at example 0 and have ``mask == 0``.
  """
  shards = parallel.num_shards(mesh)
  batch = -(-min(batch_size, size) // shards) * shards
  for start in range(0, size, batch):
    idx = np.arange(start, start + batch)
    mask = (idx < size).astype(np.float32)
    idx = np.where(idx < size, idx, 0).astype(np.int32)
    yield parallel.global_batch(idx, mesh), parallel.global_batch(mask, mesh)


def evaluate(evaluate_fn: Callable[..., dict[str, Array]], variables: Any, split: DeviceData,
             batch_size: int, mesh: jax.sharding.Mesh,
             teacher_logits: Array | None = None) -> dict[str, float]:
  """``top1`` / ``top5`` accuracy (percent) over a device-resident split, in padded batches.

  With the teacher's ``[N, K]`` logits of the split (``teacher_test_logits``),
  also the ``kdjax.analysis.EPOCH_STATISTICS`` of the model against them.
  """
  extra = () if teacher_logits is None else (teacher_logits,)
  totals = None
  for idx, mask in padded_batches(split.size, batch_size, mesh):
    sums = evaluate_fn(variables, split.images, split.labels, idx, mask, *extra)
    totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
  totals = parallel.to_host(totals)
  top1, top5 = totals.pop('hits')
  out = {'top1': 100.0 * float(top1) / split.size, 'top5': 100.0 * float(top5) / split.size}
  if totals:
    out.update(analysis.statistics_from_sums(totals))
  return out


def teacher_test_logits(run: 'Run') -> Array | None:
  """The teacher's ``[N, K]`` float32 logits of the test split (replicated); None without one."""
  if run.program.test_logits is None:
    return None
  batches = [run.program.test_logits(run.teacher_vars, run.test.images, idx)
             for idx, _ in padded_batches(run.test.size, run.config.eval_batch_size, run.mesh)]
  logits = np.concatenate([parallel.to_host(b) for b in batches])[:run.test.size]
  return parallel.put_replicated(logits, run.mesh)


# ---------------------------------------------------------------------------
# The epoch loop.
# ---------------------------------------------------------------------------
@dataclasses.dataclass
class RunResult:
  """What ``train_and_evaluate`` returns: the final state and the summary dict."""
  state: TrainState
  summary: dict[str, Any]


def epoch_metrics(acc: dict[str, np.ndarray]) -> dict[str, float]:
  """The epoch's ``train_*`` means (and min/max statistics) from the host accumulator."""
  count = max(float(acc['count']), 1.0)
  out = {}
  for name, value in acc.items():
    if name == 'count':
      continue
    value = float(value) if _reduce(name) != 'sum' else float(value) / count
    out[name if name.startswith('train_') else f'train_{name}'] = value
  out['train_top1'] = 100.0 * out['train_top1']
  return out


@dataclasses.dataclass(frozen=True)
class Run:
  """Everything a run's epochs use, placed on the devices (``prepare_run``)."""
  config: ml_collections.ConfigDict
  mesh: jax.sharding.Mesh
  program: Program
  teacher_vars: Any
  train: DeviceData
  test: DeviceData
  num_classes: int
  steps: int
  images_per_epoch: int
  teacher_cache: teacher_cache.TeacherCache | None = None


def prepare_run(config: ml_collections.ConfigDict) -> Run:
  """Loads data and teacher onto the devices and builds (or reuses) the compiled program."""
  config_lib.validate(config)
  if config.distributed:
    parallel.initialize_distributed()
  mesh = parallel.create_mesh()
  train_split, test_split, mean, std = load_datasets(config)
  num_classes = train_split.num_classes
  steps, last_batch = steps_per_epoch(len(train_split), config, parallel.num_shards(mesh))
  setup = Setup.from_config(config, num_classes=num_classes, image_shape=train_split.image_shape,
                            mean=mean, std=std, steps_per_epoch=steps, mesh=mesh)
  teacher_vars = load_teacher_variables(config, num_classes, train_split.image_shape)
  on_device = lambda split: DeviceData(
      *parallel.put_replicated((split.images, split.labels), mesh), size=len(split))
  return Run(config=config, mesh=mesh, program=build_program(setup),
             teacher_vars=parallel.put_replicated(teacher_vars, mesh),
             train=on_device(train_split), test=on_device(test_split), num_classes=num_classes,
             steps=steps, images_per_epoch=(steps - 1) * config.batch_size + last_batch,
             teacher_cache=open_teacher_cache(config, setup, teacher_vars, train_split,
                                              steps=steps))


def epoch_teacher_logits(run: Run, epoch: int, perm: np.ndarray) -> Array | None:
  """``epoch``'s cached ``[rows, views, K]`` teacher logits on the devices (None: no cache).

  Read from the cache (checksum and spot check), or computed by the teacher
  batch by batch and stored, on the first run that needs the epoch.
  """
  if run.teacher_cache is None:
    return None
  config = run.config

  def compute(step: int) -> Array:
    idx = parallel.global_batch(data.batch_indices(perm, step, config.batch_size), run.mesh)
    return run.program.teacher_logits(run.teacher_vars, run.train.images, idx,
                                      np.uint32(config.seed), np.uint32(epoch), np.uint32(step))

  return parallel.put_replicated(run.teacher_cache.epoch_logits(epoch, compute), run.mesh)


def train_epoch(run: Run, state: TrainState, epoch: int,
                bar: Any = None) -> tuple[TrainState, dict[str, float]]:
  """Runs the steps of ``epoch`` (from 1); returns the new state and the epoch's train metrics.

  Metrics accumulate on the devices; the host reads them only every
  ``log_every`` steps and at the end of the epoch.
  """
  config, program, mesh = run.config, run.program, run.mesh
  start = time.time()
  scalars = methods.epoch_scalars(config, epoch)
  acc = parallel.put_replicated(empty_accumulator(program.metric_names), mesh)
  perm = data.epoch_permutation(config.seed, epoch, run.train.size)
  cached = epoch_teacher_logits(run, epoch, perm)
  for step in range(run.steps):
    idx = data.batch_indices(perm, step, config.batch_size)
    teacher_arg = {} if cached is None else {
        'cached_teacher': (cached, np.int32(step * config.batch_size))}
    state, acc = program.train_step(
        state, acc, run.teacher_vars, run.train.images, run.train.labels,
        parallel.global_batch(idx, mesh), np.uint32(config.seed), np.uint32(epoch),
        np.uint32(step), scalars['lambda_'], scalars['warmup'], **teacher_arg)
    if bar is not None:
      bar.update(len(idx))
      if (step + 1) % config.log_every == 0 and step + 1 < run.steps:
        partial = epoch_metrics(parallel.to_host(acc))
        losses.check_finite(**partial)
        bar.set_postfix(loss=f"{partial['train_loss']:.4f}", epoch=epoch)
  row = epoch_metrics(parallel.to_host(acc))
  losses.check_finite(**row)
  seconds = time.time() - start
  row.update(lr=learning_rate_at_epoch(config, epoch), ctkd_lambda=float(scalars['lambda_']),
             dkd_warmup=float(scalars['warmup']), epoch_train_seconds=seconds,
             train_images_per_second=run.images_per_epoch / seconds)
  return state, row


def evaluate_student(run: Run, state: TrainState,
                     teacher_logits: Array | None = None) -> dict[str, float]:
  """``top1`` / ``top5`` (percent) of the student of ``state`` on the run's test split.

  With ``teacher_logits`` (``teacher_test_logits(run)``), also the
  ``kdjax.analysis.EPOCH_STATISTICS`` of the student against the teacher.
  """
  variables = {'params': state.params['student'], 'batch_stats': state.batch_stats}
  return evaluate(run.program.evaluate_student, variables, run.test, run.config.eval_batch_size,
                  run.mesh, teacher_logits)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       epoch_callback: Callable[[int, dict[str, float]], None] | None = None
                       ) -> RunResult:
  """Trains the student of ``config``, evaluating and checkpointing every epoch.

  Restarting with the same ``workdir`` resumes from the newest readable
  checkpoint (same parameters at the end as an uninterrupted run); a different
  config in that workdir is refused (``checkpointing.ConfigMismatchError``).

  Args:
    config: a config from ``kdjax.config`` (``get_config``/``method_config``).
    workdir: run directory (config, checkpoints, metrics, TensorBoard, summary).
    epoch_callback: called as ``epoch_callback(epoch, row)`` after each epoch's
      metrics are written and its checkpoint saved.

  Returns:
    The final state and the summary (best/last top-1, teacher top-1, time).
  """
  run = prepare_run(config)
  resuming = checkpointing.check_config(workdir, config)
  checkpoints = checkpointing.Checkpoints(workdir, keep=config.checkpoint_keep)
  state = run.program.init(np.uint32(config.seed))
  meta = {'epoch': 0, 'best_top1': None, 'best_epoch': None, 'last_top1': None,
          'last_top5': None, 'train_seconds': 0.0}
  restored = checkpoints.restore_latest(state) if resuming else None
  if restored is not None:
    state, meta = restored
    logging.info('resuming %s from epoch %d', workdir, meta['epoch'])
  start_epoch = int(meta['epoch'])
  teacher_top1 = teacher_top5 = None
  teacher_logits = teacher_test_logits(run)  # The teacher's one pass over the test set.
  if teacher_logits is not None:
    hits = parallel.to_host(topk_hits(teacher_logits, run.test.labels,
                                      jnp.ones(run.test.size, jnp.float32)))
    teacher_top1, teacher_top5 = (100.0 * float(h) / run.test.size for h in hits)
  statistics_logits = teacher_logits if config.eval_statistics else None  # Setup.statistics.
  writer = logs.MetricWriter(workdir, resume_epoch=start_epoch)
  if start_epoch == 0:
    writer.write_text('config', config_lib.to_json(config))
  bar = logs.progress_bar(total_images=config.epochs * run.images_per_epoch,
                          done_images=start_epoch * run.images_per_epoch,
                          enabled=config.progress_bar,
                          desc=f'{config.method} {config.student} seed {config.seed}')
  try:
    for epoch in range(start_epoch + 1, config.epochs + 1):
      epoch_start = time.time()
      state, row = train_epoch(run, state, epoch, bar)
      meta['train_seconds'] += row['epoch_train_seconds']
      top1 = None
      if epoch % config.eval_every == 0 or epoch == config.epochs:
        test = evaluate_student(run, state, statistics_logits)
        top1, top5 = test['top1'], test['top5']
        if meta['best_top1'] is None or top1 > meta['best_top1']:
          meta['best_top1'], meta['best_epoch'] = top1, epoch
        meta['last_top1'], meta['last_top5'] = top1, top5
        row.update({f'test_{name}': value for name, value in test.items()})
      if meta['best_top1'] is not None:
        row['best_top1'] = meta['best_top1']
      row['epoch_seconds'] = time.time() - epoch_start
      meta['epoch'] = epoch
      writer.write(epoch, row)
      if epoch % config.checkpoint_every == 0 or epoch == config.epochs:
        checkpoints.save(epoch, state, dict(meta), top1)
      bar.set_postfix(loss=f"{row['train_loss']:.4f}",
                      top1='-' if top1 is None else f'{top1:.2f}', epoch=epoch)
      if epoch_callback is not None:
        epoch_callback(epoch, row)
  finally:
    bar.close()
    checkpoints.close()
    writer.close()

  summary = dict(
      method=config.method, teacher=config.teacher if config.loss != 'none' else '',
      student=config.student, seed=config.seed, dataset=config.dataset,
      num_classes=run.num_classes, best_top1=meta['best_top1'], best_epoch=meta['best_epoch'],
      last_top1=meta['last_top1'], last_top5=meta['last_top5'], teacher_top1=teacher_top1,
      teacher_top5=teacher_top5, epochs_done=int(meta['epoch']),
      train_seconds=float(meta['train_seconds']), num_devices=parallel.num_shards(run.mesh),
      workdir=workdir)
  logs.write_summary(workdir, summary)
  logging.info(logs.format_summary(summary))
  return RunResult(state=state, summary=summary)
