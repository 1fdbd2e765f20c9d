"""MLKD (Jin et al., CVPR 2023) and MLKD+LS (Sun et al., CVPR 2024): epochs, lr and weight per pair.

MLKD's CVPR'23 configs and the LS release's configs/cifar100/mlkd and logs; ImageNet: both
repositories' configs/imagenet.
"""

from __future__ import annotations

from kdjax.recipes.core import (DEFAULT, IN_MV1, IN_R18, LS_REPO, MLKD_REPO, MV2,
                                PER_PAIR_RECIPES, SV1, SV2, W16_2, W40_1, W40_2, PairTable, R32x4,
                                R8x4, Setting, register, table)

MLKD_CFG = f'{MLKD_REPO} mdistiller/engine/cfg.py (T 4, CE 0.1, KD 0.9) + configs/cifar100/ours'
MLKD_LS_CFG = f'{LS_REPO} configs/cifar100/mlkd + README (--logit-stand --base-temp 2 ' \
              f'--kd-weight 9)'

# MLKD (Jin et al. 2023): the CVPR'23 configs (MLKD repo at 77b91ec, configs/cifar100/ours):
# 480 epochs (960 for resnet32x4 -> ShuffleV1/V2), lr 0.025 (0.01 for MobileNet / ShuffleNet
# students); the LS paper's five other pairs follow the LS repo's configs/cifar100/mlkd.
_MLKD_CFG_DIR = f'{MLKD_REPO} configs/cifar100/ours (at 77b91ec, the CVPR\'23 state)'
_LS_MLKD_DIR = f'{LS_REPO} configs/cifar100/mlkd'
_MLKD_ROWS = {  # pair: (epochs, lr, source)
    (R32x4, R8x4): (480, 0.025, f'{_MLKD_CFG_DIR}/res32x4_res8x4.yaml'),
    ('vgg13', 'vgg8'): (480, 0.025, f'{_MLKD_CFG_DIR}/vgg13_vgg8.yaml'),
    (W40_2, W40_1): (480, 0.025, f'{_MLKD_CFG_DIR}/wrn40_2_wrn_40_1.yaml'),
    (W40_2, W16_2): (480, 0.025, f'{_MLKD_CFG_DIR}/wrn40_2_wrn_16_2.yaml'),
    ('resnet56', 'resnet20'): (480, 0.025, f'{_MLKD_CFG_DIR}/res56_res20.yaml'),
    ('resnet110', 'resnet32'): (480, 0.025, f'{_MLKD_CFG_DIR}/res110_res32.yaml'),
    (R32x4, SV2): (960, 0.01, f'{_MLKD_CFG_DIR}/res32x4_shuv2.yaml'),
    (R32x4, SV1): (960, 0.01, f'{_MLKD_CFG_DIR}/res32x4_shuv1.yaml'),
    ('vgg13', MV2): (480, 0.01, f'{_MLKD_CFG_DIR}/vgg13_mv2.yaml'),
    ('ResNet50', MV2): (480, 0.01, f'{_MLKD_CFG_DIR}/res50_mv2.yaml'),
    (W40_2, SV1): (480, 0.01, f'{_MLKD_CFG_DIR}/wrn40_2_shuv1.yaml'),
    ('resnet110', 'resnet20'): (480, 0.025, f'{_LS_MLKD_DIR}/resnet110_resnet20.yaml'),
    (R32x4, W16_2): (480, 0.025, f'{_LS_MLKD_DIR}/resnet32x4_wrn_16_2.yaml'),
    (R32x4, W40_2): (480, 0.025, f'{_LS_MLKD_DIR}/resnet32x4_wrn_40_2.yaml'),
    (W40_2, R8x4): (480, 0.025, f'{_LS_MLKD_DIR}/wrn_40_2_resnet8x4.yaml'),
    (W40_2, MV2): (480, 0.005, f'{_LS_MLKD_DIR}/wrn_40_2_MobileNetV2.yaml (the only source '
                               f'for this pair)'),
}
MLKD = PairTable('MLKD', ('epochs', 'lr'), {
    pair: ((epochs, lr), source) for pair, (epochs, lr, source) in _MLKD_ROWS.items()},
    fallback=((480, None), f'{DEFAULT}: MLKD\'s 480 epochs, the student\'s usual lr'))
