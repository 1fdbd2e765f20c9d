"""Runs that survive: the workdir's config guard and orbax checkpoints with fallback.

A workdir holds one run:

  ``config.json``      the run's config (written at the start; a restart with a
                       different config is refused, ``check_config``)
  ``checkpoints/<epoch>/``  orbax checkpoints (train state + a JSON ``meta`` with
                       the epoch, best top-1 and elapsed time), one per epoch; the
                       last ``keep`` and the best by test top-1 are kept
  ``unreadable_checkpoints/<epoch>/``  checkpoints that failed to restore, moved
                       aside (never deleted) so that the run can continue

Restoring is exact (same bits), so a resumed run ends with exactly the
parameters of an uninterrupted one: everything else a step uses derives from
``(seed, epoch, step)``.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp
from absl import logging

from kdjax import config as config_lib

CONFIG_FILE = 'config.json'
CHECKPOINT_DIR = 'checkpoints'
UNREADABLE_DIR = 'unreadable_checkpoints'


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
  may differ; any other difference refuses the restart.

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

  def restore_latest(self, target: Any) -> tuple[Any, dict[str, Any]] | None:
    """Restores the newest readable checkpoint; None when there is none.

    An unreadable checkpoint is logged (a warning naming its epoch), moved to
    ``<workdir>/unreadable_checkpoints/`` and the previous one is tried.

    Raises:
      NoReadableCheckpointError: checkpoints exist but none can be restored.
    """
    steps = self.steps()
    failures = []
    for epoch in reversed(steps):
      try:
        restored = self.restore(epoch, target)
      except Exception as error:  # orbax raises many types for damaged files.  # pylint: disable=broad-except
        logging.warning('checkpoint of epoch %d in %s is unreadable (%s: %s); falling back to '
                        'the previous checkpoint', epoch, self.directory, type(error).__name__,
                        str(error)[:300])
        failures.append(epoch)
        continue
      if failures:
        self._move_aside(failures)
      return restored
    if failures:
      raise NoReadableCheckpointError(
          f'no checkpoint in {self.directory} can be restored (epochs {failures}); refusing to '
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
        logging.warning('moved the unreadable checkpoint of epoch %d to %s', epoch, target)
    self._manager = self._open()

  def wait(self) -> None:
    """Blocks until background saves have finished."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    """Waits for pending saves and releases the manager."""
    self._manager.wait_until_finished()
    self._manager.close()
