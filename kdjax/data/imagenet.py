"""ImageNet-1k (TFDS `imagenet2012`) host pipeline on grain.

Reads a prepared TFDS `imagenet2012` with `tfds.data_source` (random access, no
TensorFlow at run time) and builds, per epoch, a `grain.MapDataset`:

  global shuffle (seed, epoch) -> per-example decode + crop (seeded by the
  example's global position) -> this process's shard `[p::P]` -> batches.

Train: torchvision's `RandomResizedCrop(224, scale=(0.08, 1), ratio=(3/4, 4/3))`
(bilinear) + horizontal flip p = 0.5. Test: resize the short side to 256
(bilinear) + centre crop 224. Batches are uint8 NHWC plus int32 labels; the
normalisation with `IMAGENET_MEAN/STD` happens on device (`kdjax.data.normalize`).

Because the shuffle and each example's random crop depend only on the seed,
the epoch and the example's global position, the union of the processes'
batches at a step is the same global batch whatever the number of processes.

Preparing the data (once, on a machine with TensorFlow): download
`ILSVRC2012_img_train.tar` and `ILSVRC2012_img_val.tar` from
https://image-net.org into a manual dir, then run
`tfds build imagenet2012 --manual_dir DIR --data_dir DATA_DIR --file_format=array_record`.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np
from PIL import Image

from kdjax.data.arrays import DatasetNotFoundError
from kdjax.data.arrays import default_data_dir

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NUM_CLASSES = 1000
TFDS_NAME = 'imagenet2012'
_TFDS_SPLITS = {'train': 'train', 'validation': 'validation', 'test': 'validation'}
_SHUFFLE_STREAM, _AUGMENT_STREAM = 0, 1


def load_source(split: str, *, data_dir: str | None = None):
  """The TFDS `imagenet2012` random-access source of `split` (`'test'` = validation).

  Raises:
    DatasetNotFoundError: the dataset is not prepared (in ArrayRecord format)
      under `data_dir`; the message says how to prepare it.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

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


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """PIL bilinear resize (antialiased when shrinking), as torchvision's PIL backend."""
  pil = Image.fromarray(image).resize((width, height), Image.BILINEAR)
  return np.asarray(pil)


def train_transform(image: np.ndarray, rng: np.random.Generator, *,
                    image_size: int = 224) -> np.ndarray:
  """Random-resized crop to `image_size` + horizontal flip (p = 0.5)."""
  top, left, crop_h, crop_w = random_resized_crop_box(*image.shape[:2], rng)
  crop = _resize(image[top:top + crop_h, left:left + crop_w], image_size, image_size)
  if rng.random() < 0.5:
    crop = crop[:, ::-1]
  return np.ascontiguousarray(crop)


def eval_transform(image: np.ndarray, *, image_size: int = 224,
                   resize_size: int = 256) -> np.ndarray:
  """Resize the short side to `resize_size`, then centre-crop `image_size`."""
  height, width = image.shape[:2]
  if height <= width:
    new_h, new_w = resize_size, int(resize_size * width / height)
  else:
    new_h, new_w = int(resize_size * height / width), resize_size
  image = _resize(image, new_h, new_w)
  top = int(round((new_h - image_size) / 2.0))
  left = int(round((new_w - image_size) / 2.0))
  return np.ascontiguousarray(image[top:top + image_size, left:left + image_size])


def _stream_seed(seed: int, epoch: int, stream: int) -> int:
  """A 32-bit seed for one (seed, epoch, stream), as grain requires."""
  return int(np.random.SeedSequence((seed, epoch, stream)).generate_state(1)[0])


