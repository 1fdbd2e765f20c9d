"""Seed 002's WTTM combinations (Zheng & Yang, ICLR 2024, Appendix A.4-A.5, Table 6).

WTTM+CRD and WTTM+ITRD (CE + beta * WTTM + mu * L_extra) with their own (gamma, beta) rows
(Tables 8-9), and WTTM without CE. Seed 000 re-ran them without giving their settings: seed
002's, marked as a default.
"""

from __future__ import annotations

from kdjax.recipes.core import (DEFAULT, MV2, SEED000_BASELINE, SV1, SV2, TTM_REPO, W16_2, W40_1,
                                W40_2, PairTable, R32x4, R8x4, Setting, defaulted,
                                defaulted_table, register, sourced, table)
from kdjax.recipes.crd import CRD_FIELDS, CRD_FLAGS, CRD_VALUES, TTM_CRD_FLAGS
from kdjax.recipes.itrd import ITRD_OPTIMAL, ITRD_TTM
from kdjax.recipes.ttm import SEED002_A5

# The combinations' and WTTM-without-CE's own (gamma, beta) rows of Appendix A.4 (Tables 8-9):
# they differ from plain WTTM's in almost every pair.
_A4_COMBINED = 'Zheng & Yang 2024, Appendix A.4 (Tables 8-9: hyperparameters of the combinations)'
_WTTM_CRD_ROWS = {  # (gamma, beta)
    (W40_2, W16_2): (0.1, 4.), (W40_2, W40_1): (0.1, 2.), ('resnet56', 'resnet20'): (0.3, 0.6),
    ('resnet110', 'resnet20'): (0.2, 1.4), ('resnet110', 'resnet32'): (0.2, 1.),
    (R32x4, R8x4): (0.2, 4.), ('vgg13', 'vgg8'): (0.2, 4.), ('vgg13', MV2): (0.3, 4.2),
    ('ResNet50', MV2): (0.3, 3.), ('ResNet50', 'vgg8'): (0.1, 3.), (R32x4, SV1): (0.2, 0.4),
    (R32x4, SV2): (0.4, 12.), (W40_2, SV1): (0.2, 0.16),
}
_WTTM_ITRD_ROWS = {  # (gamma, beta)
    (W40_2, W16_2): (0.3, 6.), (W40_2, W40_1): (0.4, 0.08), ('resnet56', 'resnet20'): (0.5, 5.),
    ('resnet110', 'resnet20'): (0.3, 1.5), ('resnet110', 'resnet32'): (0.3, 0.015),
    (R32x4, R8x4): (0.1, 1.5), ('vgg13', 'vgg8'): (0.1, 0.5), ('vgg13', MV2): (0.3, 0.03),
    ('ResNet50', MV2): (0.2, 0.02), ('ResNet50', 'vgg8'): (0.1, 1.), (R32x4, SV1): (0.3, 0.6),
    (R32x4, SV2): (0.4, 0.8), (W40_2, SV1): (0.1, 0.2),
}
WTTM_CRD = table('WTTM+CRD (WTTM settings)', ('ttm.gamma', 'logit.weight'),
                 f'{_A4_COMBINED}, WTTM+CRD row', _WTTM_CRD_ROWS,
                 fallback=((0.2, 4.), f'{DEFAULT}: not a seed 002 pair; {TTM_REPO} README\'s '
                                      f'WTTM+CRD example (--ttm_l 0.2 -a 4)'),
                 sources={('vgg13', 'vgg8'): f'{_A4_COMBINED}, WTTM+CRD row = {TTM_REPO} README '
                                             f'(--distill crd --add wttm --ttm_l 0.2 -b 0.8 -a 4)'})
WTTM_ITRD_WTTM = table('WTTM+ITRD (WTTM settings)', ('ttm.gamma', 'logit.weight'),
                       f'{_A4_COMBINED}, WTTM+ITRD row', _WTTM_ITRD_ROWS,
                       fallback=((0.1, 1.5), f'{DEFAULT}: not a seed 002 pair; the resnet32x4 -> '
                                             f'resnet8x4 row'))
