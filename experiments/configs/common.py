"""Builds the trainer config of one published cell, and the docstrings of the per-table config files.

Every file `experiments/configs/<table>.py` is a few lines around this module, generated from the
published numbers by `python -m experiments.configs.common` (a test checks that they are up to date): its
`get_config(arg)` is `common.get_config('<table>', arg)`, its `get_cells()` is `common.cells('<table>')`
and its docstring is `render_docstring('<table>')`, the run commands and every cell with its published
number. `arg` is big_vision style:

    <cell>[,runlocal][,teachers=DIR]

`runlocal` (alias `smoke`) applies `kdjax.config.smoke_config` (two epochs of two steps on random data);
`teachers=DIR` points the teacher at `DIR/<teacher>_vanilla/ckpt_epoch_240.pth` (the layout the released
teachers ship in).
"""

from __future__ import annotations

import os
import textwrap

import ml_collections

from experiments import published
from kdjax import config as kdjax_config

# ImageNet protocol of spec/training.md.
IMAGENET_PROTOCOL = dict(dataset='imagenet2012', epochs=100, batch_size=256, eval_batch_size=250, lr=0.1,
                         lr_decay_epochs=(30, 60, 90), weight_decay=1e-4)
# ImageNet per-method settings: training.md gives only WTTM's (in kdjax.config.WTTM_TABLE); these come from
# the reference configs the ImageNet numbers were produced with (mdistiller configs/imagenet/{r34_r18,r50_mv1}
# kd.yaml / dkd.yaml; logit-standardization-KD configs/imagenet/r34_r18/kd_ours.yaml). Methods absent here
# keep their CIFAR preset values.
IMAGENET_METHOD_SETTINGS = {
    'kd': dict(temperature=1.0, ce_weight=0.5, kd_weight=0.5),
    'kd_ls': dict(temperature=1.0, ce_weight=0.5, kd_weight=0.5),
    'dkd': dict(temperature=1.0, ce_weight=1.0, kd_weight=1.0, dkd_alpha=1.0, warmup_epochs=1),
}
IMAGENET_DKD_BETA = {('resnet34', 'resnet18'): 0.5, ('resnet50', 'MobileNetV1'): 2.0}
# Cells whose pre-process the trainer cannot express (seed 001 Table 4's centre-only / scale-only columns).
# Seed 001 Table 4 columns: z (raw logits), z - mean, z / std, LS (full z-score).
_PREPROCESS_STANDARDIZE = {
    'none': {'standardize': False},
    'center': {'standardize': True, 'ls_center': True, 'ls_scale': False},
    'scale': {'standardize': True, 'ls_center': False, 'ls_scale': True},
    'zscore': {'standardize': True, 'ls_center': True, 'ls_scale': True},
}
_WIDTH = 100  # docstring line width

TITLES = {
    'seed001_table1': 'Seed 001 Table 1: logit methods with and without LS, same-architecture-family pairs.',
    'seed001_table2': 'Seed 001 Table 2: logit methods with and without LS, cross-architecture pairs.',
    'seed001_table4': 'Seed 001 Table 4: KD weight x logit pre-process (resnet32x4 -> resnet8x4).',
    'seed001_table5': 'Seed 001 Table 5: teachers of varied capacity distilled into wrn_16_2.',
    'seed002_ttm': 'Seed 002 Tables 1 and 3: TTM and WTTM.',
    'seed000_table1': 'Seed 000 Table 1: max-logit temperature and re-run baselines, cross-family pairs.',
    'seed000_table2': 'Seed 000 Table 2: max-logit temperature and re-run baselines, same-family pairs.',
    'seed000_table4': 'Seed 000 Table 4: KD weight sweep of zKD+Ours (resnet32x4 -> resnet8x4, w_ce 1).',
    'imagenet': 'ImageNet: ResNet34 -> ResNet18 and ResNet50 -> MobileNetV1 (top-1 / top-5).',
    'baselines': 'Teachers and students trained from scratch with cross-entropy (CIFAR-100).',
}


class MissingTrainerOption(ValueError):
  """A published cell needs a setting the trainer's config schema does not offer yet."""


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


def uses_published_settings(cell: published.PublishedCell) -> bool:
  """Whether training.md (or the ImageNet reference configs) gives this cell's per-pair settings.

  False means `kdjax.config.method_config(..., strict=False)` filled in the documented defaults.
  """
  if cell.method == 'ce' or cell.table == 'seed001_table4' or cell.table == 'seed000_table4':
    return True
  if cell.table == 'imagenet':  # training.md has WTTM's; the reference configs KD's and DKD's.
    return cell.method in IMAGENET_METHOD_SETTINGS or cell.method == 'wttm'
  try:
    kdjax_config.for_cell(cell.teacher, cell.student, cell.method)
  except KeyError:
    return False
  return True


def _apply_overrides(config: ml_collections.ConfigDict, cell: published.PublishedCell) -> None:
  for key, value in cell.overrides.items():
    if key == 'w_ce':
      config.ce_weight = value
    elif key == 'w_kd':
      config.kd_weight = value
    elif key == 'preprocess':
      if value not in _PREPROCESS_STANDARDIZE:
        raise MissingTrainerOption(
            f'cell {cell.table}:{cell.cell} needs the logit pre-process {value!r} '
            f'({published.OVERRIDE_KEYS["preprocess"]}); known: {sorted(_PREPROCESS_STANDARDIZE)}')
      config.update(_PREPROCESS_STANDARDIZE[value])
    else:
      raise KeyError(f'cell {cell.table}:{cell.cell} has an unknown override {key!r}')


