"""Data parallelism: one ``data`` mesh axis over every device, batch sharded, state replicated.

The train step is the same code on 1 or N devices (big_vision style): arrays
placed with ``data_sharding`` are split along their first axis over the mesh,
arrays placed with ``replicated`` live whole on every device, and ``jax.jit``
inserts the collectives (BatchNorm statistics and losses are over the GLOBAL
batch). Multi-host: call ``initialize_distributed()`` first; every process then
holds the same (replicated) datasets and feeds only its own rows of each global
batch (``global_batch``).
"""

from __future__ import annotations

import atexit
import math
import os
import sys
import threading
import time
from typing import Any

import jax
import numpy as np
from absl import logging
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = 'data'


def initialize_distributed(timeout: float | None = None) -> None:
  """``jax.distributed.initialize`` for a multi-process run (idempotent).

  The processes find each other through ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of
  process 0), ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` when they are set (any launcher
  can set them), else through JAX's cluster detection (SLURM, Open MPI, Cloud TPU, ...).

  Args:
    timeout: seconds (config ``peer_timeout``) that the processes wait for each
      other at start, and after which the coordination service declares a silent
      process lost (its heartbeat timeout) and stops the others with an error
      instead of letting them wait in a collective. None: JAX's defaults (300 s to
      start, 100 s of missed heartbeats).
  """
  if jax.distributed.is_initialized():
    return
  env = os.environ
  kwargs = {}
  if timeout is not None:
    seconds = max(int(math.ceil(timeout)), 1)
    kwargs = dict(initialization_timeout=seconds, heartbeat_timeout_seconds=seconds)
  if all(k in env for k in ('JAX_COORDINATOR_ADDRESS', 'JAX_NUM_PROCESSES', 'JAX_PROCESS_ID')):
    jax.distributed.initialize(coordinator_address=env['JAX_COORDINATOR_ADDRESS'],
                               num_processes=int(env['JAX_NUM_PROCESSES']),
                               process_id=int(env['JAX_PROCESS_ID']), **kwargs)
  else:
    jax.distributed.initialize(**kwargs)
  logging.info('process %d of %d, %d local / %d global devices', jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())
  if timeout is not None and jax.process_count() > 1:
    watch_peers(timeout)


def preemption_synced() -> bool:
  """Whether SIGTERM is a preemption notice that the processes of a multi-host run agree on.

  ``jax.distributed.initialize`` starts JAX's preemption sync manager (on CPU too, through the
  coordination service): its notifier takes SIGTERM in any process, tells the others, and all
  of them compute one step to stop at, the largest step any of them has reported plus one
  (``jax.experimental.multihost_utils.reached_preemption_sync_point``, which orbax's
  ``CheckpointManager.reached_preemption`` calls; every process asks at every step). True in a
  run of several processes with that manager; a single process handles SIGTERM itself.
  """
  from jax._src import distributed as jax_distributed  # pylint: disable=import-outside-toplevel
  state = jax_distributed.global_state
  return (jax.process_count() > 1 and getattr(state, 'client', None) is not None
          and getattr(state, 'preemption_sync_manager', None) is not None)


LOST_PEER_EXIT = 3  # the exit status of a process that stopped because a peer was lost
_ALIVE = 'kdjax/alive/'


def lost_peer_message(lost: list[int], timeout: float, me: int, count: int) -> str:
  """The one line process ``me`` of ``count`` prints when a peer went silent.

  The indices are passed in (read when the watcher starts): once a peer is gone, JAX's own
  calls can fail or block, so the watcher must not call them.
  """
  return (f'error: process(es) {", ".join(map(str, lost))} of this {count}-process '
          f'run gave no sign of life for {timeout / 2:g} s (half of peer_timeout={timeout:g}), '
          f'so process {me} stops too. Checkpoints already saved are intact: '
          f'restart every process with the same command to resume (a larger '
          f'--config.peer_timeout tolerates slower processes)')


def watch_peers(timeout: float) -> threading.Thread | None:
  """Starts a daemon thread that stops this process, in one line, when a peer goes silent.

  Every ``timeout / 8`` s each process bumps its counter in the coordination
  service's key-value store and reads the others'. A counter that has not moved
  for ``timeout / 2`` s means that process died (or hangs): this one prints
  ``lost_peer_message`` and exits with ``LOST_PEER_EXIT``, before JAX's own
  heartbeat timeout (``timeout``) aborts it with a C++ stack trace. A process that
  ends normally marks itself done (``atexit``) and is not waited for.
  """
  from jax._src import distributed as jax_distributed  # pylint: disable=import-outside-toplevel
  client = getattr(jax_distributed.global_state, 'client', None)
  if client is None or not hasattr(client, 'key_value_dir_get'):
    return None
  me, count = jax.process_index(), jax.process_count()
  atexit.register(lambda: _quietly(client.key_value_set, f'{_ALIVE}{me}', 'done',
                                   allow_overwrite=True))

  def watch():
    seen: dict[int, tuple[str, float]] = {p: ('', time.monotonic()) for p in range(count)
                                          if p != me}
    beat = 0
    while True:
      beat += 1
      try:
        client.key_value_set(f'{_ALIVE}{me}', str(beat), allow_overwrite=True)
        values = {key.rsplit('/', 1)[-1]: value for key, value in
                  client.key_value_dir_get(_ALIVE)}
      except Exception:  # pylint: disable=broad-except  (the service is gone: shutdown)
        return
      now = time.monotonic()
      for peer, (value, since) in list(seen.items()):
        current = values.get(str(peer), '')
        if current == 'done':
          del seen[peer]
        elif current != value:
          seen[peer] = (current, now)
      lost = sorted(p for p, (_, since) in seen.items() if now - since > timeout / 2)
      if lost:
        try:
          print(lost_peer_message(lost, timeout, me, count), file=sys.stderr, flush=True)
        finally:
          os._exit(LOST_PEER_EXIT)  # pylint: disable=protected-access  (the main thread is blocked)
      time.sleep(max(timeout / 8, 0.25))

  thread = threading.Thread(target=watch, name='kdjax-peer-watch', daemon=True)
  thread.start()
  _WATCH.update(thread=thread, timeout=timeout)
  return thread


