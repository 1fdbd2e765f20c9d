r"""Seed 002 Table 7: ImageNet ResNet-18 distilled from ResNet-34/50/101/152.
Teachers: the torchvision ImageNet weights (resnet101 and resnet152 too).

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed002_table7.py:resnet34-resnet18-kd \
      --workdir=/tmp/seed002_table7/resnet34-resnet18-kd

The whole table (1 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed002_table7 --workdir=/tmp/seed002_table7
  python -m experiments.sweep --table=seed002_table7 --show

settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | settings |
|---|---|---|---|---|
| resnet34-resnet18-kd | resnet34 -> resnet18 | KD | 71.21 | published |
| resnet50-resnet18-kd | resnet50 -> resnet18 | KD | 71.35 | published |
| resnet101-resnet18-kd | resnet101 -> resnet18 | KD | 71.09 | published |
| resnet152-resnet18-kd | resnet152 -> resnet18 | KD | 71.12 | published |
| resnet34-resnet18-dist | resnet34 -> resnet18 | DIST | 72.07 | published |
| resnet50-resnet18-dist | resnet50 -> resnet18 | DIST | 72.12 | published |
| resnet101-resnet18-dist | resnet101 -> resnet18 | DIST | 72.08 | published |
| resnet152-resnet18-dist | resnet152 -> resnet18 | DIST | 72.24 | published |
| resnet34-resnet18-wttm | resnet34 -> resnet18 | WTTM | 72.19 | published |
| resnet50-resnet18-wttm | resnet50 -> resnet18 | WTTM | 72.26 | defaults |
| resnet101-resnet18-wttm | resnet101 -> resnet18 | WTTM | 72.34 | defaults |
| resnet152-resnet18-wttm | resnet152 -> resnet18 | WTTM | 72.39 | defaults |
"""

from experiments.configs import common

TABLE = 'seed002_table7'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
