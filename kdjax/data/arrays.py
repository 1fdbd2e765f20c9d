"""In-memory image datasets and the errors raised when one cannot be read."""

from __future__ import annotations

import dataclasses
import os

import numpy as np


class DatasetNotFoundError(FileNotFoundError):
  """The dataset files are not where they were looked for.

  The message lists the paths that were looked at and how to obtain the data.
  """


class DatasetCorruptError(ValueError):
  """A dataset file exists but cannot be read; the message names the file."""


def _whole(value) -> bool:
  try:
    return not isinstance(value, bool) and float(value).is_integer()
  except (TypeError, ValueError, OverflowError):
    return False


def integer_labels(labels, num_classes: int, name: str) -> np.ndarray:
  """``labels`` as int32 after checking that they are integers in ``[0, num_classes)``.

  Never truncates: float (or other non-integer) labels are refused, even when
  their values look whole, since a float label means the wrong column was read.

  Raises:
    DatasetCorruptError: a label is not an integer, or is out of range.
  """
  values = np.asarray(labels)
  if values.dtype == np.bool_ or not np.issubdtype(values.dtype, np.integer):
    flat = values.reshape(-1).tolist()
    where = next((i for i, v in enumerate(flat) if not _whole(v)), 0)
    example = f' (e.g. {flat[where]!r} at row {where})' if flat else ''
    raise DatasetCorruptError(
        f'{name}: labels must be integers, got {values.dtype}{example}; refusing to truncate '
        f'them: check that the label column of the data is the class index.')
  if values.size and (values.min() < 0 or values.max() >= num_classes):
    row = int(np.argmax((values < 0) | (values >= num_classes)))
    raise DatasetCorruptError(
        f'{name}: labels must lie in [0, {num_classes}), got [{values.min()}, {values.max()}] '
        f'(e.g. {values.reshape(-1)[row]} at row {row}).')
  return values.astype(np.int32)


def record_label(record, num_classes: int, name: str, index: int) -> int:
  """The integer label of one record (``record['label']``), checked like ``integer_labels``."""
  label = record['label']
  value = np.asarray(label)
  if value.ndim or value.dtype == np.bool_ or not np.issubdtype(value.dtype, np.integer):
    raise DatasetCorruptError(f'{name} record {index}: the label {label!r} is not an integer; '
                              f'refusing to truncate it.')
  label = int(label)
  if not 0 <= label < num_classes:
    raise DatasetCorruptError(f'{name} record {index}: the label {label} is not in '
                              f'[0, {num_classes}).')
  return label


def default_data_dir() -> str:
  """The directory used when `data_dir=None`: `$TFDS_DATA_DIR` or `~/tensorflow_datasets`.

  The same directory holds the CIFAR archives (or their extracted folders) and
  the prepared TFDS datasets, so one setting covers every source.
  """
  return os.path.expanduser(
      os.environ.get('TFDS_DATA_DIR', os.path.join('~', 'tensorflow_datasets')))


@dataclasses.dataclass(frozen=True, eq=False)
class ArrayDataset:
  """A labelled image dataset held in host memory.

  Attributes:
    images: uint8 `[N, H, W, C]` (channels last, rows top to bottom).
    labels: int32 `[N]`, in `[0, num_classes)`.
    num_classes: number of classes.
    name: dataset name and split, e.g. `'cifar100/train'`.
  """
  images: np.ndarray
  labels: np.ndarray
  num_classes: int
  name: str

  def __post_init__(self):
    images, labels = self.images, self.labels
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
      raise ValueError(
          f'{self.name}: images must be a uint8 numpy array, got '
          f'{type(images).__name__} of dtype {getattr(images, "dtype", None)}.')
    if images.ndim != 4:
      raise ValueError(
          f'{self.name}: images must be [N, H, W, C], got shape {images.shape}.')
    if not isinstance(labels, np.ndarray) or labels.dtype != np.int32:
      raise ValueError(
          f'{self.name}: labels must be an int32 numpy array, got '
          f'{type(labels).__name__} of dtype {getattr(labels, "dtype", None)}.')
    if labels.shape != images.shape[:1]:
      raise ValueError(
          f'{self.name}: {images.shape[0]} images but labels have shape '
          f'{labels.shape}.')
    if self.num_classes < 1:
      raise ValueError(f'{self.name}: num_classes must be >= 1, got {self.num_classes}.')
    if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
      raise ValueError(
          f'{self.name}: labels must lie in [0, {self.num_classes}), got '
          f'[{labels.min()}, {labels.max()}].')

  def __len__(self) -> int:
    return self.images.shape[0]

  def __repr__(self) -> str:
    return (f'ArrayDataset(name={self.name!r}, images=uint8{list(self.images.shape)}, '
            f'labels=int32{list(self.labels.shape)}, num_classes={self.num_classes})')

  @property
  def image_shape(self) -> tuple[int, int, int]:
    """`(H, W, C)` of every image."""
    return tuple(self.images.shape[1:])
