r"""Seed 002 Table 5: ImageNet top-1, ResNet34 -> ResNet18 and ResNet50 -> MobileNetV1.
Seed 002 also lists SRRL, KD++, NKD and KD-Zero from other codebases: not runnable here.
Published statistic: best epoch, single ImageNet runs (each row as its own paper reports it).

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.imagenet --config=experiments/configs/seed002_table5.py:resnet34-resnet18-kd \
      --workdir=/tmp/seed002_table5/resnet34-resnet18-kd

The whole table (1 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed002_table5 --workdir=/tmp/seed002_table5
  python -m experiments.sweep --table=seed002_table5 --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | epoch | settings |
|---|---|---|---|---|---|
| resnet34-resnet18-kd | resnet34 -> resnet18 | KD | 70.66 | best | published [1] |
| resnet50-MobileNetV1-kd | resnet50 -> MobileNetV1 | KD | 70.50 | best | published |
| resnet34-resnet18-crd | resnet34 -> resnet18 | CRD | 71.17 | best | published |
| resnet50-MobileNetV1-crd | resnet50 -> MobileNetV1 | CRD | 71.37 | best | published |
| resnet34-resnet18-reviewkd | resnet34 -> resnet18 | ReviewKD | 71.61 | best | published |
| resnet50-MobileNetV1-reviewkd | resnet50 -> MobileNetV1 | ReviewKD | 72.56 | best | published |
| resnet34-resnet18-itrd | resnet34 -> resnet18 | ITRD | 71.68 | best | published |
| resnet34-resnet18-dkd | resnet34 -> resnet18 | DKD | 71.70 | best | published |
| resnet50-MobileNetV1-dkd | resnet50 -> MobileNetV1 | DKD | 72.05 | best | published |
| resnet34-resnet18-dist | resnet34 -> resnet18 | DIST | 72.07 | best | published |
| resnet50-MobileNetV1-dist | resnet50 -> MobileNetV1 | DIST | 73.24 | best | published |
| resnet34-resnet18-ctkd | resnet34 -> resnet18 | CTKD | 71.51 | best | published |
| resnet34-resnet18-wttm | resnet34 -> resnet18 | WTTM | 72.19 | best | published |
| resnet50-MobileNetV1-wttm | resnet50 -> MobileNetV1 | WTTM | 73.09 | best | published |

[1] 70.66 is the CRD paper's ImageNet KD result (Tian et al., ICLR 2020, top-1 error 29.34), as
    ReviewKD's and DKD's ImageNet tables quote it (mdistiller's own KD is 71.03); CRD released no
    ImageNet code (HobbitLong/RepDistiller is CIFAR-only), so kdjax runs mdistiller's ImageNet KD
    recipe for it: its settings are uncertain
"""

from experiments.configs import common

TABLE = 'seed002_table5'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
