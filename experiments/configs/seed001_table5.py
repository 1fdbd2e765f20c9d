r"""Seed 001 Table 5: teachers of varied capacity distilled into wrn_16_2.
No configuration or log exists for these pairs but wrn_40_2 -> wrn_16_2; the other columns' DKD beta
and LS settings are chosen by analogy (marked default).
Published statistic: best epoch, mean of 4 runs; KD wrn_40_2 -> wrn_16_2 is the CRD paper's number:
last epoch.

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed001_table5.py:vgg13-wrn_16_2-kd \
      --workdir=/tmp/seed001_table5/vgg13-wrn_16_2-kd

The whole table (4 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed001_table5 --workdir=/tmp/seed001_table5
  python -m experiments.sweep --table=seed001_table5 --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | epoch | settings |
|---|---|---|---|---|---|
| vgg13-wrn_16_2-kd | vgg13 -> wrn_16_2 | KD | 74.93 | best | published |
| wrn_28_2-wrn_16_2-kd | wrn_28_2 -> wrn_16_2 | KD | 75.37 | best | published |
| wrn_40_2-wrn_16_2-kd | wrn_40_2 -> wrn_16_2 | KD | 74.92 | last | published |
| wrn_16_4-wrn_16_2-kd | wrn_16_4 -> wrn_16_2 | KD | 75.79 | best | published |
| wrn_28_4-wrn_16_2-kd | wrn_28_4 -> wrn_16_2 | KD | 75.04 | best | published |
| ResNet50-wrn_16_2-kd | ResNet50 -> wrn_16_2 | KD | 75.36 | best | published |
| vgg13-wrn_16_2-kd_ls | vgg13 -> wrn_16_2 | KD+LS | 75.03 | best | defaults |
| wrn_28_2-wrn_16_2-kd_ls | wrn_28_2 -> wrn_16_2 | KD+LS | 76.32 | best | defaults |
| wrn_40_2-wrn_16_2-kd_ls | wrn_40_2 -> wrn_16_2 | KD+LS | 76.11 | best | published |
| wrn_16_4-wrn_16_2-kd_ls | wrn_16_4 -> wrn_16_2 | KD+LS | 76.72 | best | defaults |
| wrn_28_4-wrn_16_2-kd_ls | wrn_28_4 -> wrn_16_2 | KD+LS | 75.77 | best | defaults |
| ResNet50-wrn_16_2-kd_ls | ResNet50 -> wrn_16_2 | KD+LS | 76.24 | best | defaults |
| vgg13-wrn_16_2-dkd | vgg13 -> wrn_16_2 | DKD | 75.45 | best | defaults |
| wrn_28_2-wrn_16_2-dkd | wrn_28_2 -> wrn_16_2 | DKD | 75.92 | best | defaults |
| wrn_40_2-wrn_16_2-dkd | wrn_40_2 -> wrn_16_2 | DKD | 76.24 | best | published |
| wrn_16_4-wrn_16_2-dkd | wrn_16_4 -> wrn_16_2 | DKD | 76.00 | best | defaults |
| wrn_28_4-wrn_16_2-dkd | wrn_28_4 -> wrn_16_2 | DKD | 76.45 | best | defaults |
| ResNet50-wrn_16_2-dkd | ResNet50 -> wrn_16_2 | DKD | 76.60 | best | defaults |
| vgg13-wrn_16_2-dkd_ls | vgg13 -> wrn_16_2 | DKD+LS | 75.56 | best | defaults |
| wrn_28_2-wrn_16_2-dkd_ls | wrn_28_2 -> wrn_16_2 | DKD+LS | 76.39 | best | defaults |
| wrn_40_2-wrn_16_2-dkd_ls | wrn_40_2 -> wrn_16_2 | DKD+LS | 76.39 | best | published |
| wrn_16_4-wrn_16_2-dkd_ls | wrn_16_4 -> wrn_16_2 | DKD+LS | 76.68 | best | defaults |
| wrn_28_4-wrn_16_2-dkd_ls | wrn_28_4 -> wrn_16_2 | DKD+LS | 76.67 | best | defaults |
| ResNet50-wrn_16_2-dkd_ls | ResNet50 -> wrn_16_2 | DKD+LS | 76.82 | best | defaults |
"""

from experiments.configs import common

TABLE = 'seed001_table5'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
