r"""Seed 000 Table 4: KD weight sweep of zKD+Ours (resnet32x4 -> resnet8x4, w_ce 1).
Seed 000: one run per cell; w_ce 1 (not zKD+Ours's usual 0.1).
Published statistic: best epoch, one run per cell.

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed000_table4.py:w0.9 \
      --workdir=/tmp/seed000_table4/w0.9

The whole table (1 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed000_table4 --workdir=/tmp/seed000_table4
  python -m experiments.sweep --table=seed000_table4 --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | epoch | settings |
|---|---|---|---|---|---|
| w0.9 | resnet32x4 -> resnet8x4 | zKD+Ours, w_kd 0.9 | 73.32 | best | published |
| w3 | resnet32x4 -> resnet8x4 | zKD+Ours, w_kd 3 | 73.42 | best | published |
| w6 | resnet32x4 -> resnet8x4 | zKD+Ours, w_kd 6 | 74.24 | best | published |
| w9 | resnet32x4 -> resnet8x4 | zKD+Ours, w_kd 9 | 75.90 | best | published |
| w12 | resnet32x4 -> resnet8x4 | zKD+Ours, w_kd 12 | 76.27 | best | published |
| w15 | resnet32x4 -> resnet8x4 | zKD+Ours, w_kd 15 | 76.14 | best | published |
| w18 | resnet32x4 -> resnet8x4 | zKD+Ours, w_kd 18 | 76.38 | best | published |
"""

from experiments.configs import common

TABLE = 'seed000_table4'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
