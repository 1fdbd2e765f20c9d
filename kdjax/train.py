"""The training loop: one for every dataset and method (``train_and_evaluate``).

Read top to bottom: ``prepare_run`` (data source, device mesh, the compiled
program of ``kdjax.steps``, teacher, teacher-logit cache), ``train_epoch``
(the steps of one epoch, mid-epoch checkpoints, clean stops) and
``train_and_evaluate`` (resume, the teacher's test pass, then per epoch: train,
evaluate, log, checkpoint).

Everything a step uses derives from ``(seed, epoch, step)`` (batch order,
augmentation, random draws), so a run restored from a checkpoint, at an epoch
boundary or mid-epoch, ends with exactly the parameters of an uninterrupted one.
SIGINT (Ctrl-C) and SIGTERM stop the loop after the current step: it saves a
checkpoint at that position and raises ``Interrupted`` (the same call resumes).
In a run of several processes SIGTERM is a preemption notice: JAX's preemption
sync manager takes it in whichever processes receive it and every process stops
after the same step, the one they agree on (``parallel.preemption_synced``), so
that all save the same checkpoint. SIGINT stays per process (an interactive stop).
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import time
from typing import Any, Callable, Iterator

import jax
import ml_collections
import numpy as np
from absl import logging

from kdjax import checkpointing
from kdjax import config as config_lib
from kdjax import evaluation
from kdjax import logs
from kdjax import methods
from kdjax import metrics
from kdjax import optim
from kdjax import parallel
from kdjax import steps as steps_lib
from kdjax import teacher_cache as teacher_cache_lib
from kdjax import teachers
from kdjax import workdir as workdir_lib
from kdjax.data import sources


class Interrupted(Exception):
  """The run stopped on a signal after saving a checkpoint; the same call resumes it.

  Attributes:
    signal_name: ``'SIGINT'`` or ``'SIGTERM'``.
    exit_code: the conventional exit status (130 for SIGINT, 143 for SIGTERM).
    workdir: the run directory.
    epoch: the epoch it stopped in (from 1).
    step: the steps of that epoch done.
  """

  def __init__(self, signal_name: str, workdir: str, epoch: int, step: int):
    self.signal_name, self.workdir, self.epoch, self.step = signal_name, workdir, epoch, step
    self.exit_code = 128 + (signal.SIGINT if signal_name == 'SIGINT' else signal.SIGTERM)
    super().__init__(f'stopped by {signal_name} at epoch {epoch}, step {step}; a checkpoint '
                     f'was saved in {workdir}: run the same command again to resume')


class _StopRequests:
  """SIGINT / SIGTERM handlers that ask the loop to stop after the current step."""

  def __init__(self):
    self.signal_name: str | None = None

  def preempted(self) -> None:
    """The processes reached the step they agreed to stop at after a SIGTERM (multi-host)."""
    if self.signal_name is None:
      self.signal_name = 'SIGTERM'

  def handle(self, signum, frame):
    del frame
    if self.signal_name is not None:  # A second signal: stop at once.
      raise KeyboardInterrupt
    self.signal_name = signal.Signals(signum).name


_SHARED_STOP: _StopRequests | None = None  # set by stop_all_runs_on_signals


@contextlib.contextmanager
def stop_all_runs_on_signals() -> Iterator[_StopRequests]:
  """Main thread: SIGINT / SIGTERM ask every run of this process to stop after its current
  step and save, also the runs in other threads (``experiments.distill`` trains two at a
  time), whose own ``stop_requests`` cannot install handlers."""
  global _SHARED_STOP
  with stop_requests(synced_sigterm=parallel.preemption_synced()) as requests:
    _SHARED_STOP = requests
    try:
      yield requests
    finally:
      _SHARED_STOP = None


@contextlib.contextmanager
def stop_requests(*, synced_sigterm: bool = False) -> Iterator[_StopRequests]:
  """Installs the stop handlers (main thread only; elsewhere signals keep their defaults).

  Args:
    synced_sigterm: SIGTERM is left to JAX's preemption notifier, which
      ``jax.distributed.initialize`` installed (``parallel.preemption_synced``);
      the loop asks ``Checkpoints.reached_preemption`` at every step instead.
  """
  if _SHARED_STOP is not None:  # A job's handlers (stop_all_runs_on_signals) serve every run.
    yield _SHARED_STOP
    return
  requests = _StopRequests()
  signals = (signal.SIGINT,) if synced_sigterm else (signal.SIGINT, signal.SIGTERM)
  try:
    previous = {s: signal.signal(s, requests.handle) for s in signals}
  except ValueError:  # Not the main thread.
    yield requests
    return
  try:
    yield requests
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)


@dataclasses.dataclass(frozen=True)
class Run:
  """Everything a run's epochs use, placed on the devices (``prepare_run``)."""
  config: ml_collections.ConfigDict
  mesh: jax.sharding.Mesh
  source: sources.Source
  program: steps_lib.Program
  teacher_vars: Any
  train_arrays: dict[str, jax.Array]
  test_arrays: dict[str, jax.Array]
  steps: int
  images_per_epoch: int
  cache: teacher_cache_lib.TeacherCache | None = None


