"""kdjax.teacher_cache: storage, keys, verification, and cached training in kdjax.train.

The storage tests use a made-up ``compute(step)``; the training tests run tiny
resnet8 -> resnet8 smoke runs (20 examples at batch 8: steps of 8, 8 and 4).
"""

import dataclasses
import json
import logging
import os
import shutil

import jax
import numpy as np
import pytest

from kdjax import config as config_lib
from kdjax import data
from kdjax import recipes
from kdjax import teacher_cache
from kdjax import steps
from kdjax import teachers
from kdjax import train
from kdjax.data import sources
from tests import method_checks

ROWS, BATCH, CLASSES = 10, 4, 6  # 3 steps: rows 0-3, 4-7, 8-9.


def _key(**overrides):
  values = dict(teacher='resnet8', teacher_checksum='t0', num_classes=CLASSES,
                compute_dtype='float32', data_checksum='d0', num_examples=ROWS,
                augmentation=(('views', ('weak',)), ('mean', (0.5, 0.5, 0.5))), seed=0,
                batch_size=BATCH, rows=ROWS, storage_dtype='float16')
  values.update(overrides)
  return teacher_cache.CacheKey(**values)


def _compute(epoch, scale=10.0, views=1):
  """Deterministic made-up teacher logits of each step's batch: ``[b, views, classes]``."""
  def compute(step):
    rows = np.arange(step * BATCH, min((step + 1) * BATCH, ROWS))
    rng = np.random.default_rng((epoch, step))
    return scale * rng.normal(size=(len(rows), views, CLASSES)).astype(np.float32)
  return compute


def test_fill_then_hit_returns_the_stored_logits_within_float16(tmp_path):
  cache = teacher_cache.TeacherCache(tmp_path, _key(), steps=3)
  assert not cache.has_epoch(1)
  filled = cache.epoch_logits(1, _compute(1))
  assert filled.dtype == np.float16 and filled.shape == (ROWS, 1, CLASSES)
  assert cache.has_epoch(1) and not cache.has_epoch(2)
  fresh = np.concatenate([_compute(1)(s) for s in range(3)])
  np.testing.assert_allclose(filled.astype(np.float32), fresh, rtol=2**-11, atol=1e-6)
  # A second cache object (another run) reads the same values back, verifying batches.
  again = teacher_cache.TeacherCache(tmp_path, _key(), steps=3, verify_batches=3)
  calls = []
  hit = again.epoch_logits(1, lambda s: calls.append(s) or _compute(1)(s))
  np.testing.assert_array_equal(hit, filled)
  assert calls == [0, 1, 2]  # spot check: every batch when verify_batches >= steps
  assert sorted(os.listdir(cache.directory)) == ['epoch_0001.bin', 'epoch_0001.json', 'meta.json']


def test_key_digest_changes_with_teacher_data_augmentation_seed_batch_dtype():
  base = _key()
  changed = [_key(teacher_checksum='t1'), _key(data_checksum='d1'), _key(seed=1),
             _key(batch_size=5), _key(storage_dtype='float32'), _key(compute_dtype='bfloat16'),
             _key(augmentation=(('views', ('weak',)), ('mean', (0.4, 0.5, 0.5))))]
  digests = {k.digest() for k in changed}
  assert base.digest() not in digests and len(digests) == len(changed)
  assert _key().digest() == base.digest()


def test_checksums_see_values_paths_and_dtypes():
  tree = {'params': {'a': np.ones(3, np.float32)}, 'batch_stats': {'b': np.zeros(2, np.float32)}}
  same = jax.tree.map(np.copy, tree)
  assert teacher_cache.checksum_tree(tree) == teacher_cache.checksum_tree(same)
  same['params']['a'][1] = 1.0 + 2**-20
  assert teacher_cache.checksum_tree(tree) != teacher_cache.checksum_tree(same)
  renamed = {'params': {'c': tree['params']['a']}, 'batch_stats': tree['batch_stats']}
  assert teacher_cache.checksum_tree(tree) != teacher_cache.checksum_tree(renamed)
  x = np.arange(6, dtype=np.uint8)
  assert teacher_cache.checksum_arrays(x) != teacher_cache.checksum_arrays(x.astype(np.int32))
  assert teacher_cache.checksum_arrays(x) != teacher_cache.checksum_arrays(x.reshape(2, 3))


