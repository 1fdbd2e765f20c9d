r"""kdjax speed: method cost, kdjax vs PyTorch, pipelines, dispatch, teacher cache, GPU epochs.

Every number is a rate or a ratio measured within one run: the candidates of a
section are timed in interleaved rounds (ABAB..., ``experiments/timing.py``) and
compared by their medians, so a shared machine's load hits them alike (the load
average is recorded with each section). Sections (``--sections``):

* ``methods``: each method's full train step (on-device augmentation, teacher
  forward, student forward+backward, loss, SGD) relative to plain KD, for
  resnet32x4 -> resnet8x4 at batch 64 on CIFAR shapes: the cost of each
  temperature policy.
* ``torch``: the kdjax KD step against the same step written the PyTorch way:
  eager ``tests/torch_models.py`` models, per-example tensor crop/flip/normalise
  as torchvision's transforms do, KD (T 4, 0.1 CE / 0.9 KD), SGD momentum 0.9 wd
  5e-4, teacher in eval mode under ``no_grad``; images/s of each and the ratio
  (also PyTorch without its data preparation).
* ``kernels``: what bounds the ``torch`` ratio: one 3x3 convolution of each
  CIFAR ResNet stage's shape (XLA's vs PyTorch's kernel, GFLOP/s), and the two
  halves of the step (teacher forward in eval mode; student forward+backward in
  train mode) in each framework.
* ``chunks``: the KD step and the cached-teacher step with every convolution on
  the whole batch against slices of it (``config.conv_batch_chunks``; the CPU
  default slices it).
* ``pipeline``: on-device CIFAR augmentation (``kdjax.data.train_view`` /
  ``strong_view``) and the ImageNet grain host pipeline (synthetic JPEG records)
  against the images/s their train steps consume.
* ``dispatch``: k steps in one ``lax.scan`` dispatch (a rolled loop, and unrolled)
  against k dispatches.
* ``cache``: the step reading cached teacher logits (``kdjax.teacher_cache``)
  against the step running the teacher, and the teacher forward alone.
* ``gpu``: epoch time of the real loop (``kdjax.train.train_and_evaluate``) in
  float32 and bfloat16, fraction of peak FLOP/s (FLOPs from XLA's cost analysis
  of the compiled step), projected time of a 240-epoch run. Needs a GPU (skipped
  on CPU, except that ``--smoke`` runs it tiny so that CI covers the code).
* ``bf16_accuracy``: test top-1 of float32 vs bfloat16 training of one method on
  the digits main job (the protocol of ``experiments.distill``).

Usage::

  python -m experiments.benchmark --out=/tmp/benchmark.json           # full
  python -m experiments.benchmark --smoke --out=/tmp/benchmark.json   # CI, seconds-scale
  python -m experiments.benchmark --sections=methods,cache --kd_methods=kd,ctkd,mlkd

The PyTorch models are ``tests/torch_models.py`` (the repository's ``tests``
directory is put on ``sys.path`` by the ``torch`` section, the only one that
imports torch).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app
from absl import flags

from experiments import timing
from kdjax import config as config_lib
from kdjax import data
from kdjax import methods
from kdjax import models
from kdjax import parallel
from kdjax import teacher_cache
from kdjax import train

SECTIONS = ('methods', 'torch', 'kernels', 'chunks', 'pipeline', 'dispatch', 'cache', 'gpu',
            'bf16_accuracy')
CIFAR_SHAPE, CIFAR_CLASSES = (32, 32, 3), 100
# Dense peak FLOP/s by device kind (vendor datasheets, SXM parts): float32 on the CUDA
# cores, TF32 and bfloat16 on the tensor cores (XLA runs float32 convolutions in TF32
# on these GPUs by default, so both float32 fractions are reported).
PEAK_TFLOPS = {
    'H100': {'float32': 67.0, 'tf32': 494.7, 'bfloat16': 989.4},
    'H200': {'float32': 67.0, 'tf32': 494.7, 'bfloat16': 989.4},
    'A100': {'float32': 19.5, 'tf32': 156.0, 'bfloat16': 312.0},
}


@dataclasses.dataclass(frozen=True)
class Options:
  """What to measure and at which size (``full()`` / ``smoke()``; flags override a few)."""
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
    float32 KD step is the ``methods`` section's, and the digits students train
    with CE, whose compiled step is the teacher's.
    """
    values = dict(teacher='resnet8', student='resnet8', batch_size=8,
                  methods=('kd', 'kd_maxlogit'), repeats=1, inner=1, methods_repeats=1,
                  data_steps=2,
                  dispatch_k=2, conv_shapes=((8, 16),), imagenet_teacher='resnet8', imagenet_student='resnet8',
                  imagenet_size=32, imagenet_batch=8, imagenet_records=16,
                  imagenet_record_shape=(40, 48), gpu_examples=16, gpu_epochs=2,
                  digits_method='ce', digits_seeds=(0,), digits_epochs=1,
                  digits_teacher_epochs=1, digits_teacher='resnet8', digits_student='resnet8',
                  digits_batch=512, smoke=True)
    values.update(overrides)
    return cls(**values)


# ---------------------------------------------------------------------------
# kdjax train steps on synthetic device-resident data.
# ---------------------------------------------------------------------------
def synthetic_split(num_examples: int, shape=CIFAR_SHAPE, num_classes: int = CIFAR_CLASSES,
                    seed: int = 0) -> data.ArrayDataset:
  """Random uint8 images and labels of the given shape (the step's speed does not see pixels)."""
  rng = np.random.default_rng(seed)
  return data.ArrayDataset(images=rng.integers(0, 256, (num_examples, *shape), dtype=np.uint8),
                           labels=rng.integers(0, num_classes, (num_examples,), dtype=np.int32),
                           num_classes=num_classes, name='synthetic')


def method_config(method: str, options: Options, **overrides) -> ml_collections.ConfigDict:
  """``method``'s preset for the benchmarked pair and batch."""
  config = config_lib.method_config(method, options.teacher, options.student)
  config.update(batch_size=options.batch_size, progress_bar=False, **overrides)
  return config