def prepare_run(config: ml_collections.ConfigDict) -> Run:
  """Opens the data, builds (or reuses) the compiled program, loads the teacher."""
  config_lib.validate(config)
  if config.distributed:
    parallel.initialize_distributed()
  mesh = parallel.create_mesh()
  source = sources.open_source(config)
  steps, last_batch = sources.epoch_steps(source.num_train, config, parallel.num_shards(mesh))
  setup = steps_lib.Setup.create(config, source, steps_per_epoch=steps, mesh=mesh)
  program = steps_lib.build_program(setup)
  teacher_vars = teachers.load_variables(config, source.num_classes, source.image_shape,
                                         needed=program.distillation.needs.teacher)
  images_per_epoch = (steps - 1) * config.batch_size + last_batch
  cache = teacher_cache_lib.open_for_run(config, program, teacher_vars, source, steps=steps,
                                         rows=images_per_epoch)
  if cache is not None:
    logging.info('teacher logits cached in %s', cache.directory)
  return Run(config=config, mesh=mesh, source=source, program=program,
             teacher_vars=None if teacher_vars is None else parallel.put_replicated(
                 teacher_vars, mesh),
             train_arrays=source.device_arrays('train', mesh),
             test_arrays=source.device_arrays('test', mesh), steps=steps,
             images_per_epoch=images_per_epoch, cache=cache)


def epoch_teacher_logits(run: Run, epoch: int,
                         scalars: dict[str, np.ndarray]) -> jax.Array | None:
  """``epoch``'s cached ``[rows, views, K]`` teacher logits on the devices (None: no cache);
  ``scalars``: the epoch's step inputs (``steps.scalars_of``).

  Read from the cache (checksum and spot check), or computed batch by batch and
  stored by the first run that needs the epoch.
  """
  if run.cache is None:
    return None
  config = run.config
  batches = list(run.source.train_batches(config.seed, epoch, run.steps, 0, config.batch_size,
                                          run.mesh))

  def compute(step: int) -> jax.Array:
    batch = {k: parallel.local_to_global(v, run.mesh) for k, v in batches[step].items()}
    return run.program.teacher_logits(run.teacher_vars, run.train_arrays, batch,
                                      dict(scalars, step=np.uint32(step)))

  return parallel.put_replicated(run.cache.epoch_logits(epoch, compute), run.mesh)


def init_data(run: Run) -> dict[str, Any]:
  """What ``program.init`` needs besides the seed (the train labels, for a method that samples
  by class)."""
  if not run.program.distillation.needs.dataset_labels:
    return {}
  return {'dataset_labels': run.source.train_labels()}


