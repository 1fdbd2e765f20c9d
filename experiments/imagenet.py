r"""ImageNet distillation: ResNet34 -> ResNet18 and ResNet50 -> MobileNetV1 (spec/training.md).

  python -m experiments.imagenet \
      --config=experiments/configs/imagenet.py:resnet34-resnet18-kd --workdir=/tmp/imagenet/r34_r18_kd \
      --config.data_dir=$TFDS_DATA_DIR --config.teacher_checkpoint=/ckpts/resnet34-b627a593.pth

Data: TFDS `imagenet2012` in ArrayRecord format through `kdjax.data.imagenet` (grain: decode,
random-resized crop 224 + flip on the host; resize 256 / centre crop 224 for the validation set).
Teachers: the torchvision ImageNet checkpoints (`.pth`), converted on load by `kdjax.convert.load_teacher`.

`kdjax.train` keeps whole datasets on the devices, which does not fit ImageNet, so this module is the
host-pipeline version of its epoch loop. It reuses the trainer's pieces: `methods` (the loss composition),
`train.create_optimizer` / `TrainState` / `topk_hits` / the metric accumulator, `checkpointing`
(resumable per-epoch orbax checkpoints, config guard) and `logs` (metrics.jsonl, TensorBoard, summary).
Only the step differs: it receives the uint8 batch itself and normalises it on device. MLKD's strong view
is RandAugment + Cutout applied on device to the host's crop (the CIFAR view's extra pad-crop is left out).

`--smoke` (or the config's `,runlocal` variant) runs a few steps on random images of varied sizes,
cropped to 32x32, with a random teacher when no checkpoint is given.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from typing import Any, Callable, Iterable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from kdjax import checkpointing
from kdjax import config as config_lib
from kdjax import data
from kdjax import logs
from kdjax import losses
from kdjax import methods
from kdjax import models
from kdjax import parallel
from kdjax import train

NUM_CLASSES = data.imagenet.NUM_CLASSES
IMAGE_SIZE, RESIZE_SIZE = 224, 256
SMOKE_IMAGE_SIZE, SMOKE_RESIZE_SIZE = 32, 36
_STRONG_RANDAUGMENT, _STRONG_CUTOUT = 1, 2  # per-example key streams of the strong view.


@dataclasses.dataclass(frozen=True)
class Setup:
  """The hashable description of one compiled ImageNet program."""
  student: str
  teacher: str
  image_size: int
  compute_dtype: str
  loss: methods.LossSpec
  base_lr: float
  lr_decay_epochs: tuple[int, ...]
  lr_decay_rate: float
  momentum: float
  weight_decay: float
  steps_per_epoch: int
  mesh: jax.sharding.Mesh

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict, *, image_size: int, steps_per_epoch: int,
                  mesh: jax.sharding.Mesh) -> 'Setup':
    return cls(student=config.student, teacher=config.teacher if config.loss != 'none' else '',
               image_size=image_size, compute_dtype=config.compute_dtype,
               loss=methods.LossSpec.from_config(config), base_lr=config_lib.resolved_lr(config),
               lr_decay_epochs=tuple(config.lr_decay_epochs), lr_decay_rate=float(config.lr_decay_rate),
               momentum=float(config.momentum), weight_decay=float(config.weight_decay),
               steps_per_epoch=steps_per_epoch, mesh=mesh)


def _dtype(name: str):
  return {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}[name]


def _normalize(images: jax.Array, dtype) -> jax.Array:
  return data.normalize(images, data.IMAGENET_MEAN, data.IMAGENET_STD, dtype)


def strong_view(keys: jax.Array, images: jax.Array, dtype) -> jax.Array:
  """MLKD's strong view of host-cropped uint8 images: RandAugment (2 ops), Cutout, normalise."""
  def fold(stream):
    return jax.vmap(lambda key: jax.random.fold_in(key, stream))(keys)
  x = data.randaugment(fold(_STRONG_RANDAUGMENT), images)
  return _normalize(data.cutout(fold(_STRONG_CUTOUT), x), dtype)


@dataclasses.dataclass(frozen=True)
class Program:
  """The jitted functions of one Setup (see `kdjax.train.Program`; the step takes the batch itself)."""
  init: Callable[..., train.TrainState]
  train_step: Callable[..., tuple[train.TrainState, dict[str, jax.Array]]]
  evaluate_student: Callable[..., jax.Array]
  evaluate_teacher: Callable[..., jax.Array] | None
  metric_names: tuple[str, ...]


def _make_eval(module: nn.Module, setup: Setup) -> Callable[..., jax.Array]:
  dtype = _dtype(setup.compute_dtype)

  def evaluate(variables, images, labels, mask):
    logits = module.apply(variables, _normalize(images, dtype), train=False).astype(jnp.float32)
    return train.topk_hits(logits, labels, mask)

  return jax.jit(evaluate, out_shardings=parallel.replicated(setup.mesh))


