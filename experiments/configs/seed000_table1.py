r"""Seed 000 Table 1: max-logit temperature and re-run baselines, cross-family pairs.
Seed 000: one run per cell; it trained its own teachers and students.
Published statistic: best epoch, one run per cell.

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
| resnet32x4-ShuffleV2-fitnet | resnet32x4 -> ShuffleV2 | FitNet | 74.15 | defaults |
| resnet32x4-wrn_16_2-fitnet | resnet32x4 -> wrn_16_2 | FitNet | 73.97 | defaults |
| resnet32x4-wrn_40_2-fitnet | resnet32x4 -> wrn_40_2 | FitNet | 76.75 | defaults |
| wrn_40_2-resnet8x4-fitnet | wrn_40_2 -> resnet8x4 | FitNet | 73.30 | defaults |
| wrn_40_2-MobileNetV2-fitnet | wrn_40_2 -> MobileNetV2 | FitNet | 65.66 | defaults |
| vgg13-MobileNetV2-fitnet | vgg13 -> MobileNetV2 | FitNet | 64.87 | defaults |
| ResNet50-MobileNetV2-fitnet | ResNet50 -> MobileNetV2 | FitNet | 64.59 | defaults |
| resnet32x4-ShuffleV2-at | resnet32x4 -> ShuffleV2 | AT | 73.27 | defaults |
| resnet32x4-wrn_16_2-at | resnet32x4 -> wrn_16_2 | AT | 74.33 | defaults |
| resnet32x4-wrn_40_2-at | resnet32x4 -> wrn_40_2 | AT | 77.44 | defaults |
| wrn_40_2-resnet8x4-at | wrn_40_2 -> resnet8x4 | AT | 73.92 | defaults |
| wrn_40_2-MobileNetV2-at | wrn_40_2 -> MobileNetV2 | AT | 65.85 | defaults |
| vgg13-MobileNetV2-at | vgg13 -> MobileNetV2 | AT | 60.65 | defaults |
| ResNet50-MobileNetV2-at | ResNet50 -> MobileNetV2 | AT | 57.48 | defaults |
| resnet32x4-ShuffleV2-rkd | resnet32x4 -> ShuffleV2 | RKD | 73.84 | defaults |
| resnet32x4-wrn_16_2-rkd | resnet32x4 -> wrn_16_2 | RKD | 73.20 | defaults |
| resnet32x4-wrn_40_2-rkd | resnet32x4 -> wrn_40_2 | RKD | 76.32 | defaults |
| wrn_40_2-resnet8x4-rkd | wrn_40_2 -> resnet8x4 | RKD | 72.66 | defaults |
| wrn_40_2-MobileNetV2-rkd | wrn_40_2 -> MobileNetV2 | RKD | 65.24 | defaults |
| vgg13-MobileNetV2-rkd | vgg13 -> MobileNetV2 | RKD | 65.84 | defaults |
| ResNet50-MobileNetV2-rkd | ResNet50 -> MobileNetV2 | RKD | 65.43 | defaults |
| resnet32x4-ShuffleV2-crd | resnet32x4 -> ShuffleV2 | CRD | 76.14 | defaults |
| resnet32x4-wrn_16_2-crd | resnet32x4 -> wrn_16_2 | CRD | 75.68 | defaults |
| resnet32x4-wrn_40_2-crd | resnet32x4 -> wrn_40_2 | CRD | 78.33 | defaults |
| wrn_40_2-resnet8x4-crd | wrn_40_2 -> resnet8x4 | CRD | 75.14 | defaults |
| wrn_40_2-MobileNetV2-crd | wrn_40_2 -> MobileNetV2 | CRD | 69.91 | defaults |
| vgg13-MobileNetV2-crd | vgg13 -> MobileNetV2 | CRD | 69.40 | defaults |
| ResNet50-MobileNetV2-crd | ResNet50 -> MobileNetV2 | CRD | 69.32 | defaults |
| resnet32x4-ShuffleV2-reviewkd | resnet32x4 -> ShuffleV2 | ReviewKD | 74.64 | defaults |
| resnet32x4-wrn_16_2-reviewkd | resnet32x4 -> wrn_16_2 | ReviewKD | 73.89 | defaults |
| resnet32x4-wrn_40_2-reviewkd | resnet32x4 -> wrn_40_2 | ReviewKD | 77.12 | defaults |
| wrn_40_2-resnet8x4-reviewkd | wrn_40_2 -> resnet8x4 | ReviewKD | 73.51 | defaults |
| wrn_40_2-MobileNetV2-reviewkd | wrn_40_2 -> MobileNetV2 | ReviewKD | 68.50 | defaults |
| vgg13-MobileNetV2-reviewkd | vgg13 -> MobileNetV2 | ReviewKD | 65.74 | defaults |
| ResNet50-MobileNetV2-reviewkd | ResNet50 -> MobileNetV2 | ReviewKD | 63.41 | defaults |
| resnet32x4-ShuffleV2-simkd | resnet32x4 -> ShuffleV2 | SimKD | 76.14 | defaults |
| resnet32x4-wrn_16_2-simkd | resnet32x4 -> wrn_16_2 | SimKD | 75.36 | defaults |
| resnet32x4-wrn_40_2-simkd | resnet32x4 -> wrn_40_2 | SimKD | 78.29 | defaults |
| wrn_40_2-resnet8x4-simkd | wrn_40_2 -> resnet8x4 | SimKD | 74.39 | defaults |
| wrn_40_2-MobileNetV2-simkd | wrn_40_2 -> MobileNetV2 | SimKD | 67.22 | defaults |
| vgg13-MobileNetV2-simkd | vgg13 -> MobileNetV2 | SimKD | 67.32 | defaults |
| ResNet50-MobileNetV2-simkd | ResNet50 -> MobileNetV2 | SimKD | 67.24 | defaults |
| resnet32x4-ShuffleV2-catkd | resnet32x4 -> ShuffleV2 | CAT-KD | 72.98 | defaults |
| resnet32x4-wrn_16_2-catkd | resnet32x4 -> wrn_16_2 | CAT-KD | 73.87 | defaults |
| resnet32x4-wrn_40_2-catkd | resnet32x4 -> wrn_40_2 | CAT-KD | 76.74 | defaults |
| wrn_40_2-resnet8x4-catkd | wrn_40_2 -> resnet8x4 | CAT-KD | 72.65 | defaults |
| wrn_40_2-MobileNetV2-catkd | wrn_40_2 -> MobileNetV2 | CAT-KD | 65.29 | defaults |
| vgg13-MobileNetV2-catkd | vgg13 -> MobileNetV2 | CAT-KD | 65.78 | defaults |
| ResNet50-MobileNetV2-catkd | ResNet50 -> MobileNetV2 | CAT-KD | 64.92 | defaults |
"""

from experiments.configs import common

TABLE = 'seed000_table1'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
