"""Tests for kdjax.data loading, batching and the ImageNet pipeline."""

import hashlib
import io
import os
import pickle
import struct
import tarfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from kdjax import data
from kdjax.data import cifar
from kdjax.data import imagenet
from kdjax.data import sources
from kdjax import parallel

_TRAIN, _TEST = 6, 4


def _encoded_images(count: int, seed: int) -> np.ndarray:
  """uint8 [N, 32, 32, 3] whose value encodes (image, row, col, channel)."""
  n, r, c, ch = np.meshgrid(np.arange(count), np.arange(32), np.arange(32), np.arange(3),
                            indexing='ij')
  return ((n * 13 + r * 7 + c * 3 + ch * 101 + seed) % 256).astype(np.uint8)


def _hwc_to_rows(images: np.ndarray) -> np.ndarray:
  """The CIFAR file layout: [N, 3072] = red plane, green plane, blue plane, row-major."""
  return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


@pytest.fixture(scope='module')
def cifar_splits():
  labels = {'train': np.array([0, 99, 5, 42, 7, 63]), 'test': np.array([1, 2, 98, 50])}
  images = {'train': _encoded_images(_TRAIN, 0), 'test': _encoded_images(_TEST, 77)}
  return images, labels


class _Py2Pickler(pickle._Pickler):  # pylint: disable=protected-access
  """Writes what Python 2's cPickle wrote for the CIFAR files: every str and bytes
  as a (SHORT_)BINSTRING and numpy's functions under `numpy.core.multiarray`."""

  dispatch = dict(pickle._Pickler.dispatch)  # pylint: disable=protected-access

  def save_py2_string(self, obj):
    raw = obj.encode('latin1') if isinstance(obj, str) else obj
    if len(raw) < 256:
      self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
    else:
      self.write(pickle.BINSTRING + struct.pack('<i', len(raw)) + raw)
    self.memoize(obj)

  dispatch[bytes] = save_py2_string
  dispatch[str] = save_py2_string

  def save_global(self, obj, name=None):
    if obj.__module__ == 'numpy._core.multiarray':
      self.write(pickle.GLOBAL + f'numpy.core.multiarray\n{obj.__name__}\n'.encode())
      self.memoize(obj)
    else:
      super().save_global(obj, name)


