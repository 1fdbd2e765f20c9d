"""Tests of experiments/published.py, experiments/configs/ and kdjax.recipes: every published cell has a
config that builds, with the published settings of its recipe, each value with its source.

`RESULTS_MD` transcribes the published numbers of the papers' tables; it is parsed here independently of
`experiments/published.py` and every number is checked against the data there. The pinned settings cite
the source `kdjax/recipes/` records for them (and the test checks that source string).
"""

import functools
import importlib.util
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import published
from experiments import sweep
from experiments.configs import common
from kdjax import config as kdjax_config
from kdjax import methods
from kdjax import models
from kdjax import recipes
from kdjax import steps
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
MLKD columns of seed 001 use 480/960-epoch training with the strong view.
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

## Baselines the seeds compare against (feature-based and other rows; CIFAR-100 top-1 %)
Columns of each block are in the order of its pair list.

Seed 001 Table 1 (distinct architectures; pairs: resnet32x4->ShuffleV2, resnet32x4->wrn_16_2,
resnet32x4->wrn_40_2, wrn_40_2->resnet8x4, wrn_40_2->MobileNetV2, vgg13->MobileNetV2, ResNet50->MobileNetV2):
FitNet 73.54 74.70 77.69 74.61 68.64 64.16 63.16; AT 72.73 73.91 77.43 74.11 60.78 59.40 58.58;
RKD 73.21 74.86 77.82 75.26 69.27 64.52 64.43; CRD 75.65 75.65 78.15 75.24 70.28 69.73 69.11;
OFD 76.82 76.17 79.25 74.36 69.92 69.48 69.04; ReviewKD 77.78 76.11 78.96 74.34 71.28 70.37 69.89;
SimKD 78.39 77.17 79.29 75.29 70.10 69.44 69.97; CAT-KD 78.41 76.97 78.59 75.38 70.24 69.13 71.36.
(Seed 001's Table 1 is the distinct-architecture table and its Table 2 the same-architecture one.)

Seed 001 Table 2 (same architecture; pairs: resnet32x4->resnet8x4, vgg13->vgg8, wrn_40_2->wrn_40_1,
wrn_40_2->wrn_16_2, resnet56->resnet20, resnet110->resnet32, resnet110->resnet20):
FitNet 73.50 71.02 72.24 73.58 69.21 71.06 68.99; AT 73.44 71.43 72.77 74.08 70.55 72.31 70.65;
RKD 71.90 71.48 72.22 73.35 69.61 71.82 69.25; CRD 75.51 73.94 74.14 75.48 71.16 73.48 71.46;
OFD 74.95 73.95 74.33 75.24 70.98 73.23 71.29; ReviewKD 75.63 74.84 75.09 76.12 71.89 73.89 71.34;
SimKD 78.08 74.89 74.53 75.53 71.05 73.92 71.06; CAT-KD 76.91 74.65 74.82 75.60 71.62 73.62 71.37.

Seed 001 Table 3, ImageNet top-1/top-5 (ResNet34->ResNet18; ResNet50->MobileNetV1): AT 70.69/90.01;
69.56/89.33. OFD 70.81/89.98; 71.25/90.34. CRD 71.17/90.13; 71.37/90.41. ReviewKD 71.61/90.51; 72.56/91.00.
SimKD 71.59/90.48; 72.25/90.86. CAT-KD 71.26/90.45; 72.24/91.13.

Seed 000 Table 1 (its own runs; pairs as seed 001 Table 1): FitNet 74.15 73.97 76.75 73.3 65.66 64.87 64.59;
AT 73.27 74.33 77.44 73.92 65.85 60.65 57.48; RKD 73.84 73.2 76.32 72.66 65.24 65.84 65.43;
CRD 76.14 75.68 78.33 75.14 69.91 69.4 69.32; ReviewKD 74.64 73.89 77.12 73.51 68.5 65.74 63.41;
SimKD 76.14 75.36 78.29 74.39 67.22 67.32 67.24; CAT-KD 72.98 73.87 76.74 72.65 65.29 65.78 64.92.
Seed 000 Table 2 (pairs: wrn_40_2->wrn_16_2, wrn_40_2->wrn_40_1, resnet56->resnet20, resnet110->resnet20,
resnet110->resnet32, resnet32x4->resnet8x4, vgg13->vgg8; the last-but-one two printed with swapped student
names, as in the logit table above): FitNet 73.7 71.95 69.22 68.85 70.94 73.62 71.26;
AT 74.57 72.78 70.45 69.9 72.44 73.89 71.49; RKD 73.64 71.66 70.16 69.97 71.96 72.24 71.62;
CRD 75.7 74.1 71.43 71.41 73.98 75.6 73.49; ReviewKD 73.7 72.25 68.58 68.94 71.34 73.2 72.52;
SimKD 73.24 72.42 67.27 68.04 70.81 74.55 73.7; CAT-KD 73.1 71.68 69.95 69.55 71.39 72.72 70.86.

Seed 002 Tables 1 and 2 (same architecture, mean of 5 runs; pairs: wrn_40_2->wrn_16_2, wrn_40_2->wrn_40_1,
resnet56->resnet20, resnet110->resnet20, resnet110->resnet32, resnet32x4->resnet8x4, vgg13->vgg8):
FitNet 73.58 72.24 69.21 68.99 71.06 73.50 71.02; AT 74.08 72.77 70.55 70.22 72.31 73.44 71.43;
VID 74.11 73.30 70.38 70.16 72.61 73.09 71.23; RKD 73.35 72.22 69.61 69.25 71.82 71.90 71.48;
PKT 74.54 73.45 70.34 70.25 72.61 73.64 72.88; CRD 75.48 74.14 71.16 71.46 73.48 75.51 73.94;
KD 74.92 73.54 70.66 70.67 73.08 73.33 72.98; DIST 75.51 74.73 71.75 71.65 73.69 76.31 73.89;
DKD 76.24 74.81 71.97 n/a 74.11 76.32 74.68;
ITRD (3 runs) 76.12 75.18 71.47 71.99 74.26 76.19 74.93; WTTM+CRD 76.61 74.94 72.20 72.13 74.52 76.65 74.71;
WTTM+ITRD (3 runs) 76.65 75.34 72.16 72.20 74.36 77.36 75.13.
Seed 002 Table 6 (same pairs): KD with CE 74.92 73.54 70.66 70.67 73.08 73.33 72.98; WTTM without CE
75.11 73.16 70.95 70.71 73.21 72.94 74.04.
Seed 002 Tables 3 and 4 (distinct architectures, mean of 3 runs; pairs: vgg13->MobileNetV2,
ResNet50->MobileNetV2, ResNet50->vgg8, resnet32x4->ShuffleV1, resnet32x4->ShuffleV2, wrn_40_2->ShuffleV1):
FitNet 64.14 63.16 70.69 73.59 73.54 73.73; AT 59.40 58.58 71.84 71.73 72.73 73.32;
VID 65.56 67.57 70.30 73.38 73.40 73.61; RKD 64.52 64.43 71.50 72.28 73.21 72.21;
PKT 67.13 66.52 73.01 74.10 74.69 73.89; CRD 69.73 69.11 74.30 75.11 75.65 76.05;
KD 67.37 67.35 73.81 74.07 74.45 74.83; DIST 68.50 68.66 74.11 76.34 77.35 76.40;
DKD 69.71 70.35 n/a 76.45 77.07 76.70;
ITRD 70.39 71.41 75.71 76.91 77.40 77.35; WTTM+CRD 70.30 70.84 75.30 75.82 77.04 76.86;
WTTM+ITRD 70.70 71.56 76.00 77.03 77.68 77.44.
Seed 002 reports the run-to-run standard deviation of these cells (its Tables 11-12): 0.04 to 0.85 points,
typically 0.1-0.3.

Seed 002 Table 5, ImageNet top-1 (ResNet34->ResNet18; ResNet50->MobileNetV1): KD 70.66; 70.50. CRD 71.17;
71.37. ReviewKD 71.61; 72.56. ITRD 71.68; n/a. DKD 71.70; 72.05. DIST 72.07; 73.24. CTKD 71.51; n/a.
WTTM 72.19; 73.09. SRRL 71.73; 72.49. KD++ 71.98; 72.77. NKD 71.96; 72.58. (Also reported, not runnable
here: KD-Zero 72.17; 73.02.)
Seed 002 Table 13, ImageNet, DeiT III-Small (82.76) -> DeiT-Tiny (74.42): KD 76.01, ViTKD 76.06, NKD 76.68,
WTTM 77.03, NKD+ViTKD 77.78, WTTM+ViTKD 78.04.
Seed 002 Table 7, ImageNet ResNet-18 student from teachers ResNet-34 (73.31) / ResNet-50 (76.13) /
ResNet-101 (77.37) / ResNet-152 (78.31): KD 71.21 71.35 71.09 71.12; DIST 72.07 72.12 72.08 72.24;
WTTM 72.19 72.26 72.34 72.39.
"""

METHOD = {'KD': 'kd', 'KD+LS': 'kd_ls', 'CTKD': 'ctkd', 'CTKD+LS': 'ctkd_ls', 'DKD': 'dkd',
          'DKD+LS': 'dkd_ls', 'MLKD': 'mlkd', 'MLKD+LS': 'mlkd_ls', 'TTM': 'ttm', 'WTTM': 'wttm',
          'zKD': 'kd_ls', 'zCTKD': 'ctkd_ls',
          'zKD+Ours': 'kd_maxlogit', 'zDKD': 'dkd_ls', 'zDKD+Ours': 'dkd_maxlogit',
          'FitNet': 'fitnet', 'AT': 'at', 'RKD': 'rkd', 'CRD': 'crd', 'OFD': 'ofd', 'ReviewKD': 'reviewkd',
          'SimKD': 'simkd', 'CAT-KD': 'catkd', 'VID': 'vid', 'PKT': 'pkt', 'DIST': 'dist', 'ITRD': 'itrd',
          'WTTM+CRD': 'wttm+crd', 'WTTM+ITRD': 'wttm+itrd', 'KD with CE': 'kd',
          'WTTM without CE': 'wttm_noce', 'SRRL': 'srrl', 'KD++': 'kdpp', 'NKD': 'nkd', 'ViTKD': 'vitkd',
          'NKD+ViTKD': 'nkd+vitkd', 'WTTM+ViTKD': 'wttm+vitkd'}
MODEL = {'VGG13': 'vgg13', 'WRN-28-2': 'wrn_28_2', 'WRN-40-2': 'wrn_40_2', 'WRN-16-4': 'wrn_16_4',
         'WRN-28-4': 'wrn_28_4', 'ResNet34': 'resnet34', 'ResNet18': 'resnet18', 'MobileNetV1': 'MobileNetV1'}
NUM = r'\d+(?:\.\d+)?'
PREPROCESS = ('none', 'center', 'scale', 'zscore')  # z / z - mean / z / std / LS
IMAGENET_PAIRS = (('resnet34', 'resnet18'), ('resnet50', 'MobileNetV1'))


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


def _block(text, title):
  """(header, body) of a baselines block: 'title (header): body.' up to the '.' ending a line."""
  start = text.index(title)
  colon = text.index('):', start)
  end = re.compile(r'\d\.(?:\n|$)').search(text, colon).end()
  return text[start:colon], text[colon + 2:end].replace('\n', ' ').strip().rstrip('.')


def _pairs(header):
  return [tuple(p) for p in re.findall(r'(\w+)->(\w+)', header)]


def _rows(body):
  """'Name v v v; Name (3 runs) v v v' -> [(method, [values])]."""
  rows = []
  for entry in body.split(';'):
    name, values = re.fullmatch(rf'\s*(.*?)(?: \(3 runs\))? ((?:(?:{NUM}|n/a)\s*)+)', entry).groups()
    rows.append((METHOD[name], [None if v == 'n/a' else float(v) for v in values.split()]))
  return rows


def _baselines(text, out):
  """The feature-based and other baseline rows of every seed table."""
  text = text[text.index('## Baselines'):]
  seed001_t1, body = _block(text, 'Seed 001 Table 1 (')
  distinct = _pairs(seed001_t1)
  blocks = [('seed001_table1', body, distinct)]
  header, body = _block(text, 'Seed 001 Table 2 (')
  blocks.append(('seed001_table2', body, _pairs(header)))
  _, body = _block(text, 'Seed 000 Table 1 (')  # "pairs as seed 001 Table 1"
  blocks.append(('seed000_table1', body, distinct))
  header, body = _block(text, 'Seed 000 Table 2 (')
  blocks.append(('seed000_table2', body, _pairs(header)))
  header, body = _block(text, 'Seed 002 Tables 1 and 2 (')
  seed002_same = _pairs(header)
  blocks.append(('seed002_table1', body, seed002_same))
  _, body = _block(text, 'Seed 002 Table 6 (')  # "same pairs"
  blocks.append(('seed002_table6', body, seed002_same))
  header, body = _block(text, 'Seed 002 Tables 3 and 4 (')
  blocks.append(('seed002_table3', body, _pairs(header)))
  second_table = {'seed002_table1': 'seed002_table2', 'seed002_table3': 'seed002_table4'}
  for table, body, pairs in blocks:
    for method, values in _rows(body):
      if method in ('itrd', 'wttm+crd', 'wttm+itrd'):  # Tables 2 and 4 of seed 002
        table = second_table.get(table, table)
      for pair, value in zip(pairs, values, strict=True):
        if value is not None:
          out[(table, *pair, method, None)] = (value, None)
  table3 = text[text.index('Seed 001 Table 3, ImageNet'):text.index('Seed 000 Table 1')].replace('\n', ' ')
  for name, *values in re.findall(rf'([\w-]+) ({NUM})/({NUM}); ({NUM})/({NUM})', table3):
    for pair, (top1, top5) in zip(IMAGENET_PAIRS, (values[:2], values[2:])):
      out[('imagenet', *pair, METHOD[name], None)] = (float(top1), float(top5))
  table5 = text[text.index('Seed 002 Table 5'):text.index('(Also reported')].replace('\n', ' ')
  for name, *values in re.findall(rf'([\w+-]+) ({NUM}|n/a); ({NUM}|n/a)\.', table5):
    for pair, value in zip(IMAGENET_PAIRS, values):
      if value != 'n/a':
        out[('seed002_table5', *pair, METHOD[name], None)] = (float(value), None)
  table13 = text[text.index('Seed 002 Table 13'):text.index('Seed 002 Table 7')].replace('\n', ' ')
  pair13 = ('deit3_small_patch16_224', 'deit_tiny_patch16_224')
  for name, value in re.findall(rf'([\w+]+) ({NUM})[,.]', table13[table13.index('):'):]):
    out[('seed002_table13', *pair13, METHOD[name], None)] = (float(value), None)
  table7 = text[text.index('Seed 002 Table 7'):].replace('\n', ' ')
  teachers = [t.lower().replace('-', '') for t in re.findall(rf'(ResNet-\d+) \({NUM}\)', table7)]
  for name, values in re.findall(rf'(KD|DIST|WTTM) ((?:{NUM} ?){{4}})', table7):
    for teacher, value in zip(teachers, values.split(), strict=True):
      out[('seed002_table7', teacher, 'resnet18', METHOD[name], None)] = (float(value), None)
  return distinct, seed002_same


def parse_results_md(text):
  """Every published number as {(table, teacher, student, method, variant): (top1, top5)}."""
  out = {}
  distinct, seed002_same = _baselines(text, out)
  tables = list(_markdown_tables(text))
  assert len(tables) == 2
  for header, rows in tables:
    for pair, values in rows:
      for column, value in zip(header, values):
        if value is None:
          continue
        if 'zKD' in header:
          table = 'seed000_table1' if pair in distinct else 'seed000_table2'
        elif column in ('TTM', 'WTTM'):
          table = 'seed002_table1' if pair in seed002_same else 'seed002_table3'
        else:
          table = 'seed001_table1' if pair in distinct else 'seed001_table2'
        out[(table, *pair, METHOD[column], None)] = (value, None)
  more = text[text.index('More TTM/WTTM cells'):text.index('## Seed 000')]
  for teacher, student, ttm, wttm in re.findall(rf'(\w+)->(\w+) ({NUM})/({NUM})', more):
    out[('seed002_table3', teacher, student, 'ttm', None)] = (float(ttm), None)
    out[('seed002_table3', teacher, student, 'wttm', None)] = (float(wttm), None)
  table4 = text[text.index('Seed 000 Table 4'):text.index('Seed 000 also')]
  table4 = table4[table4.index('w_kd'):]
  for w_kd, value in re.findall(rf'({NUM}) ({NUM})', table4):
    out[('seed000_table4', 'resnet32x4', 'resnet8x4', 'kd_maxlogit', float(w_kd))] = (float(value), None)
  ablation = text[text.index('columns z / z - mean'):text.index('Table 5 (')]
  ablation = ablation.replace('\n', ' ').strip() + '\n'
  for w_kd, values in re.findall(r'([\d.]+): ([\d.\s]+?)(?:;|\.\n)', ablation):
    for preprocess, value in zip(PREPROCESS, re.findall(NUM, values), strict=True):
      key = ('seed001_table4', 'resnet32x4', 'resnet8x4', 'kd_ls', (preprocess, float(w_kd)))
      out[key] = (float(value), None)
  table5 = text[text.index('Table 5 ('):text.index('## ImageNet')].replace('\n', ' ')
  teachers = [MODEL.get(t, t) for t in re.findall(rf'([\w-]+) {NUM}[,)]', table5[:table5.index('):') + 1])]
  for method, values in re.findall(r'(KD\+LS|DKD\+LS|KD|DKD) ([\d. ]+)', table5[table5.index('):'):]):
    for teacher, value in zip(teachers, re.findall(NUM, values), strict=True):
      out[('seed001_table5', teacher, 'wrn_16_2', METHOD[method], None)] = (float(value), None)
  imagenet_text = text[text.index('## ImageNet'):text.index('## Baselines')].replace('\n', ' ')
  pair_pattern = rf'(\w+) \({NUM}\) -> (\w+) \({NUM}\): (.*?\d)\.(?: |$)'
  for teacher, student, body in re.findall(pair_pattern, imagenet_text):
    teacher = 'resnet50' if teacher == 'ResNet50' else MODEL[teacher]
    for method, top1, top5 in re.findall(rf'([\w+]+) ({NUM})(?:/({NUM}))?', body):
      out[('imagenet', teacher, MODEL.get(student, student), METHOD[method], None)] = (
          float(top1), float(top5) if top5 else None)
  return out


def _variant(cell):
  if cell.table == 'seed001_table4':
    return cell.overrides['preprocess'], cell.overrides['logit.weight']
  if cell.table == 'seed000_table4':
    return cell.overrides['logit.weight']
  return None


def test_every_published_number_of_results_md_has_exactly_one_cell():
  expected = parse_results_md(RESULTS_MD)
  # Logit methods: 14x8 seed 001 + 26 seed 002 + 7x6 + 7x7 seed 000 + 28 + 7 + 24 ablations + 18 ImageNet;
  # baselines: 2x7x8 + 12 seed 001, 2x7x7 seed 000, 11x7 + 14 + 11x6 + 14 + 12 seed 002.
  # + the DKD rows of seed 002 Tables 1 and 3 (13 pairs, 2 n/a); + seed 002 Table 5's SRRL, KD++, NKD;
  # + seed 002 Table 13 (6 DeiT cells).
  assert len(expected) == 306 + 124 + 98 + 183 + 11 + 6 + 6 == 734
  data = {}
  for cell in published.all_cells():
    if cell.table == 'baselines' or cell.method == 'ce':  # teacher / student rows: below
      continue
    key = (cell.table, cell.teacher, cell.student, cell.method, _variant(cell))
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
  assert counts == {'seed001_table1': 112, 'seed001_table2': 112, 'seed001_table4': 28, 'seed001_table5': 24,
                    'seed002_table1': 76, 'seed002_table2': 21, 'seed002_table3': 65, 'seed002_table4': 18,
                    'seed002_table5': 20, 'seed002_table6': 14, 'seed002_table7': 17,
                    'seed002_table13': 6,
                    'seed000_table1': 91, 'seed000_table2': 100, 'seed000_table4': 7,
                    'imagenet': 34, 'baselines': 18}
  swapped = [c for c in published.cells_of('seed000_table2') if 'printed as' in c.note and c.teacher]
  assert {(c.teacher, c.student) for c in swapped} == {('resnet110', 'resnet32'), ('resnet32x4', 'resnet8x4')}
  assert all('Table 2' in c.source for c in published.cells_of('seed000_table2'))
  assert published.lookup('seed002_table3', 'ResNet50-vgg8-ttm').source.endswith('Table 3')
  assert published.lookup('seed002_table1', 'vgg13-vgg8-wttm').source.endswith('Table 1')
  for number in range(1, 8):
    assert all(c.source.endswith(f'Table {number}') for c in published.cells_of(f'seed002_table{number}'))
  with pytest.raises(published.UnknownCellError, match=r"no cell 'wttm'.*cells: python -m experiments.sweep --table=seed002_table1 --show"):
    published.lookup('seed002_table1', 'wttm')
  with pytest.raises(published.UnknownCellError, match='choose one of'):
    published.cells_of('table9')


def test_seed001_table1_is_distinct_and_table2_same_architecture():
  """Sun et al. 2024 Sec. 5.1: Table 1 = distinct architectures, Table 2 = identical ones."""
  table1, table2 = common.cells('seed001_table1'), common.cells('seed001_table2')
  assert 'resnet32x4-ShuffleV2-kd' in table1 and 'resnet32x4-ShuffleV2-kd' not in table2
  assert 'resnet32x4-resnet8x4-kd' in table2 and 'resnet32x4-resnet8x4-kd' not in table1
  for number in (1, 2):
    cells = published.cells_of(f'seed001_table{number}')
    assert len(cells) == 7 * 16 and all(c.source.endswith(f'Table {number}') for c in cells)
    same = {recipes.family(c.teacher) == recipes.family(c.student) for c in cells}
    assert same == {number == 2}


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
    row = (f'| {cell.cell} | {cell.pair} | {cell.column} | {published.format_number(cell.top1)} |'
           + (f' {published.format_number(cell.top5)} |' if cell.top5 is not None else ''))
    assert row in module.__doc__
  assert f'({"/".join(map(str, sorted({c.runs for c in published.cells_of(table)})))} run(s) per cell' \
      in module.__doc__


# Seed 001 Table 4 columns: the pre-process replaces LS's z-score; the derived name says which.
TABLE4_NAMES = {'none': 'kd', 'center': 'kd_lscenter', 'scale': 'kd_lsscale', 'zscore': 'kd_ls'}


def derived_name(cell):
  """The method name the trainer derives for a cell (its preset's, but for Table 4's columns)."""
  if cell.table == 'seed001_table4':
    return TABLE4_NAMES[cell.overrides['preprocess']]
  return cell.method


@pytest.mark.parametrize('table', published.table_names())
def test_every_cell_builds_a_valid_config(table):
  module = _config_module(table)
  for cell in published.cells_of(table):
    config = module.get_config(cell.cell)
    assert config.method is None, cell.cell  # the command derives it after --config.* overrides
    if table == 'seed001_table4':  # "z", "z - mean", "z / std", "LS" columns
      preprocess = cell.overrides['preprocess']
      assert config.logit.standardize == (preprocess != 'none')
      if config.logit.standardize:
        assert (config.ls.center, config.ls.scale) == (preprocess != 'scale', preprocess != 'center')
    assert kdjax_config.validate(config).method == derived_name(cell), cell.cell
    assert config.student == cell.student and config.teacher == (cell.teacher or '')
    smoke = module.get_config(f'{cell.cell},runlocal')
    assert smoke.smoke and smoke.epochs == 2 and not config.smoke and smoke.method is None
    assert kdjax_config.flatten(smoke.to_dict()).keys() == kdjax_config.flatten(config.to_dict()).keys()


def test_cell_settings_come_from_the_tables_and_the_overrides(tmp_path):
  c = _config_module('seed001_table2').get_config('resnet110-resnet20-kd_ls')
  assert (c.logit.standardize, c.logit.temperature, c.logit.weight, c.ce_weight) == (True, 4.0, 12.0, 0.1)
  c = _config_module('seed001_table1').get_config('resnet32x4-ShuffleV2-mlkd')
  assert (c.epochs, c.lr) == (960, 0.01)
  c = _config_module('seed001_table4').get_config('none-w12')
  assert (c.logit.standardize, c.logit.temperature, c.logit.weight, c.ce_weight) == (False, 2.0, 12.0, 0.1)
  c = _config_module('seed001_table4').get_config('zscore-w0.9')
  assert (c.logit.standardize, c.logit.temperature, c.logit.weight, c.ce_weight) == (True, 2.0, 0.9, 0.1)
  c = _config_module('seed000_table4').get_config('w15')
  assert (c.logit.policy, c.ce_weight, c.logit.weight) == ('max_logit', 1.0, 15.0)
  c = _config_module('seed002_table3').get_config('wrn_40_2-ShuffleV1-wttm')
  assert (c.logit.loss, c.ttm.gamma, c.logit.weight, c.ce_weight) == ('wttm', 0.3, 3.0, 1.0)
  c = _config_module('imagenet').get_config('resnet50-MobileNetV1-dkd')
  assert (c.epochs, c.batch_size, c.lr, c.weight_decay) == (100, 512, 0.2, 1e-4)
  assert tuple(c.lr_decay_epochs) == (30, 60, 90) and c.dataset == 'imagenet2012'
  assert (c.dkd.beta, c.logit.temperature, c.dkd.warmup_epochs) == (2.0, 1.0, 1)
  released = tmp_path / 'vgg13_vanilla' / 'ckpt_epoch_240.pth'
  released.parent.mkdir()
  released.write_bytes(b'')
  c = _config_module('seed001_table2').get_config(f'vgg13-vgg8-kd,teachers={tmp_path}')
  assert c.teacher_checkpoint == str(released)
  with pytest.raises(FileNotFoundError, match='no resnet32x4 teacher in'):
    _config_module('seed001_table2').get_config(f'resnet32x4-resnet8x4-kd,teachers={tmp_path}')
  with pytest.raises(ValueError, match='unknown config option'):
    _config_module('seed001_table2').get_config('vgg13-vgg8-kd,fast')
  with pytest.raises(published.UnknownCellError):
    _config_module('seed001_table2').get_config('vgg13-vgg9-kd')


# ------------------------------------------------------------------------------------------------
# Every cell's resolved settings and sources (kdjax.recipes through experiments.configs.common).
@functools.cache
def resolved_cells():
  """``{(table, cell): (PublishedCell, recipes.Resolved)}`` of every published cell."""
  return {(c.table, c.cell): (c, common.resolve(c)) for c in published.all_cells()}


def cells_where(table_prefix, method, pair=None):
  out = [(c, r) for (t, _), (c, r) in resolved_cells().items()
         if t.startswith(table_prefix) and c.method == method
         and (pair is None or (c.teacher, c.student) == pair)]
  assert out, (table_prefix, method, pair)
  return out


def setting(table, cell, field):
  """(value, source) of one dotted field of a cell."""
  _, resolved = resolved_cells()[table, cell]
  return kdjax_config.flatten(resolved.config.to_dict())[field], resolved.sources.get(field, '')


# The pairs of seed 001 Tables 1-2 and the DKD beta the references give each: mdistiller's
# configs/cifar100/dkd/<pair>.yaml (8 where the file has no BETA: cfg.py), and for the five pairs
# only the LS paper ran, the beta0 in the name of the LS release's DKD log of the pair.
DKD_BETA = {('resnet32x4', 'resnet8x4'): 8.0, ('vgg13', 'vgg8'): 6.0, ('wrn_40_2', 'wrn_40_1'): 6.0,
            ('wrn_40_2', 'wrn_16_2'): 6.0, ('resnet56', 'resnet20'): 2.0, ('resnet110', 'resnet32'): 2.0,
            ('resnet32x4', 'ShuffleV2'): 8.0, ('vgg13', 'MobileNetV2'): 6.0,
            ('ResNet50', 'MobileNetV2'): 8.0,
            # LS-only pairs: logs/DKD/dkd,<teacher>,<student>,<tau>,<w>,<beta0>.txt
            ('resnet110', 'resnet20'): 2.0, ('resnet32x4', 'wrn_16_2'): 2.0, ('resnet32x4', 'wrn_40_2'): 8.0,
            ('wrn_40_2', 'resnet8x4'): 2.0, ('wrn_40_2', 'MobileNetV2'): 2.0}
LS_ONLY_PAIRS = (('resnet110', 'resnet20'), ('resnet32x4', 'wrn_16_2'), ('resnet32x4', 'wrn_40_2'),
                 ('wrn_40_2', 'resnet8x4'), ('wrn_40_2', 'MobileNetV2'))


def test_seed001_dkd_beta_of_every_pair():
  """mdistiller configs/cifar100/dkd/*.yaml; the LS-only pairs: the LS DKD log names (beta0)."""
  cells = cells_where('seed001_table', 'dkd')
  assert len(cells) == 14 + 6  # Tables 1-2 and Table 5
  for cell, resolved in cells:
    if cell.table == 'seed001_table5':
      continue
    pair = (cell.teacher, cell.student)
    assert resolved.config.dkd.beta == DKD_BETA[pair], pair
    source = resolved.sources['dkd.beta']
    if pair in LS_ONLY_PAIRS:
      assert f'logit-standardization-KD logs/DKD/dkd,{pair[0]},{pair[1]},' in source, source
    else:
      assert 'mdistiller configs/cifar100/dkd/' in source, source


def test_ctkd_ls_uses_the_released_logs_temperature_range():
  """LS logs/CTKD/ctkd,*,2,9.txt: T(epoch 1) 22.3-30.4, min 2.0013, so T = 2 + 40 sigmoid(theta)."""
  cells = cells_where('seed001_table', 'ctkd_ls')
  assert len(cells) == 14
  for cell, resolved in cells:
    c = resolved.config
    assert (c.ctkd.t_start, c.ctkd.t_range) == (2.0, 40.0), cell.cell
    assert 'logs/CTKD' in resolved.sources['ctkd.t_start'] and 'logs/CTKD' in resolved.sources['ctkd.t_range']
    assert (c.logit.policy, c.logit.standardize, c.ce_weight, c.logit.weight) == ('ctkd', True, 0.1, 9.0)


def test_plain_ctkd_and_seed000_zctkd_use_the_released_code_range():
  """zhengli97/CTKD train_student.py (t_start 1, t_end 20); seed 000 Table 3 zCTKD (CE 0.1, KD 9,
  its tau 4 the inert --kd_T of the LS release's CTKD code, which keeps t_start 1, t_end 20)."""
  plain = cells_where('seed001_table', 'ctkd')
  assert len(plain) == 14
  for cell, resolved in plain:
    c = resolved.config
    assert (c.ctkd.t_start, c.ctkd.t_range, c.ctkd.lambda_epochs) == (1.0, 20.0, 10), cell.cell
    assert (c.ce_weight, c.logit.weight, c.logit.standardize) == (0.1, 0.9, False)
    assert resolved.sources['ctkd.t_start'].startswith('zhengli97/CTKD')
  zctkd = cells_where('seed000_table', 'ctkd_ls')
  assert len(zctkd) == 14
  for cell, resolved in zctkd:
    c = resolved.config
    assert (c.ctkd.t_start, c.ctkd.t_range, c.ce_weight, c.logit.weight) == (1.0, 20.0, 0.1, 9.0)
    assert 'Matsuyama et al. 2025, Table 3' in resolved.sources['ctkd.t_start']
    assert resolved.sources['ce_weight'] == 'Matsuyama et al. 2025, Table 3'


def test_mlkd_recipe():
  """MLKD repo configs/cifar100/ours (CVPR'23 state): T0 4, CE 0.1, KD 0.9, 480 epochs (960 for
  ShuffleV1/V2 students), lr 0.025 (0.01 MobileNet/ShuffleNet); LS configs/cifar100/mlkd and its
  logs/MLKD/mlkd,<teacher>,<student>,2,<w>.txt for MLKD+LS; both releases draw the strong view's
  crop independently."""
  assert kdjax_config.get_config().mlkd.strong_crop == 'independent'
  for method in ('mlkd', 'mlkd_ls'):
    for cell, resolved in cells_where('seed001_table', method):
      assert resolved.config.mlkd.strong_crop == 'independent'
      assert resolved.config.epochs == (960 if cell.student == 'ShuffleV2' else 480), cell.cell
  for cell, resolved in cells_where('seed001_table', 'mlkd'):
    c = resolved.config
    assert (c.logit.temperature, c.ce_weight, c.logit.weight) == (4.0, 0.1, 0.9)
  assert setting('seed001_table2', 'vgg13-vgg8-mlkd', 'lr')[0] == 0.025
  assert setting('seed001_table2', 'vgg13-vgg8-mlkd', 'epochs')[0] == 480
  assert 'configs/cifar100/ours' in setting('seed001_table2', 'vgg13-vgg8-mlkd', 'lr')[1]
  lr, source = setting('seed001_table2', 'vgg13-vgg8-mlkd_ls', 'lr')
  assert lr == 0.01 and 'logs/MLKD/mlkd,vgg13,vgg8,2,6.txt' in source
  assert setting('seed001_table2', 'vgg13-vgg8-mlkd_ls', 'logit.weight')[0] == 6.0
  for method in ('mlkd', 'mlkd_ls'):
    lr, source = setting('seed001_table1', f'wrn_40_2-MobileNetV2-{method}', 'lr')
    assert lr == 0.005 and 'configs/cifar100/mlkd/wrn_40_2_MobileNetV2.yaml' in source
    epochs, source = setting('seed001_table1', f'resnet32x4-ShuffleV2-{method}', 'epochs')
    assert epochs == 960 and ('res32x4_shuv2.yaml' in source or 'resnet32x4_ShuffleV2.yaml' in source)


SEED000_T3 = 'Matsuyama et al. 2025, Table 3'


def test_seed000_uses_its_own_table3_for_every_pair():
  """Seed 000 Table 3: zKD 0.1/9/tau 2, zDKD 1/1/tau 4 (beta = the pair's DKD beta0), zKD+Ours
  0.1/9, zDKD+Ours 1/9, TTM and WTTM 1/1 with coefficient (gamma) 0.2, for every pair."""
  expected = {'kd_ls': {'ce_weight': 0.1, 'logit.weight': 9.0, 'logit.temperature': 2.0},
              'dkd_ls': {'ce_weight': 1.0, 'logit.weight': 1.0, 'logit.temperature': 4.0},
              'kd_maxlogit': {'ce_weight': 0.1, 'logit.weight': 9.0},
              'dkd_maxlogit': {'ce_weight': 1.0, 'logit.weight': 9.0},
              'ttm': {'ce_weight': 1.0, 'logit.weight': 1.0, 'ttm.gamma': 0.2},
              'wttm': {'ce_weight': 1.0, 'logit.weight': 1.0, 'ttm.gamma': 0.2}}
  for method, values in expected.items():
    cells = [(c, r) for c, r in cells_where('seed000_table', method) if c.table != 'seed000_table4']
    assert len(cells) == (7 if method == 'wttm' else 14), method
    for cell, resolved in cells:
      flat = kdjax_config.flatten(resolved.config.to_dict())
      for field, value in values.items():
        assert flat[field] == value, (cell.cell, field)
        assert resolved.sources[field].startswith(SEED000_T3), (cell.cell, field)
      if method.startswith('dkd'):
        assert flat['dkd.beta'] == DKD_BETA[cell.teacher, cell.student], cell.cell
  # resnet110 -> resnet20: seed 000's zKD is tau 2 / weight 9, seed 001's KD+LS (4, 12).
  assert setting('seed000_table2', 'resnet110-resnet20-kd_ls', 'logit.temperature')[0] == 2.0
  assert setting('seed001_table2', 'resnet110-resnet20-kd_ls', 'logit.weight')[0] == 12.0
  assert setting('seed001_table2', 'resnet110-resnet20-kd_ls', 'logit.temperature')[0] == 4.0
  assert setting('seed000_table1', 'wrn_40_2-MobileNetV2-kd_ls', 'lr')[0] == 0.01
  assert setting('seed000_table1', 'resnet32x4-ShuffleV2-ttm', 'lr')[0] == 0.01
  assert setting('seed000_table2', 'resnet56-resnet20-ttm', 'lr') == (
      0.05, f'{SEED000_T3} (lr 0.05, 0.01 for MobileNetV2 and ShuffleNetV2 students)')


IN_R18, IN_MV1 = 'resnet34-resnet18', 'resnet50-MobileNetV1'


def test_imagenet_protocol_and_methods():
  """mdistiller configs/imagenet/r34_r18/kd.yaml SOLVER (batch 512, lr 0.2, 100 epochs, x0.1 at
  30/60/90, wd 1e-4; KD T 1, 0.5/0.5); DKD r34_r18/dkd.yaml beta 0.5, r50_mv1/dkd.yaml 2.0 (T 1,
  warm-up 1); MLKD configs/imagenet kd_ours.yaml lr 0.1 / 0.2 (T 1, 0.5/0.5); LS README (T 2,
  weight 9); CTKD scripts/run_imagenet_distill.sh (batch 256, lr 0.1, 120 epochs, lambda over 5
  epochs); WTTM: Zheng & Yang A.4 (gamma, beta) and the torchdistill recipe (batch 256, lr 0.1)."""
  for pair in (IN_R18, IN_MV1):
    for method in ('kd', 'kd_ls', 'dkd', 'dkd_ls', 'mlkd', 'mlkd_ls'):
      c = resolved_cells()['imagenet', f'{pair}-{method}'][1].config
      assert c.dataset == 'imagenet2012' and c.epochs == 100 and c.weight_decay == 1e-4
      assert tuple(c.lr_decay_epochs) == (30, 60, 90) and c.batch_size == 512
      if not method.startswith('mlkd'):
        assert c.lr == 0.2, (pair, method)
  def get(cell, *fields):
    return [setting('imagenet', cell, field)[0] for field in fields]

  t_ce_w = ('logit.temperature', 'ce_weight', 'logit.weight')
  for pair in (IN_R18, IN_MV1):
    assert get(f'{pair}-kd', *t_ce_w) == [1, 0.5, 0.5]
    assert get(f'{pair}-kd_ls', *t_ce_w) == [2, 1, 9]
    assert get(f'{pair}-dkd', 'logit.temperature', 'dkd.warmup_epochs', 'ce_weight') == [1, 1, 1]
    assert get(f'{pair}-dkd_ls', 'logit.temperature', 'logit.weight') == [2, 9]
    assert get(f'{pair}-mlkd', *t_ce_w) == [1, 0.5, 0.5]
    assert get(f'{pair}-mlkd_ls', 'logit.temperature', 'logit.weight') == [2, 9]
    assert get(f'{pair}-ctkd', 'batch_size', 'lr', 'epochs', 'ctkd.lambda_epochs') == [256, 0.1, 120, 5]
    assert get(f'{pair}-wttm', 'batch_size', 'lr', 'ce_weight') == [256, 0.1, 1.0]
    assert 'configs/imagenet/r34_r18/kd.yaml' in setting('imagenet', f'{pair}-kd', 'batch_size')[1]
    assert 'run_imagenet_distill.sh' in setting('imagenet', f'{pair}-ctkd', 'batch_size')[1]
    assert 'torchdistill' in setting('imagenet', f'{pair}-wttm', 'batch_size')[1]
  assert get(f'{IN_R18}-dkd', 'dkd.beta') + get(f'{IN_MV1}-dkd', 'dkd.beta') == [0.5, 2.0]
  assert 'dkd.yaml' in setting('imagenet', f'{IN_R18}-dkd', 'dkd.beta')[1]
  assert get(f'{IN_R18}-mlkd', 'lr') + get(f'{IN_MV1}-mlkd', 'lr') == [0.1, 0.2]
  assert 'kd_ours.yaml' in setting('imagenet', f'{IN_R18}-mlkd', 'lr')[1]
  assert get(f'{IN_R18}-wttm', 'ttm.gamma', 'logit.weight') == [0.8, 1.6]
  assert get(f'{IN_MV1}-wttm', 'ttm.gamma', 'logit.weight') == [0.7, 3.5]
  assert 'Appendix A.4' in setting('imagenet', f'{IN_MV1}-wttm', 'ttm.gamma')[1]


def test_table5_cells_without_references_are_marked_defaults():
  """Seed 001 Table 5 (teachers -> wrn_16_2): no config or log but for wrn_40_2 -> wrn_16_2; the
  other teachers' DKD beta / LS settings are defaults by analogy (TABLE_NOTES), marked 'defaults'."""
  status = {c.cell: common.settings_status(c) for c in published.cells_of('seed001_table5')}
  for cell in published.cells_of('seed001_table5'):
    expected = 'published' if cell.teacher == 'wrn_40_2' or cell.method == 'kd' else 'defaults'
    assert status[cell.cell] == expected, cell.cell
  doc = _config_module('seed001_table5').__doc__
  assert '| vgg13-wrn_16_2-dkd | vgg13 -> wrn_16_2 | DKD | 75.45 | best | defaults |' in doc
  assert '| wrn_40_2-wrn_16_2-dkd | wrn_40_2 -> wrn_16_2 | DKD | 76.24 | best | published |' in doc
  beta, source = setting('seed001_table5', 'ResNet50-wrn_16_2-dkd', 'dkd.beta')
  assert beta == 8.0 and source.startswith('default: no source for this pair (seed 001 Table 5)')


def _fallbacks():
  return {t.fallback[1] for t in vars(recipes).values()
          if isinstance(t, recipes.PairTable) and t.fallback is not None}


def _documented_default(table, cell, source):
  """Where a cell may run a value no paper or reference gives for it (each says why)."""
  if table == 'seed001_table5':  # no config or log for its teachers but wrn_40_2
    return 'seed 001 Table 5' in source or source in _fallbacks()
  if table.startswith('seed000') and cell.method not in kdjax_config.LOGIT_METHODS:
    # seed 000's re-runs of its baselines, on pairs the method's reference may not cover
    return recipes.SEED000_BASELINE in source or source in _fallbacks()
  if table == 'seed002_table7':  # its stronger teachers have no WTTM row
    return 'Zheng & Yang 2024, Table 7' in source and cell.teacher != 'resnet34'
  if table == 'seed002_table13' and cell.method in ('wttm', 'wttm+vitkd'):  # no DeiT WTTM setting
    return 'no WTTM setting is published for DeiT III-Small -> DeiT-Tiny' in source
  if table == 'seed002_table6' and cell.method == 'wttm_noce':  # Table 8 prints no beta
    return 'no beta is published for WTTM w/o CE' in source
  if cell.method == 'catkd' and 'nearest released pair' in source:  # no CAT-KD config for the pair
    return True
  return source in _fallbacks()  # a pair a method's reference config does not cover


def test_every_other_cell_uses_published_settings():
  undocumented = {(c.table, c.cell) for c, r in resolved_cells().values()
                  if common.settings_status(c) != 'published'
                  and not any(_documented_default(c.table, c, s) for s in r.sources.values())}
  assert undocumented == set()
  assert common.uses_published_settings(published.lookup('seed001_table2', 'resnet110-resnet20-dkd'))
  defaults = {(c.table, c.method) for c, _ in resolved_cells().values()
              if c.table not in ('seed001_table5', 'seed000_table1', 'seed000_table2')
              and common.settings_status(c) != 'published'}
  # ReviewKD's weight and CAT-KD's settings per pair exist for a few pairs only; seed 002 Table 7's
  # resnet50 / 101 / 152 teachers have no WTTM row.
  # WTTM without CE has no published beta (seed 002 Table 8 prints gamma only); nor WTTM on DeiT.
  assert defaults == {('seed001_table1', 'reviewkd'), ('seed001_table2', 'reviewkd'),
                      ('seed001_table1', 'catkd'), ('seed001_table2', 'catkd'),
                      ('seed002_table7', 'wttm'), ('seed002_table6', 'wttm_noce'),
                      ('seed002_table13', 'wttm'), ('seed002_table13', 'wttm+vitkd')}


def test_every_source_is_given_and_defaults_only_where_documented():
  """Every value a cell sets has a non-empty source; a 'default' source only where documented."""
  # DKD beta, KD+LS, MLKD, MLKD+LS, TTM = WTTM (r32x4 -> r8x4 row), ReviewKD and its ImageNet
  # weight, CAT-KD (its cfg.py), ITRD (TTM's ITRD defaults), the WTTM rows of WTTM+CRD / WTTM+ITRD
  # and WTTM without CE's gamma.
  assert len(_fallbacks()) == 12
  for (table, name), (cell, resolved) in resolved_cells().items():
    rows = recipes.describe(resolved)
    assert rows and all(source.strip() for _, _, source in rows), name
    assert all(source.strip() for source in resolved.sources.values()), name
    for field, source in resolved.sources.items():
      if source.startswith(recipes.DEFAULT):
        assert _documented_default(table, cell, source), (table, name, field, source)


def test_precision_is_highest_in_every_reproduction_cell():
  for (table, name), (_, resolved) in resolved_cells().items():
    assert resolved.config.precision == 'highest', (table, name)
    assert resolved.sources['precision'].startswith('kdjax: full float32'), (table, name)


# ------------------------------------------------------------------------------------------------
# Running every config. A 2-step run compiles the whole train step (about 10 s per compilation on
# CPU even for resnet8), and the trainer compiles once per distinct method settings, so:
#  - every cell's exact objective (its method fields: weights, temperatures, gamma, beta, ...) is
#    evaluated on random logits (steps.method_key: about 75 distinct ones);
#  - the trainer's code paths, i.e. (loss, temperature policy, LS) on CIFAR and (one view, two views)
#    on ImageNet: the 13 CIFAR ones are the 13 method presets, which test_experiments.py trains end to
#    end; the two ImageNet ones run here (slow), with resnet8 in place of the real models (which are
#    checked to exist).
@functools.cache
def cells_and_configs():
  return tuple((cell, common.config_for(cell, runlocal=True)) for cell in published.all_cells())


def _code_path(config):
  if config.dataset == 'imagenet2012':
    return ('imagenet2012', 'two_views' if config.logit.loss == 'mlkd' else 'one_view')
  return (config.dataset, config.logit.loss, config.logit.policy,
          'ls' if config.logit.standardize else 'raw')


def representatives():
  groups = {}
  for cell, config in cells_and_configs():
    groups.setdefault(_code_path(config), (cell, config))
  return groups


def test_every_cell_model_is_in_the_registry_and_code_paths_are_the_presets():
  names = {name for _, config in cells_and_configs() for name in (config.student, config.teacher) if name}
  assert names <= set(models.names()), names - set(models.names())
  assert len(cells_and_configs()) == len(published.all_cells())
  paths = set(representatives())
  assert len(paths) == 14 + 2  # 14 logit code paths on CIFAR (13 + DIST); one / two views on ImageNet.
  # The presets of published CIFAR cells (a method needs no such cell to exist: e.g. NKD, whose
  # cells are ImageNet's, seed 002 Table 5; test_method_nkd.py).
  published_methods = {cell.method for cell, config in cells_and_configs()
                       if config.dataset != 'imagenet2012'}
  presets = {_code_path(recipes.method_config(m, 'resnet8' if m != 'ce' else '', 'resnet8'))
             for m in kdjax_config.METHODS if m in published_methods}
  assert {p for p in paths if p[0] == 'cifar100'} == presets


@pytest.mark.slow
def test_every_cell_objective_gives_a_finite_value():
  """Each distinct logit objective of the cells (gradients: see the 2-step runs, one per code path)."""
  objectives = {}
  for _, config in cells_and_configs():
    if config.feature.loss == 'none':  # feature terms: tests/test_method_*.py, on model features
      flat = kdjax_config.flatten(config.to_dict())
      key = (steps.method_key(config), *(flat[field] for field in steps.RUNTIME_FIELDS))
      objectives.setdefault(key, config)
  assert len(objectives) > 50
  rng = np.random.default_rng(0)
  for config in objectives.values():
    k = 1000 if config.dataset == 'imagenet2012' else 100
    z, v = (jnp.asarray(rng.normal(size=(8, k)) * s, jnp.float32) for s in (1.0, 3.0))
    distillation = methods.build(config)
    inputs = methods.StepInputs(
        student=methods.Outputs(z), labels=jnp.asarray(rng.integers(0, k, 8), jnp.int32),
        teacher=methods.Outputs(v) if distillation.needs.teacher else None,
        student_strong=methods.Outputs(z[::-1]) if distillation.needs.strong_view else None,
        teacher_strong=methods.Outputs(v[::-1]) if distillation.needs.strong_view else None,
        scalars={n: jnp.float32(s) for n, s in methods.epoch_scalars(config, 1).items()})
    variables = distillation.init(jax.random.key(0), inputs)
    loss, terms = distillation.apply(variables, inputs)
    assert np.isfinite(float(loss)) and float(loss) > 0, config.method
    assert set(terms) == set(distillation.term_names) | set(distillation.stat_names), config.method


@pytest.fixture(scope='module')
def fast_compiles():
  """Cheaper XLA compilations (the numbers of a 2-step smoke run do not matter, its code paths do)."""
  previous = jax.config.read('jax_disable_most_optimizations')
  jax.config.update('jax_disable_most_optimizations', True)
  yield
  jax.config.update('jax_disable_most_optimizations', previous)


@pytest.mark.slow
@pytest.mark.parametrize('views', ['one_view', 'two_views'])
def test_two_step_smoke_run_per_imagenet_code_path(views, tmp_path, fast_compiles):
  del fast_compiles
  cell, config = representatives()[('imagenet2012', views)]
  assert cell.table in ('imagenet', 'seed002_table5', 'seed002_table7')
  config = kdjax_config.copy_config(config)
  config.smoke_steps = 1  # 2 epochs x 1 step.
  config.teacher, config.student = 'resnet8', 'resnet8'
  kdjax_config.validate(config)
  result = train.train_and_evaluate(config, str(tmp_path))
  assert result.summary['epochs_done'] == 2 and int(result.state.step) == 2
  assert result.summary['method'] == cell.method and result.summary['dataset'] == 'imagenet2012'
  records = sweep.read_records(str(tmp_path))
  assert [r['epoch'] for r in records] == [1, 2]
  assert all(np.isfinite(r['train_loss']) for r in records)
  assert ('train_cc' in records[0]) == (views == 'two_views')
  summary = sweep.summarize_run(records)
  assert sweep.is_finished(summary, config.epochs)
  assert summary.best_top1 == result.summary['best_top1'] and summary.last_top1 == result.summary['last_top1']
  resumed = train.train_and_evaluate(config, str(tmp_path))  # finished: resumes to the end at once
  assert resumed.summary['epochs_done'] == 2 and int(resumed.state.step) == 2
  assert sweep.read_records(str(tmp_path)) == records


# Seed 002 (Zheng & Yang 2024) Appendix A.4, Tables 8-9: the combinations' and "WTTM w/o CE"'s own
# rows (pair: gamma, beta), transcribed from the paper's tables independently of kdjax/recipes/.
SEED002_A4 = """
WTTM+CRD: wrn_40_2->wrn_16_2 0.1, 4; wrn_40_2->wrn_40_1 0.1, 2; resnet56->resnet20 0.3, 0.6;
resnet110->resnet20 0.2, 1.4; resnet110->resnet32 0.2, 1; resnet32x4->resnet8x4 0.2, 4; vgg13->vgg8 0.2, 4;
vgg13->MobileNetV2 0.3, 4.2; ResNet50->MobileNetV2 0.3, 3; ResNet50->vgg8 0.1, 3; resnet32x4->ShuffleV1
0.2, 0.4; resnet32x4->ShuffleV2 0.4, 12; wrn_40_2->ShuffleV1 0.2, 0.16.
WTTM+ITRD: wrn_40_2->wrn_16_2 0.3, 6; wrn_40_2->wrn_40_1 0.4, 0.08; resnet56->resnet20 0.5, 5;
resnet110->resnet20 0.3, 1.5; resnet110->resnet32 0.3, 0.015; resnet32x4->resnet8x4 0.1, 1.5; vgg13->vgg8
0.1, 0.5; vgg13->MobileNetV2 0.3, 0.03; ResNet50->MobileNetV2 0.2, 0.02; ResNet50->vgg8 0.1, 1;
resnet32x4->ShuffleV1 0.3, 0.6; resnet32x4->ShuffleV2 0.4, 0.8; wrn_40_2->ShuffleV1 0.1, 0.2.
WTTM w/o CE: wrn_40_2->wrn_16_2 0.2; wrn_40_2->wrn_40_1 0.5; resnet56->resnet20 0.6; resnet110->resnet20 0.4;
resnet110->resnet32 0.4; resnet32x4->resnet8x4 0.5; vgg13->vgg8 0.2.
"""


def _a4_rows(name):
  text = SEED002_A4.replace('\n', ' ')
  start = text.index(f'{name}:') + len(name) + 1
  body = re.split(r'\.\s+WTTM', text[start:])[0]  # up to the next row's name
  rows = {}
  for teacher, student, values in re.findall(rf'(\w+)->(\w+) ((?:{NUM}(?:, )?)+)', body):
    rows[(teacher, student)] = tuple(float(v) for v in values.split(', '))
  return rows


@pytest.mark.parametrize('method, name, tables', [
    ('wttm+crd', 'WTTM+CRD', ('seed002_table2', 'seed002_table4')),
    ('wttm+itrd', 'WTTM+ITRD', ('seed002_table2', 'seed002_table4')),
])
def test_seed002_combinations_take_their_own_a4_rows(method, name, tables):
  """Appendix A.4 Tables 8-9: WTTM+CRD / WTTM+ITRD have their own (gamma, beta), not WTTM's."""
  rows = _a4_rows(name)
  assert len(rows) == 13
  cells = [(c, r) for c, r in cells_where('seed002_table', method) if c.table in tables]
  assert {(c.teacher, c.student) for c, _ in cells} == set(rows)
  differs_from_wttm = 0
  for cell, resolved in cells:
    gamma, beta = rows[(cell.teacher, cell.student)]
    assert (resolved.config.ttm.gamma, resolved.config.logit.weight) == (gamma, beta), cell.cell
    for field in ('ttm.gamma', 'logit.weight'):
      assert 'Appendix A.4' in resolved.sources[field] and name in resolved.sources[field], field
    wttm = recipes.WTTM.settings((cell.teacher, cell.student), strict=True)
    differs_from_wttm += (wttm['ttm.gamma'].value, wttm['logit.weight'].value) != (gamma, beta)
  assert differs_from_wttm >= 11  # "differs in almost every pair"


def test_wttm_without_ce_takes_its_gamma_and_a_stated_beta():
  """Table 8's "WTTM w/o CE" row prints gamma only; beta 1 (no CE to balance), marked default."""
  rows = _a4_rows('WTTM w/o CE')
  cells = cells_where('seed002_table6', 'wttm_noce')
  assert {(c.teacher, c.student) for c, _ in cells} == set(rows) and len(rows) == 7
  for cell, resolved in cells:
    c = resolved.config
    assert (c.ttm.gamma, c.logit.weight, c.ce_weight) == (rows[(cell.teacher, cell.student)][0], 1.0,
                                                          0.0), cell.cell
    assert 'WTTM w/o CE' in resolved.sources['ttm.gamma']
    assert resolved.sources['logit.weight'].startswith('default: beta 1, no beta is published')
    assert common.settings_status(cell) == 'defaults'


def test_plain_itrd_uses_the_itrd_papers_optimal_values():
  """Seed 002 A.5: alpha_it 1.01 same-architecture / 1.5 distinct; beta_mi 0 for ResNet50 ->
  MobileNetV2, ResNet50 -> vgg8, WRN-40-2 -> ShuffleV1, 1 elsewhere; beta_corr 2."""
  no_mutual = {('ResNet50', 'MobileNetV2'), ('ResNet50', 'vgg8'), ('wrn_40_2', 'ShuffleV1')}
  cells = [(c, r) for c, r in cells_where('seed002_table', 'itrd') if c.table != 'seed002_table5']
  assert len(cells) == 13
  for cell, resolved in cells:
    pair = (cell.teacher, cell.student)
    same = recipes.family(cell.teacher) == recipes.family(cell.student)
    c = resolved.config.itrd
    assert (c.alpha, c.lambda_mutual, c.lambda_corr) == (
        1.01 if same else 1.5, 0.0 if pair in no_mutual else 1.0, 2.0), cell.cell
    for field in ('itrd.alpha', 'itrd.lambda_mutual', 'itrd.lambda_corr'):
      assert 'Appendix A.5' in resolved.sources[field] and 'roymiles/ITRD' in resolved.sources[field]


def test_table7_kd_is_dists_kd_t4_recipe():
  """Seed 002 Table 7's KD = hunto/DIST_KD README "KD (T=4)", trained with hunto/image_classification_sota
  configs/strategies/distill/resnet_kdt4.yaml (kd kdt4, ori 0.9, kd 1.0, 8 x 32 images, lr 0.1, step 30)."""
  cells = cells_where('seed002_table7', 'kd')
  assert len(cells) == 4
  for cell, resolved in cells:
    c = resolved.config
    assert cell.recipe == 'dist_imagenet'
    assert (c.logit.temperature, c.ce_weight, c.logit.weight, c.batch_size, c.lr, c.epochs,
            tuple(c.lr_decay_epochs), c.weight_decay, c.momentum) == (
                4.0, 0.9, 1.0, 256, 0.1, 100, (30, 60, 90), 1e-4, 0.9), cell.cell
    for field in ('logit.temperature', 'ce_weight', 'logit.weight', 'batch_size', 'lr'):
      assert 'resnet_kdt4.yaml' in resolved.sources[field], field
    # DIST's codebase's optimizer: Nesterov SGD, no decay on biases and BN (lib/utils/optim.py).
    assert (c.nesterov, c.weight_decay_mask) == (True, 'no_bias_norm'), cell.cell
    assert 'Nesterov' in resolved.sources['nesterov'] and 'optim.py' in resolved.sources['nesterov']
  # Not mdistiller's ImageNet KD (T 1, CE 0.5, KD 0.5), which seed 001 Table 3's KD keeps.
  c = common.resolve(published.lookup('imagenet', 'resnet34-resnet18-kd')).config
  assert (c.logit.temperature, c.ce_weight, c.logit.weight) == (1.0, 0.5, 0.5)


def test_table5_kd_number_names_its_source():
  """70.66 is the CRD paper's ImageNet KD (top-1 error 29.34), not mdistiller's 71.03."""
  cell = published.lookup('seed002_table5', 'resnet34-resnet18-kd')
  assert cell.top1 == 70.66 and round(100 - 29.34, 2) == cell.top1
  assert 'CRD paper' in cell.note and '29.34' in cell.note and '71.03' in cell.note
  assert published.lookup('imagenet', 'resnet34-resnet18-kd').top1 == 71.03


def test_printed_teacher_and_student_rows():
  """Seed 001 Table 3, seed 002 Table 7 and seed 000 Table 2 print their models' own accuracies."""
  imagenet = RESULTS_MD[RESULTS_MD.index('## ImageNet'):RESULTS_MD.index('## Baselines')]
  expected = {('imagenet', MODEL.get(m, 'resnet50' if m == 'ResNet50' else m)): float(v)
              for m, v in re.findall(rf'(\w+) \(({NUM})\)', imagenet)}
  table7 = RESULTS_MD[RESULTS_MD.index('Seed 002 Table 7'):]
  expected.update({('seed002_table7', m.lower().replace('-', '')): float(v)
                   for m, v in re.findall(rf'(ResNet-\d+) \(({NUM})\)', table7)})
  swapped = re.search(rf'from-scratch accuracies ({NUM}) / ({NUM})', RESULTS_MD).groups()
  expected.update({('seed000_table2', 'resnet32'): float(swapped[0]),
                   ('seed000_table2', 'resnet8x4'): float(swapped[1])})
  # The Table 7 student: DIST's README table (results.md does not give it).
  expected[('seed002_table7', 'resnet18')] = 69.76
  got = {(c.table, c.student): c.top1 for c in published.all_cells()
         if c.method == 'ce' and c.table != 'baselines'}
  assert got == expected and len(got) == 11
  assert 'hunto/DIST_KD README' in published.lookup('seed002_table7', 'resnet18-ce').note
  assert published.lookup('seed002_table7', 'resnet152-ce').column == 'Teacher'
  # The CIFAR from-scratch numbers' own tables: ShuffleV1's 70.50 is seed 002 Table 3's.
  assert published.lookup('baselines', 'ShuffleV1-ce').source.startswith(published.SEED002)
  assert 'Table 3' in published.lookup('baselines', 'ShuffleV1-ce').source


def test_seed002_dkd_rows_include_the_shufflev1_pairs():
  dkd = {(c.teacher, c.student): c.top1 for c in published.all_cells()
         if c.table in ('seed002_table1', 'seed002_table3') and c.method == 'dkd'}
  assert dkd[('resnet32x4', 'ShuffleV1')] == 76.45 and dkd[('wrn_40_2', 'ShuffleV1')] == 76.70
  assert ('resnet110', 'resnet20') not in dkd and ('ResNet50', 'vgg8') not in dkd  # n/a
  assert len(dkd) == 11


def test_statistic_of_every_table_and_crd_paper_cells():
  """Every table states its statistic; the CRD paper's numbers (seed 002's FitNet ... CRD and KD
  rows, and their copies) are compared at the last epoch, the rest at the best."""
  assert set(published.TABLE_STATISTICS) == set(published.table_names())
  crd_rows = {'fitnet', 'at', 'vid', 'rkd', 'pkt', 'crd', 'kd'}
  for number in (1, 3):
    for cell in published.cells_of(f'seed002_table{number}'):
      assert cell.statistic == ('last' if cell.method in crd_rows else 'best'), cell.cell
  assert all(c.statistic == 'best' for c in published.cells_of('seed002_table2'))
  assert published.lookup('seed001_table2', 'resnet32x4-resnet8x4-crd').statistic == 'last'
  assert published.lookup('seed001_table2', 'resnet32x4-resnet8x4-kd_ls').statistic == 'best'
  # seed 001's vgg13 -> MobileNetV2 FitNet (64.16) is not the CRD paper's 64.14.
  assert published.lookup('seed001_table1', 'vgg13-MobileNetV2-fitnet').statistic == 'best'
  assert 'Published statistic: best epoch' in _config_module('seed002_table2').__doc__


def test_ctkd_ls_range_is_marked_an_inference_and_catkd_nearest_configs():
  _, source = setting('seed001_table1', 'resnet32x4-ShuffleV2-ctkd_ls', 'ctkd.t_range')
  assert source.startswith('inferred from') and '>= ~39' in source
  # CAT-KD pairs without a released config take the nearest released pair's, marked default.
  expected = {('resnet32x4', 'wrn_16_2'): (15.0, 2, False, 'res32x4_res8x4.yaml'),
              ('resnet32x4', 'wrn_40_2'): (15.0, 2, False, 'res32x4_res8x4.yaml'),
              ('wrn_40_2', 'resnet8x4'): (12.0, 2, False, 'wrn_40_2_wrn_16_2.yaml'),
              ('wrn_40_2', 'MobileNetV2'): (15.0, 2, True, 'vgg13_mv2.yaml'),
              ('resnet110', 'resnet20'): (1.8, 2, False, 'res110_res32.yaml')}
  for cell, resolved in cells_where('seed001_table', 'catkd'):
    pair = (cell.teacher, cell.student)
    if pair not in expected:
      assert 'nearest' not in resolved.sources['feature.weight'], pair
      continue
    weight, resolution, normalize, file = expected[pair]
    c = resolved.config
    assert (c.feature.weight, c.catkd.resolution, c.catkd.normalize) == (weight, resolution, normalize)
    source = resolved.sources['catkd.normalize']
    assert source.startswith('default: no CAT-KD config') and file in source
    assert 'IF_NORMALIZE False' in source  # what the released same-architecture configs set
