"""Builds the trainer config of one published cell, and the docstrings of the per-table config files.

Every file `experiments/configs/<table>.py` is a few lines around this module, generated from the
published numbers by `python -m experiments.configs.common` (a test checks that they are up to date): its
`get_config(arg)` is `common.get_config('<table>', arg)`, its `get_cells()` is `common.cells('<table>')`
and its docstring is `render_docstring('<table>')`: the run commands and every cell with its published
number. `arg` is big_vision style:

    <cell>[,runlocal][,teachers=DIR]

`runlocal` (alias `smoke`) applies `kdjax.config.smoke_config` (two epochs of two steps on random data);
`teachers=DIR` takes the teacher from a directory of teachers (`kdjax.teachers.find_teacher`: converted
kdjax teachers `DIR/<name>/` or the released `DIR/<name>_vanilla/ckpt_epoch_240.pth`).

A cell's settings are its recipe (`kdjax.recipes.resolve`: protocol, method preset, per-pair values,
each with its source) plus the cell's own overrides (sourced to its table);
`python -m experiments.sweep --table=<table> --show` prints them.
"""

from __future__ import annotations

import os
import textwrap

import ml_collections

from experiments import published
from kdjax import config as kdjax_config
from kdjax import recipes
from kdjax import teachers as teachers_lib

# Seed 001 Table 4 columns: z (raw logits), z - mean, z / std, LS (full z-score).
PREPROCESS = {
    'none': {'logit.standardize': False},
    'center': {'logit.standardize': True, 'ls.center': True, 'ls.scale': False},
    'scale': {'logit.standardize': True, 'ls.center': False, 'ls.scale': True},
    'zscore': {'logit.standardize': True, 'ls.center': True, 'ls.scale': True},
}
_WIDTH = 100  # docstring line width

TITLES = {
    'seed001_table1': 'Seed 001 Table 1: logit methods with and without LS, distinct architectures.',
    'seed001_table2': 'Seed 001 Table 2: logit methods with and without LS, identical architectures.',
    'seed001_table4': 'Seed 001 Table 4: KD weight x logit pre-process (resnet32x4 -> resnet8x4).',
    'seed001_table5': 'Seed 001 Table 5: teachers of varied capacity distilled into wrn_16_2.',
    'seed002_table1': 'Seed 002 Table 1: TTM, WTTM and the baselines, identical architectures.',
    'seed002_table2': 'Seed 002 Table 2: WTTM combined with CRD and ITRD, identical architectures.',
    'seed002_table3': 'Seed 002 Table 3: TTM, WTTM and the baselines, distinct architectures.',
    'seed002_table4': 'Seed 002 Table 4: WTTM combined with CRD and ITRD, distinct architectures.',
    'seed002_table5': 'Seed 002 Table 5: ImageNet top-1, ResNet34 -> ResNet18 and ResNet50 -> '
                      'MobileNetV1.',
    'seed002_table6': 'Seed 002 Table 6: WTTM without the cross-entropy term.',
    'seed002_table7': 'Seed 002 Table 7: ImageNet ResNet-18 distilled from ResNet-34/50/101/152.',
    'seed002_table13': 'Seed 002 Table 13: ImageNet, DeiT III-Small distilled into DeiT-Tiny (yzd-v/cls_KD).',
    'seed000_table1': 'Seed 000 Table 1: max-logit temperature and re-run baselines, cross-family pairs.',
    'seed000_table2': 'Seed 000 Table 2: max-logit temperature and re-run baselines, same-family pairs.',
    'seed000_table4': 'Seed 000 Table 4: KD weight sweep of zKD+Ours (resnet32x4 -> resnet8x4, w_ce 1).',
    'imagenet': 'Seed 001 Table 3 (and seed 002\'s WTTM): ImageNet ResNet34 -> ResNet18 and ResNet50 '
                '-> MobileNetV1 (top-1 / top-5).',
    'baselines': 'Teachers and students trained from scratch with cross-entropy (CIFAR-100).',
}


