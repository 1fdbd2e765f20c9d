"""Runs that survive: the workdir's config guard and orbax checkpoints with fallback.

A workdir holds one run:

  ``config.json``      the run's config (written at the start; a restart with a
                       different config is refused, ``check_config``)
  ``checkpoints/<n>/``  orbax checkpoints after ``n`` optimizer updates (train
                       state + a JSON ``meta`` with the epochs completed, the step
                       within the next one, best top-1 and elapsed time), at the end
                       of epochs and mid-epoch; the last ``keep`` and the best by
                       test top-1 are kept
  ``unreadable_checkpoints/<epoch>/``  checkpoints that failed to restore (or
                       to verify), moved aside (never deleted) so that the run can continue

Restoring is exact (same bits), so a resumed run ends with exactly the
parameters of an uninterrupted one: everything else a step uses derives from
``(seed, epoch, step)``.

Every save first runs one reduction over the state on the devices
(``inspect_state``): whether every floating-point entry is finite, and a
checksum of each array's bits. A state holding NaN or inf is never written
(``DivergedError`` names the step and the last good checkpoint, so retention
can never replace the good checkpoints with diverged ones); the checksum
(over the state's bits and the metadata) is stored in the metadata and checked
on restore, so a checkpoint whose bytes changed on disk is handled like an
unreadable one instead of restoring silently different parameters.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import logging as std_logging
import os
import shutil
import sys
import threading
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from kdjax import config as config_lib
from kdjax import losses
from kdjax import optim
from kdjax import parallel
from kdjax import steps
from kdjax import workdir as workdir_lib

CONFIG_FILE = 'config.json'
CHECKPOINT_DIR = 'checkpoints'
UNREADABLE_DIR = 'unreadable_checkpoints'
CHECKSUM_KEY = 'state_checksum'


def _is_closed_loop_error(exc_type, exc) -> bool:
  return (exc_type is RuntimeError and str(exc) == 'Event loop is closed')


def _quiet_closed_loop_callbacks() -> None:
  """Drops the "Event loop is closed" tracebacks a failed orbax restore leaves behind.

  When a restore fails, orbax closes its event loop while tensorstore's reads of
  the damaged checkpoint are still completing; each late completion callback
  raises ``RuntimeError('Event loop is closed')`` in a tensorstore thread, which
  reports it through ``sys.unraisablehook`` (hundreds of tracebacks). They carry no
  information (the failure is reported once, by ``restore_latest``), so this hook
  drops exactly those and passes every other unraisable exception on.
  """
  previous = sys.unraisablehook
  if getattr(previous, '_kdjax_quiet', False):
    return

  def hook(unraisable):
    if not _is_closed_loop_error(unraisable.exc_type, unraisable.exc_value):
      previous(unraisable)

  hook._kdjax_quiet = True  # pylint: disable=protected-access
  sys.unraisablehook = hook


class _DropOrbaxRecords(std_logging.Filter):
  """Drops orbax's own log records (its messages about a damaged file repeat ours)."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return '/orbax/' not in record.pathname


class _DropOrbaxDiskFull(std_logging.Filter):
  """Drops orbax's error records (with tracebacks) about a full disk: the run reports it once
  (``kdjax.workdir.DiskFullError``: the path and what is intact)."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    if '/orbax/' not in record.pathname:
      return True
    text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
      text += ' ' + str(record.exc_info[1])
    return not workdir_lib.mentions_disk_full(text)


def _quiet_disk_full_records() -> None:
  logger = std_logging.getLogger('absl')
  if not any(isinstance(f, _DropOrbaxDiskFull) for f in logger.filters):
    logger.addFilter(_DropOrbaxDiskFull())


@contextlib.contextmanager
def _orbax_silenced():
  logger, drop = std_logging.getLogger('absl'), _DropOrbaxRecords()
  logger.addFilter(drop)
  try:
    yield
  finally:
    logger.removeFilter(drop)


class ConfigMismatchError(ValueError):
  """The workdir holds a run with a different config."""


class NoReadableCheckpointError(RuntimeError):
  """Every checkpoint of the workdir failed to restore."""


class DivergedError(losses.NonFiniteError):
  """The train state (or the epoch's metric sums) holds NaN or inf: nothing was saved from it."""


class ChecksumMismatchError(ValueError):
  """A checkpoint's state or metadata differ from what was written (bytes changed on disk)."""


# ------------------------------------------------------------------------------------------------
# One reduction over the state before each save and after each restore.
def _bits(x: jax.Array) -> jax.Array:
  """The bits of ``x`` as a flat uint32 vector (8-byte types: two words per entry)."""
  if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
    x = jax.random.key_data(x)
  if x.dtype == jnp.bool_:
    x = x.astype(jnp.uint8)
  width = jnp.dtype(x.dtype).itemsize
  unsigned = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint32}[width]
  return jax.lax.bitcast_convert_type(x, unsigned).astype(jnp.uint32).reshape(-1)


