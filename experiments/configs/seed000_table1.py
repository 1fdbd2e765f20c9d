r"""Seed 000 Table 1: max-logit temperature and re-run baselines, cross-family pairs.
Seed 000: one run per cell; it trained its own teachers and students.
Published statistic: best epoch, one run per cell.

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed000_table1.py:resnet32x4-ShuffleV2-kd_ls \
      --workdir=/tmp/seed000_table1/resnet32x4-ShuffleV2-kd_ls

The whole table (1 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed000_table1 --workdir=/tmp/seed000_table1
  python -m experiments.sweep --table=seed000_table1 --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | epoch | settings |
|---|---|---|---|---|---|
| resnet32x4-ShuffleV2-kd_ls | resnet32x4 -> ShuffleV2 | zKD | 76.62 | best | published |
| resnet32x4-ShuffleV2-ctkd_ls | resnet32x4 -> ShuffleV2 | zCTKD | 76.18 | best | published |
| resnet32x4-ShuffleV2-kd_maxlogit | resnet32x4 -> ShuffleV2 | zKD+Ours | 76.52 | best | published |
| resnet32x4-ShuffleV2-dkd_ls | resnet32x4 -> ShuffleV2 | zDKD | 76.41 | best | published |
| resnet32x4-ShuffleV2-dkd_maxlogit | resnet32x4 -> ShuffleV2 | zDKD+Ours | 75.96 | best | published |
| resnet32x4-ShuffleV2-ttm | resnet32x4 -> ShuffleV2 | TTM | 75.39 | best | published |
| resnet32x4-wrn_16_2-kd_ls | resnet32x4 -> wrn_16_2 | zKD | 75.05 | best | published |
| resnet32x4-wrn_16_2-ctkd_ls | resnet32x4 -> wrn_16_2 | zCTKD | 75.20 | best | published |
| resnet32x4-wrn_16_2-kd_maxlogit | resnet32x4 -> wrn_16_2 | zKD+Ours | 75.56 | best | published |
| resnet32x4-wrn_16_2-dkd_ls | resnet32x4 -> wrn_16_2 | zDKD | 75.72 | best | published |
| resnet32x4-wrn_16_2-dkd_maxlogit | resnet32x4 -> wrn_16_2 | zDKD+Ours | 76.05 | best | published |
| resnet32x4-wrn_16_2-ttm | resnet32x4 -> wrn_16_2 | TTM | 75.68 | best | published |
| resnet32x4-wrn_40_2-kd_ls | resnet32x4 -> wrn_40_2 | zKD | 78.45 | best | published |
| resnet32x4-wrn_40_2-ctkd_ls | resnet32x4 -> wrn_40_2 | zCTKD | 77.91 | best | published |
| resnet32x4-wrn_40_2-kd_maxlogit | resnet32x4 -> wrn_40_2 | zKD+Ours | 78.41 | best | published |
| resnet32x4-wrn_40_2-dkd_ls | resnet32x4 -> wrn_40_2 | zDKD | 79.13 | best | published |
| resnet32x4-wrn_40_2-dkd_maxlogit | resnet32x4 -> wrn_40_2 | zDKD+Ours | 78.86 | best | published |
| resnet32x4-wrn_40_2-ttm | resnet32x4 -> wrn_40_2 | TTM | 77.96 | best | published |
| wrn_40_2-resnet8x4-kd_ls | wrn_40_2 -> resnet8x4 | zKD | 76.53 | best | published |
| wrn_40_2-resnet8x4-ctkd_ls | wrn_40_2 -> resnet8x4 | zCTKD | 77.01 | best | published |
| wrn_40_2-resnet8x4-kd_maxlogit | wrn_40_2 -> resnet8x4 | zKD+Ours | 75.02 | best | published |
| wrn_40_2-resnet8x4-dkd_ls | wrn_40_2 -> resnet8x4 | zDKD | 74.55 | best | published |
| wrn_40_2-resnet8x4-dkd_maxlogit | wrn_40_2 -> resnet8x4 | zDKD+Ours | 74.82 | best | published |
| wrn_40_2-resnet8x4-ttm | wrn_40_2 -> resnet8x4 | TTM | 75.93 | best | published |
| wrn_40_2-MobileNetV2-kd_ls | wrn_40_2 -> MobileNetV2 | zKD | 69.39 | best | published |
| wrn_40_2-MobileNetV2-ctkd_ls | wrn_40_2 -> MobileNetV2 | zCTKD | 68.62 | best | published |
| wrn_40_2-MobileNetV2-kd_maxlogit | wrn_40_2 -> MobileNetV2 | zKD+Ours | 69.89 | best | published |
| wrn_40_2-MobileNetV2-dkd_ls | wrn_40_2 -> MobileNetV2 | zDKD | 68.66 | best | published |
| wrn_40_2-MobileNetV2-dkd_maxlogit | wrn_40_2 -> MobileNetV2 | zDKD+Ours | 68.95 | best | published |
| wrn_40_2-MobileNetV2-ttm | wrn_40_2 -> MobileNetV2 | TTM | 68.18 | best | published |
| vgg13-MobileNetV2-kd_ls | vgg13 -> MobileNetV2 | zKD | 69.79 | best | published |
| vgg13-MobileNetV2-ctkd_ls | vgg13 -> MobileNetV2 | zCTKD | 69.32 | best | published |
| vgg13-MobileNetV2-kd_maxlogit | vgg13 -> MobileNetV2 | zKD+Ours | 69.47 | best | published |
| vgg13-MobileNetV2-dkd_ls | vgg13 -> MobileNetV2 | zDKD | 69.04 | best | published |
| vgg13-MobileNetV2-dkd_maxlogit | vgg13 -> MobileNetV2 | zDKD+Ours | 68.44 | best | published |
| vgg13-MobileNetV2-ttm | vgg13 -> MobileNetV2 | TTM | 67.91 | best | published |
| ResNet50-MobileNetV2-kd_ls | ResNet50 -> MobileNetV2 | zKD | 69.21 | best | published |
| ResNet50-MobileNetV2-ctkd_ls | ResNet50 -> MobileNetV2 | zCTKD | 69.19 | best | published |
| ResNet50-MobileNetV2-kd_maxlogit | ResNet50 -> MobileNetV2 | zKD+Ours | 70.11 | best | published |
| ResNet50-MobileNetV2-dkd_ls | ResNet50 -> MobileNetV2 | zDKD | 69.19 | best | published |
| ResNet50-MobileNetV2-dkd_maxlogit | ResNet50 -> MobileNetV2 | zDKD+Ours | 69.78 | best | published |
| ResNet50-MobileNetV2-ttm | ResNet50 -> MobileNetV2 | TTM | 67.80 | best | published |
| resnet32x4-ShuffleV2-fitnet | resnet32x4 -> ShuffleV2 | FitNet | 74.15 | best | defaults |
| resnet32x4-wrn_16_2-fitnet | resnet32x4 -> wrn_16_2 | FitNet | 73.97 | best | defaults |
| resnet32x4-wrn_40_2-fitnet | resnet32x4 -> wrn_40_2 | FitNet | 76.75 | best | defaults |
| wrn_40_2-resnet8x4-fitnet | wrn_40_2 -> resnet8x4 | FitNet | 73.30 | best | defaults |
| wrn_40_2-MobileNetV2-fitnet | wrn_40_2 -> MobileNetV2 | FitNet | 65.66 | best | defaults |
| vgg13-MobileNetV2-fitnet | vgg13 -> MobileNetV2 | FitNet | 64.87 | best | defaults |
| ResNet50-MobileNetV2-fitnet | ResNet50 -> MobileNetV2 | FitNet | 64.59 | best | defaults |
| resnet32x4-ShuffleV2-at | resnet32x4 -> ShuffleV2 | AT | 73.27 | best | defaults |
| resnet32x4-wrn_16_2-at | resnet32x4 -> wrn_16_2 | AT | 74.33 | best | defaults |
| resnet32x4-wrn_40_2-at | resnet32x4 -> wrn_40_2 | AT | 77.44 | best | defaults |
| wrn_40_2-resnet8x4-at | wrn_40_2 -> resnet8x4 | AT | 73.92 | best | defaults |
| wrn_40_2-MobileNetV2-at | wrn_40_2 -> MobileNetV2 | AT | 65.85 | best | defaults |
| vgg13-MobileNetV2-at | vgg13 -> MobileNetV2 | AT | 60.65 | best | defaults |
| ResNet50-MobileNetV2-at | ResNet50 -> MobileNetV2 | AT | 57.48 | best | defaults |
| resnet32x4-ShuffleV2-rkd | resnet32x4 -> ShuffleV2 | RKD | 73.84 | best | defaults |
| resnet32x4-wrn_16_2-rkd | resnet32x4 -> wrn_16_2 | RKD | 73.20 | best | defaults |
| resnet32x4-wrn_40_2-rkd | resnet32x4 -> wrn_40_2 | RKD | 76.32 | best | defaults |
| wrn_40_2-resnet8x4-rkd | wrn_40_2 -> resnet8x4 | RKD | 72.66 | best | defaults |
| wrn_40_2-MobileNetV2-rkd | wrn_40_2 -> MobileNetV2 | RKD | 65.24 | best | defaults |
| vgg13-MobileNetV2-rkd | vgg13 -> MobileNetV2 | RKD | 65.84 | best | defaults |
| ResNet50-MobileNetV2-rkd | ResNet50 -> MobileNetV2 | RKD | 65.43 | best | defaults |
| resnet32x4-ShuffleV2-crd | resnet32x4 -> ShuffleV2 | CRD | 76.14 | best | defaults |
| resnet32x4-wrn_16_2-crd | resnet32x4 -> wrn_16_2 | CRD | 75.68 | best | defaults |
| resnet32x4-wrn_40_2-crd | resnet32x4 -> wrn_40_2 | CRD | 78.33 | best | defaults |
| wrn_40_2-resnet8x4-crd | wrn_40_2 -> resnet8x4 | CRD | 75.14 | best | defaults |
| wrn_40_2-MobileNetV2-crd | wrn_40_2 -> MobileNetV2 | CRD | 69.91 | best | defaults |
| vgg13-MobileNetV2-crd | vgg13 -> MobileNetV2 | CRD | 69.40 | best | defaults |
| ResNet50-MobileNetV2-crd | ResNet50 -> MobileNetV2 | CRD | 69.32 | best | defaults |
| resnet32x4-ShuffleV2-reviewkd | resnet32x4 -> ShuffleV2 | ReviewKD | 74.64 | best | defaults |
| resnet32x4-wrn_16_2-reviewkd | resnet32x4 -> wrn_16_2 | ReviewKD | 73.89 | best | defaults |
| resnet32x4-wrn_40_2-reviewkd | resnet32x4 -> wrn_40_2 | ReviewKD | 77.12 | best | defaults |
| wrn_40_2-resnet8x4-reviewkd | wrn_40_2 -> resnet8x4 | ReviewKD | 73.51 | best | defaults |
| wrn_40_2-MobileNetV2-reviewkd | wrn_40_2 -> MobileNetV2 | ReviewKD | 68.50 | best | defaults |
| vgg13-MobileNetV2-reviewkd | vgg13 -> MobileNetV2 | ReviewKD | 65.74 | best | defaults |
| ResNet50-MobileNetV2-reviewkd | ResNet50 -> MobileNetV2 | ReviewKD | 63.41 | best | defaults |
| resnet32x4-ShuffleV2-simkd | resnet32x4 -> ShuffleV2 | SimKD | 76.14 | best | defaults |
| resnet32x4-wrn_16_2-simkd | resnet32x4 -> wrn_16_2 | SimKD | 75.36 | best | defaults |
| resnet32x4-wrn_40_2-simkd | resnet32x4 -> wrn_40_2 | SimKD | 78.29 | best | defaults |
| wrn_40_2-resnet8x4-simkd | wrn_40_2 -> resnet8x4 | SimKD | 74.39 | best | defaults |
| wrn_40_2-MobileNetV2-simkd | wrn_40_2 -> MobileNetV2 | SimKD | 67.22 | best | defaults |
| vgg13-MobileNetV2-simkd | vgg13 -> MobileNetV2 | SimKD | 67.32 | best | defaults |
| ResNet50-MobileNetV2-simkd | ResNet50 -> MobileNetV2 | SimKD | 67.24 | best | defaults |
| resnet32x4-ShuffleV2-catkd | resnet32x4 -> ShuffleV2 | CAT-KD | 72.98 | best | defaults |
| resnet32x4-wrn_16_2-catkd | resnet32x4 -> wrn_16_2 | CAT-KD | 73.87 | best | defaults |
| resnet32x4-wrn_40_2-catkd | resnet32x4 -> wrn_40_2 | CAT-KD | 76.74 | best | defaults |
| wrn_40_2-resnet8x4-catkd | wrn_40_2 -> resnet8x4 | CAT-KD | 72.65 | best | defaults |
| wrn_40_2-MobileNetV2-catkd | wrn_40_2 -> MobileNetV2 | CAT-KD | 65.29 | best | defaults |
| vgg13-MobileNetV2-catkd | vgg13 -> MobileNetV2 | CAT-KD | 65.78 | best | defaults |
| ResNet50-MobileNetV2-catkd | ResNet50 -> MobileNetV2 | CAT-KD | 64.92 | best | defaults |
"""

from experiments.configs import common

TABLE = 'seed000_table1'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