# WTTM without CE (Table 6): Table 8 prints its gamma only. beta = 1: the paper's beta weighs
# WTTM against the CE term (loss = CE + beta * WTTM), and with CE removed there is nothing to
# balance, which is why no beta is printed; beta then only rescales the whole loss (an lr
# factor against weight decay), so 1, the unscaled WTTM term, is the reading that adds no
# unpublished factor. Marked default: the alternative is plain WTTM's beta of the pair.
_A4_NOCE = 'Zheng & Yang 2024, Appendix A.4 (Table 8, WTTM w/o CE row: gamma only)'
_NOCE_BETA = (f'{DEFAULT}: beta 1, no beta is published for WTTM w/o CE ({_A4_NOCE}); beta '
              f'balances WTTM against CE, absent here, so the WTTM term is taken unscaled')
_WTTM_NOCE_GAMMA = {(W40_2, W16_2): 0.2, (W40_2, W40_1): 0.5, ('resnet56', 'resnet20'): 0.6,
                    ('resnet110', 'resnet20'): 0.4, ('resnet110', 'resnet32'): 0.4,
                    (R32x4, R8x4): 0.5, ('vgg13', 'vgg8'): 0.2}
WTTM_NOCE = PairTable('WTTM without CE', ('ttm.gamma',), {
    pair: ((gamma,), _A4_NOCE) for pair, gamma in _WTTM_NOCE_GAMMA.items()},
    fallback=((0.2,), f'{DEFAULT}: not a seed 002 Table 6 pair; the wrn_40_2 -> wrn_16_2 row'))
WTTM_ITRD_SETTINGS = {
    'ce_weight': Setting(1.0, SEED002_A5),
    'feature.weight': Setting(1.0, f'{SEED002_A5}: mu = 1 for ITRD')}
WTTM_CRD_SETTINGS = {
    **sourced(CRD_FIELDS, CRD_VALUES, f'{TTM_CRD_FLAGS} = {CRD_FLAGS}'),
    'ce_weight': Setting(1.0, SEED002_A5),
    'feature.weight': Setting(0.8, f'{SEED002_A5}: mu = 0.8 for CRD (= {TTM_REPO} README '
                                   f'-b 0.8)')}
WTTM_NOCE_SETTINGS = {
    'ce_weight': Setting(0.0, 'Zheng & Yang 2024, Table 6 (WTTM without CE: the cross-entropy '
                              'weight 0)'),
    'logit.weight': Setting(1.0, _NOCE_BETA)}


def _register(method: str, preset_source: str, settings: dict[str, Setting],
              tables: tuple[PairTable, ...]) -> None:
  """Seed 002's settings and tables of ``method``, and seed 000's copy marked as a default."""
  register(method, preset_source=preset_source, own_recipe='seed002',
           settings={'seed002': settings, 'seed000': defaulted(settings, SEED000_BASELINE)},
           tables={'seed002': tables,
                   'seed000': tuple(defaulted_table(t, SEED000_BASELINE) for t in tables)})


_register('wttm+itrd', f'{SEED002_A5}; ITRD: {ITRD_TTM}', WTTM_ITRD_SETTINGS,
          (WTTM_ITRD_WTTM, ITRD_OPTIMAL))
_register('wttm+crd', f'{SEED002_A5}; CRD: {TTM_REPO} train_student.py (--feat_dim 128 --mode '
                      f'exact --nce_k 16384 --nce_t 0.07 --nce_m 0.5)', WTTM_CRD_SETTINGS,
          (WTTM_CRD,))
_register('wttm_noce', 'Zheng & Yang 2024, Table 6', WTTM_NOCE_SETTINGS, (WTTM_NOCE,))
