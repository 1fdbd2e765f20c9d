r"""Seed 002 Table 6: WTTM without the cross-entropy term.
Published statistic: best epoch, mean of 5 runs; "KD with CE" is the CRD paper's KD row: last epoch.

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed002_table6.py:wrn_40_2-wrn_16_2-kd \
      --workdir=/tmp/seed002_table6/wrn_40_2-wrn_16_2-kd

The whole table (5 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed002_table6 --workdir=/tmp/seed002_table6
  python -m experiments.sweep --table=seed002_table6 --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | epoch | settings |
|---|---|---|---|---|---|
| wrn_40_2-wrn_16_2-kd | wrn_40_2 -> wrn_16_2 | KD with CE | 74.92 | last | published |
| wrn_40_2-wrn_40_1-kd | wrn_40_2 -> wrn_40_1 | KD with CE | 73.54 | last | published |
| resnet56-resnet20-kd | resnet56 -> resnet20 | KD with CE | 70.66 | last | published |
| resnet110-resnet20-kd | resnet110 -> resnet20 | KD with CE | 70.67 | last | published |
| resnet110-resnet32-kd | resnet110 -> resnet32 | KD with CE | 73.08 | last | published |
| resnet32x4-resnet8x4-kd | resnet32x4 -> resnet8x4 | KD with CE | 73.33 | last | published |
| vgg13-vgg8-kd | vgg13 -> vgg8 | KD with CE | 72.98 | last | published |
| wrn_40_2-wrn_16_2-wttm_noce | wrn_40_2 -> wrn_16_2 | WTTM without CE | 75.11 | best | defaults |
| wrn_40_2-wrn_40_1-wttm_noce | wrn_40_2 -> wrn_40_1 | WTTM without CE | 73.16 | best | defaults |
| resnet56-resnet20-wttm_noce | resnet56 -> resnet20 | WTTM without CE | 70.95 | best | defaults |
| resnet110-resnet20-wttm_noce | resnet110 -> resnet20 | WTTM without CE | 70.71 | best | defaults |
| resnet110-resnet32-wttm_noce | resnet110 -> resnet32 | WTTM without CE | 73.21 | best | defaults |
| resnet32x4-resnet8x4-wttm_noce | resnet32x4 -> resnet8x4 | WTTM without CE | 72.94 | best | defaults |
| vgg13-vgg8-wttm_noce | vgg13 -> vgg8 | WTTM without CE | 74.04 | best | defaults |
"""

from experiments.configs import common

TABLE = 'seed002_table6'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
