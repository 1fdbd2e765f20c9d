r"""Seed 001 Table 2: logit methods with and without LS, identical architectures.
Published statistic: best epoch, mean of 4 runs (seed 001 Sec. 5); the KD and baseline cells equal
to the CRD paper's numbers are last-epoch (marked per cell).

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed001_table2.py:resnet32x4-resnet8x4-kd \
      --workdir=/tmp/seed001_table2/resnet32x4-resnet8x4-kd

The whole table (4 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed001_table2 --workdir=/tmp/seed001_table2
  python -m experiments.sweep --table=seed001_table2 --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | epoch | settings |
|---|---|---|---|---|---|
| resnet32x4-resnet8x4-kd | resnet32x4 -> resnet8x4 | KD | 73.33 | last | published |
| resnet32x4-resnet8x4-kd_ls | resnet32x4 -> resnet8x4 | KD+LS | 76.62 | best | published |
| resnet32x4-resnet8x4-ctkd | resnet32x4 -> resnet8x4 | CTKD | 73.39 | best | published |
| resnet32x4-resnet8x4-ctkd_ls | resnet32x4 -> resnet8x4 | CTKD+LS | 76.67 | best | published |
| resnet32x4-resnet8x4-dkd | resnet32x4 -> resnet8x4 | DKD | 76.32 | best | published |
| resnet32x4-resnet8x4-dkd_ls | resnet32x4 -> resnet8x4 | DKD+LS | 77.01 | best | published |
| resnet32x4-resnet8x4-mlkd | resnet32x4 -> resnet8x4 | MLKD | 77.08 | best | published [1] |
| resnet32x4-resnet8x4-mlkd_ls | resnet32x4 -> resnet8x4 | MLKD+LS | 78.28 | best | published [1] |
| vgg13-vgg8-kd | vgg13 -> vgg8 | KD | 72.98 | last | published |
| vgg13-vgg8-kd_ls | vgg13 -> vgg8 | KD+LS | 74.36 | best | published |
| vgg13-vgg8-ctkd | vgg13 -> vgg8 | CTKD | 73.52 | best | published |
| vgg13-vgg8-ctkd_ls | vgg13 -> vgg8 | CTKD+LS | 74.47 | best | published |
| vgg13-vgg8-dkd | vgg13 -> vgg8 | DKD | 74.68 | best | published |
| vgg13-vgg8-dkd_ls | vgg13 -> vgg8 | DKD+LS | 74.81 | best | published |
| vgg13-vgg8-mlkd | vgg13 -> vgg8 | MLKD | 75.18 | best | published [1] |
| vgg13-vgg8-mlkd_ls | vgg13 -> vgg8 | MLKD+LS | 75.22 | best | published [1] |
| wrn_40_2-wrn_40_1-kd | wrn_40_2 -> wrn_40_1 | KD | 73.54 | last | published |
| wrn_40_2-wrn_40_1-kd_ls | wrn_40_2 -> wrn_40_1 | KD+LS | 74.37 | best | published |
| wrn_40_2-wrn_40_1-ctkd | wrn_40_2 -> wrn_40_1 | CTKD | 73.93 | best | published |
| wrn_40_2-wrn_40_1-ctkd_ls | wrn_40_2 -> wrn_40_1 | CTKD+LS | 74.58 | best | published |
| wrn_40_2-wrn_40_1-dkd | wrn_40_2 -> wrn_40_1 | DKD | 74.81 | best | published |
| wrn_40_2-wrn_40_1-dkd_ls | wrn_40_2 -> wrn_40_1 | DKD+LS | 74.89 | best | published |
| wrn_40_2-wrn_40_1-mlkd | wrn_40_2 -> wrn_40_1 | MLKD | 75.35 | best | published [1] |
| wrn_40_2-wrn_40_1-mlkd_ls | wrn_40_2 -> wrn_40_1 | MLKD+LS | 75.56 | best | published [1] |
| wrn_40_2-wrn_16_2-kd | wrn_40_2 -> wrn_16_2 | KD | 74.92 | last | published |
| wrn_40_2-wrn_16_2-kd_ls | wrn_40_2 -> wrn_16_2 | KD+LS | 76.11 | best | published |
| wrn_40_2-wrn_16_2-ctkd | wrn_40_2 -> wrn_16_2 | CTKD | 75.45 | best | published |
| wrn_40_2-wrn_16_2-ctkd_ls | wrn_40_2 -> wrn_16_2 | CTKD+LS | 76.08 | best | published |
| wrn_40_2-wrn_16_2-dkd | wrn_40_2 -> wrn_16_2 | DKD | 76.24 | best | published |
| wrn_40_2-wrn_16_2-dkd_ls | wrn_40_2 -> wrn_16_2 | DKD+LS | 76.39 | best | published |
| wrn_40_2-wrn_16_2-mlkd | wrn_40_2 -> wrn_16_2 | MLKD | 76.63 | best | published [1] |
| wrn_40_2-wrn_16_2-mlkd_ls | wrn_40_2 -> wrn_16_2 | MLKD+LS | 76.95 | best | published [1] |
| resnet56-resnet20-kd | resnet56 -> resnet20 | KD | 70.66 | last | published |
| resnet56-resnet20-kd_ls | resnet56 -> resnet20 | KD+LS | 71.43 | best | published |
| resnet56-resnet20-ctkd | resnet56 -> resnet20 | CTKD | 71.19 | best | published |
| resnet56-resnet20-ctkd_ls | resnet56 -> resnet20 | CTKD+LS | 71.34 | best | published |
| resnet56-resnet20-dkd | resnet56 -> resnet20 | DKD | 71.97 | best | published |
| resnet56-resnet20-dkd_ls | resnet56 -> resnet20 | DKD+LS | 72.32 | best | published |
| resnet56-resnet20-mlkd | resnet56 -> resnet20 | MLKD | 72.19 | best | published [1] |
| resnet56-resnet20-mlkd_ls | resnet56 -> resnet20 | MLKD+LS | 72.33 | best | published [1] |
| resnet110-resnet32-kd | resnet110 -> resnet32 | KD | 73.08 | last | published |
| resnet110-resnet32-kd_ls | resnet110 -> resnet32 | KD+LS | 74.17 | best | published |
| resnet110-resnet32-ctkd | resnet110 -> resnet32 | CTKD | 73.52 | best | published |
| resnet110-resnet32-ctkd_ls | resnet110 -> resnet32 | CTKD+LS | 74.01 | best | published |
| resnet110-resnet32-dkd | resnet110 -> resnet32 | DKD | 74.11 | best | published |
| resnet110-resnet32-dkd_ls | resnet110 -> resnet32 | DKD+LS | 74.29 | best | published |
| resnet110-resnet32-mlkd | resnet110 -> resnet32 | MLKD | 74.11 | best | published [1] |
| resnet110-resnet32-mlkd_ls | resnet110 -> resnet32 | MLKD+LS | 74.32 | best | published [1] |
| resnet110-resnet20-kd | resnet110 -> resnet20 | KD | 70.67 | last | published |
| resnet110-resnet20-kd_ls | resnet110 -> resnet20 | KD+LS | 71.48 | best | published |
| resnet110-resnet20-ctkd | resnet110 -> resnet20 | CTKD | 70.99 | best | published |
| resnet110-resnet20-ctkd_ls | resnet110 -> resnet20 | CTKD+LS | 71.39 | best | published |
| resnet110-resnet20-dkd | resnet110 -> resnet20 | DKD | 71.06 | best | published |
| resnet110-resnet20-dkd_ls | resnet110 -> resnet20 | DKD+LS | 71.85 | best | published |
| resnet110-resnet20-mlkd | resnet110 -> resnet20 | MLKD | 71.89 | best | published [1] |
| resnet110-resnet20-mlkd_ls | resnet110 -> resnet20 | MLKD+LS | 72.27 | best | published [1] |
| resnet32x4-resnet8x4-fitnet | resnet32x4 -> resnet8x4 | FitNet | 73.50 | last | published [2] |
| vgg13-vgg8-fitnet | vgg13 -> vgg8 | FitNet | 71.02 | last | published [2] |
| wrn_40_2-wrn_40_1-fitnet | wrn_40_2 -> wrn_40_1 | FitNet | 72.24 | last | published [2] |
| wrn_40_2-wrn_16_2-fitnet | wrn_40_2 -> wrn_16_2 | FitNet | 73.58 | last | published [2] |
| resnet56-resnet20-fitnet | resnet56 -> resnet20 | FitNet | 69.21 | last | published [2] |
| resnet110-resnet32-fitnet | resnet110 -> resnet32 | FitNet | 71.06 | last | published [2] |
| resnet110-resnet20-fitnet | resnet110 -> resnet20 | FitNet | 68.99 | last | published [2] |
| resnet32x4-resnet8x4-at | resnet32x4 -> resnet8x4 | AT | 73.44 | last | published [2] |
| vgg13-vgg8-at | vgg13 -> vgg8 | AT | 71.43 | last | published [2] |
| wrn_40_2-wrn_40_1-at | wrn_40_2 -> wrn_40_1 | AT | 72.77 | last | published [2] |
| wrn_40_2-wrn_16_2-at | wrn_40_2 -> wrn_16_2 | AT | 74.08 | last | published [2] |
| resnet56-resnet20-at | resnet56 -> resnet20 | AT | 70.55 | last | published [2] |
| resnet110-resnet32-at | resnet110 -> resnet32 | AT | 72.31 | last | published [2] |
| resnet110-resnet20-at | resnet110 -> resnet20 | AT | 70.65 | best | published [2] |
| resnet32x4-resnet8x4-rkd | resnet32x4 -> resnet8x4 | RKD | 71.90 | last | published [2] |
| vgg13-vgg8-rkd | vgg13 -> vgg8 | RKD | 71.48 | last | published [2] |
| wrn_40_2-wrn_40_1-rkd | wrn_40_2 -> wrn_40_1 | RKD | 72.22 | last | published [2] |
| wrn_40_2-wrn_16_2-rkd | wrn_40_2 -> wrn_16_2 | RKD | 73.35 | last | published [2] |
| resnet56-resnet20-rkd | resnet56 -> resnet20 | RKD | 69.61 | last | published [2] |
| resnet110-resnet32-rkd | resnet110 -> resnet32 | RKD | 71.82 | last | published [2] |
| resnet110-resnet20-rkd | resnet110 -> resnet20 | RKD | 69.25 | last | published [2] |
| resnet32x4-resnet8x4-crd | resnet32x4 -> resnet8x4 | CRD | 75.51 | last | published [2] |
| vgg13-vgg8-crd | vgg13 -> vgg8 | CRD | 73.94 | last | published [2] |
| wrn_40_2-wrn_40_1-crd | wrn_40_2 -> wrn_40_1 | CRD | 74.14 | last | published [2] |
| wrn_40_2-wrn_16_2-crd | wrn_40_2 -> wrn_16_2 | CRD | 75.48 | last | published [2] |
| resnet56-resnet20-crd | resnet56 -> resnet20 | CRD | 71.16 | last | published [2] |
| resnet110-resnet32-crd | resnet110 -> resnet32 | CRD | 73.48 | last | published [2] |
| resnet110-resnet20-crd | resnet110 -> resnet20 | CRD | 71.46 | last | published [2] |
| resnet32x4-resnet8x4-ofd | resnet32x4 -> resnet8x4 | OFD | 74.95 | best | published [2] |
| vgg13-vgg8-ofd | vgg13 -> vgg8 | OFD | 73.95 | best | published [2] |
| wrn_40_2-wrn_40_1-ofd | wrn_40_2 -> wrn_40_1 | OFD | 74.33 | best | published [2] |
| wrn_40_2-wrn_16_2-ofd | wrn_40_2 -> wrn_16_2 | OFD | 75.24 | best | published [2] |
| resnet56-resnet20-ofd | resnet56 -> resnet20 | OFD | 70.98 | best | published [2] |
| resnet110-resnet32-ofd | resnet110 -> resnet32 | OFD | 73.23 | best | published [2] |
| resnet110-resnet20-ofd | resnet110 -> resnet20 | OFD | 71.29 | best | published [2] |
| resnet32x4-resnet8x4-reviewkd | resnet32x4 -> resnet8x4 | ReviewKD | 75.63 | best | published [2] |
| vgg13-vgg8-reviewkd | vgg13 -> vgg8 | ReviewKD | 74.84 | best | defaults [2] |
| wrn_40_2-wrn_40_1-reviewkd | wrn_40_2 -> wrn_40_1 | ReviewKD | 75.09 | best | published [2] |
| wrn_40_2-wrn_16_2-reviewkd | wrn_40_2 -> wrn_16_2 | ReviewKD | 76.12 | best | published [2] |
| resnet56-resnet20-reviewkd | resnet56 -> resnet20 | ReviewKD | 71.89 | best | published [2] |
| resnet110-resnet32-reviewkd | resnet110 -> resnet32 | ReviewKD | 73.89 | best | published [2] |
| resnet110-resnet20-reviewkd | resnet110 -> resnet20 | ReviewKD | 71.34 | best | defaults [2] |
| resnet32x4-resnet8x4-simkd | resnet32x4 -> resnet8x4 | SimKD | 78.08 | best | published [2] |
| vgg13-vgg8-simkd | vgg13 -> vgg8 | SimKD | 74.89 | best | published [2] |
| wrn_40_2-wrn_40_1-simkd | wrn_40_2 -> wrn_40_1 | SimKD | 74.53 | best | published [2] |
| wrn_40_2-wrn_16_2-simkd | wrn_40_2 -> wrn_16_2 | SimKD | 75.53 | best | published [2] |
| resnet56-resnet20-simkd | resnet56 -> resnet20 | SimKD | 71.05 | best | published [2] |
| resnet110-resnet32-simkd | resnet110 -> resnet32 | SimKD | 73.92 | best | published [2] |
| resnet110-resnet20-simkd | resnet110 -> resnet20 | SimKD | 71.06 | best | published [2] |
| resnet32x4-resnet8x4-catkd | resnet32x4 -> resnet8x4 | CAT-KD | 76.91 | best | published [2] |
| vgg13-vgg8-catkd | vgg13 -> vgg8 | CAT-KD | 74.65 | best | published [2] |
| wrn_40_2-wrn_40_1-catkd | wrn_40_2 -> wrn_40_1 | CAT-KD | 74.82 | best | published [2] |
| wrn_40_2-wrn_16_2-catkd | wrn_40_2 -> wrn_16_2 | CAT-KD | 75.60 | best | published [2] |
| resnet56-resnet20-catkd | resnet56 -> resnet20 | CAT-KD | 71.62 | best | published [2] |
| resnet110-resnet32-catkd | resnet110 -> resnet32 | CAT-KD | 73.62 | best | published [2] |
| resnet110-resnet20-catkd | resnet110 -> resnet20 | CAT-KD | 71.37 | best | defaults [2] |

[1] MLKD columns of seed 001 use 480-epoch training (960 for ShuffleV1/V2 students) with the strong
    view
[2] a baseline row of the paper, copied there from its own codebase's publication; the settings are
    that codebase's
"""

from experiments.configs import common

TABLE = 'seed001_table2'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
