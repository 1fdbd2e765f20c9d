"""Tests of experiments/published.py and experiments/configs/: every published cell has a config that builds.

`RESULTS_MD` is the text of spec/results.md (the published numbers); it is parsed here independently of
`experiments/published.py` and every number is checked against the data there.
"""

import importlib.util
import os
import re

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from experiments import imagenet
from experiments import published
from experiments import sweep
from experiments.configs import common
from kdjax import config as kdjax_config
from kdjax import methods
from kdjax import models
from kdjax import train

CONFIG_DIR = os.path.join(os.path.dirname(__file__), '..', 'experiments', 'configs')

RESULTS_MD = """\
Teachers: resnet56 72.34, resnet110 74.31, resnet32x4 79.42, wrn_40_2 75.61, vgg13 74.64, ResNet50 79.34.
Students from scratch: resnet20 69.06, resnet32 71.14, resnet8x4 72.50, wrn_16_2 73.26, wrn_40_1 71.98,
vgg8 70.36, MobileNetV2 64.60, ShuffleV1 70.50, ShuffleV2 71.82.

## Logit methods, same configurations (seed 001 Tables 1-2; TTM seed 002 Tables 1, 3)
| teacher -> student | KD | KD+LS | CTKD | CTKD+LS | DKD | DKD+LS | MLKD | MLKD+LS | TTM | WTTM |
|---|---|---|---|---|---|---|---|---|---|---|
| resnet32x4 -> resnet8x4 | 73.33 | 76.62 | 73.39 | 76.67 | 76.32 | 77.01 | 77.08 | 78.28 | 76.17 | 76.06 |
| vgg13 -> vgg8 | 72.98 | 74.36 | 73.52 | 74.47 | 74.68 | 74.81 | 75.18 | 75.22 | 74.33 | 74.44 |
| wrn_40_2 -> wrn_40_1 | 73.54 | 74.37 | 73.93 | 74.58 | 74.81 | 74.89 | 75.35 | 75.56 | 74.32 | 74.58 |
| wrn_40_2 -> wrn_16_2 | 74.92 | 76.11 | 75.45 | 76.08 | 76.24 | 76.39 | 76.63 | 76.95 | 76.23 | 76.37 |
| resnet56 -> resnet20 | 70.66 | 71.43 | 71.19 | 71.34 | 71.97 | 72.32 | 72.19 | 72.33 | 71.83 | 71.92 |
| resnet110 -> resnet32 | 73.08 | 74.17 | 73.52 | 74.01 | 74.11 | 74.29 | 74.11 | 74.32 | 73.97 | 74.13 |
| resnet110 -> resnet20 | 70.67 | 71.48 | 70.99 | 71.39 | 71.06 | 71.85 | 71.89 | 72.27 | 71.46 | 71.67 |
| resnet32x4 -> ShuffleV2 | 74.45 | 75.56 | 75.37 | 76.18 | 77.07 | 77.37 | 78.44 | 78.76 | 76.57 | 76.55 |
| resnet32x4 -> wrn_16_2 | 74.90 | 75.26 | 74.57 | 75.16 | 75.70 | 76.19 | 76.52 | 77.53 | | |
| resnet32x4 -> wrn_40_2 | 77.70 | 77.92 | 77.66 | 77.99 | 78.46 | 78.95 | 79.26 | 79.66 | | |
| wrn_40_2 -> resnet8x4 | 73.97 | 77.11 | 74.61 | 77.03 | 75.56 | 76.75 | 77.33 | 77.68 | | |
| wrn_40_2 -> MobileNetV2 | 68.36 | 69.23 | 68.34 | 69.53 | 69.28 | 70.01 | 70.78 | 71.61 | | |
| vgg13 -> MobileNetV2 | 67.37 | 68.61 | 68.50 | 68.98 | 69.71 | 69.98 | 70.57 | 70.94 | 68.98 | 69.16 |
| ResNet50 -> MobileNetV2 | 67.35 | 69.02 | 68.67 | 69.36 | 70.35 | 70.45 | 71.04 | 71.19 | 69.24 | 69.59 |
MLKD columns of seed 001 use 480/960-epoch training with the strong view (see training.md).
More TTM/WTTM cells (seed 002): ResNet50->vgg8 74.87/74.82; resnet32x4->ShuffleV1 74.18/74.37;
wrn_40_2->ShuffleV1 75.39/75.42.

## Seed 000 (max-logit temperature; one run per cell; its own re-runs of the baselines)
| teacher -> student | zKD | zCTKD | zKD+Ours | zDKD | zDKD+Ours | TTM | WTTM |
|---|---|---|---|---|---|---|---|
| resnet32x4 -> ShuffleV2 | 76.62 | 76.18 | 76.52 | 76.41 | 75.96 | 75.39 | |
| resnet32x4 -> wrn_16_2 | 75.05 | 75.20 | 75.56 | 75.72 | 76.05 | 75.68 | |
| resnet32x4 -> wrn_40_2 | 78.45 | 77.91 | 78.41 | 79.13 | 78.86 | 77.96 | |
| wrn_40_2 -> resnet8x4 | 76.53 | 77.01 | 75.02 | 74.55 | 74.82 | 75.93 | |
| wrn_40_2 -> MobileNetV2 | 69.39 | 68.62 | 69.89 | 68.66 | 68.95 | 68.18 | |
| vgg13 -> MobileNetV2 | 69.79 | 69.32 | 69.47 | 69.04 | 68.44 | 67.91 | |
| ResNet50 -> MobileNetV2 | 69.21 | 69.19 | 70.11 | 69.19 | 69.78 | 67.80 | |
| wrn_40_2 -> wrn_16_2 | 75.90 | 76.28 | 76.03 | 75.17 | 75.66 | 76.25 | 75.62 |
| wrn_40_2 -> wrn_40_1 | 74.68 | 74.45 | 74.45 | 74.09 | 74.85 | 74.00 | 73.63 |
| resnet56 -> resnet20 | 71.06 | 71.49 | 70.87 | 70.45 | 71.90 | 71.38 | 71.62 |
| resnet110 -> resnet20 | 71.09 | 71.83 | 70.57 | 70.79 | 71.22 | 71.06 | 71.25 |
| resnet110 -> resnet32 (printed as ResNet110 -> ResNet8x4) | 73.52 | 73.87 | 73.17 | 72.76 | 73.24 | 73.53 | 73.81 |
| resnet32x4 -> resnet8x4 (printed as ResNet32x4 -> ResNet32) | 76.24 | 76.27 | 76.11 | 75.28 | 76.94 | 75.81 | 74.80 |
| vgg13 -> vgg8 | 74.135 | 73.99 | 74.54 | 73.89 | 75.12 | 74.37 | 73.50 |
Seed 000 trained its own teachers and students (its Table 2 prints the student labels of the two marked
columns swapped relative to their from-scratch accuracies 71.69 / 72.42). Seed 000 Table 4 (resnet32x4 -> resnet8x4, zKD+Ours, w_ce 1): w_kd 0.9 73.32, 3 73.42, 6 74.24, 9 75.90,
12 76.27, 15 76.14, 18 76.38. Seed 000 also reports about 10% less wall time per epoch than the other
temperature methods (V100), and that its temperatures are higher than the usual static values.

## Seed 001 ablations
Table 4 (resnet32x4 -> resnet8x4, tau 2, w_ce 0.1), columns z / z - mean / z / std / LS:
w_kd 0.9: 73.60 73.37 73.79 74.14; 3: 74.38 74.33 75.86 76.11; 6: 74.45 74.82 76.44 76.56; 9: 73.33 73.94
76.30 76.62; 12: 68.29 71.56 76.49 76.56; 15: 65.34 62.01 76.42 76.61; 18: 63.45 61.31 76.18 76.33.
Table 5 (student wrn_16_2; teachers VGG13 74.64, WRN-28-2 75.45, WRN-40-2 75.61, WRN-16-4 77.51,
WRN-28-4 78.60, ResNet50 79.34): KD 74.93 75.37 74.92 75.79 75.04 75.36; KD+LS 75.03 76.32 76.11 76.72 75.77
76.24; DKD 75.45 75.92 76.24 76.00 76.45 76.60; DKD+LS 75.56 76.39 76.39 76.68 76.67 76.82.

## ImageNet (top-1 / top-5)
ResNet34 (73.31) -> ResNet18 (69.75): KD 71.03/90.05, KD+LS 71.42/90.29, CTKD 71.38/90.27, CTKD+LS 71.81/90.46,
DKD 71.70/90.41, DKD+LS 71.88/90.58, MLKD 71.90/90.55, MLKD+LS 72.08/90.74, WTTM 72.19.
ResNet50 (76.16) -> MobileNetV1 (68.87): KD 70.50/89.80, KD+LS 72.18/90.80, CTKD 71.16/90.11, CTKD+LS
72.92/91.25, DKD 72.05/91.05, DKD+LS 72.85/91.23, MLKD 73.01/91.42, MLKD+LS 73.22/91.59, WTTM 73.09.
"""