class StepRunner:
  """One config's jitted train step on device-resident data; each call runs the next step.

  The host work per call is the trainer's (batch indices, ``global_batch``,
  scalars), so the time is the epoch loop's time per step. Steps cycle through
  the ``split``'s one epoch (epoch 1).
  """

  def __init__(self, config: ml_collections.ConfigDict, split: data.ArrayDataset,
               teacher_vars: Any, mesh: jax.sharding.Mesh):
    mean, std = data.stats('cifar100')
    self.steps, _ = train.steps_per_epoch(len(split), config, parallel.num_shards(mesh))
    self.setup = train.Setup.from_config(
        config, num_classes=split.num_classes, image_shape=split.image_shape, mean=mean,
        std=std, steps_per_epoch=self.steps, mesh=mesh)
    self.program = train.build_program(self.setup)
    self.config, self.mesh, self.teacher_vars = config, mesh, teacher_vars
    self.images, self.labels = parallel.put_replicated((split.images, split.labels), mesh)
    self.size = len(split)
    self.state = self.program.init(np.uint32(config.seed))
    self.acc = parallel.put_replicated(train.empty_accumulator(self.program.metric_names), mesh)
    self.perm = data.epoch_permutation(config.seed, 1, self.size)
    self.scalars = methods.epoch_scalars(config, 1)
    self.cached: Any = None  # (epoch logits on device, batch size): read cached teacher logits
    self.count = 0

  def indices(self, step: int) -> jax.Array:
    return parallel.global_batch(data.batch_indices(self.perm, step, self.config.batch_size),
                                 self.mesh)

  def args(self, step: int) -> tuple:
    """The train step's arguments after ``(state, acc)`` for ``step``."""
    return (self.teacher_vars, self.images, self.labels, self.indices(step),
            np.uint32(self.config.seed), np.uint32(1), np.uint32(step),
            self.scalars['lambda_'], self.scalars['warmup'])

  def __call__(self) -> Any:
    step = self.count % self.steps
    extra = {}
    if self.cached is not None:
      extra['cached_teacher'] = (self.cached, np.int32(step * self.config.batch_size))
    self.state, self.acc = self.program.train_step(self.state, self.acc, *self.args(step),
                                                   **extra)
    self.count += 1
    return self.acc

  def teacher_logits(self, step: int) -> jax.Array:
    """The teacher's ``[b, views, classes]`` logits of ``step``'s batch."""
    return self.program.teacher_logits(self.teacher_vars, self.images, self.indices(step),
                                       np.uint32(self.config.seed), np.uint32(1), np.uint32(step))



def compiled_flops(jitted: Any, *args: Any) -> float:
  """FLOPs of one call of ``jitted(*args)`` from XLA's cost analysis of the compiled program."""
  analysis = jitted.lower(*args).compile().cost_analysis()
  analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
  return float(analysis.get('flops', float('nan')))


def random_teacher(name: str, num_classes: int, shape=CIFAR_SHAPE, seed: int = 1) -> Any:
  """Randomly initialised teacher variables (the step's speed does not depend on the weights)."""
  return models.init_variables(models.create(name, num_classes=num_classes),
                               jax.random.key(seed), tuple(shape))


@dataclasses.dataclass
class Context:
  """What the sections share: options, mesh, synthetic data, teachers and runners built so far."""
  options: Options
  mesh: jax.sharding.Mesh
  split: data.ArrayDataset
  teachers: dict[str, Any] = dataclasses.field(default_factory=dict)
  runners: dict[str, StepRunner] = dataclasses.field(default_factory=dict)
  cached_runners: dict[str, tuple[StepRunner, dict[str, Any]]] = dataclasses.field(
      default_factory=dict)

  def teacher(self, name: str) -> Any:
    """Random CIFAR teacher variables of ``name`` on the devices (made once)."""
    if name not in self.teachers:
      self.teachers[name] = parallel.put_replicated(random_teacher(name, CIFAR_CLASSES), self.mesh)
    return self.teachers[name]

  def runner(self, method: str, conv_batch_chunks: int = 0) -> StepRunner:
    """The step runner of ``method`` on the benchmark's pair (made once per chunking)."""
    key = f'{method}/{conv_batch_chunks}'
    if key not in self.runners:
      config = method_config(method, self.options, conv_batch_chunks=conv_batch_chunks)
      teacher = self.teacher(config.teacher) if config.loss != 'none' else None
      self.runners[key] = StepRunner(config, self.split, teacher, self.mesh)
    return self.runners[key]

  def cached_runner(self, method: str,
                    conv_batch_chunks: int = 0) -> tuple[StepRunner, dict[str, Any]]:
    """``method``'s step runner reading its epoch's teacher logits from a filled cache.

    Returns the runner and the cache's costs: ``fill_seconds_per_step`` (the
    teacher pass that fills it), ``read_and_verify_seconds_per_epoch`` (what a
    later run pays: read, checksum, spot check), ``epoch_bytes``, ``storage_dtype``.
    """
    key = f'{method}/{conv_batch_chunks}'
    if key not in self.cached_runners:
      uncached = self.runner(method, conv_batch_chunks)
      runner = StepRunner(uncached.config, self.split, uncached.teacher_vars, self.mesh)
      key = train.teacher_cache_key(uncached.config, uncached.setup, uncached.teacher_vars,
                                    self.split, steps=uncached.steps)
      with tempfile.TemporaryDirectory() as root:
        cache = teacher_cache.TeacherCache(root, key, steps=uncached.steps)
        start = time.perf_counter()
        logits = cache.epoch_logits(1, uncached.teacher_logits)
        fill_s = time.perf_counter() - start
        start = time.perf_counter()
        cache.epoch_logits(1, uncached.teacher_logits)  # read + checksum + spot check
        read_s = time.perf_counter() - start
      runner.cached = parallel.put_replicated(logits, self.mesh)
      self.cached_runners[key] = (runner, {
          'storage_dtype': key.storage_dtype, 'fill_seconds_per_step': fill_s / uncached.steps,
          'read_and_verify_seconds_per_epoch': read_s, 'epoch_bytes': int(logits.nbytes)})
    return self.cached_runners[key]


