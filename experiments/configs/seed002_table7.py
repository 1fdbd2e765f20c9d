r"""Seed 002 Table 7: ImageNet ResNet-18 distilled from ResNet-34/50/101/152.
Teachers: the torchvision ImageNet weights (resnet101 and resnet152 too).
Published statistic: best epoch, single ImageNet runs (DIST's README table); the ResNet rows are the
torchvision checkpoints' accuracies (their final epoch).

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.imagenet --config=experiments/configs/seed002_table7.py:resnet34-resnet18-kd \
      --workdir=/tmp/seed002_table7/resnet34-resnet18-kd

The whole table (1 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed002_table7 --workdir=/tmp/seed002_table7
  python -m experiments.sweep --table=seed002_table7 --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | epoch | settings |
|---|---|---|---|---|---|
| resnet34-resnet18-kd | resnet34 -> resnet18 | KD | 71.21 | best | published [1] |
| resnet50-resnet18-kd | resnet50 -> resnet18 | KD | 71.35 | best | published [1] |
| resnet101-resnet18-kd | resnet101 -> resnet18 | KD | 71.09 | best | published [1] |
| resnet152-resnet18-kd | resnet152 -> resnet18 | KD | 71.12 | best | published [1] |
| resnet34-resnet18-dist | resnet34 -> resnet18 | DIST | 72.07 | best | published |
| resnet50-resnet18-dist | resnet50 -> resnet18 | DIST | 72.12 | best | published |
| resnet101-resnet18-dist | resnet101 -> resnet18 | DIST | 72.08 | best | published |
| resnet152-resnet18-dist | resnet152 -> resnet18 | DIST | 72.24 | best | published |
| resnet34-resnet18-wttm | resnet34 -> resnet18 | WTTM | 72.19 | best | published |
| resnet50-resnet18-wttm | resnet50 -> resnet18 | WTTM | 72.26 | best | defaults |
| resnet101-resnet18-wttm | resnet101 -> resnet18 | WTTM | 72.34 | best | defaults |
| resnet152-resnet18-wttm | resnet152 -> resnet18 | WTTM | 72.39 | best | defaults |
| resnet34-ce | resnet34 | Teacher | 73.31 | last | published [3] |
| resnet50-ce | resnet50 | Teacher | 76.13 | last | published [3] |
| resnet101-ce | resnet101 | Teacher | 77.37 | last | published [3] |
| resnet152-ce | resnet152 | Teacher | 78.31 | last | published [3] |
| resnet18-ce | resnet18 | Student | 69.76 | last | published [2] |

[1] DIST's "KD (T=4)" (hunto/DIST_KD README), trained by hunto/image_classification_sota
    configs/strategies/distill/resnet_kdt4.yaml; not mdistiller's ImageNet KD recipe
[2] the student accuracy of the table seed 002 Table 7 reproduces: hunto/DIST_KD README, "Stronger
    teachers" (ResNet-18 (69.76); its teachers' 73.31 / 76.13 / 77.37 / 78.31 are the same)
[3] the torchvision IMAGENET1K_V1 checkpoint's accuracy (the teacher the cells distil from); running
    the cell trains the model from scratch with the table's ImageNet protocol
"""

from experiments.configs import common

TABLE = 'seed002_table7'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
