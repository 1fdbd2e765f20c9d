"""CTKD (Li et al., AAAI 2023) and CTKD+LS (Sun et al., CVPR 2024): the learned temperature's range.

CTKD's own scripts (zhengli97/CTKD) for CTKD; the LS release's CTKD logs for CTKD+LS (whose
temperature range they imply, not state); ImageNet: both repositories' ImageNet scripts.
"""

from __future__ import annotations

from kdjax.recipes.core import CTKD_REPO, LS_REPO, PER_PAIR_RECIPES, Setting, register

CTKD_CFG = f'{CTKD_REPO} scripts/run_cifar_distill.sh + train_student.py (-r 0.1 -a 0.9, ' \
           f't_start 1, t_end 20, cosine decay 0 -> -1 over 10 epochs)'
CTKD_LS_CFG = f'{LS_REPO} CTKD/scripts/run_cifar_distill.sh (-r 0.1 -a 9, z-scored KD with the ' \
              f'learned T as base temperature)'

# CTKD+LS: the released logs (logs/CTKD/ctkd,<teacher>,<student>,2,9.txt) print T = 22.3-30.4 at
# the end of epoch 1 and T -> 2.001-2.03 from epoch 2-4 on: T = 2 + 40 sigmoid(theta), not the
# released code's 1 + 20 sigmoid(theta) (which stays below 21 and decays towards 1).
_CTKD_LS_LOGS = f'inferred from {LS_REPO} logs/CTKD/ctkd,*,2,9.txt (no config or code states ' \
                f'it): T(epoch 1) 22.3-30.4 and min 2.0013 give T = 2 + R sigmoid(theta) with ' \
                f't_start 2; any range R >= ~39 fits the logs, R = 40 chosen'
CTKD_LS = {'ctkd.t_start': Setting(2.0, _CTKD_LS_LOGS),
           'ctkd.t_range': Setting(40.0, _CTKD_LS_LOGS)}
CTKD_PLAIN = {'ctkd.t_start': Setting(1.0, CTKD_CFG), 'ctkd.t_range': Setting(20.0, CTKD_CFG),
              'ctkd.init': Setting(1.0, f'{CTKD_REPO} models/temp_global.py (theta = ones(1))'),
              'ctkd.lambda_epochs': Setting(10, CTKD_CFG)}

_IN_CTKD = f'{CTKD_REPO} scripts/run_imagenet_distill.sh (batch 256, lr 0.1, 120 epochs, -r 1 ' \
           f'-a 1, t_start 1, t_end 20, decay_loops 5; uncertain: as written the shell line ' \
           f'continuation drops the decay arguments)'
_IN_CTKD_LS = f'{LS_REPO} CTKD/scripts/run_imagenet_distill.sh (-r 1 -a 2; uncertain: no log) ' \
              f'with the CIFAR logs\' T = 2 + 40 sigmoid(theta)'

register('ctkd', preset_source=CTKD_CFG, settings={
    **{recipe: CTKD_PLAIN for recipe in PER_PAIR_RECIPES},
    'imagenet': {'batch_size': Setting(256, _IN_CTKD), 'lr': Setting(0.1, _IN_CTKD),
                 'epochs': Setting(120, _IN_CTKD), 'ce_weight': Setting(1.0, _IN_CTKD),
                 'logit.weight': Setting(1.0, _IN_CTKD), 'ctkd.lambda_epochs': Setting(5, _IN_CTKD),
                 'ctkd.t_start': Setting(1.0, _IN_CTKD), 'ctkd.t_range': Setting(20.0, _IN_CTKD)}})
register('ctkd_ls', preset_source=CTKD_LS_CFG, settings={
    **{recipe: {**CTKD_PLAIN, **CTKD_LS} for recipe in PER_PAIR_RECIPES},
    'imagenet': {'batch_size': Setting(256, _IN_CTKD), 'lr': Setting(0.1, _IN_CTKD),
                 'epochs': Setting(120, _IN_CTKD), 'ce_weight': Setting(1.0, _IN_CTKD_LS),
                 'logit.weight': Setting(2.0, _IN_CTKD_LS),
                 'ctkd.lambda_epochs': Setting(5, _IN_CTKD),
                 'ctkd.t_start': Setting(2.0, _IN_CTKD_LS),
                 'ctkd.t_range': Setting(40.0, _IN_CTKD_LS)}})
