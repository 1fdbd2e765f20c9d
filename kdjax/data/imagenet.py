"""ImageNet-1k (TFDS `imagenet2012`) host pipeline on grain.

Reads a prepared TFDS `imagenet2012` with `tfds.data_source` (random access, no
TensorFlow at run time). The trainer's epoch order and batches are the same as
for in-memory data (`kdjax.data.epoch_permutation`, `batch_indices`); a grain
`MapDataset` over the epoch's steps decodes and crops this process's rows of
each global batch (`TrainBatch`, `EvalBatch`), ahead of the step, in threads
or worker processes (`iterate`).

Train: torchvision's `RandomResizedCrop(224, scale=(0.08, 1), ratio=(3/4, 4/3))`
(bilinear) + horizontal flip p = 0.5. Test: resize the short side to 256
(bilinear) + centre crop 224. The DeiT recipe resizes bicubic (`interpolation`) and adds
mmcls's RandAugment and RandomErasing after the flip (`augment`, `kdjax.data.host_augment`). Batches are uint8 NHWC plus int32 labels; the
normalisation with `IMAGENET_MEAN/STD` happens on device (`kdjax.data.normalize`).

Each example's crop depends only on the seed, the epoch and the example's
index (`example_rng`), so the union of the processes' rows at a step is the
same global batch whatever the number of processes and workers, and a run
resumed at any step sees the same batches (the iterator's state is the step).

Preparing the data (once, on a machine with TensorFlow): download
`ILSVRC2012_img_train.tar` and `ILSVRC2012_img_val.tar` from
https://image-net.org into a manual dir, then run
`tfds build imagenet2012 --manual_dir DIR --data_dir DATA_DIR --file_format=array_record`.
"""

from __future__ import annotations

import io
import math
import os
import re

import numpy as np
from PIL import Image

from kdjax import extras
from kdjax.data import host_augment
from kdjax.data.arrays import DatasetCorruptError
from kdjax.data.arrays import DatasetNotFoundError
from kdjax.data.arrays import default_data_dir
from kdjax.data.arrays import record_label

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NUM_CLASSES = 1000
TFDS_NAME = 'imagenet2012'
_TFDS_SPLITS = {'train': 'train', 'validation': 'validation', 'test': 'validation'}


def load_source(split: str, *, data_dir: str | None = None):
  """The TFDS `imagenet2012` random-access source of `split` (`'test'` = validation).

  Raises:
    DatasetNotFoundError: the dataset is not prepared (in ArrayRecord format)
      under `data_dir`; the message says how to prepare it.
  """
  tfds = extras.require('tensorflow_datasets', 'data', 'Reading TFDS imagenet2012')

  if split not in _TFDS_SPLITS:
    raise ValueError(f'ImageNet split must be one of {tuple(_TFDS_SPLITS)}, got {split!r}.')
  data_dir = default_data_dir() if data_dir is None else os.fspath(data_dir)
  try:
    return tfds.data_source(TFDS_NAME, split=_TFDS_SPLITS[split], data_dir=data_dir,
                            download=False)
  except (AssertionError, NotImplementedError, FileNotFoundError, OSError,
          ValueError) as err:
    raise DatasetNotFoundError(
        f'TFDS {TFDS_NAME} is not prepared under {data_dir} (looked for '
        f'{os.path.join(data_dir, TFDS_NAME)}{os.sep} in ArrayRecord format). '
        f'ImageNet cannot be downloaded automatically: get ILSVRC2012_img_train.tar '
        f'and ILSVRC2012_img_val.tar from https://image-net.org, then on a machine '
        f'with TensorFlow run `tfds build {TFDS_NAME} --manual_dir <dir with the '
        f'tars> --data_dir {data_dir} --file_format=array_record` and copy '
        f'{os.path.join(data_dir, TFDS_NAME)} here.') from err