def test_mismatch_with_a_fresh_forward_is_a_clear_error(tmp_path):
  cache = teacher_cache.TeacherCache(tmp_path, _key(), steps=3)
  cache.epoch_logits(1, _compute(1))
  # Within float16 rounding: passes. A different teacher: refused, naming the directory.
  nudged = lambda s: _compute(1)(s) * (1 + 2**-12)
  cache.verify(1, cache.load(1), nudged)
  with pytest.raises(teacher_cache.TeacherCacheMismatchError, match=cache.directory):
    cache.epoch_logits(1, _compute(1, scale=10.5))


@pytest.mark.parametrize('damage', ['flip_byte', 'truncate', 'drop_record_field'])
def test_corrupt_epoch_file_is_a_clear_error(tmp_path, damage):
  cache = teacher_cache.TeacherCache(tmp_path, _key(), steps=3)
  cache.epoch_logits(1, _compute(1))
  bin_path = os.path.join(cache.directory, 'epoch_0001.bin')
  record_path = os.path.join(cache.directory, 'epoch_0001.json')
  payload = bytearray(open(bin_path, 'rb').read())
  if damage == 'flip_byte':
    payload[7] ^= 0x01
    open(bin_path, 'wb').write(bytes(payload))
  elif damage == 'truncate':
    open(bin_path, 'wb').write(bytes(payload[:-2]))
  else:
    json.dump({'bytes': len(payload)}, open(record_path, 'w'))
  with pytest.raises(teacher_cache.TeacherCacheCorruptError, match='epoch_0001'):
    cache.epoch_logits(1, _compute(1))


def test_meta_of_another_key_or_unreadable_is_refused(tmp_path):
  cache = teacher_cache.TeacherCache(tmp_path, _key(), steps=3)
  meta = os.path.join(cache.directory, 'meta.json')
  stored = json.load(open(meta))
  stored['key']['seed'] = 7
  json.dump(stored, open(meta, 'w'))
  with pytest.raises(teacher_cache.TeacherCacheCorruptError, match='another key'):
    teacher_cache.TeacherCache(tmp_path, _key(), steps=3)
  open(meta, 'w').write('{not json')
  with pytest.raises(teacher_cache.TeacherCacheCorruptError, match='unreadable'):
    teacher_cache.TeacherCache(tmp_path, _key(), steps=3)


def test_bad_input_is_refused(tmp_path):
  with pytest.raises(ValueError, match='storage dtype'):
    _key(storage_dtype='int8')
  with pytest.raises(ValueError, match='steps'):
    teacher_cache.TeacherCache(tmp_path, _key(), steps=2)
  cache = teacher_cache.TeacherCache(tmp_path, _key(), steps=3)
  with pytest.raises(ValueError, match='shape'):
    cache.store(1, np.zeros((ROWS, 2, CLASSES), np.float32))
  with pytest.raises(ValueError, match='not finite in float16'):
    cache.epoch_logits(1, _compute(1, scale=1e6))
  assert not cache.has_epoch(1)
  wide = teacher_cache.TeacherCache(tmp_path, _key(storage_dtype='float32'), steps=3)
  assert wide.epoch_logits(1, _compute(1, scale=1e6)).dtype == np.float32


def test_two_views_are_stored_side_by_side(tmp_path):
  key = _key(augmentation=(('views', ('weak', 'strong')),))
  cache = teacher_cache.TeacherCache(tmp_path, key, steps=3)
  logits = cache.epoch_logits(2, _compute(2, views=2))
  assert logits.shape == (ROWS, 2, CLASSES)
  np.testing.assert_allclose(logits[4:8].astype(np.float32), _compute(2, views=2)(1), rtol=2**-11)


# ---------------------------------------------------------------------------
# Cached training (kdjax.train with config.teacher_cache).
# ---------------------------------------------------------------------------
def _run_config(**overrides):
  c = config_lib.smoke_config(recipes.method_config('kd', 'resnet8', 'resnet8'))
  c.update(smoke_examples=20, smoke_steps=3, **overrides)  # Steps of 8, 8 and 4 examples.
  c.method = None
  return config_lib.validate(c)


