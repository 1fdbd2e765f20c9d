r"""Seed 001 Table 1: logit methods with and without LS, distinct architectures.

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed001_table1.py:resnet32x4-ShuffleV2-kd \
      --workdir=/tmp/seed001_table1/resnet32x4-ShuffleV2-kd

The whole table (4 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed001_table1 --workdir=/tmp/seed001_table1
  python -m experiments.sweep --table=seed001_table1 --show

settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | settings |
|---|---|---|---|---|
| resnet32x4-ShuffleV2-kd | resnet32x4 -> ShuffleV2 | KD | 74.45 | published |
| resnet32x4-ShuffleV2-kd_ls | resnet32x4 -> ShuffleV2 | KD+LS | 75.56 | published |
| resnet32x4-ShuffleV2-ctkd | resnet32x4 -> ShuffleV2 | CTKD | 75.37 | published |
| resnet32x4-ShuffleV2-ctkd_ls | resnet32x4 -> ShuffleV2 | CTKD+LS | 76.18 | published |
| resnet32x4-ShuffleV2-dkd | resnet32x4 -> ShuffleV2 | DKD | 77.07 | published |
| resnet32x4-ShuffleV2-dkd_ls | resnet32x4 -> ShuffleV2 | DKD+LS | 77.37 | published |
| resnet32x4-ShuffleV2-mlkd | resnet32x4 -> ShuffleV2 | MLKD | 78.44 | published [1] |
| resnet32x4-ShuffleV2-mlkd_ls | resnet32x4 -> ShuffleV2 | MLKD+LS | 78.76 | published [1] |
| resnet32x4-wrn_16_2-kd | resnet32x4 -> wrn_16_2 | KD | 74.90 | published |
| resnet32x4-wrn_16_2-kd_ls | resnet32x4 -> wrn_16_2 | KD+LS | 75.26 | published |
| resnet32x4-wrn_16_2-ctkd | resnet32x4 -> wrn_16_2 | CTKD | 74.57 | published |
| resnet32x4-wrn_16_2-ctkd_ls | resnet32x4 -> wrn_16_2 | CTKD+LS | 75.16 | published |
| resnet32x4-wrn_16_2-dkd | resnet32x4 -> wrn_16_2 | DKD | 75.70 | published |
| resnet32x4-wrn_16_2-dkd_ls | resnet32x4 -> wrn_16_2 | DKD+LS | 76.19 | published |
| resnet32x4-wrn_16_2-mlkd | resnet32x4 -> wrn_16_2 | MLKD | 76.52 | published [1] |
| resnet32x4-wrn_16_2-mlkd_ls | resnet32x4 -> wrn_16_2 | MLKD+LS | 77.53 | published [1] |
| resnet32x4-wrn_40_2-kd | resnet32x4 -> wrn_40_2 | KD | 77.70 | published |
| resnet32x4-wrn_40_2-kd_ls | resnet32x4 -> wrn_40_2 | KD+LS | 77.92 | published |
| resnet32x4-wrn_40_2-ctkd | resnet32x4 -> wrn_40_2 | CTKD | 77.66 | published |
| resnet32x4-wrn_40_2-ctkd_ls | resnet32x4 -> wrn_40_2 | CTKD+LS | 77.99 | published |
| resnet32x4-wrn_40_2-dkd | resnet32x4 -> wrn_40_2 | DKD | 78.46 | published |
| resnet32x4-wrn_40_2-dkd_ls | resnet32x4 -> wrn_40_2 | DKD+LS | 78.95 | published |
| resnet32x4-wrn_40_2-mlkd | resnet32x4 -> wrn_40_2 | MLKD | 79.26 | published [1] |
| resnet32x4-wrn_40_2-mlkd_ls | resnet32x4 -> wrn_40_2 | MLKD+LS | 79.66 | published [1] |
| wrn_40_2-resnet8x4-kd | wrn_40_2 -> resnet8x4 | KD | 73.97 | published |
| wrn_40_2-resnet8x4-kd_ls | wrn_40_2 -> resnet8x4 | KD+LS | 77.11 | published |
| wrn_40_2-resnet8x4-ctkd | wrn_40_2 -> resnet8x4 | CTKD | 74.61 | published |
| wrn_40_2-resnet8x4-ctkd_ls | wrn_40_2 -> resnet8x4 | CTKD+LS | 77.03 | published |
| wrn_40_2-resnet8x4-dkd | wrn_40_2 -> resnet8x4 | DKD | 75.56 | published |
| wrn_40_2-resnet8x4-dkd_ls | wrn_40_2 -> resnet8x4 | DKD+LS | 76.75 | published |
| wrn_40_2-resnet8x4-mlkd | wrn_40_2 -> resnet8x4 | MLKD | 77.33 | published [1] |
| wrn_40_2-resnet8x4-mlkd_ls | wrn_40_2 -> resnet8x4 | MLKD+LS | 77.68 | published [1] |
| wrn_40_2-MobileNetV2-kd | wrn_40_2 -> MobileNetV2 | KD | 68.36 | published |
| wrn_40_2-MobileNetV2-kd_ls | wrn_40_2 -> MobileNetV2 | KD+LS | 69.23 | published |
| wrn_40_2-MobileNetV2-ctkd | wrn_40_2 -> MobileNetV2 | CTKD | 68.34 | published |
| wrn_40_2-MobileNetV2-ctkd_ls | wrn_40_2 -> MobileNetV2 | CTKD+LS | 69.53 | published |
| wrn_40_2-MobileNetV2-dkd | wrn_40_2 -> MobileNetV2 | DKD | 69.28 | published |
| wrn_40_2-MobileNetV2-dkd_ls | wrn_40_2 -> MobileNetV2 | DKD+LS | 70.01 | published |
| wrn_40_2-MobileNetV2-mlkd | wrn_40_2 -> MobileNetV2 | MLKD | 70.78 | published [1] |
| wrn_40_2-MobileNetV2-mlkd_ls | wrn_40_2 -> MobileNetV2 | MLKD+LS | 71.61 | published [1] |
| vgg13-MobileNetV2-kd | vgg13 -> MobileNetV2 | KD | 67.37 | published |
| vgg13-MobileNetV2-kd_ls | vgg13 -> MobileNetV2 | KD+LS | 68.61 | published |
| vgg13-MobileNetV2-ctkd | vgg13 -> MobileNetV2 | CTKD | 68.50 | published |
| vgg13-MobileNetV2-ctkd_ls | vgg13 -> MobileNetV2 | CTKD+LS | 68.98 | published |
| vgg13-MobileNetV2-dkd | vgg13 -> MobileNetV2 | DKD | 69.71 | published |
| vgg13-MobileNetV2-dkd_ls | vgg13 -> MobileNetV2 | DKD+LS | 69.98 | published |
| vgg13-MobileNetV2-mlkd | vgg13 -> MobileNetV2 | MLKD | 70.57 | published [1] |
| vgg13-MobileNetV2-mlkd_ls | vgg13 -> MobileNetV2 | MLKD+LS | 70.94 | published [1] |
| ResNet50-MobileNetV2-kd | ResNet50 -> MobileNetV2 | KD | 67.35 | published |
| ResNet50-MobileNetV2-kd_ls | ResNet50 -> MobileNetV2 | KD+LS | 69.02 | published |
| ResNet50-MobileNetV2-ctkd | ResNet50 -> MobileNetV2 | CTKD | 68.67 | published |
| ResNet50-MobileNetV2-ctkd_ls | ResNet50 -> MobileNetV2 | CTKD+LS | 69.36 | published |
| ResNet50-MobileNetV2-dkd | ResNet50 -> MobileNetV2 | DKD | 70.35 | published |
| ResNet50-MobileNetV2-dkd_ls | ResNet50 -> MobileNetV2 | DKD+LS | 70.45 | published |
| ResNet50-MobileNetV2-mlkd | ResNet50 -> MobileNetV2 | MLKD | 71.04 | published [1] |
| ResNet50-MobileNetV2-mlkd_ls | ResNet50 -> MobileNetV2 | MLKD+LS | 71.19 | published [1] |

[1] MLKD columns of seed 001 use 480-epoch training (960 for ShuffleV1/V2 students) with the strong
    view
"""

from experiments.configs import common

TABLE = 'seed001_table1'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