def decode_image(image) -> np.ndarray:
  """uint8 `[H, W, 3]` from a decoded array (`[H, W]`, `[H, W, 1|3|4]`) or encoded bytes."""
  if isinstance(image, (bytes, np.bytes_)):
    with Image.open(io.BytesIO(image)) as pil:
      return np.asarray(pil.convert('RGB'))
  image = np.asarray(image)
  if image.dtype != np.uint8:
    raise ValueError(f'ImageNet images must be uint8, got {image.dtype}.')
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
    raise ValueError(f'ImageNet image must be [H, W, 1|3|4], got {image.shape}.')
  if image.shape[-1] == 1:
    return np.repeat(image, 3, axis=-1)
  return image[..., :3]


class CorruptImageError(DatasetCorruptError):
  """A record's image cannot be decoded; the message names the record (and its file)."""


def record_name(record, split: str, index: int) -> str:
  """``'train record 12 (n01440764_10026.JPEG)'``: how messages name a record."""
  file_name = record.get('file_name') if hasattr(record, 'get') else None
  if isinstance(file_name, (bytes, np.bytes_)):
    file_name = file_name.decode(errors='replace')
  return f'{split} record {index}' + (f' ({file_name})' if file_name else '')


def decode_record(source, index: int, split: str) -> tuple[np.ndarray, int]:
  """``(uint8 [H, W, 3] image, label)`` of record ``index`` of ``source``.

  Raises:
    CorruptImageError: the image cannot be decoded (names the record and its file
      and the setting that skips such images).
    DatasetCorruptError: the label is not an integer in range.
  """
  record = source[int(index)]
  label = record_label(record, NUM_CLASSES, split, int(index))
  try:
    image = decode_image(record['image'])
  except (OSError, ValueError, SyntaxError) as error:  # PIL: UnidentifiedImageError, truncated
    reason = re.sub(r'<_io\.BytesIO object at 0x[0-9a-fA-F]+>', 'the stored bytes', str(error))
    raise CorruptImageError(
        f'{record_name(record, split, index)}: the image cannot be decoded ({reason}); set '
        f'--config.skip_corrupt_images=True to skip corrupt images (counted and '
        f'reported)') from None
  return image, label


def decode_or_skip(source, index: int, split: str, *, skip: bool
                   ) -> tuple[np.ndarray | None, int, str | None]:
  """``decode_record``; with ``skip``, a corrupt image gives ``(None, label, reason)``."""
  try:
    image, label = decode_record(source, index, split)
  except CorruptImageError as error:
    if not skip:
      raise
    return None, -1, str(error).split('; set --config')[0]
  return image, label, None