def parse_arg(arg: str | None) -> tuple[str, bool, str | None]:
  """Splits `<cell>[,runlocal][,teachers=DIR]` into (cell, runlocal, teachers_dir).

  Raises:
    ValueError: empty cell name or an unknown option.
  """
  parts = [p.strip() for p in (arg or '').split(',')]
  cell, options = parts[0], parts[1:]
  if not cell:
    raise ValueError('no cell given: use --config=experiments/configs/<table>.py:<cell> '
                     '(the config file docstring lists the cells)')
  runlocal, teachers = False, None
  for option in options:
    if option in ('runlocal', 'smoke'):
      runlocal = True
    elif option.startswith('teachers='):
      teachers = option.split('=', 1)[1]
    else:
      raise ValueError(f'unknown config option {option!r} in {arg!r}; '
                       'expected runlocal, smoke or teachers=DIR')
  return cell, runlocal, teachers


def _overrides(cell: published.PublishedCell) -> dict[str, recipes.Setting]:
  """The cell's own settings (its table's), as dotted fields with the cell's source."""
  out = {}
  for key, value in cell.overrides.items():
    if key == 'preprocess':
      if value not in PREPROCESS:
        raise KeyError(f'cell {cell.table}:{cell.cell} needs the logit pre-process {value!r}; '
                       f'known: {sorted(PREPROCESS)}')
      out.update({field: recipes.Setting(v, f'{cell.source} ({cell.column})')
                  for field, v in PREPROCESS[value].items()})
    elif key in published.OVERRIDE_KEYS:
      out[key] = recipes.Setting(value, f'{cell.source} ({cell.column})')
    else:
      raise KeyError(f'cell {cell.table}:{cell.cell} has an unknown override {key!r}')
  return out


def resolve(cell: published.PublishedCell, *, strict: bool = False) -> recipes.Resolved:
  """The cell's config and the source of every setting (see the module docstring)."""
  resolved = recipes.resolve(cell.method, cell.teacher or '', cell.student, recipe=cell.recipe,
                             strict=strict)
  config = resolved.config
  for field, setting in _overrides(cell).items():
    config.update_from_flattened_dict({field: setting.value})
    resolved.sources[field] = setting.source
  config.method = None
  kdjax_config.validate(config)
  return resolved


def uses_published_settings(cell: published.PublishedCell) -> bool:
  """Whether every per-pair value of the cell has a source (False: a table fell back to a default)."""
  try:
    resolved = resolve(cell, strict=True)
  except KeyError:
    return False
  return not any(source.startswith(recipes.DEFAULT) for source in resolved.sources.values()
                 if source)


def config_for(cell: published.PublishedCell, *, runlocal: bool = False,
               teachers_dir: str | None = None) -> ml_collections.ConfigDict:
  """The trainer config of one published cell (its ``method`` left to be derived).

  Raises:
    teachers.TeacherNotFoundError: ``teachers_dir`` holds no teacher of the cell's model.
  """
  config = resolve(cell).config
  if teachers_dir and cell.teacher:
    config.teacher_checkpoint = teachers_lib.find_teacher(teachers_dir, cell.teacher)
  if runlocal:
    config = kdjax_config.smoke_config(config)
  kdjax_config.validate(config)
  config.method = None  # derived again after any --config.<field> override
  return config


def get_config(table: str, arg: str | None) -> ml_collections.ConfigDict:
  """`get_config` of `experiments/configs/<table>.py`; see the module docstring for `arg`."""
  cell, runlocal, teachers = parse_arg(arg)
  return config_for(published.lookup(table, cell), runlocal=runlocal, teachers_dir=teachers)


def cells(table: str) -> tuple[str, ...]:
  """The cell names of a table, in the paper's order."""
  return tuple(c.cell for c in published.cells_of(table))


def settings_status(cell: published.PublishedCell) -> str:
  """'published' (every per-pair value sourced) or 'defaults' (some value is a documented default)."""
  return 'published' if uses_published_settings(cell) else 'defaults'


