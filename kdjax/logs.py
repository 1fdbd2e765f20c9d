"""Metric writers of a run: TensorBoard events, ``metrics.csv``, ``metrics.jsonl``, progress, summary.

One row per epoch (``MetricWriter.write``) goes to all three files. On a resumed
run the CSV and JSON-lines files are cut back to the restored epoch first, so
that they hold each epoch exactly once. Only process 0 writes.
"""

from __future__ import annotations

import csv
import io
import json
import logging as std_logging
import math
import os
import sys
import threading
import time
from typing import Any, Mapping

import jax
import tqdm
from absl import logging

from kdjax import workdir as workdir_lib


def _summary_writer_class():
  """``tensorboardX.SummaryWriter``, imported without PyTorch.

  tensorboardX probes ``import torch`` only to accept torch tensors; kdjax writes floats, and
  importing PyTorch where it is installed costs every command seconds. Where torch is already
  imported nothing changes.
  """
  if 'torch' in sys.modules:
    from tensorboardX import SummaryWriter  # pylint: disable=import-outside-toplevel
    return SummaryWriter
  sys.modules['torch'] = None  # type: ignore[assignment]  # `import torch` raises ImportError
  try:
    from tensorboardX import SummaryWriter  # pylint: disable=import-outside-toplevel
  finally:
    del sys.modules['torch']
  return SummaryWriter


SummaryWriter = _summary_writer_class()

CSV_FILE = 'metrics.csv'
JSONL_FILE = 'metrics.jsonl'
SUMMARY_FILE = 'summary.json'
TENSORBOARD_DIR = 'tensorboard'


def _read_jsonl(path: str) -> list[dict[str, Any]]:
  """The rows of a ``metrics.jsonl``; a last line cut short by a failed write is dropped.

  Raises:
    WorkdirError: another line is not a JSON object with an integer ``epoch``.
  """
  if not os.path.lexists(path):
    return []
  lines = workdir_lib.read_text(path).split('\n')
  rows = []
  for number, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    try:
      row = json.loads(line)
    except ValueError:
      if number == len(lines):  # no newline after it: the write of this row was cut short
        continue
      row = None
    epoch = row.get('epoch') if isinstance(row, dict) else None
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
      raise workdir_lib.WorkdirError(
          f'{path} line {number} is not a metrics row (a JSON object with an epoch >= 1): '
          f'{line[:80]!r}. The workdir is damaged: repair or remove that line (the epochs after '
          f'the restored checkpoint are rewritten), or use another --workdir')
    rows.append(row)
  return rows


def read_metrics(workdir: str) -> list[dict[str, Any]]:
  """The per-epoch rows of a run (from ``metrics.jsonl``)."""
  return _read_jsonl(os.path.join(workdir, JSONL_FILE))


def _csv_text(columns: list[str], rows: list[Mapping[str, Any]]) -> str:
  out = io.StringIO()
  writer = csv.DictWriter(out, fieldnames=columns, extrasaction='ignore', lineterminator='\n')
  writer.writeheader()
  writer.writerows({k: row.get(k, '') for k in columns} for row in rows)
  return out.getvalue()


class MetricWriter:
  """Writes one row of scalars per epoch to TensorBoard, CSV and JSON lines."""

  def __init__(self, workdir: str, *, resume_epoch: int = 0):
    """Opens the writers of ``workdir``, keeping the rows of epochs ``<= resume_epoch``.

    ``metrics.jsonl`` is the record; ``metrics.csv`` is rebuilt from its kept rows.
    Both are replaced atomically (a failed write leaves them whole).
    """
    self._enabled = jax.process_index() == 0
    self._csv_path = os.path.join(workdir, CSV_FILE)
    self._jsonl_path = os.path.join(workdir, JSONL_FILE)
    self._columns: list[str] | None = None
    self._tb = None
    if not self._enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    rows = [r for r in _read_jsonl(self._jsonl_path) if r['epoch'] <= resume_epoch]
    workdir_lib.write_text(self._jsonl_path, ''.join(json.dumps(r) + '\n' for r in rows))
    if rows:
      self._columns = list(rows[0])
      workdir_lib.write_text(self._csv_path, _csv_text(self._columns, rows))
    elif os.path.lexists(self._csv_path):
      os.unlink(self._csv_path)
    self._tb = SummaryWriter(os.path.join(workdir, TENSORBOARD_DIR))

  def write(self, epoch: int, metrics: Mapping[str, float]) -> None:
    """Writes the scalars of ``epoch`` (``metrics`` must not contain ``epoch``)."""
    if not self._enabled:
      return
    row = {'epoch': epoch, **{k: float(v) for k, v in metrics.items()}}
    for name, value in metrics.items():
      # TensorBoard gets the finite values (tensorboardX prints a warning line per NaN/inf, which
      # buried a diverged run's one error line); metrics.jsonl/.csv keep every value, NaN too.
      if math.isfinite(float(value)):
        self._tb.add_scalar(name, float(value), epoch)
    self._tb.flush()
    workdir_lib.append_text(self._jsonl_path, json.dumps(row) + '\n')
    if self._columns is None:
      self._columns = list(row)
      workdir_lib.write_text(self._csv_path, _csv_text(self._columns, []))
    workdir_lib.append_text(self._csv_path,
                            _csv_text(self._columns, [row]).split('\n', 1)[1])

  def write_text(self, tag: str, text: str) -> None:
    """Adds a text entry (e.g. the config) to TensorBoard."""
    if self._enabled:
      self._tb.add_text(tag, text, 0)

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