METHOD = {'KD': 'kd', 'KD+LS': 'kd_ls', 'CTKD': 'ctkd', 'CTKD+LS': 'ctkd_ls', 'DKD': 'dkd',
          'DKD+LS': 'dkd_ls', 'MLKD': 'mlkd', 'MLKD+LS': 'mlkd_ls', 'TTM': 'ttm', 'WTTM': 'wttm',
          'zKD': 'kd_ls', 'zCTKD': 'ctkd_ls',
          'zKD+Ours': 'kd_maxlogit', 'zDKD': 'dkd_ls', 'zDKD+Ours': 'dkd_maxlogit'}
MODEL = {'VGG13': 'vgg13', 'WRN-28-2': 'wrn_28_2', 'WRN-40-2': 'wrn_40_2', 'WRN-16-4': 'wrn_16_4',
         'WRN-28-4': 'wrn_28_4', 'ResNet34': 'resnet34', 'ResNet18': 'resnet18', 'MobileNetV1': 'MobileNetV1'}
NUM = r'\d+(?:\.\d+)?'
PREPROCESS = ('none', 'center', 'scale', 'zscore')  # z / z - mean / z / std / LS


def _markdown_tables(text):
  """Yields (header, rows) of every markdown table in text; a row is (pair, [value or None])."""
  lines = text.splitlines()
  for i, line in enumerate(lines):
    if line.startswith('| teacher -> student'):
      header = [h.strip() for h in line.strip('|').split('|')][1:]
      rows = []
      for row in lines[i + 2:]:
        if not row.startswith('|'):
          break
        fields = [f.strip() for f in row.strip('|').split('|')]
        pair = re.sub(r'\s*\(printed as .*\)', '', fields[0])
        rows.append((tuple(pair.split(' -> ')), [float(f) if f else None for f in fields[1:]]))
      yield header, rows


