"""The workdir of a run stays the run's: one process at a time, no links out, faults named.

``claim(workdir)`` (``train.train_and_evaluate`` holds it for the whole run):

* **One process per workdir.** ``<workdir>/kdjax.lock`` (``kdjax.lock.<i>`` for
  process ``i`` of a multi-host run) holds the host and pid of its owner under an
  exclusive ``flock``; a second process is refused at once, naming the owner. The
  kernel drops the ``flock`` of a process that died, so a lock file left by a
  killed run on this host is stale and taken over; a lock file naming another
  host cannot be checked from here and is refused with the command to remove it.
* **No write leaves the workdir.** A symbolic link anywhere inside the workdir
  (``metrics.jsonl``, ``config.json``, ``checkpoints/``, ...) is refused before
  anything is written, and the files of ``kdjax.logs`` / ``kdjax.checkpointing``
  are opened with ``O_NOFOLLOW`` and replaced atomically (``write_text``), so a
  failed write (a full disk) never truncates what was there.
* **A full disk is one line.** ``ENOSPC`` / ``EDQUOT`` raised anywhere in the run
  becomes ``DiskFullError``: the path, and what is intact (the newest complete
  checkpoint and the epochs of ``metrics.jsonl``).

The workdir itself may be a link (``runs -> /scratch/runs``): it is the user's choice
of where the run lives; only links inside it are refused.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import json
import logging as std_logging
import os
import re
import socket
import stat
import tempfile
import time
from typing import Any, Callable, Iterator

LOCK_FILE = 'kdjax.lock'
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class WorkdirError(ValueError):
  """The workdir cannot be used as it is (a link inside it, a damaged file)."""


class WorkdirInUseError(WorkdirError):
  """Another process holds the workdir's lock."""


class DiskFullError(OSError):
  """No space left while writing the run; the message says what is intact."""

  def __init__(self, message: str, filename: str | None = None):
    super().__init__(errno.ENOSPC, message, filename)
    self.message = message

  def __str__(self) -> str:
    return self.message


# ------------------------------------------------------------------------------------------------
# Writing inside the workdir.
def _open_no_follow(path: str, flags: int) -> int:
  try:
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
  except OSError as error:
    if error.errno == errno.ELOOP:
      raise WorkdirError(f'{path} is a symbolic link (to {os.readlink(path)}); kdjax writes only '
                         f'regular files inside the workdir: replace the link with the file it '
                         f'points to, or use another --workdir') from None
    raise


def write_text(path: str, text: str) -> None:
  """Replaces ``path`` with ``text`` atomically (a temporary file renamed over it).

  The rename replaces a link rather than following it, and a failed write (a
  full disk) leaves the previous file whole.
  """
  folder, name = os.path.split(os.path.abspath(path))
  try:
    status = os.stat(path, follow_symlinks=False)
    mode = status.st_mode & 0o777 if stat.S_ISREG(status.st_mode) else 0o644
  except FileNotFoundError:
    mode = 0o644
  fd, tmp = tempfile.mkstemp(prefix=f'.{name}.', suffix='.tmp', dir=folder)
  try:
    os.fchmod(fd, mode)
    with os.fdopen(fd, 'w') as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.unlink(tmp)
    raise


def append_text(path: str, text: str) -> None:
  """Appends ``text`` to ``path`` (created if needed), never through a link."""
  fd = _open_no_follow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
  with os.fdopen(fd, 'a') as f:
    f.write(text)


def read_text(path: str) -> str:
  """The text of ``path`` (never through a link)."""
  fd = _open_no_follow(path, os.O_RDONLY)
  with os.fdopen(fd) as f:
    return f.read()


def find_links(workdir: str) -> list[str]:
  """The symbolic links inside ``workdir`` (the workdir itself may be one)."""
  if not os.path.isdir(workdir):
    return []
  links = []
  for folder, dirs, files in os.walk(workdir):
    links += [os.path.join(folder, n) for n in dirs + files
              if os.path.islink(os.path.join(folder, n))]
  return sorted(links)


