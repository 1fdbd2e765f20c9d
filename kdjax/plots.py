"""Matplotlib figures of the papers' analyses, drawn from the summaries of `kdjax.analysis`.

Each `plot_*` function takes plain arrays/dicts and returns a `matplotlib.figure.Figure` built without pyplot
(no global state; saving uses the Agg canvas, so no display is needed). `save_figure` writes the PNG and,
beside it with the same stem, a JSON file holding the numbers the figure shows.
"""

import json
import os
from typing import Mapping, Sequence

import matplotlib
from matplotlib import ticker
from matplotlib.figure import Figure
import numpy as np

from kdjax import analysis
from kdjax import temperature

TEACHER_COLOR = 'tab:blue'
STUDENT_COLOR = 'tab:red'
Series = Mapping[str, tuple[Sequence[float], Sequence[float]]]


def save_figure(fig: Figure, data: Mapping, out_dir: str, stem: str, *, dpi: int = 120) -> tuple[str, str]:
  """Writes `out_dir/stem.png` and `out_dir/stem.json` (the figure's numbers); returns both paths."""
  os.makedirs(out_dir, exist_ok=True)
  png = os.path.join(out_dir, f'{stem}.png')
  path_json = os.path.join(out_dir, f'{stem}.json')
  fig.savefig(png, dpi=dpi, bbox_inches='tight')
  with open(path_json, 'w') as f:
    json.dump(analysis.to_python(data), f, indent=1, allow_nan=False)
  return png, path_json


def plot_mean_std_histogram(hist: Mapping[str, np.ndarray], *, title: str = '') -> Figure:
  """Teacher and student bivariate histograms of per-sample logit mean vs std (seed 001, Fig. 5).

  Args:
    hist: the output of `kdjax.analysis.mean_std_histogram` (shared bins).
    title: figure title (e.g. the run).
  """
  fig = Figure(figsize=(10, 4.2), layout='constrained')
  axes = fig.subplots(1, 2, sharex=True, sharey=True)
  vmax = max(int(hist['teacher_counts'].max()), int(hist['student_counts'].max()), 1)
  for ax, who in zip(axes, ('teacher', 'student')):
    mesh = ax.pcolormesh(hist['mean_edges'], hist['std_edges'], hist[f'{who}_counts'].T, cmap='viridis',
                         vmin=0, vmax=vmax)
    ax.set_xlabel('per-sample logit mean')
    ax.set_ylabel('per-sample logit standard deviation')
    mean, std = hist[f'{who}_mean'], hist[f'{who}_std']
    ax.set_title(f'{who}: mean {mean.mean():.2f} +- {mean.std():.2f}, '
                 f'std {std.mean():.2f} +- {std.std():.2f}')
    fig.colorbar(mesh, ax=ax, label='number of samples')
  fig.suptitle(title or 'Logit mean vs standard deviation per sample (teacher vs student)')
  return fig


def plot_class_pair_heatmaps(raw: np.ndarray, standardized: np.ndarray, *, title: str = '') -> Figure:
  """Heatmaps of the teacher-student logit difference per class pair, raw and z-scored (seed 001, Fig. 3).

  Args:
    raw: `[K, K]` from `kdjax.analysis.class_pair_difference(..., standardize=False)`.
    standardized: `[K, K]` from the same with `standardize=True`.
    title: figure title.
  """
  fig = Figure(figsize=(11, 4.6), layout='constrained')
  axes = fig.subplots(1, 2)
  for ax, diff, name in zip(axes, (raw, standardized), ('raw logits', 'z-scored logits')):
    summary = analysis.difference_summary(diff)
    image = ax.imshow(diff, cmap='PuBuGn', vmin=0.0, interpolation='nearest')
    ax.set_title(f'{name}: mean {summary["mean"]:.3f}, max {summary["max"]:.3f}')
    ax.set_xlabel('logit (class j)')
    ax.set_ylabel('true class i')
    fig.colorbar(image, ax=ax, label='|mean student - mean teacher logit|')
  fig.suptitle(title or 'Average teacher-student logit difference per class pair')
  return fig


