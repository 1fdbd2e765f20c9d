r"""Seed 002 Table 13: ImageNet, DeiT III-Small distilled into DeiT-Tiny (yzd-v/cls_KD).
Published statistic: best epoch, single ImageNet runs (zkxufo/TTM README; ViTKD and NKD+ViTKD as
yzd-v/cls_KD vitkd.md prints them).

One cell (add `,runlocal` for a two-step smoke run, `,teachers=DIR` for the released teachers):

  python -m experiments.imagenet --config=experiments/configs/seed002_table13.py:deit3_small_patch16_224-deit_tiny_patch16_224-kd \
      --workdir=/tmp/seed002_table13/deit3_small_patch16_224-deit_tiny_patch16_224-kd

The whole table (1 run(s) per cell, as published), then its measured-vs-published markdown; `--show` prints every cell's settings and their sources:

  python -m experiments.sweep --table=seed002_table13 --workdir=/tmp/seed002_table13
  python -m experiments.sweep --table=seed002_table13 --show

epoch: the statistic the published number is (best or last epoch; the sweep compares the same).
settings: "published" = every per-pair value comes from a reference config, log or the paper;
"defaults" = some value has no source for this pair and is a documented default (--show names it).

| cell | teacher -> student | column | top-1 | epoch | settings |
|---|---|---|---|---|---|
| deit3_small_patch16_224-deit_tiny_patch16_224-kd | deit3_small_patch16_224 -> deit_tiny_patch16_224 | KD | 76.01 | best | published |
| deit3_small_patch16_224-deit_tiny_patch16_224-vitkd | deit3_small_patch16_224 -> deit_tiny_patch16_224 | ViTKD | 76.06 | best | published |
| deit3_small_patch16_224-deit_tiny_patch16_224-nkd | deit3_small_patch16_224 -> deit_tiny_patch16_224 | NKD | 76.68 | best | published |
| deit3_small_patch16_224-deit_tiny_patch16_224-wttm | deit3_small_patch16_224 -> deit_tiny_patch16_224 | WTTM | 77.03 | best | defaults [1] |
| deit3_small_patch16_224-deit_tiny_patch16_224-nkd+vitkd | deit3_small_patch16_224 -> deit_tiny_patch16_224 | NKD+ViTKD | 77.78 | best | published |
| deit3_small_patch16_224-deit_tiny_patch16_224-wttm+vitkd | deit3_small_patch16_224 -> deit_tiny_patch16_224 | WTTM+ViTKD | 78.04 | best | defaults [1] |

[1] no WTTM (gamma, beta) is published for DeiT (seed 002, zkxufo/TTM): the ImageNet ResNet34 ->
    ResNet18 row, marked default
"""

from experiments.configs import common

TABLE = 'seed002_table13'


def get_cells() -> tuple[str, ...]:
  """The cells of this table, in the paper's order."""
  return common.cells(TABLE)


def get_config(arg: str | None = None):
  """The trainer config of `<cell>[,runlocal][,teachers=DIR]` (see experiments/configs/common.py)."""
  return common.get_config(TABLE, arg)