def parse_results_md(text):
  """Every published number of results.md as {(group, teacher, student, method, variant): (top1, top5)}."""
  out = {}
  tables = list(_markdown_tables(text))
  assert len(tables) == 2
  for header, rows in tables:
    group = 'seed000' if 'zKD' in header else None
    for pair, values in rows:
      for column, value in zip(header, values):
        if value is None:
          continue
        g = group or ('seed002' if column in ('TTM', 'WTTM') else 'seed001')
        out[(g, *pair, METHOD[column], None)] = (value, None)
  more = text[text.index('More TTM/WTTM cells'):text.index('## Seed 000')]
  for teacher, student, ttm, wttm in re.findall(rf'(\w+)->(\w+) ({NUM})/({NUM})', more):
    out[('seed002', teacher, student, 'ttm', None)] = (float(ttm), None)
    out[('seed002', teacher, student, 'wttm', None)] = (float(wttm), None)
  table4 = text[text.index('Seed 000 Table 4'):text.index('Seed 000 also')]
  table4 = table4[table4.index('w_kd'):]
  for w_kd, value in re.findall(rf'({NUM}) ({NUM})', table4):
    out[('seed000_t4', 'resnet32x4', 'resnet8x4', 'kd_maxlogit', float(w_kd))] = (float(value), None)
  ablation = text[text.index('columns z / z - mean'):text.index('Table 5 (')]
  ablation = ablation.replace('\n', ' ').strip() + '\n'
  for w_kd, values in re.findall(r'([\d.]+): ([\d.\s]+?)(?:;|\.\n)', ablation):
    for preprocess, value in zip(PREPROCESS, re.findall(NUM, values), strict=True):
      key = ('seed001_t4', 'resnet32x4', 'resnet8x4', 'kd_ls', (preprocess, float(w_kd)))
      out[key] = (float(value), None)
  table5 = text[text.index('Table 5 ('):text.index('## ImageNet')].replace('\n', ' ')
  teachers = [MODEL.get(t, t) for t in re.findall(rf'([\w-]+) {NUM}[,)]', table5[:table5.index('):') + 1])]
  for method, values in re.findall(r'(KD\+LS|DKD\+LS|KD|DKD) ([\d. ]+)', table5[table5.index('):'):]):
    for teacher, value in zip(teachers, re.findall(NUM, values), strict=True):
      out[('seed001_t5', teacher, 'wrn_16_2', METHOD[method], None)] = (float(value), None)
  imagenet_text = text[text.index('## ImageNet'):].replace('\n', ' ')
  pair_pattern = rf'(\w+) \({NUM}\) -> (\w+) \({NUM}\): (.*?\d)\.(?: |$)'
  for teacher, student, body in re.findall(pair_pattern, imagenet_text):
    teacher = 'resnet50' if teacher == 'ResNet50' else MODEL[teacher]
    for method, top1, top5 in re.findall(rf'([\w+]+) ({NUM})(?:/({NUM}))?', body):
      out[('imagenet', teacher, MODEL.get(student, student), METHOD[method], None)] = (
          float(top1), float(top5) if top5 else None)
  return out