def _compiles(records, name='train_step'):
  return sum(f'Compiling jit({name})' in r.getMessage() or f'Compiling {name}' in r.getMessage()
             for r in records)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """An uncached run, then a cached run (float32 storage) filling the cache, then one reading it."""
  root = tmp_path_factory.mktemp('runs')
  cache_dir = str(root / 'cache')
  handler = _Records()
  logger = logging.getLogger('jax')
  logger.addHandler(handler)
  out = {'cache_dir': cache_dir}
  try:
    with jax.log_compiles():
      out['uncached'] = train.train_and_evaluate(_run_config(), str(root / 'uncached'))
      out['uncached_compiles'] = _compiles(handler.records)
      handler.records.clear()
      out['filled'] = train.train_and_evaluate(_cached_config(cache_dir), str(root / 'fill'))
      out['cached_compiles'] = _compiles(handler.records)
  finally:
    logger.removeHandler(handler)
  out['hit'] = train.train_and_evaluate(_cached_config(cache_dir), str(root / 'hit'))
  return out


def _cached_config(cache_dir, **overrides):
  # float32 storage: the cached run must then match the uncached one to float rounding.
  return _run_config(teacher_cache=cache_dir, teacher_cache_dtype='float32', **overrides)


class _Records(logging.Handler):
  def __init__(self):
    super().__init__(level=logging.DEBUG)
    self.records = []

  def emit(self, record):
    self.records.append(record)


def _cache_dirs(root):
  return sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))


@pytest.mark.slow
def test_an_epoch_compiles_once_per_batch_shape(runs):
  # Steps of 8, 8 and 4 examples over 2 epochs: one compilation for 8, one for the last 4.
  assert runs['uncached_compiles'] == 2
  assert runs['cached_compiles'] == 2


@pytest.mark.slow
def test_cached_run_trains_like_the_uncached_run(runs):
  """The cached logits come from another program (the teacher alone, not fused into the step),
  so they may differ from the step's by a few ulps; six steps carry that as far as float32
  guarantees (``method_checks.assert_same_states``: each part's difference within RTOL of what
  training changed). Filling and reading the cache give identical runs (same inputs, same
  program)."""
  def leaves(state):
    return {jax.tree_util.keystr(path): np.asarray(x) for path, x in
            jax.tree_util.tree_leaves_with_path(jax.device_get(state))}

  prepared = train.prepare_run(_run_config())
  initial = leaves(prepared.program.init(np.uint32(0)))
  for name in ('filled', 'hit'):
    method_checks.assert_same_states(leaves(runs[name].state), leaves(runs['uncached'].state),
                                     initial)
  assert runs['hit'].summary['last_top1'] == runs['filled'].summary['last_top1']