def show(table: str, names: tuple[str, ...] | None = None) -> str:
  """Every cell's resolved settings with their sources (``experiments.sweep --show``).

  Each value is followed by the number of its source in the legend printed after the cells;
  a source starting with ``default`` means no reference gives that value for the pair.
  """
  blocks, legend = [], {}
  for cell in published.cells_of(table):
    if names and cell.cell not in names:
      continue
    resolved = resolve(cell)
    lines = [f'{table}:{cell.cell}  ({cell.pair}, {cell.column}; published '
             f'{published.format_number(cell.top1)} ({cell.statistic} epoch), mean of {cell.runs} '
             f'run(s); recipe {cell.recipe}; method '
             f'{kdjax_config.validate(resolved.config).method})']
    if cell.note:
      lines.append(f'  note: {cell.note}')
    for field, value, source in recipes.describe(resolved):
      number = legend.setdefault(source, len(legend) + 1)
      lines.append(f'  {field:<22} {value:<16} [{number}]')
    blocks.append('\n'.join(lines))
  sources = [f'[{n}] {source}' for source, n in legend.items()]
  head = f'{table}: published statistic: {published.TABLE_STATISTICS[table]}\n\n'
  return head + '\n\n'.join(blocks) + '\n\nsources:\n' + '\n'.join(sources) + '\n'


def render_docstring(table: str) -> str:
  """The docstring of `experiments/configs/<table>.py`: commands, then every cell and its number."""
  cells_ = published.cells_of(table)
  on_imagenet = any(c.recipe in recipes.IMAGENET_RECIPES for c in cells_)
  runner = 'experiments.imagenet' if on_imagenet else 'experiments.cifar100'
  first = cells_[0].cell
  with_top5 = any(c.top5 is not None for c in cells_)
  notes = sorted({c.note for c in cells_ if c.note})
  runs = sorted({c.runs for c in cells_})
  lines = [TITLES[table], *textwrap.wrap(published.TABLE_NOTES.get(table, ''), _WIDTH),
           *textwrap.wrap(f'Published statistic: {published.TABLE_STATISTICS[table]}.', _WIDTH),
           '', 'One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released '
           'teachers):', '', f'  python -m {runner} --config=experiments/configs/{table}.py:{first} \\',
           f'      --workdir=/tmp/{table}/{first}',
           '', f'The whole table ({"/".join(map(str, runs))} run(s) per cell, as published), then its '
           'measured-vs-published markdown; `--show` prints every cell\'s settings and their sources:',
           '', f'  python -m experiments.sweep --table={table} --workdir=/tmp/{table}',
           f'  python -m experiments.sweep --table={table} --show', '',
           *textwrap.wrap(
               'epoch: the statistic the published number is (best or last epoch; the sweep '
               'compares the same). settings: "published" = every per-pair value comes from a '
               'reference config, log or the paper; "defaults" = some value has no source for this '
               'pair and is a documented default (--show names it).', _WIDTH),
           '',
           '| cell | teacher -> student | column | top-1 |' + (' top-5 |' if with_top5 else '')
           + ' epoch | settings |',
           '|---|---|---|---|' + ('---|' if with_top5 else '') + '---|---|']
  for c in cells_:
    top5 = (f' {published.format_number(c.top5)} |' if c.top5 is not None else ' |') if with_top5 else ''
    marker = f' [{notes.index(c.note) + 1}]' if c.note else ''
    lines.append(f'| {c.cell} | {c.pair} | {c.column} | {published.format_number(c.top1)} |{top5} '
                 f'{c.statistic} | {settings_status(c)}{marker} |')
  if notes:
    lines.append('')
    for i, note in enumerate(notes, 1):
      lines += textwrap.wrap(f'[{i}] {note}', _WIDTH, subsequent_indent='    ')
  return '\n'.join(lines) + '\n'


_CONFIG_FILE = '''r"""{doc}"""

from experiments.configs import common

TABLE = {table!r}


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
'''


def config_file_text(table: str) -> str:
  """The whole text of `experiments/configs/<table>.py` (`python -m experiments.configs.common` writes it)."""
  return _CONFIG_FILE.format(doc=render_docstring(table), table=table)


def write_config_files(directory: str) -> list[str]:
  """(Re)writes every table's config file into `directory`; returns their paths."""
  paths = []
  for table in published.table_names():
    paths.append(os.path.join(directory, f'{table}.py'))
    with open(paths[-1], 'w') as f:
      f.write(config_file_text(table))
  return paths


if __name__ == '__main__':
  for written in write_config_files(os.path.dirname(os.path.abspath(__file__))):
    print(written)
