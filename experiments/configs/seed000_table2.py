r"""Seed 000 Table 2: max-logit temperature and re-run baselines, same-family pairs.
Seed 000: one run per cell; it trained its own teachers and students.
Published statistic: best epoch, one run per cell.

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed000_table2.py:wrn_40_2-wrn_16_2-kd_ls \
      --workdir=/tmp/seed000_table2/wrn_40_2-wrn_16_2-kd_ls

The whole table (1 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed000_table2 --workdir=/tmp/seed000_table2
  python -m experiments.sweep --table=seed000_table2 --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | epoch | settings |
|---|---|---|---|---|---|
| wrn_40_2-wrn_16_2-kd_ls | wrn_40_2 -> wrn_16_2 | zKD | 75.90 | best | published |
| wrn_40_2-wrn_16_2-ctkd_ls | wrn_40_2 -> wrn_16_2 | zCTKD | 76.28 | best | published |
| wrn_40_2-wrn_16_2-kd_maxlogit | wrn_40_2 -> wrn_16_2 | zKD+Ours | 76.03 | best | published |
| wrn_40_2-wrn_16_2-dkd_ls | wrn_40_2 -> wrn_16_2 | zDKD | 75.17 | best | published |
| wrn_40_2-wrn_16_2-dkd_maxlogit | wrn_40_2 -> wrn_16_2 | zDKD+Ours | 75.66 | best | published |
| wrn_40_2-wrn_16_2-ttm | wrn_40_2 -> wrn_16_2 | TTM | 76.25 | best | published |
| wrn_40_2-wrn_16_2-wttm | wrn_40_2 -> wrn_16_2 | WTTM | 75.62 | best | published |
| wrn_40_2-wrn_40_1-kd_ls | wrn_40_2 -> wrn_40_1 | zKD | 74.68 | best | published |
| wrn_40_2-wrn_40_1-ctkd_ls | wrn_40_2 -> wrn_40_1 | zCTKD | 74.45 | best | published |
| wrn_40_2-wrn_40_1-kd_maxlogit | wrn_40_2 -> wrn_40_1 | zKD+Ours | 74.45 | best | published |
| wrn_40_2-wrn_40_1-dkd_ls | wrn_40_2 -> wrn_40_1 | zDKD | 74.09 | best | published |
| wrn_40_2-wrn_40_1-dkd_maxlogit | wrn_40_2 -> wrn_40_1 | zDKD+Ours | 74.85 | best | published |
| wrn_40_2-wrn_40_1-ttm | wrn_40_2 -> wrn_40_1 | TTM | 74.00 | best | published |
| wrn_40_2-wrn_40_1-wttm | wrn_40_2 -> wrn_40_1 | WTTM | 73.63 | best | published |
| resnet56-resnet20-kd_ls | resnet56 -> resnet20 | zKD | 71.06 | best | published |
| resnet56-resnet20-ctkd_ls | resnet56 -> resnet20 | zCTKD | 71.49 | best | published |
| resnet56-resnet20-kd_maxlogit | resnet56 -> resnet20 | zKD+Ours | 70.87 | best | published |
| resnet56-resnet20-dkd_ls | resnet56 -> resnet20 | zDKD | 70.45 | best | published |
| resnet56-resnet20-dkd_maxlogit | resnet56 -> resnet20 | zDKD+Ours | 71.90 | best | published |
| resnet56-resnet20-ttm | resnet56 -> resnet20 | TTM | 71.38 | best | published |
| resnet56-resnet20-wttm | resnet56 -> resnet20 | WTTM | 71.62 | best | published |
| resnet110-resnet20-kd_ls | resnet110 -> resnet20 | zKD | 71.09 | best | published |
| resnet110-resnet20-ctkd_ls | resnet110 -> resnet20 | zCTKD | 71.83 | best | published |
| resnet110-resnet20-kd_maxlogit | resnet110 -> resnet20 | zKD+Ours | 70.57 | best | published |
| resnet110-resnet20-dkd_ls | resnet110 -> resnet20 | zDKD | 70.79 | best | published |
| resnet110-resnet20-dkd_maxlogit | resnet110 -> resnet20 | zDKD+Ours | 71.22 | best | published |
| resnet110-resnet20-ttm | resnet110 -> resnet20 | TTM | 71.06 | best | published |
| resnet110-resnet20-wttm | resnet110 -> resnet20 | WTTM | 71.25 | best | published |
| resnet110-resnet32-kd_ls | resnet110 -> resnet32 | zKD | 73.52 | best | published [1] |
| resnet110-resnet32-ctkd_ls | resnet110 -> resnet32 | zCTKD | 73.87 | best | published [1] |
| resnet110-resnet32-kd_maxlogit | resnet110 -> resnet32 | zKD+Ours | 73.17 | best | published [1] |
| resnet110-resnet32-dkd_ls | resnet110 -> resnet32 | zDKD | 72.76 | best | published [1] |
| resnet110-resnet32-dkd_maxlogit | resnet110 -> resnet32 | zDKD+Ours | 73.24 | best | published [1] |
| resnet110-resnet32-ttm | resnet110 -> resnet32 | TTM | 73.53 | best | published [1] |
| resnet110-resnet32-wttm | resnet110 -> resnet32 | WTTM | 73.81 | best | published [1] |
| resnet32x4-resnet8x4-kd_ls | resnet32x4 -> resnet8x4 | zKD | 76.24 | best | published [2] |
| resnet32x4-resnet8x4-ctkd_ls | resnet32x4 -> resnet8x4 | zCTKD | 76.27 | best | published [2] |
| resnet32x4-resnet8x4-kd_maxlogit | resnet32x4 -> resnet8x4 | zKD+Ours | 76.11 | best | published [2] |
| resnet32x4-resnet8x4-dkd_ls | resnet32x4 -> resnet8x4 | zDKD | 75.28 | best | published [2] |
| resnet32x4-resnet8x4-dkd_maxlogit | resnet32x4 -> resnet8x4 | zDKD+Ours | 76.94 | best | published [2] |
| resnet32x4-resnet8x4-ttm | resnet32x4 -> resnet8x4 | TTM | 75.81 | best | published [2] |
| resnet32x4-resnet8x4-wttm | resnet32x4 -> resnet8x4 | WTTM | 74.80 | best | published [2] |
| vgg13-vgg8-kd_ls | vgg13 -> vgg8 | zKD | 74.135 | best | published |
| vgg13-vgg8-ctkd_ls | vgg13 -> vgg8 | zCTKD | 73.99 | best | published |
| vgg13-vgg8-kd_maxlogit | vgg13 -> vgg8 | zKD+Ours | 74.54 | best | published |
| vgg13-vgg8-dkd_ls | vgg13 -> vgg8 | zDKD | 73.89 | best | published |
| vgg13-vgg8-dkd_maxlogit | vgg13 -> vgg8 | zDKD+Ours | 75.12 | best | published |
| vgg13-vgg8-ttm | vgg13 -> vgg8 | TTM | 74.37 | best | published |
| vgg13-vgg8-wttm | vgg13 -> vgg8 | WTTM | 73.50 | best | published |
| wrn_40_2-wrn_16_2-fitnet | wrn_40_2 -> wrn_16_2 | FitNet | 73.70 | best | defaults |
| wrn_40_2-wrn_40_1-fitnet | wrn_40_2 -> wrn_40_1 | FitNet | 71.95 | best | defaults |
| resnet56-resnet20-fitnet | resnet56 -> resnet20 | FitNet | 69.22 | best | defaults |
| resnet110-resnet20-fitnet | resnet110 -> resnet20 | FitNet | 68.85 | best | defaults |
| resnet110-resnet32-fitnet | resnet110 -> resnet32 | FitNet | 70.94 | best | defaults [1] |
| resnet32x4-resnet8x4-fitnet | resnet32x4 -> resnet8x4 | FitNet | 73.62 | best | defaults [2] |
| vgg13-vgg8-fitnet | vgg13 -> vgg8 | FitNet | 71.26 | best | defaults |
| wrn_40_2-wrn_16_2-at | wrn_40_2 -> wrn_16_2 | AT | 74.57 | best | defaults |
| wrn_40_2-wrn_40_1-at | wrn_40_2 -> wrn_40_1 | AT | 72.78 | best | defaults |
| resnet56-resnet20-at | resnet56 -> resnet20 | AT | 70.45 | best | defaults |
| resnet110-resnet20-at | resnet110 -> resnet20 | AT | 69.90 | best | defaults |
| resnet110-resnet32-at | resnet110 -> resnet32 | AT | 72.44 | best | defaults [1] |
| resnet32x4-resnet8x4-at | resnet32x4 -> resnet8x4 | AT | 73.89 | best | defaults [2] |
| vgg13-vgg8-at | vgg13 -> vgg8 | AT | 71.49 | best | defaults |
| wrn_40_2-wrn_16_2-rkd | wrn_40_2 -> wrn_16_2 | RKD | 73.64 | best | defaults |
| wrn_40_2-wrn_40_1-rkd | wrn_40_2 -> wrn_40_1 | RKD | 71.66 | best | defaults |
| resnet56-resnet20-rkd | resnet56 -> resnet20 | RKD | 70.16 | best | defaults |
| resnet110-resnet20-rkd | resnet110 -> resnet20 | RKD | 69.97 | best | defaults |
| resnet110-resnet32-rkd | resnet110 -> resnet32 | RKD | 71.96 | best | defaults [1] |
| resnet32x4-resnet8x4-rkd | resnet32x4 -> resnet8x4 | RKD | 72.24 | best | defaults [2] |
| vgg13-vgg8-rkd | vgg13 -> vgg8 | RKD | 71.62 | best | defaults |
| wrn_40_2-wrn_16_2-crd | wrn_40_2 -> wrn_16_2 | CRD | 75.70 | best | defaults |
| wrn_40_2-wrn_40_1-crd | wrn_40_2 -> wrn_40_1 | CRD | 74.10 | best | defaults |
| resnet56-resnet20-crd | resnet56 -> resnet20 | CRD | 71.43 | best | defaults |
| resnet110-resnet20-crd | resnet110 -> resnet20 | CRD | 71.41 | best | defaults |
| resnet110-resnet32-crd | resnet110 -> resnet32 | CRD | 73.98 | best | defaults [1] |
| resnet32x4-resnet8x4-crd | resnet32x4 -> resnet8x4 | CRD | 75.60 | best | defaults [2] |
| vgg13-vgg8-crd | vgg13 -> vgg8 | CRD | 73.49 | best | defaults |
| wrn_40_2-wrn_16_2-reviewkd | wrn_40_2 -> wrn_16_2 | ReviewKD | 73.70 | best | defaults |
| wrn_40_2-wrn_40_1-reviewkd | wrn_40_2 -> wrn_40_1 | ReviewKD | 72.25 | best | defaults |
| resnet56-resnet20-reviewkd | resnet56 -> resnet20 | ReviewKD | 68.58 | best | defaults |
| resnet110-resnet20-reviewkd | resnet110 -> resnet20 | ReviewKD | 68.94 | best | defaults |
| resnet110-resnet32-reviewkd | resnet110 -> resnet32 | ReviewKD | 71.34 | best | defaults [1] |
| resnet32x4-resnet8x4-reviewkd | resnet32x4 -> resnet8x4 | ReviewKD | 73.20 | best | defaults [2] |
| vgg13-vgg8-reviewkd | vgg13 -> vgg8 | ReviewKD | 72.52 | best | defaults |
| wrn_40_2-wrn_16_2-simkd | wrn_40_2 -> wrn_16_2 | SimKD | 73.24 | best | defaults |
| wrn_40_2-wrn_40_1-simkd | wrn_40_2 -> wrn_40_1 | SimKD | 72.42 | best | defaults |
| resnet56-resnet20-simkd | resnet56 -> resnet20 | SimKD | 67.27 | best | defaults |
| resnet110-resnet20-simkd | resnet110 -> resnet20 | SimKD | 68.04 | best | defaults |
| resnet110-resnet32-simkd | resnet110 -> resnet32 | SimKD | 70.81 | best | defaults [1] |
| resnet32x4-resnet8x4-simkd | resnet32x4 -> resnet8x4 | SimKD | 74.55 | best | defaults [2] |
| vgg13-vgg8-simkd | vgg13 -> vgg8 | SimKD | 73.70 | best | defaults |
| wrn_40_2-wrn_16_2-catkd | wrn_40_2 -> wrn_16_2 | CAT-KD | 73.10 | best | defaults |
| wrn_40_2-wrn_40_1-catkd | wrn_40_2 -> wrn_40_1 | CAT-KD | 71.68 | best | defaults |
| resnet56-resnet20-catkd | resnet56 -> resnet20 | CAT-KD | 69.95 | best | defaults |
| resnet110-resnet20-catkd | resnet110 -> resnet20 | CAT-KD | 69.55 | best | defaults |
| resnet110-resnet32-catkd | resnet110 -> resnet32 | CAT-KD | 71.39 | best | defaults [1] |
| resnet32x4-resnet8x4-catkd | resnet32x4 -> resnet8x4 | CAT-KD | 72.72 | best | defaults [2] |
| vgg13-vgg8-catkd | vgg13 -> vgg8 | CAT-KD | 70.86 | best | defaults |
| resnet32-ce | resnet32 | Student | 71.69 | best | published [1] |
| resnet8x4-ce | resnet8x4 | Student | 72.42 | best | published [2] |

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