def plot_sample_logits(teacher: np.ndarray, student: np.ndarray, teacher_z: np.ndarray, student_z: np.ndarray,
                       *, label: int, index: int) -> Figure:
  """Bar plots of one sample's logits, teacher vs student, raw and z-scored (seed 001, Fig. 3 inset)."""
  fig = Figure(figsize=(11, 3.8), layout='constrained')
  axes = fig.subplots(1, 2)
  classes = np.arange(len(teacher))
  width = 0.4
  for ax, t, s, name in zip(axes, (teacher, teacher_z), (student, student_z), ('raw', 'z-scored')):
    ax.bar(classes - width / 2, t, width, color=TEACHER_COLOR, label='teacher')
    ax.bar(classes + width / 2, s, width, color=STUDENT_COLOR, label='student')
    ax.axhline(0.0, color='black', linewidth=0.5)
    ax.set_xlabel('class')
    ax.set_ylabel(f'{name} logit')
    ax.set_title(f'{name} logits of test sample {index} (true class {label})')
    ax.legend()
  return fig


def plot_loss_and_correlation(epochs: Sequence[float], loss: Sequence[float], correlation: Sequence[float], *,
                              loss_label: str = 'training loss', title: str = '') -> Figure:
  """Training loss and teacher-student logit correlation per epoch on twin axes (seed 000, Fig. 1)."""
  fig = Figure(figsize=(7, 4.2), layout='constrained')
  ax = fig.subplots()
  ax.plot(epochs, loss, color='tab:orange', marker='.', label=loss_label)
  ax.set_xlabel('epoch')
  ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True, min_n_ticks=1))
  ax.set_ylabel(loss_label, color='tab:orange')
  twin = ax.twinx()
  twin.plot(epochs, correlation, color='tab:green', marker='.', label='logit correlation')
  twin.set_ylabel('mean teacher-student logit correlation', color='tab:green')
  lines = ax.get_lines() + twin.get_lines()
  ax.legend(lines, [line.get_label() for line in lines], loc='center right')
  ax.set_title(title or 'Training loss and teacher-student logit correlation')
  return fig


def plot_temperature_histograms(hists: Mapping[str, Mapping], *, static: Sequence[float],
                                learned: tuple[Sequence[float], Sequence[float]] | None = None,
                                title: str = '') -> Figure:
  """Histograms of per-sample temperatures of several policies against static values (seed 000's claim).

  Args:
    hists: policy name -> the output of `kdjax.analysis.temperature_histogram` (ideally on shared edges).
    static: static temperatures drawn as vertical lines.
    learned: optional `(epochs, T)` of CTKD's learned temperature, drawn in a second panel.
    title: figure title.
  """
  fig = Figure(figsize=(12 if learned else 7, 4.2), layout='constrained')
  axes = fig.subplots(1, 2 if learned else 1)
  ax = axes[0] if learned else axes
  for name, hist in hists.items():
    ax.stairs(hist['counts'], hist['edges'], fill=True, alpha=0.45,
              label=f'{name} (mean {hist["mean"]:.2f})')
  colors = matplotlib.colormaps['Greys'](np.linspace(0.45, 0.95, len(static)))
  for t, color in zip(static, colors):
    ax.axvline(t, color=color, linestyle='--', linewidth=1.2, label=f'static T = {t:g}')
  ax.set_xlabel('temperature')
  ax.set_ylabel('number of samples')
  ax.set_title(title or 'Per-sample temperatures vs static values')
  ax.legend(fontsize='small')
  if learned:
    epochs, values = learned
    axes[1].plot(epochs, values, marker='.', color='tab:purple', label='CTKD learned T')
    for t, color in zip(static, colors):
      axes[1].axhline(t, color=color, linestyle='--', linewidth=1.2, label=f'static T = {t:g}')
    axes[1].set_xlabel('epoch')
    axes[1].xaxis.set_major_locator(ticker.MaxNLocator(integer=True, min_n_ticks=1))
    axes[1].set_ylabel('temperature')
    axes[1].set_title('CTKD learned temperature per epoch')
    axes[1].legend(fontsize='small')
  return fig


