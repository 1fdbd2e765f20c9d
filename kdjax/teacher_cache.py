"""Teacher-logit cache: a frozen teacher's logits on every augmented example, computed once.

The teacher is frozen and in inference mode, and the augmentation of the
example at position ``p = step * batch_size + i`` of epoch ``e`` is a pure
function of ``(seed, e, step, i)`` (``kdjax.data.example_keys``). Its logits
are therefore the same in every run that shares teacher, data, augmentation
and seed, whatever the method: a sweep computes them once and every other run
reads them instead of running the teacher (about two thirds of the FLOPs of a
resnet32x4 -> resnet8x4 step).

Layout of one cache (``TeacherCache.directory = <root>/<key digest>``)::

  meta.json          {'format', 'key', 'shape': [rows, views, classes], 'dtype'}
  epoch_0001.bin     raw [rows, views, classes] logits in the storage dtype
  epoch_0001.json    {'sha256', 'bytes'}: written last, marks the epoch complete

``rows`` are the epoch's positions in visiting order (the batch of step ``s``
is rows ``[s * B, (s + 1) * B)``) and ``views`` is 1, or 2 for MLKD (weak and
strong view). The directory name is a digest of the key (teacher and data
checksums, augmentation, seed, batch size, storage dtype), so a changed
teacher, data set, augmentation or seed never reads a stale cache: it opens
another directory and fills it. Every epoch read from disk has its checksum
checked and a few of its batches compared with a fresh teacher forward.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Callable

import jax
import ml_dtypes
import numpy as np

from kdjax import parallel

# 2: the per-example keys are fold_in(fold_in(fold_in(key(seed), epoch), step), position) and the
# augmentation is named by its parameters (augmentation_key).
FORMAT_VERSION = 2
STORAGE_DTYPES = {'float16': np.dtype(np.float16), 'bfloat16': np.dtype(ml_dtypes.bfloat16),
                  'float32': np.dtype(np.float32)}
# Relative rounding error of each storage dtype (half an ulp: 2^-(mantissa bits + 1)).
_ROUNDING = {'float16': 2.0**-11, 'bfloat16': 2.0**-8, 'float32': 2.0**-24}
# Relative difference two teacher forwards of one batch may show in each compute dtype
# (the cache is filled by a separate jitted function, so XLA may fuse differently).
_COMPUTE_NOISE = {'float32': 1e-4, 'bfloat16': 2.0**-6}


class TeacherCacheError(ValueError):
  """The cache cannot be used: corrupt, or inconsistent with a fresh teacher forward."""


class TeacherCacheCorruptError(TeacherCacheError):
  """A cache file is unreadable, truncated, or does not match its checksum or key."""


class TeacherCacheMismatchError(TeacherCacheError):
  """Cached logits differ from a fresh teacher forward by more than the storage tolerance."""


def checksum_arrays(*arrays: Any) -> str:
  """sha256 (hex) of the dtypes, shapes and bytes of ``arrays`` (host or device)."""
  digest = hashlib.sha256()
  for array in arrays:
    array = np.ascontiguousarray(parallel.to_host(array))
    digest.update(f'{array.dtype.str}{array.shape}'.encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def checksum_tree(tree: Any) -> str:
  """sha256 (hex) of a pytree's leaf paths, dtypes, shapes and bytes (e.g. teacher variables)."""
  digest = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    digest.update(jax.tree_util.keystr(path).encode())
    digest.update(checksum_arrays(leaf).encode())
  return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class CacheKey:
  """Everything the cached logits depend on; its digest names the cache directory.

  Attributes:
    teacher: teacher architecture (registry name).
    teacher_checksum: ``checksum_tree`` of the teacher's variables.
    num_classes: logits per example.
    compute_dtype: dtype the teacher runs in (``float32`` | ``bfloat16``).
    data_checksum: ``checksum_arrays`` of the train images and labels.
    num_examples: train set size.
    augmentation: the views' description (names, normalisation, options).
    seed: run seed (epoch order and augmentation keys).
    batch_size: global batch size (an example's key depends on its step and slot).
    rows: positions per epoch (``(steps - 1) * batch_size + last_batch``).
    storage_dtype: one of ``STORAGE_DTYPES``.
  """
  teacher: str
  teacher_checksum: str
  num_classes: int
  compute_dtype: str
  data_checksum: str
  num_examples: int
  augmentation: tuple[tuple[str, Any], ...]
  seed: int
  batch_size: int
  rows: int
  storage_dtype: str = 'float16'

  def __post_init__(self):
    if self.storage_dtype not in STORAGE_DTYPES:
      raise ValueError(f'teacher cache storage dtype must be one of {sorted(STORAGE_DTYPES)}, '
                       f'got {self.storage_dtype!r}')
    views = dict(self.augmentation).get('views')
    if not views:
      raise ValueError("CacheKey.augmentation needs a 'views' entry, e.g. ('weak',)")

  @property
  def views(self) -> tuple[str, ...]:
    return tuple(dict(self.augmentation)['views'])

  def to_json(self) -> dict[str, Any]:
    """JSON-compatible dict (stored in ``meta.json``)."""
    out = dataclasses.asdict(self)
    out['augmentation'] = {name: _jsonable(value) for name, value in self.augmentation}
    return out

  def digest(self) -> str:
    """First 20 hex digits of the sha256 of the canonical JSON key (the directory name)."""
    text = json.dumps({'format': FORMAT_VERSION, 'key': self.to_json()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _jsonable(value: Any) -> Any:
  if isinstance(value, (tuple, list)):
    return [_jsonable(v) for v in value]
  if isinstance(value, (np.floating, np.integer)):
    return value.item()
  return value


def _write_atomic(path: str, payload: bytes) -> None:
  tmp = f'{path}.tmp{os.getpid()}'
  with open(tmp, 'wb') as f:
    f.write(payload)
  os.replace(tmp, path)


class TeacherCache:
  """The cached teacher logits of one ``CacheKey`` under ``root`` (see the module docstring).

  Example (what ``kdjax.train`` does each epoch)::

    cache = TeacherCache(root, key, steps=steps)
    logits = cache.epoch_logits(epoch, compute)   # [rows, views, classes], storage dtype

  where ``compute(step)`` returns the teacher's float logits ``[b, views, classes]`` of
  that step's batch.
  """

  def __init__(self, root: str, key: CacheKey, *, steps: int, verify_batches: int = 2):
    """Opens (creating if needed) the cache directory of ``key`` under ``root``.

    Args:
      root: the cache root (``config.teacher_cache``); one subdirectory per key.
      key: what the logits depend on.
      steps: steps per epoch (``ceil(rows / batch_size)``).
      verify_batches: batches of every epoch read from disk that are compared
        with a fresh teacher forward (0 disables the check).

    Raises:
      TeacherCacheCorruptError: the directory's ``meta.json`` is unreadable or
        holds another key.
    """
    if steps != -(-key.rows // key.batch_size):
      raise ValueError(f'{key.rows} rows at batch {key.batch_size} make '
                       f'{-(-key.rows // key.batch_size)} steps, got steps={steps}')
    self.key, self.steps, self.verify_batches = key, steps, verify_batches
    self.dtype = STORAGE_DTYPES[key.storage_dtype]
    self.shape = (key.rows, len(key.views), key.num_classes)
    self.directory = os.path.join(os.fspath(root), key.digest())
    os.makedirs(self.directory, exist_ok=True)
    meta = {'format': FORMAT_VERSION, 'key': key.to_json(), 'shape': list(self.shape),
            'dtype': key.storage_dtype}
    path = os.path.join(self.directory, 'meta.json')
    if not os.path.exists(path):
      _write_atomic(path, json.dumps(meta, indent=1, sort_keys=True).encode())
      return
    try:
      with open(path) as f:
        stored = json.load(f)
    except (OSError, ValueError) as err:
      raise TeacherCacheCorruptError(
          f'teacher cache metadata {path} is unreadable ({err}): delete {self.directory} '
          f'and it is rebuilt on the next run') from err
    if stored != json.loads(json.dumps(meta)):
      raise TeacherCacheCorruptError(
          f'teacher cache {self.directory} holds another key than this run '
          f'(stored {stored.get("key")}, wanted {meta["key"]}): delete the directory')

  def _paths(self, epoch: int) -> tuple[str, str]:
    stem = os.path.join(self.directory, f'epoch_{epoch:04d}')
    return stem + '.bin', stem + '.json'

  def batch_rows(self, step: int) -> slice:
    """The rows of the batch of ``step``."""
    return slice(step * self.key.batch_size, min((step + 1) * self.key.batch_size, self.key.rows))

  def has_epoch(self, epoch: int) -> bool:
    """Whether ``epoch``'s logits were completely written (its checksum record exists)."""
    return os.path.exists(self._paths(epoch)[1])

  def store(self, epoch: int, logits: np.ndarray) -> None:
    """Writes ``epoch``'s ``[rows, views, classes]`` logits (atomically, record last).

    Raises:
      ValueError: wrong shape, or non-finite values (also after the cast: use
        ``storage_dtype='float32'`` when logits overflow float16).
    """
    logits = np.asarray(logits)
    if logits.shape != self.shape:
      raise ValueError(f'epoch {epoch} logits have shape {logits.shape}, the cache holds '
                       f'{self.shape} (rows, views, classes)')
    with np.errstate(over='ignore'):  # Overflow is reported below, with the fix.
      stored = np.ascontiguousarray(logits.astype(self.dtype))
    if not np.all(np.isfinite(stored.astype(np.float32))):
      raise ValueError(f'teacher logits of epoch {epoch} are not finite in '
                       f'{self.key.storage_dtype}: check the teacher, or store float32')
    payload = stored.tobytes()
    bin_path, record_path = self._paths(epoch)
    _write_atomic(bin_path, payload)
    record = {'sha256': hashlib.sha256(payload).hexdigest(), 'bytes': len(payload)}
    _write_atomic(record_path, json.dumps(record).encode())

  def load(self, epoch: int) -> np.ndarray:
    """``epoch``'s ``[rows, views, classes]`` logits in the storage dtype, checksum-checked.

    Raises:
      TeacherCacheCorruptError: missing, truncated or modified file.
    """
    bin_path, record_path = self._paths(epoch)
    fix = f'delete {bin_path} and {record_path} (the epoch is recomputed on the next run)'
    try:
      with open(record_path) as f:
        record = json.load(f)
      with open(bin_path, 'rb') as f:
        payload = f.read()
    except (OSError, ValueError) as err:
      raise TeacherCacheCorruptError(f'teacher cache epoch {epoch} is unreadable ({err}): '
                                     f'{fix}') from err
    expected = int(np.prod(self.shape)) * self.dtype.itemsize
    if len(payload) != expected or record.get('bytes') != expected:
      raise TeacherCacheCorruptError(f'teacher cache file {bin_path} has {len(payload)} bytes, '
                                     f'expected {expected}: {fix}')
    if hashlib.sha256(payload).hexdigest() != record.get('sha256'):
      raise TeacherCacheCorruptError(f'teacher cache file {bin_path} does not match its '
                                     f'checksum: {fix}')
    return np.frombuffer(payload, self.dtype).reshape(self.shape)

  def fill(self, epoch: int, compute: Callable[[int], Any]) -> np.ndarray:
    """Computes every batch of ``epoch`` with ``compute(step)``, stores and returns the logits."""
    out = np.empty(self.shape, np.float32)
    for start in range(0, self.steps, 64):  # Dispatch a chunk of steps, then fetch it.
      chunk = {step: compute(step) for step in range(start, min(start + 64, self.steps))}
      for step, logits in chunk.items():
        out[self.batch_rows(step)] = np.asarray(parallel.to_host(logits), np.float32)
    self.store(epoch, out)
    return out.astype(self.dtype)

  def tolerance(self) -> float:
    """Relative tolerance of a cached logit against a fresh forward (rounding + compute noise)."""
    return 2 * _ROUNDING[self.key.storage_dtype] + _COMPUTE_NOISE[self.key.compute_dtype]

  def verify(self, epoch: int, logits: np.ndarray, compute: Callable[[int], Any]) -> None:
    """Compares ``verify_batches`` batches of ``logits`` with a fresh ``compute(step)``.

    The batches are drawn per epoch (always including the last, partial one);
    an example passes when ``max |cached - fresh| <= tol * max(1, max |fresh|)``
    over its logits, ``tol = tolerance()``.

    Raises:
      TeacherCacheMismatchError: a batch differs (teacher, data or augmentation
        code changed without changing the key).
    """
    if self.verify_batches <= 0:
      return
    rng = np.random.default_rng((self.key.seed, epoch))
    count = min(self.verify_batches, self.steps)
    others = rng.choice(self.steps - 1, count - 1, replace=False) if count > 1 else ()
    tol = self.tolerance()
    for step in sorted({self.steps - 1, *(int(s) for s in others)}):
      fresh = np.asarray(parallel.to_host(compute(step)), np.float32)
      cached = np.asarray(logits[self.batch_rows(step)], np.float32)
      scale = np.maximum(1.0, np.max(np.abs(fresh), axis=-1))
      error = np.max(np.abs(cached - fresh), axis=-1) / scale
      if not np.all(error <= tol):
        raise TeacherCacheMismatchError(
            f'teacher cache {self.directory} epoch {epoch} step {step}: cached logits differ '
            f'from a fresh teacher forward by {float(np.max(error)):.3g} (relative; tolerance '
            f'{tol:.3g} for {self.key.storage_dtype} storage): the teacher, data or '
            f'augmentation code changed without changing the cache key. Delete '
            f'{self.directory} (it is rebuilt on the next run)')

  def epoch_logits(self, epoch: int, compute: Callable[[int], Any]) -> np.ndarray:
    """``epoch``'s ``[rows, views, classes]`` logits: read and spot-checked, or filled now."""
    if self.has_epoch(epoch):
      logits = self.load(epoch)
      self.verify(epoch, logits, compute)
      return logits
    return self.fill(epoch, compute)


def augmentation_key(views: Any) -> tuple[tuple[str, Any], ...]:
  """The train views of a run (``kdjax.data.sources.Views``), named by their parameters."""
  from kdjax.data import augment  # pylint: disable=import-outside-toplevel
  names = ('weak', 'strong') if views.strong else ('weak',)
  key = [('views', names), ('mean', tuple(views.mean)), ('std', tuple(views.std)),
         ('weak', (('pad', views.padding), ('crop', 'random'), ('flip', 0.5 if views.flip else 0)))]
  if views.strong:
    key.append(('strong', (('crop', views.strong_crop), ('pad', views.padding),
                           ('flip', 0.5 if views.flip else 0),
                           ('randaugment_ops', 2), ('cutout_max_fraction', 0.5),
                           ('cutout_fill', tuple(augment.CUTOUT_FILL)))))
  if views.mixup_alpha > 0 or views.cutmix_alpha > 0:  # the teacher sees the mixed views
    key.append(('mix', (('mixup_alpha', views.mixup_alpha), ('cutmix_alpha', views.cutmix_alpha),
                        ('prob', views.mix_prob), ('switch_prob', views.mix_switch_prob))))
  return tuple(key)


def open_for_run(config: Any, program: Any, teacher_vars: Any, source: Any, *,
                 steps: int, rows: int) -> 'TeacherCache | None':
  """The teacher-logit cache of a run under ``config.teacher_cache`` (None: off or no teacher).

  Raises:
    TeacherCacheError: the run's batches are not made on the devices (a streaming
      source), or its method reads teacher features, not only logits.
  """
  if not config.teacher_cache or program.teacher_logits is None:
    return None
  if not source.on_device:
    raise TeacherCacheError(
        f'the teacher-logit cache needs augmentation on the devices (CIFAR-100, digits); '
        f'{source.name} is cropped on the host and one epoch of its logits would take '
        f'{source.num_train * source.num_classes * 2 / 1e9:.1f} GB: drop teacher_cache')
  needs = program.distillation.needs
  if needs.features or needs.teacher_variables:
    raise TeacherCacheError(
        f'method {config.method!r} reads the teacher\'s features, which the teacher-logit '
        f'cache does not store: drop teacher_cache for this method')
  key = run_key(config, program.setup.views, teacher_vars, source.train, rows=rows)
  return TeacherCache(config.teacher_cache, key, steps=steps,
                      verify_batches=config.teacher_cache_verify)


def run_key(config: Any, views: Any, teacher_vars: Any, train: Any, *, rows: int) -> CacheKey:
  """What the teacher logits of a run depend on: teacher (name, checksum of its variables,
  compute dtype), data (checksum of the train images and labels), the views' augmentation,
  seed, batch size, the epoch's rows and the storage dtype."""
  return CacheKey(
      teacher=config.teacher, teacher_checksum=checksum_tree(teacher_vars),
      num_classes=train.num_classes, compute_dtype=config.compute_dtype,
      data_checksum=checksum_arrays(train.images, train.labels), num_examples=len(train),
      augmentation=augmentation_key(views), seed=int(config.seed),
      batch_size=int(config.batch_size), rows=rows, storage_dtype=config.teacher_cache_dtype)