# MLKD+LS: the LS configs and logs (logs/MLKD/mlkd,<teacher>,<student>,2,<w>.txt).
_MLKD_LS_ROWS = {  # pair: (epochs, lr, weight, source)
    ('vgg13', 'vgg8'): (480, 0.01, 6.0, f'{_LS_MLKD_DIR}/vgg13_vgg8.yaml (lr 0.01) + '
                                        f'logs/MLKD/mlkd,vgg13,vgg8,2,6.txt ("lr: 0.010000")'),
    (R32x4, SV2): (960, 0.01, 6.0, f'{_LS_MLKD_DIR}/resnet32x4_ShuffleV2.yaml + '
                                   f'logs/MLKD/mlkd,resnet32x4,ShuffleV2,2,6.txt'),
    ('vgg13', MV2): (480, 0.01, 6.0, f'{_LS_MLKD_DIR}/vgg13_MobileNetV2.yaml + '
                                     f'logs/MLKD/mlkd,vgg13,MobileNetV2,2,6.txt'),
    (W40_2, MV2): (480, 0.005, 9.0, f'{_LS_MLKD_DIR}/wrn_40_2_MobileNetV2.yaml (no log)'),
    ('resnet56', 'resnet20'): (480, 0.025, 9.0, f'{_LS_MLKD_DIR}/resnet56_resnet20.yaml (no '
                                                f'log)'),
}
for _pair in _MLKD_ROWS:
  if _pair not in _MLKD_LS_ROWS and _pair not in ((R32x4, SV1), (W40_2, SV1)):
    _epochs, _lr, _ = _MLKD_ROWS[_pair]
    _MLKD_LS_ROWS[_pair] = (_epochs, _lr, 9.0, f'{_LS_MLKD_DIR} + logs/MLKD/mlkd,{_pair[0]},'
                                               f'{_pair[1]},2,9.txt')
MLKD_LS = PairTable('MLKD+LS', ('epochs', 'lr', 'logit.weight'), {
    pair: ((epochs, lr, w), source) for pair, (epochs, lr, w, source) in _MLKD_LS_ROWS.items()},
    fallback=((480, None, 9.0), f'{DEFAULT}: 480 epochs, the student\'s usual lr, weight 9'))

# ImageNet (ResNet34 -> ResNet18, ResNet50 -> MobileNetV1).
_IN_MLKD = f'{MLKD_REPO} configs/imagenet/r34_r18/kd_ours.yaml (lr 0.1), ' \
           f'r50_mv2/kd_ours.yaml (lr 0.2; MobileNetV2 there is MobileNetV1): T 1, CE 0.5, KD 0.5'
_IN_MLKD_LS = f'{LS_REPO} configs/imagenet/*/mlkd.yaml + README (--base-temp 2 --kd-weight 9; ' \
              f'no log)'
IMAGENET_MLKD_LR = table('ImageNet MLKD lr', ('lr',), _IN_MLKD, {IN_R18: 0.1, IN_MV1: 0.2})

register('mlkd', preset_source=MLKD_CFG, tables={
    **{recipe: (MLKD,) for recipe in PER_PAIR_RECIPES}, 'imagenet': (IMAGENET_MLKD_LR,)},
    settings={'imagenet': {
        'logit.temperature': Setting(1.0, _IN_MLKD), 'ce_weight': Setting(0.5, _IN_MLKD),
        'logit.weight': Setting(0.5, _IN_MLKD)}})
register('mlkd_ls', preset_source=MLKD_LS_CFG, tables={
    **{recipe: (MLKD_LS,) for recipe in PER_PAIR_RECIPES}, 'imagenet': (IMAGENET_MLKD_LR,)},
    settings={'imagenet': {
        'logit.temperature': Setting(2.0, _IN_MLKD_LS), 'ce_weight': Setting(0.5, _IN_MLKD),
        'logit.weight': Setting(9.0, _IN_MLKD_LS)}})