def _images_per_second(batch: int, seconds: float) -> float:
  return batch / seconds


# ---------------------------------------------------------------------------
# Sections.
# ---------------------------------------------------------------------------
def bench_methods(ctx: Context) -> dict[str, Any]:
  """Median step time of every method and its ratio to KD's (interleaved rounds).

  ``kd_control`` is KD again (a second runner of the same compiled step): its
  distance from 1 shows how precise the ratios of this run are.
  """
  o = ctx.options
  names = ('kd',) + tuple(m for m in o.methods if m != 'kd')
  calls = {m: ctx.runner(m) for m in names}
  kd = calls['kd']
  calls['kd_control'] = StepRunner(kd.config, ctx.split, kd.teacher_vars, ctx.mesh)
  times = timing.interleaved_times(calls, repeats=o.methods_repeats, inner=o.inner)
  rows = timing.median_ratios(times, 'kd')
  steps_per_epoch = data.num_batches(50_000, o.batch_size)
  kd = rows['kd']['median_s']
  return {'pair': f'{o.teacher}->{o.student}', 'batch_size': o.batch_size,
          'rows': {m: dict(r, images_per_s=_images_per_second(o.batch_size, r['median_s']))
                   for m, r in rows.items()},
          'kd_projected_240_epochs_hours': kd * steps_per_epoch * o.projected_epochs / 3600}


def bench_chunks(ctx: Context) -> dict[str, Any]:
  """The KD step, and the cached-teacher KD step, with each convolution on batch slices or not.

  ``conv_batch_chunks`` 1 (whole batch) against the trainer's auto setting and
  twice it (``kdjax.train.resolved_conv_batch_chunks``): same arithmetic, other
  kernel working sets.
  """
  o = ctx.options
  auto = ctx.runner('kd').setup.conv_batch_chunks
  counts = sorted({1, auto, 2 * auto} if o.batch_size % (2 * auto) == 0 else {1, auto})
  calls = {}
  for chunks in counts:
    calls[f'step/{chunks}'] = ctx.runner('kd', chunks)
    calls[f'cached_step/{chunks}'] = ctx.cached_runner('kd', chunks)[0]
  times = timing.interleaved_times(calls, repeats=o.repeats, inner=o.inner)
  rows = timing.median_ratios(times, 'step/1')
  return {'auto_chunks': auto, 'chunks': counts,
          'rows': {name: dict(r, images_per_s=_images_per_second(o.batch_size, r['median_s']))
                   for name, r in rows.items()},
          'auto_over_whole_batch': {
              'step': rows[f'step/{auto}']['median_s'] / rows['step/1']['median_s'],
              'cached_step': (rows[f'cached_step/{auto}']['median_s'] /
                              rows['cached_step/1']['median_s'])}}


def _torch_models() -> Any:
  """``tests/torch_models.py``, the PyTorch definitions of the kdjax models (imports torch)."""
  tests_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'tests')
  if tests_dir not in sys.path:
    sys.path.insert(0, tests_dir)
  import torch_models  # pylint: disable=g-import-not-at-top
  return torch_models


class TorchKDStep:
  """The PyTorch way: eager models, per-example transforms, KD loss, SGD; a call is a step."""

  def __init__(self, options: Options, split: data.ArrayDataset, *, with_data: bool = True):
    import torch  # pylint: disable=g-import-not-at-top
    torch_models = _torch_models()
    self.torch, self.with_data = torch, with_data
    torch.manual_seed(0)
    self.student = torch_models.build(options.student, split.num_classes).train()
    self.teacher = torch_models.build(options.teacher, split.num_classes).eval()
    for p in self.teacher.parameters():
      p.requires_grad_(False)
    self.optimizer = torch.optim.SGD(self.student.parameters(), lr=0.05, momentum=0.9,
                                     weight_decay=5e-4)
    self.images = torch.from_numpy(split.images).permute(0, 3, 1, 2).contiguous()  # uint8 NCHW
    self.labels = torch.from_numpy(split.labels.astype(np.int64))
    mean, std = data.stats('cifar100')
    self.mean = torch.tensor(mean).view(3, 1, 1)
    self.std = torch.tensor(std).view(3, 1, 1)
    self.generator = torch.Generator().manual_seed(0)
    self.batch_size, self.count = options.batch_size, 0
    self.order = torch.randperm(len(split), generator=self.generator)
    self.fixed_batch = self.batch(0)

  def transform(self, image):
    """``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip()``, ``Normalize`` on CHW uint8."""
    torch = self.torch
    height, width = image.shape[1:]
    padded = torch.nn.functional.pad(image, (4, 4, 4, 4))
    top, left = torch.randint(0, 9, (2,), generator=self.generator).tolist()
    crop = padded[:, top:top + height, left:left + width]
    if torch.rand(1, generator=self.generator).item() < 0.5:
      crop = crop.flip(-1)
    return (crop.float() / 255.0 - self.mean) / self.std

  def batch(self, step: int):
    start = (step * self.batch_size) % (len(self.order) - self.batch_size + 1)
    idx = self.order[start:start + self.batch_size]
    return self.torch.stack([self.transform(self.images[i]) for i in idx]), self.labels[idx]

  def __call__(self) -> None:
    torch, f = self.torch, self.torch.nn.functional
    x, y = self.batch(self.count) if self.with_data else self.fixed_batch
    self.count += 1
    with torch.no_grad():
      teacher_logits = self.teacher(x)
    logits = self.student(x)
    t = 4.0
    kd = f.kl_div(f.log_softmax(logits / t, dim=1), f.softmax(teacher_logits / t, dim=1),
                  reduction='batchmean') * t * t
    loss = 0.1 * f.cross_entropy(logits, y) + 0.9 * kd
    self.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    self.optimizer.step()


