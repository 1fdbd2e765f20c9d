"""CRD (Tian et al., ICLR 2020) and KD+CRD: mdistiller's and the CRD codebase's settings.

mdistiller runs CRD alone (seed 001's rows); the CRD codebase (HobbitLong/RepDistiller) and the
TTM repository, which keeps its flags, give seed 002's CRD and KD+CRD; ImageNet: mdistiller's
configs/imagenet.
"""

from __future__ import annotations

from kdjax.recipes.core import (CRD_REPO, DEFAULT, MDISTILLER, SEED000_DEFAULT, TTM_REPO, Setting,
                                register, sourced)
from kdjax.recipes.protocol import IN_SCHEDULE, IN_SCHEDULE_VALUES

# CRD (Tian et al. 2020). mdistiller runs CRD alone (CE 1, FEAT 0.8); KD+CRD is the CRD
# codebase's (-r 1 -a 1 -b 0.8, --kd_T 4). The embedding input widths (mdistiller's
# CRD.FEAT.STUDENT_DIM / TEACHER_DIM) are the models' pooled widths, not settings.
CRD_FIELDS = ('crd.feat_dim', 'crd.nce_k', 'crd.nce_t', 'crd.nce_m', 'crd.mode')
CRD_VALUES = (128, 16384, 0.07, 0.5, 'exact')
_CRD_MD_CFG = f'{MDISTILLER} mdistiller/engine/cfg.py (CRD: CE 1, FEAT 0.8, FEAT.DIM 128, ' \
              f'NCE K 16384, TEMPERATURE 0.07, MOMENTUM 0.5, MODE exact)'
CRD_FLAGS = f'{CRD_REPO} train_student.py (-r 1, --kd_T 4, --feat_dim 128 --mode exact ' \
            f'--nce_k 16384 --nce_t 0.07 --nce_m 0.5)'
CRD_SCRIPT = f'{CRD_REPO} scripts/run_cifar_distill.sh'
CRD_PRESET = (f'{_CRD_MD_CFG} = {CRD_SCRIPT} (CRD: --distill crd -a 0 -b 0.8) with '
              f'{CRD_FLAGS}')
KD_CRD_PRESET = f'{CRD_SCRIPT} (CRD+KD: --distill crd -a 1 -b 0.8) with {CRD_FLAGS}'
TTM_CRD_FLAGS = f'{TTM_REPO} train_student.py (--feat_dim 128 --mode exact --nce_k 16384 ' \
                f'--nce_t 0.07 --nce_m 0.5, -r 1)'
_IN_CRD = f'{MDISTILLER} configs/imagenet/r34_r18/crd.yaml, r50_mv1/crd.yaml SOLVER (batch ' \
          f'256, lr 0.1, 100 epochs, x0.1 at 30/60/90, wd 1e-4)'


def _crd_settings(source: str, weights_source: str, *, kd: bool) -> dict[str, Setting]:
  """CRD's settings with their sources; ``kd``: KD+CRD's KD term (T 4, weight 1)."""
  out = sourced(CRD_FIELDS, CRD_VALUES, source)
  out.update(sourced(('ce_weight', 'feature.weight'), (1.0, 0.8), weights_source))
  if kd:
    out.update(sourced(('logit.temperature', 'logit.weight'), (4.0, 1.0), weights_source))
  return out


register('crd', preset_source=CRD_PRESET, settings={
    'seed001': _crd_settings(_CRD_MD_CFG, f'{_CRD_MD_CFG} + configs/cifar100/crd.yaml', kd=False),
    'seed002': _crd_settings(f'{TTM_CRD_FLAGS} = {CRD_FLAGS}',
                             f'{CRD_SCRIPT} (CRD: --distill crd -a 0 -b 0.8; -r 1)', kd=False),
    'seed000': _crd_settings(SEED000_DEFAULT + _CRD_MD_CFG, SEED000_DEFAULT + _CRD_MD_CFG,
                             kd=False),
    'imagenet': {**sourced(IN_SCHEDULE, IN_SCHEDULE_VALUES, _IN_CRD),
                 **_crd_settings(_CRD_MD_CFG,
                                 f'{_CRD_MD_CFG} (the ImageNet crd.yaml set no weights)',
                                 kd=False)}})
register('kd+crd', preset_source=KD_CRD_PRESET, own_recipe='seed002', settings={
    'seed001': _crd_settings(_CRD_MD_CFG, f'{DEFAULT}: mdistiller has no KD+CRD; {CRD_SCRIPT} '
                                          f'(CRD+KD: -r 1 -a 1 -b 0.8, --kd_T 4)', kd=True),
    'seed002': _crd_settings(f'{TTM_CRD_FLAGS} = {CRD_FLAGS}',
                             f'{CRD_SCRIPT} (CRD+KD: --distill crd -a 1 -b 0.8; -r 1, --kd_T 4)',
                             kd=True),
    'seed000': _crd_settings(SEED000_DEFAULT + _CRD_MD_CFG,
                             SEED000_DEFAULT + f'{CRD_SCRIPT} (CRD+KD: -r 1 -a 1 -b 0.8, --kd_T 4)',
                             kd=True),
    'imagenet': {**sourced(IN_SCHEDULE, IN_SCHEDULE_VALUES,
                           f'{DEFAULT}: no published ImageNet KD+CRD; {_IN_CRD}'),
                 **_crd_settings(_CRD_MD_CFG, f'{DEFAULT}: no published ImageNet KD+CRD; '
                                              f'{CRD_SCRIPT} (CRD+KD: -r 1 -a 1 -b 0.8, --kd_T 4)',
                                 kd=True)}})
