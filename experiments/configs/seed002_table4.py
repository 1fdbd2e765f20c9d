r"""Seed 002 Table 4: WTTM combined with CRD and ITRD, distinct architectures.
Published statistic: best epoch, mean of 3 runs.

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed002_table4.py:vgg13-MobileNetV2-itrd \
      --workdir=/tmp/seed002_table4/vgg13-MobileNetV2-itrd

The whole table (3 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed002_table4 --workdir=/tmp/seed002_table4
  python -m experiments.sweep --table=seed002_table4 --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | epoch | settings |
|---|---|---|---|---|---|
| vgg13-MobileNetV2-itrd | vgg13 -> MobileNetV2 | ITRD | 70.39 | best | published |
| ResNet50-MobileNetV2-itrd | ResNet50 -> MobileNetV2 | ITRD | 71.41 | best | published |
| ResNet50-vgg8-itrd | ResNet50 -> vgg8 | ITRD | 75.71 | best | published |
| resnet32x4-ShuffleV1-itrd | resnet32x4 -> ShuffleV1 | ITRD | 76.91 | best | published |
| resnet32x4-ShuffleV2-itrd | resnet32x4 -> ShuffleV2 | ITRD | 77.40 | best | published |
| wrn_40_2-ShuffleV1-itrd | wrn_40_2 -> ShuffleV1 | ITRD | 77.35 | best | published |
| vgg13-MobileNetV2-wttm+crd | vgg13 -> MobileNetV2 | WTTM+CRD | 70.30 | best | published |
| ResNet50-MobileNetV2-wttm+crd | ResNet50 -> MobileNetV2 | WTTM+CRD | 70.84 | best | published |
| ResNet50-vgg8-wttm+crd | ResNet50 -> vgg8 | WTTM+CRD | 75.30 | best | published |
| resnet32x4-ShuffleV1-wttm+crd | resnet32x4 -> ShuffleV1 | WTTM+CRD | 75.82 | best | published |
| resnet32x4-ShuffleV2-wttm+crd | resnet32x4 -> ShuffleV2 | WTTM+CRD | 77.04 | best | published |
| wrn_40_2-ShuffleV1-wttm+crd | wrn_40_2 -> ShuffleV1 | WTTM+CRD | 76.86 | best | published |
| vgg13-MobileNetV2-wttm+itrd | vgg13 -> MobileNetV2 | WTTM+ITRD | 70.70 | best | published |
| ResNet50-MobileNetV2-wttm+itrd | ResNet50 -> MobileNetV2 | WTTM+ITRD | 71.56 | best | published |
| ResNet50-vgg8-wttm+itrd | ResNet50 -> vgg8 | WTTM+ITRD | 76.00 | best | published |
| resnet32x4-ShuffleV1-wttm+itrd | resnet32x4 -> ShuffleV1 | WTTM+ITRD | 77.03 | best | published |
| resnet32x4-ShuffleV2-wttm+itrd | resnet32x4 -> ShuffleV2 | WTTM+ITRD | 77.68 | best | published |
| wrn_40_2-ShuffleV1-wttm+itrd | wrn_40_2 -> ShuffleV1 | WTTM+ITRD | 77.44 | best | published |
"""

from experiments.configs import common

TABLE = 'seed002_table4'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
