"""Batch sources: where a run's batches come from, and how the step turns them into model inputs.

The trainer has one loop; a source gives it the data in one of two ways:

* ``InMemorySource`` (CIFAR-100, digits, smoke data): the uint8 train and test
  sets live on every device (``device_arrays``); a batch is the examples'
  indices and the step gathers and augments the images itself (crop + flip,
  MLKD's strong view) from per-example keys ``(seed, epoch, step, i)``.
* ``StreamingSource`` (ImageNet on grain): worker threads or processes decode
  and crop each process's rows of every batch ahead of the step; a batch holds
  the uint8 crops, labels and indices; the step normalises them (and applies
  the strong view's RandAugment + Cutout).

Both visit an epoch in the order of ``epoch_permutation(seed, epoch, N)`` in
batches of ``batch_indices``, keep the last partial batch (unless it does not
split over the devices, or ``drop_remainder``), and yield only this process's
rows of each global batch. ``Views`` is the hashable, static half: it says how
the jitted step makes the views from a batch.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import jax
import ml_collections
import numpy as np
from absl import logging

from kdjax import parallel
from kdjax.data import augment
from kdjax.data import batching
from kdjax.data import host_augment
from kdjax.data import imagenet
from kdjax.data import loading
from kdjax.data.arrays import ArrayDataset
from kdjax.data.arrays import record_label

Array = jax.Array
VALIDATION_SPLIT_SEED = 0
_SHAPES = {'cifar100': ((32, 32, 3), 100), 'digits': ((16, 16, 3), 10),
           'imagenet2012': ((224, 224, 3), 1000)}
IMAGENET_SIZES = {'full': (224, 256), 'smoke': (32, 36)}  # (crop, test resize) sides


@dataclasses.dataclass(frozen=True)
class Views:
  """How the step makes its model inputs from a batch (static, hashable).

  Attributes:
    on_device: the images are on the devices and augmented in the step (batches
      are indices); False: batches carry host-cropped images.
    mean, std: normalisation constants.
    strong: also MLKD's strong view.
    strong_crop: the strong view's crop on device (``augment.STRONG_CROPS``).
    padding, flip: the train crop's zero padding and the horizontal flip (on device).
    mixup_alpha, cutmix_alpha, mix_prob, mix_switch_prob, label_smoothing: the soft targets
      of ``mix`` (timm's Mixup in batch mode; all off by default).
  """
  on_device: bool
  mean: tuple[float, ...]
  std: tuple[float, ...]
  strong: bool = False
  strong_crop: str = 'independent'
  padding: int = 4
  flip: bool = True
  mixup_alpha: float = 0.0
  cutmix_alpha: float = 0.0
  mix_prob: float = 1.0
  mix_switch_prob: float = 0.5
  label_smoothing: float = 0.0

  @property
  def soft_targets(self) -> bool:
    """Whether the train views come with soft targets (Mixup, CutMix or label smoothing)."""
    return self.mixup_alpha > 0 or self.cutmix_alpha > 0 or self.label_smoothing > 0

  def with_mixing(self, config: ml_collections.ConfigDict) -> 'Views':
    """These views with the config's Mixup/CutMix/label-smoothing settings."""
    return dataclasses.replace(
        self, mixup_alpha=float(config.mixup_alpha), cutmix_alpha=float(config.cutmix_alpha),
        mix_prob=float(config.mix_prob), mix_switch_prob=float(config.mix_switch_prob),
        label_smoothing=float(config.label_smoothing))

  def mix(self, keys: Array, weak: Array, strong: Array | None, labels: Array,
          num_classes: int) -> tuple[Array, Array | None, Array | None]:
    """``(weak, strong, targets)``: the train views mixed (both by the same draw) and their
    float32 ``[B, K]`` soft targets, or the inputs and None when no soft target is on.

    The draw is the batch's (``augment.mix_batch_key(keys)``), as timm's batch mode.
    """
    if not self.soft_targets:
      return weak, strong, None
    if self.mixup_alpha > 0 or self.cutmix_alpha > 0:
      params = augment.mix_params(augment.mix_batch_key(keys), weak.shape[1], weak.shape[2],
                                  mixup_alpha=self.mixup_alpha, cutmix_alpha=self.cutmix_alpha,
                                  mix_prob=self.mix_prob, switch_prob=self.mix_switch_prob)
      weak = augment.mix_images(weak, params)
      strong = augment.mix_images(strong, params) if strong is not None else None
      lam = params.lam
    else:
      lam = 1.0
    return weak, strong, augment.mix_targets(labels, num_classes, lam, self.label_smoothing)

  def train(self, arrays: dict[str, Array], batch: dict[str, Array], keys: Array,
            dtype) -> tuple[Array, Array | None, Array]:
    """``(weak, strong or None, labels)`` of a train batch (inside the jitted step)."""
    if self.on_device:
      images = arrays['images'][batch['index']]
      labels = arrays['labels'][batch['index']]
      weak = augment.train_view(keys, images, self.mean, self.std, padding=self.padding,
                                flip=self.flip).astype(dtype)
      strong = (augment.strong_view(keys, images, self.mean, self.std, crop=self.strong_crop,
                                    padding=self.padding, flip=self.flip).astype(dtype)
                if self.strong else None)
      return weak, strong, labels
    weak = augment.normalize(batch['image'], self.mean, self.std, dtype)
    strong = (augment.strong_view(keys, batch['image_strong'], self.mean, self.std,
                                  crop='none').astype(dtype) if self.strong else None)
    return weak, strong, batch['label']

  def test(self, arrays: dict[str, Array], batch: dict[str, Array], dtype) -> tuple[Array, Array]:
    """``(images, labels)`` of an evaluation batch."""
    if self.on_device:
      images = arrays['images'][batch['index']]
      return augment.test_view(images, self.mean, self.std, dtype=dtype), \
          arrays['labels'][batch['index']]
    return augment.normalize(batch['image'], self.mean, self.std, dtype), batch['label']


def epoch_steps(num_examples: int, config: ml_collections.ConfigDict,
                num_devices: int) -> tuple[int, int]:
  """``(steps, last_batch_size)`` of a training epoch.

  The last partial batch is kept (CIFAR-100 at 64: 782 steps, the last of 16),
  unless ``config.drop_remainder``, or (with a warning) when it does not split
  over the devices. Smoke mode stops each epoch after ``smoke_steps`` steps.

  Raises:
    ValueError: the batch size does not split over the devices, or no batch fits.
  """
  batch = config.batch_size
  if batch % num_devices:
    raise ValueError(f'batch_size {batch} does not split over {num_devices} devices: use a '
                     f'multiple of {num_devices}')
  steps = batching.num_batches(num_examples, batch)
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


def eval_batch_size(batch_size: int, num_examples: int, num_devices: int) -> int:
  """The evaluation batch: ``min(batch_size, N)`` rounded up to a multiple of the devices."""
  return -(-min(batch_size, num_examples) // num_devices) * num_devices


class Source:
  """Base class of a run's data: sizes, shapes, normalisation and the epoch's batches.

  Attributes:
    name: dataset name (with the splits it uses).
    num_classes: classes.
    image_shape: ``(H, W, C)`` of the model inputs.
    mean, std: normalisation constants.
    num_train, num_test: examples per split.
    on_device: whether the data live on the devices (``InMemorySource``).
  """
  name: str
  num_classes: int
  image_shape: tuple[int, int, int]
  mean: tuple[float, ...]
  std: tuple[float, ...]
  num_train: int
  num_test: int
  on_device: bool

  def views(self, *, strong: bool, strong_crop: str = 'independent', padding: int = 4,
            flip: bool = True) -> Views:
    return Views(on_device=self.on_device, mean=tuple(self.mean), std=tuple(self.std),
                 strong=strong, strong_crop=strong_crop, padding=padding, flip=flip)

  def device_arrays(self, split: str, mesh: jax.sharding.Mesh) -> dict[str, Array]:
    """The split's arrays held on every device ({} when batches carry their images)."""
    del split, mesh
    return {}

  def train_labels(self) -> np.ndarray:
    """int32 ``[num_train]`` labels of the training split, by dataset index."""
    raise NotImplementedError

  def train_batches(self, seed: int, epoch: int, steps: int, start_step: int,
                    batch_size: int, mesh: jax.sharding.Mesh, *,
                    strong: bool = False) -> Iterator[dict[str, np.ndarray]]:
    """This process's rows of the epoch's global batches ``start_step .. steps - 1``."""
    raise NotImplementedError

  def eval_batches(self, batch_size: int, mesh: jax.sharding.Mesh
                   ) -> Iterator[dict[str, np.ndarray]]:
    """This process's rows of the test split's padded batches (``mask`` 0 on padding)."""
    raise NotImplementedError


def check_not_empty(train_name: str, num_train: int, test_name: str, num_test: int) -> None:
  """Refuses an empty split before anything is compiled or trained."""
  for name, count, role in ((train_name, num_train, 'training'), (test_name, num_test,
                                                                   'evaluation')):
    if count == 0:
      raise ValueError(f'the {role} split {name} is empty (0 examples): check the data '
                       f'directory and the split (--config.data_dir, --config.eval_split)')


def _local(values: np.ndarray, mesh: jax.sharding.Mesh) -> np.ndarray:
  return values[parallel.process_rows(values.shape[0], mesh)]


class InMemorySource(Source):
  """Whole splits in host memory, placed on the devices; batches are example indices."""
  on_device = True

  def __init__(self, train: ArrayDataset, test: ArrayDataset, mean, std):
    if train.image_shape != test.image_shape or train.num_classes != test.num_classes:
      raise ValueError(f'train {train!r} and test {test!r} differ in image shape or classes')
    check_not_empty(train.name, len(train), test.name, len(test))
    self.train, self.test = train, test
    self.name = f'{train.name} + {test.name}'
    self.num_classes, self.image_shape = train.num_classes, train.image_shape
    self.mean, self.std = tuple(mean), tuple(std)
    self.num_train, self.num_test = len(train), len(test)

  def train_labels(self) -> np.ndarray:
    return self.train.labels

  def device_arrays(self, split: str, mesh: jax.sharding.Mesh) -> dict[str, Array]:
    dataset = self.train if split == 'train' else self.test
    images, labels = parallel.put_replicated((dataset.images, dataset.labels), mesh)
    return {'images': images, 'labels': labels}

  def train_batches(self, seed, epoch, steps, start_step, batch_size, mesh, *, strong=False):
    del strong
    perm = batching.epoch_permutation(seed, epoch, self.num_train)
    for step in range(start_step, steps):
      yield {'index': _local(batching.batch_indices(perm, step, batch_size), mesh)}

  def eval_batches(self, batch_size, mesh):
    batch = eval_batch_size(batch_size, self.num_test, parallel.num_shards(mesh))
    for start in range(0, self.num_test, batch):
      idx = np.arange(start, start + batch)
      mask = (idx < self.num_test).astype(np.float32)
      idx = np.where(idx < self.num_test, idx, 0).astype(np.int32)
      yield {'index': _local(idx, mesh), 'mask': _local(mask, mesh)}


class StreamingSource(Source):
  """Random-access records (TFDS ``imagenet2012``) decoded and cropped on the host with grain."""
  on_device = False

  def __init__(self, train_records, test_records, *, name: str, num_classes: int,
               image_size: int, resize_size: int, mean, std, num_workers: int = 0,
               skip_corrupt: bool = False, interpolation: str = 'bilinear',
               augment: host_augment.Augment | None = None):
    self.train_records, self.test_records = train_records, test_records
    self.name, self.num_classes = name, num_classes
    self.image_shape = (image_size, image_size, 3)
    self.resize_size, self.num_workers = resize_size, num_workers
    self.mean, self.std = tuple(mean), tuple(std)
    self.num_train, self.num_test = len(train_records), len(test_records)
    check_not_empty(f'{name} (train)', self.num_train, f'{name} (test)', self.num_test)
    self.skip_corrupt = skip_corrupt
    # The resizes' filter and the train view's host RandAugment / RandomErasing (DeiT recipe).
    self.interpolation, self.augment = interpolation, augment
    self.skipped: dict[str, int] = {'train': 0, 'test': 0}  # images skipped, this process

  def train_labels(self) -> np.ndarray:
    """The labels of every training record (one read of the records; ImageNet: cache them)."""
    return np.asarray([record_label(self.train_records[i], self.num_classes, 'train', i)
                       for i in range(self.num_train)], np.int32)

  def _rows(self, size: int, mesh: jax.sharding.Mesh) -> slice:
    return parallel.process_rows(size, mesh)

  def _reported(self, batches, split: str):
    """``batches`` without their ``corrupt`` keys; one warning per batch that skipped images."""
    for batch in batches:
      corrupt = batch.pop('corrupt', None)
      reason = str(batch.pop('corrupt_reason', ''))
      if corrupt is not None and (corrupt >= 0).any():
        skipped = [int(i) for i in corrupt if i >= 0]
        self.skipped[split] += len(skipped)
        what = ('replaced by the next decodable record' if split == 'train'
                else 'counted as misses')
        logging.warning('skip_corrupt_images: %d corrupt %s image(s) %s (records %s; %s); %d '
                        'skipped in the %s split so far', len(skipped), split, what,
                        ', '.join(map(str, skipped)), reason, self.skipped[split], split)
      yield batch

  def train_batches(self, seed, epoch, steps, start_step, batch_size, mesh, *, strong=False):
    order = batching.epoch_permutation(seed, epoch, self.num_train)

    def batch_fn(rows):
      return imagenet.TrainBatch(self.train_records, order, batch_size, rows, seed=seed,
                                 epoch=epoch, image_size=self.image_shape[0], strong_view=strong,
                                 split='train', skip_corrupt=self.skip_corrupt,
                                 interpolation=self.interpolation, augment=self.augment)

    sizes = {len(batching.batch_indices(order, s, batch_size)) for s in (0, steps - 1)}
    if len(sizes) > 1:  # The partial last batch: its rows in a separate, smaller map.
      yield from self._reported(imagenet.iterate(batch_fn(self._rows(batch_size, mesh)),
                                                 range(start_step, steps - 1),
                                                 num_workers=self.num_workers), 'train')
      if start_step <= steps - 1:
        yield from self._reported([batch_fn(self._rows(min(sizes), mesh))(steps - 1)], 'train')
      return
    yield from self._reported(imagenet.iterate(batch_fn(self._rows(batch_size, mesh)),
                                               range(start_step, steps),
                                               num_workers=self.num_workers), 'train')

  def eval_batches(self, batch_size, mesh):
    batch = eval_batch_size(batch_size, self.num_test, parallel.num_shards(mesh))
    batch_fn = imagenet.EvalBatch(self.test_records, self.num_test, batch,
                                  self._rows(batch, mesh), image_size=self.image_shape[0],
                                  resize_size=self.resize_size, split='test',
                                  skip_corrupt=self.skip_corrupt,
                                  interpolation=self.interpolation)
    yield from self._reported(imagenet.iterate(batch_fn,
                                               range(batching.num_batches(self.num_test, batch)),
                                               num_workers=self.num_workers), 'test')


def smoke_records(num_examples: int, seed: int, num_classes: int) -> list[dict[str, Any]]:
  """Random uint8 records of varied sizes (40-64 px a side): a stand-in for ImageNet's."""
  rng = np.random.default_rng(seed)
  return [{'image': rng.integers(0, 256, (int(rng.integers(40, 65)), int(rng.integers(40, 65)),
                                          3), dtype=np.uint8),
           'label': int(rng.integers(0, num_classes))} for _ in range(num_examples)]


def dataset_shape(name: str) -> tuple[tuple[int, int, int], int]:
  """``((H, W, C), num_classes)`` of a dataset's model inputs."""
  if name not in _SHAPES:
    raise ValueError(f'unknown dataset {name!r}; expected one of {sorted(_SHAPES)}')
  return _SHAPES[name]


def holdout(train: ArrayDataset, num_examples: int) -> tuple[ArrayDataset, ArrayDataset]:
  """``(train minus N examples, those N as a validation split)``: a fixed random choice.

  The choice depends only on the dataset (``VALIDATION_SPLIT_SEED``), so every
  method and seed is tuned on the same validation examples.
  """
  if not 0 < num_examples < len(train):
    raise ValueError(f'validation_examples must be in (0, {len(train)}), got {num_examples}')
  order = np.random.default_rng(VALIDATION_SPLIT_SEED).permutation(len(train))
  keep, held = np.sort(order[:-num_examples]), np.sort(order[-num_examples:])
  name = train.name.rsplit('/', 1)[0]
  return (ArrayDataset(train.images[keep], train.labels[keep], train.num_classes,
                       f'{name}/train-minus-validation'),
          ArrayDataset(train.images[held], train.labels[held], train.num_classes,
                       f'{name}/validation'))


def open_source(config: ml_collections.ConfigDict) -> Source:
  """The run's batch source (smoke mode: random data of the dataset's shape).

  ``config.validation_examples`` > 0 holds that many training examples out (a fixed
  choice, ``holdout``); ``config.eval_split`` then says whether the run is evaluated on
  them (``'validation'``, to tune) or on the test split (``'test'``) (in-memory datasets).
  """
  if config.dataset == imagenet.TFDS_NAME:
    return _imagenet_source(config)
  mean, std = loading.stats(config.dataset)
  if config.smoke:
    shape, num_classes = dataset_shape(config.dataset)
    if config.image_size is not None:
      shape = (config.image_size, config.image_size, shape[2])
    rng = np.random.default_rng(config.seed)
    train, test = (ArrayDataset(
        images=rng.integers(0, 256, (config.smoke_examples, *shape), dtype=np.uint8),
        labels=rng.integers(0, num_classes, (config.smoke_examples,), dtype=np.int32),
        num_classes=num_classes, name=f'random-{config.dataset}/{split}')
                   for split in ('train', 'test'))
  else:
    kwargs = dict(data_dir=config.data_dir)
    if config.dataset == 'cifar100':
      kwargs.update(source=config.data_source, download=config.download)
    if config.image_size is not None:
      kwargs['size'] = config.image_size
    train = loading.load(config.dataset, split='train', **kwargs)
    test = loading.load(config.dataset, split='test', **kwargs)
  if config.validation_examples:
    train, validation = holdout(train, config.validation_examples)
    if config.eval_split == 'validation':
      test = validation
  elif config.eval_split == 'validation':
    raise ValueError("eval_split='validation' needs validation_examples > 0 (the examples held "
                     "out of the training split)")
  return InMemorySource(train, test, mean, std)


def _imagenet_source(config: ml_collections.ConfigDict) -> StreamingSource:
  if config.validation_examples:
    raise ValueError('validation_examples is for in-memory datasets (CIFAR-100, digits)')
  mean, std = imagenet.IMAGENET_MEAN, imagenet.IMAGENET_STD
  if config.smoke:
    crop, resize = IMAGENET_SIZES['smoke']
    train = smoke_records(config.smoke_examples, config.seed, imagenet.NUM_CLASSES)
    test = smoke_records(config.smoke_examples, config.seed + 1, imagenet.NUM_CLASSES)
    workers = 0
  else:
    crop, resize = IMAGENET_SIZES['full']
    train = imagenet.load_source('train', data_dir=config.data_dir)
    test = imagenet.load_source('validation', data_dir=config.data_dir)
    workers = config.num_workers
  return StreamingSource(train, test, name=f'{imagenet.TFDS_NAME} train + validation',
                         num_classes=imagenet.NUM_CLASSES, image_size=crop, resize_size=resize,
                         mean=mean, std=std, num_workers=workers,
                         skip_corrupt=config.skip_corrupt_images,
                         interpolation=config.image_interpolation,
                         augment=host_augment.from_config(config))


def example_keys(seed: Array, epoch: Array, step: Array, batch_size: int,
                 sharding: Any) -> Array:
  """The batch's per-example PRNG keys (``batching.example_keys``), sharded like the batch."""
  return jax.lax.with_sharding_constraint(batching.example_keys(seed, epoch, step, batch_size),
                                          sharding)


__all__ = ['InMemorySource', 'Source', 'StreamingSource', 'Views', 'dataset_shape',
           'epoch_steps', 'eval_batch_size', 'example_keys', 'holdout', 'open_source',
           'smoke_records']