def random_resized_crop_box(height: int, width: int, rng: np.random.Generator, *,
                            scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
  """torchvision's `RandomResizedCrop.get_params`: `(top, left, crop_h, crop_w)`.

  Ten tries at an area fraction uniform in `scale` and a log-uniform aspect
  ratio in `ratio`; otherwise the largest centred crop with a ratio in range.
  """
  area = height * width
  log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
  for _ in range(10):
    target_area = area * rng.uniform(scale[0], scale[1])
    aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
    crop_w = int(round(math.sqrt(target_area * aspect)))
    crop_h = int(round(math.sqrt(target_area / aspect)))
    if 0 < crop_w <= width and 0 < crop_h <= height:
      top = int(rng.integers(0, height - crop_h + 1))
      left = int(rng.integers(0, width - crop_w + 1))
      return top, left, crop_h, crop_w
  in_ratio = width / height
  if in_ratio < min(ratio):
    crop_w, crop_h = width, int(round(width / min(ratio)))
  elif in_ratio > max(ratio):
    crop_h, crop_w = height, int(round(height * max(ratio)))
  else:
    crop_h, crop_w = height, width
  return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


# PIL filters of the resizes (torchvision's PIL backend; mmcv.imresize(backend='pillow')).
INTERPOLATIONS = {'bilinear': Image.BILINEAR, 'bicubic': Image.BICUBIC}
AUGMENT_STREAM = 2  # example_rng stream of the train view's RandAugment / RandomErasing


def _resize(image: np.ndarray, height: int, width: int,
            interpolation: str = 'bilinear') -> np.ndarray:
  """PIL resize (antialiased when shrinking), as torchvision's PIL backend."""
  if interpolation not in INTERPOLATIONS:
    raise ValueError(f'interpolation must be one of {tuple(INTERPOLATIONS)}, got '
                     f'{interpolation!r}')
  pil = Image.fromarray(image).resize((width, height), INTERPOLATIONS[interpolation])
  return np.asarray(pil)


def train_transform(image: np.ndarray, rng: np.random.Generator, *,
                    image_size: int = 224, interpolation: str = 'bilinear') -> np.ndarray:
  """Random-resized crop to `image_size` + horizontal flip (p = 0.5)."""
  top, left, crop_h, crop_w = random_resized_crop_box(*image.shape[:2], rng)
  crop = _resize(image[top:top + crop_h, left:left + crop_w], image_size, image_size,
                 interpolation)
  if rng.random() < 0.5:
    crop = crop[:, ::-1]
  return np.ascontiguousarray(crop)


def eval_transform(image: np.ndarray, *, image_size: int = 224,
                   resize_size: int = 256, interpolation: str = 'bilinear') -> np.ndarray:
  """Resize the short side to `resize_size`, then centre-crop `image_size`."""
  height, width = image.shape[:2]
  if height <= width:
    new_h, new_w = resize_size, int(resize_size * width / height)
  else:
    new_h, new_w = int(resize_size * height / width), resize_size
  image = _resize(image, new_h, new_w, interpolation)
  top = int(round((new_h - image_size) / 2.0))
  left = int(round((new_w - image_size) / 2.0))
  return np.ascontiguousarray(image[top:top + image_size, left:left + image_size])


def example_rng(seed: int, epoch: int, index: int, stream: int = 0) -> np.random.Generator:
  """The host augmentation randomness of dataset example ``index`` in ``epoch``.

  A function of ``(seed, epoch, index, stream)`` only, so an example's crop does
  not depend on which process, worker or batch position decodes it.
  """
  return np.random.default_rng((seed, epoch, index, stream))


class TrainBatch:
  """Picklable grain map: step -> this process's rows of the step's global batch, augmented.

  Every example is decoded, random-resized-cropped and flipped
  (``train_transform``) with ``example_rng(seed, epoch, index)``; with
  ``strong_view`` a second, independent crop and flip (stream 1) is returned as
  ``image_strong`` (MLKD's strong view gets its RandAugment and Cutout on device).
  ``augment`` (``host_augment.Augment``, the DeiT recipe's RandAugment + RandomErasing)
  then transforms the train view with ``example_rng(seed, epoch, index, AUGMENT_STREAM)``.

  With ``skip_corrupt``, an example whose image cannot be decoded is replaced by
  the next decodable record (``index + 1``, ... wrapping around, with that record's
  label and randomness); ``corrupt`` then lists the skipped records' indices
  (-1: none) and ``corrupt_reason`` the first reason, for ``StreamingSource`` to
  report (it removes both keys before the step sees the batch).
  """

  def __init__(self, source, order: np.ndarray, batch_size: int, rows: slice, *, seed: int,
               epoch: int, image_size: int, strong_view: bool, split: str = 'train',
               skip_corrupt: bool = False, interpolation: str = 'bilinear',
               augment: host_augment.Augment | None = None):
    self.source, self.order, self.batch_size, self.rows = source, order, batch_size, rows
    self.seed, self.epoch, self.image_size = seed, epoch, image_size
    self.strong_view, self.split, self.skip_corrupt = strong_view, split, skip_corrupt
    self.interpolation, self.augment = interpolation, augment

  def _decoded(self, index: int) -> tuple[np.ndarray, int, int, str | None]:
    """``(image, label, the record used, the reason the asked one was skipped)``."""
    reason = None
    for offset in range(len(self.source)):
      used = (index + offset) % len(self.source)
      image, label, why = decode_or_skip(self.source, used, self.split, skip=self.skip_corrupt)
      if image is not None:
        return image, label, used, reason
      reason = reason or why
    raise CorruptImageError(f'no image of the {self.split} split can be decoded ({reason})')

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    indices = self.order[step * self.batch_size:(step + 1) * self.batch_size][self.rows]
    images, strong, labels, corrupt, reasons = [], [], [], [], []
    for index in indices:
      image, label, used, reason = self._decoded(int(index))
      view = train_transform(image, example_rng(self.seed, self.epoch, used),
                             image_size=self.image_size, interpolation=self.interpolation)
      if self.augment is not None:
        view = self.augment(view, example_rng(self.seed, self.epoch, used, AUGMENT_STREAM))
      images.append(view)
      if self.strong_view:
        strong.append(train_transform(image, example_rng(self.seed, self.epoch, used, 1),
                                      image_size=self.image_size,
                                      interpolation=self.interpolation))
      labels.append(label)
      corrupt.append(-1 if reason is None else int(index))
      reasons += [reason] if reason else []
    batch = {'image': np.stack(images), 'label': np.asarray(labels, np.int32),
             'index': np.asarray(indices, np.int32)}
    if self.strong_view:
      batch['image_strong'] = np.stack(strong)
    if self.skip_corrupt:
      batch['corrupt'] = np.asarray(corrupt, np.int32)
      batch['corrupt_reason'] = np.asarray(reasons[0] if reasons else '')
    return batch


class EvalBatch:
  """Picklable grain map: step -> this process's rows of an evaluation batch, padded.

  Examples ``[step * B, (step + 1) * B)`` in order, resized and centre-cropped
  (``eval_transform``); the last batch is padded (``mask`` 0) to ``B`` rows. With
  ``skip_corrupt`` an example whose image cannot be decoded gets ``mask`` 0 (a
  black image): it counts as a miss, so accuracy stays over the whole split.
  """

  def __init__(self, source, num_examples: int, batch_size: int, rows: slice, *,
               image_size: int, resize_size: int, split: str = 'validation',
               skip_corrupt: bool = False, interpolation: str = 'bilinear'):
    self.source, self.num_examples, self.batch_size = source, num_examples, batch_size
    self.rows, self.image_size, self.resize_size = rows, image_size, resize_size
    self.split, self.skip_corrupt, self.interpolation = split, skip_corrupt, interpolation

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    positions = np.arange(step * self.batch_size, (step + 1) * self.batch_size)[self.rows]
    mask = (positions < self.num_examples).astype(np.float32)
    images, labels, corrupt, reasons = [], [], [], []
    for row, (position, valid) in enumerate(zip(positions, mask)):
      index = int(position) if valid else 0
      image, label, reason = decode_or_skip(self.source, index, self.split,
                                            skip=self.skip_corrupt)
      if image is None:
        mask[row], label = 0.0, 0
        image = np.zeros((self.image_size, self.image_size, 3), np.uint8)
        images.append(image)
      else:
        images.append(eval_transform(image, image_size=self.image_size,
                                     resize_size=self.resize_size,
                                     interpolation=self.interpolation))
      labels.append(label)
      corrupt.append(index if reason is not None and valid else -1)
      reasons += [reason] if reason is not None and valid else []
    batch = {'image': np.stack(images), 'label': np.asarray(labels, np.int32),
             'index': np.where(mask > 0, positions, 0).astype(np.int32), 'mask': mask}
    if self.skip_corrupt:
      batch['corrupt'] = np.asarray(corrupt, np.int32)
      batch['corrupt_reason'] = np.asarray(reasons[0] if reasons else '')
    return batch


def iterate(batch_fn, steps: range, *, num_workers: int = 0):
  """Iterates ``batch_fn(step)`` for ``steps`` through grain, decoding ahead in threads/processes.

  Args:
    batch_fn: a picklable ``step -> batch`` (``TrainBatch``, ``EvalBatch``).
    steps: the steps to produce, in order (e.g. ``range(start_step, steps)`` to resume).
    num_workers: decoding processes (0: threads of this process).
  """
  grain = extras.require('grain', 'data', 'The ImageNet host pipeline')

  ds = grain.MapDataset.range(steps.start, steps.stop).map(batch_fn)
  it = ds.to_iter_dataset(grain.ReadOptions(num_threads=4, prefetch_buffer_size=4))
  if num_workers > 0:
    it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=num_workers))
  return it
