"""ReviewKD (Chen et al., CVPR 2021) as mdistiller trains it, with the authors' weight per pair.

mdistiller's cfg.py and configs (CIFAR-100 resnet32x4 -> resnet8x4, ImageNet); the authors'
script (dvlab-research/ReviewKD) gives the other CIFAR pairs' weight.
"""

from __future__ import annotations

from kdjax.recipes.core import (CRD_REPO, DEFAULT, IN_MV1, IN_R18, LS_REPO, MDISTILLER,
                                PER_PAIR_RECIPES, SEED000_DEFAULT, SV1, SV2, TTM_REPO, W16_2, W40_1,
                                W40_2, R32x4, R8x4, Setting, register, sourced, table)
from kdjax.recipes.protocol import IN_SCHEDULE, IN_SCHEDULE_VALUES

REVIEWKD_REPO = 'dvlab-research/ReviewKD'
_REVIEWKD_MD_CFG = f'{MDISTILLER} mdistiller/engine/cfg.py (REVIEWKD: CE 1, WARMUP_EPOCHS 20, ' \
                   f'STU_PREACT False)'
_REVIEWKD_MID = f'{MDISTILLER} mdistiller/distillers/ReviewKD.py (mid = min(512, student ' \
                f'pooled width): hard-coded, MAX_MID_CHANNEL is never read)'
_REVIEWKD_CIFAR = f'{MDISTILLER} configs/cifar100/reviewkd.yaml (REVIEWKD_WEIGHT 5.0; ' \
                  f'{LS_REPO} configs/cifar100/reviewkd.yaml is the same)'
_IN_REVIEWKD = f'{MDISTILLER} configs/imagenet/r34_r18/reviewkd.yaml, r50_mv1/reviewkd.yaml'


def _reviewkd_settings(weight_source: str, cfg_source: str, mid_source: str,
                       weight: float = 5.0) -> dict[str, Setting]:
  return {'ce_weight': Setting(1.0, cfg_source), 'feature.weight': Setting(weight, weight_source),
          'reviewkd.warmup_epochs': Setting(20, cfg_source),
          'reviewkd.stu_preact': Setting(False, cfg_source),
          'reviewkd.max_mid_channel': Setting(512, mid_source)}


# ReviewKD's weight per CIFAR pair: mdistiller ships resnet32x4 -> resnet8x4 only; the authors'
# script gives the pairs of the paper's Table (their own trainer: batch 128, lr 0.1, Nesterov;
# kdjax keeps the mdistiller protocol and takes the weight).
_REVIEWKD_SCRIPT = f'{REVIEWKD_REPO} CIFAR-100/script/reviewKD.sh (--kd-loss-weight)'
REVIEWKD_WEIGHT = table('ReviewKD weight', ('feature.weight',), _REVIEWKD_SCRIPT, {
    (R32x4, R8x4): 5.0, (W40_2, W16_2): 5.0, (W40_2, W40_1): 5.0, (W40_2, SV1): 5.0,
    (R32x4, SV1): 5.0, (R32x4, SV2): 8.0, ('resnet56', 'resnet20'): 0.6,
    ('resnet110', 'resnet32'): 1.0,
}, fallback=((5.0,), f'{DEFAULT}: {_REVIEWKD_CIFAR}, its only CIFAR pair'),
    sources={(R32x4, R8x4): f'{_REVIEWKD_CIFAR} = {_REVIEWKD_SCRIPT}'})
IMAGENET_REVIEWKD_WEIGHT = table('ImageNet ReviewKD weight', ('feature.weight',), _IN_REVIEWKD, {
    IN_R18: 1.0, IN_MV1: 8.0},
    fallback=((1.0,), f'{DEFAULT}: {MDISTILLER} configs/imagenet/r34_r18/reviewkd.yaml'),
    sources={IN_R18: f'{MDISTILLER} configs/imagenet/r34_r18/reviewkd.yaml (REVIEWKD_WEIGHT 1.0)',
             IN_MV1: f'{MDISTILLER} configs/imagenet/r50_mv1/reviewkd.yaml (REVIEWKD_WEIGHT 8.0)'})

register('reviewkd', preset_source=f'{_REVIEWKD_CIFAR} + {_REVIEWKD_MD_CFG}', tables={
    **{recipe: (REVIEWKD_WEIGHT,) for recipe in PER_PAIR_RECIPES},
    'imagenet': (IMAGENET_REVIEWKD_WEIGHT,)}, settings={
    'seed001': _reviewkd_settings(_REVIEWKD_CIFAR, _REVIEWKD_MD_CFG, _REVIEWKD_MID),
    'seed002': _reviewkd_settings(
        f'{DEFAULT}: no ReviewKD in {CRD_REPO} / {TTM_REPO}; {_REVIEWKD_CIFAR}',
        f'{DEFAULT}: no ReviewKD in {CRD_REPO} / {TTM_REPO}; {_REVIEWKD_MD_CFG}',
        f'{DEFAULT}: no ReviewKD in {CRD_REPO} / {TTM_REPO}; {_REVIEWKD_MID}'),
    'seed000': _reviewkd_settings(SEED000_DEFAULT + _REVIEWKD_CIFAR,
                                  SEED000_DEFAULT + _REVIEWKD_MD_CFG,
                                  SEED000_DEFAULT + _REVIEWKD_MID),
    'imagenet': {**sourced(IN_SCHEDULE, IN_SCHEDULE_VALUES,
                           f'{_IN_REVIEWKD} SOLVER (batch 256, lr 0.1, 100 epochs, x0.1 at '
                           f'30/60/90, wd 1e-4)'),
                 'ce_weight': Setting(1.0, f'{_IN_REVIEWKD} (CE_WEIGHT 1.0)'),
                 'reviewkd.warmup_epochs': Setting(1, f'{_IN_REVIEWKD} (WARMUP_EPOCHS 1)'),
                 'reviewkd.stu_preact': Setting(True, f'{_IN_REVIEWKD} (STU_PREACT True)'),
                 'reviewkd.max_mid_channel': Setting(
                     512, f'{_REVIEWKD_MID}; r50_mv1/reviewkd.yaml\'s MAX_MID_CHANNEL 256 has '
                          f'no effect)')}})