def _group(cell):
  if cell.table == 'seed001_table4':
    return 'seed001_t4', (cell.overrides['preprocess'], cell.overrides['w_kd'])
  if cell.table == 'seed000_table4':
    return 'seed000_t4', cell.overrides['w_kd']
  if cell.table == 'seed001_table5':
    return 'seed001_t5', None
  return cell.table.split('_')[0], None


def test_every_published_number_of_results_md_has_exactly_one_cell():
  expected = parse_results_md(RESULTS_MD)
  # 14x8 seed 001 + 26 seed 002 + 7x6 + 7x7 seed 000 + 28 + 7 + 24 ablations + 18 ImageNet.
  assert len(expected) == 112 + 26 + 91 + 28 + 7 + 24 + 18 == 306
  data = {}
  for cell in published.all_cells():
    if cell.table == 'baselines':
      continue
    group, variant = _group(cell)
    key = (group, cell.teacher, cell.student, cell.method, variant)
    assert key not in data, key
    data[key] = (cell.top1, cell.top5)
  assert data == expected


def test_baselines_are_the_from_scratch_numbers():
  head = RESULTS_MD[:RESULTS_MD.index('## Logit')].replace('\n', ' ')
  expected = {model: float(v) for model, v in re.findall(r'(\w+) (\d+\.\d+)', head)}
  start = RESULTS_MD.index('Table 5 (')
  table5 = RESULTS_MD[start:RESULTS_MD.index('):', start)]
  expected.update({MODEL[m]: float(v) for m, v in re.findall(r'(WRN-\d+-\d+) ([\d.]+)', table5)})
  got = {c.student: c.top1 for c in published.cells_of('baselines')}
  assert got == expected and len(got) == 18


def test_table_split_and_swapped_rows():
  counts = {t: len(published.cells_of(t)) for t in published.table_names()}
  assert counts == {'seed001_table1': 56, 'seed001_table2': 56, 'seed001_table4': 28, 'seed001_table5': 24,
                    'seed002_ttm': 26, 'seed000_table1': 42, 'seed000_table2': 49, 'seed000_table4': 7,
                    'imagenet': 18, 'baselines': 18}
  swapped = [c for c in published.cells_of('seed000_table2') if 'printed as' in c.note]
  assert {(c.teacher, c.student) for c in swapped} == {('resnet110', 'resnet32'), ('resnet32x4', 'resnet8x4')}
  assert all('Table 2' in c.source for c in published.cells_of('seed000_table2'))
  assert published.lookup('seed002_ttm', 'ResNet50-vgg8-ttm').source.endswith('Table 3')
  assert published.lookup('seed002_ttm', 'vgg13-vgg8-wttm').source.endswith('Table 1')
  with pytest.raises(published.UnknownCellError, match='its cells are'):
    published.lookup('seed002_ttm', 'nope')
  with pytest.raises(published.UnknownCellError, match='choose one of'):
    published.cells_of('table9')


