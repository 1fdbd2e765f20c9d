r"""The papers' analysis figures for finished (or running) distillation runs.

  python -m experiments.figures --workdir=RUN [--against=RUN2,RUN3] --out=DIR [--epoch=last|best|N]

`RUN` is a workdir written by `kdjax.train.train_and_evaluate` (`python -m experiments.distill`,
`python -m experiments.cifar100`): its `config.json`, `metrics.jsonl` and orbax `checkpoints/`.
Every figure is `DIR/<name>.png` with the numbers it shows in `DIR/<name>.json`; `DIR/index.json`
lists what was written and what was skipped (and why).

From the student checkpoint of RUN and its teacher, on the test split (`kdjax.plots.logit_figures`):
  logit_mean_std          per-sample logit mean vs std, teacher vs student (seed 001 Fig. 5)
  class_pair_difference   |class-mean student - teacher logit| per class pair, raw and z-scored,
                          with mean and max (seed 001 Fig. 3)
  sample_logits           one test sample's logits, teacher vs student, raw and z-scored
  temperatures            max-logit and LS per-sample temperatures vs T = 1, 2, 4, 8 (+ CTKD's T)
From the metrics logs of RUN and the `--against` runs (`kdjax.plots.log_figures`):
  loss_correlation        RUN's training loss and teacher-student logit correlation per epoch
                          (seed 000 Fig. 1)
  wall_time               cumulative wall time per epoch, per run (seed 000 Fig. 2)
  test_accuracy           test top-1 per epoch, per run
  entropy_kl              mean student entropy and KL(softmax(gamma v) || softmax(z)) per epoch,
                          per run (seed 002 Figs. 1-2): from the logs' `test_<name>` entries of
                          `kdjax.analysis.EPOCH_STATISTICS` when present, otherwise recomputed from
                          each run's kept checkpoints.

Python use (e.g. a notebook): `make_figures(workdir, out_dir, against=...)`; `load_run` +
`run_logits` + `kdjax.plots.logit_figures` for one pair; `model_logits` for any module/variables.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any, Sequence

from absl import app
from absl import flags

from experiments import cli
from absl import logging
import jax
import ml_collections
import numpy as np

from kdjax import analysis
from kdjax import checkpointing
from kdjax import config as config_lib
from kdjax import data
from kdjax import logs
from kdjax import parallel
from kdjax import extras
from kdjax import steps as steps_lib
from kdjax import teachers
from kdjax.data import sources

PRODUCE_A_RUN = ('produce one with `python -m experiments.distill --workdir=ROOT` (the digits '
                 'main job) or `python -m experiments.cifar100 --workdir=RUN ...`')


class RunNotFoundError(FileNotFoundError):
  """A workdir is missing or lacks what a figure needs (config, metrics, checkpoints)."""


class TeacherMismatchError(ValueError):
  """The teacher that can be loaded is not the run's teacher."""


@dataclasses.dataclass(frozen=True)
class Run:
  """A run workdir read from disk.

  Attributes:
    workdir: the directory.
    config: the run's config (from `config.json`).
    rows: the per-epoch metric rows (from `metrics.jsonl`).
    summary: `summary.json` (written when the run finished), or None.
    name: a label for legends, e.g. `'kd seed 0'`.
  """
  workdir: str
  config: ml_collections.ConfigDict
  rows: list[dict[str, Any]]
  summary: dict[str, Any] | None
  name: str


def load_run(workdir: str, *, name: str | None = None) -> Run:
  """Reads a run's config and metrics; raises `RunNotFoundError` naming what is missing and the fix."""
  if not os.path.isdir(workdir):
    raise RunNotFoundError(f'no run directory at {workdir!r}; {PRODUCE_A_RUN}.')
  config_path = os.path.join(workdir, checkpointing.CONFIG_FILE)
  if not os.path.exists(config_path):
    raise RunNotFoundError(
        f'{workdir!r} has no {checkpointing.CONFIG_FILE}: it is not a kdjax run workdir (point '
        f'--workdir at the directory of one run, e.g. ROOT/kd/seed0 of the main job); {PRODUCE_A_RUN}.')
  with open(config_path) as f:
    config = config_lib.from_mapping(json.load(f))
  rows = logs.read_metrics(workdir)
  if not rows:
    raise RunNotFoundError(
        f'{workdir!r} has no per-epoch metrics ({logs.JSONL_FILE} is missing or empty): the run has '
        f'not finished an epoch yet; run or resume it with the same --workdir.')
  summary_path = os.path.join(workdir, logs.SUMMARY_FILE)
  summary = None
  if os.path.exists(summary_path):
    with open(summary_path) as f:
      summary = json.load(f)
  return Run(workdir=workdir, config=config, rows=rows, summary=summary,
             name=name or f'{config.method} seed {config.seed}')


