"""CAT-KD (Guo et al., CVPR 2023) as its codebase (GzyAftermath/CAT-KD) runs it: seed 001's rows.

Its configs/cifar100/CAT_KD/*.yaml per pair (the nearest released pair's, marked default, for
a pair without one) and configs/imagenet/CAT-KD. Seed 000 re-ran CAT-KD without giving its
settings: the codebase's, marked as a default.
"""

from __future__ import annotations

from kdjax.recipes.core import (DEFAULT, IN_MV1, IN_R18, MDISTILLER, MV2, SEED000_BASELINE, SV1,
                                SV2, W16_2, W40_1, W40_2, PairTable, R32x4, R8x4, Setting,
                                defaulted, defaulted_table, register)

# CAT-KD (Guo et al., CVPR 2023): GzyAftermath/CAT-KD, configs/cifar100/CAT_KD/*.yaml (CE 1,
# onlyCAT False, standard schedule). (CAT_loss_weight, CAM_RESOLUTION, IF_NORMALIZE) per pair.
CATKD_REPO = 'GzyAftermath/CAT-KD'
_CATKD_CFG = f'{CATKD_REPO} mdistiller/engine/cfg.py (CAT_KD: CE_WEIGHT 1, CAT_loss_weight 400, ' \
             f'CAM_RESOLUTION 2, IF_NORMALIZE True, IF_BINARIZE False)'
_CATKD_ROWS = {
    (R32x4, R8x4): (15.0, 2, False, 'res32x4_res8x4.yaml'),
    ('resnet110', 'resnet32'): (1.8, 2, False, 'res110_res32.yaml'),
    ('resnet56', 'resnet20'): (0.7, 2, False, 'res56_res20.yaml'),
    ('vgg13', 'vgg8'): (4.5, 2, False, 'vgg13_vgg8.yaml'),
    (W40_2, W16_2): (12.0, 2, False, 'wrn_40_2_wrn_16_2.yaml'),
    (W40_2, W40_1): (1.5, 2, False, 'wrn_40_2_wrn_40_1.yaml'),
    (R32x4, SV1): (600.0, 4, True, 'res32x4_shuv1.yaml'),
    (R32x4, SV2): (600.0, 4, True, 'res32x4_shuv2.yaml'),
    (W40_2, SV1): (80.0, 4, True, 'wrn40_2_shuv1.yaml'),
    ('ResNet50', MV2): (40.0, 2, True, 'res50_mv2.yaml'),
    ('vgg13', MV2): (15.0, 2, True, 'vgg13_mv2.yaml'),
}
# Pairs of the seed tables with no released config take the config of the nearest released
# pair, marked default. What the released configs use: the same-architecture pairs set
# IF_NORMALIZE False, CAM_RESOLUTION 2 and their own weight (0.7-15); the MobileNet / ShuffleNet
# students IF_NORMALIZE True, resolution 2 (MobileNetV2) or 4 (ShuffleNet), weights 15-600.
# Chosen: a ResNet / WRN student takes its teacher's same-architecture config (the same teacher's
# CAMs as target), a MobileNetV2 student the MobileNetV2 config whose teacher is closest in
# accuracy (vgg13 74.64 for wrn_40_2's 75.61; ResNet50 is 79.34).
_CATKD_NEAREST = {  # pair: the released pair whose config it takes
    (R32x4, W16_2): (R32x4, R8x4), (R32x4, W40_2): (R32x4, R8x4),
    (W40_2, R8x4): (W40_2, W16_2), ('resnet110', 'resnet20'): ('resnet110', 'resnet32'),
    (W40_2, MV2): ('vgg13', MV2),
}
_CATKD_NEAREST_WHY = (f'{DEFAULT}: no CAT-KD config for this pair; the released same-architecture '
                      f'configs set IF_NORMALIZE False and a per-pair weight, the MobileNet / '
                      f'ShuffleNet ones IF_NORMALIZE True; nearest released pair')
CATKD = PairTable('CAT-KD', ('feature.weight', 'catkd.resolution', 'catkd.normalize'), {
    **{pair: ((w, r, n), f'{CATKD_REPO} configs/cifar100/CAT_KD/{file}')
       for pair, (w, r, n, file) in _CATKD_ROWS.items()},
    **{pair: (_CATKD_ROWS[near][:3], f'{_CATKD_NEAREST_WHY} {near[0]} -> {near[1]}: {CATKD_REPO} '
                                     f'configs/cifar100/CAT_KD/{_CATKD_ROWS[near][3]}')
       for pair, near in _CATKD_NEAREST.items()}},
    fallback=((400.0, 2, True), f'{DEFAULT}: no CAT-KD config for this pair; {_CATKD_CFG}'))
CATKD_SETTINGS = {'ce_weight': Setting(1.0, f'{CATKD_REPO} configs/cifar100/CAT_KD/*.yaml '
                                            f'(CE_WEIGHT 1., onlyCAT False)'),
                  'catkd.binarize': Setting(False, _CATKD_CFG)}
# ImageNet (configs/imagenet/CAT-KD/): both set DISTILLER.TYPE "CAT-KD", which the registry
# (mdistiller/distillers/__init__.py, key "CAT_KD") does not know, so they do not run as shipped;
# kdjax runs them as evidently meant (the CAT_KD distiller). r34_r18.yaml's SOLVER.BATCH_SIZE 2
# is a debug leftover: batch 512 with its lr 0.2, as r50_mv2.yaml and mdistiller's ImageNet
# configs. "MobileNetV2" there is the 1024-channel MobileNetV1 (models/imagenet/mobilenetv2.py).
_CATKD_IN = f'{CATKD_REPO} configs/imagenet/CAT-KD'
_CATKD_IN_NOTE = 'run as the CAT_KD distiller: its DISTILLER.TYPE "CAT-KD" is unregistered'
CATKD_IMAGENET = PairTable('CAT-KD ImageNet', (
    'feature.weight', 'catkd.resolution', 'catkd.normalize', 'batch_size', 'lr'), {
        IN_R18: ((0.5, 4, False, 512, 0.2),
                  f'{_CATKD_IN}/r34_r18.yaml ({_CATKD_IN_NOTE}; its BATCH_SIZE 2 is a debug '
                  f'leftover: 512 as r50_mv2.yaml and {MDISTILLER} configs/imagenet)'),
        IN_MV1: ((10.0, 2, True, 512, 0.2),
                  f'{_CATKD_IN}/r50_mv2.yaml ({_CATKD_IN_NOTE}; its MobileNetV2 is MobileNetV1)'),
    })

register('catkd', preset_source=_CATKD_CFG, settings={
    'seed001': CATKD_SETTINGS,
    'seed000': defaulted(CATKD_SETTINGS, SEED000_BASELINE),
    'imagenet': {'ce_weight': Setting(1.0, f'{_CATKD_IN}/*.yaml (CE_WEIGHT 1.)'),
                 'catkd.binarize': Setting(False, _CATKD_CFG),
                 'epochs': Setting(100, f'{_CATKD_IN}/*.yaml (EPOCHS 100, stages 30/60/90, wd '
                                        f'1e-4)')}},
    tables={'seed001': (CATKD,), 'seed000': (defaulted_table(CATKD, SEED000_BASELINE),),
            'imagenet': (CATKD_IMAGENET,)})
