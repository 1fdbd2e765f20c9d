r"""Seed 001 Table 3 (and seed 002's WTTM): ImageNet ResNet34 -> ResNet18 and ResNet50 -> MobileNetV1 (top-1 / top-5).
Top-5 is not published for WTTM.
Published statistic: best epoch, single ImageNet runs; the ResNet teacher / student rows are the
torchvision checkpoints' accuracies (their final epoch).

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.imagenet --config=experiments/configs/imagenet.py:resnet34-resnet18-kd \
      --workdir=/tmp/imagenet/resnet34-resnet18-kd

The whole table (1 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=imagenet --workdir=/tmp/imagenet
  python -m experiments.sweep --table=imagenet --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | top-5 | epoch | settings |
|---|---|---|---|---|---|---|
| resnet34-resnet18-kd | resnet34 -> resnet18 | KD | 71.03 | 90.05 | best | published |
| resnet34-resnet18-kd_ls | resnet34 -> resnet18 | KD+LS | 71.42 | 90.29 | best | published |
| resnet34-resnet18-ctkd | resnet34 -> resnet18 | CTKD | 71.38 | 90.27 | best | published |
| resnet34-resnet18-ctkd_ls | resnet34 -> resnet18 | CTKD+LS | 71.81 | 90.46 | best | published |
| resnet34-resnet18-dkd | resnet34 -> resnet18 | DKD | 71.70 | 90.41 | best | published |
| resnet34-resnet18-dkd_ls | resnet34 -> resnet18 | DKD+LS | 71.88 | 90.58 | best | published |
| resnet34-resnet18-mlkd | resnet34 -> resnet18 | MLKD | 71.90 | 90.55 | best | published |
| resnet34-resnet18-mlkd_ls | resnet34 -> resnet18 | MLKD+LS | 72.08 | 90.74 | best | published |
| resnet34-resnet18-wttm | resnet34 -> resnet18 | WTTM | 72.19 | | best | published |
| resnet50-MobileNetV1-kd | resnet50 -> MobileNetV1 | KD | 70.50 | 89.80 | best | published |
| resnet50-MobileNetV1-kd_ls | resnet50 -> MobileNetV1 | KD+LS | 72.18 | 90.80 | best | published |
| resnet50-MobileNetV1-ctkd | resnet50 -> MobileNetV1 | CTKD | 71.16 | 90.11 | best | published |
| resnet50-MobileNetV1-ctkd_ls | resnet50 -> MobileNetV1 | CTKD+LS | 72.92 | 91.25 | best | published |
| resnet50-MobileNetV1-dkd | resnet50 -> MobileNetV1 | DKD | 72.05 | 91.05 | best | published |
| resnet50-MobileNetV1-dkd_ls | resnet50 -> MobileNetV1 | DKD+LS | 72.85 | 91.23 | best | published |
| resnet50-MobileNetV1-mlkd | resnet50 -> MobileNetV1 | MLKD | 73.01 | 91.42 | best | published |
| resnet50-MobileNetV1-mlkd_ls | resnet50 -> MobileNetV1 | MLKD+LS | 73.22 | 91.59 | best | published |
| resnet50-MobileNetV1-wttm | resnet50 -> MobileNetV1 | WTTM | 73.09 | | best | published |
| resnet34-resnet18-at | resnet34 -> resnet18 | AT | 70.69 | 90.01 | best | published [1] |
| resnet50-MobileNetV1-at | resnet50 -> MobileNetV1 | AT | 69.56 | 89.33 | best | published [1] |
| resnet34-resnet18-ofd | resnet34 -> resnet18 | OFD | 70.81 | 89.98 | best | published [1] |
| resnet50-MobileNetV1-ofd | resnet50 -> MobileNetV1 | OFD | 71.25 | 90.34 | best | published [1] |
| resnet34-resnet18-crd | resnet34 -> resnet18 | CRD | 71.17 | 90.13 | best | published [1] |
| resnet50-MobileNetV1-crd | resnet50 -> MobileNetV1 | CRD | 71.37 | 90.41 | best | published [1] |
| resnet34-resnet18-reviewkd | resnet34 -> resnet18 | ReviewKD | 71.61 | 90.51 | best | published [1] |
| resnet50-MobileNetV1-reviewkd | resnet50 -> MobileNetV1 | ReviewKD | 72.56 | 91.00 | best | published [1] |
| resnet34-resnet18-simkd | resnet34 -> resnet18 | SimKD | 71.59 | 90.48 | best | published [1] |
| resnet50-MobileNetV1-simkd | resnet50 -> MobileNetV1 | SimKD | 72.25 | 90.86 | best | published [1] |
| resnet34-resnet18-catkd | resnet34 -> resnet18 | CAT-KD | 71.26 | 90.45 | best | published [1] |
| resnet50-MobileNetV1-catkd | resnet50 -> MobileNetV1 | CAT-KD | 72.24 | 91.13 | best | published [1] |
| resnet34-ce | resnet34 | Teacher | 73.31 | | last | published [2] |
| resnet18-ce | resnet18 | Student | 69.75 | | last | published |
| resnet50-ce | resnet50 | Teacher | 76.16 | | last | published [2] |
| MobileNetV1-ce | MobileNetV1 | Student | 68.87 | | best | published |

[1] a baseline row of the paper, copied there from its own codebase's publication; the settings are
    that codebase's
[2] the torchvision IMAGENET1K_V1 checkpoint's accuracy (the teacher the cells distil from); running
    the cell trains the model from scratch with the table's ImageNet protocol
"""

from experiments.configs import common

TABLE = 'imagenet'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