@dataclasses.dataclass
class Position:
  """Where the run is: epochs completed, steps done of the next one, and the metadata saved."""
  epoch: int = 0
  step: int = 0
  best_top1: float | None = None
  best_epoch: int | None = None
  last_top1: float | None = None
  last_top5: float | None = None
  train_seconds: float = 0.0
  accumulator: dict[str, float] | None = None  # the partial epoch's sums (mid-epoch only)

  def to_meta(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_meta(cls, meta: dict[str, Any]) -> 'Position':
    return cls(**{f.name: meta.get(f.name, getattr(cls(), f.name))
                  for f in dataclasses.fields(cls)})


def _checkpoint_number(run: Run, epoch: int, step: int) -> int:
  """The optimizer update count at (completed ``epoch``, ``step`` of the next): the checkpoint's id."""
  return epoch * run.steps + step


def train_epoch(run: Run, state: steps_lib.TrainState, epoch: int, position: Position, *,
                checkpoints: checkpointing.Checkpoints, progress: logs.Progress,
                stop: _StopRequests, workdir: str) -> tuple[steps_lib.TrainState, dict[str, float]]:
  """Runs the steps of ``epoch`` (from 1) from ``position.step``; returns the state and metrics.

  Metrics accumulate on the devices; the host reads them only every
  ``log_every`` steps and at the end of the epoch. Every
  ``checkpoint_every_steps`` steps, and on a stop request, the state, the
  position and the accumulator are saved.

  Raises:
    Interrupted: after saving, when SIGINT or SIGTERM arrived.
  """
  config, program, mesh = run.config, run.program, run.mesh
  start = time.time()
  names = program.metric_names
  acc_host = (metrics.empty_accumulator(names) if position.accumulator is None else
              {k: np.float32(v) for k, v in position.accumulator.items()})
  acc = parallel.put_replicated(acc_host, mesh)
  epoch_scalars = methods.epoch_scalars(config, epoch)  # once per epoch: the step's and the log's
  scalars = steps_lib.scalars_of(config, epoch, epoch_scalars)
  cached = epoch_teacher_logits(run, epoch, scalars)
  batches = run.source.train_batches(config.seed, epoch, run.steps, position.step,
                                     config.batch_size, mesh,
                                     strong=program.setup.views.strong)
  compiling = True
  for step, local in zip(range(position.step, run.steps), batches):
    batch = {k: parallel.local_to_global(v, mesh) for k, v in local.items()}
    size = int(batch['index'].shape[0])
    teacher_arg = {} if cached is None else {
        'cached_teacher': (cached, np.int32(step * config.batch_size))}
    if compiling:
      progress.compiling()
    state, acc = program.train_step(state, acc, run.teacher_vars, run.train_arrays, batch,
                                    dict(scalars, step=np.uint32(step)), **teacher_arg)
    if compiling:
      jax.block_until_ready(acc)
      progress.compiled()
      compiling = False
    progress.advance(size)
    done = step + 1
    if checkpoints.reached_preemption(_checkpoint_number(run, epoch - 1, done)):
      stop.preempted()  # every process stops after this same step
    if done % config.log_every == 0 and done < run.steps:
      partial = metrics.epoch_means(parallel.to_host(acc))
      checkpoints.check_finite(partial, {'epoch': epoch - 1, 'step': done})
      progress.status(loss=f"{partial['train_loss']:.4f}", epoch=epoch)
    save_here = (config.checkpoint_every_steps and done % config.checkpoint_every_steps == 0
                 and done < run.steps)
    if (stop.signal_name is not None or save_here) and done < run.steps:
      mid = dataclasses.replace(position, epoch=epoch - 1, step=done,
                                train_seconds=position.train_seconds + time.time() - start,
                                accumulator={k: float(v) for k, v in
                                             parallel.to_host(acc).items()})
      checkpoints.save(_checkpoint_number(run, epoch - 1, done), state, mid.to_meta(), None)
      if stop.signal_name is not None:
        checkpoints.wait()
        raise Interrupted(stop.signal_name, workdir, epoch, done)
  row = metrics.epoch_means(parallel.to_host(acc))
  checkpoints.check_finite(row, {'epoch': epoch, 'step': 0})
  seconds = time.time() - start
  row.update(lr=optim.learning_rate_at_epoch(config, epoch), epoch_train_seconds=seconds,
             train_images_per_second=(
                 run.images_per_epoch - position.step * config.batch_size) / seconds)
  row.update({name: float(value) for name, value in epoch_scalars.items()})
  return state, row


def _summary(run: Run, position: Position, teacher: evaluation.TeacherPass | None,
             workdir: str) -> dict[str, Any]:
  config = run.config
  return dict(
      method=config.method, teacher=config.teacher if run.program.setup.teacher else '',
      student=config.student, seed=config.seed, dataset=config.dataset,
      num_classes=run.source.num_classes, best_top1=position.best_top1,
      best_epoch=position.best_epoch, last_top1=position.last_top1,
      last_top5=position.last_top5, teacher_top1=teacher.top1 if teacher else None,
      teacher_top5=teacher.top5 if teacher else None, epochs_done=int(position.epoch),
      train_seconds=float(position.train_seconds), num_devices=parallel.num_shards(run.mesh),
      evaluated_head=run.program.distillation.evaluated_head, workdir=workdir)


@dataclasses.dataclass
class RunResult:
  """What ``train_and_evaluate`` returns: the final state and the summary dict."""
  state: steps_lib.TrainState
  summary: dict[str, Any]


@workdir_lib.claimed  # one process per workdir, no links out of it, a full disk named
def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       epoch_callback: Callable[[int, dict[str, float]], None] | None = None,
                       progress: logs.Progress | None = None) -> RunResult:
  """Trains the student of ``config``, evaluating and checkpointing as configured.

  Restarting with the same ``workdir`` resumes from the newest readable
  checkpoint (same parameters at the end as an uninterrupted run); a different
  config in that workdir is refused (``checkpointing.ConfigMismatchError``).

  Args:
    config: a config of ``kdjax.config`` (``get_config`` / ``kdjax.recipes.method_config``).
    workdir: the run directory (config, checkpoints, metrics, TensorBoard, summary).
    epoch_callback: called as ``epoch_callback(epoch, row)`` after each epoch's
      metrics are written and its checkpoint saved.
    progress: where progress goes (default: a bar per run, ``config.progress_bar``).

  Returns:
    The final state and the summary (best/last top-1, teacher accuracy, time).

  Raises:
    Interrupted: stopped by SIGINT/SIGTERM after saving a checkpoint.
  """
  run = prepare_run(config)
  resuming = checkpointing.check_config(workdir, config)
  checkpoints = checkpointing.Checkpoints(workdir, keep=config.checkpoint_keep)
  state = run.program.init(np.uint32(config.seed), **init_data(run))
  position = Position()
  restored = checkpoints.restore_latest(state, steps_per_epoch=run.steps) if resuming else None
  if restored is not None:
    state, meta = restored
    position = Position.from_meta(meta)
    logging.info('resuming %s from epoch %d step %d', workdir, position.epoch, position.step)
  teacher = evaluation.teacher_pass(run.program, run.teacher_vars, run.test_arrays, run.source,
                                    config.eval_batch_size, run.mesh)
  statistics_logits = teacher.logits if (teacher and run.program.setup.statistics) else None
  writer = logs.MetricWriter(workdir, resume_epoch=position.epoch)
  if position.epoch == 0 and position.step == 0:
    writer.write_text('config', config_lib.to_json(config))
  progress = progress or logs.Progress(enabled=config.progress_bar)
  progress.run_started(f'{config.method} {config.student} seed {config.seed}',
                       config.epochs * run.images_per_epoch,
                       position.epoch * run.images_per_epoch
                       + position.step * config.batch_size)
  if restored is not None:
    progress.write(f'resumed from epoch {position.epoch + 1}, step {position.step} ({workdir})')
  try:
    with stop_requests(synced_sigterm=parallel.preemption_synced()) as stop:
      for epoch in range(position.epoch + 1, config.epochs + 1):
        epoch_start = time.time()
        state, row = train_epoch(run, state, epoch, position, checkpoints=checkpoints,
                                 progress=progress, stop=stop, workdir=workdir)
        position.train_seconds += row['epoch_train_seconds']
        top1 = None
        if epoch % config.eval_every == 0 or epoch == config.epochs:
          test = evaluation.evaluate(run.program, state, run.teacher_vars, run.test_arrays,
                                     run.source, config.eval_batch_size, run.mesh,
                                     statistics_logits, **methods.evaluation_inputs(config))
          top1 = test['top1']
          if position.best_top1 is None or top1 > position.best_top1:
            position.best_top1, position.best_epoch = top1, epoch
          position.last_top1, position.last_top5 = top1, test['top5']
          row.update({f'test_{name}': value for name, value in test.items()})
        if position.best_top1 is not None:
          row['best_top1'] = position.best_top1
        row['epoch_seconds'] = time.time() - epoch_start
        position.epoch, position.step, position.accumulator = epoch, 0, None
        writer.write(epoch, row)
        if epoch % config.checkpoint_every == 0 or epoch == config.epochs:
          checkpoints.save(_checkpoint_number(run, epoch, 0), state, position.to_meta(), top1)
        progress.status(loss=f"{row['train_loss']:.4f}",
                        top1='-' if top1 is None else f'{top1:.2f}', epoch=epoch)
        progress.epoch_done(epoch, config.epochs, row)
        if epoch_callback is not None:
          epoch_callback(epoch, row)
        if stop.signal_name is not None and epoch < config.epochs:
          if epoch % config.checkpoint_every:
            checkpoints.save(_checkpoint_number(run, epoch, 0), state, position.to_meta(), top1)
          checkpoints.wait()
          raise Interrupted(stop.signal_name, workdir, epoch + 1, 0)
  finally:
    progress.run_finished()
    checkpoints.close()
    writer.close()

  summary = _summary(run, position, teacher, workdir)
  logs.write_summary(workdir, summary)
  logging.info(logs.format_summary(summary))
  return RunResult(state=state, summary=summary)