def _python_member(images, labels, py2: bool = True) -> bytes:
  entry = {b'filenames': [b'x.png'] * len(images), b'batch_label': b'batch 1 of 1',
           b'fine_labels': [int(v) for v in labels],
           b'coarse_labels': [int(v) // 5 for v in labels], b'data': _hwc_to_rows(images)}
  if not py2:
    return pickle.dumps(entry, protocol=2)
  out = io.BytesIO()
  _Py2Pickler(out, protocol=2).dump(entry)
  return out.getvalue()


def _binary_member(images, labels) -> bytes:
  records = np.concatenate(
      [np.asarray(labels)[:, None] // 5, np.asarray(labels)[:, None], _hwc_to_rows(images)],
      axis=1).astype(np.uint8)
  return records.tobytes()


def _write_tar(path, folder, members: dict) -> None:
  with tarfile.open(path, 'w:gz') as tar:
    for name, payload in members.items():
      info = tarfile.TarInfo(f'{folder}/{name}')
      info.size = len(payload)
      tar.addfile(info, io.BytesIO(payload))


def _python_members(cifar_splits, py2=True):
  images, labels = cifar_splits
  return {'train': _python_member(images['train'], labels['train'], py2),
          'test': _python_member(images['test'], labels['test'], py2)}


def _binary_members(cifar_splits):
  images, labels = cifar_splits
  return {'train.bin': _binary_member(images['train'], labels['train']),
          'test.bin': _binary_member(images['test'], labels['test'])}


def _assert_round_trip(ds, cifar_splits, split):
  images, labels = cifar_splits
  assert isinstance(ds, data.ArrayDataset)
  assert ds.images.dtype == np.uint8 and ds.labels.dtype == np.int32
  np.testing.assert_array_equal(ds.images, images[split])
  np.testing.assert_array_equal(ds.labels, labels[split])
  assert ds.num_classes == 100 and len(ds) == len(labels[split])


@pytest.mark.parametrize('split', ['train', 'test'])
def test_cifar_python_tar_round_trips(tmp_path, cifar_splits, split):
  _write_tar(tmp_path / 'cifar-100-python.tar.gz', 'cifar-100-python',
             _python_members(cifar_splits))
  for source in ('python', 'auto'):
    ds = data.load('cifar100', split=split, data_dir=str(tmp_path), source=source)
    _assert_round_trip(ds, cifar_splits, split)


def test_cifar_python_folder_round_trips(tmp_path, cifar_splits):
  folder = tmp_path / 'cifar-100-python'
  folder.mkdir()
  for name, payload in _python_members(cifar_splits, py2=False).items():
    (folder / name).write_bytes(payload)
  _assert_round_trip(data.load('cifar100', split='train', data_dir=tmp_path, source='python'),
                     cifar_splits, 'train')
  # Pixel (row 2, col 5, green) of image 1 holds 13 + 14 + 15 + 101.
  ds = data.load('cifar100', split='train', data_dir=tmp_path)
  assert ds.images[1, 2, 5, 1] == 143


def test_cifar_binary_tar_and_folder_round_trip(tmp_path, cifar_splits):
  _write_tar(tmp_path / 'cifar-100-binary.tar.gz', 'cifar-100-binary',
             _binary_members(cifar_splits))
  _assert_round_trip(data.load('cifar100', split='test', data_dir=tmp_path, source='binary'),
                     cifar_splits, 'test')
  _assert_round_trip(data.load('cifar100', split='train', data_dir=tmp_path, source='auto'),
                     cifar_splits, 'train')
  folder = tmp_path / 'folder' / 'cifar-100-binary'
  folder.mkdir(parents=True)
  for name, payload in _binary_members(cifar_splits).items():
    (folder / name).write_bytes(payload)
  _assert_round_trip(data.load('cifar100', split='train', data_dir=folder.parent,
                               source='binary'), cifar_splits, 'train')


def test_cifar_corrupt_files_name_the_file(tmp_path, cifar_splits):
  bad_tar = tmp_path / 'cifar-100-python.tar.gz'
  bad_tar.write_bytes(b'not a gzip file at all')
  with pytest.raises(data.DatasetCorruptError, match='cifar-100-python.tar.gz'):
    data.load('cifar100', split='train', data_dir=tmp_path)
  folder = tmp_path / 'bin' / 'cifar-100-binary'
  folder.mkdir(parents=True)
  (folder / 'train.bin').write_bytes(_binary_members(cifar_splits)['train.bin'][:-5])
  with pytest.raises(data.DatasetCorruptError, match='train.bin'):
    data.load('cifar100', split='train', data_dir=folder.parent, source='binary')
  wrong_tar = tmp_path / 'wrong' / 'cifar-100-python.tar.gz'
  wrong_tar.parent.mkdir()
  _write_tar(wrong_tar, 'something-else', {'train': b'x'})
  with pytest.raises(data.DatasetCorruptError, match='no member'):
    data.load('cifar100', split='train', data_dir=wrong_tar.parent)


class _Exploit:
  def __reduce__(self):
    return (os.system, ('echo pwned',))


def test_cifar_pickle_refuses_arbitrary_classes(tmp_path):
  folder = tmp_path / 'cifar-100-python'
  folder.mkdir()
  (folder / 'train').write_bytes(pickle.dumps({b'data': _Exploit()}, protocol=2))
  with pytest.raises(data.DatasetCorruptError, match='refusing to unpickle'):
    data.load('cifar100', split='train', data_dir=tmp_path)


def test_cifar_missing_says_where_and_how(tmp_path):
  with pytest.raises(data.DatasetNotFoundError) as info:
    data.load('cifar100', split='train', data_dir=tmp_path)
  message = str(info.value)
  assert isinstance(info.value, FileNotFoundError)
  for expected in (str(tmp_path / 'cifar-100-python.tar.gz'),
                   str(tmp_path / 'cifar-100-binary') + os.sep,
                   str(tmp_path / 'cifar100'), 'https://www.cs.toronto.edu/~kriz/cifar.html',
                   'tfds build cifar100', 'download=True'):
    assert expected in message
  with pytest.raises(data.DatasetNotFoundError, match='cifar-100-binary.tar.gz'):
    data.load('cifar100', split='test', data_dir=tmp_path, source='binary')
  assert os.listdir(tmp_path) == []  # nothing downloaded or created


def test_cifar_download_checks_the_digest(tmp_path, cifar_splits, monkeypatch):
  archive = tmp_path / 'served.tar.gz'
  _write_tar(archive, 'cifar-100-python', _python_members(cifar_splits))
  payload = archive.read_bytes()
  fetched = []

  def fake_fetch(url, out):
    fetched.append(url)
    out.write(payload)

  monkeypatch.setattr(cifar, '_fetch_url', fake_fetch)
  target = tmp_path / 'data'
  path = cifar.download_archive('https://example.org/cifar-100-python.tar.gz', str(target),
                                digest=('md5', hashlib.md5(payload).hexdigest()))
  _assert_round_trip(data.load('cifar100', split='test', data_dir=target), cifar_splits, 'test')
  assert path == str(target / 'cifar-100-python.tar.gz')
  # The real archive's digest does not match these bytes: refused, nothing kept.
  empty = tmp_path / 'empty'
  with pytest.raises(data.DatasetCorruptError, match='md5'):
    data.load('cifar100', split='train', data_dir=empty, source='python', download=True)
  assert fetched[-1] == 'https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz'
  assert os.listdir(empty) == []


def test_cifar_tfds_source_reads_every_example(tmp_path):
  with tfds.testing.mock_data(num_examples=5):
    ds = data.load('cifar100', split='train', data_dir=tmp_path, source='tfds')
    (tmp_path / 'cifar100').mkdir()  # 'auto' reads TFDS where a prepared cifar100/ exists
    auto = data.load('cifar100', split='test', data_dir=tmp_path)
    source = tfds.data_source('cifar100', split='train', data_dir=tmp_path)
    expected = [source[i] for i in range(5)]
  assert ds.images.shape == (5, 32, 32, 3) and ds.images.dtype == np.uint8
  np.testing.assert_array_equal(ds.images, np.stack([e['image'] for e in expected]))
  np.testing.assert_array_equal(ds.labels, [int(e['label']) for e in expected])
  assert len(auto) == 5 and auto.name == 'cifar100/test'


def test_read_records_uses_batched_reads():
  class Source:
    calls = []

    def __getitems__(self, keys):
      self.calls.append(list(keys))
      return [{'i': k} for k in keys]

    def __getitem__(self, key):
      raise AssertionError('batched read expected')

  source = Source()
  assert cifar.read_records(source, [3, 1]) == [{'i': 3}, {'i': 1}]
  assert source.calls == [[3, 1]]


def test_array_dataset_validates():
  images = np.zeros((2, 4, 4, 3), np.uint8)
  ds = data.ArrayDataset(images, np.array([0, 1], np.int32), 2, 'toy')
  assert len(ds) == 2 and ds.image_shape == (4, 4, 3) and 'uint8[2, 4, 4, 3]' in repr(ds)
  with pytest.raises(ValueError, match='uint8'):
    data.ArrayDataset(images.astype(np.float32), np.array([0, 1], np.int32), 2, 'toy')
  with pytest.raises(ValueError, match='labels'):
    data.ArrayDataset(images, np.array([0, 1, 1], np.int32), 2, 'toy')
  with pytest.raises(ValueError, match=r'\[0, 2\)'):
    data.ArrayDataset(images, np.array([0, 2], np.int32), 2, 'toy')
  with pytest.raises(ValueError, match='Unknown dataset'):
    data.load('mnist', split='train')
  with pytest.raises(ValueError, match='split'):
    data.load('cifar100', split='val')


def test_digits_split_is_fixed_stratified_and_upsampled():
  train = data.load('digits', split='train')
  test = data.load('digits', split='test')
  assert (len(train), len(test)) == (1347, 450)
  assert train.images.shape == (1347, 16, 16, 3) and train.images.dtype == np.uint8
  assert train.num_classes == test.num_classes == 10
  np.testing.assert_array_equal(np.unique(test.labels), np.arange(10))
  # Stratified: every class has 25% of its images in test (+-1 image).
  counts_train = np.bincount(train.labels, minlength=10)
  counts_test = np.bincount(test.labels, minlength=10)
  assert np.all(np.abs(counts_test - 0.25 * (counts_train + counts_test)) <= 1)
  again = data.load('digits', split='train')
  np.testing.assert_array_equal(train.images, again.images)
  np.testing.assert_array_equal(train.labels, again.labels)
  # Nearest upsampling replicates each 8x8 pixel into a 2x2 block; 3 equal channels.
  small = data.load('digits', split='train', size=8).images
  np.testing.assert_array_equal(train.images, small.repeat(2, axis=1).repeat(2, axis=2))
  assert np.all(small[..., 0] == small[..., 2]) and small.max() == 255
  from sklearn import datasets  # values 0..16 map to round(v * 255 / 16)
  raw = datasets.load_digits().images
  assert {int(v) for v in np.unique(small)} == {(int(v) * 255 + 8) // 16 for v in np.unique(raw)}


def test_stats():
  assert data.stats('cifar100') == ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761))
  assert data.CIFAR100_MEAN == (0.5071, 0.4867, 0.4408)
  assert data.stats('imagenet') == (data.IMAGENET_MEAN, data.IMAGENET_STD)
  mean, std = data.stats('digits')
  pixels = data.load('digits', split='train').images / 255.0
  np.testing.assert_allclose(mean, pixels.mean(axis=(0, 1, 2)), rtol=1e-9)
  np.testing.assert_allclose(std, pixels.std(axis=(0, 1, 2)), rtol=1e-9)
  with pytest.raises(ValueError):
    data.stats('svhn')


def test_epoch_permutation_and_batches():
  perm = data.epoch_permutation(3, 0, 50_000)
  assert perm.dtype == np.int32
  np.testing.assert_array_equal(np.sort(perm), np.arange(50_000))
  np.testing.assert_array_equal(perm, data.epoch_permutation(3, 0, 50_000))
  assert not np.array_equal(perm, data.epoch_permutation(3, 1, 50_000))
  assert not np.array_equal(perm, data.epoch_permutation(4, 0, 50_000))
  assert data.num_batches(50_000, 64) == 782
  assert data.num_batches(50_000, 64, drop_remainder=True) == 781
  batches = [data.batch_indices(perm, s, 64) for s in range(782)]
  assert len(batches[-1]) == 16 and all(len(b) == 64 for b in batches[:-1])
  np.testing.assert_array_equal(np.concatenate(batches), perm)
  with pytest.raises(IndexError, match='782 steps'):
    data.batch_indices(perm, 782, 64)
  with pytest.raises(ValueError):
    data.epoch_permutation(-1, 0, 10)


def test_example_keys_are_per_example_and_jittable():
  keys = data.example_keys(7, 2, 5, 8)
  raw = np.asarray(jax.random.key_data(keys))
  assert keys.shape == (8,) and len({tuple(k) for k in raw}) == 8
  traced = jax.jit(lambda s, e, t: jax.random.key_data(data.example_keys(s, e, t, 8)))(
      jnp.int32(7), jnp.int32(2), jnp.int32(5))
  np.testing.assert_array_equal(traced, raw)
  # A key depends on (seed, epoch, step, index) only, not on the batch size.
  wider = np.asarray(jax.random.key_data(data.example_keys(7, 2, 5, 16)))
  np.testing.assert_array_equal(wider[:8], raw)
  for other in (data.example_keys(8, 2, 5, 8), data.example_keys(7, 3, 5, 8),
                data.example_keys(7, 2, 6, 8)):
    assert not np.array_equal(np.asarray(jax.random.key_data(other)), raw)


@pytest.fixture(scope='module')
def imagenet_source(tmp_path_factory):
  """The TFDS imagenet2012 loading path on 10 mock images of random sizes."""
  data_dir = str(tmp_path_factory.mktemp('imagenet'))
  with tfds.testing.mock_data(num_examples=10):
    train = imagenet.load_source('train', data_dir=data_dir)
    test = imagenet.load_source('validation', data_dir=data_dir)
    labels = [int(test[i]['label']) for i in range(10)]
  return train, test, labels


def _train_batch(train, *, seed=0, epoch=1, batch=4, rows=slice(None), strong=False):
  order = data.epoch_permutation(seed, epoch, len(train))
  return imagenet.TrainBatch(train, order, batch, rows, seed=seed, epoch=epoch, image_size=32,
                             strong_view=strong)


def test_imagenet_train_batches_are_functions_of_seed_epoch_and_step(imagenet_source):
  train, _, _ = imagenet_source
  batches = list(imagenet.iterate(_train_batch(train), range(0, 2)))
  assert len(batches) == 2
  for step, batch in enumerate(batches):
    assert set(batch) == {'image', 'label', 'index'}
    assert batch['image'].shape == (4, 32, 32, 3) and batch['image'].dtype == np.uint8
    order = data.epoch_permutation(0, 1, 10)
    np.testing.assert_array_equal(batch['index'], data.batch_indices(order, step, 4))
    np.testing.assert_array_equal(batch['label'], [int(train[i]['label']) for i in batch['index']])
  again = list(imagenet.iterate(_train_batch(train), range(0, 2), num_workers=0))
  for a, b in zip(batches, again):
    np.testing.assert_array_equal(a['image'], b['image'])
  resumed = list(imagenet.iterate(_train_batch(train), range(1, 2)))  # the iterator's state: the step
  np.testing.assert_array_equal(resumed[0]['image'], batches[1]['image'])
  other_epoch = _train_batch(train, epoch=2)(0)
  assert not np.array_equal(other_epoch['index'], batches[0]['index'])


def test_imagenet_processes_decode_their_rows_of_the_global_batch(imagenet_source):
  train, _, _ = imagenet_source
  whole = _train_batch(train)(1)
  halves = [_train_batch(train, rows=slice(p * 2, (p + 1) * 2))(1) for p in range(2)]
  for key in ('image', 'label', 'index'):
    np.testing.assert_array_equal(np.concatenate([h[key] for h in halves]), whole[key])


def test_imagenet_strong_view_draws_its_own_crop(imagenet_source):
  train, _, _ = imagenet_source
  batch = _train_batch(train, strong=True)(0)
  assert batch['image_strong'].shape == batch['image'].shape
  assert not np.array_equal(batch['image_strong'], batch['image'])
  np.testing.assert_array_equal(_train_batch(train)(0)['image'], batch['image'])


def test_imagenet_streaming_source_keeps_the_partial_batch_and_pads_evaluation(imagenet_source):
  train, test, labels = imagenet_source
  source = sources.StreamingSource(train, test, name='mock', num_classes=1000, image_size=32,
                                   resize_size=36, mean=data.IMAGENET_MEAN,
                                   std=data.IMAGENET_STD)
  mesh = parallel.create_mesh()
  batches = list(source.train_batches(0, 1, 3, 0, 4, mesh))
  assert [len(b['index']) for b in batches] == [4, 4, 2]  # 10 examples at batch 4
  evals = list(source.eval_batches(4, mesh))
  assert [b['mask'].tolist() for b in evals] == [[1] * 4, [1] * 4, [1, 1, 0, 0]]
  got = np.concatenate([b['label'][b['mask'] > 0] for b in evals])
  np.testing.assert_array_equal(got, labels)
  np.testing.assert_array_equal(source.train_labels(), [int(train[i]['label']) for i in range(10)])


def test_imagenet_transforms():
  rng = np.random.default_rng(0)
  for _ in range(200):
    top, left, h, w = imagenet.random_resized_crop_box(300, 400, rng)
    assert 0 <= top and top + h <= 300 and 0 <= left and left + w <= 400
    assert 0.08 * 120_000 * 0.97 <= h * w <= 120_000 and 0.72 <= w / h <= 1.36
  assert imagenet.random_resized_crop_box(10, 1000, rng) == (0, 493, 10, 13)
  image = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
  expected = np.asarray(Image.fromarray(image).resize((341, 256), Image.BILINEAR))
  np.testing.assert_array_equal(imagenet.eval_transform(image), expected[16:240, 58:282])
  out = imagenet.train_transform(image, np.random.default_rng(1), image_size=224)
  assert out.shape == (224, 224, 3) and out.dtype == np.uint8
  encoded = io.BytesIO()
  Image.fromarray(image).save(encoded, format='PNG')
  np.testing.assert_array_equal(imagenet.decode_image(encoded.getvalue()), image)
  gray = imagenet.decode_image(image[..., 0])
  assert gray.shape == (300, 400, 3) and np.all(gray[..., 2] == image[..., 0])


def test_imagenet_missing_says_how_to_prepare(tmp_path):
  with pytest.raises(data.DatasetNotFoundError) as info:
    imagenet.load_source('train', data_dir=str(tmp_path))
  for expected in ('tfds build imagenet2012', '--manual_dir', 'image-net.org', str(tmp_path)):
    assert expected in str(info.value)