def check_links(workdir: str) -> None:
  """Raises ``WorkdirError`` naming the first link inside ``workdir`` (and where it points)."""
  links = find_links(workdir)
  if links:
    more = f' (and {len(links) - 1} more)' if len(links) > 1 else ''
    raise WorkdirError(
        f'{links[0]} is a symbolic link (to {os.readlink(links[0])}){more}; a run writes only '
        f'inside its workdir: replace the link with what it points to, or use another --workdir')


# ------------------------------------------------------------------------------------------------
# The lock.
def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


class Lock:
  """An exclusive ``flock`` on ``<workdir>/<name>`` that records the owner's host and pid."""

  def __init__(self, workdir: str, name: str = LOCK_FILE):
    self.path = os.path.join(workdir, name)
    self._fd: int | None = None

  def owner(self) -> dict[str, Any]:
    """The recorded owner (``{}`` when the file is empty or unreadable)."""
    try:
      return json.loads(read_text(self.path) or '{}')
    except (OSError, ValueError):
      return {}

  def acquire(self) -> 'Lock':
    """Takes the lock, or raises ``WorkdirInUseError`` naming the process that holds it."""
    while True:
      fd = _open_no_follow(self.path, os.O_RDWR | os.O_CREAT)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        os.close(fd)
        raise WorkdirInUseError(self._in_use_message(self.owner())) from None
      try:  # The file we locked may have been removed by its previous owner: lock the new one.
        same = os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
      except FileNotFoundError:
        same = False
      if same:
        break
      os.close(fd)
    self._fd = fd
    owner = self.owner()
    here = socket.gethostname()
    if owner.get('host') not in (None, here):  # flock may not reach across hosts: ask the user.
      self.release(remove=False)
      raise WorkdirInUseError(self._in_use_message(owner, other_host=True))
    # Same host and the flock was free: the recorded process (if any) died holding it (stale).
    record = json.dumps({'host': here, 'pid': os.getpid(), 'since': time.strftime(
        '%Y-%m-%d %H:%M:%S %Z')}) + '\n'
    os.ftruncate(fd, 0)
    os.pwrite(fd, record.encode(), 0)
    return self

  def _in_use_message(self, owner: dict[str, Any], other_host: bool = False) -> str:
    who = (f"process {owner.get('pid', '?')} on host {owner.get('host', '?')} (since "
           f"{owner.get('since', '?')})")
    if other_host:
      return (f'{os.path.dirname(self.path)} is locked by {who}: another host may be running '
              f'in it. One process per workdir: if that run has ended, delete {self.path}; '
              f'otherwise use another --workdir')
    return (f'{os.path.dirname(self.path)} is in use by {who}. One process per workdir: wait '
            f'for that run to end (or stop it), or use another --workdir')

  def release(self, remove: bool = True) -> None:
    """Releases the lock (removing the file first, while still holding it)."""
    if self._fd is None:
      return
    if remove:
      with contextlib.suppress(OSError):
        os.unlink(self.path)
    os.close(self._fd)
    self._fd = None


def _process_index(config: Any) -> int:
  if config is not None and getattr(config, 'distributed', False):
    import jax  # pylint: disable=import-outside-toplevel
    return jax.process_index()
  return 0


# ------------------------------------------------------------------------------------------------
# A full disk.
_DISK_FULL_TEXT = tuple(f'[Errno {code}]' for code in _DISK_FULL) + tuple(
    f"os_error_code='{code}'" for code in _DISK_FULL) + (os.strerror(errno.ENOSPC),
                                                       os.strerror(errno.EDQUOT))


def mentions_disk_full(text: str) -> bool:
  """Whether an error text (Python's, or tensorstore's ``os_error_code``) says the disk is full."""
  return any(pattern in text for pattern in _DISK_FULL_TEXT)