def bench_torch(ctx: Context) -> dict[str, Any]:
  """kdjax KD step vs the PyTorch step (with and without its data preparation)."""
  import torch  # pylint: disable=g-import-not-at-top
  o = ctx.options
  calls = {'kdjax': ctx.runner('kd'), 'kdjax_cached_teacher': ctx.cached_runner('kd')[0],
           'torch': TorchKDStep(o, ctx.split),
           'torch_compute_only': TorchKDStep(o, ctx.split, with_data=False)}
  times = timing.interleaved_times(calls, repeats=o.repeats, inner=o.inner)
  rows = timing.median_ratios(times, 'kdjax')
  return {'torch_version': torch.__version__, 'torch_threads': torch.get_num_threads(),
          'rows': {name: dict(r, images_per_s=_images_per_second(o.batch_size, r['median_s']))
                   for name, r in rows.items()},
          'kdjax_speedup_vs_torch': rows['torch']['ratio'],
          'kdjax_speedup_vs_torch_compute_only': rows['torch_compute_only']['ratio'],
          'kdjax_cached_teacher_speedup_vs_torch': (rows['torch']['ratio'] /
                                                   rows['kdjax_cached_teacher']['ratio'])}


def _conv_calls(batch: int, size: int, channels: int) -> dict[str, Callable[[], Any]]:
  """One SAME 3x3 convolution ``[batch, size, size, channels] -> channels`` in XLA and PyTorch."""
  import torch  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  x = rng.standard_normal((batch, size, size, channels), np.float32)
  w = rng.standard_normal((3, 3, channels, channels), np.float32)
  conv = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
      x, w, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC')))
  xj, wj = jnp.asarray(x), jnp.asarray(w)
  xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
  wt = torch.from_numpy(w).permute(3, 2, 0, 1).contiguous()

  def torch_conv():
    with torch.no_grad():
      return torch.nn.functional.conv2d(xt, wt, padding=1)

  return {'xla': lambda: conv(xj, wj), 'torch': torch_conv}


def _model_half_calls(name: str, batch: int, train_mode: bool) -> dict[str, Callable[[], Any]]:
  """Model ``name`` on a CIFAR batch in each framework: eval forward, or train forward+backward."""
  import torch  # pylint: disable=g-import-not-at-top
  x = np.random.default_rng(0).standard_normal((batch, *CIFAR_SHAPE), np.float32)
  module = models.create(name, num_classes=CIFAR_CLASSES)
  variables = random_teacher(name, CIFAR_CLASSES)
  reference = _torch_models().build(name, CIFAR_CLASSES).train(train_mode)
  xj, xt = jnp.asarray(x), torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
  if not train_mode:
    forward = jax.jit(lambda v, x: module.apply(v, x, train=False))

    def torch_forward():
      with torch.no_grad():
        return reference(xt)
    return {'kdjax': lambda: forward(variables, xj), 'torch': torch_forward}

  def loss(params, batch_stats, x):
    logits, _ = module.apply({'params': params, 'batch_stats': batch_stats}, x, train=True,
                             mutable=['batch_stats'])
    return jnp.sum(logits)
  grad = jax.jit(jax.grad(loss))

  def torch_backward():
    reference.zero_grad(set_to_none=True)
    reference(xt).sum().backward()
  return {'kdjax': lambda: grad(variables['params'], variables['batch_stats'], xj),
          'torch': torch_backward}


def bench_kernels(ctx: Context) -> dict[str, Any]:
  """XLA vs PyTorch on one convolution per stage shape and on each half of the KD step."""
  o = ctx.options
  convs = {}
  for size, channels in o.conv_shapes:
    times = timing.interleaved_times(_conv_calls(o.batch_size, size, channels),
                                     repeats=o.repeats, inner=o.inner)
    flops = 2 * o.batch_size * size * size * channels * channels * 9
    rows = timing.median_ratios(times, 'torch')
    convs[f'{size}x{size}x{channels}'] = {
        'gflops_per_s': {k: flops / r['median_s'] / 1e9 for k, r in rows.items()},
        'xla_over_torch_time': rows['xla']['ratio']}
  halves = {}
  for label, name, train_mode in (('teacher_forward_eval', o.teacher, False),
                                  ('student_forward_backward_train', o.student, True)):
    times = timing.interleaved_times(_model_half_calls(name, o.batch_size, train_mode),
                                     repeats=o.repeats, inner=o.inner)
    rows = timing.median_ratios(times, 'torch')
    halves[label] = {'model': name, 'ms': {k: r['median_s'] * 1e3 for k, r in rows.items()},
                     'kdjax_over_torch_time': rows['kdjax']['ratio']}
  return {'batch_size': o.batch_size, 'conv3x3': convs, 'step_halves': halves}


def _cifar_view_fn(view: Callable, runner: StepRunner) -> Callable[[int], jax.Array]:
  mean, std = runner.setup.mean, runner.setup.std

  @jax.jit
  def augment(images, indices, seed, epoch, step):
    keys = data.example_keys(seed, epoch, step, indices.shape[0])
    return view(keys, images[indices], mean, std)

  def call(step: int) -> jax.Array:
    return augment(runner.images, runner.indices(step), np.uint32(0), np.uint32(1),
                   np.uint32(step))

  return call