def draw_curves(ax, series: Series, *, xlabel: str, ylabel: str, title: str) -> None:
  """Draws one line per entry of `series` (name -> (x, y)) on `ax`, with labels and a legend."""
  for name, (x, y) in series.items():
    ax.plot(x, y, marker='.', label=name)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  if xlabel == 'epoch':
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True, min_n_ticks=1))
  if series:
    ax.legend(fontsize='small')


def plot_curves(series: Series, *, xlabel: str, ylabel: str, title: str) -> Figure:
  """One line per run on one plot (test accuracy per epoch, cumulative wall time per epoch, ...)."""
  fig = Figure(figsize=(7, 4.2), layout='constrained')
  draw_curves(fig.subplots(), series, xlabel=xlabel, ylabel=ylabel, title=title)
  return fig


def plot_entropy_and_kl(entropy: Series, kl: Series, *, title: str = '') -> Figure:
  """Mean student entropy and mean KL(transformed teacher || student) per epoch (seed 002 Figs. 1-2)."""
  fig = Figure(figsize=(12, 4.2), layout='constrained')
  left, right = fig.subplots(1, 2)
  draw_curves(left, entropy, xlabel='epoch', ylabel='mean entropy of softmax(z) (nats)',
              title='Student prediction entropy')
  draw_curves(right, kl, xlabel='epoch', ylabel='mean KL(softmax(gamma v) || softmax(z)) (nats)',
              title='KL(transformed teacher || student)')
  values = np.concatenate([np.asarray(y, np.float64) for _, y in kl.values()])
  if values.size and np.all(values > 0) and values.max() > 100 * values.min():
    right.set_yscale('log')  # The first epochs' KL would flatten the rest.
  if title:
    fig.suptitle(title)
  return fig


# ----------------------------------------------------------------------------------------------------------
# Figure builders: arrays or metric rows in, PNG + JSON files out.

METRIC_PREFIXES = ('test_', 'eval_', '')  # where epoch_statistics entries may appear in a metrics row


