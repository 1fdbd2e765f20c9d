r"""Seed 000 Table 1: max-logit temperature and re-run baselines, cross-family pairs.
Seed 000: one run per cell; it trained its own teachers and students.

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed000_table1.py:resnet32x4-ShuffleV2-kd_ls \
      --workdir=/tmp/seed000_table1/resnet32x4-ShuffleV2-kd_ls

The whole table (1 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed000_table1 --workdir=/tmp/seed000_table1
  python -m experiments.sweep --table=seed000_table1 --show

settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | settings |
|---|---|---|---|---|
| resnet32x4-ShuffleV2-kd_ls | resnet32x4 -> ShuffleV2 | zKD | 76.62 | published |
| resnet32x4-ShuffleV2-ctkd_ls | resnet32x4 -> ShuffleV2 | zCTKD | 76.18 | published |
| resnet32x4-ShuffleV2-kd_maxlogit | resnet32x4 -> ShuffleV2 | zKD+Ours | 76.52 | published |
| resnet32x4-ShuffleV2-dkd_ls | resnet32x4 -> ShuffleV2 | zDKD | 76.41 | published |
| resnet32x4-ShuffleV2-dkd_maxlogit | resnet32x4 -> ShuffleV2 | zDKD+Ours | 75.96 | published |
| resnet32x4-ShuffleV2-ttm | resnet32x4 -> ShuffleV2 | TTM | 75.39 | published |
| resnet32x4-wrn_16_2-kd_ls | resnet32x4 -> wrn_16_2 | zKD | 75.05 | published |
| resnet32x4-wrn_16_2-ctkd_ls | resnet32x4 -> wrn_16_2 | zCTKD | 75.20 | published |
| resnet32x4-wrn_16_2-kd_maxlogit | resnet32x4 -> wrn_16_2 | zKD+Ours | 75.56 | published |
| resnet32x4-wrn_16_2-dkd_ls | resnet32x4 -> wrn_16_2 | zDKD | 75.72 | published |
| resnet32x4-wrn_16_2-dkd_maxlogit | resnet32x4 -> wrn_16_2 | zDKD+Ours | 76.05 | published |
| resnet32x4-wrn_16_2-ttm | resnet32x4 -> wrn_16_2 | TTM | 75.68 | published |
| resnet32x4-wrn_40_2-kd_ls | resnet32x4 -> wrn_40_2 | zKD | 78.45 | published |
| resnet32x4-wrn_40_2-ctkd_ls | resnet32x4 -> wrn_40_2 | zCTKD | 77.91 | published |
| resnet32x4-wrn_40_2-kd_maxlogit | resnet32x4 -> wrn_40_2 | zKD+Ours | 78.41 | published |
| resnet32x4-wrn_40_2-dkd_ls | resnet32x4 -> wrn_40_2 | zDKD | 79.13 | published |
| resnet32x4-wrn_40_2-dkd_maxlogit | resnet32x4 -> wrn_40_2 | zDKD+Ours | 78.86 | published |
| resnet32x4-wrn_40_2-ttm | resnet32x4 -> wrn_40_2 | TTM | 77.96 | published |
| wrn_40_2-resnet8x4-kd_ls | wrn_40_2 -> resnet8x4 | zKD | 76.53 | published |
| wrn_40_2-resnet8x4-ctkd_ls | wrn_40_2 -> resnet8x4 | zCTKD | 77.01 | published |
| wrn_40_2-resnet8x4-kd_maxlogit | wrn_40_2 -> resnet8x4 | zKD+Ours | 75.02 | published |
| wrn_40_2-resnet8x4-dkd_ls | wrn_40_2 -> resnet8x4 | zDKD | 74.55 | published |
| wrn_40_2-resnet8x4-dkd_maxlogit | wrn_40_2 -> resnet8x4 | zDKD+Ours | 74.82 | published |
| wrn_40_2-resnet8x4-ttm | wrn_40_2 -> resnet8x4 | TTM | 75.93 | published |
| wrn_40_2-MobileNetV2-kd_ls | wrn_40_2 -> MobileNetV2 | zKD | 69.39 | published |
| wrn_40_2-MobileNetV2-ctkd_ls | wrn_40_2 -> MobileNetV2 | zCTKD | 68.62 | published |
| wrn_40_2-MobileNetV2-kd_maxlogit | wrn_40_2 -> MobileNetV2 | zKD+Ours | 69.89 | published |
| wrn_40_2-MobileNetV2-dkd_ls | wrn_40_2 -> MobileNetV2 | zDKD | 68.66 | published |
| wrn_40_2-MobileNetV2-dkd_maxlogit | wrn_40_2 -> MobileNetV2 | zDKD+Ours | 68.95 | published |
| wrn_40_2-MobileNetV2-ttm | wrn_40_2 -> MobileNetV2 | TTM | 68.18 | published |
| vgg13-MobileNetV2-kd_ls | vgg13 -> MobileNetV2 | zKD | 69.79 | published |
| vgg13-MobileNetV2-ctkd_ls | vgg13 -> MobileNetV2 | zCTKD | 69.32 | published |
| vgg13-MobileNetV2-kd_maxlogit | vgg13 -> MobileNetV2 | zKD+Ours | 69.47 | published |
| vgg13-MobileNetV2-dkd_ls | vgg13 -> MobileNetV2 | zDKD | 69.04 | published |
| vgg13-MobileNetV2-dkd_maxlogit | vgg13 -> MobileNetV2 | zDKD+Ours | 68.44 | published |
| vgg13-MobileNetV2-ttm | vgg13 -> MobileNetV2 | TTM | 67.91 | published |
| ResNet50-MobileNetV2-kd_ls | ResNet50 -> MobileNetV2 | zKD | 69.21 | published |
| ResNet50-MobileNetV2-ctkd_ls | ResNet50 -> MobileNetV2 | zCTKD | 69.19 | published |
| ResNet50-MobileNetV2-kd_maxlogit | ResNet50 -> MobileNetV2 | zKD+Ours | 70.11 | published |
| ResNet50-MobileNetV2-dkd_ls | ResNet50 -> MobileNetV2 | zDKD | 69.19 | published |
| ResNet50-MobileNetV2-dkd_maxlogit | ResNet50 -> MobileNetV2 | zDKD+Ours | 69.78 | published |
| ResNet50-MobileNetV2-ttm | ResNet50 -> MobileNetV2 | TTM | 67.80 | published |
"""

from experiments.configs import common

TABLE = 'seed000_table1'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
