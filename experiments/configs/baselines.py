r"""Teachers and students trained from scratch with cross-entropy (CIFAR-100).
Published statistic: last epoch: the CRD paper's Teacher / Student rows (the released teachers are
ckpt_epoch_240), which the seeds copy.

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/baselines.py:resnet56-ce \
      --workdir=/tmp/baselines/resnet56-ce

The whole table (1 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=baselines --workdir=/tmp/baselines
  python -m experiments.sweep --table=baselines --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | epoch | settings |
|---|---|---|---|---|---|
| resnet56-ce | resnet56 | teacher from scratch | 72.34 | last | published |
| resnet110-ce | resnet110 | teacher from scratch | 74.31 | last | published |
| resnet32x4-ce | resnet32x4 | teacher from scratch | 79.42 | last | published |
| wrn_40_2-ce | wrn_40_2 | teacher from scratch | 75.61 | last | published |
| vgg13-ce | vgg13 | teacher from scratch | 74.64 | last | published |
| ResNet50-ce | ResNet50 | teacher from scratch | 79.34 | last | published |
| wrn_28_2-ce | wrn_28_2 | teacher from scratch | 75.45 | last | published |
| wrn_16_4-ce | wrn_16_4 | teacher from scratch | 77.51 | last | published |
| wrn_28_4-ce | wrn_28_4 | teacher from scratch | 78.60 | last | published |
| resnet20-ce | resnet20 | student from scratch | 69.06 | last | published |
| resnet32-ce | resnet32 | student from scratch | 71.14 | last | published |
| resnet8x4-ce | resnet8x4 | student from scratch | 72.50 | last | published |
| wrn_16_2-ce | wrn_16_2 | student from scratch | 73.26 | last | published |
| wrn_40_1-ce | wrn_40_1 | student from scratch | 71.98 | last | published |
| vgg8-ce | vgg8 | student from scratch | 70.36 | last | published |
| MobileNetV2-ce | MobileNetV2 | student from scratch | 64.60 | last | published |
| ShuffleV1-ce | ShuffleV1 | student from scratch | 70.50 | last | published |
| ShuffleV2-ce | ShuffleV2 | student from scratch | 71.82 | last | published |
"""

from experiments.configs import common

TABLE = 'baselines'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
