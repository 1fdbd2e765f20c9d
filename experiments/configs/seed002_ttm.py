r"""Seed 002 Tables 1 and 3: TTM and WTTM.

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed002_ttm.py:resnet32x4-resnet8x4-ttm \
      --workdir=/tmp/seed002_ttm/resnet32x4-resnet8x4-ttm

The whole table (3/5 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed002_ttm --workdir=/tmp/seed002_ttm
  python -m experiments.sweep --table=seed002_ttm --show

settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | settings |
|---|---|---|---|---|
| resnet32x4-resnet8x4-ttm | resnet32x4 -> resnet8x4 | TTM | 76.17 | published |
| resnet32x4-resnet8x4-wttm | resnet32x4 -> resnet8x4 | WTTM | 76.06 | published |
| vgg13-vgg8-ttm | vgg13 -> vgg8 | TTM | 74.33 | published |
| vgg13-vgg8-wttm | vgg13 -> vgg8 | WTTM | 74.44 | published |
| wrn_40_2-wrn_40_1-ttm | wrn_40_2 -> wrn_40_1 | TTM | 74.32 | published |
| wrn_40_2-wrn_40_1-wttm | wrn_40_2 -> wrn_40_1 | WTTM | 74.58 | published |
| wrn_40_2-wrn_16_2-ttm | wrn_40_2 -> wrn_16_2 | TTM | 76.23 | published |
| wrn_40_2-wrn_16_2-wttm | wrn_40_2 -> wrn_16_2 | WTTM | 76.37 | published |
| resnet56-resnet20-ttm | resnet56 -> resnet20 | TTM | 71.83 | published |
| resnet56-resnet20-wttm | resnet56 -> resnet20 | WTTM | 71.92 | published |
| resnet110-resnet32-ttm | resnet110 -> resnet32 | TTM | 73.97 | published |
| resnet110-resnet32-wttm | resnet110 -> resnet32 | WTTM | 74.13 | published |
| resnet110-resnet20-ttm | resnet110 -> resnet20 | TTM | 71.46 | published |
| resnet110-resnet20-wttm | resnet110 -> resnet20 | WTTM | 71.67 | published |
| resnet32x4-ShuffleV2-ttm | resnet32x4 -> ShuffleV2 | TTM | 76.57 | published |
| resnet32x4-ShuffleV2-wttm | resnet32x4 -> ShuffleV2 | WTTM | 76.55 | published |
| vgg13-MobileNetV2-ttm | vgg13 -> MobileNetV2 | TTM | 68.98 | published |
| vgg13-MobileNetV2-wttm | vgg13 -> MobileNetV2 | WTTM | 69.16 | published |
| ResNet50-MobileNetV2-ttm | ResNet50 -> MobileNetV2 | TTM | 69.24 | published |
| ResNet50-MobileNetV2-wttm | ResNet50 -> MobileNetV2 | WTTM | 69.59 | published |
| ResNet50-vgg8-ttm | ResNet50 -> vgg8 | TTM | 74.87 | published |
| ResNet50-vgg8-wttm | ResNet50 -> vgg8 | WTTM | 74.82 | published |
| resnet32x4-ShuffleV1-ttm | resnet32x4 -> ShuffleV1 | TTM | 74.18 | published |
| resnet32x4-ShuffleV1-wttm | resnet32x4 -> ShuffleV1 | WTTM | 74.37 | published |
| wrn_40_2-ShuffleV1-ttm | wrn_40_2 -> ShuffleV1 | TTM | 75.39 | published |
| wrn_40_2-ShuffleV1-wttm | wrn_40_2 -> ShuffleV1 | WTTM | 75.42 | published |
"""

from experiments.configs import common

TABLE = 'seed002_ttm'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
