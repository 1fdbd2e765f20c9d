"""A tiny real image dataset for smoke tests: scikit-learn's bundled 8x8 digits.

The 1,797 handwritten digits ship inside scikit-learn, so nothing is downloaded.
Each 8x8 image (values 0..16) is scaled to uint8 0..255, upsampled to
`size` x `size` by nearest-neighbour replication and copied to 3 channels; a
fixed stratified split gives 1,347 train / 450 test images over 10 classes.
"""

from __future__ import annotations

import functools

import numpy as np

from kdjax.data.arrays import ArrayDataset

NUM_CLASSES = 10
NUM_TEST = 450
NUM_TRAIN = 1347  # of the 1,797 images of scikit-learn's digits
SPLIT_SEED = 0
_SOURCE_SIDE = 8
_SOURCE_MAX = 16


def load_digits(split: str, *, size: int = 16) -> ArrayDataset:
  """Returns a split of the digits dataset as uint8 `[N, size, size, 3]` images.

  Args:
    split: `'train'` (1,347 images) or `'test'` (450); the split is stratified
      by class and fixed (`SPLIT_SEED`), so it is the same on every call.
    size: output side in pixels; source pixel `(r, c)` is read for output
      pixel `(i, j)` with `r = floor(i * 8 / size)`, `c = floor(j * 8 / size)`
      (nearest neighbour: exact replication when `size` is a multiple of 8).
  """
  if split not in ('train', 'test'):
    raise ValueError(f"digits split must be 'train' or 'test', got {split!r}.")
  if size < 1:
    raise ValueError(f'digits size must be >= 1, got {size}.')
  images8, labels = _all_digits()
  indices = _split_indices()[split]
  rows = (np.arange(size) * _SOURCE_SIDE) // size
  images = images8[indices][:, rows][:, :, rows]
  images = np.repeat(images[..., None], 3, axis=-1)
  return ArrayDataset(images=np.ascontiguousarray(images), labels=labels[indices],
                      num_classes=NUM_CLASSES, name=f'digits/{split}')


@functools.cache
def digits_stats() -> tuple[tuple[float, ...], tuple[float, ...]]:
  """Per-channel mean and (population) std of the train split, in [0, 1] units.

  Upsampling by replication keeps these statistics whatever `size` is (when
  `size` is a multiple of 8), so they are computed once on the 8x8 images.
  """
  images8, _ = _all_digits()
  pixels = images8[_split_indices()['train']].astype(np.float64) / 255.0
  mean, std = float(pixels.mean()), float(pixels.std())
  return (mean,) * 3, (std,) * 3


@functools.cache
def _all_digits() -> tuple[np.ndarray, np.ndarray]:
  from sklearn import datasets  # pylint: disable=g-import-not-at-top

  bunch = datasets.load_digits()
  values = bunch.images.astype(np.int64)  # [1797, 8, 8], integers 0..16
  images = (values * 255 + _SOURCE_MAX // 2) // _SOURCE_MAX  # round(v * 255 / 16)
  return images.astype(np.uint8), bunch.target.astype(np.int32)


@functools.cache
def _split_indices() -> dict[str, np.ndarray]:
  from sklearn import model_selection  # pylint: disable=g-import-not-at-top

  _, labels = _all_digits()
  train, test = model_selection.train_test_split(
      np.arange(labels.shape[0]), test_size=NUM_TEST, stratify=labels,
      random_state=SPLIT_SEED)
  return {'train': np.sort(train), 'test': np.sort(test)}
