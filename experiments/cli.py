"""What every command of ``experiments/`` shares: config files, quiet logs, errors, interrupts.

``cli.run(main)`` replaces ``absl.app.run(main)``:

* ``--config=<file>.py:<arg>`` loads from any directory: a path that does not
  exist where the command runs is looked up in this repository's
  ``experiments/configs/`` (``--config=seed001_table2:resnet32x4-ShuffleV2-kd``
  works too). Overrides are ``--config.<field>=<value>`` (``ml_collections``
  config flags), e.g. ``--config.logit.weight=3``.
* Logs are quiet by default (warnings and errors only: no TPU probe, no orbax
  INFO lines); ``--verbosity=0`` brings the INFO logs back.
* A user error (a bad config, missing data or teacher, a workdir holding
  another run, a corrupt checkpoint, ...), also one raised by the config file's
  ``get_config`` (an unknown method, cell or model), prints one short message
  naming the problem and the fix, and exits with status 2; ``--debug`` (or
  ``KDJAX_DEBUG=1``) shows the traceback instead.
* SIGINT (Ctrl-C) and SIGTERM stop a training run after its current step,
  save a checkpoint, print where it stopped and that the same command resumes,
  and exit with 130 / 143.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from typing import Callable, Sequence

from absl import app
from absl import flags
from absl import logging

from kdjax import extras

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'configs')
USER_ERROR_EXIT = 2

flags.DEFINE_bool('debug', False, 'show tracebacks of errors (also KDJAX_DEBUG=1)')


def resolve_config_path(value: str) -> str:
  """``<path>[:<arg>]`` with ``<path>`` made absolute: as given, or in ``experiments/configs``."""
  path, sep, arg = value.partition(':')
  candidates = [path, os.path.join(CONFIG_DIR, path), os.path.join(CONFIG_DIR, path + '.py'),
                os.path.join(CONFIG_DIR, os.path.basename(path))]
  if path.startswith('experiments' + os.sep):
    candidates.append(os.path.join(os.path.dirname(os.path.dirname(CONFIG_DIR)), path))
  for candidate in candidates:
    if os.path.isfile(candidate):
      return os.path.abspath(candidate) + sep + arg
  return value


def resolve_config_argv(argv: Sequence[str], name: str = 'config') -> list[str]:
  """``argv`` with the ``--config`` file resolved (``resolve_config_path``)."""
  out, args = [], list(argv)
  i = 0
  while i < len(args):
    arg = args[i]
    if arg.startswith(f'--{name}='):
      out.append(f'--{name}=' + resolve_config_path(arg.split('=', 1)[1]))
    elif arg == f'--{name}' and i + 1 < len(args):
      out += [arg, resolve_config_path(args[i + 1])]
      i += 1
    else:
      out.append(arg)
    i += 1
  return out


# The errors a user causes and fixes (reported as one message, no traceback). kdjax's own
# errors derive from these: config checks (ValueError), missing data / teachers
# (FileNotFoundError), a workdir holding another run, corrupt checkpoints and caches.
USER_ERRORS = (ValueError, KeyError, FileNotFoundError, FileExistsError, NotADirectoryError,
               IsADirectoryError, PermissionError, extras.MissingDependencyError)


class Terminated(BaseException):
  """SIGTERM outside a training loop (the loop itself stops cleanly and saves first)."""


def _terminate(signum, frame):
  del signum, frame
  raise Terminated()


def _debugging() -> bool:
  return bool(os.environ.get('KDJAX_DEBUG')) or (flags.FLAGS.is_parsed() and flags.FLAGS.debug)


def _message(error: BaseException) -> str:
  text = str(error)
  if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
    text = error.args[0]
  return text


def user_error(error: BaseException) -> BaseException | None:
  """The user error behind ``error`` (None: a bug, shown with its traceback).

  A config file's error reaches us wrapped: absl re-raises it as an
  ``IllegalFlagValueError`` while handling ml_collections' ``Error whilst parsing
  config file`` copy (whose text is the traceback), and ml_collections defers an
  ``IOError`` of ``get_config`` (e.g. a missing teacher) as ``Configuration is not
  available ...``, raised from the original on first access.
  """
  def config_file_copy(e: BaseException | None) -> bool:
    return (isinstance(e, (TypeError, ValueError)) and e.__context__ is not None
            and str(e).startswith('Error whilst parsing config file'))

  while True:
    if isinstance(error, flags.Error) and config_file_copy(error.__context__):
      error = error.__context__
    elif config_file_copy(error):
      error = error.__context__
    elif (isinstance(error, OSError) and error.__cause__ is not None
          and str(error).startswith('Configuration is not available')):
      error = error.__cause__
    else:
      return error if isinstance(error, USER_ERRORS) or _disk_full(error) else None


def _disk_full(error: BaseException) -> bool:
  """No space left (``kdjax.workdir.DiskFullError`` says where and what is intact)."""
  return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def _report(command: str, error: BaseException) -> None:
  print(f'{command}: error: {_message(error)}\n(--debug shows the traceback)',
        file=sys.stderr, flush=True)
  sys.exit(USER_ERROR_EXIT)


def parse_flags(command: str) -> Callable[[list[str]], list[str]]:
  """absl's flag parser, with a config file's user error reported briefly (exit status 2)."""

  def parse(argv: list[str]) -> list[str]:
    try:
      return flags.FLAGS(argv)
    except Exception as error:  # pylint: disable=broad-except
      cause = user_error(error)
      debug = any(a in ('--debug', '--debug=true', '--debug=1', '--debug=True') for a in argv)
      if cause is None or debug or os.environ.get('KDJAX_DEBUG'):
        if isinstance(error, flags.Error):
          return app.parse_flags_with_usage(argv)  # absl's usage message, exit status 1
        raise
      _report(command, cause)

  return parse


def guarded(main: Callable[[list[str]], None], command: str) -> Callable[[list[str]], None]:
  """``main`` with user errors and interrupts reported briefly (see the module docstring)."""

  def wrapped(argv: list[str]) -> None:
    if not any(a.startswith('--verbosity') or a.startswith('-v') for a in sys.argv[1:]):
      logging.set_verbosity(logging.WARNING)
    from kdjax import logs  # pylint: disable=import-outside-toplevel
    logs.quiet_library_logs()
    from kdjax import train  # pylint: disable=import-outside-toplevel
    try:
      main(argv)
    except train.Interrupted as stopped:
      print(f'\n{command}: {stopped}', file=sys.stderr, flush=True)
      sys.exit(stopped.exit_code)
    except (KeyboardInterrupt, Terminated) as stopped:
      name = 'SIGTERM' if isinstance(stopped, Terminated) else 'SIGINT'
      print(f'\n{command}: stopped by {name}; finished runs and saved checkpoints are kept: '
            f'run the same command again to resume', file=sys.stderr, flush=True)
      sys.exit(143 if isinstance(stopped, Terminated) else 130)
    except Exception as error:  # pylint: disable=broad-except
      cause = user_error(error)
      if cause is None or _debugging():
        raise
      _report(command, cause)

  return wrapped


def run(main: Callable[[list[str]], None], command: str | None = None) -> None:
  """``absl.app.run(main)`` with config paths resolved, quiet logs and brief errors."""
  command = command or os.path.basename(sys.argv[0]).removesuffix('.py')
  sys.argv[:] = resolve_config_argv(sys.argv)
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  signal.signal(signal.SIGTERM, _terminate)
  app.run(guarded(main, command), flags_parser=parse_flags(command))


def define_config_flag(default: str, help_text: str) -> None:
  """``--config`` (``ml_collections`` config file, locked: overrides only change fields)."""
  from ml_collections import config_flags  # pylint: disable=import-outside-toplevel
  config_flags.DEFINE_config_file('config', default, help_text, lock_config=True)


def default_workdir(config) -> str:
  """``runs/<dataset>/<teacher>-<student>-<method>-seed<seed>`` (``-smoke`` in smoke mode)."""
  smoke = '-smoke' if config.smoke else ''
  name = f'{config.teacher or "none"}-{config.student}-{config.method}-seed{config.seed}{smoke}'
  return os.path.join('runs', config.dataset, name)


def train_config(config, workdir: str | None):
  """Trains ``config`` in ``workdir`` (default ``default_workdir``) and prints its summary."""
  from kdjax import config as config_lib  # pylint: disable=import-outside-toplevel
  from kdjax import logs  # pylint: disable=import-outside-toplevel
  from kdjax import train  # pylint: disable=import-outside-toplevel
  config_lib.validate(config)
  result = train.train_and_evaluate(config, workdir or default_workdir(config))
  print(logs.format_summary(result.summary), flush=True)
  return result