def _word_checksum(x: jax.Array) -> jax.Array:
  """``sum_i bits_i * (2 i + 1) mod 2**32``: exact integer arithmetic, so the same on any device
  layout; the odd weights make every single-bit change (and any swap of two words) change it."""
  bits = _bits(x)
  weights = jnp.arange(bits.shape[0], dtype=jnp.uint32) * jnp.uint32(2) + jnp.uint32(1)
  return jnp.sum(bits * weights, dtype=jnp.uint32)


@jax.jit
def _inspect(leaves: list[jax.Array]) -> tuple[jax.Array, jax.Array]:
  finite = [jnp.all(jnp.isfinite(x)) for x in leaves if jnp.issubdtype(x.dtype, jnp.inexact)]
  all_finite = jnp.all(jnp.stack(finite)) if finite else jnp.array(True)
  sums = (jnp.stack([_word_checksum(x) for x in leaves]) if leaves
          else jnp.zeros((0,), jnp.uint32))
  return all_finite, sums


def inspect_state(state: Any) -> tuple[bool, list[tuple[str, str, tuple[int, ...], int]]]:
  """``(every floating entry finite, [(leaf path, dtype, shape, word checksum)])``.

  One jitted reduction on the devices; only a bool and one uint32 per array reach the host.
  """
  with_paths = jax.tree_util.tree_leaves_with_path(state)
  leaves = [jnp.asarray(x) if not isinstance(x, jax.Array) else x for _, x in with_paths]
  finite, sums = parallel.to_host(_inspect(leaves))
  return bool(finite), [(jax.tree_util.keystr(path), str(x.dtype), tuple(x.shape), int(s))
                        for (path, _), x, s in zip(with_paths, leaves, sums)]


def _canonical(meta: dict[str, Any]) -> dict[str, Any]:
  return json.loads(json.dumps({k: v for k, v in meta.items() if k != CHECKSUM_KEY}))


def state_checksum(summary: list[tuple[str, str, tuple[int, ...], int]],
                   meta: dict[str, Any]) -> str:
  """SHA-256 over the per-array checksums (with paths, dtypes, shapes) and the metadata."""
  digest = hashlib.sha256()
  for entry in summary:
    digest.update(repr(entry).encode())
  digest.update(json.dumps(_canonical(meta), sort_keys=True).encode())
  return 'sha256:' + digest.hexdigest()


def describe_position(meta: dict[str, Any]) -> str:
  """``'epoch E, step S'`` (mid-epoch) or ``'the end of epoch E'`` of a checkpoint's metadata."""
  epoch, step = int(meta.get('epoch', 0)), int(meta.get('step', 0))
  return f'epoch {epoch + 1}, step {step}' if step else f'the end of epoch {epoch}'


def check_meta(meta: Any, steps_per_epoch: int | None = None) -> None:
  """Raises ``ValueError`` when checkpoint metadata is not what kdjax writes."""
  if not isinstance(meta, dict):
    raise ValueError(f'metadata is a {type(meta).__name__}, not a JSON object')
  for key in ('epoch', 'step'):
    value = meta.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
      raise ValueError(f'metadata {key}={value!r} is not a count (an integer >= 0)')
  if steps_per_epoch is not None and meta.get('step', 0) >= steps_per_epoch:
    raise ValueError(f"metadata step={meta['step']} is impossible with {steps_per_epoch} steps "
                     f'per epoch')


def _non_finite_metrics(meta: dict[str, Any]) -> list[str]:
  sums = meta.get('accumulator') or {}
  return sorted(k for k, v in sums.items() if not math.isfinite(float(v)))


def _stored_flat(old: Mapping[str, Any]) -> dict[str, Any]:
  """A stored config, flattened, with the schema's defaults for fields added to it since the
  run started (so a workdir of an earlier version resumes when they keep their defaults)."""
  defaults = config_lib.flatten(json.loads(config_lib.to_json(config_lib.get_config())))
  return {**defaults, **config_lib.flatten(old)}