def checkpoint_ids(run: Run) -> dict[int, int]:
  """``{epoch: checkpoint id}`` of the run's end-of-epoch checkpoints (``RunNotFoundError``: none)."""
  directory = os.path.join(run.workdir, checkpointing.CHECKPOINT_DIR)
  ids = {}
  if os.path.isdir(directory):
    checkpoints = checkpointing.Checkpoints(run.workdir, asynchronous=False)
    try:
      ids = checkpoints.epoch_checkpoints()
    finally:
      checkpoints.close()
  if not ids:
    raise RunNotFoundError(
        f'{run.workdir!r} has no student checkpoint under {directory!r}: run or resume the run with '
        f'the same --workdir (checkpoints moved to {checkpointing.UNREADABLE_DIR}/ were unreadable).')
  return ids


def checkpoint_epochs(run: Run) -> list[int]:
  """Epochs with a student checkpoint, ascending; raises `RunNotFoundError` when there is none."""
  return sorted(checkpoint_ids(run))


def has_teacher(config: ml_collections.ConfigDict) -> bool:
  """Whether a run distilled from a teacher (any method but CE-only training)."""
  return config.logit.loss != 'none' or config.feature.loss != 'none'


def logged_gamma(config: ml_collections.ConfigDict) -> float:
  """The gamma of a run's logged ``test_kl_transformed_teacher`` (``kdjax.steps``)."""
  return dict(steps_lib.evaluation_statistics(config))['gamma']


def resolve_epoch(run: Run, epoch: str | int) -> int:
  """`'last'` (newest checkpoint), `'best'` (best logged test top-1) or an epoch with a checkpoint."""
  available = checkpoint_epochs(run)
  if epoch == 'last':
    return available[-1]
  if epoch == 'best':
    scored = [(row['test_top1'], -row['epoch']) for row in run.rows if 'test_top1' in row]
    if not scored:
      raise RunNotFoundError(f'{run.workdir!r} logs no test_top1, so it has no best epoch; use '
                             '--epoch=last.')
    epoch = -max(scored)[1]
  epoch = int(epoch)
  if epoch not in available:
    raise RunNotFoundError(
        f'{run.workdir!r} has no checkpoint of epoch {epoch}; kept checkpoints: {available} (the '
        'trainer keeps the last few and the best; see its checkpoint_keep/checkpoint_every).')
  return epoch


@dataclasses.dataclass(frozen=True)
class Context:
  """What evaluating a run's models needs: the program (modules), the test split, normalisation."""
  student: Any
  teacher: Any
  program: Any
  test: data.ArrayDataset
  mean: tuple[float, ...]
  std: tuple[float, ...]
  num_classes: int
  image_shape: tuple[int, int, int]


def run_context(config: ml_collections.ConfigDict) -> Context:
  """Rebuilds a run's data and program as `kdjax.train.train_and_evaluate` does (no compilation)."""
  source = sources.open_source(config)
  if not source.on_device:
    raise RunNotFoundError(f'the figures read in-memory test splits; {source.name} is streamed')
  mesh = parallel.create_mesh()
  steps, _ = sources.epoch_steps(source.num_train, config, parallel.num_shards(mesh))
  setup = steps_lib.Setup.create(config, source, steps_per_epoch=steps, mesh=mesh)
  create = functools.partial(steps_lib.create_model, num_classes=source.num_classes,
                             compute_dtype=config.compute_dtype)
  return Context(student=create(config.student),
                 teacher=create(config.teacher) if has_teacher(config) else None,
                 program=steps_lib.build_program(setup), test=source.test, mean=source.mean,
                 std=source.std, num_classes=source.num_classes, image_shape=source.image_shape)


@functools.lru_cache(maxsize=16)
def _apply_fn(module):
  return jax.jit(lambda variables, images: module.apply(variables, images, train=False))