def synthetic_jpeg_records(count: int, shape: tuple[int, int], seed: int = 0) -> list[dict]:
  """ImageNet-like records: smooth random RGB images JPEG-encoded (quality 90), random labels."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  records = []
  for _ in range(count):
    coarse = rng.integers(0, 256, (shape[0] // 16 + 1, shape[1] // 16 + 1, 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize((shape[1], shape[0]), Image.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format='JPEG', quality=90)
    records.append({'image': buffer.getvalue(), 'label': int(rng.integers(0, 1000))})
  return records


def _imagenet_step(o: Options, mesh: jax.sharding.Mesh) -> Callable[[], Any]:
  """One KD step of ``experiments.imagenet`` on a host uint8 batch (its transfer included)."""
  from experiments import imagenet  # pylint: disable=g-import-not-at-top
  config = config_lib.method_config('kd', o.imagenet_teacher, o.imagenet_student)
  config.update(batch_size=o.imagenet_batch, dataset='imagenet2012')
  program = imagenet.build_program(imagenet.Setup.from_config(
      config, image_size=o.imagenet_size, steps_per_epoch=1000, mesh=mesh))
  shape = (o.imagenet_size, o.imagenet_size, 3)
  teacher_vars = parallel.put_replicated(
      random_teacher(o.imagenet_teacher, imagenet.NUM_CLASSES, shape), mesh)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (o.imagenet_batch, *shape), dtype=np.uint8)
  labels = rng.integers(0, imagenet.NUM_CLASSES, (o.imagenet_batch,), dtype=np.int32)
  carry = {'state': program.init(np.uint32(0)),
           'acc': parallel.put_replicated(train.empty_accumulator(program.metric_names), mesh)}

  def step() -> Any:
    carry['state'], carry['acc'] = program.train_step(
        carry['state'], carry['acc'], teacher_vars, parallel.global_batch(images, mesh),
        parallel.global_batch(labels, mesh), np.uint32(0), np.uint32(1), np.uint32(0),
        np.float32(0.0), np.float32(1.0))
    return carry['acc']

  return step


def bench_pipeline(ctx: Context) -> dict[str, Any]:
  """Input pipelines against the images/s their steps consume (headroom = pipeline / step)."""
  o = ctx.options
  kd = ctx.runner('kd')
  counter = {'weak': 0, 'strong': 0}

  def view_call(name: str, view: Callable) -> Callable[[], jax.Array]:
    fn = _cifar_view_fn(view, kd)

    def call():
      counter[name] += 1
      return fn(counter[name] % kd.steps)
    return call

  calls = {'kd_step': kd, 'train_view': view_call('weak', data.train_view),
           'strong_view': view_call('strong', data.strong_view)}
  times = timing.interleaved_times(calls, repeats=o.repeats, inner=o.inner)
  rate = {name: _images_per_second(o.batch_size, statistics.median(t)) for name, t in times.items()}
  cifar = {'images_per_s': rate,
           'train_view_headroom': rate['train_view'] / rate['kd_step'],
           'strong_view_headroom': rate['strong_view'] / rate['kd_step'],
           'train_view_share_of_kd_step': rate['kd_step'] / rate['train_view']}

  # ImageNet: the grain host pipeline (decode, random-resized crop, flip, batch) on
  # synthetic JPEGs, one epoch of the records per timed call, against the KD step.
  records = synthetic_jpeg_records(o.imagenet_records, o.imagenet_record_shape)
  epochs = {'count': 0}

  def pipeline_epoch() -> None:
    epochs['count'] += 1
    loader = data.make_imagenet_loader(
        'train', data_dir=None, batch_size=o.imagenet_batch, seed=0, epoch=epochs['count'],
        source=records, image_size=o.imagenet_size, num_workers=0)
    for batch in loader:
      assert batch['image'].shape[1:] == (o.imagenet_size, o.imagenet_size, 3)

  batches = o.imagenet_records // o.imagenet_batch
  times = timing.interleaved_times({'pipeline_epoch': pipeline_epoch,
                                    'kd_step': _imagenet_step(o, ctx.mesh)},
                                   repeats=o.repeats, inner=1)
  pipe = batches * o.imagenet_batch / statistics.median(times['pipeline_epoch'])
  step = _images_per_second(o.imagenet_batch, statistics.median(times['kd_step']))
  imagenet = {'pair': f'{o.imagenet_teacher}->{o.imagenet_student}', 'image_size': o.imagenet_size,
              'record_shape': list(o.imagenet_record_shape), 'batch_size': o.imagenet_batch,
              'pipeline_images_per_s': pipe, 'kd_step_images_per_s': step,
              'headroom': pipe / step, 'pipeline_threads': 4, 'cpu_count': os.cpu_count()}
  return {'cifar_on_device': cifar, 'imagenet_host': imagenet}


def _scanned_steps(train_step: Callable, k: int, unroll: bool) -> Callable:
  """``k`` train steps in one jitted ``lax.scan``; indices ``[k, B]``, steps ``[k]``."""

  def scanned(state, acc, teacher_vars, images, labels, indices, seed, epoch, steps, lam, warm):
    def body(carry, xs):
      return train_step(*carry, teacher_vars, images, labels, xs[0], seed, epoch, xs[1], lam,
                        warm), None
    return jax.lax.scan(body, (state, acc), (indices, steps), unroll=k if unroll else 1)[0]

  return jax.jit(scanned, donate_argnums=(0, 1))


def bench_dispatch(ctx: Context) -> dict[str, Any]:
  """Per-step time of ``k`` steps in one dispatch (``lax.scan``, rolled / unrolled) vs ``k``."""
  o = ctx.options
  single, k = ctx.runner('kd'), o.dispatch_k

  def scan_call(unroll: bool) -> Callable[[], Any]:
    fn = _scanned_steps(single.program.train_step, k, unroll)
    runner = StepRunner(single.config, ctx.split, single.teacher_vars, ctx.mesh)

    def call() -> Any:
      steps = [(runner.count * k + j) % runner.steps for j in range(k)]
      indices = np.stack([data.batch_indices(runner.perm, s, o.batch_size) for s in steps])
      runner.state, runner.acc = fn(
          runner.state, runner.acc, runner.teacher_vars, runner.images, runner.labels,
          jnp.asarray(indices), np.uint32(0), np.uint32(1), np.asarray(steps, np.uint32),
          runner.scalars['lambda_'], runner.scalars['warmup'])
      runner.count += 1
      return runner.acc
    return call

  def separate() -> Any:
    for _ in range(k):
      out = single()
    return out

  times = timing.interleaved_times(  # One call is already k steps.
      {'separate': separate, 'scan': scan_call(False), 'scan_unrolled': scan_call(True)},
      repeats=o.dispatch_repeats, inner=1)
  rows = timing.median_ratios(times, 'separate')
  return {'k': k, 'per_step_s': {n: r['median_s'] / k for n, r in rows.items()},
          'scan_over_separate': rows['scan']['ratio'],
          'scan_unrolled_over_separate': rows['scan_unrolled']['ratio']}


def bench_cache(ctx: Context) -> dict[str, Any]:
  """KD (and MLKD when benchmarked) steps with cached teacher logits vs the teacher forward."""
  o = ctx.options
  out = {}
  for method in [m for m in ('kd', 'mlkd') if m == 'kd' or m in o.methods]:
    uncached = ctx.runner(method)
    cached, costs = ctx.cached_runner(method)
    teacher = {'n': 0}

    def teacher_forward(runner=uncached, state=teacher):
      state['n'] += 1
      return runner.teacher_logits(state['n'] % runner.steps)

    times = timing.interleaved_times(
        {'uncached': uncached, 'cached': cached, 'teacher_forward': teacher_forward},
        repeats=o.repeats, inner=o.inner)
    rows = timing.median_ratios(times, 'uncached')
    out[method] = {
        'rows': rows, 'cached_over_uncached': rows['cached']['ratio'],
        'bound_1_minus_teacher_share': 1.0 - rows['teacher_forward']['ratio'], **costs}
  return out


def peak_flops(device: Any, dtype: str, override_tflops: float | None) -> dict[str, float] | None:
  """Peak FLOP/s of ``device`` for ``dtype`` (``{'float32': .., 'tf32': ..}`` for float32)."""
  if override_tflops:
    return {dtype: override_tflops * 1e12}
  kind = getattr(device, 'device_kind', '')
  for name, table in PEAK_TFLOPS.items():
    if name in kind:
      keys = ('float32', 'tf32') if dtype == 'float32' else (dtype,)
      return {k: table[k] * 1e12 for k in keys}
  return None


def bench_gpu(ctx: Context) -> dict[str, Any]:
  """Epoch time of the trainer's loop in float32 / bfloat16, fraction of peak, 240-epoch projection.

  Each dtype trains ``gpu_epochs`` epochs of ``gpu_examples`` synthetic CIFAR
  images with ``kdjax.train.train_epoch`` (the loop ``train_and_evaluate`` runs)
  and evaluates on as many test images; the last epoch is timed (the first
  compiles). FLOP/s = FLOPs of a full-batch step x the epoch's batches / its time.
  """
  o = ctx.options
  backend = jax.default_backend()
  if backend != 'gpu' and not o.smoke:
    return {'skipped': f'no GPU (backend {backend}); run on a GPU machine'}
  device = jax.devices()[0]
  out = {'device': str(device), 'device_kind': device.device_kind}
  for dtype in ('float32', 'bfloat16'):
    config = config_lib.smoke_config(method_config('kd', o))  # random data of CIFAR's shape
    config.update(smoke_examples=o.gpu_examples, smoke_steps=10**9, epochs=o.gpu_epochs,
                  batch_size=o.batch_size, eval_batch_size=1000, compute_dtype=dtype,
                  lr_decay_epochs=(150, 180, 210))
    run = train.prepare_run(config)
    state = run.program.init(np.uint32(config.seed))
    for epoch in range(1, o.gpu_epochs + 1):
      state, row = train.train_epoch(run, state, epoch)
      start = time.perf_counter()
      train.evaluate_student(run, state)
      eval_seconds = time.perf_counter() - start
    acc = parallel.put_replicated(train.empty_accumulator(run.program.metric_names), run.mesh)
    scalars = methods.epoch_scalars(config, 1)
    flops = compiled_flops(
        run.program.train_step, state, acc, run.teacher_vars, run.train.images, run.train.labels,
        parallel.global_batch(np.arange(o.batch_size, dtype=np.int32), run.mesh),
        np.uint32(0), np.uint32(1), np.uint32(0), scalars['lambda_'], scalars['warmup'])
    achieved = flops * (run.images_per_epoch / o.batch_size) / row['epoch_train_seconds']
    peaks = peak_flops(device, dtype, o.peak_tflops)
    epoch_seconds = row['epoch_train_seconds'] + eval_seconds
    out[dtype] = {
        'steps_per_epoch': run.steps, 'epoch_train_seconds': row['epoch_train_seconds'],
        'eval_seconds': eval_seconds, 'epoch_seconds': epoch_seconds,
        'train_images_per_s': row['train_images_per_second'],
        'flops_per_step': flops, 'achieved_tflops': achieved / 1e12,
        'fraction_of_peak': None if peaks is None else {k: achieved / v for k, v in peaks.items()},
        'projected_hours': epoch_seconds * o.projected_epochs / 3600,
        'final_train_loss': row['train_loss'], 'epochs_run': o.gpu_epochs}
  out['bf16_over_fp32_epoch'] = (out['bfloat16']['epoch_train_seconds'] /
                                 out['float32']['epoch_train_seconds'])
  return out


def _main_job_settings(o: Options) -> dict[str, Any]:
  """The digits main job's settings: ``experiments.distill``'s flag defaults, then ``o``'s."""
  from experiments import distill  # pylint: disable=g-import-not-at-top,unused-import
  default = lambda name: flags.FLAGS[name].default  # Defined by importing distill.
  settings = dict(seeds=tuple(int(v) for v in default('seeds')), epochs=default('epochs'),
                  teacher_epochs=default('teacher_epochs'), teacher=default('teacher'),
                  student=default('student'), batch_size=default('batch_size'),
                  image_size=default('image_size'), lr=default('lr'))
  for name in ('seeds', 'epochs', 'teacher_epochs', 'teacher', 'student'):
    if getattr(o, f'digits_{name}') is not None:
      settings[name] = getattr(o, f'digits_{name}')
  if o.digits_batch is not None:
    settings['batch_size'] = o.digits_batch
  return settings