def _apply_imagenet(config: ml_collections.ConfigDict, cell: published.PublishedCell) -> None:
  config.update(IMAGENET_PROTOCOL)
  config.update(IMAGENET_METHOD_SETTINGS.get(cell.method, {}))
  if cell.method == 'dkd':
    config.dkd_beta = IMAGENET_DKD_BETA[(cell.teacher, cell.student)]


def teacher_checkpoint(teachers_dir: str, teacher: str) -> str:
  """Where the released CIFAR teachers live: `<dir>/<teacher>_vanilla/ckpt_epoch_240.pth`."""
  return f'{teachers_dir.rstrip("/")}/{teacher}_vanilla/ckpt_epoch_240.pth'


def config_for(cell: published.PublishedCell, *, runlocal: bool = False,
               teachers_dir: str | None = None) -> ml_collections.ConfigDict:
  """The trainer config of one published cell.

  Starts from `kdjax.config.method_config(method, teacher, student)` (the per-pair tables of training.md;
  the documented defaults where a pair is missing, see `uses_published_settings`), then applies the
  ImageNet protocol for ImageNet cells and the cell's own overrides.

  Raises:
    MissingTrainerOption: the cell needs a setting the trainer lacks (seed 001 Table 4 centre/scale columns).
  """
  if cell.teacher is None:
    config = kdjax_config.method_config('ce', cell.student, cell.student)
    config.teacher = ''
  else:
    config = kdjax_config.method_config(cell.method, cell.teacher, cell.student)
  if cell.table == 'imagenet':
    _apply_imagenet(config, cell)
  _apply_overrides(config, cell)
  if teachers_dir and cell.teacher and cell.table != 'imagenet':
    config.teacher_checkpoint = teacher_checkpoint(teachers_dir, cell.teacher)
  if runlocal:
    config = kdjax_config.smoke_config(config)
  kdjax_config.validate(config)
  return config


def get_config(table: str, arg: str | None) -> ml_collections.ConfigDict:
  """`get_config` of `experiments/configs/<table>.py`; see the module docstring for `arg`."""
  cell, runlocal, teachers = parse_arg(arg)
  return config_for(published.lookup(table, cell), runlocal=runlocal, teachers_dir=teachers)


def cells(table: str) -> tuple[str, ...]:
  """The cell names of a table, in results.md order."""
  return tuple(c.cell for c in published.cells_of(table))


def _settings_column(cell: published.PublishedCell) -> str:
  if cell.overrides.get('preprocess') not in (None, *_PREPROCESS_STANDARDIZE):
    return 'needs a trainer option'
  return 'published' if uses_published_settings(cell) else 'defaults'


def render_docstring(table: str) -> str:
  """The docstring of `experiments/configs/<table>.py`: commands, then every cell and its number."""
  runner = 'experiments.imagenet' if table == 'imagenet' else 'experiments.cifar100'
  cells_ = published.cells_of(table)
  first = cells_[0].cell
  with_top5 = any(c.top5 is not None for c in cells_)
  notes = sorted({c.note for c in cells_ if c.note})
  lines = [TITLES[table], *textwrap.wrap(published.TABLE_NOTES.get(table, ''), _WIDTH), 
      '', 'One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):',
      '', f'  python -m {runner} --config=experiments/configs/{table}.py:{first} \\',
      f'      --workdir=/tmp/{table}/{first}',
      '', 'The whole table over three seeds, then its measured-vs-published markdown:', '',
      f'  python -m experiments.sweep --table={table} --seeds=0,1,2 --workdir=/tmp/{table}', '',
      *textwrap.wrap(
          'settings: "published" = the per-pair values of training.md (ImageNet: of the reference '
          'configs); "defaults" = the spec has no setting for this pair (ImageNet: for this method), so '
          'the documented defaults of kdjax.config (ImageNet: the CIFAR preset) are used; "needs a '
          'trainer option" = get_config raises.', _WIDTH),
      '',
      '| cell | teacher -> student | column | top-1 |' + (' top-5 |' if with_top5 else '') + ' settings |',
      '|---|---|---|---|' + ('---|' if with_top5 else '') + '---|',
  ]
  for c in cells_:
    top5 = (f' {published.format_number(c.top5)} |' if c.top5 is not None else ' |') if with_top5 else ''
    marker = f' [{notes.index(c.note) + 1}]' if c.note else ''
    lines.append(f'| {c.cell} | {c.pair} | {c.column} | {published.format_number(c.top1)} |{top5} '
                 f'{_settings_column(c)}{marker} |')
  if notes:
    lines.append('')
    for i, note in enumerate(notes, 1):
      lines += textwrap.wrap(f'[{i}] {note}', _WIDTH, subsequent_indent='    ')
  return '\n'.join(lines) + '\n'


_CONFIG_FILE = '''r"""{doc}"""

from experiments.configs import common

TABLE = {table!r}


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in results.md order."""
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