def disk_full_cause(error: BaseException | None) -> OSError | None:
  """The ``ENOSPC`` / ``EDQUOT`` error behind ``error`` (its cause / context chain), if any.

  Orbax's writes go through tensorstore, whose errors are ``ValueError``s that carry
  the OS error code in their text; they become an ``OSError`` naming the file.
  """
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, OSError) and error.errno in _DISK_FULL:
      return error
    if mentions_disk_full(str(error)):
      path = re.search(r'"(/[^"]+)"', str(error))
      return OSError(errno.ENOSPC, str(error), path.group(1) if path else None)
    error = error.__cause__ or error.__context__
  return None


def _intact(workdir: str) -> str:
  """What a full disk left whole: the newest complete checkpoint and the logged epochs."""
  parts = []
  folder = os.path.join(workdir, 'checkpoints')
  done = sorted(int(n) for n in (os.listdir(folder) if os.path.isdir(folder) else [])
                if n.isdigit())
  parts.append(f'checkpoint {done[-1]} (the newest complete one) in {folder}' if done else
               'no checkpoint yet')
  epochs = []
  with contextlib.suppress(OSError, ValueError):
    for line in read_text(os.path.join(workdir, 'metrics.jsonl')).splitlines():
      with contextlib.suppress(ValueError):
        epochs.append(int(json.loads(line)['epoch']))
  parts.append(f'metrics of epochs {min(epochs)}-{max(epochs)}' if epochs else 'no metrics yet')
  return ' and '.join(parts)


class _DropWriterNoise(std_logging.Filter):
  """Drops orbax's records and those about a full disk (asyncio's unretrieved futures)."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
      text += ' ' + repr(record.exc_info[1])
    return '/orbax/' not in record.pathname and not mentions_disk_full(text)


def disk_full_error(workdir: str, cause: OSError) -> DiskFullError:
  """The one-line error; the writer threads still failing after it are silenced."""
  for name in ('absl', 'asyncio'):
    std_logging.getLogger(name).addFilter(_DropWriterNoise())
  path = cause.filename or workdir
  return DiskFullError(
      f'no space left on the device writing {path}; intact in {workdir}: {_intact(workdir)}. '
      f'Free some space and run the same command to resume', filename=path)


# ------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def claim(workdir: str, config: Any = None) -> Iterator[None]:
  """Holds ``workdir`` for one run: links refused, lock held, a full disk named.

  Multi-host runs (``config.distributed``) initialise ``jax.distributed`` first
  (``kdjax.parallel.initialize_distributed``, bounded by ``config.peer_timeout``) so
  that each process locks its own file.

  Raises:
    WorkdirError: a symbolic link inside the workdir.
    WorkdirInUseError: another process holds the workdir.
    DiskFullError: the device filled up during the run (raised from the original error).
  """
  created = not os.path.exists(workdir)
  try:
    check_links(workdir)
    if config is not None and getattr(config, 'distributed', False):
      from kdjax import parallel  # pylint: disable=import-outside-toplevel
      parallel.initialize_distributed(timeout=getattr(config, 'peer_timeout', None))
    index = _process_index(config)
    os.makedirs(workdir, exist_ok=True)
    lock = Lock(workdir, LOCK_FILE if index == 0 else f'{LOCK_FILE}.{index}').acquire()
  except OSError as error:
    cause = disk_full_cause(error)
    if cause is not None:
      raise disk_full_error(workdir, cause) from error
    raise
  try:
    yield
  except BaseException as error:
    if config is not None and getattr(config, 'distributed', False):
      from kdjax import parallel  # pylint: disable=import-outside-toplevel
      parallel.await_lost_peer(error)
    cause = disk_full_cause(error)
    if cause is not None and not isinstance(error, DiskFullError):
      raise disk_full_error(workdir, cause) from error
    raise
  finally:
    lock.release()
    if created:
      with contextlib.suppress(OSError):
        os.rmdir(workdir)  # only if the run left it empty (it failed before writing anything)


def claimed(train: Callable[..., Any]) -> Callable[..., Any]:
  """Decorates ``train(config, workdir, ...)`` to run under ``claim(workdir, config)``."""

  @functools.wraps(train)
  def wrapped(config, workdir, *args, **kwargs):
    with claim(workdir, config):
      return train(config, workdir, *args, **kwargs)

  return wrapped
