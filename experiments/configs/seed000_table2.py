r"""Seed 000 Table 2: max-logit temperature and re-run baselines, same-family pairs.
Seed 000: one run per cell; it trained its own teachers and students.

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed000_table2.py:wrn_40_2-wrn_16_2-kd_ls \
      --workdir=/tmp/seed000_table2/wrn_40_2-wrn_16_2-kd_ls

The whole table (1 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed000_table2 --workdir=/tmp/seed000_table2
  python -m experiments.sweep --table=seed000_table2 --show

settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | settings |
|---|---|---|---|---|
| wrn_40_2-wrn_16_2-kd_ls | wrn_40_2 -> wrn_16_2 | zKD | 75.90 | published |
| wrn_40_2-wrn_16_2-ctkd_ls | wrn_40_2 -> wrn_16_2 | zCTKD | 76.28 | published |
| wrn_40_2-wrn_16_2-kd_maxlogit | wrn_40_2 -> wrn_16_2 | zKD+Ours | 76.03 | published |
| wrn_40_2-wrn_16_2-dkd_ls | wrn_40_2 -> wrn_16_2 | zDKD | 75.17 | published |
| wrn_40_2-wrn_16_2-dkd_maxlogit | wrn_40_2 -> wrn_16_2 | zDKD+Ours | 75.66 | published |
| wrn_40_2-wrn_16_2-ttm | wrn_40_2 -> wrn_16_2 | TTM | 76.25 | published |
| wrn_40_2-wrn_16_2-wttm | wrn_40_2 -> wrn_16_2 | WTTM | 75.62 | published |
| wrn_40_2-wrn_40_1-kd_ls | wrn_40_2 -> wrn_40_1 | zKD | 74.68 | published |
| wrn_40_2-wrn_40_1-ctkd_ls | wrn_40_2 -> wrn_40_1 | zCTKD | 74.45 | published |
| wrn_40_2-wrn_40_1-kd_maxlogit | wrn_40_2 -> wrn_40_1 | zKD+Ours | 74.45 | published |
| wrn_40_2-wrn_40_1-dkd_ls | wrn_40_2 -> wrn_40_1 | zDKD | 74.09 | published |
| wrn_40_2-wrn_40_1-dkd_maxlogit | wrn_40_2 -> wrn_40_1 | zDKD+Ours | 74.85 | published |
| wrn_40_2-wrn_40_1-ttm | wrn_40_2 -> wrn_40_1 | TTM | 74.00 | published |
| wrn_40_2-wrn_40_1-wttm | wrn_40_2 -> wrn_40_1 | WTTM | 73.63 | published |
| resnet56-resnet20-kd_ls | resnet56 -> resnet20 | zKD | 71.06 | published |
| resnet56-resnet20-ctkd_ls | resnet56 -> resnet20 | zCTKD | 71.49 | published |
| resnet56-resnet20-kd_maxlogit | resnet56 -> resnet20 | zKD+Ours | 70.87 | published |
| resnet56-resnet20-dkd_ls | resnet56 -> resnet20 | zDKD | 70.45 | published |
| resnet56-resnet20-dkd_maxlogit | resnet56 -> resnet20 | zDKD+Ours | 71.90 | published |
| resnet56-resnet20-ttm | resnet56 -> resnet20 | TTM | 71.38 | published |
| resnet56-resnet20-wttm | resnet56 -> resnet20 | WTTM | 71.62 | published |
| resnet110-resnet20-kd_ls | resnet110 -> resnet20 | zKD | 71.09 | published |
| resnet110-resnet20-ctkd_ls | resnet110 -> resnet20 | zCTKD | 71.83 | published |
| resnet110-resnet20-kd_maxlogit | resnet110 -> resnet20 | zKD+Ours | 70.57 | published |
| resnet110-resnet20-dkd_ls | resnet110 -> resnet20 | zDKD | 70.79 | published |
| resnet110-resnet20-dkd_maxlogit | resnet110 -> resnet20 | zDKD+Ours | 71.22 | published |
| resnet110-resnet20-ttm | resnet110 -> resnet20 | TTM | 71.06 | published |
| resnet110-resnet20-wttm | resnet110 -> resnet20 | WTTM | 71.25 | published |
| resnet110-resnet32-kd_ls | resnet110 -> resnet32 | zKD | 73.52 | published [1] |
| resnet110-resnet32-ctkd_ls | resnet110 -> resnet32 | zCTKD | 73.87 | published [1] |
| resnet110-resnet32-kd_maxlogit | resnet110 -> resnet32 | zKD+Ours | 73.17 | published [1] |
| resnet110-resnet32-dkd_ls | resnet110 -> resnet32 | zDKD | 72.76 | published [1] |
| resnet110-resnet32-dkd_maxlogit | resnet110 -> resnet32 | zDKD+Ours | 73.24 | published [1] |
| resnet110-resnet32-ttm | resnet110 -> resnet32 | TTM | 73.53 | published [1] |
| resnet110-resnet32-wttm | resnet110 -> resnet32 | WTTM | 73.81 | published [1] |
| resnet32x4-resnet8x4-kd_ls | resnet32x4 -> resnet8x4 | zKD | 76.24 | published [2] |
| resnet32x4-resnet8x4-ctkd_ls | resnet32x4 -> resnet8x4 | zCTKD | 76.27 | published [2] |
| resnet32x4-resnet8x4-kd_maxlogit | resnet32x4 -> resnet8x4 | zKD+Ours | 76.11 | published [2] |
| resnet32x4-resnet8x4-dkd_ls | resnet32x4 -> resnet8x4 | zDKD | 75.28 | published [2] |
| resnet32x4-resnet8x4-dkd_maxlogit | resnet32x4 -> resnet8x4 | zDKD+Ours | 76.94 | published [2] |
| resnet32x4-resnet8x4-ttm | resnet32x4 -> resnet8x4 | TTM | 75.81 | published [2] |
| resnet32x4-resnet8x4-wttm | resnet32x4 -> resnet8x4 | WTTM | 74.80 | published [2] |
| vgg13-vgg8-kd_ls | vgg13 -> vgg8 | zKD | 74.135 | published |
| vgg13-vgg8-ctkd_ls | vgg13 -> vgg8 | zCTKD | 73.99 | published |
| vgg13-vgg8-kd_maxlogit | vgg13 -> vgg8 | zKD+Ours | 74.54 | published |
| vgg13-vgg8-dkd_ls | vgg13 -> vgg8 | zDKD | 73.89 | published |
| vgg13-vgg8-dkd_maxlogit | vgg13 -> vgg8 | zDKD+Ours | 75.12 | published |
| vgg13-vgg8-ttm | vgg13 -> vgg8 | TTM | 74.37 | published |
| vgg13-vgg8-wttm | vgg13 -> vgg8 | WTTM | 73.50 | published |

[1] printed as ResNet110 -> ResNet8x4 in seed 000 Table 2; the student's from-scratch accuracy there
    (71.69) is resnet32's, so the row is resnet32
[2] printed as ResNet32x4 -> ResNet32 in seed 000 Table 2; the student's from-scratch accuracy there
    (72.42) is resnet8x4's, so the row is resnet8x4
"""

from experiments.configs import common

TABLE = 'seed000_table2'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