def _differences(old: dict, new: dict) -> list[str]:
  old_flat, new_flat = _stored_flat(old), config_lib.flatten(new)
  ignored = set(config_lib.RESUMABLE_FIELDS)
  lines = []
  for key in sorted(set(old_flat) | set(new_flat)):
    if key in ignored:
      continue
    if old_flat.get(key, '<absent>') != new_flat.get(key, '<absent>'):
      lines.append(f'  {key}: workdir has {old_flat.get(key, "<absent>")!r}, '
                   f'this run has {new_flat.get(key, "<absent>")!r}')
  return lines


def check_config(workdir: str, config: ml_collections.ConfigDict) -> bool:
  """Writes ``config.json`` for a new run, or checks it against the stored one.

  Fields listed in ``kdjax.config.RESUMABLE_FIELDS`` (paths, logging cadence)
  may differ, and ``epochs`` may grow where the schedule allows it
  (``extends``: the stored config is then updated); any other
  difference refuses the restart.

  Args:
    workdir: the run directory (created if needed).
    config: this run's config.

  Returns:
    True when the workdir already held a run with this config.

  Raises:
    ConfigMismatchError: the stored config differs (the message lists the fields).
    WorkdirError: the stored ``config.json`` is damaged (not a JSON object) or a link.
  """
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, CONFIG_FILE)
  new = json.loads(config_lib.to_json(config))
  if os.path.lexists(path):
    old = _read_stored_config(path)
    lines = _differences(old, new)
    if lines and extends(old, config):  # only `epochs` grew: continue the run
      lines = []
      if jax.process_index() == 0:
        with open(path, 'w') as f:
          f.write(config_lib.to_json(config) + '\n')
    if lines:
      raise ConfigMismatchError(
          f'{workdir} holds a run with a different config; refusing to resume or overwrite it.\n'
          + '\n'.join(lines) + '\nUse another --workdir, or delete this one to start over.')
    return True
  if jax.process_index() == 0:
    workdir_lib.write_text(path, config_lib.to_json(config) + '\n')
  return False


def extends(old: Mapping[str, Any], new: ml_collections.ConfigDict) -> bool:
  """Whether ``new`` continues the run of config ``old`` (a workdir's ``config.json``).

  True when the only difference (besides ``config.RESUMABLE_FIELDS``) is a larger ``epochs``
  and the schedule of the epochs already trained is unchanged by it: the learning rate and every
  per-epoch step input (DKD warm-up, CTKD lambda, ...) of epochs 1..old epochs are the same
  in both configs, so the trained epochs are exactly those of the longer run.
  """
  before = _stored_flat(old)
  after = config_lib.flatten(json.loads(config_lib.to_json(new)))
  changed = {k for k in set(before) | set(after) if k not in config_lib.RESUMABLE_FIELDS
             and before.get(k, '<absent>') != after.get(k, '<absent>')}
  if changed != {'epochs'} or not after['epochs'] > before['epochs']:
    return False
  previous = config_lib.from_mapping(old)
  for epoch in range(1, int(before['epochs']) + 1):
    if optim.learning_rate_at_epoch(previous, epoch) != optim.learning_rate_at_epoch(new, epoch):
      return False
    a, b = steps.scalars_of(previous, epoch), steps.scalars_of(new, epoch)
    if a.keys() != b.keys() or any(a[k] != b[k] for k in a):
      return False
  return True


def _read_stored_config(path: str) -> dict[str, Any]:
  """The workdir's ``config.json``, or one clear ``WorkdirError`` when it is damaged."""
  try:
    old = json.loads(workdir_lib.read_text(path))
  except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
    old = error
  if not isinstance(old, dict):
    what = (f'is not valid JSON ({old})' if isinstance(old, Exception)
            else f'holds a JSON {type(old).__name__}, not an object')
    raise workdir_lib.WorkdirError(
        f'{path} {what}: the workdir is damaged. Restore the file (it is the run\'s config) '
        f'or use another --workdir')
  return old


# Orbax's checkpointers number a save's steps with process-wide operation ids and signals, so
# two managers saving at once in one process (``experiments.distill`` trains two runs in
# threads) wait on each other's signals until they time out. Saves are therefore one at a time
# in a process, and when runs train in several threads each save also finishes before the lock
# is released (a single run keeps orbax's background writing).
_SAVE_LOCK = threading.Lock()


def _threads_saving() -> bool:
  """Whether runs may save from more than one thread of this process."""
  return threading.current_thread() is not threading.main_thread()


