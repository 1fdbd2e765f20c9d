"""What the sections share: options, random CIFAR-shaped data, train-step runners and their memo.

A ``StepRunner`` calls one config's jitted train step (``kdjax.steps``) with the
host work of ``kdjax.train.train_epoch`` per call (the batch made global, the
step's scalars), so its time is the epoch loop's time per step. The
``Context`` builds runners once per config and hands the same object to every
section that asks for it.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from typing import Any, Callable, Mapping

import jax
import ml_collections
import numpy as np

from experiments import timing
from experiments.benchmark import SECTIONS
from kdjax import config as config_lib
from kdjax import methods
from kdjax import metrics
from kdjax import models
from kdjax import parallel
from kdjax import recipes
from kdjax import steps as steps_lib
from kdjax import teacher_cache
from kdjax.data import sources

CIFAR_SHAPE, CIFAR_CLASSES = sources.dataset_shape('cifar100')
EPOCH = 1  # the epoch whose batches the runners cycle through
CIFAR_TRAIN_EXAMPLES = 50_000  # for the projections of a real CIFAR-100 run


@dataclasses.dataclass(frozen=True)
class Options:
  """What to measure and at which size (``full()`` / ``smoke_options()``; flags override a few)."""
  sections: tuple[str, ...] = SECTIONS
  teacher: str = 'resnet32x4'
  student: str = 'resnet8x4'
  batch_size: int = 64
  methods: tuple[str, ...] = config_lib.METHODS
  repeats: int = 5
  inner: int = 2
  # The methods section's rounds (its ratios are the ones with a 3% target).
  methods_repeats: int = 9
  data_steps: int = 8  # steps of the synthetic epoch the step runners cycle through
  dispatch_k: int = 2
  # (height = width, channels) of the 3x3 convolutions of the ``kernels`` section: the
  # three stages of resnet8x4 / resnet32x4 on 32x32 inputs.
  conv_shapes: tuple[tuple[int, int], ...] = ((32, 64), (16, 128), (8, 256))
  # On CPU a rolled lax.scan of train steps runs about 25x slower per step (XLA's CPU
  # convolutions inside a loop body), so the dispatch section times one round by default.
  dispatch_repeats: int = 1
  imagenet_teacher: str = 'resnet34'
  imagenet_student: str = 'resnet18'
  imagenet_size: int = 224
  imagenet_batch: int = 16
  imagenet_records: int = 128
  imagenet_record_shape: tuple[int, int] = (375, 500)
  gpu_examples: int = 50_000
  gpu_epochs: int = 2  # the last epoch is timed (the first one compiles)
  projected_epochs: int = 240
  peak_tflops: float | None = None
  # The digits main job (``experiments.distill``); None: that job's default.
  digits_method: str = 'kd'
  digits_seeds: tuple[int, ...] | None = None
  digits_epochs: int | None = None
  digits_teacher_epochs: int | None = None
  digits_teacher: str | None = None
  digits_student: str | None = None
  digits_batch: int | None = None
  smoke: bool = False

  @classmethod
  def full(cls, **overrides) -> 'Options':
    return cls(**overrides)

  @classmethod
  def smoke_options(cls, **overrides) -> 'Options':
    """Tiny models and batches, one round: every section in seconds (for CI).

    The numbers mean nothing; the point is that every code path runs. Compilation
    dominates, so programs are shared where possible: the ``gpu`` section's
    float32 'highest' KD step is the ``methods`` section's (same ``kdjax.steps.Setup``),
    and the digits students train with CE, whose compiled step is the teacher's.
    """
    values = dict(teacher='resnet8', student='resnet8', batch_size=8,
                  methods=('kd', 'kd_maxlogit'), repeats=1, inner=1, methods_repeats=1,
                  data_steps=2, dispatch_k=2, conv_shapes=((8, 16),),
                  imagenet_teacher='resnet8', imagenet_student='resnet8', imagenet_size=32,
                  imagenet_batch=8, imagenet_records=16, imagenet_record_shape=(40, 48),
                  gpu_examples=16, gpu_epochs=2, digits_method='ce', digits_seeds=(0,),
                  digits_epochs=1, digits_teacher_epochs=1, digits_teacher='resnet8',
                  digits_student='resnet8', digits_batch=512, smoke=True)
    values.update(overrides)
    return cls(**values)


def synthetic_source(num_examples: int, seed: int = 0) -> sources.InMemorySource:
  """Random uint8 CIFAR-100-shaped splits (the trainer's smoke data; speed does not see pixels)."""
  config = config_lib.get_config()
  config.update(smoke=True, smoke_examples=num_examples, seed=seed)
  return sources.open_source(config)


def method_config(method: str, options: Options, **overrides: Any) -> ml_collections.ConfigDict:
  """``method``'s preset for the benchmarked pair and batch, with top-level ``overrides``."""
  config = recipes.method_config(method, options.teacher, options.student)
  config.update(dict(batch_size=options.batch_size, progress_bar=False, **overrides))
  return config_lib.validate(config)


def random_teacher(name: str, num_classes: int = CIFAR_CLASSES,
                   shape: tuple[int, ...] = CIFAR_SHAPE, seed: int = 1) -> Any:
  """Randomly initialised variables of model ``name`` (the step's speed does not see weights)."""
  return models.init_variables(models.create(name, num_classes=num_classes),
                               jax.random.key(seed), tuple(shape))


def compiled_flops(jitted: Any, *args: Any) -> float:
  """FLOPs of one call of ``jitted(*args)`` from XLA's cost analysis of the compiled program."""
  analysis = jitted.lower(*args).compile().cost_analysis()
  analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
  return float(analysis.get('flops', float('nan')))


def timed_rows(calls: Mapping[str, Callable[[], Any]], reference: str, *, repeats: int,
               inner: int, images_per_call: int) -> dict[str, dict[str, float]]:
  """``{name: {'median_s', 'ratio', 'images_per_s'}}`` of the calls timed in interleaved rounds."""
  times = timing.interleaved_times(calls, repeats=repeats, inner=inner)
  return {name: dict(row, images_per_s=images_per_call / row['median_s'])
          for name, row in timing.median_ratios(times, reference).items()}


class StepRunner:
  """One config's jitted train step on a source's epoch ``EPOCH``; each call runs the next step.

  Attributes:
    config, source, mesh, teacher_vars, arrays: what the step runs on
      (``arrays``: the source's train split on the devices, or {} for streaming data).
    steps, rows: steps and examples of the epoch.
    setup, program: the compiled description and functions (``kdjax.steps``).
    cached: the epoch's cached teacher logits on the devices, or None (run the teacher).
  """

  def __init__(self, config: ml_collections.ConfigDict, source: sources.Source,
               teacher_vars: Any, mesh: jax.sharding.Mesh,
               arrays: dict[str, jax.Array] | None = None):
    self.config, self.source, self.mesh, self.teacher_vars = config, source, mesh, teacher_vars
    self.steps, last = sources.epoch_steps(source.num_train, config, parallel.num_shards(mesh))
    self.rows = (self.steps - 1) * config.batch_size + last
    self.setup = steps_lib.Setup.create(config, source, steps_per_epoch=self.steps, mesh=mesh)
    self.program = steps_lib.build_program(self.setup)
    self.arrays = source.device_arrays('train', mesh) if arrays is None else arrays
    labels = ({'dataset_labels': source.train_labels()}  # CRD samples negatives by class
              if self.program.distillation.needs.dataset_labels else {})
    self.state = self.program.init(np.uint32(config.seed), **labels)
    self.acc = parallel.put_replicated(metrics.empty_accumulator(self.program.metric_names),
                                       mesh)
    self.local_batches = list(source.train_batches(
        config.seed, EPOCH, self.steps, 0, config.batch_size, mesh,
        strong=self.setup.views.strong))
    self.scalars = steps_lib.scalars_of(config, EPOCH)
    self.cached: jax.Array | None = None
    self.count = 0

  def twin(self) -> 'StepRunner':
    """A second runner of the same config and data (its own state; the same compiled step)."""
    return StepRunner(self.config, self.source, self.teacher_vars, self.mesh, self.arrays)

  def inputs(self, step: int) -> tuple[dict[str, jax.Array], dict[str, np.ndarray]]:
    """``(batch, scalars)`` of ``step``, made as ``kdjax.train.train_epoch`` makes them."""
    batch = {k: parallel.local_to_global(v, self.mesh)
             for k, v in self.local_batches[step].items()}
    return batch, dict(self.scalars, step=np.uint32(step))

  def step_args(self, step: int) -> tuple:
    """The train step's positional arguments for ``step``."""
    return (self.state, self.acc, self.teacher_vars, self.arrays, *self.inputs(step))

  def __call__(self) -> Any:
    step = self.count % self.steps
    extra = {} if self.cached is None else {
        'cached_teacher': (self.cached, np.int32(step * self.config.batch_size))}
    self.state, self.acc = self.program.train_step(*self.step_args(step), **extra)
    self.count += 1
    return self.acc

  def teacher_logits(self, step: int) -> jax.Array:
    """The teacher's ``[b, views, classes]`` logits of ``step``'s batch."""
    return self.program.teacher_logits(self.teacher_vars, self.arrays, *self.inputs(step))

  def flops(self) -> float:
    """FLOPs of one (full-batch) train step, from XLA's cost analysis."""
    return compiled_flops(self.program.train_step, *self.step_args(0))


def fill_teacher_cache(runner: StepRunner) -> tuple[np.ndarray, dict[str, Any]]:
  """Fills a temporary teacher-logit cache with ``runner``'s epoch, then reads it back.

  Returns:
    The epoch's ``[rows, views, classes]`` logits in the storage dtype and their costs:
    ``fill_seconds_per_step`` (the teacher pass that fills the cache),
    ``read_and_verify_seconds_per_epoch`` (what a later run pays: read, checksum, spot
    check), ``epoch_bytes``, ``storage_dtype``.
  """
  with tempfile.TemporaryDirectory() as root:
    config = config_lib.copy_config(runner.config)
    config.teacher_cache = root
    cache = teacher_cache.open_for_run(config, runner.program, runner.teacher_vars,
                                       runner.source, steps=runner.steps, rows=runner.rows)
    start = time.perf_counter()
    logits = cache.epoch_logits(EPOCH, runner.teacher_logits)
    fill_s = time.perf_counter() - start
    start = time.perf_counter()
    cache.epoch_logits(EPOCH, runner.teacher_logits)  # read + checksum + spot check
    read_s = time.perf_counter() - start
  return logits, {'storage_dtype': cache.key.storage_dtype,
                  'fill_seconds_per_step': fill_s / runner.steps,
                  'read_and_verify_seconds_per_epoch': read_s,
                  'epoch_bytes': int(logits.nbytes)}


@dataclasses.dataclass
class Context:
  """What the sections share: options, mesh, random data, and the teachers and runners made.

  Runners are memoised by their whole config (``memo_key``; ``runner``,
  ``cached_runner``): with the context's fixed data, mesh and random teachers, the
  config determines everything a runner computes, so a second request for the
  same config returns the same object.
  """
  options: Options
  mesh: jax.sharding.Mesh
  source: sources.InMemorySource
  teachers: dict[str, Any] = dataclasses.field(default_factory=dict)
  runners: dict[str, StepRunner] = dataclasses.field(default_factory=dict)
  cached_runners: dict[str, tuple[StepRunner, dict[str, Any]]] = dataclasses.field(
      default_factory=dict)
  _arrays: dict[str, jax.Array] | None = None

  @classmethod
  def create(cls, options: Options) -> 'Context':
    return cls(options, parallel.create_mesh(),
               synthetic_source(options.batch_size * options.data_steps))

  @property
  def arrays(self) -> dict[str, jax.Array]:
    """The train split on the devices (placed once, shared by every runner)."""
    if self._arrays is None:
      self._arrays = self.source.device_arrays('train', self.mesh)
    return self._arrays

  def teacher(self, name: str) -> Any:
    """Random CIFAR teacher variables of ``name`` on the devices (made once)."""
    if name not in self.teachers:
      self.teachers[name] = parallel.put_replicated(random_teacher(name), self.mesh)
    return self.teachers[name]

  def config(self, method: str, **overrides: Any) -> ml_collections.ConfigDict:
    return method_config(method, self.options, **overrides)

  def new_runner(self, config: ml_collections.ConfigDict) -> StepRunner:
    """A fresh runner of ``config`` on the context's data (not memoised)."""
    context = steps_lib.context(config, self.source)
    needs_teacher = methods.build(config, context).needs.teacher
    return StepRunner(config, self.source, self.teacher(config.teacher) if needs_teacher else None,
                      self.mesh, self.arrays)

  def memo_key(self, config: ml_collections.ConfigDict) -> str:
    """The runner memo's key: the whole config, ``conv_batch_chunks`` resolved (auto and the
    count it resolves to make the same runner)."""
    key = ml_collections.ConfigDict(config.to_dict())
    key.conv_batch_chunks = steps_lib.resolved_conv_batch_chunks(
        config, parallel.num_shards(self.mesh), self.source.image_shape)
    return config_lib.to_json(key)

  def runner(self, method: str, **overrides: Any) -> StepRunner:
    """The step runner of ``method`` on the benchmark's pair (top-level config ``overrides``)."""
    config = self.config(method, **overrides)
    key = self.memo_key(config)
    if key not in self.runners:
      self.runners[key] = self.new_runner(config)
    return self.runners[key]

  def cached_runner(self, method: str, **overrides: Any) -> tuple[StepRunner, dict[str, Any]]:
    """``method``'s runner reading its epoch's teacher logits from a filled cache, and the
    cache's costs (``fill_teacher_cache``)."""
    key = self.memo_key(self.config(method, **overrides))
    if key not in self.cached_runners:
      uncached = self.runner(method, **overrides)
      logits, costs = fill_teacher_cache(uncached)
      runner = uncached.twin()
      runner.cached = parallel.put_replicated(logits, self.mesh)
      self.cached_runners[key] = (runner, costs)
    return self.cached_runners[key]
