"""CIFAR-100 from the original archives (python pickles or binary records) or TFDS.

Three sources hold the same 50,000 + 10,000 images:

- `'python'`: `cifar-100-python.tar.gz` or its extracted folder `cifar-100-python/`
  with the `train` / `test` pickles (the layout torchvision reads): a dict with
  `b'data'` uint8 `[N, 3072]` (each row the red, green then blue 32x32 planes,
  row-major) and `b'fine_labels'`.
- `'binary'`: `cifar-100-binary.tar.gz` or `cifar-100-binary/` with `train.bin` /
  `test.bin`: records of 1 coarse-label byte, 1 fine-label byte, 3072 pixel bytes
  in the same plane order.
- `'tfds'`: a prepared TFDS `cifar100` (ArrayRecord format) read with
  `tfds.data_source`, which needs no TensorFlow.

Nothing is downloaded unless `download=True`.
"""

from __future__ import annotations

import contextlib
import logging as std_logging

import dataclasses
import hashlib
import io
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Sequence

import numpy as np

from kdjax import extras
from kdjax.data.arrays import ArrayDataset
from kdjax.data.arrays import DatasetCorruptError
from kdjax.data.arrays import DatasetNotFoundError
from kdjax.data.arrays import default_data_dir
from kdjax.data.arrays import integer_labels
from kdjax.data.arrays import record_label

CIFAR100_MEAN = (0.5071, 0.4867, 0.4408)
CIFAR100_STD = (0.2675, 0.2565, 0.2761)
NUM_CLASSES = 100
SPLITS = ('train', 'test')
SOURCES = ('auto', 'python', 'binary', 'tfds')
CIFAR_PAGE = 'https://www.cs.toronto.edu/~kriz/cifar.html'

_SIDE = 32
_PIXELS = 3 * _SIDE * _SIDE
_BINARY_RECORD = 2 + _PIXELS
_TFDS_READ_CHUNK = 2048


@dataclasses.dataclass(frozen=True)
class _Archive:
  """One of the original CIFAR-100 distributions."""
  folder: str
  members: dict[str, str]
  url: str
  digest: tuple[str, str]  # (hashlib algorithm, hex digest) of the .tar.gz

  @property
  def filename(self) -> str:
    return self.folder + '.tar.gz'


_ARCHIVES = {
    'python': _Archive(
        folder='cifar-100-python',
        members={'train': 'train', 'test': 'test'},
        url='https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz',
        digest=('md5', 'eb9058c3a382ffc7106e4002c42a8d85')),
    'binary': _Archive(
        folder='cifar-100-binary',
        members={'train': 'train.bin', 'test': 'test.bin'},
        url='https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz',
        digest=('sha256',
                '58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec')),
}


def load_cifar100(
    split: str,
    *,
    data_dir: str | None = None,
    source: str = 'auto',
    download: bool = False,
) -> ArrayDataset:
  """Reads a CIFAR-100 split into memory.

  Args:
    split: `'train'` (50,000 images) or `'test'` (10,000).
    data_dir: directory holding the archives, their extracted folders or the
      TFDS `cifar100` dataset; `None` means `default_data_dir()`.
    source: `'python'`, `'binary'`, `'tfds'`, or `'auto'`: the first present of
      `cifar-100-python/`, `cifar-100-python.tar.gz`, `cifar-100-binary/`,
      `cifar-100-binary.tar.gz`, then a prepared TFDS dataset.
    download: fetch the data if it is missing (`'auto'`/`'python'`/`'binary'`
      download the archive into `data_dir`, checksum-verified; `'tfds'` lets
      TFDS download and prepare it).

  Returns:
    An `ArrayDataset` with uint8 `[N, 32, 32, 3]` images and the 100 fine labels.

  Raises:
    DatasetNotFoundError: nothing found; the message says where and how.
    DatasetCorruptError: a file exists but cannot be read.
  """
  if split not in SPLITS:
    raise ValueError(f'CIFAR-100 split must be one of {SPLITS}, got {split!r}.')
  if source not in SOURCES:
    raise ValueError(f'CIFAR-100 source must be one of {SOURCES}, got {source!r}.')
  data_dir = default_data_dir() if data_dir is None else os.fspath(data_dir)
  archive_kinds = {'auto': ('python', 'binary'), 'tfds': ()}.get(source, (source,))
  looked_at, tfds_error = [], None
  for kind in archive_kinds:
    archive = _ARCHIVES[kind]
    folder = os.path.join(data_dir, archive.folder)
    tar_path = os.path.join(data_dir, archive.filename)
    if os.path.isdir(folder):
      return _decode(kind, split, _read_from_folder(folder, archive.members[split]))
    if os.path.isfile(tar_path):
      return _decode(kind, split, _read_from_tar(tar_path, archive, split))
    looked_at += [folder + os.sep, tar_path]
  tfds_dir = os.path.join(data_dir, 'cifar100')
  if source == 'tfds' or (source == 'auto' and os.path.isdir(tfds_dir)):
    try:
      return _load_tfds(split, data_dir, download=download and source == 'tfds')
    except DatasetNotFoundError as err:
      tfds_error = err.__cause__
  if source in ('auto', 'tfds'):
    looked_at.append(f'{tfds_dir}{os.sep} (prepared TFDS dataset)')
  if download and source != 'tfds':
    kind = 'binary' if source == 'binary' else 'python'
    archive = _ARCHIVES[kind]
    tar_path = download_archive(archive.url, data_dir, digest=archive.digest)
    return _decode(kind, split, _read_from_tar(tar_path, archive, split))
  raise DatasetNotFoundError(_missing_message(looked_at, data_dir)) from tfds_error


