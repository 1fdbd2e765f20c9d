r"""Seed 001 Table 1: logit methods with and without LS, distinct architectures.
Published statistic: best epoch, mean of 4 runs (seed 001 Sec. 5); the KD and baseline cells equal
to the CRD paper's numbers are last-epoch (marked per cell).

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed001_table1.py:resnet32x4-ShuffleV2-kd \
      --workdir=/tmp/seed001_table1/resnet32x4-ShuffleV2-kd

The whole table (4 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed001_table1 --workdir=/tmp/seed001_table1
  python -m experiments.sweep --table=seed001_table1 --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | epoch | settings |
|---|---|---|---|---|---|
| resnet32x4-ShuffleV2-kd | resnet32x4 -> ShuffleV2 | KD | 74.45 | last | published |
| resnet32x4-ShuffleV2-kd_ls | resnet32x4 -> ShuffleV2 | KD+LS | 75.56 | best | published |
| resnet32x4-ShuffleV2-ctkd | resnet32x4 -> ShuffleV2 | CTKD | 75.37 | best | published |
| resnet32x4-ShuffleV2-ctkd_ls | resnet32x4 -> ShuffleV2 | CTKD+LS | 76.18 | best | published |
| resnet32x4-ShuffleV2-dkd | resnet32x4 -> ShuffleV2 | DKD | 77.07 | best | published |
| resnet32x4-ShuffleV2-dkd_ls | resnet32x4 -> ShuffleV2 | DKD+LS | 77.37 | best | published |
| resnet32x4-ShuffleV2-mlkd | resnet32x4 -> ShuffleV2 | MLKD | 78.44 | best | published [1] |
| resnet32x4-ShuffleV2-mlkd_ls | resnet32x4 -> ShuffleV2 | MLKD+LS | 78.76 | best | published [1] |
| resnet32x4-wrn_16_2-kd | resnet32x4 -> wrn_16_2 | KD | 74.90 | best | published |
| resnet32x4-wrn_16_2-kd_ls | resnet32x4 -> wrn_16_2 | KD+LS | 75.26 | best | published |
| resnet32x4-wrn_16_2-ctkd | resnet32x4 -> wrn_16_2 | CTKD | 74.57 | best | published |
| resnet32x4-wrn_16_2-ctkd_ls | resnet32x4 -> wrn_16_2 | CTKD+LS | 75.16 | best | published |
| resnet32x4-wrn_16_2-dkd | resnet32x4 -> wrn_16_2 | DKD | 75.70 | best | published |
| resnet32x4-wrn_16_2-dkd_ls | resnet32x4 -> wrn_16_2 | DKD+LS | 76.19 | best | published |
| resnet32x4-wrn_16_2-mlkd | resnet32x4 -> wrn_16_2 | MLKD | 76.52 | best | published [1] |
| resnet32x4-wrn_16_2-mlkd_ls | resnet32x4 -> wrn_16_2 | MLKD+LS | 77.53 | best | published [1] |
| resnet32x4-wrn_40_2-kd | resnet32x4 -> wrn_40_2 | KD | 77.70 | best | published |
| resnet32x4-wrn_40_2-kd_ls | resnet32x4 -> wrn_40_2 | KD+LS | 77.92 | best | published |
| resnet32x4-wrn_40_2-ctkd | resnet32x4 -> wrn_40_2 | CTKD | 77.66 | best | published |
| resnet32x4-wrn_40_2-ctkd_ls | resnet32x4 -> wrn_40_2 | CTKD+LS | 77.99 | best | published |
| resnet32x4-wrn_40_2-dkd | resnet32x4 -> wrn_40_2 | DKD | 78.46 | best | published |
| resnet32x4-wrn_40_2-dkd_ls | resnet32x4 -> wrn_40_2 | DKD+LS | 78.95 | best | published |
| resnet32x4-wrn_40_2-mlkd | resnet32x4 -> wrn_40_2 | MLKD | 79.26 | best | published [1] |
| resnet32x4-wrn_40_2-mlkd_ls | resnet32x4 -> wrn_40_2 | MLKD+LS | 79.66 | best | published [1] |
| wrn_40_2-resnet8x4-kd | wrn_40_2 -> resnet8x4 | KD | 73.97 | best | published |
| wrn_40_2-resnet8x4-kd_ls | wrn_40_2 -> resnet8x4 | KD+LS | 77.11 | best | published |
| wrn_40_2-resnet8x4-ctkd | wrn_40_2 -> resnet8x4 | CTKD | 74.61 | best | published |
| wrn_40_2-resnet8x4-ctkd_ls | wrn_40_2 -> resnet8x4 | CTKD+LS | 77.03 | best | published |
| wrn_40_2-resnet8x4-dkd | wrn_40_2 -> resnet8x4 | DKD | 75.56 | best | published |
| wrn_40_2-resnet8x4-dkd_ls | wrn_40_2 -> resnet8x4 | DKD+LS | 76.75 | best | published |
| wrn_40_2-resnet8x4-mlkd | wrn_40_2 -> resnet8x4 | MLKD | 77.33 | best | published [1] |
| wrn_40_2-resnet8x4-mlkd_ls | wrn_40_2 -> resnet8x4 | MLKD+LS | 77.68 | best | published [1] |
| wrn_40_2-MobileNetV2-kd | wrn_40_2 -> MobileNetV2 | KD | 68.36 | best | published |
| wrn_40_2-MobileNetV2-kd_ls | wrn_40_2 -> MobileNetV2 | KD+LS | 69.23 | best | published |
| wrn_40_2-MobileNetV2-ctkd | wrn_40_2 -> MobileNetV2 | CTKD | 68.34 | best | published |
| wrn_40_2-MobileNetV2-ctkd_ls | wrn_40_2 -> MobileNetV2 | CTKD+LS | 69.53 | best | published |
| wrn_40_2-MobileNetV2-dkd | wrn_40_2 -> MobileNetV2 | DKD | 69.28 | best | published |
| wrn_40_2-MobileNetV2-dkd_ls | wrn_40_2 -> MobileNetV2 | DKD+LS | 70.01 | best | published |
| wrn_40_2-MobileNetV2-mlkd | wrn_40_2 -> MobileNetV2 | MLKD | 70.78 | best | published [1] |
| wrn_40_2-MobileNetV2-mlkd_ls | wrn_40_2 -> MobileNetV2 | MLKD+LS | 71.61 | best | published [1] |
| vgg13-MobileNetV2-kd | vgg13 -> MobileNetV2 | KD | 67.37 | last | published |
| vgg13-MobileNetV2-kd_ls | vgg13 -> MobileNetV2 | KD+LS | 68.61 | best | published |
| vgg13-MobileNetV2-ctkd | vgg13 -> MobileNetV2 | CTKD | 68.50 | best | published |
| vgg13-MobileNetV2-ctkd_ls | vgg13 -> MobileNetV2 | CTKD+LS | 68.98 | best | published |
| vgg13-MobileNetV2-dkd | vgg13 -> MobileNetV2 | DKD | 69.71 | best | published |
| vgg13-MobileNetV2-dkd_ls | vgg13 -> MobileNetV2 | DKD+LS | 69.98 | best | published |
| vgg13-MobileNetV2-mlkd | vgg13 -> MobileNetV2 | MLKD | 70.57 | best | published [1] |
| vgg13-MobileNetV2-mlkd_ls | vgg13 -> MobileNetV2 | MLKD+LS | 70.94 | best | published [1] |
| ResNet50-MobileNetV2-kd | ResNet50 -> MobileNetV2 | KD | 67.35 | last | published |
| ResNet50-MobileNetV2-kd_ls | ResNet50 -> MobileNetV2 | KD+LS | 69.02 | best | published |
| ResNet50-MobileNetV2-ctkd | ResNet50 -> MobileNetV2 | CTKD | 68.67 | best | published |
| ResNet50-MobileNetV2-ctkd_ls | ResNet50 -> MobileNetV2 | CTKD+LS | 69.36 | best | published |
| ResNet50-MobileNetV2-dkd | ResNet50 -> MobileNetV2 | DKD | 70.35 | best | published |
| ResNet50-MobileNetV2-dkd_ls | ResNet50 -> MobileNetV2 | DKD+LS | 70.45 | best | published |
| ResNet50-MobileNetV2-mlkd | ResNet50 -> MobileNetV2 | MLKD | 71.04 | best | published [1] |
| ResNet50-MobileNetV2-mlkd_ls | ResNet50 -> MobileNetV2 | MLKD+LS | 71.19 | best | published [1] |
| resnet32x4-ShuffleV2-fitnet | resnet32x4 -> ShuffleV2 | FitNet | 73.54 | last | published [2] |
| resnet32x4-wrn_16_2-fitnet | resnet32x4 -> wrn_16_2 | FitNet | 74.70 | best | published [2] |
| resnet32x4-wrn_40_2-fitnet | resnet32x4 -> wrn_40_2 | FitNet | 77.69 | best | published [2] |
| wrn_40_2-resnet8x4-fitnet | wrn_40_2 -> resnet8x4 | FitNet | 74.61 | best | published [2] |
| wrn_40_2-MobileNetV2-fitnet | wrn_40_2 -> MobileNetV2 | FitNet | 68.64 | best | published [2] |
| vgg13-MobileNetV2-fitnet | vgg13 -> MobileNetV2 | FitNet | 64.16 | best | published [2] |
| ResNet50-MobileNetV2-fitnet | ResNet50 -> MobileNetV2 | FitNet | 63.16 | last | published [2] |
| resnet32x4-ShuffleV2-at | resnet32x4 -> ShuffleV2 | AT | 72.73 | last | published [2] |
| resnet32x4-wrn_16_2-at | resnet32x4 -> wrn_16_2 | AT | 73.91 | best | published [2] |
| resnet32x4-wrn_40_2-at | resnet32x4 -> wrn_40_2 | AT | 77.43 | best | published [2] |
| wrn_40_2-resnet8x4-at | wrn_40_2 -> resnet8x4 | AT | 74.11 | best | published [2] |
| wrn_40_2-MobileNetV2-at | wrn_40_2 -> MobileNetV2 | AT | 60.78 | best | published [2] |
| vgg13-MobileNetV2-at | vgg13 -> MobileNetV2 | AT | 59.40 | last | published [2] |
| ResNet50-MobileNetV2-at | ResNet50 -> MobileNetV2 | AT | 58.58 | last | published [2] |
| resnet32x4-ShuffleV2-rkd | resnet32x4 -> ShuffleV2 | RKD | 73.21 | last | published [2] |
| resnet32x4-wrn_16_2-rkd | resnet32x4 -> wrn_16_2 | RKD | 74.86 | best | published [2] |
| resnet32x4-wrn_40_2-rkd | resnet32x4 -> wrn_40_2 | RKD | 77.82 | best | published [2] |
| wrn_40_2-resnet8x4-rkd | wrn_40_2 -> resnet8x4 | RKD | 75.26 | best | published [2] |
| wrn_40_2-MobileNetV2-rkd | wrn_40_2 -> MobileNetV2 | RKD | 69.27 | best | published [2] |
| vgg13-MobileNetV2-rkd | vgg13 -> MobileNetV2 | RKD | 64.52 | last | published [2] |
| ResNet50-MobileNetV2-rkd | ResNet50 -> MobileNetV2 | RKD | 64.43 | last | published [2] |
| resnet32x4-ShuffleV2-crd | resnet32x4 -> ShuffleV2 | CRD | 75.65 | last | published [2] |
| resnet32x4-wrn_16_2-crd | resnet32x4 -> wrn_16_2 | CRD | 75.65 | best | published [2] |
| resnet32x4-wrn_40_2-crd | resnet32x4 -> wrn_40_2 | CRD | 78.15 | best | published [2] |
| wrn_40_2-resnet8x4-crd | wrn_40_2 -> resnet8x4 | CRD | 75.24 | best | published [2] |
| wrn_40_2-MobileNetV2-crd | wrn_40_2 -> MobileNetV2 | CRD | 70.28 | best | published [2] |
| vgg13-MobileNetV2-crd | vgg13 -> MobileNetV2 | CRD | 69.73 | last | published [2] |
| ResNet50-MobileNetV2-crd | ResNet50 -> MobileNetV2 | CRD | 69.11 | last | published [2] |
| resnet32x4-ShuffleV2-ofd | resnet32x4 -> ShuffleV2 | OFD | 76.82 | best | published [2] |
| resnet32x4-wrn_16_2-ofd | resnet32x4 -> wrn_16_2 | OFD | 76.17 | best | published [2] |
| resnet32x4-wrn_40_2-ofd | resnet32x4 -> wrn_40_2 | OFD | 79.25 | best | published [2] |
| wrn_40_2-resnet8x4-ofd | wrn_40_2 -> resnet8x4 | OFD | 74.36 | best | published [2] |
| wrn_40_2-MobileNetV2-ofd | wrn_40_2 -> MobileNetV2 | OFD | 69.92 | best | published [2] |
| vgg13-MobileNetV2-ofd | vgg13 -> MobileNetV2 | OFD | 69.48 | best | published [2] |
| ResNet50-MobileNetV2-ofd | ResNet50 -> MobileNetV2 | OFD | 69.04 | best | published [2] |
| resnet32x4-ShuffleV2-reviewkd | resnet32x4 -> ShuffleV2 | ReviewKD | 77.78 | best | published [2] |
| resnet32x4-wrn_16_2-reviewkd | resnet32x4 -> wrn_16_2 | ReviewKD | 76.11 | best | defaults [2] |
| resnet32x4-wrn_40_2-reviewkd | resnet32x4 -> wrn_40_2 | ReviewKD | 78.96 | best | defaults [2] |
| wrn_40_2-resnet8x4-reviewkd | wrn_40_2 -> resnet8x4 | ReviewKD | 74.34 | best | defaults [2] |
| wrn_40_2-MobileNetV2-reviewkd | wrn_40_2 -> MobileNetV2 | ReviewKD | 71.28 | best | defaults [2] |
| vgg13-MobileNetV2-reviewkd | vgg13 -> MobileNetV2 | ReviewKD | 70.37 | best | defaults [2] |
| ResNet50-MobileNetV2-reviewkd | ResNet50 -> MobileNetV2 | ReviewKD | 69.89 | best | defaults [2] |
| resnet32x4-ShuffleV2-simkd | resnet32x4 -> ShuffleV2 | SimKD | 78.39 | best | published [2] |
| resnet32x4-wrn_16_2-simkd | resnet32x4 -> wrn_16_2 | SimKD | 77.17 | best | published [2] |
| resnet32x4-wrn_40_2-simkd | resnet32x4 -> wrn_40_2 | SimKD | 79.29 | best | published [2] |
| wrn_40_2-resnet8x4-simkd | wrn_40_2 -> resnet8x4 | SimKD | 75.29 | best | published [2] |
| wrn_40_2-MobileNetV2-simkd | wrn_40_2 -> MobileNetV2 | SimKD | 70.10 | best | published [2] |
| vgg13-MobileNetV2-simkd | vgg13 -> MobileNetV2 | SimKD | 69.44 | best | published [2] |
| ResNet50-MobileNetV2-simkd | ResNet50 -> MobileNetV2 | SimKD | 69.97 | best | published [2] |
| resnet32x4-ShuffleV2-catkd | resnet32x4 -> ShuffleV2 | CAT-KD | 78.41 | best | published [2] |
| resnet32x4-wrn_16_2-catkd | resnet32x4 -> wrn_16_2 | CAT-KD | 76.97 | best | defaults [2] |
| resnet32x4-wrn_40_2-catkd | resnet32x4 -> wrn_40_2 | CAT-KD | 78.59 | best | defaults [2] |
| wrn_40_2-resnet8x4-catkd | wrn_40_2 -> resnet8x4 | CAT-KD | 75.38 | best | defaults [2] |
| wrn_40_2-MobileNetV2-catkd | wrn_40_2 -> MobileNetV2 | CAT-KD | 70.24 | best | defaults [2] |
| vgg13-MobileNetV2-catkd | vgg13 -> MobileNetV2 | CAT-KD | 69.13 | best | published [2] |
| ResNet50-MobileNetV2-catkd | ResNet50 -> MobileNetV2 | CAT-KD | 71.36 | best | published [2] |

[1] MLKD columns of seed 001 use 480-epoch training (960 for ShuffleV1/V2 students) with the strong
    view
[2] a baseline row of the paper, copied there from its own codebase's publication; the settings are
    that codebase's
"""

from experiments.configs import common

TABLE = 'seed001_table1'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