def model_logits(module, variables: Any, images: np.ndarray, mean: Sequence[float],
                 std: Sequence[float], *, batch_size: int = 500) -> np.ndarray:
  """`[N, K]` float32 logits of `module` in inference mode on uint8 NHWC `images` (test view)."""
  apply = _apply_fn(module)
  out = []
  for start in range(0, len(images), batch_size):
    x = data.test_view(np.asarray(images[start:start + batch_size]), mean, std)
    out.append(np.asarray(apply(variables, x), np.float32))
  return np.concatenate(out)


def student_variables(run: Run, epoch: int, context: Context | None = None) -> dict[str, Any]:
  """The student's `{'params', 'batch_stats'}` of `epoch`, restored with the trainer's checkpoints."""
  context = context or run_context(run.config)
  target = context.program.init(np.uint32(run.config.seed))
  checkpoint = checkpoint_ids(run).get(epoch)
  checkpoints = checkpointing.Checkpoints(run.workdir, asynchronous=False)
  try:
    if checkpoint is None:
      raise KeyError(f'no end-of-epoch checkpoint of epoch {epoch}')
    state, _ = checkpoints.restore(checkpoint, target)
  except Exception as error:  # orbax raises many types for damaged or foreign checkpoints.
    raise RunNotFoundError(
        f'the checkpoint of epoch {epoch} in {run.workdir!r} cannot be restored as this run\'s '
        f'student ({type(error).__name__}: {str(error)[:300]}); pick another --epoch.') from error
  finally:
    checkpoints.close()
  return {'params': state.params['student'], 'batch_stats': state.batch_stats['student']}


def teacher_variables(run: Run, context: Context | None = None, *,
                      teacher_checkpoint: str | None = None) -> Any:
  """The run's frozen teacher, loaded as the trainer does.

  Args:
    run: the run.
    context: `run_context(run.config)`, if already built.
    teacher_checkpoint: overrides the run's `teacher_checkpoint` (e.g. the file moved).

  Raises:
    TeacherMismatchError: a CE-only run (no teacher), or the checkpoint holds another model.
    RunNotFoundError: the teacher checkpoint is missing.
  """
  config = run.config
  if not has_teacher(config):
    raise TeacherMismatchError(
        f'run {run.workdir!r} trained with CE only (method {config.method!r}) and has no teacher; '
        'the teacher-student figures need a distillation run (any method but ce).')
  context = context or run_context(config)
  if teacher_checkpoint:
    config = config_lib.copy_config(config)
    config.teacher_checkpoint = teacher_checkpoint
  try:
    return teachers.load_variables(config, context.num_classes, context.image_shape)
  except FileNotFoundError as error:
    raise RunNotFoundError(f'the teacher of run {run.workdir!r} is missing: {error} (pass '
                           '--teacher_checkpoint=PATH if it moved).') from error
  except ValueError as error:
    raise TeacherMismatchError(
        f'the teacher checkpoint {config.teacher_checkpoint!r} of run {run.workdir!r} is not a '
        f'{config.teacher!r} with {context.num_classes} classes: {error}. Pass '
        '--teacher_checkpoint=PATH of the run\'s teacher.') from error


def check_teacher_accuracy(run: Run, teacher_logits: np.ndarray, labels: np.ndarray) -> float:
  """Test top-1 of the loaded teacher; `TeacherMismatchError` if it is not the run's recorded one.

  The run's `summary.json` records the top-1 of the teacher it distilled from. A difference of more
  than 0.5 points (and more than 2 examples) means the loaded teacher is another model.
  """
  top1 = 100.0 * float(np.mean(np.argmax(teacher_logits, -1) == labels))
  recorded = (run.summary or {}).get('teacher_top1')
  tolerance = max(0.5, 200.0 / len(labels))
  if recorded is not None and abs(top1 - recorded) > tolerance:
    raise TeacherMismatchError(
        f'the loaded teacher ({run.config.teacher_checkpoint or "random init"}) reaches '
        f'{top1:.2f}% test top-1 but run {run.workdir!r} recorded {recorded:.2f}% for its teacher: '
        'it is not the teacher the run distilled from. Pass --teacher_checkpoint=PATH of the '
        'run\'s teacher.')
  return top1


