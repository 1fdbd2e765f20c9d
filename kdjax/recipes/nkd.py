"""NKD (Yang et al., "From Knowledge Distillation to Self-Knowledge Distillation", ICCV 2023).

Its settings as its release, yzd-v/cls_KD (mmcls), configures them. No table kdjax reproduces
today has an NKD cell (seed 002 Table 5's NKD rows need its ImageNet protocol on mmcls); these
are the method-wide values a run of ``nkd`` resolves to, each with its file.
"""

from __future__ import annotations

from kdjax.recipes.core import DEFAULT, Setting, register

NKD_REPO = 'yzd-v/cls_KD'
_LOSS = f'{NKD_REPO} mmcls/models/dis_losses/nkd.py NKDLoss'
# mmcls/models/classifiers/distiller.py adds the student's CE and loss_nkd unweighted.
_SUM = f'{NKD_REPO} mmcls/models/classifiers/distiller.py (CE + loss_nkd, both unweighted)'
_IMAGENET = f'{NKD_REPO} configs/distillers/imagenet/res34_distill_res18_img.py and ' \
            f'res50_distill_mv1_img.py (NKDLoss temp=1.0, gamma=1.5)'
_CIFAR = f'{NKD_REPO} configs/distillers/cifar100/res34_distill_res18_cifar.py (NKDLoss ' \
         f'temp=3.0, gamma=3.5; the release\'s only CIFAR-100 pair, ResNet34 -> ResNet18)'


def _nkd(temperature: float, gamma: float, source: str) -> dict[str, Setting]:
  return {'ce_weight': Setting(1.0, _SUM), 'logit.weight': Setting(1.0, _SUM),
          'nkd.temperature': Setting(temperature, source), 'nkd.gamma': Setting(gamma, source)}


register('nkd', preset_source=f'{_LOSS} defaults (temp 1.0, gamma 1.5); {_SUM}',
         settings={'imagenet': _nkd(1.0, 1.5, _IMAGENET), 'seed001': _nkd(3.0, 3.5, _CIFAR)})
# NKD on LS-standardised logits: a composition no paper publishes (NKD's own values).
register('nkd_ls', preset_source=f'{DEFAULT}: NKD\'s values ({_LOSS}) on LS z-scores')