def logit_figures(student_logits, teacher_logits, labels, out_dir: str, *, ls_tau: float = 2.0,
                  order: int = 2, teacher_only: bool = False, sample_index: int = 0, bins: int = 30,
                  static: Sequence[float] = analysis.STATIC_TEMPERATURES,
                  learned_temperature: tuple[Sequence[float], Sequence[float]] | None = None,
                  title: str = '') -> dict[str, str]:
  """The figures of one teacher-student pair on one evaluation set, written as `out_dir/<name>.{png,json}`.

  Figures: `logit_mean_std` (seed 001 Fig. 5), `class_pair_difference` (seed 001 Fig. 3, raw and z-scored,
  with mean and max), `sample_logits` (one sample's logits as bars), `temperatures` (max-logit and LS
  effective per-sample temperatures against static values; CTKD's learned T per epoch when given).

  Args:
    student_logits: `[N, K]` student logits.
    teacher_logits: `[N, K]` teacher logits of the same examples.
    labels: `[N]` true classes (every class must occur).
    out_dir: output directory.
    ls_tau: base temperature of the LS effective temperatures.
    order: max-logit Taylor order.
    teacher_only: max-logit from the teacher's maximum only.
    sample_index: the example shown in `sample_logits`.
    bins: histogram bins per axis.
    static: static temperatures drawn as reference lines.
    learned_temperature: optional `(epochs, T)` of a CTKD run (from its metrics log).
    title: prefix of the figure titles (e.g. the run's name).

  Returns:
    Figure name -> PNG path.
  """
  student = np.asarray(student_logits, np.float32)
  teacher = np.asarray(teacher_logits, np.float32)
  n = student.shape[0] if student.ndim == 2 else 0
  if not 0 <= sample_index < n:
    raise ValueError(f'sample_index {sample_index} is out of range for {n} examples.')
  prefix = f'{title}: ' if title else ''
  written = {}

  hist = analysis.mean_std_histogram(student, teacher, bins=bins)
  fig = plot_mean_std_histogram(hist, title=f'{prefix}per-sample logit mean vs standard deviation')
  summary = {f'{who}_{stat}_{how}': float(getattr(np, how)(hist[f'{who}_{stat}']))
             for who in ('teacher', 'student') for stat in ('mean', 'std') for how in ('mean', 'std')}
  written['logit_mean_std'] = save_figure(fig, {
      'description': 'bivariate histograms of the per-sample logit mean (rows) and std (columns, ddof=1)',
      'num_examples': n, 'summary': summary,
      **{k: hist[k] for k in ('mean_edges', 'std_edges', 'teacher_counts', 'student_counts')}},
      out_dir, 'logit_mean_std')[0]

  raw = analysis.class_pair_difference(student, teacher, labels)
  standardized = analysis.class_pair_difference(student, teacher, labels, standardize=True)
  fig = plot_class_pair_heatmaps(raw, standardized, title=f'{prefix}average teacher-student logit difference')
  written['class_pair_difference'] = save_figure(fig, {
      'description': ('D[i, j] = |mean over test samples of true class i of (student logit j - '
                      'teacher logit j)|, diagonal set to 0; mean over all K^2 entries'),
      'raw': {'summary': analysis.difference_summary(raw), 'matrix': raw},
      'zscored': {'summary': analysis.difference_summary(standardized), 'matrix': standardized}},
      out_dir, 'class_pair_difference')[0]

  t_z, s_z = (np.asarray(temperature.zscore(x[sample_index])) for x in (teacher, student))
  label = int(np.asarray(labels)[sample_index])
  fig = plot_sample_logits(teacher[sample_index], student[sample_index], t_z, s_z, label=label,
                           index=sample_index)
  written['sample_logits'] = save_figure(fig, {
      'sample_index': sample_index, 'label': label, 'teacher': teacher[sample_index],
      'student': student[sample_index], 'teacher_zscored': t_z, 'student_zscored': s_z},
      out_dir, 'sample_logits')[0]

  values = {
      f'max-logit tau (order {order}{", teacher only" if teacher_only else ""})':
          analysis.maxlogit_temperatures(student, teacher, order=order, teacher_only=teacher_only),
      f'LS teacher {ls_tau:g}*std(v)': analysis.ls_temperatures(teacher, tau=ls_tau),
      f'LS student {ls_tau:g}*std(z)': analysis.ls_temperatures(student, tau=ls_tau),
  }
  values = {name: np.asarray(v, np.float64) for name, v in values.items()}
  everything = np.concatenate([*values.values(), np.asarray(static, np.float64)])
  edges = np.histogram_bin_edges(everything, bins=bins)
  hists = {name: analysis.temperature_histogram(v, edges=edges, static=static) for name, v in values.items()}
  fig = plot_temperature_histograms(hists, static=static, learned=learned_temperature,
                                    title=f'{prefix}per-sample temperatures vs static values')
  data = {'static': list(static), 'policies': hists}
  if learned_temperature is not None:
    data['ctkd_learned'] = {'epoch': learned_temperature[0], 'temperature': learned_temperature[1]}
  written['temperatures'] = save_figure(fig, data, out_dir, 'temperatures')[0]
  return written


def metric_series(rows: Sequence[Mapping], name: str,
                  prefixes: Sequence[str] = ('',)) -> tuple[np.ndarray, np.ndarray] | None:
  """`(epochs, values)` of metric `prefix + name` (first prefix present) over metric rows, or None."""
  for prefix in prefixes:
    key = prefix + name
    points = [(row['epoch'], row[key]) for row in rows
              if key in row and row[key] is not None and np.isfinite(row[key])]
    if points:
      epochs, values = zip(*points)
      return np.asarray(epochs, np.float64), np.asarray(values, np.float64)
  return None