def _teacher_logits(run: Run, context: Context, teacher_checkpoint: str | None) -> np.ndarray:
  variables = teacher_variables(run, context, teacher_checkpoint=teacher_checkpoint)
  logits = model_logits(context.teacher, variables, context.test.images, context.mean,
                        context.std)
  check_teacher_accuracy(run, logits, np.asarray(context.test.labels))
  return logits


def _student_logits(run: Run, epoch: int, context: Context) -> np.ndarray:
  return model_logits(context.student, student_variables(run, epoch, context),
                      context.test.images, context.mean, context.std)


def run_logits(run: Run, *, epoch: str | int = 'last', teacher_checkpoint: str | None = None,
               context: Context | None = None) -> dict[str, Any]:
  """Student and teacher logits of a run on its test split.

  Returns:
    `student` and `teacher` `[N, K]` float32, `labels` `[N]`, `epoch` (of the student checkpoint),
    `student_top1` and `teacher_top1` (percent).
  """
  epoch = resolve_epoch(run, epoch)
  context = context or run_context(run.config)
  teacher = _teacher_logits(run, context, teacher_checkpoint)
  student = _student_logits(run, epoch, context)
  labels = np.asarray(context.test.labels)
  return {'student': student, 'teacher': teacher, 'labels': labels, 'epoch': epoch,
          'student_top1': 100.0 * float(np.mean(np.argmax(student, -1) == labels)),
          'teacher_top1': 100.0 * float(np.mean(np.argmax(teacher, -1) == labels))}


