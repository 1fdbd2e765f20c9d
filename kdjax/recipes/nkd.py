"""NKD (Yang et al., "From Knowledge Distillation to Self-Knowledge Distillation", ICCV 2023).

Its settings as its release, yzd-v/cls_KD (mmcls), configures them: the method-wide values a run
of ``nkd`` resolves to, each with its file. Seed 002 Table 5's NKD rows run its ImageNet configs,
whose mmcls schedule (8 GPUs x batch 32, lr 0.1) differs from kdjax's ``imagenet`` protocol
(mdistiller's batch 512, lr 0.2) in batch and lr.
"""

from __future__ import annotations

from kdjax.recipes.core import DEFAULT, Setting, register, sourced
from kdjax.recipes.protocol import IN_SCHEDULE, IN_SCHEDULE_VALUES

NKD_REPO = 'yzd-v/cls_KD'
_LOSS = f'{NKD_REPO} mmcls/models/dis_losses/nkd.py NKDLoss'
# mmcls/models/classifiers/distiller.py adds the student's CE and loss_nkd unweighted.
_SUM = f'{NKD_REPO} mmcls/models/classifiers/distiller.py (CE + loss_nkd, both unweighted)'
_IMAGENET = f'{NKD_REPO} configs/distillers/imagenet/res34_distill_res18_img.py and ' \
            f'res50_distill_mv1_img.py (NKDLoss temp=1.0, gamma=1.5)'
# Both ImageNet configs inherit configs/_base_/schedules/imagenet_bs256.py (SGD lr 0.1, momentum
# 0.9, wd 1e-4 on every parameter, MultiStepLR [30, 60, 90] x0.1, 100 epochs) and
# configs/_base_/datasets/imagenet_bs32.py on 8 GPUs (the configs' 8xb32 base: batch 256).
_IMAGENET_SCHEDULE = f'{NKD_REPO} configs/_base_/schedules/imagenet_bs256.py (SGD lr 0.1, ' \
                     f'momentum 0.9, wd 1e-4 on every parameter, no Nesterov; MultiStepLR ' \
                     f'[30, 60, 90] x0.1; 100 epochs) and datasets/imagenet_bs32.py x 8 GPUs ' \
                     f'(configs/resnet/resnet18_8xb32_in1k.py, configs/mobilenet_v1/' \
                     f'mobilenet_v1.py: batch 256)'
_CIFAR = f'{NKD_REPO} configs/distillers/cifar100/res34_distill_res18_cifar.py (NKDLoss ' \
         f'temp=3.0, gamma=3.5; the release\'s only CIFAR-100 pair, ResNet34 -> ResNet18)'


def _nkd(temperature: float, gamma: float, source: str) -> dict[str, Setting]:
  return {'ce_weight': Setting(1.0, _SUM), 'logit.weight': Setting(1.0, _SUM),
          'nkd.temperature': Setting(temperature, source), 'nkd.gamma': Setting(gamma, source)}


register('nkd', preset_source=f'{_LOSS} defaults (temp 1.0, gamma 1.5); {_SUM}',
         settings={'imagenet': {**_nkd(1.0, 1.5, _IMAGENET),
                                **sourced(IN_SCHEDULE, IN_SCHEDULE_VALUES, _IMAGENET_SCHEDULE),
                                **sourced(('nesterov', 'weight_decay_mask'), (False, 'all'),
                                          _IMAGENET_SCHEDULE)},
                   'seed001': _nkd(3.0, 3.5, _CIFAR)})
# NKD on LS-standardised logits: a composition no paper publishes (NKD's own values).
register('nkd_ls', preset_source=f'{DEFAULT}: NKD\'s values ({_LOSS}) on LS z-scores')
