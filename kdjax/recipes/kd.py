"""KD (Hinton et al. 2015) as mdistiller runs it: CIFAR-100 preset and ImageNet configs.

(DIST's codebase's ImageNet KD (T=4), seed 002 Table 7's row, is in ``kdjax.recipes.dist``.)
"""

from __future__ import annotations

from kdjax.recipes.core import MDISTILLER, Setting, register

KD_CFG = f'{MDISTILLER} mdistiller/engine/cfg.py (KD: T 4, CE 0.1, KD 0.9)'
IN_KD = f'{MDISTILLER} configs/imagenet/r34_r18/kd.yaml, r50_mv1/kd.yaml (T 1, CE 0.5, KD 0.5)'

register('kd', preset_source=KD_CFG, settings={
    'imagenet': {'logit.temperature': Setting(1.0, IN_KD), 'ce_weight': Setting(0.5, IN_KD),
                 'logit.weight': Setting(0.5, IN_KD)}})
