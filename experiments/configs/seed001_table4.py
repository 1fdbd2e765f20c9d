r"""Seed 001 Table 4: KD weight x logit pre-process (resnet32x4 -> resnet8x4).
tau 2, w_ce 0.1 throughout; the column pre-process replaces LS's z-score (z = raw logits, z - mean =
centred, z / std = scaled, LS = z-score).
Published statistic: best epoch, mean of 4 runs.

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.cifar100 --config=experiments/configs/seed001_table4.py:none-w0.9 \
      --workdir=/tmp/seed001_table4/none-w0.9

The whole table (4 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed001_table4 --workdir=/tmp/seed001_table4
  python -m experiments.sweep --table=seed001_table4 --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | epoch | settings |
|---|---|---|---|---|---|
| none-w0.9 | resnet32x4 -> resnet8x4 | z, w_kd 0.9 | 73.60 | best | published |
| none-w3 | resnet32x4 -> resnet8x4 | z, w_kd 3 | 74.38 | best | published |
| none-w6 | resnet32x4 -> resnet8x4 | z, w_kd 6 | 74.45 | best | published |
| none-w9 | resnet32x4 -> resnet8x4 | z, w_kd 9 | 73.33 | best | published |
| none-w12 | resnet32x4 -> resnet8x4 | z, w_kd 12 | 68.29 | best | published |
| none-w15 | resnet32x4 -> resnet8x4 | z, w_kd 15 | 65.34 | best | published |
| none-w18 | resnet32x4 -> resnet8x4 | z, w_kd 18 | 63.45 | best | published |
| center-w0.9 | resnet32x4 -> resnet8x4 | z - mean, w_kd 0.9 | 73.37 | best | published |
| center-w3 | resnet32x4 -> resnet8x4 | z - mean, w_kd 3 | 74.33 | best | published |
| center-w6 | resnet32x4 -> resnet8x4 | z - mean, w_kd 6 | 74.82 | best | published |
| center-w9 | resnet32x4 -> resnet8x4 | z - mean, w_kd 9 | 73.94 | best | published |
| center-w12 | resnet32x4 -> resnet8x4 | z - mean, w_kd 12 | 71.56 | best | published |
| center-w15 | resnet32x4 -> resnet8x4 | z - mean, w_kd 15 | 62.01 | best | published |
| center-w18 | resnet32x4 -> resnet8x4 | z - mean, w_kd 18 | 61.31 | best | published |
| scale-w0.9 | resnet32x4 -> resnet8x4 | z / std, w_kd 0.9 | 73.79 | best | published |
| scale-w3 | resnet32x4 -> resnet8x4 | z / std, w_kd 3 | 75.86 | best | published |
| scale-w6 | resnet32x4 -> resnet8x4 | z / std, w_kd 6 | 76.44 | best | published |
| scale-w9 | resnet32x4 -> resnet8x4 | z / std, w_kd 9 | 76.30 | best | published |
| scale-w12 | resnet32x4 -> resnet8x4 | z / std, w_kd 12 | 76.49 | best | published |
| scale-w15 | resnet32x4 -> resnet8x4 | z / std, w_kd 15 | 76.42 | best | published |
| scale-w18 | resnet32x4 -> resnet8x4 | z / std, w_kd 18 | 76.18 | best | published |
| zscore-w0.9 | resnet32x4 -> resnet8x4 | LS, w_kd 0.9 | 74.14 | best | published |
| zscore-w3 | resnet32x4 -> resnet8x4 | LS, w_kd 3 | 76.11 | best | published |
| zscore-w6 | resnet32x4 -> resnet8x4 | LS, w_kd 6 | 76.56 | best | published |
| zscore-w9 | resnet32x4 -> resnet8x4 | LS, w_kd 9 | 76.62 | best | published |
| zscore-w12 | resnet32x4 -> resnet8x4 | LS, w_kd 12 | 76.56 | best | published |
| zscore-w15 | resnet32x4 -> resnet8x4 | LS, w_kd 15 | 76.61 | best | published |
| zscore-w18 | resnet32x4 -> resnet8x4 | LS, w_kd 18 | 76.33 | best | published |
"""

from experiments.configs import common

TABLE = 'seed001_table4'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