def download_archive(url: str, data_dir: str, *, digest: tuple[str, str]) -> str:
  """Downloads `url` into `data_dir` (atomically) and checks its digest.

  Args:
    url: the archive URL.
    data_dir: destination directory (created if needed).
    digest: `(hashlib algorithm, expected hex digest)`.

  Returns:
    The path of the verified archive.

  Raises:
    DatasetCorruptError: the downloaded bytes do not match the digest.
  """
  os.makedirs(data_dir, exist_ok=True)
  path = os.path.join(data_dir, url.rsplit('/', 1)[-1])
  fd, tmp_path = tempfile.mkstemp(dir=data_dir, suffix='.part')
  try:
    with os.fdopen(fd, 'wb') as out:
      _fetch_url(url, out)
    actual = _file_digest(tmp_path, digest[0])
    if actual != digest[1]:
      raise DatasetCorruptError(
          f'Downloaded {url} but its {digest[0]} is {actual}, expected '
          f'{digest[1]}; the file was discarded. Try again or fetch it by hand '
          f'from {CIFAR_PAGE} into {data_dir}.')
    os.replace(tmp_path, path)
  finally:
    if os.path.exists(tmp_path):
      os.remove(tmp_path)
  return path


def _fetch_url(url: str, out: io.BufferedWriter) -> None:
  with urllib.request.urlopen(url) as response:  # noqa: S310 (fixed https URLs)
    shutil.copyfileobj(response, out)


def _file_digest(path: str, algorithm: str) -> str:
  hasher = hashlib.new(algorithm)
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      hasher.update(block)
  return hasher.hexdigest()


def _missing_message(looked_at: Sequence[str], data_dir: str) -> str:
  where = '\n'.join(f'  - {p}' for p in looked_at)
  return (
      f'CIFAR-100 not found. Looked at:\n{where}\n'
      f'To fix, do one of:\n'
      f'  - download cifar-100-python.tar.gz (or cifar-100-binary.tar.gz) from '
      f'{CIFAR_PAGE} into {data_dir} (extracting it is optional);\n'
      f'  - on a machine with network access and TensorFlow, run '
      f'`tfds build cifar100 --data_dir {data_dir} --file_format=array_record` '
      f'and copy {os.path.join(data_dir, "cifar100")} here;\n'
      f'  - add --config.download=True to the command (from Python: '
      f'kdjax.data.load(..., download=True)) to fetch cifar-100-python.tar.gz (161 MB) into '
      f'{data_dir}.')


def _read_from_folder(folder: str, member: str) -> tuple[str, bytes]:
  path = os.path.join(folder, member)
  if not os.path.isfile(path):
    raise DatasetNotFoundError(
        f'{folder} exists but has no {member!r}: re-extract the archive from '
        f'{CIFAR_PAGE} (expected {path}).')
  with open(path, 'rb') as f:
    return path, f.read()


def _read_from_tar(tar_path: str, archive: _Archive, split: str) -> tuple[str, bytes]:
  member = f'{archive.folder}/{archive.members[split]}'
  try:
    with tarfile.open(tar_path, 'r:gz') as tar:
      try:
        f = tar.extractfile(member)
      except KeyError:
        f = None
      if f is None:
        raise DatasetCorruptError(
            f'{tar_path} has no member {member!r}; it is not the CIFAR-100 '
            f'{archive.folder.split("-")[-1]} archive from {CIFAR_PAGE}.')
      return f'{tar_path}:{member}', f.read()
  except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
    raise DatasetCorruptError(
        f'{tar_path} is not a readable .tar.gz ({err}); delete it and download '
        f'it again from {CIFAR_PAGE}.') from err


def _decode(kind: str, split: str, named_bytes: tuple[str, bytes]) -> ArrayDataset:
  decoder = _decode_python if kind == 'python' else _decode_binary
  images, labels = decoder(*named_bytes)
  return ArrayDataset(images=images, labels=labels, num_classes=NUM_CLASSES,
                      name=f'cifar100/{split}')


