r"""Seed 002 Table 2: WTTM combined with CRD and ITRD, identical architectures.
Published statistic: best epoch, mean of 5 runs (3 for ITRD and WTTM+ITRD).

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed002_table2.py:wrn_40_2-wrn_16_2-itrd \
      --workdir=/tmp/seed002_table2/wrn_40_2-wrn_16_2-itrd

The whole table (3/5 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed002_table2 --workdir=/tmp/seed002_table2
  python -m experiments.sweep --table=seed002_table2 --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | epoch | settings |
|---|---|---|---|---|---|
| wrn_40_2-wrn_16_2-itrd | wrn_40_2 -> wrn_16_2 | ITRD | 76.12 | best | published |
| wrn_40_2-wrn_40_1-itrd | wrn_40_2 -> wrn_40_1 | ITRD | 75.18 | best | published |
| resnet56-resnet20-itrd | resnet56 -> resnet20 | ITRD | 71.47 | best | published |
| resnet110-resnet20-itrd | resnet110 -> resnet20 | ITRD | 71.99 | best | published |
| resnet110-resnet32-itrd | resnet110 -> resnet32 | ITRD | 74.26 | best | published |
| resnet32x4-resnet8x4-itrd | resnet32x4 -> resnet8x4 | ITRD | 76.19 | best | published |
| vgg13-vgg8-itrd | vgg13 -> vgg8 | ITRD | 74.93 | best | published |
| wrn_40_2-wrn_16_2-wttm+crd | wrn_40_2 -> wrn_16_2 | WTTM+CRD | 76.61 | best | published |
| wrn_40_2-wrn_40_1-wttm+crd | wrn_40_2 -> wrn_40_1 | WTTM+CRD | 74.94 | best | published |
| resnet56-resnet20-wttm+crd | resnet56 -> resnet20 | WTTM+CRD | 72.20 | best | published |
| resnet110-resnet20-wttm+crd | resnet110 -> resnet20 | WTTM+CRD | 72.13 | best | published |
| resnet110-resnet32-wttm+crd | resnet110 -> resnet32 | WTTM+CRD | 74.52 | best | published |
| resnet32x4-resnet8x4-wttm+crd | resnet32x4 -> resnet8x4 | WTTM+CRD | 76.65 | best | published |
| vgg13-vgg8-wttm+crd | vgg13 -> vgg8 | WTTM+CRD | 74.71 | best | published |
| wrn_40_2-wrn_16_2-wttm+itrd | wrn_40_2 -> wrn_16_2 | WTTM+ITRD | 76.65 | best | published |
| wrn_40_2-wrn_40_1-wttm+itrd | wrn_40_2 -> wrn_40_1 | WTTM+ITRD | 75.34 | best | published |
| resnet56-resnet20-wttm+itrd | resnet56 -> resnet20 | WTTM+ITRD | 72.16 | best | published |
| resnet110-resnet20-wttm+itrd | resnet110 -> resnet20 | WTTM+ITRD | 72.20 | best | published |
| resnet110-resnet32-wttm+itrd | resnet110 -> resnet32 | WTTM+ITRD | 74.36 | best | published |
| resnet32x4-resnet8x4-wttm+itrd | resnet32x4 -> resnet8x4 | WTTM+ITRD | 77.36 | best | published |
| vgg13-vgg8-wttm+itrd | vgg13 -> vgg8 | WTTM+ITRD | 75.13 | best | published |
"""

from experiments.configs import common

TABLE = 'seed002_table2'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