class Checkpoints:
  """Per-epoch orbax checkpoints of one workdir (step number = epoch).

  Attributes:
    directory: ``<workdir>/checkpoints``.
  """

  def __init__(self, workdir: str, *, keep: int = 3, asynchronous: bool = True):
    """Opens (or creates) the checkpoints of ``workdir``.

    Args:
      workdir: the run directory.
      keep: number of most recent checkpoints kept (the best one is kept too).
      asynchronous: write checkpoints in the background (``wait`` before exit).
    """
    self.workdir = os.path.abspath(workdir)
    self.directory = os.path.join(self.workdir, CHECKPOINT_DIR)
    self._keep, self._asynchronous = keep, asynchronous
    _quiet_disk_full_records()
    _quiet_closed_loop_callbacks()  # a failed save (a full disk) leaves them too
    with _orbax_silenced():  # a damaged checkpoint is reported once, by restore_latest
      self._manager = self._open()

  def _open(self) -> ocp.CheckpointManager:
    policy = ocp.checkpoint_managers.AnyPreservationPolicy([
        ocp.checkpoint_managers.LatestN(n=self._keep),
        ocp.checkpoint_managers.BestN(get_metric_fn=lambda metrics: metrics['top1'], n=1,
                                      keep_checkpoints_without_metrics=False),
    ])
    options = ocp.CheckpointManagerOptions(preservation_policy=policy,
                                           enable_async_checkpointing=self._asynchronous)
    return ocp.CheckpointManager(self.directory, options=options, item_names=('state', 'meta'))

  def steps(self) -> list[int]:
    """Epochs with a checkpoint, ascending."""
    return sorted(self._manager.all_steps())

  def save(self, epoch: int, state: Any, meta: dict[str, Any], top1: float | None) -> None:
    """Saves ``state`` and ``meta`` at ``epoch``; ``top1`` ranks it for best-keeping.

    The state is inspected first (``inspect_state``): its checksum goes into the
    saved metadata, and a state (or metric sums) holding NaN/inf is not saved.

    Raises:
      DivergedError: the state or ``meta['accumulator']`` is not finite; the
        message names the position and the last good checkpoint.
    """
    finite, summary = inspect_state(state)
    bad_sums = _non_finite_metrics(meta)
    if not finite or bad_sums:
      what = 'the train state' if not finite else f"the epoch's sums of {', '.join(bad_sums)}"
      raise DivergedError(self._diverged_message(what, meta))
    meta = dict(_canonical(meta))
    meta[CHECKSUM_KEY] = state_checksum(summary, meta)
    metrics = None if top1 is None else {'top1': float(top1)}
    with _SAVE_LOCK:
      self._manager.save(epoch, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                        meta=ocp.args.JsonSave(meta)),
                         metrics=metrics)
      if _threads_saving():
        self._manager.wait_until_finished()

  def reached_preemption(self, step: int) -> bool:
    """Whether every process of the run stops at optimizer update ``step``: a preemption
    notice (SIGTERM to any process) was synchronised to this step (orbax's
    ``CheckpointManager.reached_preemption``; False when the run is not distributed). Every
    process asks at every step, with the same step numbers."""
    return bool(self._manager.reached_preemption(step))

  def check_finite(self, values: dict[str, Any], meta: dict[str, Any]) -> None:
    """``losses.check_finite(**values)`` whose error names the position and last good checkpoint.

    Raises:
      DivergedError: a value (the epoch's metrics) is NaN or inf.
    """
    try:
      losses.check_finite(**values)
    except losses.NonFiniteError as error:
      raise DivergedError(self._diverged_message(str(error).split(' The losses')[0],
                                                 meta)) from None

  def _diverged_message(self, what: str, meta: dict[str, Any]) -> str:
    self.wait()
    last = 'no checkpoint was saved before it: the run starts from scratch when rerun'
    for checkpoint in reversed(self.steps()):
      try:
        with _orbax_silenced():
          good = self.read_meta(checkpoint)
      except Exception:  # pylint: disable=broad-except  (an unreadable one is not the last good)
        continue
      last = (f'the last good checkpoint, {checkpoint} ({describe_position(good)}), is kept in '
              f'{self.directory}: running the same command resumes from it')
      break
    return (f'the run diverged: {what} holds NaN/inf at {describe_position(meta)} (not saved); '
            f'{last}. Training is deterministic, so it will diverge again at the same step '
            f'unless a setting changes (e.g. a lower --config.lr), which needs a new --workdir')

  def restore(self, epoch: int, target: Any) -> tuple[Any, dict[str, Any]]:
    """Restores the checkpoint of ``epoch`` into the structure and shardings of ``target``.

    Raises:
      ChecksumMismatchError: the restored state or metadata differ from what was
        saved (checkpoints written before checksums existed are not checked).
      DivergedError: the restored state holds NaN/inf (written before the check existed).
      ValueError: the metadata are not what kdjax writes (``check_meta``).
    """
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    restored = self._manager.restore(epoch, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    state, meta = restored['state'], restored['meta']
    check_meta(meta)
    meta = dict(meta)
    finite, summary = inspect_state(state)
    expected = meta.pop(CHECKSUM_KEY, None)
    if expected is not None and state_checksum(summary, meta) != expected:
      raise ChecksumMismatchError('checksum mismatch: the state or metadata read differ from '
                                  'what was written')
    if not finite:
      raise DivergedError('the state holds NaN/inf')
    return state, meta

  def read_meta(self, checkpoint: int) -> dict[str, Any]:
    """The JSON metadata of a checkpoint (epoch, step, best top-1, ...)."""
    restored = self._manager.restore(checkpoint, args=ocp.args.Composite(
        meta=ocp.args.JsonRestore()))
    check_meta(restored['meta'])
    return {k: v for k, v in restored['meta'].items() if k != CHECKSUM_KEY}

  def epoch_checkpoints(self) -> dict[int, int]:
    """``{epoch: checkpoint id}`` of the checkpoints saved at the end of an epoch."""
    out = {}
    for checkpoint in self.steps():
      try:
        meta = self.read_meta(checkpoint)
      except Exception:  # pylint: disable=broad-except  (an unreadable one is simply not listed)
        continue
      if not meta.get('step'):
        out[int(meta['epoch'])] = checkpoint
    return out

  def restore_latest(self, target: Any, *, steps_per_epoch: int | None = None
                     ) -> tuple[Any, dict[str, Any]] | None:
    """Restores the newest readable checkpoint; None when there is none.

    Unreadable checkpoints (and those failing their checksum, holding NaN/inf or
    damaged metadata) are moved to ``<workdir>/unreadable_checkpoints/`` (never
    deleted) and the previous one is tried; one warning names what was moved
    aside and which checkpoint the run continues from.

    Args:
      target: a state of the run's structure and shardings.
      steps_per_epoch: this run's steps per epoch: a checkpoint at a step beyond
        them is refused (``WorkdirError``) rather than resumed.

    Raises:
      NoReadableCheckpointError: checkpoints exist but none can be restored.
      WorkdirError: the newest readable checkpoint is at an impossible position.
    """
    failures: list[tuple[int, str]] = []
    _quiet_closed_loop_callbacks()
    with _orbax_silenced():
      candidates = self.steps()
    for checkpoint in reversed(candidates):
      try:
        with _orbax_silenced():
          restored = self.restore(checkpoint, target)
      except Exception as error:  # orbax raises many types for damaged files.  # pylint: disable=broad-except
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ''
        failures.append((checkpoint, f'{type(error).__name__}: {reason[:160]}'))
        continue
      try:
        check_meta(restored[1], steps_per_epoch)
      except ValueError as error:
        raise workdir_lib.WorkdirError(
            f'checkpoint {checkpoint} in {self.directory} cannot belong to this run ({error}): '
            f'the workdir is damaged; move {self.directory} away or use another --workdir'
        ) from None
      if failures:
        self._move_aside([c for c, _ in failures])
        meta = restored[1]
        logging.warning(
            'unreadable checkpoint(s) %s moved to %s (%s); resuming from checkpoint %d at '
            'epoch %d, step %d', ', '.join(str(c) for c, _ in failures),
            os.path.join(self.workdir, UNREADABLE_DIR), failures[0][1], checkpoint,
            # The epoch the run goes on with (as the "resumed from epoch E, step S" line).
            int(meta.get('epoch', 0)) + 1, int(meta.get('step', 0)))
      return restored
    if failures:
      raise NoReadableCheckpointError(
          f'no checkpoint in {self.directory} can be restored ({failures[0][1]}); refusing to '
          f'restart from scratch over them: move the directory away or use another --workdir')
    return None

  def _move_aside(self, epochs: list[int]) -> None:
    """Moves unreadable checkpoints out of the manager's directory, so epochs can be re-saved."""
    self._manager.close()
    if jax.process_index() == 0:
      target_root = os.path.join(self.workdir, UNREADABLE_DIR)
      os.makedirs(target_root, exist_ok=True)
      for epoch in epochs:
        source = os.path.join(self.directory, str(epoch))
        target = os.path.join(target_root, str(epoch))
        if os.path.exists(target):
          shutil.rmtree(target)
        shutil.move(source, target)
    self._manager = self._open()

  def wait(self) -> None:
    """Blocks until background saves have finished."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    """Waits for pending saves and releases the manager."""
    self._manager.wait_until_finished()
    self._manager.close()
