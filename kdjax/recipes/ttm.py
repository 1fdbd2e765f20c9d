"""TTM and WTTM (Zheng & Yang, ICLR 2024; seed 002): (gamma, beta) per pair.

The paper's hyperparameter table (Appendix A.4) and the repository's README (zkxufo/TTM);
ImageNet: the torchdistill recipe the README names. The pair's TTM gamma is also the default
gamma of every run's logged evaluation statistics (``eval_ttm_gamma``). The WTTM combinations
of seed 002 (WTTM+CRD, WTTM+ITRD, WTTM without CE) are in ``kdjax.recipes.wttm_combinations``.
"""

from __future__ import annotations

from kdjax.recipes.core import (DEFAULT, MV2, PER_PAIR_RECIPES, SV1, SV2, TTM_REPO, W16_2, W40_1,
                                W40_2, Pair, R32x4, R8x4, Setting, pair_default, register, table)

TTM_CFG = f'{TTM_REPO} train_student.py (-r 1; no T^2)'
TTM_FLAGS = f'{TTM_REPO} train_student.py'
SEED002_A5 = 'Zheng & Yang 2024, Appendix A.5 (combinations: CE + beta * WTTM + mu * L_extra)'

# TTM / WTTM (Zheng & Yang 2024): (gamma, beta); only the vgg13 -> vgg8 TTM row is in the
# repository's README, the others are the paper's hyperparameter table (Appendix A.4).
_TTM_PAPER = 'Zheng & Yang 2024, Appendix A.4 (hyperparameters per pair)'
_TTM_ROWS = {
    (W40_2, W16_2): (0.1, 101.), (W40_2, W40_1): (0.1, 76.), ('resnet56', 'resnet20'): (0.3, 7.),
    ('resnet110', 'resnet20'): (0.2, 8.), ('resnet110', 'resnet32'): (0.1, 33.),
    (R32x4, R8x4): (0.1, 100.), ('vgg13', 'vgg8'): (0.1, 45.), ('vgg13', MV2): (0.2, 16.),
    ('ResNet50', MV2): (0.2, 20.), ('ResNet50', 'vgg8'): (0.1, 70.), (R32x4, SV1): (0.2, 12.),
    (R32x4, SV2): (0.4, 40.), (W40_2, SV1): (0.3, 8.),
}
_WTTM_ROWS = {
    (W40_2, W16_2): (0.1, 4.), (W40_2, W40_1): (0.1, 3.), ('resnet56', 'resnet20'): (0.3, 1.5),
    ('resnet110', 'resnet20'): (0.2, 2.), ('resnet110', 'resnet32'): (0.1, 1.5),
    (R32x4, R8x4): (0.1, 3.), ('vgg13', 'vgg8'): (0.1, 2.25), ('vgg13', MV2): (0.2, 3.),
    ('ResNet50', MV2): (0.2, 5.), ('ResNet50', 'vgg8'): (0.1, 2.), (R32x4, SV1): (0.2, 1.4),
    (R32x4, SV2): (0.4, 16.), (W40_2, SV1): (0.3, 3.),
    ('resnet34', 'resnet18'): (0.8, 1.6), ('resnet50', 'MobileNetV1'): (0.7, 3.5),
}
TTM = table('TTM', ('ttm.gamma', 'logit.weight'), _TTM_PAPER, _TTM_ROWS,
            fallback=((0.1, 100.), f'{DEFAULT}: the resnet32x4 -> resnet8x4 row'),
            sources={('vgg13', 'vgg8'): f'{TTM_REPO} README (--ttm_l 0.1 -b 45) and {_TTM_PAPER}'})
# Seed 002 Table 7 (ImageNet, resnet18 from stronger teachers) gives no (gamma, beta) for its
# resnet50 / resnet101 / resnet152 teachers: they take the resnet34 -> resnet18 row.
_WTTM_TABLE7 = {(teacher, 'resnet18'): f'{DEFAULT}: no published setting for this teacher (Zheng & ' \
                f'Yang 2024, Table 7); the resnet34 -> resnet18 row of {_TTM_PAPER}'
                for teacher in ('resnet50', 'resnet101', 'resnet152')}
_WTTM_ROWS.update({pair: _WTTM_ROWS[('resnet34', 'resnet18')] for pair in _WTTM_TABLE7})
WTTM = table('WTTM', ('ttm.gamma', 'logit.weight'), _TTM_PAPER, _WTTM_ROWS,
             fallback=((0.1, 3.), f'{DEFAULT}: the resnet32x4 -> resnet8x4 row'),
             sources=_WTTM_TABLE7)

_IN_TORCHDISTILL = 'torchdistill configs/official/ilsvrc2012 KD recipe (batch 256, lr 0.1, 100 ' \
                   f'epochs), which {TTM_REPO} README says its ImageNet runs used'

register('ttm', preset_source=TTM_CFG, own_recipe='seed002',
         tables={recipe: (TTM,) for recipe in PER_PAIR_RECIPES})
register('wttm', preset_source=TTM_CFG, own_recipe='seed002',
         tables={**{recipe: (WTTM,) for recipe in PER_PAIR_RECIPES}, 'imagenet': (WTTM,)},
         settings={'imagenet': {'batch_size': Setting(256, _IN_TORCHDISTILL),
                                'lr': Setting(0.1, _IN_TORCHDISTILL),
                                'ce_weight': Setting(1.0, TTM_CFG)}})


@pair_default('eval_ttm_gamma')
def _eval_ttm_gamma(pair: Pair) -> Setting:
  """The gamma of the evaluation statistics' transformed teacher: the pair's TTM gamma."""
  row = TTM.settings(pair, strict=False)
  return Setting(row['ttm.gamma'].value, f'the pair\'s TTM gamma ({row["ttm.gamma"].source})')