@pytest.mark.slow
def test_cache_holds_the_teachers_logits_on_the_augmented_views(runs):
  """Stored rows = the teacher on ``train_view`` of each example, with its key built here."""
  (digest,) = _cache_dirs(runs['cache_dir'])
  cache_dir = os.path.join(runs['cache_dir'], digest)
  assert sorted(os.listdir(cache_dir)) == ['epoch_0001.bin', 'epoch_0001.json', 'epoch_0002.bin',
                                           'epoch_0002.json', 'meta.json']
  config = _run_config()
  source = sources.open_source(config)
  train_split, mean, std = source.train, source.mean, source.std
  teacher_vars = teachers.load_variables(config, 100, train_split.image_shape)
  teacher = steps.create_model('resnet8', 100, 'float32')

  @jax.jit
  def logits_of(image, seed, epoch, step, slot):
    key = jax.random.key(seed)
    for part in (epoch, step, slot):  # example_keys: fold_in(seed) <- epoch <- step <- slot
      key = jax.random.fold_in(key, part)
    view = data.train_view(key[None], image[None], mean, std)
    return teacher.apply(teacher_vars, view, train=False)[0]

  stored = np.fromfile(os.path.join(cache_dir, 'epoch_0002.bin'), np.float32).reshape(20, 1, 100)
  perm = data.epoch_permutation(config.seed, 2, 20)
  for position in range(20):  # Steps of 8, 8 and 4 examples.
    step, slot = divmod(position, 8)
    fresh = logits_of(train_split.images[perm[position]], config.seed, 2, step, slot)
    np.testing.assert_allclose(stored[position, 0], fresh, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_changed_seed_or_teacher_or_data_opens_another_cache(runs, tmp_path):
  config = _cached_config(runs['cache_dir'])
  source = sources.open_source(config)
  train_split = source.train
  teacher_vars = teachers.load_variables(config, 100, train_split.image_shape)
  views = source.views(strong=False, strong_crop='independent')
  key = teacher_cache.run_key(config, views, teacher_vars, train_split, rows=20)
  assert key.digest() == _cache_dirs(runs['cache_dir'])[0]  # The runs' cache.
  other_seed = _cached_config(runs['cache_dir'], seed=1)
  bumped = jax.tree.map(lambda x: x, teacher_vars)
  bumped['params']['fc']['bias'] = bumped['params']['fc']['bias'] + 1e-3
  images = train_split.images.copy()
  images[0, 0, 0, 0] ^= 1
  bf16 = _cached_config(runs['cache_dir'], compute_dtype='bfloat16')
  changed = [
      teacher_cache.run_key(other_seed, views, teacher_vars, train_split, rows=20),
      teacher_cache.run_key(config, views, bumped, train_split, rows=20),
      teacher_cache.run_key(config, views, teacher_vars,
                            dataclasses.replace(train_split, images=images), rows=20),
      teacher_cache.run_key(bf16, views, teacher_vars, train_split, rows=20),
      teacher_cache.run_key(config, source.views(strong=True, strong_crop='independent'),
                            teacher_vars, train_split, rows=20),
      teacher_cache.run_key(config, source.views(strong=True, strong_crop='shared'),
                            teacher_vars, train_split, rows=20),
  ]
  assert len({k.digest() for k in changed} | {key.digest()}) == 7
  strong = dict(changed[-1].augmentation)['strong']
  assert dict(strong)['crop'] == 'shared' and dict(strong)['randaugment_ops'] == 2
  # A run with another seed fills a second cache next to the first.
  train.train_and_evaluate(other_seed, str(tmp_path / 'seed1'))
  assert len(_cache_dirs(runs['cache_dir'])) == 2


@pytest.mark.slow
def test_corrupt_cache_is_a_clear_error(runs, tmp_path):
  cache_dir = str(tmp_path / 'cache')
  shutil.copytree(runs['cache_dir'], cache_dir)
  for digest in _cache_dirs(cache_dir):
    path = os.path.join(cache_dir, digest, 'epoch_0001.bin')
    payload = bytearray(open(path, 'rb').read())
    payload[100] ^= 0xFF
    open(path, 'wb').write(bytes(payload))
  with pytest.raises(teacher_cache.TeacherCacheCorruptError, match='delete'):
    train.train_and_evaluate(_cached_config(cache_dir), str(tmp_path / 'run'))


def test_streaming_data_and_feature_methods_refuse_the_cache_clearly(tmp_path):
  imagenet = config_lib.smoke_config(recipes.method_config('kd', 'resnet34', 'resnet18'))
  imagenet.teacher_cache, imagenet.method = str(tmp_path / 'cache'), None
  with pytest.raises(teacher_cache.TeacherCacheError, match='augmentation on the devices'):
    train.train_and_evaluate(imagenet, str(tmp_path / 'imagenet'))
  fitnet = _run_config(teacher_cache=str(tmp_path / 'cache'))
  fitnet = config_lib.validate(config_lib.apply_preset(fitnet, 'fitnet'))
  with pytest.raises(teacher_cache.TeacherCacheError, match="teacher's features"):
    train.train_and_evaluate(fitnet, str(tmp_path / 'fitnet'))


def test_config_dtypes_are_the_storage_dtypes():
  assert set(config_lib.TEACHER_CACHE_DTYPES) == set(teacher_cache.STORAGE_DTYPES)
  with pytest.raises(ValueError, match='teacher_cache_dtype'):
    _run_config(teacher_cache_dtype='int8')
