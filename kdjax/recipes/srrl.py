"""SRRL (Yang et al., ICLR 2021) as its release (jingyang2017/KD_SRRL) trains it on ImageNet.

Seed 002 Table 5 quotes SRRL's ImageNet numbers (ResNet34 -> ResNet18, ResNet50 -> MobileNetV1).
The release is ImageNet-only: ``train_imagenet_distillation.py`` (its argument defaults; the
README's commands set only the two models). Its protocol equals kdjax's ``imagenet`` protocol
(mdistiller's batch-512 SOLVER) in every field; the values are restated here with SRRL's source.
"""

from __future__ import annotations

from kdjax.recipes.core import register, sourced

SRRL_REPO = 'jingyang2017/KD_SRRL'
_SRRL_SCRIPT = f'{SRRL_REPO} train_imagenet_distillation.py'
_SRRL_LOSS = f'{_SRRL_SCRIPT} train (loss_ce + statm_loss + F.mse_loss(pred_sc, pred_t) * ' \
             f'--weight, --weight default 1; the connector distiller_zoo/AIN.py transfer_conv)'
# main(): SGD(lr 0.2, momentum 0.9, weight_decay 1e-4) over student + connector (no Nesterov,
# decay on every parameter), lr_step_policy(0.2, [30, 60, 90], 0.1, warmup 0), 100 epochs,
# batch 512 (dataset/imagenet.py: RandomResizedCrop(224) + flip; test resize 256, crop 224).
_SRRL_SOLVER = f'{_SRRL_SCRIPT} argument defaults (--lr 0.2, --batch_size 512, --epochs 100, ' \
               f'--momentum 0.9, --weight_decay 1e-4) and main (optim.SGD over student and ' \
               f'connector; lr_step_policy(lr, [30, 60, 90], 0.1, 0))'
_SOLVER_FIELDS = ('batch_size', 'lr', 'epochs', 'lr_decay_epochs', 'lr_decay_rate', 'momentum',
                  'weight_decay', 'nesterov', 'weight_decay_mask')
SRRL_IMAGENET = {
    **sourced(('ce_weight', 'feature.weight', 'srrl.sr_weight'), (1.0, 1.0, 1.0), _SRRL_LOSS),
    **sourced(_SOLVER_FIELDS, (512, 0.2, 100, (30, 60, 90), 0.1, 0.9, 1e-4, False, 'all'),
              _SRRL_SOLVER)}

register('srrl', preset_source=_SRRL_LOSS, settings={'imagenet': SRRL_IMAGENET})
