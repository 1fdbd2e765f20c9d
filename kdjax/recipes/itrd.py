"""ITRD (Miles et al., BMVC 2021) as seed 002 runs it: the TTM repository's flags, ITRD's values.

Seed 002 (Appendix A.5) takes "the optimal values of the original paper" (roymiles/ITRD) per
pair. Seed 000 re-ran ITRD without giving its settings: seed 002's, marked as a default.
"""

from __future__ import annotations

from kdjax.recipes.core import (DEFAULT, MV2, SEED000_BASELINE, SV1, SV2, TTM_REPO, W16_2, W40_1,
                                W40_2, PairTable, R32x4, R8x4, Setting, defaulted,
                                defaulted_table, register)
from kdjax.recipes.ttm import SEED002_A5, TTM_FLAGS

ITRD_TTM = f'{TTM_FLAGS} (--lambda_corr 2.0 --lambda_mutual 1.0 --alpha_it 1.50) + ' \
           f'distiller_zoo/itrd.py'
_ITRD_B = f'{TTM_REPO} publishes no -b for --distill itrd; roymiles/ITRD README example ' \
          f'(-b 1.0 -r 1.0)'
ITRD_SETTINGS = {
    'ce_weight': Setting(1.0, f'{TTM_FLAGS} (-r default 1)'),
    'feature.weight': Setting(1.0, _ITRD_B),
    'itrd.lambda_corr': Setting(2.0, ITRD_TTM), 'itrd.lambda_mutual': Setting(1.0, ITRD_TTM),
    'itrd.alpha': Setting(1.5, ITRD_TTM)}

# ITRD's per-pair values, plain and combined (Appendix A.5: "we always select the optimal values
# of the original paper", roymiles/ITRD): beta_corr 2; beta_mi 0 for ResNet50 -> MobileNetV2,
# ResNet50 -> vgg8 and wrn_40_2 -> ShuffleV1, 1 elsewhere; alpha_it 1.01 for same-architecture
# pairs, 1.5 for distinct ones.
SEED002_SAME = ((W40_2, W16_2), (W40_2, W40_1), ('resnet56', 'resnet20'),
                ('resnet110', 'resnet20'), ('resnet110', 'resnet32'), (R32x4, R8x4),
                ('vgg13', 'vgg8'))
SEED002_DISTINCT = (('vgg13', MV2), ('ResNet50', MV2), ('ResNet50', 'vgg8'), (R32x4, SV1),
                    (R32x4, SV2), (W40_2, SV1))
_NO_MUTUAL = (('ResNet50', MV2), ('ResNet50', 'vgg8'), (W40_2, SV1))
_ITRD_A5 = f'{SEED002_A5}, ITRD: the optimal values of roymiles/ITRD'
ITRD_OPTIMAL = PairTable('ITRD (seed 002 A.5 settings)',
                         ('itrd.lambda_corr', 'itrd.lambda_mutual', 'itrd.alpha'), {
    pair: ((2.0, 0.0 if pair in _NO_MUTUAL else 1.0, 1.01 if pair in SEED002_SAME else 1.5),
           f'{_ITRD_A5}: beta_corr 2, beta_mi {0 if pair in _NO_MUTUAL else 1}, alpha_it '
           f'{1.01 if pair in SEED002_SAME else 1.5} '
           f'({"same" if pair in SEED002_SAME else "distinct"} architectures)')
    for pair in SEED002_SAME + SEED002_DISTINCT},
    fallback=((2.0, 1.0, 1.5), f'{DEFAULT}: not a seed 002 pair; {ITRD_TTM}'))

register('itrd', preset_source=f'{ITRD_TTM}; -r 1 (default), -a 0; -b 1: {_ITRD_B}',
         own_recipe='seed002',
         settings={'seed002': ITRD_SETTINGS,
                   'seed000': defaulted(ITRD_SETTINGS, SEED000_BASELINE)},
         tables={'seed002': (ITRD_OPTIMAL,),
                 'seed000': (defaulted_table(ITRD_OPTIMAL, SEED000_BASELINE),)})