def _config_module(table):
  spec = importlib.util.spec_from_file_location(f'config_{table}', os.path.join(CONFIG_DIR, f'{table}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize('table', published.table_names())
def test_config_file_lists_cells_and_documents_them(table):
  module = _config_module(table)
  assert module.get_cells() == tuple(c.cell for c in published.cells_of(table))
  with open(os.path.join(CONFIG_DIR, f'{table}.py')) as f:
    text = f.read()
  assert text == common.config_file_text(table), 'stale file: run python -m experiments.configs.common'
  assert module.__doc__ == common.render_docstring(table)
  for cell in published.cells_of(table):
    row = f'| {cell.cell} | {cell.pair} | {cell.column} | {published.format_number(cell.top1)} |'
    assert row in module.__doc__


NEEDS_OPTION = {f'{p}-w{w:g}' for p in ('center', 'scale') for w in (0.9, 3, 6, 9, 12, 15, 18)}


@pytest.mark.parametrize('table', published.table_names())
def test_every_cell_builds_a_valid_config(table):
  module = _config_module(table)
  for cell in published.cells_of(table):
    config = module.get_config(cell.cell)
    if table == 'seed001_table4' and cell.cell in NEEDS_OPTION:  # "z - mean" / "z / std" columns
      assert config.standardize and config.ls_center == cell.cell.startswith('center')
      assert config.ls_scale == cell.cell.startswith('scale')
    kdjax_config.validate(config)
    assert config.method == cell.method and config.student == cell.student
    if cell.teacher:
      assert config.teacher == cell.teacher
    smoke = module.get_config(f'{cell.cell},runlocal')
    assert smoke.smoke and smoke.epochs == 2 and not config.smoke
    assert kdjax_config.flatten(smoke.to_dict()).keys() == kdjax_config.flatten(config.to_dict()).keys()


def test_cell_settings_come_from_the_tables_and_the_overrides():
  c = _config_module('seed001_table1').get_config('resnet110-resnet20-kd_ls')
  assert (c.standardize, c.temperature, c.kd_weight, c.ce_weight) == (True, 4.0, 12.0, 0.1)
  c = _config_module('seed001_table2').get_config('resnet32x4-ShuffleV2-mlkd')
  assert (c.epochs, c.lr) == (960, 0.01)
  c = _config_module('seed001_table4').get_config('none-w12')
  assert (c.standardize, c.temperature, c.kd_weight, c.ce_weight) == (False, 2.0, 12.0, 0.1)
  c = _config_module('seed001_table4').get_config('zscore-w0.9')
  assert (c.standardize, c.temperature, c.kd_weight, c.ce_weight) == (True, 2.0, 0.9, 0.1)
  c = _config_module('seed000_table4').get_config('w15')
  assert (c.temperature_policy, c.ce_weight, c.kd_weight) == ('max_logit', 1.0, 15.0)
  c = _config_module('seed002_ttm').get_config('wrn_40_2-ShuffleV1-wttm')
  assert (c.loss, c.ttm_gamma, c.kd_weight, c.ce_weight) == ('wttm', 0.3, 3.0, 1.0)
  c = _config_module('imagenet').get_config('resnet50-MobileNetV1-dkd')
  assert (c.epochs, c.batch_size, c.lr, c.weight_decay) == (100, 256, 0.1, 1e-4)
  assert tuple(c.lr_decay_epochs) == (30, 60, 90) and c.dataset == 'imagenet2012'
  assert (c.dkd_beta, c.temperature, c.warmup_epochs) == (2.0, 1.0, 1)
  c = _config_module('seed001_table1').get_config('vgg13-vgg8-kd,teachers=/ckpts/')
  assert c.teacher_checkpoint == '/ckpts/vgg13_vanilla/ckpt_epoch_240.pth'
  with pytest.raises(ValueError, match='unknown config option'):
    _config_module('seed001_table1').get_config('vgg13-vgg8-kd,fast')
  with pytest.raises(published.UnknownCellError):
    _config_module('seed001_table1').get_config('vgg13-vgg9-kd')


def test_cells_without_published_pair_settings_are_marked():
  defaults = {(c.table, c.cell) for c in published.all_cells()
              if c.table != 'seed001_table4' and not common.uses_published_settings(c)}
  assert ('seed001_table1', 'resnet110-resnet20-dkd') in defaults
  assert ('seed000_table1', 'wrn_40_2-MobileNetV2-ttm') in defaults
  assert ('seed001_table5', 'wrn_40_2-wrn_16_2-dkd') not in defaults
  doc = _config_module('seed001_table1').__doc__
  assert '| resnet110-resnet20-dkd | resnet110 -> resnet20 | DKD | 71.06 | defaults |' in doc


# ------------------------------------------------------------------------------------------------
# Running every config. A 2-step run compiles the whole train step (about 10 s per compilation on
# CPU even for resnet8), and the trainer compiles once per distinct loss hyperparameters, so:
#  - every cell's exact loss (its LossSpec: method, weights, temperatures, gamma, beta, ...) is
#    evaluated on random logits (about 75 distinct specs, eager);
#  - one cell per code path of the trainer, i.e. per (loss, temperature policy, LS) on CIFAR and per
#    (single view, two views) on ImageNet, runs the real trainer for 2 steps in smoke mode on random
#    data, with resnet8 in place of its teacher and student (the real models are checked to exist).
def _buildable_cells():
  out = []
  for cell in published.all_cells():
    out.append((cell, common.config_for(cell, runlocal=True)))
  return out


CELLS_AND_CONFIGS = _buildable_cells()


def _code_path(config):
  if config.dataset == 'imagenet2012':
    return ('imagenet2012', 'two_views' if config.loss == 'mlkd' else 'one_view')
  return (config.dataset, config.loss, config.temperature_policy, 'ls' if config.standardize else 'raw')


def _representatives():
  groups = {}
  for cell, config in CELLS_AND_CONFIGS:
    groups.setdefault(_code_path(config), (cell, config))
  return groups


REPRESENTATIVES = _representatives()


def test_every_cell_model_is_in_the_registry():
  names = {name for cell, config in CELLS_AND_CONFIGS for name in (config.student, config.teacher) if name}
  assert names <= set(models.names()), names - set(models.names())
  assert len(CELLS_AND_CONFIGS) == len(published.all_cells())
  assert len(REPRESENTATIVES) == 13 + 2  # 13 methods on CIFAR; one / two views on ImageNet.


def test_every_cell_loss_gives_a_finite_value():
  """Each distinct loss of the cells (gradients: see the 2-step runs, one per code path)."""
  specs = {}
  for _, config in CELLS_AND_CONFIGS:
    specs.setdefault(methods.LossSpec.from_config(config), config)
  assert len(specs) > 50
  rng = np.random.default_rng(0)
  for spec, config in specs.items():
    k = 1000 if config.dataset == 'imagenet2012' else 100
    z, v = (jnp.asarray(rng.normal(size=(8, k)) * s, jnp.float32) for s in (1.0, 3.0))
    strong = (z[::-1], v[::-1]) if spec.two_views else (None, None)
    scalars = methods.epoch_scalars(config, 1)
    loss, terms = methods.make_loss_fn(spec)(
        z, v, jnp.asarray(rng.integers(0, k, 8)), lambda_=scalars['lambda_'], warmup=scalars['warmup'],
        temperature_params=methods.init_temperature_params(spec, jax.random.key(0), k),
        student_strong=strong[0], teacher_strong=strong[1])
    assert np.isfinite(float(loss)) and float(loss) > 0, spec
    assert set(terms) == set(methods.term_names(spec)), spec


@pytest.fixture(scope='module')
def fast_compiles():
  """Cheaper XLA compilations (the numbers of a 2-step smoke run do not matter, its code paths do)."""
  previous = jax.config.read('jax_disable_most_optimizations')
  jax.config.update('jax_disable_most_optimizations', True)
  yield
  jax.config.update('jax_disable_most_optimizations', previous)


@pytest.mark.parametrize('path', sorted(REPRESENTATIVES), ids='-'.join)
def test_two_step_smoke_run_per_trainer_code_path(path, tmp_path, fast_compiles):
  del fast_compiles
  cell, config = REPRESENTATIVES[path]
  config = ml_collections.ConfigDict(config.to_dict())
  config.smoke_steps = 1  # 2 epochs x 1 step.
  config.teacher = 'resnet8' if config.teacher else ''
  config.student = 'resnet8'
  trainer = imagenet.train_and_evaluate if cell.table == 'imagenet' else train.train_and_evaluate
  result = trainer(config, str(tmp_path))
  assert result.summary['epochs_done'] == 2 and int(result.state.step) == 2
  records = sweep.read_records(str(tmp_path))
  assert [r['epoch'] for r in records] == [1, 2]
  assert all(np.isfinite(r['train_loss']) for r in records)
  summary = sweep.summarize_run(records)
  assert sweep.is_finished(summary, config.epochs)
  assert summary.best_top1 == result.summary['best_top1'] and summary.last_top1 == result.summary['last_top1']
  if cell.table == 'imagenet':  # experiments.imagenet's own loop: a finished run resumes to the end at once.
    resumed = trainer(config, str(tmp_path))
    assert resumed.summary['epochs_done'] == 2 and int(resumed.state.step) == 2
    assert sweep.read_records(str(tmp_path)) == records