class _ArrayPickleUnpickler(pickle.Unpickler):
  """Unpickles plain containers and numpy arrays, refusing any other class."""

  _ALLOWED = frozenset({
      ('numpy.core.multiarray', '_reconstruct'),
      ('numpy._core.multiarray', '_reconstruct'),
      ('numpy.core.multiarray', 'scalar'),
      ('numpy._core.multiarray', 'scalar'),
      ('numpy', 'ndarray'),
      ('numpy', 'dtype'),
      ('_codecs', 'encode'),
  })

  def find_class(self, module: str, name: str):
    if (module, name) not in self._ALLOWED:
      raise pickle.UnpicklingError(
          f'refusing to unpickle {module}.{name}: a CIFAR pickle holds only '
          f'dicts, lists and numpy arrays')
    return super().find_class(module, name)


def _decode_python(name: str, raw: bytes) -> tuple[np.ndarray, np.ndarray]:
  """Decodes a torchvision-layout CIFAR-100 pickle."""
  try:
    entry = _ArrayPickleUnpickler(io.BytesIO(raw), encoding='bytes').load()
  except Exception as err:  # any unpickling failure means a bad file
    raise DatasetCorruptError(f'{name} is not a readable CIFAR pickle ({err}).') from err
  if not isinstance(entry, dict) or b'data' not in entry or b'fine_labels' not in entry:
    keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
    raise DatasetCorruptError(
        f"{name} must be a dict with b'data' and b'fine_labels', got {keys}.")
  data = np.asarray(entry[b'data'])
  labels = np.asarray(entry[b'fine_labels'])
  if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _PIXELS:
    raise DatasetCorruptError(
        f"{name}: b'data' must be uint8 [N, {_PIXELS}], got {data.dtype} {data.shape}.")
  return _planes_to_hwc(data), _checked_labels(labels, data.shape[0], name)


def _decode_binary(name: str, raw: bytes) -> tuple[np.ndarray, np.ndarray]:
  """Decodes CIFAR-100 binary records (coarse byte, fine byte, 3072 pixels)."""
  if len(raw) % _BINARY_RECORD:
    raise DatasetCorruptError(
        f'{name} has {len(raw)} bytes, not a multiple of the {_BINARY_RECORD}-byte '
        f'CIFAR-100 record (truncated download?).')
  records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _BINARY_RECORD)
  return (_planes_to_hwc(records[:, 2:]),
          _checked_labels(records[:, 1], records.shape[0], name))


def _planes_to_hwc(rows: np.ndarray) -> np.ndarray:
  """[N, 3072] rows of R, G, B planes -> uint8 [N, 32, 32, 3]."""
  images = rows.reshape(-1, 3, _SIDE, _SIDE).transpose(0, 2, 3, 1)
  return np.ascontiguousarray(images)


def _checked_labels(labels: np.ndarray, count: int, name: str) -> np.ndarray:
  if labels.shape != (count,):
    raise DatasetCorruptError(f'{name}: {count} images but {labels.shape} labels.')
  return integer_labels(labels, NUM_CLASSES, f'{name} (fine labels)')


@contextlib.contextmanager
def _tfds_quiet():
  """TFDS logs warnings while it probes a directory; the outcome is reported by the caller."""
  logger = std_logging.getLogger('absl')
  level = logger.level
  logger.setLevel(std_logging.ERROR)
  try:
    yield
  finally:
    logger.setLevel(level)


def _load_tfds(split: str, data_dir: str, *, download: bool) -> ArrayDataset:
  """Reads the whole split of a prepared TFDS `cifar100` into arrays."""
  tfds = extras.require('tensorflow_datasets', 'data', 'Reading a TFDS-prepared cifar100')

  try:
    with _tfds_quiet():
      source = tfds.data_source('cifar100', split=split, data_dir=data_dir,
                                download=download)
  except (AssertionError, NotImplementedError, FileNotFoundError, OSError,
          ValueError) as err:
    raise DatasetNotFoundError(f'TFDS cifar100 is not prepared under {data_dir}') from err
  count = len(source)
  images = np.empty((count, _SIDE, _SIDE, 3), np.uint8)
  labels = np.empty((count,), np.int32)
  for start in range(0, count, _TFDS_READ_CHUNK):
    indices = list(range(start, min(start + _TFDS_READ_CHUNK, count)))
    for offset, example in enumerate(read_records(source, indices)):
      images[start + offset] = example['image']
      labels[start + offset] = record_label(example, NUM_CLASSES, f'TFDS cifar100/{split}',
                                            start + offset)
  return ArrayDataset(images=images, labels=labels, num_classes=NUM_CLASSES,
                      name=f'cifar100/{split}')


def read_records(source, indices: Sequence[int]) -> Sequence[dict]:
  """Reads `indices` from a TFDS data source in one batched call.

  Falls back to one read per index when the batched call is unavailable (the
  `__getitems__` installed by `tfds.testing.mock_data` in TFDS 4.9 is unbound).
  """
  try:
    return source.__getitems__(indices)
  except (AttributeError, TypeError):
    return [source[i] for i in indices]