def bench_bf16_accuracy(ctx: Context) -> dict[str, Any]:
  """Top-1 of float32 vs bfloat16 students on the digits main job (same float32 teacher)."""
  from experiments import distill  # pylint: disable=g-import-not-at-top
  from experiments import train_teacher  # pylint: disable=g-import-not-at-top
  o = ctx.options
  job = _main_job_settings(o)
  out = {'method': o.digits_method, **{k: job[k] for k in ('teacher', 'student', 'epochs',
                                                          'image_size', 'batch_size')},
         'seeds': list(job['seeds'])}
  with tempfile.TemporaryDirectory() as root:
    common = dict(batch_size=job['batch_size'], image_size=job['image_size'], lr=job['lr'])
    teacher_dir = os.path.join(root, 'teacher', 'model')
    teacher_summary, _ = train_teacher.train_teacher(
        train_teacher.teacher_config(job['teacher'], config=distill.base_config(
            epochs=job['teacher_epochs'], **common)),
        os.path.join(root, 'teacher'), teacher_dir, overwrite=True)
    out['teacher_top1'] = teacher_summary['last_top1']
    base = distill.base_config(epochs=job['epochs'], **common)
    for dtype in ('float32', 'bfloat16'):
      runs = []
      for seed in job['seeds']:
        config = distill.student_config(o.digits_method, seed, teacher_dir,
                                        teacher=job['teacher'], student=job['student'],
                                        base=base)
        config.compute_dtype = dtype
        summary = train.train_and_evaluate(config, os.path.join(root, dtype, str(seed))).summary
        runs.append({k: summary[k] for k in ('seed', 'best_top1', 'last_top1', 'train_seconds')})
      best = [r['best_top1'] for r in runs]
      out[dtype] = {'runs': runs, 'best_top1_mean': float(np.mean(best)),
                    'best_top1_std': float(np.std(best, ddof=1)) if len(best) > 1 else 0.0,
                    'last_top1_mean': float(np.mean([r['last_top1'] for r in runs]))}
  out['best_top1_bf16_minus_fp32'] = (out['bfloat16']['best_top1_mean'] -
                                      out['float32']['best_top1_mean'])
  return out