_WATCH: dict[str, Any] = {'thread': None, 'timeout': None}


def await_lost_peer(error: BaseException) -> None:
  """Before a runtime error ends a multi-host process, gives ``watch_peers`` time to decide.

  A peer killed in the middle of a collective or a checkpoint barrier makes it fail
  in this process at once, often before the peer's silence is noticed; exiting then
  would end in JAX's shutdown barrier, which aborts with a C++ stack trace. Waiting
  up to ``timeout / 2`` (plus two polls) lets the watcher report the lost peer in one
  line; when no peer is lost, the error goes on as it was.
  """
  thread, timeout = _WATCH['thread'], _WATCH['timeout']
  runtime = (isinstance(error, (jax.errors.JaxRuntimeError, TimeoutError, ConnectionError))
             or 'Barrier' in str(error))
  if thread is None or not thread.is_alive() or not runtime:
    return
  thread.join(timeout / 2 + 2 * max(timeout / 8, 0.25) + 1)


def _quietly(fn, *args, **kwargs) -> None:
  try:
    fn(*args, **kwargs)
  except Exception:  # pylint: disable=broad-except
    pass


def create_mesh(devices: Any = None) -> Mesh:
  """A 1-D mesh with axis ``'data'`` over ``devices`` (default: all devices of all processes)."""
  devices = np.asarray(jax.devices() if devices is None else devices)
  return Mesh(devices.reshape(-1), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  """Sharding of a value held whole by every device (state, teacher, datasets)."""
  return NamedSharding(mesh, P())


def data_sharding(mesh: Mesh) -> NamedSharding:
  """Sharding of a batch: first axis split over the ``data`` axis."""
  return NamedSharding(mesh, P(DATA_AXIS))


def num_shards(mesh: Mesh) -> int:
  """Number of devices the batch is split over."""
  return mesh.shape[DATA_AXIS]


def put_replicated(tree: Any, mesh: Mesh) -> Any:
  """Places every leaf of ``tree`` (host values, identical on every process) on all devices."""
  sharding = replicated(mesh)

  def put(leaf):
    leaf = np.asarray(leaf)
    return jax.make_array_from_callback(leaf.shape, sharding, lambda index: leaf[index])

  return jax.tree.map(put, tree)


def process_rows(global_size: int, mesh: Mesh) -> slice:
  """The rows of a ``global_size`` batch that this process feeds (contiguous)."""
  index_map = data_sharding(mesh).addressable_devices_indices_map((global_size,))
  starts = [index[0].start or 0 for index in index_map.values()]
  stops = [global_size if index[0].stop is None else index[0].stop for index in index_map.values()]
  return slice(min(starts), max(stops))


def global_batch(values: np.ndarray, mesh: Mesh) -> jax.Array:
  """A global batch sharded over ``data``, built from this process's rows of ``values``.

  Every process passes the same full global ``values`` (e.g. the batch's example
  indices, derived from the seed); only its own rows are transferred.

  Raises:
    ValueError: when the batch does not split evenly over the devices.
  """
  values = np.asarray(values)
  shards = num_shards(mesh)
  if values.shape[0] % shards:
    raise ValueError(f'a batch of {values.shape[0]} does not split over {shards} devices: '
                     f'use a batch size divisible by the device count')
  local = values[process_rows(values.shape[0], mesh)]
  return jax.make_array_from_process_local_data(data_sharding(mesh), local, values.shape)


def to_host(tree: Any) -> Any:
  """Fetches a tree of replicated (or fully addressable) arrays to numpy, on every process."""

  def fetch(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      if not x.sharding.is_fully_replicated:
        raise ValueError('to_host needs replicated arrays on multi-host runs')
      x = x.addressable_data(0)
    return np.asarray(jax.device_get(x))

  return jax.tree.map(fetch, tree)


def local_to_global(values: np.ndarray, mesh: Mesh) -> jax.Array:
  """A global batch sharded over ``data`` from THIS process's rows (every process passes its own).

  The global batch is the processes' rows in process order (``process_rows``).
  """
  return jax.make_array_from_process_local_data(data_sharding(mesh), np.asarray(values))
