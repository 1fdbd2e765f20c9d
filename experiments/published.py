"""The published numbers of the papers, as data: one `PublishedCell` per table cell.

CIFAR-100 / ImageNet top-1 % (the mean of the paper's runs; best epoch unless a cell's `statistic` says
'last', see `TABLE_STATISTICS`) of: seed 001 = Sun et
al., "Logit Standardization in Knowledge Distillation", CVPR 2024 (Tables 1-5); seed 002 = Zheng & Yang,
"Knowledge Distillation Based on Transformed Teacher Matching", ICLR 2024 (Tables 1-7); seed 000 =
Matsuyama et al., "Adaptive Temperature Based on Logits Correlation in Knowledge Distillation", 2025
(Tables 1, 2, 4). Tables are grouped the way they are swept: one sweep table per published table
(`seed001_table1`, ..., `imagenet`), each cell named `<teacher>-<student>-<method>` (or after its swept
hyperparameter for the ablations), so that `experiments/configs/<table>.py:<cell>` runs it.

Seed 001's Table 1 holds the pairs of distinct architectures and its Table 2 the same-architecture pairs
(its Sec. 5.1); seed 002's Table 1 the same-architecture pairs, its Table 3 the others; seed 000's Table 2
is the block with the swapped student labels (same-family pairs), its Table 1 the other block.

Method names are the trainer's presets (`kdjax.methods.presets()`): ce, kd, kd_ls, ctkd, ctkd_ls, dkd,
dkd_ls, mlkd, mlkd_ls, ttm, wttm, kd_maxlogit (zKD+Ours), dkd_maxlogit (zDKD+Ours). A cell's settings are
its `recipe` (`kdjax.recipes`: the paper's protocol and per-pair values); `overrides` holds only what
distinguishes a cell from its recipe (`OVERRIDE_KEYS`), sourced to the cell's table.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from kdjax import config as kdjax_config
from kdjax import recipes

SEED001 = 'seed 001 (Sun et al., CVPR 2024, logit standardization)'
SEED002 = 'seed 002 (Zheng & Yang, ICLR 2024, TTM/WTTM)'
SEED000 = 'seed 000 (Matsuyama et al. 2025, max-logit temperature)'

# Override keys a published cell may carry, with what they mean.
OVERRIDE_KEYS = {
    'ce_weight': 'cross-entropy weight',
    'logit.weight': 'distillation weight (for DKD+LS / zDKD+Ours: the weight w multiplying alpha '
                    'and beta)',
    'logit.temperature': 'base temperature (LS tau)',
    'preprocess': "logit pre-process before the KD softmax: 'none' (z), 'center' (z - mean), "
                  "'scale' (z / std) or 'zscore' (LS)",
}
# Runs averaged by each paper's numbers: seed 001 "All results are reported by taking average over
# 4 trials" (its Sec. 5); seed 002: 5 runs for its same-architecture Table 1, 3 for the others;
# seed 000: one run per cell; ImageNet numbers are single runs.
RUNS = {'seed001': 4, 'seed002_same': 5, 'seed002_cross': 3, 'seed000': 1, 'imagenet': 1,
        'scratch': 1}


class UnknownCellError(KeyError):
  """A table or cell name that the published tables do not contain."""


@dataclasses.dataclass(frozen=True)
class PublishedCell:
  """One published number and everything needed to rerun it.

  Attributes:
    table: sweep table name, also the config file `experiments/configs/<table>.py`.
    cell: the cell's name inside its table (the `:<cell>` of `--config`), also its sweep directory.
    teacher: teacher model name (`kdjax.models.names()`), None for a model trained from scratch.
    student: student model name.
    method: trainer method preset.
    top1: published top-1 accuracy (%).
    top5: published top-5 accuracy (%), ImageNet only.
    overrides: settings that differ from the cell's recipe (`OVERRIDE_KEYS`).
    column: the column header as printed in the paper.
    source: the paper and table the number comes from.
    recipe: the `kdjax.recipes` recipe that gives the cell's settings.
    runs: how many runs the published number averages (the sweep's default number of seeds).
    note: anything a reader of the number must know (label swaps, uncertain settings).
    statistic: which epoch's top-1 the number is: 'best' (the best test epoch of each run) or
      'last' (the final epoch); the sweep compares its measurement of that statistic.
  """
  table: str
  cell: str
  teacher: str | None
  student: str
  method: str
  top1: float
  column: str
  source: str
  top5: float | None = None
  overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  recipe: str = 'seed001'
  runs: int = 1
  note: str = ''
  statistic: str = 'best'

  @property
  def pair(self) -> str:
    """`teacher -> student`, or the student alone when trained from scratch."""
    return f'{self.teacher} -> {self.student}' if self.teacher else self.student


def _pair_cell(teacher: str, student: str, method: str) -> str:
  return f'{teacher}-{student}-{method}'


# ---------------------------------------------------------------------------------------------------------
# Seed 001 Tables 1-2 (and the TTM / WTTM columns of seed 002 Tables 1 and 3).
_SEED001_COLUMNS = (('KD', 'kd'), ('KD+LS', 'kd_ls'), ('CTKD', 'ctkd'), ('CTKD+LS', 'ctkd_ls'),
                    ('DKD', 'dkd'), ('DKD+LS', 'dkd_ls'), ('MLKD', 'mlkd'), ('MLKD+LS', 'mlkd_ls'))
_SEED001_ROWS = {  # teacher, student: KD, KD+LS, CTKD, CTKD+LS, DKD, DKD+LS, MLKD, MLKD+LS
    # Table 2 (identical architectures, different configurations).
    ('resnet32x4', 'resnet8x4'): (73.33, 76.62, 73.39, 76.67, 76.32, 77.01, 77.08, 78.28),
    ('vgg13', 'vgg8'): (72.98, 74.36, 73.52, 74.47, 74.68, 74.81, 75.18, 75.22),
    ('wrn_40_2', 'wrn_40_1'): (73.54, 74.37, 73.93, 74.58, 74.81, 74.89, 75.35, 75.56),
    ('wrn_40_2', 'wrn_16_2'): (74.92, 76.11, 75.45, 76.08, 76.24, 76.39, 76.63, 76.95),
    ('resnet56', 'resnet20'): (70.66, 71.43, 71.19, 71.34, 71.97, 72.32, 72.19, 72.33),
    ('resnet110', 'resnet32'): (73.08, 74.17, 73.52, 74.01, 74.11, 74.29, 74.11, 74.32),
    ('resnet110', 'resnet20'): (70.67, 71.48, 70.99, 71.39, 71.06, 71.85, 71.89, 72.27),
    # Table 1 (distinct architectures).
    ('resnet32x4', 'ShuffleV2'): (74.45, 75.56, 75.37, 76.18, 77.07, 77.37, 78.44, 78.76),
    ('resnet32x4', 'wrn_16_2'): (74.90, 75.26, 74.57, 75.16, 75.70, 76.19, 76.52, 77.53),
    ('resnet32x4', 'wrn_40_2'): (77.70, 77.92, 77.66, 77.99, 78.46, 78.95, 79.26, 79.66),
    ('wrn_40_2', 'resnet8x4'): (73.97, 77.11, 74.61, 77.03, 75.56, 76.75, 77.33, 77.68),
    ('wrn_40_2', 'MobileNetV2'): (68.36, 69.23, 68.34, 69.53, 69.28, 70.01, 70.78, 71.61),
    ('vgg13', 'MobileNetV2'): (67.37, 68.61, 68.50, 68.98, 69.71, 69.98, 70.57, 70.94),
    ('ResNet50', 'MobileNetV2'): (67.35, 69.02, 68.67, 69.36, 70.35, 70.45, 71.04, 71.19),
}
_MLKD_NOTE = ('MLKD columns of seed 001 use 480-epoch training (960 for ShuffleV1/V2 students) '
              'with the strong view')

_SEED002_ROWS = {  # teacher, student: TTM, WTTM (Table 1 same family, Table 3 cross family)
    ('resnet32x4', 'resnet8x4'): (76.17, 76.06),
    ('vgg13', 'vgg8'): (74.33, 74.44),
    ('wrn_40_2', 'wrn_40_1'): (74.32, 74.58),
    ('wrn_40_2', 'wrn_16_2'): (76.23, 76.37),
    ('resnet56', 'resnet20'): (71.83, 71.92),
    ('resnet110', 'resnet32'): (73.97, 74.13),
    ('resnet110', 'resnet20'): (71.46, 71.67),
    ('resnet32x4', 'ShuffleV2'): (76.57, 76.55),
    ('vgg13', 'MobileNetV2'): (68.98, 69.16),
    ('ResNet50', 'MobileNetV2'): (69.24, 69.59),
    ('ResNet50', 'vgg8'): (74.87, 74.82),
    ('resnet32x4', 'ShuffleV1'): (74.18, 74.37),
    ('wrn_40_2', 'ShuffleV1'): (75.39, 75.42),
}

# ---------------------------------------------------------------------------------------------------------
# Seed 000 Tables 1-2: one run per cell, its own re-runs of the baselines.
_SEED000_COLUMNS = (('zKD', 'kd_ls'), ('zCTKD', 'ctkd_ls'), ('zKD+Ours', 'kd_maxlogit'), ('zDKD', 'dkd_ls'),
                    ('zDKD+Ours', 'dkd_maxlogit'), ('TTM', 'ttm'), ('WTTM', 'wttm'))
_SEED000_TABLE1 = {  # teacher, student: zKD, zCTKD, zKD+Ours, zDKD, zDKD+Ours, TTM (no WTTM column)
    ('resnet32x4', 'ShuffleV2'): (76.62, 76.18, 76.52, 76.41, 75.96, 75.39),
    ('resnet32x4', 'wrn_16_2'): (75.05, 75.20, 75.56, 75.72, 76.05, 75.68),
    ('resnet32x4', 'wrn_40_2'): (78.45, 77.91, 78.41, 79.13, 78.86, 77.96),
    ('wrn_40_2', 'resnet8x4'): (76.53, 77.01, 75.02, 74.55, 74.82, 75.93),
    ('wrn_40_2', 'MobileNetV2'): (69.39, 68.62, 69.89, 68.66, 68.95, 68.18),
    ('vgg13', 'MobileNetV2'): (69.79, 69.32, 69.47, 69.04, 68.44, 67.91),
    ('ResNet50', 'MobileNetV2'): (69.21, 69.19, 70.11, 69.19, 69.78, 67.80),
}
_SEED000_TABLE2 = {  # teacher, student: zKD, zCTKD, zKD+Ours, zDKD, zDKD+Ours, TTM, WTTM
    ('wrn_40_2', 'wrn_16_2'): (75.90, 76.28, 76.03, 75.17, 75.66, 76.25, 75.62),
    ('wrn_40_2', 'wrn_40_1'): (74.68, 74.45, 74.45, 74.09, 74.85, 74.00, 73.63),
    ('resnet56', 'resnet20'): (71.06, 71.49, 70.87, 70.45, 71.90, 71.38, 71.62),
    ('resnet110', 'resnet20'): (71.09, 71.83, 70.57, 70.79, 71.22, 71.06, 71.25),
    ('resnet110', 'resnet32'): (73.52, 73.87, 73.17, 72.76, 73.24, 73.53, 73.81),
    ('resnet32x4', 'resnet8x4'): (76.24, 76.27, 76.11, 75.28, 76.94, 75.81, 74.80),
    ('vgg13', 'vgg8'): (74.135, 73.99, 74.54, 73.89, 75.12, 74.37, 73.50),
}
_SEED000_SWAPPED = {
    ('resnet110', 'resnet32'): ("printed as ResNet110 -> ResNet8x4 in seed 000 Table 2; the student's "
                                "from-scratch accuracy there (71.69) is resnet32's, so the row is resnet32"),
    ('resnet32x4', 'resnet8x4'): ("printed as ResNet32x4 -> ResNet32 in seed 000 Table 2; the student's "
                                  "from-scratch accuracy there (72.42) is resnet8x4's, so the row is "
                                  "resnet8x4"),
}

# ---------------------------------------------------------------------------------------------------------
# Ablations.
_W_KD_SWEEP = (0.9, 3, 6, 9, 12, 15, 18)
_SEED001_TABLE4 = {  # pre-process (column as printed): top-1 per w_kd in _W_KD_SWEEP
    ('none', 'z'): (73.60, 74.38, 74.45, 73.33, 68.29, 65.34, 63.45),
    ('center', 'z - mean'): (73.37, 74.33, 74.82, 73.94, 71.56, 62.01, 61.31),
    ('scale', 'z / std'): (73.79, 75.86, 76.44, 76.30, 76.49, 76.42, 76.18),
    ('zscore', 'LS'): (74.14, 76.11, 76.56, 76.62, 76.56, 76.61, 76.33),
}
_SEED000_TABLE4 = (73.32, 73.42, 74.24, 75.90, 76.27, 76.14, 76.38)  # zKD+Ours, w_ce 1, per w_kd
_SEED001_TABLE5_TEACHERS = ('vgg13', 'wrn_28_2', 'wrn_40_2', 'wrn_16_4', 'wrn_28_4', 'ResNet50')
_SEED001_TABLE5 = {  # method: top-1 per teacher in _SEED001_TABLE5_TEACHERS, student wrn_16_2
    ('KD', 'kd'): (74.93, 75.37, 74.92, 75.79, 75.04, 75.36),
    ('KD+LS', 'kd_ls'): (75.03, 76.32, 76.11, 76.72, 75.77, 76.24),
    ('DKD', 'dkd'): (75.45, 75.92, 76.24, 76.00, 76.45, 76.60),
    ('DKD+LS', 'dkd_ls'): (75.56, 76.39, 76.39, 76.68, 76.67, 76.82),
}

# ---------------------------------------------------------------------------------------------------------
# ImageNet (top-1, top-5); the LS-paper columns come from seed 001, WTTM (top-1 only) from seed 002.
_IMAGENET = {
    ('resnet34', 'resnet18'): {
        'kd': (71.03, 90.05), 'kd_ls': (71.42, 90.29), 'ctkd': (71.38, 90.27), 'ctkd_ls': (71.81, 90.46),
        'dkd': (71.70, 90.41), 'dkd_ls': (71.88, 90.58), 'mlkd': (71.90, 90.55), 'mlkd_ls': (72.08, 90.74),
        'wttm': (72.19, None)},
    ('resnet50', 'MobileNetV1'): {
        'kd': (70.50, 89.80), 'kd_ls': (72.18, 90.80), 'ctkd': (71.16, 90.11), 'ctkd_ls': (72.92, 91.25),
        'dkd': (72.05, 91.05), 'dkd_ls': (72.85, 91.23), 'mlkd': (73.01, 91.42), 'mlkd_ls': (73.22, 91.59),
        'wttm': (73.09, None)},
}
_IMAGENET_COLUMNS = {'kd': 'KD', 'kd_ls': 'KD+LS', 'ctkd': 'CTKD', 'ctkd_ls': 'CTKD+LS', 'dkd': 'DKD',
                     'dkd_ls': 'DKD+LS', 'mlkd': 'MLKD', 'mlkd_ls': 'MLKD+LS', 'wttm': 'WTTM'}

# From-scratch baselines (the "Teachers:" / "Students from scratch:" lines and Table 5's teacher list).
_BASELINE_TEACHERS = {'resnet56': 72.34, 'resnet110': 74.31, 'resnet32x4': 79.42, 'wrn_40_2': 75.61,
                      'vgg13': 74.64, 'ResNet50': 79.34, 'wrn_28_2': 75.45, 'wrn_16_4': 77.51,
                      'wrn_28_4': 78.60}
_BASELINE_STUDENTS = {'resnet20': 69.06, 'resnet32': 71.14, 'resnet8x4': 72.50, 'wrn_16_2': 73.26,
                      'wrn_40_1': 71.98, 'vgg8': 70.36, 'MobileNetV2': 64.60, 'ShuffleV1': 70.50,
                      'ShuffleV2': 71.82}


def _same_family(teacher: str, student: str) -> bool:
  return recipes.family(teacher) == recipes.family(student)


def _seed001_tables12() -> list[PublishedCell]:
  cells = []
  for (teacher, student), values in _SEED001_ROWS.items():
    number = 2 if _same_family(teacher, student) else 1
    for (column, method), top1 in zip(_SEED001_COLUMNS, values):
      cells.append(PublishedCell(
          table=f'seed001_table{number}', cell=_pair_cell(teacher, student, method), teacher=teacher,
          student=student, method=method, top1=top1, column=column, source=f'{SEED001}, Table {number}',
          recipe='seed001', runs=RUNS['seed001'], note=_MLKD_NOTE if method.startswith('mlkd') else ''))
  return cells


def _seed002() -> list[PublishedCell]:
  cells = []
  for (teacher, student), values in _SEED002_ROWS.items():
    same = _same_family(teacher, student)
    number = 1 if same else 3
    for column, top1 in zip(('TTM', 'WTTM'), values):
      method = column.lower()
      cells.append(PublishedCell(
          table=f'seed002_table{number}', cell=_pair_cell(teacher, student, method), teacher=teacher,
          student=student,
          method=method, top1=top1, column=column, source=f'{SEED002}, Table {number}', recipe='seed002',
          runs=RUNS['seed002_same' if same else 'seed002_cross']))
  return cells


def _seed000_tables12() -> list[PublishedCell]:
  cells = []
  for number, rows in ((1, _SEED000_TABLE1), (2, _SEED000_TABLE2)):
    for (teacher, student), values in rows.items():
      note = _SEED000_SWAPPED.get((teacher, student), '')
      for (column, method), top1 in zip(_SEED000_COLUMNS, values):
        cells.append(PublishedCell(
            table=f'seed000_table{number}', cell=_pair_cell(teacher, student, method), teacher=teacher,
            student=student, method=method, top1=top1, column=column, source=f'{SEED000}, Table {number}',
            recipe='seed000', runs=RUNS['seed000'], note=note))
  return cells


def _ablations() -> list[PublishedCell]:
  cells = []
  for (preprocess, column), values in _SEED001_TABLE4.items():
    for w_kd, top1 in zip(_W_KD_SWEEP, values):
      cells.append(PublishedCell(
          table='seed001_table4', cell=f'{preprocess}-w{w_kd:g}', teacher='resnet32x4', student='resnet8x4',
          method='kd_ls', top1=top1, column=f'{column}, w_kd {w_kd:g}', source=f'{SEED001}, Table 4',
          overrides={'preprocess': preprocess, 'logit.weight': float(w_kd), 'ce_weight': 0.1,
                     'logit.temperature': 2.0},
          recipe='seed001', runs=RUNS['seed001']))
  for w_kd, top1 in zip(_W_KD_SWEEP, _SEED000_TABLE4):
    cells.append(PublishedCell(
        table='seed000_table4', cell=f'w{w_kd:g}', teacher='resnet32x4', student='resnet8x4',
        method='kd_maxlogit', top1=top1, column=f'zKD+Ours, w_kd {w_kd:g}', source=f'{SEED000}, Table 4',
        overrides={'ce_weight': 1.0, 'logit.weight': float(w_kd)}, recipe='seed000', runs=RUNS['seed000']))
  for (column, method), values in _SEED001_TABLE5.items():
    for teacher, top1 in zip(_SEED001_TABLE5_TEACHERS, values):
      cells.append(PublishedCell(
          table='seed001_table5', cell=_pair_cell(teacher, 'wrn_16_2', method), teacher=teacher,
          student='wrn_16_2', method=method, top1=top1, column=column, source=f'{SEED001}, Table 5',
          recipe='seed001', runs=RUNS['seed001']))
  return cells


def _imagenet() -> list[PublishedCell]:
  cells = []
  for (teacher, student), methods in _IMAGENET.items():
    for method, (top1, top5) in methods.items():
      source = SEED002 if method == 'wttm' else SEED001
      cells.append(PublishedCell(
          table='imagenet', cell=_pair_cell(teacher, student, method), teacher=teacher, student=student,
          method=method, top1=top1, top5=top5, column=_IMAGENET_COLUMNS[method],
          source=f'{source}, ' + ('Table 5' if method == 'wttm' else 'Table 3'), recipe='imagenet',
          runs=RUNS['imagenet']))
  return cells


# Where each from-scratch number is printed (default: seed 001's "Teacher" / "Student" rows).
_BASELINE_SOURCES = {
    **{m: f'{SEED001}, Table 5 (teacher accuracies)' for m in ('wrn_28_2', 'wrn_16_4', 'wrn_28_4')},
    'ShuffleV1': f'{SEED002}, Table 3 (student row; seed 001 has no ShuffleV1 pair)',
}


def _baselines() -> list[PublishedCell]:
  cells = []
  for role, models in (('teacher', _BASELINE_TEACHERS), ('student', _BASELINE_STUDENTS)):
    for model, top1 in models.items():
      cells.append(PublishedCell(
          table='baselines', cell=f'{model}-ce', teacher=None, student=model, method='ce', top1=top1,
          column=f'{role} from scratch',
          source=_BASELINE_SOURCES.get(
              model, f'{SEED001}, Tables 1-2 (teachers and students trained from scratch)'),
          recipe='scratch', runs=RUNS['scratch']))
  return cells


# The teacher and student rows printed inside a table: (table, model, role, top-1, top-5, source,
# recipe, note). ImageNet teachers are the torchvision checkpoints the runs distil from; a run of
# such a cell trains the model from scratch with the table's protocol.
_TORCHVISION_NOTE = ('the torchvision IMAGENET1K_V1 checkpoint\'s accuracy (the teacher the cells '
                     'distil from); running the cell trains the model from scratch with the table\'s '
                     'ImageNet protocol')
_TABLE_MODEL_ROWS = (
    ('imagenet', 'resnet34', 'teacher', 73.31, None, f'{SEED001}, Table 3', 'imagenet', _TORCHVISION_NOTE),
    ('imagenet', 'resnet18', 'student', 69.75, None, f'{SEED001}, Table 3', 'imagenet', ''),
    ('imagenet', 'resnet50', 'teacher', 76.16, None, f'{SEED001}, Table 3', 'imagenet', _TORCHVISION_NOTE),
    ('imagenet', 'MobileNetV1', 'student', 68.87, None, f'{SEED001}, Table 3', 'imagenet', ''),
    ('seed002_table7', 'resnet34', 'teacher', 73.31, None, f'{SEED002}, Table 7', 'imagenet',
     _TORCHVISION_NOTE),
    ('seed002_table7', 'resnet50', 'teacher', 76.13, None, f'{SEED002}, Table 7', 'imagenet',
     _TORCHVISION_NOTE),
    ('seed002_table7', 'resnet101', 'teacher', 77.37, None, f'{SEED002}, Table 7', 'imagenet',
     _TORCHVISION_NOTE),
    ('seed002_table7', 'resnet152', 'teacher', 78.31, None, f'{SEED002}, Table 7', 'imagenet',
     _TORCHVISION_NOTE),
    ('seed002_table7', 'resnet18', 'student', 69.76, None, f'{SEED002}, Table 7', 'imagenet',
     'the student accuracy of the table seed 002 Table 7 reproduces: hunto/DIST_KD README, "Stronger '
     'teachers" (ResNet-18 (69.76); its teachers\' 73.31 / 76.13 / 77.37 / 78.31 are the same)'),
    # Seed 000 trained its own models; only the two from-scratch accuracies that identify its
    # swapped Table 2 labels are recorded here.
    ('seed000_table2', 'resnet32', 'student', 71.69, None, f'{SEED000}, Table 2 (student row)', 'scratch',
     _SEED000_SWAPPED[('resnet110', 'resnet32')]),
    ('seed000_table2', 'resnet8x4', 'student', 72.42, None, f'{SEED000}, Table 2 (student row)', 'scratch',
     _SEED000_SWAPPED[('resnet32x4', 'resnet8x4')]),
)


def _table_model_rows() -> list[PublishedCell]:
  return [PublishedCell(table=table, cell=f'{model}-ce', teacher=None, student=model, method='ce', top1=top1,
                        top5=top5, column=role.capitalize(),
                        source=source, recipe=recipe, runs=RUNS[recipe], note=note)
          for table, model, role, top1, top5, source, recipe, note in _TABLE_MODEL_ROWS]


# ---------------------------------------------------------------------------------------------------------
# The baselines the seeds compare against (feature-based and other rows), one row per method.
_SEED001_DISTINCT = (('resnet32x4', 'ShuffleV2'), ('resnet32x4', 'wrn_16_2'), ('resnet32x4', 'wrn_40_2'),
                     ('wrn_40_2', 'resnet8x4'), ('wrn_40_2', 'MobileNetV2'), ('vgg13', 'MobileNetV2'),
                     ('ResNet50', 'MobileNetV2'))
_SEED001_SAME = (('resnet32x4', 'resnet8x4'), ('vgg13', 'vgg8'), ('wrn_40_2', 'wrn_40_1'),
                 ('wrn_40_2', 'wrn_16_2'), ('resnet56', 'resnet20'), ('resnet110', 'resnet32'),
                 ('resnet110', 'resnet20'))
_SEED001_BASELINES = {  # (column, method): (Table 1 values in _SEED001_DISTINCT order, Table 2 values)
    ('FitNet', 'fitnet'): ((73.54, 74.70, 77.69, 74.61, 68.64, 64.16, 63.16),
                           (73.50, 71.02, 72.24, 73.58, 69.21, 71.06, 68.99)),
    ('AT', 'at'): ((72.73, 73.91, 77.43, 74.11, 60.78, 59.40, 58.58),
                   (73.44, 71.43, 72.77, 74.08, 70.55, 72.31, 70.65)),
    ('RKD', 'rkd'): ((73.21, 74.86, 77.82, 75.26, 69.27, 64.52, 64.43),
                     (71.90, 71.48, 72.22, 73.35, 69.61, 71.82, 69.25)),
    ('CRD', 'crd'): ((75.65, 75.65, 78.15, 75.24, 70.28, 69.73, 69.11),
                     (75.51, 73.94, 74.14, 75.48, 71.16, 73.48, 71.46)),
    ('OFD', 'ofd'): ((76.82, 76.17, 79.25, 74.36, 69.92, 69.48, 69.04),
                     (74.95, 73.95, 74.33, 75.24, 70.98, 73.23, 71.29)),
    ('ReviewKD', 'reviewkd'): ((77.78, 76.11, 78.96, 74.34, 71.28, 70.37, 69.89),
                               (75.63, 74.84, 75.09, 76.12, 71.89, 73.89, 71.34)),
    ('SimKD', 'simkd'): ((78.39, 77.17, 79.29, 75.29, 70.10, 69.44, 69.97),
                         (78.08, 74.89, 74.53, 75.53, 71.05, 73.92, 71.06)),
    ('CAT-KD', 'catkd'): ((78.41, 76.97, 78.59, 75.38, 70.24, 69.13, 71.36),
                          (76.91, 74.65, 74.82, 75.60, 71.62, 73.62, 71.37)),
}
_BASELINE_NOTE = ('a baseline row of the paper, copied there from its own codebase\'s publication; the '
                  'settings are that codebase\'s')
_SEED001_IMAGENET_BASELINES = {  # method: ((r34->r18 top-1, top-5), (r50->MobileNetV1 top-1, top-5))
    ('AT', 'at'): ((70.69, 90.01), (69.56, 89.33)), ('OFD', 'ofd'): ((70.81, 89.98), (71.25, 90.34)),
    ('CRD', 'crd'): ((71.17, 90.13), (71.37, 90.41)),
    ('ReviewKD', 'reviewkd'): ((71.61, 90.51), (72.56, 91.00)),
    ('SimKD', 'simkd'): ((71.59, 90.48), (72.25, 90.86)),
    ('CAT-KD', 'catkd'): ((71.26, 90.45), (72.24, 91.13)),
}
_SEED000_SAME = (('wrn_40_2', 'wrn_16_2'), ('wrn_40_2', 'wrn_40_1'), ('resnet56', 'resnet20'),
                 ('resnet110', 'resnet20'), ('resnet110', 'resnet32'), ('resnet32x4', 'resnet8x4'),
                 ('vgg13', 'vgg8'))
_SEED000_BASELINES = {  # (column, method): (Table 1 in _SEED001_DISTINCT order, Table 2 in _SEED000_SAME)
    ('FitNet', 'fitnet'): ((74.15, 73.97, 76.75, 73.3, 65.66, 64.87, 64.59),
                           (73.7, 71.95, 69.22, 68.85, 70.94, 73.62, 71.26)),
    ('AT', 'at'): ((73.27, 74.33, 77.44, 73.92, 65.85, 60.65, 57.48),
                   (74.57, 72.78, 70.45, 69.9, 72.44, 73.89, 71.49)),
    ('RKD', 'rkd'): ((73.84, 73.2, 76.32, 72.66, 65.24, 65.84, 65.43),
                     (73.64, 71.66, 70.16, 69.97, 71.96, 72.24, 71.62)),
    ('CRD', 'crd'): ((76.14, 75.68, 78.33, 75.14, 69.91, 69.4, 69.32),
                     (75.7, 74.1, 71.43, 71.41, 73.98, 75.6, 73.49)),
    ('ReviewKD', 'reviewkd'): ((74.64, 73.89, 77.12, 73.51, 68.5, 65.74, 63.41),
                               (73.7, 72.25, 68.58, 68.94, 71.34, 73.2, 72.52)),
    ('SimKD', 'simkd'): ((76.14, 75.36, 78.29, 74.39, 67.22, 67.32, 67.24),
                         (73.24, 72.42, 67.27, 68.04, 70.81, 74.55, 73.7)),
    ('CAT-KD', 'catkd'): ((72.98, 73.87, 76.74, 72.65, 65.29, 65.78, 64.92),
                          (73.1, 71.68, 69.95, 69.55, 71.39, 72.72, 70.86)),
}
_SEED002_SAME = _SEED000_SAME
_SEED002_CROSS = (('vgg13', 'MobileNetV2'), ('ResNet50', 'MobileNetV2'), ('ResNet50', 'vgg8'),
                  ('resnet32x4', 'ShuffleV1'), ('resnet32x4', 'ShuffleV2'), ('wrn_40_2', 'ShuffleV1'))
# (column, method, table numbers (same, cross), runs (same, cross)): (same values, cross values).
_SEED002_BASELINES = {
    ('FitNet', 'fitnet', (1, 3), (5, 3)): ((73.58, 72.24, 69.21, 68.99, 71.06, 73.50, 71.02),
                                           (64.14, 63.16, 70.69, 73.59, 73.54, 73.73)),
    ('AT', 'at', (1, 3), (5, 3)): ((74.08, 72.77, 70.55, 70.22, 72.31, 73.44, 71.43),
                                   (59.40, 58.58, 71.84, 71.73, 72.73, 73.32)),
    ('VID', 'vid', (1, 3), (5, 3)): ((74.11, 73.30, 70.38, 70.16, 72.61, 73.09, 71.23),
                                     (65.56, 67.57, 70.30, 73.38, 73.40, 73.61)),
    ('RKD', 'rkd', (1, 3), (5, 3)): ((73.35, 72.22, 69.61, 69.25, 71.82, 71.90, 71.48),
                                     (64.52, 64.43, 71.50, 72.28, 73.21, 72.21)),
    ('PKT', 'pkt', (1, 3), (5, 3)): ((74.54, 73.45, 70.34, 70.25, 72.61, 73.64, 72.88),
                                     (67.13, 66.52, 73.01, 74.10, 74.69, 73.89)),
    ('CRD', 'crd', (1, 3), (5, 3)): ((75.48, 74.14, 71.16, 71.46, 73.48, 75.51, 73.94),
                                     (69.73, 69.11, 74.30, 75.11, 75.65, 76.05)),
    ('KD', 'kd', (1, 3), (5, 3)): ((74.92, 73.54, 70.66, 70.67, 73.08, 73.33, 72.98),
                                   (67.37, 67.35, 73.81, 74.07, 74.45, 74.83)),
    ('DIST', 'dist', (1, 3), (5, 3)): ((75.51, 74.73, 71.75, 71.65, 73.69, 76.31, 73.89),
                                       (68.50, 68.66, 74.11, 76.34, 77.35, 76.40)),
    # DKD: DKD's own numbers (Zhao et al., CVPR 2022 = mdistiller README), n/a where not run.
    ('DKD', 'dkd', (1, 3), (5, 3)): ((76.24, 74.81, 71.97, None, 74.11, 76.32, 74.68),
                                     (69.71, 70.35, None, 76.45, 77.07, 76.70)),
    ('ITRD', 'itrd', (2, 4), (3, 3)): ((76.12, 75.18, 71.47, 71.99, 74.26, 76.19, 74.93),
                                       (70.39, 71.41, 75.71, 76.91, 77.40, 77.35)),
    ('WTTM+CRD', 'wttm+crd', (2, 4), (5, 3)): ((76.61, 74.94, 72.20, 72.13, 74.52, 76.65, 74.71),
                                               (70.30, 70.84, 75.30, 75.82, 77.04, 76.86)),
    ('WTTM+ITRD', 'wttm+itrd', (2, 4), (3, 3)): ((76.65, 75.34, 72.16, 72.20, 74.36, 77.36, 75.13),
                                                 (70.70, 71.56, 76.00, 77.03, 77.68, 77.44)),
}
_SEED002_TABLE6 = {('KD with CE', 'kd'): (74.92, 73.54, 70.66, 70.67, 73.08, 73.33, 72.98),
                   ('WTTM without CE', 'wttm_noce'): (75.11, 73.16, 70.95, 70.71, 73.21, 72.94, 74.04)}
_SEED002_TABLE5 = {  # ImageNet top-1 (r34->r18, r50->MobileNetV1); None: not reported
    ('KD', 'kd'): (70.66, 70.50), ('CRD', 'crd'): (71.17, 71.37),
    ('ReviewKD', 'reviewkd'): (71.61, 72.56), ('ITRD', 'itrd'): (71.68, None),
    ('DKD', 'dkd'): (71.70, 72.05), ('DIST', 'dist'): (72.07, 73.24), ('CTKD', 'ctkd'): (71.51, None),
    ('WTTM', 'wttm'): (72.19, 73.09),
    # Rows from other codebases, run from their reference settings (kdjax.recipes.srrl, kdpp, nkd).
    ('SRRL', 'srrl'): (71.73, 72.49), ('KD++', 'kdpp'): (71.98, 72.77), ('NKD', 'nkd'): (71.96, 72.58),
}
# 70.66 (KD, ResNet34 -> ResNet18) is not mdistiller's KD (71.03, seed 001 Table 3): it is the CRD
# paper's ImageNet KD result (Tian et al., ICLR 2020: top-1 error 29.34), the "KD" the ImageNet
# tables of ReviewKD and DKD quote (DKD prints its own re-run 71.03 as "KD*").
_IMAGENET_PAIRS = (('resnet34', 'resnet18'), ('resnet50', 'MobileNetV1'))
_NKD_NOTE = ("NKD's release (yzd-v/cls_KD, mmcls) distils from mmcls's own teacher checkpoints "
             "(resnet34 / resnet50_8xb32_in1k_20210831), kdjax from the torchvision weights; the "
             "schedule (batch 256, lr 0.1) is the release's (kdjax.recipes.nkd)")
_KDPP_NOTE = ("KD++'s class centres are the teacher's class-mean embeddings accumulated over the "
              "first epoch (the release precomputes them in one pass before training; "
              "kdjax.methods.kdpp)")
_SEED002_TABLE5_NOTES = {
    (('resnet34', 'resnet18'), 'kd'): (
        "70.66 is the CRD paper's ImageNet KD result (Tian et al., ICLR 2020, top-1 error 29.34), "
        "as ReviewKD's and DKD's ImageNet tables quote it (mdistiller's own KD is 71.03); CRD "
        "released no ImageNet code (HobbitLong/RepDistiller is CIFAR-only), so kdjax runs "
        "mdistiller's ImageNet KD recipe for it: its settings are uncertain"),
    **{(pair, 'nkd'): _NKD_NOTE for pair in _IMAGENET_PAIRS},
    **{(pair, 'kdpp'): _KDPP_NOTE for pair in _IMAGENET_PAIRS},
}
_SEED002_TABLE7_TEACHERS = ('resnet34', 'resnet50', 'resnet101', 'resnet152')
# Table 7 reproduces DIST's README table (hunto/DIST_KD, "Stronger teachers"): its KD row is DIST's
# "KD (T=4)", trained with DIST's codebase (recipe ``dist_imagenet``).
_SEED002_TABLE7_RECIPES = {'kd': 'dist_imagenet'}
_SEED002_TABLE7_NOTES = {
    'kd': 'DIST\'s "KD (T=4)" (hunto/DIST_KD README), trained by hunto/image_classification_sota '
          'configs/strategies/distill/resnet_kdt4.yaml; not mdistiller\'s ImageNet KD recipe'}
_SEED002_TABLE7 = {('KD', 'kd'): (71.21, 71.35, 71.09, 71.12), ('DIST', 'dist'): (72.07, 72.12, 72.08, 72.24),
                   ('WTTM', 'wttm'): (72.19, 72.26, 72.34, 72.39)}


def _baseline_rows() -> list[PublishedCell]:
  cells = []

  def add(table, pair, column, method, top1, source, recipe, runs, note='', top5=None):
    teacher, student = pair
    cells.append(PublishedCell(
        table=table, cell=_pair_cell(teacher, student, method), teacher=teacher, student=student,
        method=method, top1=top1, top5=top5, column=column, source=source, recipe=recipe, runs=runs,
        note=note))

  for (column, method), (distinct, same) in _SEED001_BASELINES.items():
    for number, pairs, values in ((1, _SEED001_DISTINCT, distinct), (2, _SEED001_SAME, same)):
      for pair, top1 in zip(pairs, values):
        add(f'seed001_table{number}', pair, column, method, top1, f'{SEED001}, Table {number}',
            'seed001', RUNS['seed001'], _BASELINE_NOTE)
  for (column, method), values in _SEED001_IMAGENET_BASELINES.items():
    for pair, (top1, top5) in zip((('resnet34', 'resnet18'), ('resnet50', 'MobileNetV1')), values):
      add('imagenet', pair, column, method, top1, f'{SEED001}, Table 3', 'imagenet', RUNS['imagenet'],
          _BASELINE_NOTE, top5=top5)
  for (column, method), (distinct, same) in _SEED000_BASELINES.items():
    for number, pairs, values in ((1, _SEED001_DISTINCT, distinct), (2, _SEED000_SAME, same)):
      for pair, top1 in zip(pairs, values):
        add(f'seed000_table{number}', pair, column, method, top1, f'{SEED000}, Table {number}',
            'seed000', RUNS['seed000'], _SEED000_SWAPPED.get(pair, ''))
  for (column, method, numbers, runs), (same, cross) in _SEED002_BASELINES.items():
    for number, run_count, pairs, values in ((numbers[0], runs[0], _SEED002_SAME, same),
                                             (numbers[1], runs[1], _SEED002_CROSS, cross)):
      for pair, top1 in zip(pairs, values):
        if top1 is not None:
          add(f'seed002_table{number}', pair, column, method, top1, f'{SEED002}, Table {number}',
              'seed002', run_count)
  for (column, method), values in _SEED002_TABLE6.items():
    for pair, top1 in zip(_SEED002_SAME, values):
      add('seed002_table6', pair, column, method, top1, f'{SEED002}, Table 6', 'seed002',
          RUNS['seed002_same'])
  for (column, method), values in _SEED002_TABLE5.items():
    for pair, top1 in zip((('resnet34', 'resnet18'), ('resnet50', 'MobileNetV1')), values):
      if top1 is not None:
        add('seed002_table5', pair, column, method, top1, f'{SEED002}, Table 5', 'imagenet',
            RUNS['imagenet'], _SEED002_TABLE5_NOTES.get((pair, method), ''))
  for (column, method), values in _SEED002_TABLE7.items():
    for teacher, top1 in zip(_SEED002_TABLE7_TEACHERS, values):
      add('seed002_table7', (teacher, 'resnet18'), column, method, top1, f'{SEED002}, Table 7',
          _SEED002_TABLE7_RECIPES.get(method, 'imagenet'), RUNS['imagenet'],
          _SEED002_TABLE7_NOTES.get(method, ''))
  return cells


# Seed 002 Table 13 (zkxufo/TTM README, "transformer-based models"): ImageNet, DeiT III-Small (82.76) ->
# DeiT-Tiny (74.42), trained with yzd-v/cls_KD (recipe ``deit_imagenet``). The teacher is cls_KD's
# deit3-small-p16_in21k-pre_3rdparty_in1k checkpoint (its distiller config's teacher_pretrained).
SEED002_TABLE13_PAIR = ('deit3_small_patch16_224', 'deit_tiny_patch16_224')
SEED002_TABLE13 = (('KD', 'kd', 76.01), ('ViTKD', 'vitkd', 76.06), ('NKD', 'nkd', 76.68),
                   ('WTTM', 'wttm', 77.03), ('NKD+ViTKD', 'nkd+vitkd', 77.78),
                   ('WTTM+ViTKD', 'wttm+vitkd', 78.04))
_SEED002_WTTM_DEIT = ('no WTTM (gamma, beta) is published for DeiT (seed 002, zkxufo/TTM): the ImageNet '
                      'ResNet34 -> ResNet18 row, marked default')
_SEED002_TABLE13_NOTES = {'wttm': _SEED002_WTTM_DEIT, 'wttm+vitkd': _SEED002_WTTM_DEIT}


def _seed002_table13() -> list[PublishedCell]:
  teacher, student = SEED002_TABLE13_PAIR
  return [PublishedCell(
      table='seed002_table13', cell=_pair_cell(teacher, student, method), teacher=teacher, student=student,
      method=method, top1=top1, column=column, source=f'{SEED002}, Table 13', recipe='deit_imagenet',
      runs=RUNS['imagenet'], note=_SEED002_TABLE13_NOTES.get(method, ''))
      for column, method, top1 in SEED002_TABLE13]


# ---------------------------------------------------------------------------------------------------------
# Which statistic each number is. The papers report the best test epoch (mean over runs), except the
# numbers copied from the CRD paper (Tian et al., ICLR 2020; its codebase HobbitLong/RepDistiller), which
# are last-epoch accuracies: seed 002's FitNet ... CRD rows (and its KD row, the same paper's), the teacher /
# student accuracies of the CIFAR pairs, and every cell of another table that prints the same number for
# the same pair and method (seed 001 copied several).
_CRD_PAPER_METHODS = ('fitnet', 'at', 'vid', 'rkd', 'pkt', 'crd', 'kd')
CRD_PAPER_LAST = ('last epoch: the CRD paper\'s number (Tian et al., ICLR 2020, HobbitLong/RepDistiller), '
                  'which reports the final epoch')
TABLE_STATISTICS = {
    'seed001_table1': 'best epoch, mean of 4 runs (seed 001 Sec. 5); the KD and baseline cells equal to the '
                      'CRD paper\'s numbers are last-epoch (marked per cell)',
    'seed001_table2': 'best epoch, mean of 4 runs (seed 001 Sec. 5); the KD and baseline cells equal to the '
                      'CRD paper\'s numbers are last-epoch (marked per cell)',
    'seed001_table4': 'best epoch, mean of 4 runs',
    'seed001_table5': 'best epoch, mean of 4 runs; KD wrn_40_2 -> wrn_16_2 is the CRD paper\'s number: last '
                      'epoch',
    'seed002_table1': 'best epoch, mean of 5 runs; FitNet, AT, VID, RKD, PKT, CRD and KD are the CRD paper\'s '
                      'numbers: last epoch',
    'seed002_table2': 'best epoch, mean of 5 runs (3 for ITRD and WTTM+ITRD)',
    'seed002_table3': 'best epoch, mean of 3 runs; FitNet, AT, VID, RKD, PKT, CRD and KD are the CRD paper\'s '
                      'numbers: last epoch',
    'seed002_table4': 'best epoch, mean of 3 runs',
    'seed002_table5': 'best epoch, single ImageNet runs (each row as its own paper reports it)',
    'seed002_table6': 'best epoch, mean of 5 runs; "KD with CE" is the CRD paper\'s KD row: last epoch',
    'seed002_table7': 'best epoch, single ImageNet runs (DIST\'s README table); the ResNet rows are the '
                      'torchvision checkpoints\' accuracies (their final epoch)',
    'seed002_table13': 'best epoch, single ImageNet runs (zkxufo/TTM README; ViTKD and NKD+ViTKD as '
                       'yzd-v/cls_KD vitkd.md prints them)',
    'seed000_table1': 'best epoch, one run per cell',
    'seed000_table2': 'best epoch, one run per cell',
    'seed000_table4': 'best epoch, one run per cell',
    'imagenet': 'best epoch, single ImageNet runs; the ResNet teacher / student rows are the torchvision '
                'checkpoints\' accuracies (their final epoch)',
    'baselines': 'last epoch: the CRD paper\'s Teacher / Student rows (the released teachers are '
                 'ckpt_epoch_240), which the seeds copy',
}


def _crd_paper_numbers() -> dict[tuple[tuple[str, str], str], float]:
  """{(pair, method): top-1} of the CRD paper's rows (as seed 002 Tables 1 and 3 print them)."""
  out = {}
  for (_, method, _, _), (same, cross) in _SEED002_BASELINES.items():
    if method in _CRD_PAPER_METHODS:
      for pair, top1 in zip(_SEED002_SAME + _SEED002_CROSS, same + cross):
        out[(pair, method)] = top1
  return out


def _with_statistics(cells: list[PublishedCell]) -> list[PublishedCell]:
  """Marks 'last' the cells whose number is the CRD paper's (the from-scratch baselines included)."""
  crd = _crd_paper_numbers()
  out = []
  for cell in cells:
    key = ((cell.teacher, cell.student), cell.method)
    torchvision = cell.method == 'ce' and cell.recipe == 'imagenet' and cell.student.startswith('resnet')
    if (cell.table == 'baselines' or torchvision or
        (cell.teacher and crd.get(key) == cell.top1 and not cell.table.startswith('seed000'))):
      cell = dataclasses.replace(cell, statistic='last')
    out.append(cell)
  return out


def _build() -> dict[str, dict[str, PublishedCell]]:
  tables: dict[str, dict[str, PublishedCell]] = {}
  for cell in _with_statistics(_seed001_tables12() + _seed002() + _seed000_tables12() + _ablations()
                               + _imagenet() + _baseline_rows() + _table_model_rows() + _baselines()
                               + _seed002_table13()):
    table = tables.setdefault(cell.table, {})
    if cell.cell in table:
      raise AssertionError(f'duplicate cell {cell.table}:{cell.cell}')
    table[cell.cell] = cell
  return tables


_TABLES = _build()
# The papers' tables; `baselines` (teachers / students from scratch) is an extra table.
RESULTS_TABLES = ('seed001_table1', 'seed001_table2', 'seed001_table4', 'seed001_table5',
                  'seed002_table1', 'seed002_table2', 'seed002_table3', 'seed002_table4',
                  'seed002_table5', 'seed002_table6', 'seed002_table7', 'seed002_table13',
                  'seed000_table1', 'seed000_table2', 'seed000_table4', 'imagenet')

# What a reader of a whole table must know.
TABLE_NOTES = {
    'seed001_table4': 'tau 2, w_ce 0.1 throughout; the column pre-process replaces LS\'s z-score '
                      '(z = raw logits, z - mean = centred, z / std = scaled, LS = z-score).',
    'seed001_table5': ('No configuration or log exists for these pairs but wrn_40_2 -> wrn_16_2; '
                       'the other columns\' DKD beta and LS settings are chosen by analogy (marked default).'),
    'seed000_table1': 'Seed 000: one run per cell; it trained its own teachers and students.',
    'seed000_table2': 'Seed 000: one run per cell; it trained its own teachers and students.',
    'seed000_table4': 'Seed 000: one run per cell; w_ce 1 (not zKD+Ours\'s usual 0.1).',
    'imagenet': 'Top-5 is not published for WTTM.',
    'seed002_table5': 'SRRL, KD++ and NKD run their own codebases\' ImageNet settings '
                      '(jingyang2017/KD_SRRL, WangYZ1608/Knowledge-Distillation-via-ND, yzd-v/cls_KD); '
                      'seed 002 also lists KD-Zero (a searched distiller): not runnable here.',
    'seed002_table7': 'Teachers: the torchvision ImageNet weights (resnet101 and resnet152 too).',
}


def table_names() -> tuple[str, ...]:
  """Every sweep table, the papers' tables first, then `baselines`."""
  return RESULTS_TABLES + ('baselines',)


def cells_of(table: str) -> tuple[PublishedCell, ...]:
  """The published cells of one table, in the papers' order.

  Raises:
    UnknownCellError: `table` is not one of `table_names()`.
  """
  if table not in _TABLES:
    raise UnknownCellError(f"unknown table {table!r}; choose one of {', '.join(table_names())}")
  return tuple(_TABLES[table].values())


def lookup(table: str, cell: str) -> PublishedCell:
  """The published cell `table:cell`.

  Raises:
    UnknownCellError: the table or the cell does not exist (the message lists the valid names).
  """
  cells = {c.cell: c for c in cells_of(table)}
  if cell not in cells:
    raise UnknownCellError(
        f'table {table!r} has no cell {cell!r}{kdjax_config.did_you_mean(cell, cells)}; its '
        f'{len(cells)} cells: python -m experiments.sweep --table={table} --show')
  return cells[cell]


def all_cells() -> tuple[PublishedCell, ...]:
  """Every published cell of every table."""
  return tuple(c for table in table_names() for c in cells_of(table))


def format_number(value: float) -> str:
  """A published number as printed: two decimals, three when the paper has three (74.135)."""
  text = f'{value:.3f}'
  return text[:-1] if text.endswith('0') else text