_BENCHES = {'methods': bench_methods, 'torch': bench_torch, 'kernels': bench_kernels,
            'chunks': bench_chunks,
            'pipeline': bench_pipeline,
            'dispatch': bench_dispatch, 'cache': bench_cache, 'gpu': bench_gpu,
            'bf16_accuracy': bench_bf16_accuracy}


def run(options: Options, out: str | None = None) -> dict[str, Any]:
  """Runs the sections of ``options``; returns ``{'meta', 'sections'}`` (JSON-compatible).

  With ``out``, the results so far are written there as JSON after every section.
  """
  unknown = [s for s in options.sections if s not in SECTIONS]
  if unknown:
    raise ValueError(f'unknown sections {unknown}; choose from {SECTIONS}')
  bad = [m for m in options.methods if m not in config_lib.METHODS]
  if bad:
    raise ValueError(f'unknown methods {bad}; choose from {config_lib.METHODS}')
  mesh = parallel.create_mesh()
  ctx = Context(options, mesh, synthetic_split(options.batch_size * options.data_steps))
  meta = {'device': str(jax.devices()[0]), 'backend': jax.default_backend(),
          'num_devices': jax.device_count(), 'cpu_count': os.cpu_count(),
          'jax_version': jax.__version__, 'options': dataclasses.asdict(options),
          'load_average_start': timing.load_average()}
  sections = {}
  for name in options.sections:
    start, load = time.time(), timing.load_average()
    sections[name] = _BENCHES[name](ctx)
    sections[name]['load_average_before_after'] = [load, timing.load_average()]
    sections[name]['wall_seconds'] = time.time() - start
    print(f'[{name}] done in {sections[name]["wall_seconds"]:.1f}s', flush=True)
    meta['load_average_end'] = timing.load_average()
    if out:
      with open(out, 'w') as f:
        json.dump({'meta': meta, 'sections': sections}, f, indent=1, default=float)
  return {'meta': meta, 'sections': sections}


