"""DKD (Zhao et al., CVPR 2022) and DKD+LS (Sun et al., CVPR 2024): beta per pair, LS's (tau, w).

mdistiller's configs give DKD's beta per pair; the LS release's DKD logs give DKD+LS's base
temperature, weight and the beta0 of the DKD config it ran; ImageNet: mdistiller's
configs/imagenet.
"""

from __future__ import annotations

from kdjax.recipes.core import (DEFAULT, IN_MV1, IN_R18, LS_REPO, MDISTILLER, MV2,
                                PER_PAIR_RECIPES, SV1, SV2, W16_2, W40_1, W40_2, Pair, PairTable,
                                R32x4, R8x4, Setting, register, table)

DKD_CFG = f'{MDISTILLER} mdistiller/engine/cfg.py (DKD: CE 1, alpha 1, beta 8, T 4, warm-up 20)'
DKD_LS_CFG = f'{LS_REPO} tools/train.py (alpha = beta0 x w with --kd-weight w; T = --base-temp) ' \
             f'+ DKD cfg'

# DKD beta (Zhao et al. 2022).
_DKD_CONFIGS = {  # mdistiller configs/cifar100/dkd/<file>.yaml: DKD.BETA (8 where absent = cfg).
    (R32x4, R8x4): (8.0, 'res32x4_res8x4.yaml (no BETA: cfg 8)'),
    ('resnet56', 'resnet20'): (2.0, 'res56_res20.yaml'),
    ('resnet110', 'resnet32'): (2.0, 'res110_res32.yaml'),
    ('vgg13', 'vgg8'): (6.0, 'vgg13_vgg8.yaml'),
    (W40_2, W16_2): (6.0, 'wrn40_2_wrn_16_2.yaml'),
    (W40_2, W40_1): (6.0, 'wrn40_2_wrn_40_1.yaml'),
    ('vgg13', MV2): (6.0, 'vgg13_mv2.yaml'),
    ('ResNet50', MV2): (8.0, 'res50_mv2.yaml (no BETA: cfg 8)'),
    (R32x4, SV1): (8.0, 'res32x4_shuv1.yaml (no BETA: cfg 8)'),
    (R32x4, SV2): (8.0, 'res32x4_shuv2.yaml (no BETA: cfg 8)'),
    (W40_2, SV1): (8.0, 'wrn40_2_shuv1.yaml (no BETA: cfg 8)'),
}
# The LS paper's other pairs have no DKD config; the beta0 its DKD+LS log name records for the
# pair (logs/DKD/dkd,<teacher>,<student>,<tau>,<w>,<beta0>.txt) is the DKD config it used.
_DKD_LS_LOG_BETA = {
    ('resnet110', 'resnet20'): (2.0, 'dkd,resnet110,resnet20,2,15,2.0.txt'),
    (R32x4, W16_2): (2.0, 'dkd,resnet32x4,wrn_16_2,2,9,2.0.txt'),
    (R32x4, W40_2): (8.0, 'dkd,resnet32x4,wrn_40_2,2,9,8.0.txt'),
    (W40_2, R8x4): (2.0, 'dkd,wrn_40_2,resnet8x4,2,18,2.0.txt'),
    (W40_2, MV2): (2.0, 'dkd,wrn_40_2,MobileNetV2,2,15,2.0.txt'),
}
# Seed 001 Table 5 (teachers -> wrn_16_2): no config, log or code; beta by analogy with
# mdistiller (6 for the VGG / WRN teachers, the cfg's 8 for ResNet50).
_TABLE5_DEFAULT = 'default: no source for this pair (seed 001 Table 5); by analogy with ' \
                  'mdistiller'
_DKD_TABLE5 = {('vgg13', W16_2): 6.0, ('wrn_28_2', W16_2): 6.0, ('wrn_16_4', W16_2): 6.0,
               ('wrn_28_4', W16_2): 6.0, ('ResNet50', W16_2): 8.0}
DKD_BETA = PairTable('DKD beta', ('dkd.beta',), {
    **{pair: ((beta,), f'{MDISTILLER} configs/cifar100/dkd/{file}')
       for pair, (beta, file) in _DKD_CONFIGS.items()},
    **{pair: ((beta,), f'{LS_REPO} logs/DKD/{file} (beta0 of the pair\'s DKD config)')
       for pair, (beta, file) in _DKD_LS_LOG_BETA.items()},
    **{pair: ((beta,), f'{_TABLE5_DEFAULT} ({beta:g})') for pair, beta in _DKD_TABLE5.items()},
}, fallback=((8.0,), f'{DEFAULT}: DKD\'s beta 8 ({MDISTILLER} mdistiller/engine/cfg.py)'))