def imagenet_batches(
    split: str,
    *,
    data_dir: str | None,
    batch_size: int,
    seed: int,
    epoch: int = 0,
    image_size: int = 224,
    resize_size: int = 256,
    drop_remainder: bool | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
    source=None,
):
  """This process's batches of one epoch as a `grain.MapDataset` (`len`, indexing).

  Args:
    split: `'train'`, or `'validation'` / `'test'` (both the 50,000 validation images).
    data_dir: TFDS data dir holding `imagenet2012` (`None`: the default).
    batch_size: GLOBAL batch size; each process gets `batch_size // process_count`.
    seed: run seed; with `epoch` it fixes the train order and crops.
    epoch: epoch number (train order and augmentation change every epoch).
    image_size: output side (224).
    resize_size: test-time short side before the centre crop (256).
    drop_remainder: drop the last partial global batch; default `True` for train,
      `False` for test (the last test batch is smaller: pad it on device if
      needed; with several processes their last batches can then differ in
      size, or in number when the split size is not a multiple of the process
      count).
    process_index, process_count: this process's shard; default
      `jax.process_index()` / `jax.process_count()`.
    source: a random-access source to use instead of TFDS (records with
      `'image'` and `'label'`), e.g. for tests.

  Returns:
    A `grain.MapDataset` of `{'image': uint8 [b, S, S, 3], 'label': int32 [b]}`.
  """
  import grain  # pylint: disable=g-import-not-at-top

  if process_index is None or process_count is None:
    import jax  # pylint: disable=g-import-not-at-top
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index {process_index} not in [0, {process_count}).')
  if batch_size < 1 or batch_size % process_count:
    raise ValueError(
        f'batch_size {batch_size} must be a positive multiple of the process count '
        f'{process_count}.')
  train = split == 'train'
  if source is None:
    source = load_source(split, data_dir=data_dir)
  drop_remainder = train if drop_remainder is None else drop_remainder

  ds = grain.MapDataset.source(source)
  if train:
    ds = ds.shuffle(seed=_stream_seed(seed, epoch, _SHUFFLE_STREAM))
    ds = ds.random_map(_TrainExample(image_size),
                       seed=_stream_seed(seed, epoch, _AUGMENT_STREAM))
  else:
    ds = ds.map(_EvalExample(image_size, resize_size))
  if drop_remainder:  # every process then gets the same number of full batches
    ds = ds[:len(ds) // batch_size * batch_size]
  ds = ds[process_index::process_count]
  return ds.batch(batch_size // process_count, drop_remainder=drop_remainder)


def make_imagenet_loader(
    split: str,
    *,
    data_dir: str | None,
    batch_size: int,
    seed: int,
    epoch: int = 0,
    num_workers: int = 0,
    start_step: int = 0,
    **kwargs,
):
  """Iterates this process's numpy batches of one epoch.

  Args:
    split, data_dir, batch_size, seed, epoch: see `imagenet_batches` (`batch_size`
      is global).
    num_workers: worker processes decoding in parallel (0: in this process,
      with a few threads).
    start_step: first batch to yield (resume mid-epoch).
    **kwargs: more `imagenet_batches` options (`image_size`, `process_index`, ...).

  Returns:
    An iterable of `{'image': uint8 [b, 224, 224, 3], 'label': int32 [b]}`.
  """
  import grain  # pylint: disable=g-import-not-at-top

  ds = imagenet_batches(split, data_dir=data_dir, batch_size=batch_size, seed=seed,
                        epoch=epoch, **kwargs)
  ds = ds[start_step:]
  it = ds.to_iter_dataset(grain.ReadOptions(num_threads=4, prefetch_buffer_size=8))
  if num_workers > 0:
    it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=num_workers))
  return it


class _TrainExample:
  """Picklable grain random map: decode, random-resized crop + flip."""

  def __init__(self, image_size: int):
    self.image_size = image_size

  def __call__(self, record: dict, rng: np.random.Generator) -> dict:
    image = train_transform(decode_image(record['image']), rng, image_size=self.image_size)
    return {'image': image, 'label': np.int32(record['label'])}


class _EvalExample:
  """Picklable grain map: decode, resize + centre crop."""

  def __init__(self, image_size: int, resize_size: int):
    self.image_size, self.resize_size = image_size, resize_size

  def __call__(self, record: dict) -> dict:
    image = eval_transform(decode_image(record['image']), image_size=self.image_size,
                           resize_size=self.resize_size)
    return {'image': image, 'label': np.int32(record['label'])}
