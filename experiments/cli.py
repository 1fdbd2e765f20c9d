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
  and exit with 130 / 143 (SIGINT too when a launching shell script ignored it).
* A mistyped flag or config field (``--config.epoch=2``) is one ``error:`` line
  with the closest names ("did you mean"), exit status 2. A repeated
  ``--config.<field>`` replaces the earlier value (a tuple is one value:
  ``--config.lr_decay_epochs=150,180,210``).
* ``--help`` lists the command's flags and every config field with its value and
  meaning (``--config_help``: the fields only); a training command prints the
  settings that differ from ``kdjax.config.get_config()`` before it starts, and
  ``--dry_run`` prints them with the workdir and exits.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import sys
from typing import Any, Callable, Sequence

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


def last_overrides_win(argv: Sequence[str], name: str = 'config') -> list[str]:
  """``argv`` with each repeated ``--<name>.<field>=<value>`` reduced to its last occurrence.

  ml_collections appends the values of a repeated tuple field (``(150, 180) + (30,)``);
  like every other flag, the last value given is the one used.
  """
  def field(arg: str) -> str | None:
    match = re.match(rf'--{name}\.([\w.]+)=', arg)
    return match.group(1) if match else None

  last = {field(a): i for i, a in enumerate(argv) if field(a)}
  return [a for i, a in enumerate(argv) if field(a) is None or last[field(a)] == i]


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


def _usage_error(command: str, text: str) -> None:
  print(f'{command}: error: {text}', file=sys.stderr, flush=True)
  sys.exit(USER_ERROR_EXIT)


def config_fields() -> list[str]:
  """Every field of the config schema (``kdjax.config.get_config``), dotted."""
  from kdjax import config as config_lib  # pylint: disable=import-outside-toplevel
  return list(config_lib.flatten(config_lib.get_config().to_dict()))


def unknown_config_fields(argv: Sequence[str], name: str = 'config') -> list[str]:
  """The ``--<name>.<field>`` overrides of ``argv`` that name no field of the schema."""
  fields = set(config_fields())
  groups = {f.rsplit('.', 1)[0] for f in fields if '.' in f}
  overrides = [m.group(1) for a in argv if (m := re.match(rf'--(?:no)?{name}\.([\w.]+)', a))]
  return [o for o in overrides if o not in fields and o not in groups]


def _flag_error_text(error: BaseException, argv: Sequence[str]) -> str | None:
  """One line for a mistyped flag or config field (None: not such an error)."""
  if isinstance(error, flags.Error):  # e.g. "Unknown command line flag 'wrkdir'. Did you mean: workdir ?"
    return f'{error} (--help lists the flags)'
  if isinstance(error, (AttributeError, KeyError)) and 'config' in flags.FLAGS:
    unknown = unknown_config_fields(argv)
    if unknown:
      from kdjax import config as config_lib  # pylint: disable=import-outside-toplevel
      return '; '.join(f'--config.{u}: the config has no field {u!r}'
                       + config_lib.did_you_mean(u, config_fields(), prefix='--config.')
                       for u in unknown) + '; --config_help lists the fields'
  return None


def parse_flags(command: str) -> Callable[[list[str]], list[str]]:
  """absl's flag parser with brief errors (exit status 2) and ``--help`` listing the config.

  A config file's user error, a mistyped flag or config field: one ``error:`` line. (absl's
  own fallback parsed the command line twice, which made any ``--config.<field>`` override
  fail as "defined twice" and hid the real mistake.)
  """

  def parse(argv: list[str]) -> list[str]:
    wants_help = [a for a in argv[1:] if a in ('--help', '-h', '--helpshort', '-?')]
    wants_config_help = any(a in ('--config_help', '--config_help=true') for a in argv[1:])
    try:
      rest = flags.FLAGS([a for a in argv if a not in wants_help])
    except Exception as error:  # pylint: disable=broad-except
      if wants_help:  # e.g. a required flag left out: the help says which
        print(help_text(command), flush=True)
        sys.exit(0)
      debug = any(a in ('--debug', '--debug=true', '--debug=1', '--debug=True') for a in argv)
      if debug or os.environ.get('KDJAX_DEBUG'):
        raise
      cause = user_error(error)
      if cause is not None:
        _report(command, cause)
      text = _flag_error_text(error, argv)
      if text is None:
        raise
      _usage_error(command, text)
    if wants_help or wants_config_help:
      _print_to_a_pipe(help_text(command, fields_only=not wants_help))
      sys.exit(0)
    return rest

  return parse


def _print_to_a_pipe(text: str) -> None:
  """Prints ``text``; a reader that closes the pipe early (``| head``, ``| grep -m1``) ends the
  output quietly, as for any Unix filter, instead of a BrokenPipeError traceback."""
  try:
    print(text, flush=True)
  except BrokenPipeError:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush writes nowhere


