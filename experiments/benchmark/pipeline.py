"""``pipeline``: input pipelines against the images/s their train steps consume."""

from __future__ import annotations

import io
import os
import statistics
from typing import Any, Callable

import jax
import numpy as np

from experiments import timing
from experiments.benchmark import runner
from kdjax import data
from kdjax import parallel
from kdjax import recipes
from kdjax.data import imagenet
from kdjax.data import sources

PIPELINE_THREADS = 4  # grain's decoding threads in kdjax.data.imagenet.iterate


def _cifar_view_call(view: Callable, kd: runner.StepRunner) -> Callable[[], jax.Array]:
  """A call that augments the next batch of ``kd``'s epoch with ``view`` (on the devices)."""
  views = kd.setup.views

  @jax.jit
  def augment(images, indices, seed, epoch, step):
    keys = data.example_keys(seed, epoch, step, indices.shape[0])
    return view(keys, images[indices], views.mean, views.std)

  count = {'n': 0}

  def call() -> jax.Array:
    count['n'] += 1
    step = count['n'] % kd.steps
    batch, scalars = kd.inputs(step)
    return augment(kd.arrays['images'], batch['index'], scalars['seed'], scalars['epoch'],
                   scalars['step'])

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
    records.append({'image': buffer.getvalue(),
                    'label': int(rng.integers(0, imagenet.NUM_CLASSES))})
  return records


def imagenet_source(o: runner.Options) -> sources.StreamingSource:
  """The trainer's ImageNet source (grain threads) over ``synthetic_jpeg_records``."""
  records = synthetic_jpeg_records(o.imagenet_records, o.imagenet_record_shape)
  return sources.StreamingSource(
      records, records, name='synthetic JPEG records', num_classes=imagenet.NUM_CLASSES,
      image_size=o.imagenet_size, resize_size=o.imagenet_size * 8 // 7, mean=imagenet.IMAGENET_MEAN,
      std=imagenet.IMAGENET_STD, num_workers=0)


def _imagenet(ctx: runner.Context) -> dict[str, Any]:
  """The host pipeline (decode, random-resized crop, flip, batch), one epoch of the records per
  timed call, against the KD step on its batches (transfer to the devices included)."""
  o = ctx.options
  source = imagenet_source(o)
  config = recipes.method_config('kd', o.imagenet_teacher, o.imagenet_student)
  config.update(batch_size=o.imagenet_batch, dataset=imagenet.TFDS_NAME, progress_bar=False)
  teacher = parallel.put_replicated(runner.random_teacher(
      o.imagenet_teacher, source.num_classes, source.image_shape), ctx.mesh)
  step = runner.StepRunner(config, source, teacher, ctx.mesh)  # decodes its epoch once, here
  epochs = {'count': 0}

  def pipeline_epoch() -> None:
    epochs['count'] += 1
    for batch in source.train_batches(0, epochs['count'], step.steps, 0, o.imagenet_batch,
                                      ctx.mesh):
      assert batch['image'].shape[1:] == source.image_shape, batch['image'].shape

  times = timing.interleaved_times({'pipeline_epoch': pipeline_epoch, 'kd_step': step},
                                   repeats=o.repeats, inner=1)
  pipe = step.rows / statistics.median(times['pipeline_epoch'])
  rate = o.imagenet_batch / statistics.median(times['kd_step'])
  return {'pair': f'{o.imagenet_teacher}->{o.imagenet_student}', 'image_size': o.imagenet_size,
          'record_shape': list(o.imagenet_record_shape), 'batch_size': o.imagenet_batch,
          'pipeline_images_per_s': pipe, 'kd_step_images_per_s': rate, 'headroom': pipe / rate,
          'pipeline_threads': PIPELINE_THREADS, 'cpu_count': os.cpu_count()}


def run(ctx: runner.Context) -> dict[str, Any]:
  """Headroom = pipeline rate / step rate, for CIFAR on the devices and ImageNet on the host."""
  o = ctx.options
  kd = ctx.runner('kd')
  calls = {'kd_step': kd, 'train_view': _cifar_view_call(data.train_view, kd),
           'strong_view': _cifar_view_call(data.strong_view, kd)}
  rows = runner.timed_rows(calls, 'kd_step', repeats=o.repeats, inner=o.inner,
                           images_per_call=o.batch_size)
  rate = {name: row['images_per_s'] for name, row in rows.items()}
  cifar = {'images_per_s': rate,
           'train_view_headroom': rate['train_view'] / rate['kd_step'],
           'strong_view_headroom': rate['strong_view'] / rate['kd_step'],
           'train_view_share_of_kd_step': rate['kd_step'] / rate['train_view']}
  return {'cifar_on_device': cifar, 'imagenet_host': _imagenet(ctx)}


def report(p: dict[str, Any]) -> list[str]:
  c, i = p['cifar_on_device'], p['imagenet_host']
  return ['\n[pipeline] images/s: ' + ', '.join(f'{k} {v:.0f}'
                                               for k, v in c['images_per_s'].items()),
          f"CIFAR train_view headroom {c['train_view_headroom']:.1f}x, strong_view "
          f"{c['strong_view_headroom']:.1f}x the KD step's rate",
          f"ImageNet host pipeline {i['pipeline_images_per_s']:.0f} img/s vs {i['pair']} "
          f"step {i['kd_step_images_per_s']:.1f} img/s: headroom {i['headroom']:.1f}x"]
