"""Runs that survive: the workdir's config guard and orbax checkpoints with fallback.

A workdir holds one run:

  ``config.json``      the run's config (written at the start; a restart with a
                       different config is refused, ``check_config``)
  ``checkpoints/<n>/``  orbax checkpoints after ``n`` optimizer updates (train
                       state + a JSON ``meta`` with the epochs completed, the step
                       within the next one, best top-1 and elapsed time), at the end
                       of epochs and mid-epoch; the last ``keep`` and the best by
                       test top-1 are kept
  ``unreadable_checkpoints/<epoch>/``  checkpoints that failed to restore, moved
                       aside (never deleted) so that the run can continue

Restoring is exact (same bits), so a resumed run ends with exactly the
parameters of an uninterrupted one: everything else a step uses derives from
``(seed, epoch, step)``.
"""

from __future__ import annotations

import contextlib
import json
import logging as std_logging
import os
import shutil
import sys
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp
from absl import logging

from kdjax import config as config_lib

CONFIG_FILE = 'config.json'
CHECKPOINT_DIR = 'checkpoints'
UNREADABLE_DIR = 'unreadable_checkpoints'


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


def _differences(old: dict, new: dict) -> list[str]:
  old_flat, new_flat = config_lib.flatten(old), config_lib.flatten(new)
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
  (``kdjax.config.extends``: the stored config is then updated); any other
  difference refuses the restart.

  Args:
    workdir: the run directory (created if needed).
    config: this run's config.

  Returns:
    True when the workdir already held a run with this config.

  Raises:
    ConfigMismatchError: the stored config differs (the message lists the fields).
  """
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, CONFIG_FILE)
  new = json.loads(config_lib.to_json(config))
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    lines = _differences(old, new)
    if lines and config_lib.extends(old, config):  # only `epochs` grew: continue the run
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
    with open(path, 'w') as f:
      f.write(config_lib.to_json(config) + '\n')
  return False


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
    """Saves ``state`` and ``meta`` at ``epoch``; ``top1`` ranks it for best-keeping."""
    metrics = None if top1 is None else {'top1': float(top1)}
    self._manager.save(epoch, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                      meta=ocp.args.JsonSave(meta)),
                       metrics=metrics)

  def restore(self, epoch: int, target: Any) -> tuple[Any, dict[str, Any]]:
    """Restores the checkpoint of ``epoch`` into the structure and shardings of ``target``."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    restored = self._manager.restore(epoch, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    return restored['state'], dict(restored['meta'])

  def read_meta(self, checkpoint: int) -> dict[str, Any]:
    """The JSON metadata of a checkpoint (epoch, step, best top-1, ...)."""
    restored = self._manager.restore(checkpoint, args=ocp.args.Composite(
        meta=ocp.args.JsonRestore()))
    return dict(restored['meta'])

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

  def restore_latest(self, target: Any) -> tuple[Any, dict[str, Any]] | None:
    """Restores the newest readable checkpoint; None when there is none.

    Unreadable checkpoints are moved to ``<workdir>/unreadable_checkpoints/``
    (never deleted) and the previous one is tried; one warning names what was
    moved aside and which checkpoint the run continues from.

    Raises:
      NoReadableCheckpointError: checkpoints exist but none can be restored.
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
      if failures:
        self._move_aside([c for c, _ in failures])
        meta = restored[1]
        logging.warning(
            'unreadable checkpoint(s) %s moved to %s (%s); resuming from checkpoint %d '
            '(epoch %d, step %d)', ', '.join(str(c) for c, _ in failures),
            os.path.join(self.workdir, UNREADABLE_DIR), failures[0][1], checkpoint,
            int(meta.get('epoch', 0)) + (1 if meta.get('step') else 0), int(meta.get('step', 0)))
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