@functools.lru_cache(maxsize=16)
def build_program(setup: Setup) -> Program:
  """The jitted init / train / eval functions of one setup (cached: seeds share compilations)."""
  dtype = _dtype(setup.compute_dtype)
  spec = setup.loss
  student = models.create(setup.student, num_classes=NUM_CLASSES, dtype=dtype)
  teacher = models.create(setup.teacher, num_classes=NUM_CLASSES, dtype=dtype) if spec.needs_teacher else None
  loss_fn = methods.make_loss_fn(spec)
  tx = train.create_optimizer(ml_collections.ConfigDict(dict(
      lr=setup.base_lr, student=setup.student, lr_decay_epochs=setup.lr_decay_epochs,
      lr_decay_rate=setup.lr_decay_rate, momentum=setup.momentum, weight_decay=setup.weight_decay)),
      setup.steps_per_epoch)
  replicated, batch = parallel.replicated(setup.mesh), parallel.data_sharding(setup.mesh)

  def init(seed):
    student_key, temperature_key = jax.random.split(jax.random.key(seed))
    variables = student.init(student_key, jnp.zeros((1, setup.image_size, setup.image_size, 3), dtype),
                             train=False)
    params = {'student': variables['params'],
              'temperature': methods.init_temperature_params(spec, temperature_key, NUM_CLASSES)}
    return train.TrainState(step=jnp.zeros((), jnp.int32), params=params,
                            batch_stats=variables['batch_stats'], opt_state=tx.init(params))

  def train_step(state, acc, teacher_vars, images, labels, seed, epoch, step, lambda_, warmup):
    images = jax.lax.with_sharding_constraint(images, batch)
    weak = _normalize(images, dtype)
    strong = None
    if spec.two_views:
      keys = jax.lax.with_sharding_constraint(data.example_keys(seed, epoch, step, images.shape[0]), batch)
      strong = strong_view(keys, images, dtype)

    def teacher_logits(x):
      if teacher is None or x is None:
        return None
      return jax.lax.stop_gradient(teacher.apply(teacher_vars, x, train=False))

    t_weak, t_strong = teacher_logits(weak), teacher_logits(strong)

    def objective(params):
      variables = {'params': params['student'], 'batch_stats': state.batch_stats}
      logits, updates = student.apply(variables, weak, train=True, mutable=['batch_stats'])
      logits_strong = None
      if spec.two_views:
        variables = {'params': params['student'], 'batch_stats': updates['batch_stats']}
        logits_strong, updates = student.apply(variables, strong, train=True, mutable=['batch_stats'])
      loss, terms = loss_fn(logits, t_weak, labels, temperature_params=params['temperature'],
                            lambda_=lambda_, warmup=warmup, student_strong=logits_strong,
                            teacher_strong=t_strong)
      return loss, (terms, updates['batch_stats'], logits)

    (loss, (terms, batch_stats, logits)), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    new_state = train.TrainState(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                                 batch_stats=batch_stats, opt_state=opt_state)
    top1 = jnp.mean(jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    metrics = dict(terms, loss=loss, train_top1=top1)
    # The trainer's accumulator (sums weighted by the batch size; min/max statistics).
    count = jnp.float32(images.shape[0])
    return new_state, train.accumulate(acc, metrics, count)

  return Program(
      init=jax.jit(init, out_shardings=replicated),
      train_step=jax.jit(train_step, out_shardings=(replicated, replicated), donate_argnums=(0, 1)),
      evaluate_student=_make_eval(student, setup),
      evaluate_teacher=_make_eval(teacher, setup) if teacher is not None else None,
      metric_names=methods.term_names(spec) + ('loss', 'train_top1'))


# ----------------------------------------------------------------------------------------------------------
# Data and teacher.
def smoke_source(num_examples: int, seed: int) -> list[dict[str, Any]]:
  """Random uint8 records of varied sizes (40-64 px a side) with labels in [0, 1000)."""
  rng = np.random.default_rng(seed)
  return [{'image': rng.integers(0, 256, (int(rng.integers(40, 65)), int(rng.integers(40, 65)), 3),
                                 dtype=np.uint8),
           'label': int(rng.integers(0, NUM_CLASSES))} for _ in range(num_examples)]


@dataclasses.dataclass(frozen=True)
class Data:
  """Where the batches of a run come from (TFDS, or random records in smoke mode)."""
  train_source: Any
  test_source: Any
  image_size: int
  resize_size: int
  num_workers: int

  def batches(self, split: str, config: ml_collections.ConfigDict, epoch: int,
              batch_size: int) -> Iterable[dict[str, np.ndarray]]:
    source = self.train_source if split == 'train' else self.test_source
    return data.make_imagenet_loader(split, data_dir=config.data_dir, batch_size=batch_size,
                                     seed=config.seed, epoch=epoch, num_workers=self.num_workers,
                                     image_size=self.image_size, resize_size=self.resize_size,
                                     source=source)


def open_data(config: ml_collections.ConfigDict, num_workers: int) -> Data:
  """The run's train / validation sources (`smoke`: random records, 32x32 crops)."""
  if config.smoke:
    return Data(smoke_source(config.smoke_examples, config.seed), smoke_source(config.smoke_examples,
                                                                               config.seed + 1),
                SMOKE_IMAGE_SIZE, SMOKE_RESIZE_SIZE, 0)
  return Data(data.imagenet.load_source('train', data_dir=config.data_dir),
              data.imagenet.load_source('validation', data_dir=config.data_dir), IMAGE_SIZE, RESIZE_SIZE,
              num_workers)


def load_teacher_variables(config: ml_collections.ConfigDict, image_size: int) -> Any:
  """The torchvision teacher converted to Flax (None for CE); random in smoke mode without a checkpoint.

  Raises:
    FileNotFoundError: a distillation method without `config.teacher_checkpoint`.
  """
  if config.loss == 'none':
    return None
  if config.teacher_checkpoint:
    from kdjax import convert  # pylint: disable=import-outside-toplevel
    _, variables = convert.load_teacher(config.teacher_checkpoint, config.teacher, num_classes=NUM_CLASSES)
    return {'params': variables['params'], 'batch_stats': variables['batch_stats']}
  if config.smoke:
    module = models.create(config.teacher, num_classes=NUM_CLASSES)
    init = jax.jit(functools.partial(module.init, train=False))  # One compilation, not one per op.
    return init(jax.random.key(config.seed + 1_000_003), jnp.zeros((1, image_size, image_size, 3)))
  raise FileNotFoundError(
      f'method {config.method!r} distils from {config.teacher!r} but no teacher_checkpoint was given: '
      f'pass --config.teacher_checkpoint=<torchvision .pth of {config.teacher}>')


def evaluate(evaluate_fn, variables, batches: Iterable[dict[str, np.ndarray]], batch_size: int,
             mesh: jax.sharding.Mesh) -> tuple[float, float]:
  """Top-1 / top-5 (%) over a split's batches; the last, smaller batch is padded and masked."""
  counts, total = None, 0
  for b in batches:
    n = len(b['label'])
    pad = batch_size - n
    images = np.concatenate([b['image'], np.zeros((pad, *b['image'].shape[1:]), np.uint8)])
    labels = np.concatenate([b['label'], np.zeros((pad,), np.int32)])
    mask = (np.arange(batch_size) < n).astype(np.float32)
    hits = evaluate_fn(variables, parallel.global_batch(images, mesh), parallel.global_batch(labels, mesh),
                       parallel.global_batch(mask, mesh))
    counts, total = (hits if counts is None else counts + hits), total + n
  if not total:
    raise ValueError('the evaluation split produced no batches')
  top1, top5 = parallel.to_host(counts)
  return 100.0 * float(top1) / total, 100.0 * float(top5) / total


# ----------------------------------------------------------------------------------------------------------
# The epoch loop.
def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       num_workers: int | None = None) -> train.RunResult:
  """Trains the ImageNet student of `config`, evaluating and checkpointing every epoch (resumable).

  Args:
    config: an `experiments/configs/imagenet.py` config (or any kdjax config with dataset imagenet2012).
    workdir: run directory (config.json, checkpoints, metrics.jsonl, TensorBoard, summary.json).
    num_workers: grain decoding processes (default: the machine's CPU count, at most 32; 0 in smoke mode).

  Returns:
    The final state and the summary, as `kdjax.train.train_and_evaluate`.
  """
  config_lib.validate(config)
  if config.dataset != data.imagenet.TFDS_NAME:
    raise ValueError(f"experiments.imagenet trains on {data.imagenet.TFDS_NAME!r}, got dataset "
                     f"{config.dataset!r}: use experiments.cifar100 for CIFAR-100 configs")
  if config.distributed:
    parallel.initialize_distributed()
  mesh = parallel.create_mesh()
  workers = min(os.cpu_count() or 1, 32) if num_workers is None else num_workers
  sources = open_data(config, workers)
  steps = len(sources.train_source) // config.batch_size
  if config.smoke:
    steps = min(steps, config.smoke_steps)
  if steps < 1:
    raise ValueError(f'{len(sources.train_source)} training examples give no full batch of '
                     f'{config.batch_size}')
  program = build_program(Setup.from_config(config, image_size=sources.image_size, steps_per_epoch=steps,
                                            mesh=mesh))
  teacher_vars = parallel.put_replicated(load_teacher_variables(config, sources.image_size), mesh)

  resuming = checkpointing.check_config(workdir, config)
  checkpoints = checkpointing.Checkpoints(workdir, keep=config.checkpoint_keep)
  state = program.init(np.uint32(config.seed))
  meta = {'epoch': 0, 'best_top1': None, 'best_epoch': None, 'last_top1': None, 'last_top5': None,
          'train_seconds': 0.0}
  restored = checkpoints.restore_latest(state) if resuming else None
  if restored is not None:
    state, meta = restored
    logging.info('resuming %s from epoch %d', workdir, meta['epoch'])
  start_epoch = int(meta['epoch'])

  def evaluate_split(fn, variables):
    return evaluate(fn, variables, sources.batches('test', config, 0, config.eval_batch_size),
                    config.eval_batch_size, mesh)

  teacher_top1 = teacher_top5 = None
  if program.evaluate_teacher is not None:
    teacher_top1, teacher_top5 = evaluate_split(program.evaluate_teacher, teacher_vars)
  writer = logs.MetricWriter(workdir, resume_epoch=start_epoch)
  if start_epoch == 0:
    writer.write_text('config', config_lib.to_json(config))
  seed = np.uint32(config.seed)
  try:
    for epoch in range(start_epoch + 1, config.epochs + 1):
      epoch_start = time.time()
      scalars = methods.epoch_scalars(config, epoch)
      acc = parallel.put_replicated(train.empty_accumulator(program.metric_names), mesh)
      for step, b in enumerate(sources.batches('train', config, epoch, config.batch_size)):
        if step >= steps:
          break
        state, acc = program.train_step(
            state, acc, teacher_vars, parallel.global_batch(b['image'], mesh),
            parallel.global_batch(b['label'], mesh), seed, np.uint32(epoch), np.uint32(step),
            scalars['lambda_'], scalars['warmup'])
        if (step + 1) % config.log_every == 0:
          logging.info('epoch %d step %d/%d', epoch, step + 1, steps)
      row = train.epoch_metrics(parallel.to_host(acc))
      losses.check_finite(**row)
      meta['train_seconds'] += time.time() - epoch_start
      row.update(lr=train.learning_rate_at_epoch(config, epoch), ctkd_lambda=float(scalars['lambda_']),
                 dkd_warmup=float(scalars['warmup']))
      top1 = None
      if epoch % config.eval_every == 0 or epoch == config.epochs:
        top1, top5 = evaluate_split(program.evaluate_student,
                                    {'params': state.params['student'], 'batch_stats': state.batch_stats})
        if meta['best_top1'] is None or top1 > meta['best_top1']:
          meta['best_top1'], meta['best_epoch'] = top1, epoch
        meta['last_top1'], meta['last_top5'] = top1, top5
        row.update(test_top1=top1, test_top5=top5, best_top1=meta['best_top1'])
      row['epoch_seconds'] = time.time() - epoch_start
      meta['epoch'] = epoch
      writer.write(epoch, row)
      checkpoints.save(epoch, state, dict(meta), top1)
      logging.info('epoch %d: loss %.4f, test top-1 %s', epoch, row['train_loss'],
                   '-' if top1 is None else f'{top1:.2f}')
  finally:
    checkpoints.close()
    writer.close()

  summary = dict(method=config.method, teacher=config.teacher if config.loss != 'none' else '',
                 student=config.student, seed=config.seed, dataset=config.dataset,
                 best_top1=meta['best_top1'], best_epoch=meta['best_epoch'], last_top1=meta['last_top1'],
                 last_top5=meta['last_top5'], teacher_top1=teacher_top1, teacher_top5=teacher_top5,
                 epochs_done=int(meta['epoch']), train_seconds=float(meta['train_seconds']),
                 num_devices=parallel.num_shards(mesh), workdir=workdir)
  logs.write_summary(workdir, summary)
  logging.info(logs.format_summary(summary))
  return train.RunResult(state=state, summary=summary)


def _define_flags() -> None:
  """The command-line flags (defined only when run as a program)."""
  config_flags.DEFINE_config_file('config', None, 'experiments/configs/imagenet.py:<cell>', lock_config=True)
  flags.DEFINE_string('workdir', None, 'Run directory (resumable).', required=True)
  flags.DEFINE_bool('smoke', False, "A few steps on random images (the config's runlocal variant).")
  flags.DEFINE_integer('num_workers', None, 'grain decoding processes (default: CPU count, at most 32).')
  flags.mark_flags_as_required(['config'])


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  config = flags.FLAGS.config
  if flags.FLAGS.smoke:
    config = config_lib.smoke_config(config)
  train_and_evaluate(config, flags.FLAGS.workdir, num_workers=flags.FLAGS.num_workers)


if __name__ == '__main__':
  _define_flags()
  app.run(main)