def checkpoint_statistics(run: Run, *, gamma: float, teacher_checkpoint: str | None = None,
                          context: Context | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """`kdjax.analysis.epoch_statistics` at every kept checkpoint: name -> `(epochs, values)`."""
  context = context or run_context(run.config)
  teacher = _teacher_logits(run, context, teacher_checkpoint)
  epochs = checkpoint_epochs(run)
  values = [analysis.epoch_statistics(_student_logits(run, epoch, context), teacher, gamma=gamma)
            for epoch in epochs]
  return {name: (np.asarray(epochs, np.float64), np.asarray([float(v[name]) for v in values]))
          for name in analysis.EPOCH_STATISTICS}


def _unique_names(runs: Sequence[Run]) -> list[Run]:
  names = [r.name for r in runs]
  return [dataclasses.replace(r, name=f'{r.name} ({os.path.basename(os.path.normpath(r.workdir))})')
          if names.count(r.name) > 1 else r for r in runs]


def make_figures(workdir: str, out_dir: str, *, against: Sequence[str] = (),
                 epoch: str | int = 'last', sample_index: int = 0, gamma: float | None = None,
                 bins: int = 30, teacher_checkpoint: str | None = None) -> dict[str, Any]:
  """Writes every figure of a run (and of the runs it is compared with) to `out_dir`.

  Args:
    workdir: the run analysed (its checkpoint gives the teacher-student figures).
    out_dir: output directory (created).
    against: other runs drawn beside it in the per-epoch figures.
    epoch: the student checkpoint: `'last'`, `'best'` or an epoch number.
    sample_index: test example of `sample_logits`.
    gamma: TTM power of the transformed teacher in `entropy_kl` (default: the gamma the run logged
      its KL with, `logged_gamma`).
    bins: histogram bins.
    teacher_checkpoint: overrides the analysed run's teacher checkpoint path.

  Returns:
    The content of `out_dir/index.json`: `written` (figure -> PNG path), `skipped` (figure ->
    reason), the analysed run and epoch, and the student/teacher test top-1 of that checkpoint.
  """
  extras.require('matplotlib', 'figures', 'Drawing the figures')
  from kdjax import plots  # pylint: disable=import-outside-toplevel
  runs = _unique_names([load_run(workdir)] + [load_run(w) for w in against])
  primary, config = runs[0], runs[0].config
  gamma = logged_gamma(config) if gamma is None else float(gamma)
  written, skipped = {}, {}

  context = run_context(config)
  pair = run_logits(primary, epoch=epoch, teacher_checkpoint=teacher_checkpoint, context=context)
  learned = (plots.metric_series(primary.rows, 'train_temperature_mean')
             if config.logit.policy == 'ctkd' else None)
  written.update(plots.logit_figures(
      pair['student'], pair['teacher'], pair['labels'], out_dir,
      ls_tau=float(config.logit.temperature) if config.logit.standardize else 2.0,
      order=int(config.max_logit.order), teacher_only=bool(config.max_logit.teacher_only),
      sample_index=sample_index, bins=bins, learned_temperature=learned,
      title=f'{primary.name}, epoch {pair["epoch"]}'))

  log_written, log_skipped = plots.log_figures({r.name: r.rows for r in runs}, out_dir,
                                               main=primary.name, gamma=gamma)
  written.update(log_written)
  skipped.update(log_skipped)
  # The trainer logs the statistics (config.eval_statistics) with the gamma of logged_ttm_gamma;
  # when the logs lack them or another gamma is asked for, recompute them from the checkpoints.
  other_gamma = [r.name for r in runs if has_teacher(r.config) and logged_gamma(r.config) != gamma]
  if 'entropy_kl' in skipped or other_gamma:
    why = (f'runs {other_gamma} logged another gamma than {gamma:g}' if other_gamma else
           'the metrics logs lack the entries: train with config.eval_statistics to log every epoch')
    entropy, kl = {}, {}
    for run in runs:
      if not has_teacher(run.config):
        skipped[f'entropy_kl[{run.name}]'] = 'CE-only run: no teacher'
        continue
      is_primary = run is primary
      stats = checkpoint_statistics(run, gamma=gamma, context=context if is_primary else None,
                                    teacher_checkpoint=teacher_checkpoint if is_primary else None)
      entropy[run.name], kl[run.name] = stats['student_entropy'], stats['kl_transformed_teacher']
    if entropy:
      written['entropy_kl'] = plots.entropy_kl_figure(
          entropy, kl, out_dir, gamma=gamma,
          source=f'recomputed from the kept checkpoints ({why})')
      skipped.pop('entropy_kl', None)

  index = {'run': primary.workdir, 'name': primary.name, 'epoch': pair['epoch'],
           'student_top1': pair['student_top1'], 'teacher_top1': pair['teacher_top1'],
           'against': [r.workdir for r in runs[1:]], 'gamma': gamma, 'written': written,
           'skipped': skipped}
  with open(os.path.join(out_dir, 'index.json'), 'w') as f:
    json.dump(index, f, indent=1)
  return index


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Defines the command's flags (only when run as a command, so importing this module defines none)."""
  kw = dict(flag_values=flag_values)
  flags.DEFINE_string('workdir', None, 'Run workdir to analyse (config.json, metrics.jsonl, '
                      'checkpoints/).', **kw)
  flags.DEFINE_list('against', [], 'Other run workdirs drawn beside it in the per-epoch figures.', **kw)
  flags.DEFINE_string('out', None, 'Output directory of the PNG and JSON files.', **kw)
  flags.DEFINE_string('epoch', 'last', "Student checkpoint: 'last', 'best' or an epoch number.", **kw)
  flags.DEFINE_integer('sample', 0, 'Test example shown in sample_logits.', **kw)
  flags.DEFINE_float('gamma', None, 'TTM power of the transformed teacher in entropy_kl '
                     '(default: the gamma the run logged its KL with).', **kw)
  flags.DEFINE_integer('bins', 30, 'Histogram bins.', **kw)
  flags.DEFINE_string('teacher_checkpoint', None, "Overrides the run's teacher checkpoint path.", **kw)
  flags.mark_flags_as_required(['workdir', 'out'], flag_values=flag_values)


def run_command(flag_values: flags.FlagValues = flags.FLAGS) -> dict[str, Any]:
  """Runs `make_figures` with parsed flags, prints one line per figure, returns the index."""
  f = flag_values
  epoch = f.epoch if f.epoch in ('last', 'best') else int(f.epoch)
  index = make_figures(f.workdir, f.out, against=f.against, epoch=epoch, sample_index=f.sample,
                       gamma=f.gamma, bins=f.bins, teacher_checkpoint=f.teacher_checkpoint)
  logging.info('wrote %d figures to %s', len(index['written']), f.out)
  for name, path in index['written'].items():
    print(f'{name:24s} {path}')
  for name, reason in index['skipped'].items():
    print(f'{name:24s} skipped: {reason}')
  return index


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  run_command()


if __name__ == '__main__':
  define_flags()
  cli.run(main, 'experiments.figures')
