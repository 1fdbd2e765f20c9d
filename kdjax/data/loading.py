"""One entry point for the in-memory datasets and their normalisation constants."""

from __future__ import annotations

from kdjax.data import cifar
from kdjax.data import digits
from kdjax.data import imagenet
from kdjax.data.arrays import ArrayDataset

DATASETS = ('cifar100', 'digits')


def load(
    name: str,
    *,
    split: str,
    data_dir: str | None = None,
    source: str = 'auto',
    download: bool = False,
    size: int | None = None,
) -> ArrayDataset:
  """Loads a whole split into host memory.

  Args:
    name: `'cifar100'` or `'digits'`.
    split: `'train'` or `'test'`.
    data_dir: where the CIFAR archives / TFDS data live (`None`: `default_data_dir()`).
      Unused by digits, which ships with scikit-learn.
    source: CIFAR-100 only: `'auto'`, `'python'`, `'binary'` or `'tfds'` (see
      `kdjax.data.cifar.load_cifar100`).
    download: CIFAR-100 only: fetch the data when missing. Never by default.
    size: digits only: output side (default 16; nearest-neighbour upsampling).

  Returns:
    An `ArrayDataset` (uint8 NHWC images, int32 labels).
  """
  if name == 'cifar100':
    if size is not None:
      raise ValueError('size= applies to digits only; CIFAR-100 images are 32x32.')
    return cifar.load_cifar100(split, data_dir=data_dir, source=source, download=download)
  if name == 'digits':
    if source != 'auto' or download:
      raise ValueError('digits ships with scikit-learn: leave source and download unset.')
    return digits.load_digits(split, size=16 if size is None else size)
  raise ValueError(f'Unknown dataset {name!r}; expected one of {DATASETS}.')


def stats(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
  """Per-channel `(mean, std)` in [0, 1] units for `normalize`.

  - `'cifar100'`: (0.5071, 0.4867, 0.4408) / (0.2675, 0.2565, 0.2761), the
    constants of the reference code.
  - `'imagenet'` / `'imagenet2012'`: the torchvision constants.
  - `'digits'`: computed once from the digits train split (same for all channels).
  """
  if name == 'cifar100':
    return cifar.CIFAR100_MEAN, cifar.CIFAR100_STD
  if name in ('imagenet', imagenet.TFDS_NAME):
    return imagenet.IMAGENET_MEAN, imagenet.IMAGENET_STD
  if name == 'digits':
    return digits.digits_stats()
  raise ValueError(f"Unknown dataset {name!r}; expected 'cifar100', 'digits' or 'imagenet'.")
