r"""Seed 002 Table 1: TTM, WTTM and the baselines, identical architectures.
Published statistic: best epoch, mean of 5 runs; FitNet, AT, VID, RKD, PKT, CRD and KD are the CRD
paper's numbers: last epoch.

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed002_table1.py:resnet32x4-resnet8x4-ttm \
      --workdir=/tmp/seed002_table1/resnet32x4-resnet8x4-ttm

The whole table (5 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed002_table1 --workdir=/tmp/seed002_table1
  python -m experiments.sweep --table=seed002_table1 --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | epoch | settings |
|---|---|---|---|---|---|
| resnet32x4-resnet8x4-ttm | resnet32x4 -> resnet8x4 | TTM | 76.17 | best | published |
| resnet32x4-resnet8x4-wttm | resnet32x4 -> resnet8x4 | WTTM | 76.06 | best | published |
| vgg13-vgg8-ttm | vgg13 -> vgg8 | TTM | 74.33 | best | published |
| vgg13-vgg8-wttm | vgg13 -> vgg8 | WTTM | 74.44 | best | published |
| wrn_40_2-wrn_40_1-ttm | wrn_40_2 -> wrn_40_1 | TTM | 74.32 | best | published |
| wrn_40_2-wrn_40_1-wttm | wrn_40_2 -> wrn_40_1 | WTTM | 74.58 | best | published |
| wrn_40_2-wrn_16_2-ttm | wrn_40_2 -> wrn_16_2 | TTM | 76.23 | best | published |
| wrn_40_2-wrn_16_2-wttm | wrn_40_2 -> wrn_16_2 | WTTM | 76.37 | best | published |
| resnet56-resnet20-ttm | resnet56 -> resnet20 | TTM | 71.83 | best | published |
| resnet56-resnet20-wttm | resnet56 -> resnet20 | WTTM | 71.92 | best | published |
| resnet110-resnet32-ttm | resnet110 -> resnet32 | TTM | 73.97 | best | published |
| resnet110-resnet32-wttm | resnet110 -> resnet32 | WTTM | 74.13 | best | published |
| resnet110-resnet20-ttm | resnet110 -> resnet20 | TTM | 71.46 | best | published |
| resnet110-resnet20-wttm | resnet110 -> resnet20 | WTTM | 71.67 | best | published |
| wrn_40_2-wrn_16_2-fitnet | wrn_40_2 -> wrn_16_2 | FitNet | 73.58 | last | published |
| wrn_40_2-wrn_40_1-fitnet | wrn_40_2 -> wrn_40_1 | FitNet | 72.24 | last | published |
| resnet56-resnet20-fitnet | resnet56 -> resnet20 | FitNet | 69.21 | last | published |
| resnet110-resnet20-fitnet | resnet110 -> resnet20 | FitNet | 68.99 | last | published |
| resnet110-resnet32-fitnet | resnet110 -> resnet32 | FitNet | 71.06 | last | published |
| resnet32x4-resnet8x4-fitnet | resnet32x4 -> resnet8x4 | FitNet | 73.50 | last | published |
| vgg13-vgg8-fitnet | vgg13 -> vgg8 | FitNet | 71.02 | last | published |
| wrn_40_2-wrn_16_2-at | wrn_40_2 -> wrn_16_2 | AT | 74.08 | last | published |
| wrn_40_2-wrn_40_1-at | wrn_40_2 -> wrn_40_1 | AT | 72.77 | last | published |
| resnet56-resnet20-at | resnet56 -> resnet20 | AT | 70.55 | last | published |
| resnet110-resnet20-at | resnet110 -> resnet20 | AT | 70.22 | last | published |
| resnet110-resnet32-at | resnet110 -> resnet32 | AT | 72.31 | last | published |
| resnet32x4-resnet8x4-at | resnet32x4 -> resnet8x4 | AT | 73.44 | last | published |
| vgg13-vgg8-at | vgg13 -> vgg8 | AT | 71.43 | last | published |
| wrn_40_2-wrn_16_2-vid | wrn_40_2 -> wrn_16_2 | VID | 74.11 | last | published |
| wrn_40_2-wrn_40_1-vid | wrn_40_2 -> wrn_40_1 | VID | 73.30 | last | published |
| resnet56-resnet20-vid | resnet56 -> resnet20 | VID | 70.38 | last | published |
| resnet110-resnet20-vid | resnet110 -> resnet20 | VID | 70.16 | last | published |
| resnet110-resnet32-vid | resnet110 -> resnet32 | VID | 72.61 | last | published |
| resnet32x4-resnet8x4-vid | resnet32x4 -> resnet8x4 | VID | 73.09 | last | published |
| vgg13-vgg8-vid | vgg13 -> vgg8 | VID | 71.23 | last | published |
| wrn_40_2-wrn_16_2-rkd | wrn_40_2 -> wrn_16_2 | RKD | 73.35 | last | published |
| wrn_40_2-wrn_40_1-rkd | wrn_40_2 -> wrn_40_1 | RKD | 72.22 | last | published |
| resnet56-resnet20-rkd | resnet56 -> resnet20 | RKD | 69.61 | last | published |
| resnet110-resnet20-rkd | resnet110 -> resnet20 | RKD | 69.25 | last | published |
| resnet110-resnet32-rkd | resnet110 -> resnet32 | RKD | 71.82 | last | published |
| resnet32x4-resnet8x4-rkd | resnet32x4 -> resnet8x4 | RKD | 71.90 | last | published |
| vgg13-vgg8-rkd | vgg13 -> vgg8 | RKD | 71.48 | last | published |
| wrn_40_2-wrn_16_2-pkt | wrn_40_2 -> wrn_16_2 | PKT | 74.54 | last | published |
| wrn_40_2-wrn_40_1-pkt | wrn_40_2 -> wrn_40_1 | PKT | 73.45 | last | published |
| resnet56-resnet20-pkt | resnet56 -> resnet20 | PKT | 70.34 | last | published |
| resnet110-resnet20-pkt | resnet110 -> resnet20 | PKT | 70.25 | last | published |
| resnet110-resnet32-pkt | resnet110 -> resnet32 | PKT | 72.61 | last | published |
| resnet32x4-resnet8x4-pkt | resnet32x4 -> resnet8x4 | PKT | 73.64 | last | published |
| vgg13-vgg8-pkt | vgg13 -> vgg8 | PKT | 72.88 | last | published |
| wrn_40_2-wrn_16_2-crd | wrn_40_2 -> wrn_16_2 | CRD | 75.48 | last | published |
| wrn_40_2-wrn_40_1-crd | wrn_40_2 -> wrn_40_1 | CRD | 74.14 | last | published |
| resnet56-resnet20-crd | resnet56 -> resnet20 | CRD | 71.16 | last | published |
| resnet110-resnet20-crd | resnet110 -> resnet20 | CRD | 71.46 | last | published |
| resnet110-resnet32-crd | resnet110 -> resnet32 | CRD | 73.48 | last | published |
| resnet32x4-resnet8x4-crd | resnet32x4 -> resnet8x4 | CRD | 75.51 | last | published |
| vgg13-vgg8-crd | vgg13 -> vgg8 | CRD | 73.94 | last | published |
| wrn_40_2-wrn_16_2-kd | wrn_40_2 -> wrn_16_2 | KD | 74.92 | last | published |
| wrn_40_2-wrn_40_1-kd | wrn_40_2 -> wrn_40_1 | KD | 73.54 | last | published |
| resnet56-resnet20-kd | resnet56 -> resnet20 | KD | 70.66 | last | published |
| resnet110-resnet20-kd | resnet110 -> resnet20 | KD | 70.67 | last | published |
| resnet110-resnet32-kd | resnet110 -> resnet32 | KD | 73.08 | last | published |
| resnet32x4-resnet8x4-kd | resnet32x4 -> resnet8x4 | KD | 73.33 | last | published |
| vgg13-vgg8-kd | vgg13 -> vgg8 | KD | 72.98 | last | published |
| wrn_40_2-wrn_16_2-dist | wrn_40_2 -> wrn_16_2 | DIST | 75.51 | best | published |
| wrn_40_2-wrn_40_1-dist | wrn_40_2 -> wrn_40_1 | DIST | 74.73 | best | published |
| resnet56-resnet20-dist | resnet56 -> resnet20 | DIST | 71.75 | best | published |
| resnet110-resnet20-dist | resnet110 -> resnet20 | DIST | 71.65 | best | published |
| resnet110-resnet32-dist | resnet110 -> resnet32 | DIST | 73.69 | best | published |
| resnet32x4-resnet8x4-dist | resnet32x4 -> resnet8x4 | DIST | 76.31 | best | published |
| vgg13-vgg8-dist | vgg13 -> vgg8 | DIST | 73.89 | best | published |
| wrn_40_2-wrn_16_2-dkd | wrn_40_2 -> wrn_16_2 | DKD | 76.24 | best | published |
| wrn_40_2-wrn_40_1-dkd | wrn_40_2 -> wrn_40_1 | DKD | 74.81 | best | published |
| resnet56-resnet20-dkd | resnet56 -> resnet20 | DKD | 71.97 | best | published |
| resnet110-resnet32-dkd | resnet110 -> resnet32 | DKD | 74.11 | best | published |
| resnet32x4-resnet8x4-dkd | resnet32x4 -> resnet8x4 | DKD | 76.32 | best | published |
| vgg13-vgg8-dkd | vgg13 -> vgg8 | DKD | 74.68 | best | published |
"""

from experiments.configs import common

TABLE = 'seed002_table1'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
