"""KD with logit standardization (Sun et al., CVPR 2024; seed 001): KD+LS per pair.

The LS variants of the other methods (DKD+LS, CTKD+LS, MLKD+LS) are beside their method
(``kdjax.recipes.dkd``, ``.ctkd``, ``.mlkd``); seed 000's zKD setting is in
``kdjax.recipes.maxlogit``.
"""

from __future__ import annotations

from kdjax.recipes.core import (DEFAULT, LS_REPO, MV2, PER_PAIR_RECIPES, R32x4, R8x4, SV2, W16_2,
                                W40_1, W40_2, PairTable, Setting, register)

LS_CFG = f'{LS_REPO} mdistiller/engine/cfg.py + README (--logit-stand --base-temp 2 --kd-weight 9)'

# KD+LS (Sun et al. 2024): (base temperature, KD weight) = the log file name
# logs/KD/kd,<teacher>,<student>,<tau>,<w>.txt of the LS repository.
_KD_LS_ROWS = {
    (R32x4, R8x4): (2., 9.), ('vgg13', 'vgg8'): (3., 9.), (W40_2, W40_1): (2., 9.),
    (W40_2, W16_2): (2., 9.), ('resnet56', 'resnet20'): (2., 9.), ('resnet110', 'resnet32'): (2., 9.),
    ('resnet110', 'resnet20'): (4., 12.), (R32x4, SV2): (2., 9.), (R32x4, W16_2): (3., 9.),
    (R32x4, W40_2): (3., 9.), (W40_2, R8x4): (2., 9.), (W40_2, MV2): (3., 9.),
    ('vgg13', MV2): (3., 9.), ('ResNet50', MV2): (3., 1.),
}
KD_LS = PairTable('KD+LS', ('logit.temperature', 'logit.weight'), {
    pair: (values, f'{LS_REPO} logs/KD/kd,{pair[0]},{pair[1]},{values[0]:g},{values[1]:g}.txt')
    for pair, values in _KD_LS_ROWS.items()},
    fallback=((2.0, 9.0), f'{DEFAULT}: the LS release\'s tau 2, weight 9 (cfg.py)'))

IN_KD_LS = f'{LS_REPO} configs/imagenet/r34_r18/kd.yaml (CE 1.0) + logs/imagenet/' \
           f'r34_r18_kd_ours.txt + README (--logit-stand --base-temp 2 --kd-weight 9)'

register('kd_ls', preset_source=LS_CFG, tables={recipe: (KD_LS,) for recipe in PER_PAIR_RECIPES},
         settings={'imagenet': {'logit.temperature': Setting(2.0, IN_KD_LS),
                                'ce_weight': Setting(1.0, IN_KD_LS),
                                'logit.weight': Setting(9.0, IN_KD_LS)}})