def help_text(command: str, *, fields_only: bool = False) -> str:
  """The command's flags (its main module's and ``--config``'s) and the config fields."""
  fv = flags.FLAGS
  parts = []
  if not fields_only:
    doc = (sys.modules['__main__'].__doc__ or '').strip()
    parts.append(f'{command}: {doc}' if doc else command)
    parts.append('flags:\n' + fv.main_module_help())
    if 'config' in fv:
      parts.append(fv.module_help(__name__))
  if 'config' in fv:
    try:
      config = fv.config
    except Exception:  # pylint: disable=broad-except  # unparsed or a bad --config: no fields
      config = None
    if config is not None:
      parts.append(config_help(config))
  return '\n\n'.join(parts)


def config_help(config: Any) -> str:
  """Every config field: ``--config.<field>``, its value here and its meaning."""
  from kdjax import config as config_lib  # pylint: disable=import-outside-toplevel
  meanings = config_lib.field_meanings()
  values = config_lib.flatten(config.to_dict())
  width = max(len(f) for f in values) + 9
  lines = ['config fields (override with --config.<field>=<value>; values of this --config):']
  for field, value in values.items():
    lines.append(f'  --config.{field:<{width - 9}} {value!r:<18} {meanings.get(field, "")}'.rstrip())
  return '\n'.join(lines)


def non_default_settings(config: Any) -> list[str]:
  """``field = value`` for every field that differs from ``kdjax.config.get_config()``."""
  from kdjax import config as config_lib  # pylint: disable=import-outside-toplevel
  defaults = config_lib.flatten(config_lib.get_config().to_dict())
  values = config_lib.flatten(config.to_dict())
  return [f'{field} = {value!r}' for field, value in values.items()
          if field != 'method' and defaults.get(field, object()) != value]


def describe_run(config: Any, workdir: str) -> str:
  """What a training command will do: method, pair, workdir (new or resumed), settings."""
  from kdjax import logs  # pylint: disable=import-outside-toplevel
  pair = f'{config.teacher} -> {config.student}' if config.method != 'ce' else config.student
  rows = logs.read_metrics(workdir) if os.path.isdir(workdir) else []
  state = (f'resumes the run in {workdir} ({len(rows)} of {config.epochs} epochs logged)'
           if os.path.exists(os.path.join(workdir, 'config.json')) else f'new run in {workdir}')
  lines = [f'{config.method} {pair}, {config.dataset}, seed {config.seed}, {config.epochs} '
           f'epochs: {state}', 'settings that differ from the defaults (kdjax.config):']
  lines += [f'  {line}' for line in non_default_settings(config)] or ['  (none)']
  return '\n'.join(lines)


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
  sys.argv[:] = last_overrides_win(resolve_config_argv(sys.argv))
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  signal.signal(signal.SIGTERM, _terminate)
  # A shell script starting a command in the background sets SIGINT to "ignore"; the command
  # handles it anyway (stop after the step, save, exit 130).
  signal.signal(signal.SIGINT, signal.default_int_handler)
  app.run(guarded(main, command), flags_parser=parse_flags(command))


def define_config_flag(default: str, help_text: str) -> None:
  """``--config`` (``ml_collections`` config file, locked: overrides only change fields)."""
  from ml_collections import config_flags  # pylint: disable=import-outside-toplevel
  config_flags.DEFINE_config_file('config', default, help_text, lock_config=True)
  flags.DEFINE_bool('config_help', False, 'list the config fields with their values and '
                    'meanings, and exit')
  flags.DEFINE_bool('dry_run', False, 'print the resolved run (workdir, settings that differ '
                    'from the defaults) and exit without training')


def default_workdir(config) -> str:
  """``runs/<dataset>/<teacher>-<student>-<method>-seed<seed>`` (``-smoke`` in smoke mode)."""
  smoke = '-smoke' if config.smoke else ''
  name = f'{config.teacher or "none"}-{config.student}-{config.method}-seed{config.seed}{smoke}'
  return os.path.join('runs', config.dataset, name)


def train_config(config, workdir: str | None, *, dry_run: bool = False):
  """Trains ``config`` in ``workdir`` (default ``default_workdir``) and prints its summary.

  The run's description (``describe_run``) is printed first; ``dry_run`` stops there.
  """
  from kdjax import config as config_lib  # pylint: disable=import-outside-toplevel
  from kdjax import logs  # pylint: disable=import-outside-toplevel
  from kdjax import train  # pylint: disable=import-outside-toplevel
  config_lib.validate(config)
  workdir = workdir or default_workdir(config)
  print(describe_run(config, workdir), flush=True)
  if dry_run:
    print('dry run: nothing trained', flush=True)
    return None
  result = train.train_and_evaluate(config, workdir)
  print(logs.format_summary(result.summary), flush=True)
  return result