def log_figures(runs: Mapping[str, Sequence[Mapping]], out_dir: str, *, main: str | None = None,
                gamma: float | None = None) -> tuple[dict[str, str], dict[str, str]]:
  """Figures drawn from per-epoch metric rows (the trainer's `metrics.jsonl`) of one or more runs.

  Figures: `loss_correlation` (the `main` run's training loss and logit correlation per epoch, twin axes;
  seed 000 Fig. 1), `wall_time` (cumulative `epoch_seconds` per run; seed 000 Fig. 2), `test_accuracy`
  (`test_top1` per run), and `entropy_kl` (seed 002 Figs. 1-2) when the rows hold the
  `kdjax.analysis.EPOCH_STATISTICS` entries (`test_student_entropy`, ... or unprefixed).

  Args:
    runs: run name -> list of metric rows (dicts with `epoch` and scalars).
    out_dir: output directory.
    main: the run of `loss_correlation` (default: the first).
    gamma: the TTM power the logged `kl_transformed_teacher` used (recorded in `entropy_kl.json`).

  Returns:
    `(written, skipped)`: figure name -> PNG path, and figure name -> why it was not drawn.
  """
  if not runs:
    raise ValueError('log_figures needs at least one run.')
  main = next(iter(runs)) if main is None else main
  written, skipped = {}, {}

  loss = metric_series(runs[main], 'train_loss')
  correlation = metric_series(runs[main], 'train_logit_correlation')
  if loss is None or correlation is None:
    skipped['loss_correlation'] = (f'run {main!r} logs no train_loss/train_logit_correlation '
                                   '(CE-only runs have no teacher-student correlation)')
  else:
    fig = plot_loss_and_correlation(loss[0], loss[1], correlation[1], title=f'{main}: training loss and '
                                    'teacher-student logit correlation')
    rho = float(np.corrcoef(loss[1], correlation[1])[0, 1]) if len(loss[1]) > 1 else float('nan')
    written['loss_correlation'] = save_figure(fig, {
        'run': main, 'epoch': loss[0], 'train_loss': loss[1], 'train_logit_correlation': correlation[1],
        'pearson_loss_vs_correlation': rho}, out_dir, 'loss_correlation')[0]

  def curves(metric, stem, transform, **labels):
    series = {}
    for name, rows in runs.items():
      found = metric_series(rows, metric)
      if found is not None:
        series[name] = (found[0], transform(found[1]))
    if not series:
      skipped[stem] = f'no run logs {metric}'
      return
    written[stem] = save_figure(plot_curves(series, **labels), {
        'metric': metric, 'runs': {name: {'epoch': x, 'value': y} for name, (x, y) in series.items()}},
        out_dir, stem)[0]

  curves('epoch_seconds', 'wall_time', analysis.cumulative_wall_time, xlabel='epoch',
         ylabel='cumulative training wall time (s)', title='Cumulative wall time per epoch')
  curves('test_top1', 'test_accuracy', lambda y: y, xlabel='epoch', ylabel='test top-1 accuracy (%)',
         title='Test accuracy per epoch')

  entropy, kl = {}, {}
  for name, rows in runs.items():
    e = metric_series(rows, 'student_entropy', METRIC_PREFIXES)
    k = metric_series(rows, 'kl_transformed_teacher', METRIC_PREFIXES)
    if e is not None and k is not None:
      entropy[name], kl[name] = e, k
  if entropy:
    written['entropy_kl'] = entropy_kl_figure(entropy, kl, out_dir, source='metrics logs', gamma=gamma)
  else:
    skipped['entropy_kl'] = 'no run logs student_entropy and kl_transformed_teacher'
  return written, skipped


def entropy_kl_figure(entropy: Series, kl: Series, out_dir: str, *, source: str,
                      gamma: float | None = None) -> str:
  """Writes `entropy_kl.{png,json}` from per-run `(epochs, values)` series; returns the PNG path."""
  title = 'Student entropy and KL to the transformed teacher per epoch'
  if gamma is not None:
    title += f' (gamma = {gamma:g})'
  fig = plot_entropy_and_kl(entropy, kl, title=title)
  return save_figure(fig, {
      'source': source, 'gamma': gamma,
      'student_entropy': {name: {'epoch': x, 'value': y} for name, (x, y) in entropy.items()},
      'kl_transformed_teacher': {name: {'epoch': x, 'value': y} for name, (x, y) in kl.items()}},
      out_dir, 'entropy_kl')[0]
