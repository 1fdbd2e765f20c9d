"""SimKD (Chen et al., CVPR 2022) as its codebase (DefangChen/SimKD) runs it: seed 001's rows.

Seed 000 re-ran SimKD without giving its settings: the codebase's, marked as a default.
"""

from __future__ import annotations

from kdjax.recipes.core import SEED000_BASELINE, Setting, defaulted, register

SIMKD_REPO = 'DefangChen/SimKD'
_SIMKD_RUN = f'{SIMKD_REPO} README.md + scripts/run_distill.sh (--distill simkd -c 0 -d 0 -b 1)'
_SIMKD_FACTOR = f'{SIMKD_REPO} train_student.py (-f/--factor default 2; README also reports 4, 8)'
SIMKD_PRESET = f'{_SIMKD_RUN} + helper/loops.py (feature MSE only; teacher head reused)'
SIMKD_SETTINGS = {'ce_weight': Setting(0.0, f'{_SIMKD_RUN}: -c 0'),
                  'logit.loss': Setting('none', f'{_SIMKD_RUN}: -d 0'),
                  'feature.weight': Setting(1.0, f'{_SIMKD_RUN}: -b 1'),
                  'simkd.factor': Setting(2, _SIMKD_FACTOR)}
_SIMKD_IMAGENET = f'{SIMKD_REPO} README.md / scripts/run_distill.sh ImageNet command (batch 256, ' \
                  f'120 epochs, lr 0.1, decay 30/60/90, wd 1e-4, -c 0 -d 0 -b 1)'

register('simkd', preset_source=SIMKD_PRESET, settings={
    'seed001': SIMKD_SETTINGS,
    'seed000': defaulted(SIMKD_SETTINGS, SEED000_BASELINE),
    'imagenet': {**SIMKD_SETTINGS, 'batch_size': Setting(256, _SIMKD_IMAGENET),
                 'epochs': Setting(120, _SIMKD_IMAGENET), 'lr': Setting(0.1, _SIMKD_IMAGENET),
                 'lr_decay_epochs': Setting((30, 60, 90), _SIMKD_IMAGENET),
                 'weight_decay': Setting(1e-4, _SIMKD_IMAGENET)}})
