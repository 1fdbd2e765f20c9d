r"""Seed 002 Table 3: TTM, WTTM and the baselines, distinct architectures.
Published statistic: best epoch, mean of 3 runs; FitNet, AT, VID, RKD, PKT, CRD and KD are the CRD
paper's numbers: last epoch.

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed002_table3.py:resnet32x4-ShuffleV2-ttm \
      --workdir=/tmp/seed002_table3/resnet32x4-ShuffleV2-ttm

The whole table (3 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed002_table3 --workdir=/tmp/seed002_table3
  python -m experiments.sweep --table=seed002_table3 --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | epoch | settings |
|---|---|---|---|---|---|
| resnet32x4-ShuffleV2-ttm | resnet32x4 -> ShuffleV2 | TTM | 76.57 | best | published |
| resnet32x4-ShuffleV2-wttm | resnet32x4 -> ShuffleV2 | WTTM | 76.55 | best | published |
| vgg13-MobileNetV2-ttm | vgg13 -> MobileNetV2 | TTM | 68.98 | best | published |
| vgg13-MobileNetV2-wttm | vgg13 -> MobileNetV2 | WTTM | 69.16 | best | published |
| ResNet50-MobileNetV2-ttm | ResNet50 -> MobileNetV2 | TTM | 69.24 | best | published |
| ResNet50-MobileNetV2-wttm | ResNet50 -> MobileNetV2 | WTTM | 69.59 | best | published |
| ResNet50-vgg8-ttm | ResNet50 -> vgg8 | TTM | 74.87 | best | published |
| ResNet50-vgg8-wttm | ResNet50 -> vgg8 | WTTM | 74.82 | best | published |
| resnet32x4-ShuffleV1-ttm | resnet32x4 -> ShuffleV1 | TTM | 74.18 | best | published |
| resnet32x4-ShuffleV1-wttm | resnet32x4 -> ShuffleV1 | WTTM | 74.37 | best | published |
| wrn_40_2-ShuffleV1-ttm | wrn_40_2 -> ShuffleV1 | TTM | 75.39 | best | published |
| wrn_40_2-ShuffleV1-wttm | wrn_40_2 -> ShuffleV1 | WTTM | 75.42 | best | published |
| vgg13-MobileNetV2-fitnet | vgg13 -> MobileNetV2 | FitNet | 64.14 | last | published |
| ResNet50-MobileNetV2-fitnet | ResNet50 -> MobileNetV2 | FitNet | 63.16 | last | published |
| ResNet50-vgg8-fitnet | ResNet50 -> vgg8 | FitNet | 70.69 | last | published |
| resnet32x4-ShuffleV1-fitnet | resnet32x4 -> ShuffleV1 | FitNet | 73.59 | last | published |
| resnet32x4-ShuffleV2-fitnet | resnet32x4 -> ShuffleV2 | FitNet | 73.54 | last | published |
| wrn_40_2-ShuffleV1-fitnet | wrn_40_2 -> ShuffleV1 | FitNet | 73.73 | last | published |
| vgg13-MobileNetV2-at | vgg13 -> MobileNetV2 | AT | 59.40 | last | published |
| ResNet50-MobileNetV2-at | ResNet50 -> MobileNetV2 | AT | 58.58 | last | published |
| ResNet50-vgg8-at | ResNet50 -> vgg8 | AT | 71.84 | last | published |
| resnet32x4-ShuffleV1-at | resnet32x4 -> ShuffleV1 | AT | 71.73 | last | published |
| resnet32x4-ShuffleV2-at | resnet32x4 -> ShuffleV2 | AT | 72.73 | last | published |
| wrn_40_2-ShuffleV1-at | wrn_40_2 -> ShuffleV1 | AT | 73.32 | last | published |
| vgg13-MobileNetV2-vid | vgg13 -> MobileNetV2 | VID | 65.56 | last | published |
| ResNet50-MobileNetV2-vid | ResNet50 -> MobileNetV2 | VID | 67.57 | last | published |
| ResNet50-vgg8-vid | ResNet50 -> vgg8 | VID | 70.30 | last | published |
| resnet32x4-ShuffleV1-vid | resnet32x4 -> ShuffleV1 | VID | 73.38 | last | published |
| resnet32x4-ShuffleV2-vid | resnet32x4 -> ShuffleV2 | VID | 73.40 | last | published |
| wrn_40_2-ShuffleV1-vid | wrn_40_2 -> ShuffleV1 | VID | 73.61 | last | published |
| vgg13-MobileNetV2-rkd | vgg13 -> MobileNetV2 | RKD | 64.52 | last | published |
| ResNet50-MobileNetV2-rkd | ResNet50 -> MobileNetV2 | RKD | 64.43 | last | published |
| ResNet50-vgg8-rkd | ResNet50 -> vgg8 | RKD | 71.50 | last | published |
| resnet32x4-ShuffleV1-rkd | resnet32x4 -> ShuffleV1 | RKD | 72.28 | last | published |
| resnet32x4-ShuffleV2-rkd | resnet32x4 -> ShuffleV2 | RKD | 73.21 | last | published |
| wrn_40_2-ShuffleV1-rkd | wrn_40_2 -> ShuffleV1 | RKD | 72.21 | last | published |
| vgg13-MobileNetV2-pkt | vgg13 -> MobileNetV2 | PKT | 67.13 | last | published |
| ResNet50-MobileNetV2-pkt | ResNet50 -> MobileNetV2 | PKT | 66.52 | last | published |
| ResNet50-vgg8-pkt | ResNet50 -> vgg8 | PKT | 73.01 | last | published |
| resnet32x4-ShuffleV1-pkt | resnet32x4 -> ShuffleV1 | PKT | 74.10 | last | published |
| resnet32x4-ShuffleV2-pkt | resnet32x4 -> ShuffleV2 | PKT | 74.69 | last | published |
| wrn_40_2-ShuffleV1-pkt | wrn_40_2 -> ShuffleV1 | PKT | 73.89 | last | published |
| vgg13-MobileNetV2-crd | vgg13 -> MobileNetV2 | CRD | 69.73 | last | published |
| ResNet50-MobileNetV2-crd | ResNet50 -> MobileNetV2 | CRD | 69.11 | last | published |
| ResNet50-vgg8-crd | ResNet50 -> vgg8 | CRD | 74.30 | last | published |
| resnet32x4-ShuffleV1-crd | resnet32x4 -> ShuffleV1 | CRD | 75.11 | last | published |
| resnet32x4-ShuffleV2-crd | resnet32x4 -> ShuffleV2 | CRD | 75.65 | last | published |
| wrn_40_2-ShuffleV1-crd | wrn_40_2 -> ShuffleV1 | CRD | 76.05 | last | published |
| vgg13-MobileNetV2-kd | vgg13 -> MobileNetV2 | KD | 67.37 | last | published |
| ResNet50-MobileNetV2-kd | ResNet50 -> MobileNetV2 | KD | 67.35 | last | published |
| ResNet50-vgg8-kd | ResNet50 -> vgg8 | KD | 73.81 | last | published |
| resnet32x4-ShuffleV1-kd | resnet32x4 -> ShuffleV1 | KD | 74.07 | last | published |
| resnet32x4-ShuffleV2-kd | resnet32x4 -> ShuffleV2 | KD | 74.45 | last | published |
| wrn_40_2-ShuffleV1-kd | wrn_40_2 -> ShuffleV1 | KD | 74.83 | last | published |
| vgg13-MobileNetV2-dist | vgg13 -> MobileNetV2 | DIST | 68.50 | best | published |
| ResNet50-MobileNetV2-dist | ResNet50 -> MobileNetV2 | DIST | 68.66 | best | published |
| ResNet50-vgg8-dist | ResNet50 -> vgg8 | DIST | 74.11 | best | published |
| resnet32x4-ShuffleV1-dist | resnet32x4 -> ShuffleV1 | DIST | 76.34 | best | published |
| resnet32x4-ShuffleV2-dist | resnet32x4 -> ShuffleV2 | DIST | 77.35 | best | published |
| wrn_40_2-ShuffleV1-dist | wrn_40_2 -> ShuffleV1 | DIST | 76.40 | best | published |
| vgg13-MobileNetV2-dkd | vgg13 -> MobileNetV2 | DKD | 69.71 | best | published |
| ResNet50-MobileNetV2-dkd | ResNet50 -> MobileNetV2 | DKD | 70.35 | best | published |
| resnet32x4-ShuffleV1-dkd | resnet32x4 -> ShuffleV1 | DKD | 76.45 | best | published |
| resnet32x4-ShuffleV2-dkd | resnet32x4 -> ShuffleV2 | DKD | 77.07 | best | published |
| wrn_40_2-ShuffleV1-dkd | wrn_40_2 -> ShuffleV1 | DKD | 76.70 | best | published |
"""

from experiments.configs import common

TABLE = 'seed002_table3'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