def format_report(results: dict[str, Any]) -> str:
  """The human-readable table of ``run``'s results."""
  meta, s = results['meta'], results['sections']
  lines = [f"device {meta['device']} ({meta['cpu_count']} CPUs), jax {meta['jax_version']}, "
           f"load average start {meta['load_average_start']} end {meta['load_average_end']}"]
  if 'methods' in s:
    m = s['methods']
    lines += [f"\n[methods] {m['pair']} batch {m['batch_size']}: train step / KD step "
              f"(median of interleaved rounds)",
              f"{'method':<14}{'ratio':>8}{'ms/step':>10}{'img/s':>9}"]
    lines += [f"{name:<14}{r['ratio']:>8.3f}{r['median_s'] * 1e3:>10.1f}{r['images_per_s']:>9.1f}"
              for name, r in m['rows'].items()]
    lines.append(f"KD 240 epochs at this rate: {m['kd_projected_240_epochs_hours']:.1f} h")
  if 'torch' in s:
    t = s['torch']
    lines.append(f"\n[torch] torch {t['torch_version']} ({t['torch_threads']} threads)")
    lines += [f"{name:<20}{r['images_per_s']:>9.1f} img/s  {r['median_s'] * 1e3:>9.1f} ms/step"
              for name, r in t['rows'].items()]
    lines.append(f"kdjax speed-up: {t['kdjax_speedup_vs_torch']:.2f}x over the PyTorch step, "
                 f"{t['kdjax_speedup_vs_torch_compute_only']:.2f}x over its compute alone; "
                 f"with cached teacher logits {t['kdjax_cached_teacher_speedup_vs_torch']:.2f}x")
  if 'kernels' in s:
    k = s['kernels']
    lines.append(f"\n[kernels] batch {k['batch_size']}: one 3x3 convolution, GFLOP/s (XLA vs "
                 f"PyTorch), and each half of the step, ms")
    lines += [f"conv {shape:<12} xla {r['gflops_per_s']['xla']:>7.1f}  torch "
              f"{r['gflops_per_s']['torch']:>7.1f}  time ratio {r['xla_over_torch_time']:.2f}"
              for shape, r in k['conv3x3'].items()]
    lines += [f"{label:<31}{r['model']:<12} kdjax {r['ms']['kdjax']:>8.1f}  torch "
              f"{r['ms']['torch']:>8.1f}  ratio {r['kdjax_over_torch_time']:.2f}"
              for label, r in k['step_halves'].items()]
  if 'chunks' in s:
    c = s['chunks']
    lines.append(f"\n[chunks] convolutions on batch slices (auto {c['auto_chunks']}), time / "
                 f"whole-batch KD step")
    lines += [f"{name:<18}{r['ratio']:>8.3f}{r['median_s'] * 1e3:>10.1f} ms"
              for name, r in c['rows'].items()]
    a = c['auto_over_whole_batch']
    lines.append(f"auto / whole batch: step {a['step']:.3f}, cached step {a['cached_step']:.3f}")
  if 'pipeline' in s:
    c, i = s['pipeline']['cifar_on_device'], s['pipeline']['imagenet_host']
    lines.append('\n[pipeline] images/s: ' + ', '.join(f'{k} {v:.0f}'
                                                       for k, v in c['images_per_s'].items()))
    lines.append(f"CIFAR train_view headroom {c['train_view_headroom']:.1f}x, strong_view "
                 f"{c['strong_view_headroom']:.1f}x the KD step's rate")
    lines.append(f"ImageNet host pipeline {i['pipeline_images_per_s']:.0f} img/s vs {i['pair']} "
                 f"step {i['kd_step_images_per_s']:.1f} img/s: headroom {i['headroom']:.1f}x")
  if 'dispatch' in s:
    d = s['dispatch']
    lines.append(f"\n[dispatch] {d['k']} steps per dispatch / {d['k']} dispatches: lax.scan "
                 f"{d['scan_over_separate']:.3f}, unrolled {d['scan_unrolled_over_separate']:.3f}")
  if 'cache' in s:
    for method, c in s['cache'].items():
      if not isinstance(c, dict) or 'rows' not in c:
        continue
      lines.append(f"\n[cache] {method}: cached / uncached step {c['cached_over_uncached']:.3f} "
                   f"(teacher forward alone {c['rows']['teacher_forward']['ratio']:.3f} of the "
                   f"step; "
                   f"bound {c['bound_1_minus_teacher_share']:.3f}); fill "
                   f"{c['fill_seconds_per_step'] * 1e3:.1f} ms/step, {c['storage_dtype']}")
  if 'gpu' in s:
    g = s['gpu']
    if 'skipped' in g:
      lines.append(f"\n[gpu] skipped: {g['skipped']}")
    else:
      for dtype in ('float32', 'bfloat16'):
        r = g[dtype]
        lines.append(f"\n[gpu] {g['device_kind']} {dtype}: epoch {r['epoch_train_seconds']:.2f}s "
                     f"train ({r['epoch_seconds']:.2f}s with eval), {r['achieved_tflops']:.2f} "
                     f"TFLOP/s, of peak {r['fraction_of_peak']}, 240 epochs "
                     f"{r['projected_hours']:.2f} h")
  if 'bf16_accuracy' in s:
    b = s['bf16_accuracy']
    lines.append(f"\n[bf16_accuracy] digits {b['method']} {b['teacher']}->{b['student']}, "
                 f"{b['epochs']} epochs, seeds {b['seeds']}: best top-1 fp32 "
                 f"{b['float32']['best_top1_mean']:.2f} +- {b['float32']['best_top1_std']:.2f}, "
                 f"bf16 {b['bfloat16']['best_top1_mean']:.2f} +- "
                 f"{b['bfloat16']['best_top1_std']:.2f} (teacher {b['teacher_top1']:.2f})")
  return '\n'.join(lines)


def _define_flags() -> None:
  """The command-line flags (defined only when run as a program, so the module imports cleanly)."""
  flags.DEFINE_bool('smoke', False, 'tiny models and batches, one round: seconds (CI)')
  flags.DEFINE_string('out', None, 'write the results as JSON to this path')
  flags.DEFINE_list('sections', list(SECTIONS), f'sections to run, from {SECTIONS}')
  flags.DEFINE_list('kd_methods', None, 'methods of the methods section (default: all; smoke: 2)')
  flags.DEFINE_string('pair', None, 'teacher,student (default resnet32x4,resnet8x4)')
  flags.DEFINE_integer('batch', None, 'batch size (default 64; smoke 8)')
  flags.DEFINE_integer('repeats', None, 'interleaved timing rounds (default 5; smoke 1)')
  flags.DEFINE_integer('inner', None, 'calls per candidate per round (default 2; smoke 1)')
  flags.DEFINE_float('peak_tflops', None, 'peak TFLOP/s of the device (default: a table by GPU)')


def options_from_flags(fv: flags.FlagValues) -> Options:
  """``Options.full()`` or ``smoke_options()`` with the given flags applied."""
  overrides: dict[str, Any] = {'sections': tuple(fv.sections)}
  if fv.kd_methods:
    overrides['methods'] = tuple(fv.kd_methods)
  if fv.pair:
    overrides['teacher'], overrides['student'] = fv.pair.split(',')
  for name, field in (('batch', 'batch_size'), ('repeats', 'repeats'), ('inner', 'inner'),
                      ('peak_tflops', 'peak_tflops')):
    if fv[name].value is not None:
      overrides[field] = fv[name].value
  return Options.smoke_options(**overrides) if fv.smoke else Options.full(**overrides)


def _compile_fast() -> None:
  """Smoke mode: XLA backend optimisation at level 1 (compiles faster; the steps are tiny).

  Takes effect because ``main`` calls it before anything creates the JAX backend
  (importing this module does not).
  """
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                             ' --xla_backend_optimization_level=1').strip()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  if flags.FLAGS.smoke:
    _compile_fast()
  results = run(options_from_flags(flags.FLAGS), flags.FLAGS.out)
  print(format_report(results), flush=True)
  if flags.FLAGS.out:
    print(f'wrote {flags.FLAGS.out}')


if __name__ == '__main__':
  _define_flags()
  app.run(main)