class Progress:
  """Training progress on a tqdm bar: images/s and an ETA that leaves compilation out.

  ``run_started`` opens (or, for a job of several runs, continues) the bar;
  ``compiling`` marks the time the step spends compiling, which ``compiled``
  removes from the rate and ETA; ``advance`` counts trained images.
  One bar per run by default; ``experiments.distill`` keeps one bar over all
  its runs (``shared=True``, ``total_images`` of the whole job).
  """

  def __init__(self, *, enabled: bool = True, total_images: int | None = None,
               shared: bool = False):
    self.enabled = enabled and jax.process_index() == 0 and bar_wanted()
    self.shared, self._total = shared, total_images
    self.bar: tqdm.tqdm | None = None
    self._compile_start: float | None = None
    self._compiling = 0  # runs compiling now (a job may train runs in threads)
    self._lock = threading.Lock()
    self._desc = ''

  def run_started(self, desc: str, total_images: int, done_images: int) -> None:
    """A run of ``total_images`` starts, ``done_images`` of them already trained (resumed)."""
    self._desc = desc
    if self.bar is None or not self.shared:
      total = self._total if self.shared else total_images
      self.bar = tqdm.tqdm(total=total, initial=0 if self.shared else done_images, unit='img',
                           unit_scale=True, disable=not self.enabled, desc=desc,
                           dynamic_ncols=True, smoothing=0.1)
    if self.shared:
      self.bar.update(done_images)
      self.bar.set_description_str(desc)

  def compiling(self) -> None:
    """The next steps compile (the rate and ETA exclude the time until ``compiled``)."""
    with self._lock:
      self._compiling += 1
      if self._compiling == 1:
        self._compile_start = time.time()
      if self.bar is not None:
        self.bar.set_description_str(f'{self._desc} (compiling)')

  def compiled(self) -> None:
    with self._lock:
      self._compiling = max(self._compiling - 1, 0)
      if self._compiling or self._compile_start is None:
        return
      if self.bar is not None and not self.bar.disable:
        self.bar.start_t += time.time() - self._compile_start
        self.bar.set_description_str(self._desc)
      self._compile_start = None

  def advance(self, images: int) -> None:
    if self.bar is not None:
      self.bar.update(images)

  def status(self, **values: Any) -> None:
    if self.bar is not None:
      self.bar.set_postfix(values, refresh=False)

  def write(self, line: str) -> None:
    """Prints a line above the bar (process 0)."""
    if jax.process_index() == 0:
      if self.bar is not None and self.enabled:
        self.bar.write(line)
      else:
        print(line, flush=True)

  def epoch_done(self, epoch: int, epochs: int, row: Mapping[str, float]) -> None:
    """Without a bar (output not a terminal): one plain line per epoch of a single run."""
    if not self.enabled and not self.shared and jax.process_index() == 0:
      print(epoch_line(epoch, epochs, row), flush=True)

  def run_finished(self) -> None:
    if self.bar is not None and not self.shared:
      self.bar.close()
      self.bar = None

  def close(self) -> None:
    if self.bar is not None:
      self.bar.close()
      self.bar = None


def bar_wanted() -> bool:
  """A progress bar only on a terminal (``KDJAX_PROGRESS=1`` forces it): no carriage returns
  into log files."""
  return sys.stderr.isatty() or bool(os.environ.get('KDJAX_PROGRESS'))


def epoch_line(epoch: int, epochs: int, row: Mapping[str, float]) -> str:
  """``epoch 3/240  lr 0.05  train loss 2.3012  test top-1 45.21  61.2s``."""
  top1 = row.get('test_top1')
  return (f"epoch {epoch}/{epochs}  lr {row.get('lr', float('nan')):.4g}  train loss "
          f"{row.get('train_loss', float('nan')):.4f}  test top-1 "
          f"{'-' if top1 is None else f'{top1:.2f}'}  {row.get('epoch_seconds', 0.0):.1f}s")


def write_summary(workdir: str, summary: Mapping[str, Any]) -> None:
  """Writes ``summary.json`` (process 0)."""
  if jax.process_index() == 0:
    workdir_lib.write_text(os.path.join(workdir, SUMMARY_FILE),
                           json.dumps(dict(summary), indent=1, sort_keys=True))


class _DropLibraryInfo(std_logging.Filter):
  """Drops INFO/DEBUG records of chatty libraries (orbax logs a dozen lines per checkpoint)."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return record.levelno >= std_logging.WARNING or '/orbax/' not in record.pathname


def quiet_library_logs() -> None:
  """Keeps orbax's INFO lines out of the absl log (warnings and errors still show)."""
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _DropLibraryInfo) for f in handler.filters):
    handler.addFilter(_DropLibraryInfo())


def format_summary(summary: Mapping[str, Any]) -> str:
  """One human line: best and last top-1, teacher top-1, time."""

  def pct(key):
    value = summary.get(key)
    return 'n/a' if value is None or (isinstance(value, float) and math.isnan(value)) else f'{value:.2f}'

  pair = (f"{summary.get('teacher')} -> {summary.get('student')}" if summary.get('teacher')
          else f"{summary.get('student')} (no teacher)")
  return (f"{summary.get('method', '?')} {pair}"
          f" seed {summary.get('seed')}: best top-1 {pct('best_top1')} (epoch {summary.get('best_epoch')}),"
          f" last top-1 {pct('last_top1')}, teacher top-1 {pct('teacher_top1')},"
          f" {summary.get('epochs_done')} epochs in {summary.get('train_seconds', 0.0):.1f}s")