# DKD+LS: (base temperature, weight w multiplying alpha and beta, beta0) = the log file name
# logs/DKD/dkd,<teacher>,<student>,<tau>,<w>[,<beta0>].txt (no beta0: the config's 8).
_DKD_LS_ROWS = {
    (R32x4, R8x4): (2., 9., 8.), (R32x4, SV2): (2., 9., 8.), ('vgg13', 'vgg8'): (2., 15., 2.),
    (W40_2, W40_1): (2., 12., 2.), (W40_2, W16_2): (2., 12., 2.),
    ('resnet56', 'resnet20'): (3., 18., 2.), ('resnet110', 'resnet32'): (2., 15., 2.),
    ('resnet110', 'resnet20'): (2., 15., 2.), (R32x4, W16_2): (2., 9., 2.),
    (R32x4, W40_2): (2., 9., 8.), (W40_2, R8x4): (2., 18., 2.), (W40_2, MV2): (2., 15., 2.),
    ('vgg13', MV2): (3., 9., 2.), ('ResNet50', MV2): (2., 15., 2.),
}


def _dkd_ls_log(pair: Pair, values: tuple[float, ...]) -> str:
  tau, w, beta0 = values
  suffix = '' if pair in ((R32x4, R8x4), (R32x4, SV2)) else f',{beta0:.1f}'
  return f'{LS_REPO} logs/DKD/dkd,{pair[0]},{pair[1]},{tau:g},{w:g}{suffix}.txt'


DKD_LS = PairTable('DKD+LS', ('logit.temperature', 'logit.weight', 'dkd.beta'), {
    **{pair: (values, _dkd_ls_log(pair, values)) for pair, values in _DKD_LS_ROWS.items()},
    **{(t, W16_2): ((2., 12., 2.), f'{_TABLE5_DEFAULT} (the wrn_40_2 -> wrn_16_2 log)')
       for t in ('wrn_28_2', 'wrn_16_4', 'wrn_28_4')},
    **{(t, W16_2): ((2., 15., 2.), f'{_TABLE5_DEFAULT} (the vgg13 -> vgg8 / ResNet50 -> '
                                   f'MobileNetV2 logs)') for t in ('vgg13', 'ResNet50')},
})

# CTKD+LS: the released logs (logs/CTKD/ctkd,<teacher>,<student>,2,9.txt) print T = 22.3-30.4 at

# ImageNet: mdistiller configs/imagenet/{r34_r18,r50_mv1}/dkd.yaml.
_IN_DKD = f'{MDISTILLER} configs/imagenet/r34_r18/dkd.yaml (beta 0.5), r50_mv1/dkd.yaml ' \
          f'(beta 2.0): CE 1, alpha 1, T 1, warm-up 1'
_IN_DKD_LS = f'{LS_REPO} issue #31 (the maintainer: --base-temp 2 --kd-weight 9 on the DKD ' \
             f'config; the values used are unknown)'
IMAGENET_DKD_BETA = table('ImageNet DKD beta', ('dkd.beta',), _IN_DKD,
                          {IN_R18: 0.5, IN_MV1: 2.0})

register('dkd', preset_source=DKD_CFG, tables={
    **{recipe: (DKD_BETA,) for recipe in PER_PAIR_RECIPES}, 'imagenet': (IMAGENET_DKD_BETA,)},
    settings={'imagenet': {
        'logit.temperature': Setting(1.0, _IN_DKD), 'ce_weight': Setting(1.0, _IN_DKD),
        'logit.weight': Setting(1.0, _IN_DKD), 'dkd.alpha': Setting(1.0, _IN_DKD),
        'dkd.warmup_epochs': Setting(1, _IN_DKD)}})
register('dkd_ls', preset_source=DKD_LS_CFG, tables={
    **{recipe: (DKD_BETA, DKD_LS) for recipe in PER_PAIR_RECIPES},
    'imagenet': (IMAGENET_DKD_BETA,)},
    settings={'imagenet': {
        'logit.temperature': Setting(2.0, _IN_DKD_LS), 'ce_weight': Setting(1.0, _IN_DKD),
        'logit.weight': Setting(9.0, _IN_DKD_LS), 'dkd.alpha': Setting(1.0, _IN_DKD),
        'dkd.warmup_epochs': Setting(1, _IN_DKD)}})
