"""ViTKD (Yang et al., "ViTKD: Practical Guidelines for ViT feature knowledge distillation", 2022)
and its combinations NKD+ViTKD, WTTM+ViTKD (Zheng & Yang, ICLR 2024, Table 13).

The method settings of yzd-v/cls_KD's DeiT configs, each with its file: the same in all four
(``configs/distillers/imagenet/deit-s3_distill_deit-t_img.py``, DeiT III-Small -> DeiT-Tiny, the
pair of Zheng & Yang's Table 13, and ``deit-s_distill_deit-t_img.py``,
``deit-b3_distill_deit-s_img.py``, ``deit-l3_distill_deit-b_img.py``). What they fix in code rather than in a field: the mimicked
blocks (the first two) and the generated one (the last, after the final LayerNorm), in the
backbones (``mmcls/models/backbones/vision_transformer.py`` and ``deit3.py``: ``low_f`` /
``high_f``), the class token left out, and the projections and generation block in
``mmcls/models/dis_losses/vitkd.py`` (``kdjax.methods.vitkd``). The training protocol (mmcls's
DeiT-Tiny recipe) is ``kdjax.recipes.deit`` (``deit_imagenet``, the default recipe of the DeiT
students), for which these settings are registered.
"""

from __future__ import annotations

from kdjax.recipes.core import Setting, register, sourced
from kdjax.recipes.deit import DEIT_WTTM

VITKD_REPO = 'yzd-v/cls_KD'
VITKD_CONFIG = f'{VITKD_REPO} configs/distillers/imagenet/deit-s3_distill_deit-t_img.py'
_CONFIGS = f'{VITKD_CONFIG} (and its deit-s / deit-b3 / deit-l3 siblings)'
_SUM = f'{VITKD_REPO} mmcls/models/classifiers/distiller.py (the student\'s loss + loss_vitkd ' \
       f'[+ loss_nkd], unweighted)'
_VITKD_FIELDS = ('vitkd.alpha', 'vitkd.beta', 'vitkd.mask_ratio')
_VITKD_VALUES = (3e-5, 3e-6, 0.5)
VITKD_SETTINGS = {
    **sourced(_VITKD_FIELDS, _VITKD_VALUES,
              f'{_CONFIGS}: ViTKDLoss alpha_vitkd=0.00003, beta_vitkd=0.000003, '
              f'lambda_vitkd=0.5'),
    'ce_weight': Setting(1.0, _SUM),
    'feature.weight': Setting(1.0, _SUM)}
# The configs as released run NKD with ViTKD (nkd = True); ViTKD alone is the same config with
# its nkd switch off.
NKD_VITKD_SETTINGS = {
    **VITKD_SETTINGS,
    **sourced(('nkd.temperature', 'nkd.gamma'), (1.0, 1.0),
              f'{_CONFIGS}: NKDLoss temp=1.0, gamma=1.0'),
    'logit.weight': Setting(1.0, _SUM)}
# WTTM+ViTKD: ViTKD's part as cls_KD configures it, WTTM's (gamma, beta) as the DeiT recipe's WTTM
# (kdjax.recipes.deit: no published value, marked as a default there).
WTTM_VITKD_SETTINGS = {**VITKD_SETTINGS, **DEIT_WTTM}

_PRESET = f'{VITKD_REPO} mmcls/models/dis_losses/vitkd.py ViTKDLoss defaults (= {VITKD_CONFIG})'
for _method, _settings, _source in (
    ('vitkd', VITKD_SETTINGS, f'{_PRESET}; {_SUM}; the config with nkd = False'),
    ('nkd+vitkd', NKD_VITKD_SETTINGS, f'{_PRESET}; NKD: {VITKD_CONFIG} (nkd = True); {_SUM}'),
    ('wttm+vitkd', WTTM_VITKD_SETTINGS,
     f'{_PRESET}; {_SUM} with WTTM as the logit term (Zheng & Yang 2024, Table 13; WTTM\'s '
     f'(gamma, beta) are not cls_KD\'s: the DeiT recipe\'s, marked as defaults)')):
  register(_method, preset_source=_source, settings={'deit_imagenet': _settings})
